//! What the store tells `/health` and `/metrics`: writable or why not, recoveries, stalls.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::Notify;

use super::open::Store;
use super::stall::{STALL_AFTER, StallWatch, round};

/// The store's state, as `/health` shows it (SPEC §7: the store, writable or why not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreHealth {
    /// Writes can be made durable. When false, writes are refused (not acknowledged) and the
    /// store re-opens itself once it can (space is back).
    pub writable: bool,
    /// Why not: the error that made the store stop writing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Since when it is not writable (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Times the store stopped writing and recovered by re-opening, since the start.
    pub recoveries: u64,
    /// The commit that is stalled now, if any: how long it has run, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_stalled_ms: Option<u64>,
    /// Commits that took longer than the stall bound, since the start.
    pub commit_stalls_total: u64,
    /// The stall bound, in milliseconds.
    pub commit_stall_after_ms: u64,
}

/// Why the store does not write, and since when.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) error: String,
    pub(crate) since: SystemTime,
}

/// The failure state of one store.
#[derive(Debug, Default)]
pub(crate) struct Condition {
    pub(crate) failure: Option<Failure>,
    pub(crate) recoveries: u64,
}

/// The stall watch of one store and the wake-up of its driver.
pub(crate) struct Stalls {
    watch: Mutex<StallWatch>,
    pub(crate) wake: Arc<Notify>,
    /// The driver runs (it is started with the first commit inside a tokio runtime).
    pub(crate) driver: AtomicBool,
}

impl Stalls {
    pub(crate) fn new(bound: Duration) -> Stalls {
        Stalls {
            watch: Mutex::new(StallWatch::new(bound)),
            wake: Arc::new(Notify::new()),
            driver: AtomicBool::new(false),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, StallWatch> {
        self.watch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A flush starts: the driver learns the new deadline.
    pub(crate) fn started(&self, generation: u64) {
        self.lock().started(generation, Instant::now());
        self.wake.notify_one();
    }

    /// A flush ended; returns its duration if it was a stall.
    pub(crate) fn finished(&self, generation: u64) -> Option<Duration> {
        self.lock().finished(generation, Instant::now()).map(round)
    }
}

impl Default for Stalls {
    fn default() -> Stalls {
        Stalls::new(STALL_AFTER)
    }
}

/// An error and its causes, one line (what `/health` shows).
pub(crate) fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}

impl Store {
    /// The store's state for `/health` (503 when not writable) and `/metrics`.
    pub fn health(&self) -> StoreHealth {
        let condition = self.inner.condition();
        let (stalled, total, bound) = {
            let watch = self.inner.stalls.lock();
            (
                watch.current(Instant::now()).map(|s| s.elapsed),
                watch.total(),
                watch.bound(),
            )
        };
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        StoreHealth {
            writable: condition.failure.is_none(),
            error: condition.failure.as_ref().map(|f| f.error.clone()),
            since: condition
                .failure
                .as_ref()
                .map(|f| humantime::format_rfc3339_millis(f.since).to_string()),
            recoveries: condition.recoveries,
            commit_stalled_ms: stalled.map(ms),
            commit_stalls_total: total,
            commit_stall_after_ms: ms(bound),
        }
    }

    /// Whether writes can be made durable now (see [`Store::health`]).
    pub fn is_writable(&self) -> bool {
        self.inner.condition().failure.is_none()
    }

    /// Sets how long a commit may take before it counts as stalled (default [`STALL_AFTER`]).
    pub fn set_commit_stall_bound(&self, bound: Duration) {
        self.inner.stalls.lock().set_bound(bound);
        self.inner.stalls.wake.notify_one();
    }

    /// Commits that took longer than the stall bound since the store was opened: the counter
    /// `webbinder_store_commit_stalls_total` of `/metrics`.
    pub fn commit_stalls_total(&self) -> u64 {
        self.inner.stalls.lock().total()
    }
}
