//! The store's error type.

use std::sync::Arc;

use super::codec::DecodeError;

/// A store operation failed.
///
/// Messages name the sled tree and the record (host, seq, connection) involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A sled tree could not be opened.
    #[error("cannot open sled tree {tree:?}")]
    OpenTree {
        /// The tree name.
        tree: &'static str,
        /// The sled error.
        #[source]
        source: sled::Error,
    },
    /// sled failed while reading or writing.
    #[error("sled tree {tree:?}: cannot {action}")]
    Sled {
        /// The tree name.
        tree: &'static str,
        /// What was being done, naming the host or key.
        action: String,
        /// The sled error.
        #[source]
        source: sled::Error,
    },
    /// A stored record could not be decoded.
    #[error("sled tree {tree:?}: {key} is corrupted")]
    Corrupt {
        /// The tree name.
        tree: &'static str,
        /// The record, described (host, seq, connection, ...).
        key: String,
        /// What is wrong with the bytes.
        #[source]
        source: DecodeError,
    },
    /// Flushing sled to disk failed.
    #[error("cannot flush the store to disk")]
    Flush {
        /// The sled error.
        #[source]
        source: sled::Error,
    },
    /// A group commit this caller waited for failed (the cause is shared by all its waiters).
    #[error("commit failed")]
    Commit {
        /// The failure of the shared flush.
        #[source]
        source: Arc<StoreError>,
    },
    /// The background flush could not run (its thread could not start, or it panicked).
    #[error("commit failed: {reason}")]
    CommitAborted {
        /// What happened.
        reason: String,
    },
    /// The host has no queued write with this seq.
    #[error("host {host:?} has no queued write with seq {seq}")]
    NotQueued {
        /// The host.
        host: String,
        /// The seq asked for.
        seq: u64,
    },
    /// A host or sender name does not fit the key layout.
    #[error("{kind} name of {len} bytes is longer than {max} bytes")]
    NameTooLong {
        /// "host" or "sender".
        kind: &'static str,
        /// The name's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The host's 64-bit seq counter is exhausted.
    #[error("host {host:?} has used every sequence number")]
    SeqExhausted {
        /// The host.
        host: String,
    },
    /// The store does not write now (a commit failed, e.g. the disk is full) and is
    /// re-opening itself; nothing is accepted until it is writable again.
    #[error("the store is not writable ({reason}); it re-opens itself once it can")]
    Unavailable {
        /// Why, and since when.
        reason: String,
    },
    /// Opening the sled database again failed (still full, or an old handle is still alive).
    #[error("cannot re-open the store")]
    Reopen {
        /// The sled error.
        #[source]
        source: sled::Error,
    },
    /// A test write next to the store failed: there is no room yet.
    #[error("cannot write {path}")]
    NoSpace {
        /// The probe file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
