//! Group commit: many concurrent [`Store::commit`] callers share a few fsyncs.
//!
//! Design: flushes are numbered generations run one at a time by a flusher on a blocking
//! thread. A caller needs the first generation that *starts* after its call (everything it
//! inserted before is then spilled and fsynced by it): `target = started + 1`. If no flusher
//! runs, the caller starts one; otherwise the running flusher, when its flush ends, starts the
//! next generation for everybody who asked meanwhile. So N concurrent callers cause at most
//! two flushes: the one already running and the next. Results are published on a `watch`
//! channel; the flusher owns all state transitions, so a caller that is cancelled while
//! waiting cannot wedge the others.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;
use tracing::warn;

use super::error::StoreError;
use super::open::{Inner, Store};
use super::stall;

/// The group-commit state of one store.
pub(crate) struct Commits {
    state: Mutex<CommitState>,
    done: watch::Sender<Done>,
}

#[derive(Debug, Default)]
struct CommitState {
    /// The highest generation some caller waits for.
    requested: u64,
    /// The last generation started.
    started: u64,
    /// A flusher thread is running (it will serve every `requested` generation).
    running: bool,
}

/// The last finished generation and its outcome.
#[derive(Debug, Clone, Default)]
struct Done {
    generation: u64,
    failure: Option<Arc<StoreError>>,
}

impl Commits {
    pub(crate) fn new() -> Commits {
        Commits {
            state: Mutex::new(CommitState::default()),
            done: watch::Sender::new(Done::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, CommitState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many flush generations have started.
    pub(crate) fn generations(&self) -> u64 {
        self.lock().started
    }

    /// Test hook: how many callers are waiting for a flush.
    #[cfg(test)]
    pub(crate) fn waiters(&self) -> usize {
        self.done.receiver_count()
    }
}

impl Store {
    /// Durability barrier: returns once every write enqueued (and every other change made
    /// through this store or the same sled `Db`) before the call is on disk.
    ///
    /// Concurrent callers share flushes (group commit), so calling it after every enqueue is
    /// cheap under load. Cancel-safe. The flush runs on tokio's blocking pool (or a thread of
    /// its own outside a runtime).
    pub async fn commit(&self) -> Result<(), StoreError> {
        let commits = &self.inner.commits;
        let mut done = commits.done.subscribe();
        let (target, start) = {
            let mut c = commits.lock();
            let target = c.started + 1;
            c.requested = c.requested.max(target);
            let start = !c.running;
            c.running = true;
            (target, start)
        };
        if start {
            spawn_flusher(Arc::clone(&self.inner));
        }
        let failure = done
            .wait_for(|d| d.generation >= target)
            .await
            .map_err(|_| StoreError::CommitAborted {
                reason: "the store was closed".to_owned(),
            })?
            .failure
            .clone();
        match failure {
            None => Ok(()),
            Some(source) => Err(StoreError::Commit { source }),
        }
    }

    /// How many group-commit flushes [`commit`](Store::commit) has started since the store
    /// was opened (for metrics: commits per flush shows how well group commit works).
    pub fn commit_flushes(&self) -> u64 {
        self.inner.commits.generations()
    }

    /// Synchronous durability barrier for code outside async contexts (shutdown, the CLI):
    /// writes the buffer and fsyncs on the calling thread, without group commit.
    pub fn flush(&self) -> Result<(), StoreError> {
        let result = self.inner.spill_and_flush();
        if let Err(e) = &result {
            fail_on(&self.inner, e);
        }
        result
    }
}

/// A flush failed: unless the store is failed already, stop writing and recover.
fn fail_on(inner: &Arc<Inner>, error: &StoreError) {
    if !matches!(error, StoreError::Unavailable { .. }) {
        inner.fail(error);
    }
}

/// Starts a flusher; it runs generations until no caller waits. Call without holding the
/// commit lock: if the flusher cannot start, its guard fails the waiters (taking the lock).
fn spawn_flusher(inner: Arc<Inner>) {
    let guard = FlusherGuard { inner: Some(inner) };
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            if let Some(inner) = &guard.inner
                && !inner.stalls.driver.swap(true, Ordering::SeqCst)
            {
                stall::spawn_driver(inner, &handle);
            }
            handle.spawn_blocking(move || guard.run());
        }
        Err(_) => {
            let spawned = std::thread::Builder::new()
                .name("store-commit".to_owned())
                .spawn(move || guard.run());
            if let Err(error) = spawned {
                warn!(%error, "cannot start the store's flush thread");
            }
        }
    }
}

/// Owns the flusher's reference to the store. If the flusher never runs (its runtime shut
/// down) or dies, dropping the guard fails the waiting callers instead of leaving them hanging.
struct FlusherGuard {
    inner: Option<Arc<Inner>>,
}

impl FlusherGuard {
    fn run(mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        loop {
            let generation = {
                let mut c = inner.commits.lock();
                if c.requested <= c.started {
                    c.running = false;
                    return;
                }
                c.started += 1;
                c.started
            };
            let users = inner.users();
            for user in &users {
                user.flush_started(generation);
            }
            inner.stalls.started(generation);
            let failure = match catch_unwind(AssertUnwindSafe(|| inner.spill_and_flush())) {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(Arc::new(e)),
                Err(_) => Some(Arc::new(StoreError::CommitAborted {
                    reason: "the flush panicked".to_owned(),
                })),
            };
            if let Some(took) = inner.stalls.finished(generation) {
                warn!(
                    generation,
                    took = %humantime::format_duration(took),
                    "store commit finished after stalling"
                );
            }
            match &failure {
                None => {
                    for user in &users {
                        user.flush_succeeded(generation);
                    }
                }
                Some(error) => {
                    warn!(%error, generation, "store commit failed");
                    fail_on(&inner, error);
                }
            }
            inner.commits.done.send_replace(Done {
                generation,
                failure,
            });
        }
    }
}

impl Drop for FlusherGuard {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        let generation = {
            let mut c = inner.commits.lock();
            c.running = false;
            c.started = c.requested.max(c.started);
            c.started
        };
        inner.commits.done.send_replace(Done {
            generation,
            failure: Some(Arc::new(StoreError::CommitAborted {
                reason: "the flush task did not run".to_owned(),
            })),
        });
    }
}
