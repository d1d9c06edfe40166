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
//! trees (sled recovers a transaction, like a batch, atomically after a crash). An [`Atomic`]
//! section makes a unit of them: spills that would cut it wait until it ends. The table opens
//! one around each write (its observer's forwards and their connections' last-enqueued
//! stamps, then its staged value), a peer batch one around all its writes and its applied
//! seq. Sections nest on one thread (a thread-local count per gate): a table write inside a
//! peer batch joins the batch's section instead of waiting for a spill that waits for it.
//! [`Store::enqueue`]'s size threshold spill is skipped while any section is open; the next
//! section to open on a quiet gate does it (the buffer may exceed
//! [`SPILL_AT`](super::SPILL_AT) by what the open sections enqueue).
//!
//! Why a section per table write (the soak's `3021, 3022, 3021`): without it the sender's
//! commit could spill an update's forwards and stamps between the observer and the staged
//! value; after a kill the table held the older value, the stamp the newer one, and the
//! start-up resync enqueued the older value after the newer.
//!
//! Lock order: a section before the table's lock (the table opens it first), the gate before
//! the store's state lock.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use sled::transaction::{TransactionError, Transactional};
use tracing::warn;

use super::error::StoreError;
use super::open::{Inner, Store, Trees};
use super::{TREE_APPLIED, TREE_QUEUE, TREE_VALUES};

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
    /// The buffer reached [`SPILL_AT`](super::SPILL_AT) while a section kept
    /// [`Store::enqueue`] from spilling it: the next section to open on a quiet gate spills
    /// it first.
    spill_due: AtomicBool,
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

thread_local! {
    /// The gates this thread has a section open on, with how many guards it holds on each
    /// (a section nests: a peer batch's section holds its table writes' sections).
    static HELD: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// This gate's key in [`HELD`] (it lives in the store's `Arc`, so it does not move).
    fn key(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Counts one more guard if this thread has a section open here already.
    fn reenter(&self) -> bool {
        let key = self.key();
        HELD.with_borrow_mut(|held| match held.iter_mut().find(|(k, _)| *k == key) {
            Some((_, depth)) => {
                *depth += 1;
                true
            }
            None => false,
        })
    }

    /// Drops one guard of this thread's section; true if that was the last one.
    fn leave(&self) -> bool {
        let key = self.key();
        HELD.with_borrow_mut(|held| {
            let Some(i) = held.iter().position(|(k, _)| *k == key) else {
                return true;
            };
            held[i].1 -= 1;
            let last = held[i].1 == 0;
            if last {
                held.swap_remove(i);
            }
            last
        })
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

    /// The buffer is full but a section kept it from being spilled (see `spill_due`).
    pub(crate) fn set_spill_due(&self) {
        self.spill_due.store(true, Ordering::Relaxed);
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

/// An open atomic section (see [`Store::atomic`]); ends when the last guard of this thread's
/// section drops. Not `Send`: a section belongs to the thread that opened it.
#[must_use = "the section ends when this is dropped"]
pub struct Atomic {
    inner: Arc<Inner>,
    _thread: PhantomData<*const ()>,
}

impl Drop for Atomic {
    fn drop(&mut self) {
        let gate = &self.inner.gate;
        if !gate.leave() {
            return;
        }
        let mut g = gate.lock();
        g.open = g.open.saturating_sub(1);
        if g.open == 0 && g.waiting > 0 {
            gate.changed.notify_all();
        }
    }
}

impl Inner {
    /// Opens an atomic section, or counts one more guard of this thread's open section.
    pub(crate) fn atomic(self: &Arc<Inner>) -> Atomic {
        let gate = &self.gate;
        if !gate.reenter() {
            let mut g = gate.lock();
            while g.waiting > 0 {
                g.blocked += 1;
                g = gate.changed.wait(g).unwrap_or_else(PoisonError::into_inner);
                g.blocked -= 1;
            }
            if g.open == 0 && gate.spill_due.swap(false, Ordering::Relaxed) {
                // No section is open and none can open: this spill cuts none.
                self.spill_due_buffer();
            }
            g.open += 1;
            drop(g);
            HELD.with_borrow_mut(|held| held.push((gate.key(), 1)));
        }
        Atomic {
            inner: Arc::clone(self),
            _thread: PhantomData,
        }
    }

    /// The threshold spill that sections kept from [`Store::enqueue`]. A failure is only
    /// logged: the buffer stays, and the next commit or read spills it and reports why.
    fn spill_due_buffer(&self) {
        let result = self.trees().and_then(|trees| self.lock().spill(&trees));
        if let Err(error) = result {
            self.gate.set_spill_due();
            warn!(%error, "cannot write the full store buffer to sled before an atomic section");
        }
    }
}

impl Store {
    /// Opens an atomic section: what this thread enqueues, stages ([`Store::set_applied_seq`])
    /// and writes to the datapoint table until the guard drops reaches sled in the same spill,
    /// so a crash keeps all of it or none (a peer batch: its values, their forwards and its
    /// applied seq). Spills wait for open sections; a section waits for a waiting spill.
    ///
    /// Sections nest on one thread: a section opened while this thread has one open on the
    /// same store joins it (the table opens one for every write, inside a peer batch's).
    /// Keep it short and synchronous (the guard is not `Send`), and do not read the queue
    /// inside it ([`Store::peek_run`], [`Store::host_stats`], ..., and [`Store::commit`]
    /// would wait for the section itself); [`Store::enqueue`], [`Store::connection`],
    /// [`Store::applied_seq`] and [`Store::set_applied_seq`] are fine.
    pub fn atomic(&self) -> Atomic {
        self.inner.atomic()
    }
}
