//! Never showing a value that is not on disk.
//!
//! Why: a write changes the point at once (a Read right after a Write sees it), but it is
//! durable only after the store's next flush. When that flush fails (a full disk) the value
//! will never be on disk, and sled's in-memory tree still holds it, so the table rolls such
//! points back to their last durable state, refuses writes until the store is re-opened, and
//! then reloads from the new `Db`. It learns about flushes as a [`StoreUser`].

use std::collections::BTreeMap;
use std::sync::{MutexGuard, PoisonError};

use tracing::{info, warn};

use super::{Datapoint, TREE_NAME, Table, TableError, restore};
use crate::datapoints::clock::RTC_NAME;
use crate::store::{FailureReporter, ReloadError, StoreUser};

#[cfg(test)]
mod tests;

/// Points written since their last durable state.
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// Per point: its last durable state and the mark of its last write.
    points: BTreeMap<String, (Datapoint, u64)>,
    /// The mark of the next write (marks order writes).
    next_mark: u64,
    /// The flush in progress.
    flushing: Option<Flushing>,
}

/// What a flush covers.
#[derive(Debug)]
struct Flushing {
    generation: u64,
    /// The first mark it does not cover.
    upto: u64,
    /// The state of every pending point when it started: durable once it succeeds.
    states: BTreeMap<String, Datapoint>,
}

impl Pending {
    /// `before` (a point's state before a write just persisted) is about to change.
    fn note(&mut self, before: &Datapoint) {
        let mark = self.next_mark;
        self.next_mark += 1;
        match self.points.get_mut(&before.name) {
            Some((_, last)) => *last = mark,
            None => {
                self.points
                    .insert(before.name.clone(), (before.clone(), mark));
            }
        }
    }

    /// The flush succeeded: a point not written since it started is durable; one written
    /// since has the state it had then as its last durable one.
    fn flushed(&mut self, generation: u64) {
        let Some(mut f) = self.flushing.take_if(|f| f.generation == generation) else {
            return;
        };
        self.points.retain(|name, (durable, mark)| {
            if *mark < f.upto {
                return false;
            }
            if let Some(state) = f.states.remove(name) {
                *durable = state;
            }
            true
        });
    }
}

impl Table {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `dp`'s state before a write that was just persisted (not yet durable). The
    /// clock is left out: it is rewritten every second and never committed on its own.
    pub(super) fn note_pending(&self, dp: &Datapoint) {
        if dp.name != RTC_NAME {
            self.pending().note(dp);
        }
    }
}

impl Table {
    /// Test hook: the next sled insert fails as on a full disk.
    #[cfg(test)]
    pub(crate) fn fail_next_persist(&self) {
        self.inner
            .fail_next_persist
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl StoreUser for Table {
    fn flush_started(&self, generation: u64) {
        let points = self.lock();
        let mut p = self.pending();
        let states = p
            .points
            .keys()
            .filter_map(|name| points.get(name).map(|dp| (name.clone(), dp.clone())))
            .collect();
        p.flushing = Some(Flushing {
            generation,
            upto: p.next_mark,
            states,
        });
    }

    fn flush_succeeded(&self, generation: u64) {
        self.pending().flushed(generation);
    }

    fn store_failed(&self) {
        let mut points = self.lock();
        let mut pending = self.pending();
        let undone = pending.points.len();
        for (name, (before, _)) in std::mem::take(&mut pending.points) {
            points.insert(name, before);
        }
        pending.flushing = None;
        *self
            .inner
            .tree
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
        warn!(
            undone,
            "store failed: datapoint writes that are not on disk are undone; writes are refused"
        );
    }

    fn attached(&self, reporter: FailureReporter) {
        *self
            .inner
            .reporter
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(reporter);
    }

    fn store_reopened(&self, db: &sled::Db) -> Result<(), ReloadError> {
        let tree = db
            .open_tree(TREE_NAME)
            .map_err(|source| TableError::ReopenTree {
                tree: TREE_NAME,
                source,
            })?;
        let mut points = self.lock();
        for dp in points.values_mut() {
            if dp.name != RTC_NAME {
                restore(&tree, dp)?;
            }
        }
        *self.pending() = Pending::default();
        *self
            .inner
            .tree
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(tree);
        info!("datapoint table reloaded from the re-opened store");
        Ok(())
    }
}
