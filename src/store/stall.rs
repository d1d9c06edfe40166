//! Detection of stalled commits.
//!
//! Why: under bursts of small batches sled's flush can stall for seconds (BENCHMARKS.md),
//! and every write acknowledgement waits for it. A stall must not go unseen: a flush that has
//! not finished within [`STALL_AFTER`] is logged as an error (once per stall, with its duration
//! so far) and counted; `Store::health` shows the one in progress and the total.
//!
//! [`StallWatch`] is the rule, on a caller-supplied clock; [`spawn_driver`] is its thin tokio
//! driver, which wakes at the next deadline and logs.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tracing::error;

use super::open::Inner;

/// How long a commit (one flush) may take before it counts as stalled.
pub const STALL_AFTER: Duration = Duration::from_secs(5);

/// The flush in progress, if any.
#[derive(Debug, Clone, Copy)]
struct Running {
    generation: u64,
    started: Instant,
    /// Counted (and logged) as a stall already.
    stalled: bool,
}

/// A stall the driver must report now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stall {
    /// The flush generation that stalls.
    pub generation: u64,
    /// How long it has been running.
    pub elapsed: Duration,
}

/// The stall rule: flushes run one at a time; one that runs for `bound` or longer is one stall.
#[derive(Debug)]
pub(crate) struct StallWatch {
    bound: Duration,
    running: Option<Running>,
    total: u64,
}

impl StallWatch {
    pub(crate) fn new(bound: Duration) -> StallWatch {
        StallWatch {
            bound,
            running: None,
            total: 0,
        }
    }

    /// The flush `generation` starts at `now`.
    pub(crate) fn started(&mut self, generation: u64, now: Instant) {
        self.running = Some(Running {
            generation,
            started: now,
            stalled: false,
        });
    }

    /// The flush `generation` ended at `now`; returns its duration if it was a stall. A stall
    /// the driver did not see in time (no runtime, a late wake-up) is counted here.
    pub(crate) fn finished(&mut self, generation: u64, now: Instant) -> Option<Duration> {
        let run = self.running.take_if(|r| r.generation == generation)?;
        let elapsed = now.saturating_duration_since(run.started);
        if run.stalled {
            return Some(elapsed);
        }
        if elapsed >= self.bound {
            self.total += 1;
            return Some(elapsed);
        }
        None
    }

    /// A stall to report at `now`: once per stall, as soon as the flush has run for `bound`.
    pub(crate) fn poll(&mut self, now: Instant) -> Option<Stall> {
        let bound = self.bound;
        let run = self.running.as_mut().filter(|r| !r.stalled)?;
        let elapsed = now.saturating_duration_since(run.started);
        if elapsed < bound {
            return None;
        }
        run.stalled = true;
        self.total += 1;
        Some(Stall {
            generation: run.generation,
            elapsed,
        })
    }

    /// When [`poll`](Self::poll) may next report something; `None` while there is nothing to
    /// watch (no flush, or its stall is reported already).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.running
            .filter(|r| !r.stalled)
            .map(|r| r.started + self.bound)
    }

    /// The stall in progress at `now`, if the running flush is one.
    pub(crate) fn current(&self, now: Instant) -> Option<Stall> {
        let run = self.running?;
        let elapsed = now.saturating_duration_since(run.started);
        (run.stalled || elapsed >= self.bound).then_some(Stall {
            generation: run.generation,
            elapsed,
        })
    }

    /// The bound.
    pub(crate) fn bound(&self) -> Duration {
        self.bound
    }

    /// Changes the bound (applies to the flush in progress too).
    pub(crate) fn set_bound(&mut self, bound: Duration) {
        self.bound = bound;
    }

    /// Stalls seen since the store was opened (including one in progress once reported).
    pub(crate) fn total(&self) -> u64 {
        self.total
    }
}

/// Starts the driver of `inner`'s watch on the current tokio runtime; it ends when the store
/// is dropped (the drop wakes it).
pub(crate) fn spawn_driver(inner: &Arc<Inner>, handle: &tokio::runtime::Handle) {
    let weak = Arc::downgrade(inner);
    let wake = Arc::clone(&inner.stalls.wake);
    handle.spawn(drive(weak, wake));
}

async fn drive(weak: Weak<Inner>, wake: Arc<Notify>) {
    loop {
        let deadline = {
            let Some(inner) = weak.upgrade() else { return };
            let now = Instant::now();
            let mut watch = inner.stalls.lock();
            if let Some(stall) = watch.poll(now) {
                error!(
                    generation = stall.generation,
                    stalled_for = %humantime::format_duration(round(stall.elapsed)),
                    bound = %humantime::format_duration(watch.bound),
                    total = watch.total(),
                    "store commit stalled: a flush has not finished; write acknowledgements wait"
                );
            }
            watch.next_deadline()
        };
        match deadline {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    () = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

/// Rounds to milliseconds for logs.
pub(crate) fn round(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_secs(5);

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn a_quick_flush_is_no_stall() {
        let t0 = Instant::now();
        let mut w = StallWatch::new(BOUND);
        w.started(1, t0);
        assert_eq!(w.next_deadline(), Some(at(t0, 5_000)));
        assert_eq!(w.poll(at(t0, 4_999)), None);
        assert_eq!(w.current(at(t0, 4_999)), None);
        assert_eq!(w.finished(1, at(t0, 4_999)), None);
        assert_eq!(w.next_deadline(), None);
        assert_eq!(w.total(), 0);
    }

    #[test]
    fn a_stall_is_reported_once_with_its_duration_and_counted_once() {
        let t0 = Instant::now();
        let mut w = StallWatch::new(BOUND);
        w.started(7, t0);
        let s = w.poll(at(t0, 5_000)).expect("stalled at the bound");
        assert_eq!(
            s,
            Stall {
                generation: 7,
                elapsed: BOUND
            }
        );
        assert_eq!(w.total(), 1);
        // Once per stall: no deadline, no second report, still shown as in progress.
        assert_eq!(w.next_deadline(), None);
        assert_eq!(w.poll(at(t0, 60_000)), None);
        assert_eq!(
            w.current(at(t0, 9_000)).map(|s| s.elapsed),
            Some(Duration::from_secs(9))
        );
        assert_eq!(w.finished(7, at(t0, 12_000)), Some(Duration::from_secs(12)));
        assert_eq!(w.current(at(t0, 12_001)), None);
        assert_eq!(w.total(), 1);
        // The next flush is watched afresh.
        w.started(8, at(t0, 12_000));
        assert_eq!(w.poll(at(t0, 17_000)).map(|s| s.generation), Some(8));
        assert_eq!(w.total(), 2);
    }

    #[test]
    fn a_stall_the_driver_missed_is_counted_when_the_flush_ends() {
        let t0 = Instant::now();
        let mut w = StallWatch::new(BOUND);
        w.started(3, t0);
        assert_eq!(w.finished(3, at(t0, 6_000)), Some(Duration::from_secs(6)));
        assert_eq!(w.total(), 1);
        assert_eq!(w.poll(at(t0, 7_000)), None);
    }

    #[test]
    fn the_end_of_another_generation_does_not_end_the_watch() {
        let t0 = Instant::now();
        let mut w = StallWatch::new(BOUND);
        w.started(4, t0);
        assert_eq!(w.finished(3, at(t0, 1)), None);
        assert_eq!(w.poll(at(t0, 5_000)).map(|s| s.generation), Some(4));
    }
}
