//! The values the store hands in and out.

use std::time::SystemTime;

/// One outgoing datapoint write waiting in a host's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedWrite {
    /// Key of the Web connection that produced the write (opaque to the store), for the
    /// per-connection bookkeeping shown by `webbinder state`.
    pub connection: String,
    /// Name of the target datapoint at the host.
    pub target: String,
    /// The value in its formatted text form.
    pub value: String,
    /// The `LonFormat` to send with the value, if any.
    pub lon_format: Option<String>,
    /// The write's `UCPTpriority`.
    pub priority: u8,
    /// When the write was enqueued (stored with millisecond precision).
    pub enqueued_at: SystemTime,
}

/// A write that the peer refused permanently (SPEC §6.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The host whose queue held the write.
    pub host: String,
    /// The write's sequence number in that queue.
    pub seq: u64,
    /// The write itself.
    pub write: QueuedWrite,
    /// Why it was refused (e.g. the peer's fault text).
    pub reason: String,
    /// When it was moved to the dead-letter list.
    pub at: SystemTime,
}

/// The replication state of one host, as `webbinder state` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostStats {
    /// Writes queued for the host.
    pub depth: u64,
    /// When the oldest queued write was enqueued; `None` when the queue is empty.
    pub oldest_enqueued_at: Option<SystemTime>,
    /// Writes the peer acknowledged, since the store was created.
    pub delivered: u64,
    /// Writes moved to the dead-letter list, since the store was created.
    pub failed: u64,
    /// When the peer last acknowledged a batch.
    pub last_success: Option<SystemTime>,
    /// The last recorded error and when it happened.
    pub last_error: Option<(SystemTime, String)>,
    /// The seq the next write for this host will get.
    pub next_seq: u64,
    /// Why the queue's head cannot be delivered, if it cannot (SPEC §6.7).
    pub stuck: Option<Stuck>,
    /// Writes dropped by `webbinder purge`, since the store was created.
    pub purged: u64,
}

/// Why a host's queue is stuck: its head write `seq` is not sent again until it is purged (or,
/// for [`StuckKind::TooLarge`], the limit is raised; for [`StuckKind::SessionLosses`], a pause
/// is over). Other hosts are not affected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    /// The head write that cannot be delivered.
    pub seq: u64,
    /// Why.
    pub kind: StuckKind,
    /// The explanation shown by `webbinder state`, naming the write.
    pub reason: String,
    /// When the queue was declared stuck.
    pub since: SystemTime,
}

/// The kinds of [`Stuck`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StuckKind {
    /// The write alone exceeds the maximum stanza size: it can never be sent.
    TooLarge,
    /// Sending the write alone cost the XMPP session several times in a row.
    SessionLosses,
}

/// Queued writes of one connection dropped (or to be dropped) by a purge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgedConnection {
    /// The connection key (`SOURCE -> HOST:TARGET`).
    pub connection: String,
    /// How many writes.
    pub count: u64,
    /// The lowest seq among them.
    pub first_seq: u64,
    /// The highest seq among them.
    pub last_seq: u64,
}

/// What a purge dropped, or would drop.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PurgeSummary {
    /// Writes in total.
    pub count: u64,
    /// Lowest and highest seq, `None` when nothing matched.
    pub seq_range: Option<(u64, u64)>,
    /// Per connection, sorted by key.
    pub connections: Vec<PurgedConnection>,
}

/// The bookkeeping of one Web connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionRecord {
    /// The last value enqueued for the connection and when.
    pub last_enqueued: Option<(String, SystemTime)>,
    /// The last value of the connection the peer acknowledged and when.
    pub last_acked: Option<(String, SystemTime)>,
}
