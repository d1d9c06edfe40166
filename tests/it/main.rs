//! Integration tests against real ejabberd and Prosody servers, started by
//! the project's scripts (one binary: `cargo test --test it`).

mod cli;
mod hostile;
mod replication;
mod smartserver;
mod support;
mod transport;
