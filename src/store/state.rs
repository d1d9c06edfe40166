//! The store's in-memory state: per-host counters and a small write-behind buffer.
//!
//! Design: [`Store::enqueue`](super::Store::enqueue) only appends to the buffer of its host
//! ([`Pending`]); [`State::spill`] later writes everything buffered, for all hosts, in ONE
//! atomic sled batch: the writes as chunks of up to [`CHUNK_MAX`] (many writes per sled key),
//! the host counters, the coalescing index and the connections' last enqueued values.
//!
//! Why: measured on the 2-core reference machine, one `apply_batch` per enqueue gives
//! 45,000-75,000/s and even one plain insert per write 85,000-145,000/s, so neither holds the
//! 100,000/s target; one batch per [`SPILL_AT`] writes gives about ten times the target (and
//! avoids a sled deadlock, see there). Durability is unchanged: nothing is durable before
//! [`Store::commit`](super::Store::commit), which spills then flushes, and every read spills
//! first, so it sees every enqueued write. The buffer never holds more than [`SPILL_AT`]
//! writes, so memory does not grow with the backlog.
//!
//! Everything cached here is bounded by the number of hosts, targets and connections.

use std::collections::HashMap;
use std::time::SystemTime;

use tracing::warn;

use super::TREE_QUEUE;
use super::atomic::{self, Side, Staged};
use super::codec::{self, Chunk, ChunkWriter, HostRecord};
use super::error::StoreError;
use super::keys::{self, HostKeys};
use super::open::Trees;
use super::types::QueuedWrite;

/// Most writes (all hosts together) buffered in memory; the next enqueue spills them first.
///
/// Why 1024: every sled `apply_batch` seals sled's IO buffer twice, and each sealed buffer is
/// one write + `sync_file_range` job on sled's IO thread pool. At one batch per 32 writes, a
/// full-speed enqueue loop queued so many such jobs that sled 0.34.7 deadlocked in 9 of 53
/// benchmark runs (its pool starves a file-truncation task that the writer waits for while
/// holding the segment lock; spacejam/sled#1412). 1024 makes 32 times fewer batches. The
/// buffer stays small (about 100 KiB of typical writes), whatever the backlog.
pub const SPILL_AT: usize = 1024;

/// Most writes in one chunk (one sled value).
///
/// Why 32: sled caches whole tree nodes, values included, and resident memory with a
/// 1,000,000-write backlog rose from ~45 MiB (32 per chunk) to ~65 MiB (128) and ~100 MiB
/// (256), against the 64 MiB target of SPEC §9. Smaller chunks mean more keys (raw sled with
/// one key per write needed ~50 MiB).
pub const CHUNK_MAX: usize = 32;

/// Writes enqueued but not yet in sled, for one host, in seq order.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// The `write` encodings, back to back.
    buf: Vec<u8>,
    entries: Vec<PendingEntry>,
    live: usize,
}

#[derive(Debug)]
struct PendingEntry {
    seq: u64,
    start: usize,
    end: usize,
    /// False once a later "latest" write for the same target superseded it.
    live: bool,
}

impl Pending {
    fn push(&mut self, seq: u64, w: &QueuedWrite, coalesced: bool) {
        let start = self.buf.len();
        codec::encode_write(&mut self.buf, w, coalesced);
        self.entries.push(PendingEntry {
            seq,
            start,
            end: self.buf.len(),
            live: true,
        });
        self.live += 1;
    }

    /// Drops the buffered entry `seq`; false if it is not buffered (so it is in sled).
    fn kill(&mut self, seq: u64) -> bool {
        match self.entries.binary_search_by_key(&seq, |e| e.seq) {
            Ok(i) if self.entries[i].live => {
                self.entries[i].live = false;
                self.live -= 1;
                true
            }
            _ => false,
        }
    }

    /// The live entries as chunks of at most [`CHUNK_MAX`] entries, each with its key seq
    /// (its first entry).
    fn chunks(&self) -> Vec<(u64, Vec<u8>)> {
        let live: Vec<&PendingEntry> = self.entries.iter().filter(|e| e.live).collect();
        live.chunks(CHUNK_MAX)
            .map(|group| {
                let bytes: usize = group.iter().map(|e| e.end - e.start + 12).sum();
                let mut chunk = ChunkWriter::with_capacity(bytes);
                for e in group {
                    chunk.push(e.seq, &self.buf[e.start..e.end]);
                }
                (group[0].seq, chunk.finish())
            })
            .collect()
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.entries.clear();
        self.live = 0;
    }
}

/// One entry of the cached coalescing index.
#[derive(Debug)]
struct Slot {
    /// The seq of the queued "latest" write for the target, if any.
    seq: Option<u64>,
    /// Differs from sled until the next spill.
    dirty: bool,
}

