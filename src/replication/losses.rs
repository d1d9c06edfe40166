//! Defence in depth against a batch that costs our XMPP session (issue 8): whatever the size
//! estimate says, a connection manager may still void the session while a Write is in flight
//! (a limit lower than configured, a foreign server counting differently). Resending the same
//! batch after every reconnect would lose the session forever in a tight loop, so:
//!
//! - each such loss halves the items allowed per batch (down to 1);
//! - a single write that costs the session [`MAX_LOSSES`] times in a row is declared stuck
//!   instead of being sent again (only `webbinder purge` drops it, SPEC §6.7);
//! - after [`RECOVER_AFTER`] without a loss the cap doubles back, one step at a time, so a
//!   loss unrelated to size (a server restart) costs throughput only for a while.
//!
//! Pure: events and `now` in, the next cap or a verdict out.

use std::time::{Duration, Instant};

/// Losses of the session by one lone write before it is declared stuck.
pub const MAX_LOSSES: u32 = 3;

/// Quiet time after which the cap doubles back towards its maximum.
pub const RECOVER_AFTER: Duration = Duration::from_secs(60);

/// What to do after the session was lost with a batch in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterLoss {
    /// Send again, at most `cap` items per batch.
    Retry {
        /// The new cap.
        cap: usize,
    },
    /// The write `seq` alone cost the session `losses` times: do not send it again.
    Stuck {
        /// The write's seq.
        seq: u64,
        /// How many times in a row.
        losses: u32,
    },
}

/// The per-host rule.
#[derive(Debug, Clone)]
pub struct LossGuard {
    max: usize,
    cap: usize,
    /// The lone write last lost with the session, and how many times in a row.
    strikes: Option<(u64, u32)>,
    /// When the cap last changed because of a loss (or last recovered a step).
    since: Option<Instant>,
    /// The largest batch (estimated bytes) the server has taken: a loss with a batch no larger
    /// cannot be the batch's fault (a server restart, a cut link) and changes nothing.
    proven: usize,
}

impl LossGuard {
    /// A guard allowing `max` items per batch until a loss.
    pub fn new(max: usize) -> LossGuard {
        let max = max.max(1);
        LossGuard {
            max,
            cap: max,
            strikes: None,
            since: None,
            proven: 0,
        }
    }

    /// Items allowed in the next batch at `now`.
    pub fn cap(&mut self, now: Instant) -> usize {
        if let Some(t) = self.since
            && now.saturating_duration_since(t) >= RECOVER_AFTER
        {
            self.cap = (self.cap * 2).min(self.max);
            self.since = (self.cap < self.max).then_some(now);
        }
        self.cap
    }

    /// The session was lost while a batch of `items` writes (about `bytes`) starting at `first`
    /// was in flight. A batch no larger than one the server took is not to blame: no change.
    pub fn lost(&mut self, first: u64, items: usize, bytes: usize, now: Instant) -> AfterLoss {
        if bytes <= self.proven {
            return AfterLoss::Retry { cap: self.cap };
        }
        self.since = Some(now);
        if items > 1 {
            self.strikes = None;
            self.cap = (items / 2).max(1);
            return AfterLoss::Retry { cap: self.cap };
        }
        self.cap = 1;
        let losses = match self.strikes {
            Some((seq, n)) if seq == first => n + 1,
            _ => 1,
        };
        self.strikes = Some((first, losses));
        if losses >= MAX_LOSSES {
            AfterLoss::Stuck { seq: first, losses }
        } else {
            AfterLoss::Retry { cap: 1 }
        }
    }

