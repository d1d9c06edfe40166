//! Operator-facing queue state (SPEC §6.7): stuck marks (a head write that cannot be
//! delivered, shown by `webbinder state`) and selective purges (`webbinder purge`), the only
//! way queued writes are dropped.
//!
//! A stuck mark is persisted (key `'S' host`: `u8 kind | u64 seq | stamp(reason)`), so a
//! restart neither forgets it nor starts losing the session again, and a stopped agent's
//! `state` shows it. It names the seq of the head it is about: once that write is gone
//! (purged), the mark no longer applies.

use std::collections::BTreeMap;

use tracing::warn;

use super::codec::{self, Chunk, ChunkWriter};
use super::error::StoreError;
use super::keys::{self, HostKeys};
use super::open::Store;
use super::outbox::{corrupt, sled_err};
use super::types::{PurgeSummary, PurgedConnection, Stuck, StuckKind};

/// Most chunks rewritten in one atomic batch of a purge; the store's lock is released between
/// batches so local updates keep being acknowledged during a long purge.
const CHUNKS_PER_BATCH: usize = 64;

fn encode_stuck(s: &Stuck) -> Vec<u8> {
    let kind = match s.kind {
        StuckKind::TooLarge => 0u8,
        StuckKind::SessionLosses => 1,
    };
    let mut out = vec![kind];
    out.extend_from_slice(&s.seq.to_be_bytes());
    out.extend_from_slice(&codec::encode_stamp(&s.reason, codec::to_ms(s.since)));
    out
}

fn decode_stuck(bytes: &[u8]) -> Result<Stuck, codec::DecodeError> {
    let record = "stuck mark";
    let (&kind, rest) = bytes
        .split_first()
        .ok_or(codec::DecodeError::Truncated { record, offset: 0 })?;
    let kind = match kind {
        0 => StuckKind::TooLarge,
        1 => StuckKind::SessionLosses,
        other => {
            return Err(codec::DecodeError::Invalid {
                record,
                field: "kind",
                value: u64::from(other),
            });
        }
    };
    let seq: [u8; 8] = rest
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or(codec::DecodeError::Truncated { record, offset: 1 })?;
    let (reason, since) = codec::decode_stamp(&rest[8..])?;
    Ok(Stuck {
        seq: u64::from_be_bytes(seq),
        kind,
        reason,
        since,
    })
}

/// The host's stuck mark, if any.
pub(crate) fn read_stuck(tree: &sled::Tree, keys: &HostKeys) -> Result<Option<Stuck>, StoreError> {
    let key = keys.stuck();
    match tree
        .get(&key)
        .map_err(sled_err(format!("read {}", keys::describe(&key))))?
    {
        Some(bytes) => Ok(Some(decode_stuck(&bytes).map_err(corrupt(&key))?)),
        None => Ok(None),
    }
}

/// How many of the host's writes were purged.
pub(crate) fn read_purged(tree: &sled::Tree, keys: &HostKeys) -> Result<u64, StoreError> {
    let key = keys.purged();
    match tree
        .get(&key)
        .map_err(sled_err(format!("read {}", keys::describe(&key))))?
    {
        Some(bytes) => codec::decode_u64(&bytes, "purged count").map_err(corrupt(&key)),
        None => Ok(0),
    }
}

/// Accumulates a [`PurgeSummary`].
#[derive(Default)]
struct Tally {
    per: BTreeMap<String, PurgedConnection>,
}

impl Tally {
    fn add(&mut self, connection: &str, seq: u64) {
        let e = self
            .per
            .entry(connection.to_owned())
            .or_insert_with(|| PurgedConnection {
                connection: connection.to_owned(),
                count: 0,
                first_seq: seq,
                last_seq: seq,
            });
        e.count += 1;
        e.first_seq = e.first_seq.min(seq);
        e.last_seq = e.last_seq.max(seq);
    }

    fn finish(self) -> PurgeSummary {
        let connections: Vec<PurgedConnection> = self.per.into_values().collect();
        let count = connections.iter().map(|c| c.count).sum();
        let first = connections.iter().map(|c| c.first_seq).min();
        let last = connections.iter().map(|c| c.last_seq).max();
        PurgeSummary {
            count,
            seq_range: first.zip(last),
            connections,
        }
    }
}

impl Store {
    /// The stuck mark of `host`, if its queue is stuck.
    pub fn stuck(&self, host: &str) -> Result<Option<Stuck>, StoreError> {
        let _st = self.inner.lock();
        read_stuck(&self.inner.tree()?, &HostKeys::new(host)?)
    }

    /// Marks `host`'s queue stuck (replacing an earlier mark).
    pub fn mark_stuck(&self, host: &str, stuck: &Stuck) -> Result<(), StoreError> {
        let _st = self.inner.lock();
        let key = HostKeys::new(host)?.stuck();
        self.inner
            .tree()?
            .insert(&key, encode_stuck(stuck))
            .map_err(sled_err(format!("write {}", keys::describe(&key))))?;
        Ok(())
    }

    /// Removes `host`'s stuck mark, if any.
    pub fn clear_stuck(&self, host: &str) -> Result<(), StoreError> {
        let _st = self.inner.lock();
        let key = HostKeys::new(host)?.stuck();
        self.inner
            .tree()?
            .remove(&key)
            .map_err(sled_err(format!("remove {}", keys::describe(&key))))?;
        Ok(())
    }