/// The cached state of one host.
#[derive(Debug)]
pub(crate) struct HostState {
    pub(crate) keys: HostKeys,
    /// The counters, including buffered writes.
    pub(crate) rec: HostRecord,
    /// Something below differs from sled.
    dirty: bool,
    pending: Pending,
    /// Seqs of writes already in sled that a "latest" write superseded; removed at the spill.
    removals: Vec<u64>,
    /// Cache of the coalescing index (target -> seq), loaded lazily per target.
    latest: HashMap<String, Slot>,
}

impl HostState {
    /// The cached coalescing index entry of `target`, loaded from sled on first use.
    pub(crate) fn latest(
        &mut self,
        tree: &sled::Tree,
        target: &str,
    ) -> Result<Option<u64>, StoreError> {
        if let Some(slot) = self.latest.get(target) {
            return Ok(slot.seq);
        }
        let key = self.keys.latest(target);
        let seq = match tree.get(&key).map_err(|source| StoreError::Sled {
            tree: TREE_QUEUE,
            action: format!("read {}", keys::describe(&key)),
            source,
        })? {
            Some(v) => Some(
                codec::decode_u64(&v, "latest-value index").map_err(|source| {
                    StoreError::Corrupt {
                        tree: TREE_QUEUE,
                        key: keys::describe(&key),
                        source,
                    }
                })?,
            ),
            None => None,
        };
        self.latest
            .insert(target.to_owned(), Slot { seq, dirty: false });
        Ok(seq)
    }

    /// Records in the cache that sled now holds `seq` for `target` (after a batch was applied).
    pub(crate) fn set_latest_clean(&mut self, target: &str, seq: Option<u64>) {
        match self.latest.get_mut(target) {
            Some(slot) => {
                slot.seq = seq;
                slot.dirty = false;
            }
            None => {
                self.latest
                    .insert(target.to_owned(), Slot { seq, dirty: false });
            }
        }
    }

    /// Forgets the cached coalescing index (after a purge removed it from sled).
    pub(crate) fn clear_latest(&mut self) {
        self.latest.clear();
    }
}

/// The stamp of a connection's last enqueued value, waiting for the next spill.
#[derive(Debug)]
struct EnqueuedStamp {
    value: String,
    at_ms: i64,
    dirty: bool,
}

/// All in-memory state, behind the store's mutex.
#[derive(Debug)]
pub(crate) struct State {
    /// Host name -> index in `hosts` (hosts are never evicted; there are few).
    index: HashMap<String, usize>,
    hosts: Vec<HostState>,
    /// Buffered writes of all hosts (live or superseded).
    buffered: usize,
    /// Something differs from sled.
    unspilled: bool,
    /// Last enqueued value per connection (bounded by the number of connections).
    enqueued: HashMap<String, EnqueuedStamp>,
    /// First seq of a host first seen in this process (see `open.rs`).
    pub(crate) floor: u64,
    /// Datapoint values and applied seqs written with the next spill (`atomic.rs`).
    staged: Staged,
}

impl State {
    pub(crate) fn new(floor: u64) -> State {
        State {
            index: HashMap::new(),
            hosts: Vec::new(),
            buffered: 0,
            unspilled: false,
            enqueued: HashMap::new(),
            floor,
            staged: Staged::new(),
        }
    }

    /// The state of `host`, loaded from sled or created on first use.
    pub(crate) fn host(
        &mut self,
        tree: &sled::Tree,
        host: &str,
    ) -> Result<&mut HostState, StoreError> {
        let i = match self.index.get(host) {
            Some(&i) => i,
            None => {
                let keys = HostKeys::new(host)?;
                let rec = load_host(tree, &keys)?.unwrap_or_else(|| HostRecord::new(self.floor));
                self.insert_host(keys, rec)
            }
        };
        Ok(&mut self.hosts[i])
    }

    /// The state of `host` if it has a record in sled or in memory; never creates one.
    pub(crate) fn existing_host(
        &mut self,
        tree: &sled::Tree,
        host: &str,
    ) -> Result<Option<&mut HostState>, StoreError> {
        let i = match self.index.get(host) {
            Some(&i) => i,
            None => {
                let keys = HostKeys::new(host)?;
                match load_host(tree, &keys)? {
                    Some(rec) => self.insert_host(keys, rec),
                    None => return Ok(None),
                }
            }
        };
        Ok(Some(&mut self.hosts[i]))
    }

