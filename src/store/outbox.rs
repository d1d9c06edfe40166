//! The sender side: per-host FIFO queues of outgoing writes and their bookkeeping.
//!
//! Every method takes the store's mutex for its whole (short) duration and, except
//! [`Store::enqueue`] and [`Store::connection`], first waits for open atomic sections
//! (`atomic.rs`) and spills the write-behind buffer (`state.rs`), so it works on sled alone
//! and sees every enqueued write. None of them flushes; see [`Store::commit`].

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use tracing::info;

use super::TREE_QUEUE;
use super::codec::{self, Chunk, HostRecord};
use super::error::StoreError;
use super::keys::{self, HostKeys};
use super::open::Store;
use super::types::{ConnectionRecord, DeadLetter, HostStats, QueuedWrite, Stuck};
use super::{purge, state};

/// Most chunk removals put in one batch by `ack` and `purge`; more are removed in further
/// batches, so memory stays bounded however large the backlog.
const REMOVALS_PER_BATCH: usize = 1024;

pub(super) fn sled_err(action: impl Into<String>) -> impl FnOnce(sled::Error) -> StoreError {
    let action = action.into();
    move |source| StoreError::Sled {
        tree: TREE_QUEUE,
        action,
        source,
    }
}

pub(super) fn corrupt(key: &[u8]) -> impl FnOnce(codec::DecodeError) -> StoreError + '_ {
    move |source| StoreError::Corrupt {
        tree: TREE_QUEUE,
        key: keys::describe(key),
        source,
    }
}

fn apply(
    tree: &sled::Tree,
    batch: sled::Batch,
    action: &str,
    host: &str,
) -> Result<(), StoreError> {
    tree.apply_batch(batch)
        .map_err(sled_err(format!("{action} for host {host:?}")))
}

impl Store {
    /// Adds a write to the end of `host`'s queue and returns its seq (never reused, also
    /// across restarts). Synchronous and quick (no I/O on most calls): meant to be called under
    /// the caller's mutex for every local update.
    ///
    /// The write is buffered in memory and reaches sled in one atomic batch together with the
    /// host's seq and depth counters and the connection's last enqueued value: at the next
    /// [`commit`](Store::commit) or [`flush`](Store::flush) (which make it durable), at the
    /// next read or other change through this store, or when [`SPILL_AT`](super::SPILL_AT)
    /// writes are buffered. Nothing is durable before `commit` returns, and a bare sled
    /// `Db::flush` does not include buffered writes: use the store's barrier (it flushes the
    /// whole `Db`, so it also covers the datapoint table's writes).
    ///
    /// With `coalesce` ("latest" delivery), the write replaces the earlier "latest" write for
    /// the same (host, target) that is still queued, atomically; that leaves a gap in the
    /// seqs. Writes enqueued without `coalesce` ("every-change") are never replaced.
    ///
    /// Inside an [`atomic`](Store::atomic) section (of any thread) the buffer is not spilled
    /// when full: that would cut the section. The next section to open does it.
    pub fn enqueue(&self, host: &str, w: &QueuedWrite, coalesce: bool) -> Result<u64, StoreError> {
        let trees = self.inner.trees()?;
        let quiet = self.inner.gate.try_quiet();
        let mut st = self.inner.lock();
        let seq = st.enqueue(&trees, quiet.is_some(), host, w, coalesce)?;
        if quiet.is_none() && st.full() {
            self.inner.gate.set_spill_due();
        }
        Ok(seq)
    }

    /// The oldest run of consecutive seqs in `host`'s queue, starting at its first write with a
    /// seq above `after` (at the head when `None`), at most `max` writes. Stops at the first
    /// gap, so a batch never contains one. Reads at most a few chunks, whatever the backlog.
    pub fn peek_run(
        &self,
        host: &str,
        after: Option<u64>,
        max: usize,
    ) -> Result<Vec<(u64, QueuedWrite)>, StoreError> {
        let trees = self.inner.trees()?;
        let tree = &trees.tree;
        let _quiet = self.inner.gate.quiet();
        let mut st = self.inner.lock();
        st.spill(&trees)?;
        let Some(hs) = st.existing_host(tree, host)? else {
            return Ok(Vec::new());
        };
        let start = match after {
            None => 0,
            Some(u64::MAX) => return Ok(Vec::new()),
            Some(a) => a + 1,
        };
        read_run(tree, &hs.keys, start.max(hs.rec.acked_upto + 1), max)
    }