    /// A batch of about `bytes` was answered: the server takes that much; the lone-write
    /// strikes start over.
    pub fn delivered(&mut self, bytes: usize) {
        self.strikes = None;
        self.proven = self.proven.max(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch larger than any delivered: each loss may be its fault.
    const BIG: usize = usize::MAX;

    #[test]
    fn each_loss_halves_the_batch_down_to_one_then_three_strikes_make_it_stuck() {
        let t0 = Instant::now();
        let mut g = LossGuard::new(100);
        assert_eq!(g.cap(t0), 100);
        let mut caps = Vec::new();
        let mut n = g.cap(t0);
        while n > 1 {
            match g.lost(7, n, BIG, t0) {
                AfterLoss::Retry { cap } => caps.push(cap),
                other => panic!("{other:?}"),
            }
            n = g.cap(t0);
        }
        assert_eq!(caps, vec![50, 25, 12, 6, 3, 1]);
        assert_eq!(g.lost(7, 1, BIG, t0), AfterLoss::Retry { cap: 1 });
        assert_eq!(g.lost(7, 1, BIG, t0), AfterLoss::Retry { cap: 1 });
        assert_eq!(
            g.lost(7, 1, BIG, t0),
            AfterLoss::Stuck { seq: 7, losses: 3 }
        );
    }

    #[test]
    fn strikes_count_only_consecutive_losses_of_the_same_write() {
        let t0 = Instant::now();
        let mut g = LossGuard::new(1);
        assert_eq!(g.lost(7, 1, BIG, t0), AfterLoss::Retry { cap: 1 });
        assert_eq!(g.lost(7, 1, BIG, t0), AfterLoss::Retry { cap: 1 });
        // Answered in between (e.g. a server restart had caused the losses).
        g.delivered(0);
        assert_eq!(g.lost(7, 1, BIG, t0), AfterLoss::Retry { cap: 1 });
        // Another head.
        assert_eq!(g.lost(8, 1, BIG, t0), AfterLoss::Retry { cap: 1 });
        assert_eq!(g.lost(8, 1, BIG, t0), AfterLoss::Retry { cap: 1 });
        assert_eq!(
            g.lost(8, 1, BIG, t0),
            AfterLoss::Stuck { seq: 8, losses: 3 }
        );
        // A multi-item loss resets the strikes.
        let mut g = LossGuard::new(100);
        g.lost(9, 1, BIG, t0);
        g.lost(9, 1, BIG, t0);
        g.lost(9, 2, BIG, t0);
        assert_eq!(g.lost(9, 1, BIG, t0), AfterLoss::Retry { cap: 1 });
    }

    #[test]
    fn the_cap_recovers_step_by_step_after_quiet_periods() {
        let t0 = Instant::now();
        let mut g = LossGuard::new(100);
        g.lost(1, 100, BIG, t0);
        g.lost(1, 50, BIG, t0);
        assert_eq!(g.cap(t0 + RECOVER_AFTER / 2), 25);
        let t1 = t0 + RECOVER_AFTER;
        assert_eq!(g.cap(t1), 50);
        // The next step needs another quiet period.
        assert_eq!(g.cap(t1 + Duration::from_secs(1)), 50);
        assert_eq!(g.cap(t1 + RECOVER_AFTER), 100);
        assert_eq!(g.cap(t1 + RECOVER_AFTER * 5), 100);
        // A loss during recovery halves again from the batch that was lost.
        assert_eq!(
            g.lost(3, 100, BIG, t1 + RECOVER_AFTER * 5),
            AfterLoss::Retry { cap: 50 }
        );
    }

    #[test]
    fn losses_are_never_a_tight_loop() {
        // However many losses, a head is sent at most log2(100) + MAX_LOSSES times before it
        // is declared stuck.
        let t0 = Instant::now();
        let mut g = LossGuard::new(100);
        let mut sends = 0;
        loop {
            sends += 1;
            let n = g.cap(t0);
            if let AfterLoss::Stuck { .. } = g.lost(42, n, BIG, t0) {
                break;
            }
            assert!(sends < 100);
        }
        assert_eq!(sends, 7 + MAX_LOSSES as usize - 1);
    }

    #[test]
    fn a_loss_with_a_batch_no_larger_than_one_delivered_is_not_the_batchs_fault() {
        let t0 = Instant::now();
        let mut g = LossGuard::new(100);
        g.delivered(20_000);
        // Server restarts with ordinary batches in flight: no halving, no strikes.
        for _ in 0..10 {
            assert_eq!(g.lost(5, 100, 20_000, t0), AfterLoss::Retry { cap: 100 });
        }
        assert_eq!(g.cap(t0), 100);
        // A larger batch than the server ever took may be refused for its size.
        assert_eq!(g.lost(5, 100, 20_001, t0), AfterLoss::Retry { cap: 50 });
    }
}