    fn insert_host(&mut self, keys: HostKeys, rec: HostRecord) -> usize {
        let i = self.hosts.len();
        self.index.insert(keys.host().to_owned(), i);
        self.hosts.push(HostState {
            keys,
            rec,
            dirty: false,
            pending: Pending::default(),
            removals: Vec::new(),
            latest: HashMap::new(),
        });
        i
    }

    /// The last enqueued value of `connection` and when, if this process enqueued one.
    pub(crate) fn enqueued_stamp(&self, connection: &str) -> Option<(String, SystemTime)> {
        self.enqueued
            .get(connection)
            .map(|s| (s.value.clone(), codec::from_ms(s.at_ms)))
    }

    /// Whether the buffer holds [`SPILL_AT`] writes or more.
    pub(crate) fn full(&self) -> bool {
        self.buffered >= SPILL_AT
    }

    /// Buffers a write to another tree for the next spill (replacing one to the same key).
    pub(crate) fn stage(&mut self, side: Side, key: Vec<u8>, value: Vec<u8>) {
        self.staged.insert((side, key), value);
        self.unspilled = true;
    }

    /// The value staged for `key`, if any.
    pub(crate) fn staged(&self, side: Side, key: &[u8]) -> Option<&[u8]> {
        self.staged.get(&(side, key.to_vec())).map(Vec::as_slice)
    }

    /// Buffers one write and returns its seq (see [`Store::enqueue`](super::Store::enqueue));
    /// spills first if the buffer is full and `may_spill` (no atomic section is open).
    pub(crate) fn enqueue(
        &mut self,
        trees: &Trees,
        may_spill: bool,
        host: &str,
        w: &QueuedWrite,
        coalesce: bool,
    ) -> Result<u64, StoreError> {
        if may_spill && self.buffered >= SPILL_AT {
            self.spill(trees)?;
        }
        let tree = &trees.tree;
        let hs = self.host(tree, host)?;
        let seq = hs.rec.next_seq;
        let next = seq.checked_add(1).ok_or_else(|| StoreError::SeqExhausted {
            host: host.to_owned(),
        })?;
        let superseded = if coalesce {
            hs.latest(tree, &w.target)?
        } else {
            None
        };
        match superseded {
            Some(old) => {
                // Design: the depth stays, one write replaces another. The index is exact (ack,
                // dead_letter and purge clear it), so `old` is still queued somewhere.
                if !hs.pending.kill(old) {
                    hs.removals.push(old);
                }
            }
            None => hs.rec.depth += 1,
        }
        if coalesce {
            match hs.latest.get_mut(&w.target) {
                Some(slot) => {
                    slot.seq = Some(seq);
                    slot.dirty = true;
                }
                None => {
                    hs.latest.insert(
                        w.target.clone(),
                        Slot {
                            seq: Some(seq),
                            dirty: true,
                        },
                    );
                }
            }
        }
        hs.pending.push(seq, w, coalesce);
        hs.rec.next_seq = next;
        hs.dirty = true;
        self.buffered += 1;
        self.unspilled = true;
        let at_ms = codec::to_ms(w.enqueued_at);
        match self.enqueued.get_mut(&w.connection) {
            Some(stamp) => {
                stamp.value.clone_from(&w.value);
                stamp.at_ms = at_ms;
                stamp.dirty = true;
            }
            None => {
                self.enqueued.insert(
                    w.connection.clone(),
                    EnqueuedStamp {
                        value: w.value.clone(),
                        at_ms,
                        dirty: true,
                    },
                );
            }
        }
        Ok(seq)
    }

    /// Writes everything buffered to sled in one atomic batch or transaction (not flushed),
    /// the staged values and applied seqs included.
    ///
    /// On error nothing is written and everything stays buffered for the next attempt.
    pub(crate) fn spill(&mut self, trees: &Trees) -> Result<(), StoreError> {
        if !self.unspilled {
            return Ok(());
        }
        let tree = &trees.tree;
        let mut batch = sled::Batch::default();
        // Superseded writes that were not found in sled, per host: the depth is corrected by
        // these once the batch is applied (see `remove_superseded`).
        let mut missing = vec![0u64; self.hosts.len()];
        for (i, hs) in self.hosts.iter().enumerate() {
            if !hs.dirty {
                continue;
            }
            for (first, chunk) in hs.pending.chunks() {
                batch.insert(hs.keys.chunk(first), chunk);
            }
            if !hs.removals.is_empty() {
                missing[i] = remove_superseded(tree, hs, &mut batch)?;
            }
            for (target, slot) in &hs.latest {
                if slot.dirty {
                    match slot.seq {
                        Some(seq) => batch.insert(hs.keys.latest(target), &codec::encode_u64(seq)),
                        None => batch.remove(hs.keys.latest(target)),
                    }
                }
            }
            let mut rec = hs.rec.clone();
            rec.depth += missing[i];
            batch.insert(hs.keys.record(), rec.encode());
        }
        for (connection, stamp) in &self.enqueued {
            if stamp.dirty {
                batch.insert(
                    keys::enqueued(connection),
                    codec::encode_stamp(&stamp.value, stamp.at_ms),
                );
            }
        }
        atomic::write(trees, batch, &self.staged)?;
        self.staged.clear();
        for (hs, missing) in self.hosts.iter_mut().zip(missing) {
            if hs.dirty {
                hs.rec.depth += missing;
                hs.pending.clear();
                hs.removals.clear();
                for slot in hs.latest.values_mut() {
                    slot.dirty = false;
                }
                hs.dirty = false;
            }
        }
        for stamp in self.enqueued.values_mut() {
            stamp.dirty = false;
        }
        self.buffered = 0;
        self.unspilled = false;
        Ok(())
    }
}