    /// Removes `host`'s writes with seq <= `upto` that are still queued, records their values
    /// as the last acknowledged ones of their connections, adds them to `delivered` and sets
    /// `last_success` to now. Returns how many were removed; repeating it removes nothing.
    pub fn ack(&self, host: &str, upto: u64) -> Result<usize, StoreError> {
        let trees = self.inner.trees()?;
        let tree = &trees.tree;
        let _quiet = self.inner.gate.quiet();
        let mut st = self.inner.lock();
        st.spill(&trees)?;
        let hs = st.host(tree, host)?;
        let now = codec::to_ms(SystemTime::now());
        let mut rec = hs.rec.clone();
        let upto = upto.min(rec.next_seq - 1);
        let mut batch = sled::Batch::default();
        let mut removed = 0u64;
        let mut acked: HashMap<String, String> = HashMap::new();
        let mut cleared: Vec<String> = Vec::new();
        let mut removals = 0usize;
        let mut sweep = false;
        if upto > rec.acked_upto {
            let from = first_chunk_key(tree, &hs.keys, rec.acked_upto + 1)?;
            // Chunks before `from` hold only acknowledged writes: left over by a crash during
            // an earlier sweep or purge.
            if let Some(first) = tree.scan_prefix(hs.keys.chunk_prefix()).keys().next() {
                let first = first.map_err(sled_err(format!("read the queue of host {host:?}")))?;
                sweep |= first[..] < from[..];
            }
            let to = hs.keys.chunk(upto);
            for item in tree.range(from..=to) {
                let (key, bytes) =
                    item.map_err(sled_err(format!("read the queue of host {host:?}")))?;
                let mut chunk = Chunk::parse(&bytes).map_err(corrupt(&key))?;
                while let Some((seq, record)) = chunk.next_entry().map_err(corrupt(&key))? {
                    if seq <= rec.acked_upto || seq > upto {
                        continue;
                    }
                    removed += 1;
                    // Read in place: a batch of one connection's writes costs no copies.
                    let w = codec::decode_write_ref(record).map_err(corrupt(&key))?;
                    if w.coalesced && hs.latest(tree, w.target)? == Some(seq) {
                        cleared.push(w.target.to_owned());
                    }
                    match acked.get_mut(w.connection) {
                        Some(v) => w.value.clone_into(v),
                        None => {
                            acked.insert(w.connection.to_owned(), w.value.to_owned());
                        }
                    }
                }
                if chunk.last_seq <= upto {
                    if removals < REMOVALS_PER_BATCH {
                        batch.remove(key);
                        removals += 1;
                    } else {
                        sweep = true;
                    }
                }
            }
            rec.acked_upto = upto;
            rec.depth = rec.depth.saturating_sub(removed);
            rec.delivered += removed;
        }
        rec.last_success = Some(now);
        batch.insert(hs.keys.record(), rec.encode());
        for (connection, value) in &acked {
            batch.insert(keys::acked(connection), codec::encode_stamp(value, now));
        }
        for target in &cleared {
            batch.remove(hs.keys.latest(target));
        }
        apply(tree, batch, "acknowledge writes", host)?;
        for target in &cleared {
            hs.set_latest_clean(target, None);
        }
        hs.rec = rec;
        if sweep {
            sweep_chunks(tree, &hs.keys, hs.rec.acked_upto)?;
        }
        usize::try_from(removed).map_err(|_| StoreError::SeqExhausted {
            host: host.to_owned(),
        })
    }

