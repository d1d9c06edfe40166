//! What a receiver applies reaches disk in one piece (issue 9).
//!
//! Why: sled writes whatever it holds to disk whenever it likes (its background flusher), so a
//! value or an applied seq inserted into sled directly could be durable while the forwards
//! enqueued for it still sat in the store's buffer; a SIGKILL then lost those forwards for
//! good (the resend was skipped as a duplicate), or re-applied a batch after the resync had
//! sent its end (reordering at the next hop).
//!
//! Design: datapoint values and applied seqs are *staged* in the store's buffer, like queued
//! writes, and every spill writes the whole buffer in ONE sled transaction over the three
//! trees (sled recovers a transaction, like a batch, atomically after a crash). A staged value
//! always follows its forwards in the buffer (the table's observer enqueues first), so a
//! spill holds either both or only the forwards. An [`Atomic`] section makes a whole peer
//! batch one unit: spills that would cut it wait until it ends, and the buffer's size
//! threshold spill is skipped meanwhile (the buffer may exceed [`SPILL_AT`](super::SPILL_AT)
//! by what the open sections enqueue).

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use sled::transaction::{TransactionError, Transactional};

use super::error::StoreError;
use super::open::{Store, Trees};
use super::{TREE_APPLIED, TREE_QUEUE};
use crate::datapoints::table::TREE_NAME as TREE_VALUES;

/// Which tree a staged write goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Side {
    /// [`TREE_APPLIED`]: a sender's applied seq.
    Applied,
    /// The datapoint table's tree: a point's record.
    Values,
}

/// Writes to the other trees, waiting for the next spill (the last one per key wins).
pub(crate) type Staged = BTreeMap<(Side, Vec<u8>), Vec<u8>>;

/// Writes `batch` (queue tree) and `staged` in one atomic sled operation.
pub(crate) fn write(trees: &Trees, batch: sled::Batch, staged: &Staged) -> Result<(), StoreError> {
    if staged.is_empty() {
        return trees
            .tree
            .apply_batch(batch)
            .map_err(|source| StoreError::Sled {
                tree: TREE_QUEUE,
                action: "write buffered queue entries".to_owned(),
                source,
            });
    }
    let result: Result<(), TransactionError<()>> = (&trees.tree, &trees.applied, &trees.values)
        .transaction(|(queue, applied, values)| {
            queue.apply_batch(&batch)?;
            for ((side, key), value) in staged {
                let tree = match side {
                    Side::Applied => applied,
                    Side::Values => values,
                };
                tree.insert(key.as_slice(), value.as_slice())?;
            }
            Ok(())
        });
    result.map_err(|e| match e {
        TransactionError::Storage(source) => StoreError::Sled {
            tree: TREE_QUEUE,
            action: format!(
                "write buffered queue entries with datapoint values ({TREE_VALUES}) and \
                 applied seqs ({TREE_APPLIED})"
            ),
            source,
        },
        TransactionError::Abort(()) => StoreError::CommitAborted {
            reason: "the spill transaction aborted".to_owned(),
        },
    })
}

/// Open sections and spills waiting for them.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
pub(crate) struct GateState {
    /// Open sections.
    open: usize,
    /// Spills waiting for them to end.
    waiting: usize,
    /// Sections waiting for those spills.
    blocked: usize,
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until no section is open and keeps new ones out until the guard drops. Take it
    /// before the state lock, and never inside a section (it would wait for itself).
    pub(crate) fn quiet(&self) -> Quiet<'_> {
        let mut g = self.lock();
        g.waiting += 1;
        while g.open > 0 {
            g = self.changed.wait(g).unwrap_or_else(PoisonError::into_inner);
        }
        g.waiting -= 1;
        Quiet {
            gate: self,
            guard: g,
        }
    }

    /// Like [`Gate::quiet`] but never waits: `None` if a section is open or the gate is busy.
    pub(crate) fn try_quiet(&self) -> Option<Quiet<'_>> {
        let g = self.state.try_lock().ok()?;
        (g.open == 0).then_some(Quiet {
            gate: self,
            guard: g,
        })
    }

    /// Test hook: how many spills wait for open sections.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.lock().waiting
    }
}

/// No section is open while this lives.
pub(crate) struct Quiet<'a> {
    gate: &'a Gate,
    guard: MutexGuard<'a, GateState>,
}

impl Drop for Quiet<'_> {
    fn drop(&mut self) {
        // Sections that waited for this spill may start (the guard unlocks right after).
        // Why the check: a notification is a syscall, and `enqueue` takes this guard.
        if self.guard.blocked > 0 {
            self.gate.changed.notify_all();
        }
    }
}

/// An open atomic section (see [`Store::atomic`]); ends when dropped.
#[must_use = "the section ends when this is dropped"]
pub struct Atomic<'a> {
    gate: &'a Gate,
}

impl Drop for Atomic<'_> {
    fn drop(&mut self) {
        let mut g = self.gate.lock();
        g.open -= 1;
        if g.open == 0 && g.waiting > 0 {
            self.gate.changed.notify_all();
        }
    }
}

impl Store {
    /// Opens an atomic section: what this thread enqueues, stages ([`Store::set_applied_seq`])
    /// and writes to the datapoint table until the guard drops reaches sled in the same spill,
    /// so a crash keeps all of it or none (a peer batch: its values, their forwards and its
    /// applied seq). Spills wait for open sections; a section waits for a waiting spill.
    ///
    /// Keep it short and synchronous, and do not nest it or read the queue inside it
    /// ([`Store::peek_run`], [`Store::host_stats`], ..., and [`Store::commit`] would wait
    /// for the section itself); [`Store::enqueue`], [`Store::connection`],
    /// [`Store::applied_seq`] and [`Store::set_applied_seq`] are fine.
    pub fn atomic(&self) -> Atomic<'_> {
        let gate = &self.inner.gate;
        let mut g = gate.lock();
        while g.waiting > 0 {
            g.blocked += 1;
            g = gate.changed.wait(g).unwrap_or_else(PoisonError::into_inner);
            g.blocked -= 1;
        }
        g.open += 1;
        Atomic { gate }
    }
}
