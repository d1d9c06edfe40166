//! The emulated LON datapoint table and its value types.

pub mod snvt;
