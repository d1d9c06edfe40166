//! The durable replication store (SPEC §5, §6): per-host FIFO queues of outgoing datapoint
//! writes, per-host counters, per-connection bookkeeping, the dead-letter list, and the
//! receiver's de-duplication table, all in one sled `Db` opened by the caller.
//!
//! This module is the only one that touches the store's sled trees ([`TREE_QUEUE`],
//! [`TREE_APPLIED`]). It decides nothing about delivery (when to send, retry, or which fault is
//! permanent); the replication layer does, and calls [`Store`] methods.
//!
//! # Guarantees
//! - **FIFO per host, seqs never reused.** Each host's writes are numbered by a per-host
//!   counter stored atomically with them; it survives draining and restarts, and jumps by
//!   [`SEQ_GAP_AFTER_CRASH`] after an unclean shutdown (see there why).
//! - **Durable on [`Store::commit`].** A write is durable once a `commit` that started after
//!   [`Store::enqueue`] returned has returned (SPEC §6.1: commit before acknowledging a local
//!   update). `commit` is a group commit: concurrent callers share fsyncs.
//! - **Atomic.** Every change (enqueue with its counters and coalescing, ack, dead letter,
//!   purge) reaches sled in one batch, so a crash leaves the counters matching the queue.
//! - **A receiver's batch is durable whole or not at all** (issue 9). Datapoint values (the
//!   table writes them through [`FailureReporter::stage_value`]) and applied seqs
//!   ([`Store::set_applied_seq`]) are buffered with the queued writes and reach sled in the
//!   same atomic spill (one sled transaction over the three trees), never before the forwards
//!   enqueued for them; [`Store::atomic`] keeps a whole peer batch in one spill. So sled's
//!   background flusher can never make a value or an applied seq durable without its
//!   forwards, and a crash can neither skip nor re-apply part of a batch (`atomic.rs`).
//! - **An update is durable whole.** A table write runs in an atomic section: the forwards
//!   its observer enqueues, their connections' last-enqueued stamps and its value reach sled
//!   in one spill, whoever spills meanwhile (the sender's commit waits). So after a crash
//!   no stamp is ahead of its source's value, and the start-up resync never enqueues an
//!   older value after a newer one (the soak's `3021, 3022, 3021`). Sections nest on one
//!   thread: a table write inside a peer batch joins the batch's section.
//! - **Fails safe, recovers by itself.** When a commit fails (e.g. a full disk) the store
//!   stops writing, [`Store::health`] says why and since when, and users of the same `Db`
//!   ([`StoreUser`], the datapoint table) undo what is not durable; nothing that was not
//!   flushed stays visible or queued. Once there is room it re-opens sled (which keeps a
//!   failed write's error for good) and writes again, without a restart (`recovery.rs`).
//! - **Stalls are seen.** A commit that runs longer than [`STALL_AFTER`] is logged as an
//!   error once and counted ([`Store::commit_stalls_total`], [`Store::health`]).
//! - **Memory does not grow with the backlog.** Reads visit a few chunks from the head,
//!   counters are persisted (no scan at open), the write buffer is bounded by [`SPILL_AT`]
//!   (plus what open atomic sections enqueue), and caches are bounded by the number of
//!   hosts, targets and connections.
//!
//! # Layout
//! Keys are documented in `keys.rs` and records in `codec.rs` (hand-written binary with a
//! version byte). Queued writes are stored in *chunks*: one sled value holds up to
//! [`CHUNK_MAX`] consecutive writes of one host (buffered together, see `state.rs`), keyed by
//! host and first seq, big-endian, so sled order is FIFO order. An acknowledgement moves the host's
//! `acked_upto` watermark and removes the chunks it covers; a partly acknowledged chunk stays
//! until the watermark passes its last write.

mod atomic;
mod codec;
mod commit;
mod dedupe;
mod error;
mod health;
mod keys;
mod open;
mod outbox;
mod purge;
mod recovery;
mod stall;
mod state;
mod types;

#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod tests;

pub use atomic::Atomic;
pub use codec::DecodeError;
pub use error::StoreError;
pub use health::StoreHealth;
pub use open::{SEQ_GAP_AFTER_CRASH, Store};
pub use recovery::{FailureReporter, PROBE_BYTES, RECOVERY_INTERVAL, ReloadError, StoreUser};
pub use stall::STALL_AFTER;
pub use state::{CHUNK_MAX, SPILL_AT};
pub use types::{
    ConnectionRecord, DeadLetter, HostStats, PurgeSummary, PurgedConnection, QueuedWrite, Stuck,
    StuckKind,
};

/// The sled tree of the sender side: queues, counters, connections, dead letters, epoch.
pub const TREE_QUEUE: &str = "replication";

/// The sled tree of the receiver side: highest applied seq per (sender, epoch).
pub const TREE_APPLIED: &str = "replication_applied";

/// The sled tree of the datapoint table's values (layout in `datapoints/record.rs`): named
/// here, because the store's atomic sections commit it together with the queue, and the
/// table depends on the store, not the other way round.
pub const TREE_VALUES: &str = "datapoints";
