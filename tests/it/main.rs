//! Integration tests against real ejabberd and Prosody servers, started by
//! the project's scripts (one binary: `cargo test --test it`).

mod bindings;
mod cli;
mod replication;
mod smartserver;
mod support;
mod transport;
