//! webbinder: a software stand-in for an Echelon i.LON SmartServer's XMPP
//! client, Data Server and WebBinder, linking building-automation sites
//! through a shared XMPP server over BOSH.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod admin;
pub mod agent;
pub mod bindings;
pub mod config;
pub mod datapoints;
#[cfg(test)]
mod fuzzing;
pub mod replication;
pub mod send;
pub mod smartserver;
pub mod soap;
pub mod state;
pub mod store;
pub mod xmpp;