    /// Moves `host`'s queued write `seq` to the dead-letter list with `reason` and the current
    /// time, and adds 1 to `failed` (SPEC §6.3: a permanent fault must not block the queue).
    pub fn dead_letter(&self, host: &str, seq: u64, reason: &str) -> Result<(), StoreError> {
        let trees = self.inner.trees()?;
        let tree = &trees.tree;
        let _quiet = self.inner.gate.quiet();
        let mut st = self.inner.lock();
        st.spill(&trees)?;
        let not_queued = || StoreError::NotQueued {
            host: host.to_owned(),
            seq,
        };
        let hs = st.existing_host(tree, host)?.ok_or_else(not_queued)?;
        if seq <= hs.rec.acked_upto || seq >= hs.rec.next_seq {
            return Err(not_queued());
        }
        let (key, bytes) = state::chunk_containing(tree, &hs.keys, seq)?.ok_or_else(not_queued)?;
        let record = find_entry(&bytes, seq, &key)?.ok_or_else(not_queued)?;
        let (w, coalesced) = codec::decode_write(record).map_err(corrupt(&key))?;
        let rest =
            state::rewrite_without(&bytes, seq, hs.rec.acked_upto, &key)?.ok_or_else(not_queued)?;
        let now = codec::to_ms(SystemTime::now());
        let mut batch = sled::Batch::default();
        if rest.is_empty() {
            batch.remove(&key);
        } else {
            batch.insert(&key, rest);
        }
        batch.insert(hs.keys.dead(seq), codec::encode_dead(now, reason, record));
        let clear = coalesced && hs.latest(tree, &w.target)? == Some(seq);
        if clear {
            batch.remove(hs.keys.latest(&w.target));
        }
        let mut rec = hs.rec.clone();
        rec.depth = rec.depth.saturating_sub(1);
        rec.failed += 1;
        batch.insert(hs.keys.record(), rec.encode());
        apply(tree, batch, "dead-letter a write", host)?;
        if clear {
            hs.set_latest_clean(&w.target, None);
        }
        hs.rec = rec;
        Ok(())
    }

