//! The emulated LON datapoint table (the SmartServer's Data Server) and its value types.
//!
//! `snvt` owns value types and their text forms, `status` the `AL_*` point statuses, `clock`
//! the Real Time Clock conversion, `fault` the i.LON Write faults, `lon_format` the Write value
//! resolution, `record` the persisted form, `table` the table itself (rules, persistence,
//! events).
//!
//! Nothing here speaks SOAP or XMPP.

pub mod clock;
pub mod fault;
mod lon_format;
mod record;
pub mod snvt;
pub mod status;
pub mod table;

pub use clock::RTC_NAME;
pub use snvt::{DpType, DpValue, ValueError};
pub use status::PointStatus;
pub use table::{
    ChangeEvent, Datapoint, DatapointConfig, Direction, ObserverError, Table, TableError,
    UpdateSource, WriteFault, WriteOutcome, WriteRequest,
};
