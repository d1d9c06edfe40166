//! Integration tests against real ejabberd and Prosody servers, started by
//! the project's scripts (one binary: `cargo test --test it`).

mod bindings;
mod cli;
mod cluster;
mod disk;
mod faults;
mod hostile;
mod operations;
mod proxy;
mod replication;
mod smartserver;
mod soak;
mod support;
mod tls;
mod transport;