    /// Every dead letter, by host then seq.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let tree = &self.inner.tree()?;
        let _st = self.inner.lock();
        let mut out = Vec::new();
        for item in tree.scan_prefix(keys::DEAD_PREFIX) {
            let (key, bytes) = item.map_err(sled_err("list the dead letters"))?;
            let bad_key = || StoreError::Corrupt {
                tree: TREE_QUEUE,
                key: keys::describe(&key),
                source: codec::DecodeError::Invalid {
                    record: "dead letter key",
                    field: "length",
                    value: key.len() as u64,
                },
            };
            let (host, seq) = keys::split_scoped_seq(&key).ok_or_else(bad_key)?;
            let host = String::from_utf8(host.to_vec()).map_err(|_| bad_key())?;
            let (at, reason, write) = codec::decode_dead(&bytes).map_err(corrupt(&key))?;
            out.push(DeadLetter {
                host,
                seq,
                write,
                reason,
                at,
            });
        }
        Ok(out)
    }

    /// Records `host`'s last error with the current time (persisted, so `webbinder state`
    /// shows it while the agent is stopped).
    pub fn record_error(&self, host: &str, message: &str) -> Result<(), StoreError> {
        let trees = self.inner.trees()?;
        let tree = &trees.tree;
        let _quiet = self.inner.gate.quiet();
        let mut st = self.inner.lock();
        st.spill(&trees)?;
        let hs = st.host(tree, host)?;
        let mut rec = hs.rec.clone();
        rec.last_error = Some((codec::to_ms(SystemTime::now()), message.to_owned()));
        let mut batch = sled::Batch::default();
        batch.insert(hs.keys.record(), rec.encode());
        apply(tree, batch, "record an error", host)?;
        hs.rec = rec;
        Ok(())
    }

    /// The counters of `host` (all zero for a host never seen). O(1) in the backlog.
    pub fn host_stats(&self, host: &str) -> Result<HostStats, StoreError> {
        let trees = self.inner.trees()?;
        let tree = &trees.tree;
        let _quiet = self.inner.gate.quiet();
        let mut st = self.inner.lock();
        st.spill(&trees)?;
        let floor = st.floor;
        let Some(hs) = st.existing_host(tree, host)? else {
            return Ok(stats(&HostRecord::new(floor), None, None, 0));
        };
        let oldest = if hs.rec.depth > 0 {
            read_run(tree, &hs.keys, hs.rec.acked_upto + 1, 1)?
                .first()
                .map(|(_, w)| w.enqueued_at)
        } else {
            None
        };
        let stuck = purge::read_stuck(tree, &hs.keys)?;
        let purged = purge::read_purged(tree, &hs.keys)?;
        Ok(stats(&hs.rec, oldest, stuck, purged))
    }

    /// Every host that has a queue, counters or dead letters, sorted.
    pub fn hosts(&self) -> Result<Vec<String>, StoreError> {
        let trees = self.inner.trees()?;
        let tree = &trees.tree;
        let _quiet = self.inner.gate.quiet();
        let mut st = self.inner.lock();
        st.spill(&trees)?;
        let mut out = Vec::new();
        for item in tree.scan_prefix(keys::HOST_PREFIX) {
            let (key, _) = item.map_err(sled_err("list the hosts"))?;
            let host = std::str::from_utf8(keys::tail(&key)).map_err(|_| StoreError::Corrupt {
                tree: TREE_QUEUE,
                key: keys::describe(&key),
                source: codec::DecodeError::Utf8 {
                    record: "host key",
                    field: "host",
                },
            })?;
            out.push(host.to_owned());
        }
        Ok(out)
    }

    /// The bookkeeping of one connection, `None` if nothing was ever enqueued or acknowledged
    /// for it. Does not spill (the buffer is read too), so it may be called inside an
    /// [`atomic`](Store::atomic) section.
    pub fn connection(&self, key: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        let tree = &self.inner.tree()?;
        let st = self.inner.lock();
        let read = |k: Vec<u8>| -> Result<Option<(String, SystemTime)>, StoreError> {
            match tree
                .get(&k)
                .map_err(sled_err(format!("read {}", keys::describe(&k))))?
            {
                Some(bytes) => Ok(Some(codec::decode_stamp(&bytes).map_err(corrupt(&k))?)),
                None => Ok(None),
            }
        };
        let record = ConnectionRecord {
            last_enqueued: match st.enqueued_stamp(key) {
                Some(stamp) => Some(stamp),
                None => read(keys::enqueued(key))?,
            },
            last_acked: read(keys::acked(key))?,
        };
        Ok((record != ConnectionRecord::default()).then_some(record))
    }

    /// The bookkeeping of every connection, sorted by key.
    pub fn connections(&self) -> Result<Vec<(String, ConnectionRecord)>, StoreError> {
        let trees = self.inner.trees()?;
        let tree = &trees.tree;
        let _quiet = self.inner.gate.quiet();
        let mut st = self.inner.lock();
        st.spill(&trees)?;
        let mut out: BTreeMap<String, ConnectionRecord> = BTreeMap::new();
        for (prefix, acked) in [(keys::ENQUEUED_PREFIX, false), (keys::ACKED_PREFIX, true)] {
            for item in tree.scan_prefix(prefix) {
                let (key, bytes) = item.map_err(sled_err("list the connections"))?;
                let name = String::from_utf8(keys::tail(&key).to_vec()).map_err(|_| {
                    StoreError::Corrupt {
                        tree: TREE_QUEUE,
                        key: keys::describe(&key),
                        source: codec::DecodeError::Utf8 {
                            record: "connection key",
                            field: "connection",
                        },
                    }
                })?;
                let stamp = codec::decode_stamp(&bytes).map_err(corrupt(&key))?;
                let entry = out.entry(name).or_default();
                if acked {
                    entry.last_acked = Some(stamp);
                } else {
                    entry.last_enqueued = Some(stamp);
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Drops every write queued for `host` (an explicit operator action; SPEC §4 says queued
    /// writes are otherwise never dropped). Returns how many were dropped. Counters other than
    /// the depth, and the dead letters, are kept. Works even if queue records are corrupted.
    pub fn purge(&self, host: &str) -> Result<usize, StoreError> {
        let trees = self.inner.trees()?;
        let tree = &trees.tree;
        let _quiet = self.inner.gate.quiet();
        let mut st = self.inner.lock();
        st.spill(&trees)?;
        let Some(hs) = st.existing_host(tree, host)? else {
            return Ok(0);
        };
        let dropped = hs.rec.depth;
        let mut rec = hs.rec.clone();
        rec.acked_upto = rec.next_seq - 1;
        rec.depth = 0;
        // Design: the new watermark drops the whole queue in this one atomic batch; the chunks
        // (and index keys) are garbage afterwards and are removed in bounded batches below.
        let mut batch = sled::Batch::default();
        batch.insert(hs.keys.record(), rec.encode());
        apply(tree, batch, "purge the queue", host)?;
        hs.rec = rec;
        hs.clear_latest();
        remove_prefix(tree, &hs.keys.latest_prefix(), host)?;
        remove_prefix(tree, &hs.keys.chunk_prefix(), host)?;
        info!(host, dropped, "queue purged");
        usize::try_from(dropped).map_err(|_| StoreError::SeqExhausted {
            host: host.to_owned(),
        })
    }
}

fn stats(
    rec: &HostRecord,
    oldest: Option<SystemTime>,
    stuck: Option<Stuck>,
    purged: u64,
) -> HostStats {
    HostStats {
        depth: rec.depth,
        oldest_enqueued_at: oldest,
        delivered: rec.delivered,
        failed: rec.failed,
        last_success: rec.last_success.map(codec::from_ms),
        last_error: rec
            .last_error
            .as_ref()
            .map(|(t, m)| (codec::from_ms(*t), m.clone())),
        next_seq: rec.next_seq,
        stuck,
        purged,
    }
}

/// Where to start iterating the host's chunks to find seq `seq`: the chunk that may hold it,
/// else `seq`'s own key.
fn first_chunk_key(tree: &sled::Tree, keys: &HostKeys, seq: u64) -> Result<Vec<u8>, StoreError> {
    Ok(match state::chunk_containing(tree, keys, seq)? {
        Some((key, _)) => key.to_vec(),
        None => keys.chunk(seq),
    })
}

/// The run of consecutive seqs starting at the first entry >= `start`, at most `max`.
fn read_run(
    tree: &sled::Tree,
    keys: &HostKeys,
    start: u64,
    max: usize,
) -> Result<Vec<(u64, QueuedWrite)>, StoreError> {
    let mut out: Vec<(u64, QueuedWrite)> = Vec::with_capacity(max.min(256));
    if max == 0 {
        return Ok(out);
    }
    let from = first_chunk_key(tree, keys, start)?;
    for item in tree.range(from..=keys.chunk(u64::MAX)) {
        let (key, bytes) = item.map_err(sled_err(format!(
            "read the queue of host {:?}",
            keys.host()
        )))?;
        let mut chunk = Chunk::parse(&bytes).map_err(corrupt(&key))?;
        while let Some((seq, record)) = chunk.next_entry().map_err(corrupt(&key))? {
            if seq < start {
                continue;
            }
            if let Some((last, _)) = out.last()
                && seq != last + 1
            {
                return Ok(out);
            }
            let (w, _) = codec::decode_write(record).map_err(corrupt(&key))?;
            out.push((seq, w));
            if out.len() == max {
                return Ok(out);
            }
        }
    }
    Ok(out)
}

/// The `write` bytes of entry `seq` in a chunk, if present.
fn find_entry<'a>(chunk: &'a [u8], seq: u64, key: &[u8]) -> Result<Option<&'a [u8]>, StoreError> {
    let mut chunk = Chunk::parse(chunk).map_err(corrupt(key))?;
    while let Some((s, record)) = chunk.next_entry().map_err(corrupt(key))? {
        if s == seq {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

/// Removes the host's chunks that hold nothing above `acked_upto`, from the head, in bounded
/// batches (left over when one `ack` covered more than [`REMOVALS_PER_BATCH`] chunks).
fn sweep_chunks(tree: &sled::Tree, keys: &HostKeys, acked_upto: u64) -> Result<(), StoreError> {
    loop {
        let mut batch = sled::Batch::default();
        let mut more = false;
        let chunks = tree.range(keys.chunk_prefix()..=keys.chunk(acked_upto));
        for (n, item) in chunks.enumerate() {
            let (key, bytes) = item.map_err(sled_err(format!(
                "read the queue of host {:?}",
                keys.host()
            )))?;
            let chunk = Chunk::parse(&bytes).map_err(corrupt(&key))?;
            if chunk.last_seq > acked_upto {
                break;
            }
            if n == REMOVALS_PER_BATCH {
                more = true;
                break;
            }
            batch.remove(key);
        }
        apply(tree, batch, "remove acknowledged chunks", keys.host())?;
        if !more {
            return Ok(());
        }
    }
}

/// Removes every key with `prefix`, in bounded batches, without decoding anything.
fn remove_prefix(tree: &sled::Tree, prefix: &[u8], host: &str) -> Result<(), StoreError> {
    loop {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for item in tree.scan_prefix(prefix).take(REMOVALS_PER_BATCH) {
            let (key, _) = item.map_err(sled_err(format!("purge the queue of host {host:?}")))?;
            batch.remove(key);
            n += 1;
        }
        if n == 0 {
            return Ok(());
        }
        apply(tree, batch, "purge the queue", host)?;
    }
}