/// Reads a host's counters from sled.
pub(crate) fn load_host(
    tree: &sled::Tree,
    keys: &HostKeys,
) -> Result<Option<HostRecord>, StoreError> {
    let key = keys.record();
    let Some(bytes) = tree.get(&key).map_err(|source| StoreError::Sled {
        tree: TREE_QUEUE,
        action: format!("read {}", keys::describe(&key)),
        source,
    })?
    else {
        return Ok(None);
    };
    HostRecord::decode(&bytes)
        .map(Some)
        .map_err(|source| StoreError::Corrupt {
            tree: TREE_QUEUE,
            key: keys::describe(&key),
            source,
        })
}

/// Adds to `batch` the rewrite of every chunk that holds one of the host's superseded writes;
/// returns how many of them were not found (then the depth was decremented wrongly).
fn remove_superseded(
    tree: &sled::Tree,
    hs: &HostState,
    batch: &mut sled::Batch,
) -> Result<u64, StoreError> {
    // Rewritten chunks by key; an empty value means the chunk is removed.
    let mut rewritten: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut missing = 0;
    for &seq in &hs.removals {
        let Some((key, stored)) = chunk_containing(tree, &hs.keys, seq)? else {
            missing += 1;
            continue;
        };
        let key = key.to_vec();
        let current = rewritten.get(&key).map_or(&stored[..], |v| &v[..]);
        if current.is_empty() {
            missing += 1;
            continue;
        }
        match rewrite_without(current, seq, hs.rec.acked_upto, &key)? {
            Some(new) => {
                rewritten.insert(key, new);
            }
            None => missing += 1,
        }
    }
    if missing > 0 {
        warn!(
            host = hs.keys.host(),
            missing, "superseded queue entries were not found; depth corrected"
        );
    }
    for (key, value) in rewritten {
        if value.is_empty() {
            batch.remove(key);
        } else {
            batch.insert(key, value);
        }
    }
    Ok(missing)
}

/// The stored chunk of the host whose key is the greatest at or below `seq` (the only chunk
/// that can hold `seq`).
pub(crate) fn chunk_containing(
    tree: &sled::Tree,
    keys: &HostKeys,
    seq: u64,
) -> Result<Option<(sled::IVec, sled::IVec)>, StoreError> {
    match tree
        .range(keys.chunk_prefix()..=keys.chunk(seq))
        .next_back()
    {
        None => Ok(None),
        Some(Ok(kv)) => Ok(Some(kv)),
        Some(Err(source)) => Err(StoreError::Sled {
            tree: TREE_QUEUE,
            action: format!(
                "find the queue chunk of host {:?} holding seq {seq}",
                keys.host()
            ),
            source,
        }),
    }
}

/// `chunk` without the entry `seq`: `None` if the entry is absent, an empty vector if no entry
/// above `acked_upto` remains (the chunk can go).
pub(crate) fn rewrite_without(
    chunk: &[u8],
    seq: u64,
    acked_upto: u64,
    key: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    let corrupt = |source| StoreError::Corrupt {
        tree: TREE_QUEUE,
        key: keys::describe(key),
        source,
    };
    let mut reader = Chunk::parse(chunk).map_err(corrupt)?;
    let mut out = ChunkWriter::with_capacity(chunk.len());
    let mut found = false;
    let mut live = 0;
    while let Some((s, record)) = reader.next_entry().map_err(corrupt)? {
        if s == seq {
            found = true;
        } else {
            out.push(s, record);
            if s > acked_upto {
                live += 1;
            }
        }
    }
    Ok(match (found, live) {
        (false, _) => None,
        (true, 0) => Some(Vec::new()),
        (true, _) => Some(out.finish()),
    })
}