    /// What [`purge_writes`](Store::purge_writes) with the same selection would drop now.
    /// Reads the whole queue of `host` (memory bounded by the number of connections).
    pub fn purge_preview(
        &self,
        host: &str,
        connection: Option<&str>,
    ) -> Result<PurgeSummary, StoreError> {
        let trees = self.inner.trees()?;
        let tree = &trees.tree;
        let (keys, acked_upto) = {
            let _quiet = self.inner.gate.quiet();
            let mut st = self.inner.lock();
            st.spill(&trees)?;
            match st.existing_host(tree, host)? {
                Some(hs) => (hs.keys.clone(), hs.rec.acked_upto),
                None => return Ok(PurgeSummary::default()),
            }
        };
        let mut tally = Tally::default();
        for item in tree.scan_prefix(keys.chunk_prefix()) {
            let (key, bytes) =
                item.map_err(sled_err(format!("read the queue of host {host:?}")))?;
            let mut chunk = Chunk::parse(&bytes).map_err(corrupt(&key))?;
            while let Some((seq, record)) = chunk.next_entry().map_err(corrupt(&key))? {
                if seq <= acked_upto {
                    continue;
                }
                let (w, _) = codec::decode_write(record).map_err(corrupt(&key))?;
                if connection.is_none_or(|c| c == w.connection) {
                    tally.add(&w.connection, seq);
                }
            }
        }
        Ok(tally.finish())
    }

    /// Drops `host`'s queued writes with seq <= `upto` (all when `None`), only those of
    /// `connection` when given, and returns what was dropped. An explicit operator action
    /// (SPEC §6.7): counted in the host's `purged` counter and logged. Atomic per batch of
    /// chunks (a crash leaves a consistent, partly purged queue); clears the stuck mark when
    /// its write is dropped.
    pub fn purge_writes(
        &self,
        host: &str,
        connection: Option<&str>,
        upto: Option<u64>,
    ) -> Result<PurgeSummary, StoreError> {
        let trees = self.inner.trees()?;
        let tree = &trees.tree;
        let upto = upto.unwrap_or(u64::MAX);
        let mut tally = Tally::default();
        let mut cursor: Option<Vec<u8>> = None;
        loop {
            let _quiet = self.inner.gate.quiet();
            let mut st = self.inner.lock();
            st.spill(&trees)?;
            let Some(hs) = st.existing_host(tree, host)? else {
                return Ok(tally.finish());
            };
            let from = cursor.clone().unwrap_or_else(|| hs.keys.chunk_prefix());
            let end = hs.keys.chunk(u64::MAX);
            let acked_upto = hs.rec.acked_upto;
            let mut batch = sled::Batch::default();
            let mut dropped = 0u64;
            let mut cleared: Vec<String> = Vec::new();
            let mut dropped_seqs: Vec<u64> = Vec::new();
            let mut visited = 0usize;
            let mut next: Option<Vec<u8>> = None;
            for item in tree.range(from..=end) {
                let (key, bytes) =
                    item.map_err(sled_err(format!("read the queue of host {host:?}")))?;
                if visited == CHUNKS_PER_BATCH {
                    next = Some(key.to_vec());
                    break;
                }
                visited += 1;
                let mut chunk = Chunk::parse(&bytes).map_err(corrupt(&key))?;
                let mut out = ChunkWriter::with_capacity(bytes.len());
                let (mut live, mut changed) = (0usize, false);
                while let Some((seq, record)) = chunk.next_entry().map_err(corrupt(&key))? {
                    let keep = if seq <= acked_upto || seq > upto {
                        true
                    } else {
                        let (w, coalesced) = codec::decode_write(record).map_err(corrupt(&key))?;
                        if connection.is_none_or(|c| c == w.connection) {
                            tally.add(&w.connection, seq);
                            dropped += 1;
                            dropped_seqs.push(seq);
                            if coalesced && hs.latest(tree, &w.target)? == Some(seq) {
                                batch.remove(hs.keys.latest(&w.target));
                                cleared.push(w.target);
                            }
                            false
                        } else {
                            true
                        }
                    };
                    if keep {
                        out.push(seq, record);
                        live += usize::from(seq > acked_upto);
                    } else {
                        changed = true;
                    }
                }
                if live == 0 {
                    batch.remove(&key);
                } else if changed {
                    batch.insert(&key, out.finish());
                }
            }
            if dropped > 0 {
                let mut rec = hs.rec.clone();
                rec.depth = rec.depth.saturating_sub(dropped);
                batch.insert(hs.keys.record(), rec.encode());
                let purged = read_purged(tree, &hs.keys)?.saturating_add(dropped);
                batch.insert(hs.keys.purged(), codec::encode_u64(purged).to_vec());
                if let Some(s) = read_stuck(tree, &hs.keys)?
                    && dropped_seqs.binary_search(&s.seq).is_ok()
                {
                    batch.remove(hs.keys.stuck());
                }
                tree.apply_batch(batch)
                    .map_err(sled_err(format!("purge the queue of host {host:?}")))?;
                for target in &cleared {
                    hs.set_latest_clean(target, None);
                }
                hs.rec = rec;
            } else if visited > 0 {
                // Only chunks left over without live writes: removing them changes no counter.
                tree.apply_batch(batch)
                    .map_err(sled_err(format!("purge the queue of host {host:?}")))?;
            }
            drop(st);
            match next {
                Some(k) => cursor = Some(k),
                None => break,
            }
        }
        let summary = tally.finish();
        for c in &summary.connections {
            warn!(
                host,
                connection = %c.connection,
                count = c.count,
                first_seq = c.first_seq,
                last_seq = c.last_seq,
                "queued writes purged by the operator"
            );
        }
        Ok(summary)
    }
}

#[cfg(test)]
#[path = "purge_tests.rs"]
mod tests;
