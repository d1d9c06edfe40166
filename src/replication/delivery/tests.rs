//! Unit tests of the delivery machine on a virtual clock, with a queue model in the harness.

use super::*;

const RETRY: Duration = Duration::from_secs(10);
const TIMEOUT: Duration = Duration::from_secs(5);

fn cfg(window: usize, max_items: usize) -> DeliveryConfig {
    DeliveryConfig {
        window,
        retry_time: RETRY,
        timeout: TIMEOUT,
        max_items,
        remote: true,
    }
}

/// A machine, a queue model (seqs not yet acknowledged) and a virtual clock; `Fetch`es are
/// answered from the queue (at most `batch` writes each), `Settle`s acknowledge.
struct Harness {
    m: HostDelivery,
    now: Instant,
    queue: Vec<u64>,
    next_seq: u64,
    batch: usize,
    /// Sends not yet answered by the test: (id, first, last, prev, items).
    sent: Vec<(BatchId, u64, u64, u64, usize)>,
    settles: Vec<(u64, Vec<(u64, String)>)>,
    states: Vec<HostState>,
    /// A Fetch left unanswered on purpose (`hold_fetches`).
    held_fetch: Option<(Option<u64>, usize)>,
    hold_fetches: bool,
    too_large: Option<u64>,
}

impl Harness {
    fn new(cfg: DeliveryConfig) -> Harness {
        let now = Instant::now();
        let mut h = Harness {
            m: HostDelivery::new(cfg, now),
            now,
            queue: Vec::new(),
            next_seq: 1,
            batch: 3,
            sent: Vec::new(),
            settles: Vec::new(),
            states: Vec::new(),
            held_fetch: None,
            hold_fetches: false,
            too_large: None,
        };
        h.drain();
        h
    }

    /// Remote, session up, window 4, batches of 3.
    fn online() -> Harness {
        let mut h = Harness::new(cfg(4, 100));
        h.m.handle_session(h.now, true);
        h.drain();
        h
    }

    fn drain(&mut self) {
        while let Some(a) = self.m.poll_action() {
            match a {
                Action::Fetch { after, max } => {
                    if self.hold_fetches {
                        self.held_fetch = Some((after, max));
                    } else {
                        let f = self.fetch(after, max);
                        self.m.handle_fetched(self.now, f);
                    }
                }
                Action::Send {
                    id,
                    first,
                    last,
                    prev,
                    items,
                } => self.sent.push((id, first, last, prev, items)),
                Action::Settle { upto, refused } => {
                    self.queue.retain(|s| *s > upto);
                    self.settles.push((upto, refused));
                }
                Action::Status(s) => self.states.push(s),
            }
        }
    }

    fn fetch(&self, after: Option<u64>, max: usize) -> Fetched {
        let run: Vec<u64> = self
            .queue
            .iter()
            .copied()
            .filter(|s| after.is_none_or(|a| *s > a))
            .take(max.min(self.batch))
            .collect();
        match (run.first(), self.too_large) {
            (Some(s), Some(t)) if *s == t => Fetched::HeadTooLarge {
                seq: t,
                reason: "too large".into(),
            },
            _ => Fetched::Run(run),
        }
    }

    fn enqueue(&mut self, n: usize) {
        for _ in 0..n {
            self.queue.push(self.next_seq);
            self.next_seq += 1;
        }
        self.m.handle_queued(self.now);
        self.drain();
    }

    /// Answers the send with first seq `first` (it must be outstanding).
    fn answer(&mut self, first: u64, outcome: Outcome) {
        let i = self
            .sent
            .iter()
            .position(|s| s.1 == first)
            .unwrap_or_else(|| panic!("no batch from {first} in flight: {:?}", self.sent));
        let (id, ..) = self.sent.remove(i);
        self.m.handle_answer(self.now, id, outcome);
        self.drain();
    }

    fn deliver(&mut self, first: u64) {
        self.answer(first, Outcome::Delivered { refused: vec![] });
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.m.handle_timeout(self.now);
        self.drain();
    }

    /// (first, last, prev) of the outstanding sends.
    fn sends(&self) -> Vec<(u64, u64, u64)> {
        self.sent.iter().map(|s| (s.1, s.2, s.3)).collect()
    }

    fn settled(&self) -> Vec<u64> {
        self.settles.iter().map(|s| s.0).collect()
    }
}

#[test]
fn the_window_fills_to_four_batches_chained_by_prev() {
    let mut h = Harness::online();
    assert_eq!(h.m.state(), &HostState::Idle);
    h.enqueue(20);
    assert_eq!(
        h.sends(),
        vec![(1, 3, 0), (4, 6, 3), (7, 9, 6), (10, 12, 9)]
    );
    assert_eq!(h.m.state(), &HostState::Sending { in_flight: 4 });
    // One answer frees one slot; the next batch chains on the last one sent.
    h.deliver(1);
    assert_eq!(h.settled(), vec![3]);
    assert_eq!(h.sends().last(), Some(&(13, 15, 12)));
    assert_eq!(h.sent.len(), 4);
}

#[test]
fn out_of_order_answers_settle_in_order() {
    let mut h = Harness::online();
    h.enqueue(12);
    h.deliver(7);
    h.deliver(4);
    assert!(h.settles.is_empty(), "held behind the first batch");
    h.deliver(1);
    assert_eq!(h.settled(), vec![3, 6, 9]);
    h.deliver(10);
    assert_eq!(h.settled(), vec![3, 6, 9, 12]);
    assert!(h.queue.is_empty());
    assert_eq!(h.m.state(), &HostState::Idle);
    assert_eq!(h.m.poll_timeout(), None);
}

#[test]
fn refused_items_are_settled_by_seq() {
    let mut h = Harness::online();
    h.enqueue(3);
    h.answer(
        1,
        Outcome::Delivered {
            refused: vec![(1, "no such point".into())],
        },
    );
    assert_eq!(h.settles, vec![(3, vec![(2, "no such point".to_owned())])]);
}

#[test]
fn a_failed_first_batch_resends_everything_from_the_head() {
    let mut h = Harness::online();
    h.enqueue(12);
    // Later batches delivered, then the first one fails: their answers are dropped.
    h.deliver(4);
    h.answer(1, Outcome::Failed("fault".into()));
    assert!(h.settles.is_empty());
    assert!(matches!(h.m.state(), HostState::BackingOff { .. }));
    h.deliver(7);
    h.deliver(10);
    assert!(h.settles.is_empty());
    assert!(h.sent.is_empty());
    // Nothing before retry_time.
    h.advance(RETRY - Duration::from_millis(1));
    assert!(h.sent.is_empty());
    h.advance(Duration::from_millis(1));
    assert_eq!(
        h.sends(),
        vec![(1, 3, 0), (4, 6, 3), (7, 9, 6), (10, 12, 9)]
    );
}

#[test]
fn a_resend_after_settled_batches_chains_on_the_last_settled() {
    let mut h = Harness::online();
    h.enqueue(9);
    h.deliver(1);
    // The second fails while the third is in flight: the third keeps its slot until answered,
    // its answer is dropped, the resend starts at 4 with prev = 3.
    h.answer(4, Outcome::Failed("x".into()));
    h.deliver(7);
    assert_eq!(h.settled(), vec![3]);
    h.advance(RETRY);
    assert_eq!(h.sends(), vec![(4, 6, 3), (7, 9, 6)]);
}

#[test]
fn a_failure_behind_an_unanswered_batch_waits_for_it() {
    let mut h = Harness::online();
    h.enqueue(6);
    h.answer(4, Outcome::Failed("x".into()));
    // Even with the backoff cut short, nothing goes while the first batch is unanswered.
    h.m.handle_presence(h.now, true);
    h.drain();
    assert_eq!(h.sends(), vec![(1, 3, 0)]);
    // The earlier batch is still accepted when delivered, then the resend follows.
    h.deliver(1);
    assert_eq!(h.settled(), vec![3]);
    assert_eq!(h.sends(), vec![(4, 6, 3)]);
}

#[test]
fn a_gap_resends_at_once_once_earlier_batches_are_answered() {
    let mut h = Harness::online();
    h.enqueue(12);
    h.answer(4, Outcome::Gap);
    // Later batches would gap too: forgotten.
    h.deliver(7);
    assert!(h.settles.is_empty());
    assert_eq!(h.sends(), vec![(1, 3, 0), (10, 12, 9)]);
    h.deliver(1);
    assert_eq!(h.settled(), vec![3]);
    // No backoff: the resend goes at once, chained on what was settled.
    assert!(matches!(h.m.state(), HostState::Sending { .. }));
    assert_eq!(h.sends()[1..], [(4, 6, 3), (7, 9, 6), (10, 12, 9)]);
}

#[test]
fn presence_or_session_up_cut_the_backoff_short() {
    let mut h = Harness::online();
    h.enqueue(3);
    h.answer(1, Outcome::Failed("offline".into()));
    h.advance(Duration::from_secs(1));
    assert!(h.sent.is_empty());
    h.m.handle_presence(h.now, false);
    h.drain();
    assert!(h.sent.is_empty());
    h.m.handle_presence(h.now, true);
    h.drain();
    assert_eq!(h.sends(), vec![(1, 3, 0)]);
    h.answer(1, Outcome::SessionLost("gone".into()));
    h.m.handle_session(h.now, false);
    h.drain();
    h.m.handle_session(h.now, true);
    h.drain();
    // (A loss with a batch larger than any delivered also shrinks the batch: losses.rs.)
    assert_eq!(h.sends(), vec![(1, 1, 0)]);
}

#[test]
fn nothing_is_sent_while_the_session_is_down() {
    let mut h = Harness::new(cfg(4, 100));
    h.enqueue(3);
    assert!(h.sent.is_empty());
    assert_eq!(h.m.state(), &HostState::WaitingSession);
    h.m.handle_session(h.now, true);
    h.drain();
    assert_eq!(h.sends(), vec![(1, 3, 0)]);
    // The internal queue needs no session.
    let mut h = Harness::new(DeliveryConfig {
        remote: false,
        ..cfg(1, 100)
    });
    h.enqueue(3);
    assert_eq!(h.sends(), vec![(1, 3, 0)]);
}

#[test]
fn an_unanswered_batch_times_out_and_is_retried() {
    let mut h = Harness::online();
    h.enqueue(3);
    assert_eq!(h.m.poll_timeout(), Some(h.now + TIMEOUT));
    h.advance(TIMEOUT);
    assert!(
        matches!(h.m.state(), HostState::BackingOff { reason, .. } if reason.contains("no answer"))
    );
    // The late answer of the forgotten batch changes nothing.
    h.deliver(1);
    assert!(h.settles.is_empty());
    assert_eq!(h.m.poll_timeout(), Some(h.now + RETRY));
    h.advance(RETRY);
    assert_eq!(h.sends(), vec![(1, 3, 0)]);
}

#[test]
fn a_head_too_large_makes_the_queue_stuck_until_purged() {
    let mut h = Harness::online();
    h.too_large = Some(1);
    h.enqueue(3);
    assert!(h.sent.is_empty());
    assert!(matches!(h.m.state(), HostState::Stuck { seq: 1, .. }));
    // New writes do not unstick it.
    h.enqueue(1);
    assert!(h.sent.is_empty());
    // The operator purges the head.
    h.queue.retain(|s| *s != 1);
    h.too_large = None;
    h.m.handle_purged(h.now);
    h.drain();
    assert_eq!(h.sends(), vec![(2, 4, 0)]);
}

#[test]
fn a_too_large_write_behind_batches_in_flight_waits_to_be_the_head() {
    let mut h = Harness::online();
    h.too_large = Some(4);
    h.enqueue(6);
    assert_eq!(h.sends(), vec![(1, 3, 0)]);
    h.deliver(1);
    assert!(matches!(h.m.state(), HostState::Stuck { seq: 4, .. }));
}

#[test]
fn session_losses_shrink_batches_then_make_a_lone_write_stuck() {
    let mut h = Harness::new(cfg(4, 8));
    h.batch = 100;
    h.m.handle_session(h.now, true);
    h.drain();
    h.enqueue(20);
    assert_eq!(h.sends(), vec![(1, 8, 0), (9, 16, 8), (17, 20, 16)]);
    let mut sizes = Vec::new();
    for _ in 0..10 {
        let firsts: Vec<u64> = h.sent.iter().map(|s| s.1).collect();
        for f in firsts {
            h.answer(f, Outcome::SessionLost("body refused".into()));
        }
        h.m.handle_session(h.now, false);
        h.m.handle_session(h.now, true);
        h.drain();
        if let HostState::Stuck { seq, .. } = h.m.state() {
            assert_eq!(*seq, 1);
            break;
        }
        // After a loss, one batch at a time, halved.
        assert_eq!(h.sent.len(), 1);
        sizes.push(h.sent[0].4);
    }
    assert_eq!(sizes, vec![4, 2, 1, 1, 1]);
    assert!(h.sent.is_empty());
}

#[test]
fn a_removed_host_sends_nothing_until_it_comes_back() {
    let mut h = Harness::online();
    h.m.handle_reload(h.now, None);
    h.drain();
    h.enqueue(3);
    assert!(h.sent.is_empty());
    assert_eq!(h.m.state(), &HostState::Removed);
    h.m.handle_reload(h.now, Some(cfg(2, 100)));
    h.drain();
    h.enqueue(6);
    // The new window holds.
    assert_eq!(h.sends(), vec![(1, 3, 0), (4, 6, 3)]);
}

#[test]
fn a_fetch_overtaken_by_a_failure_is_not_sent() {
    let mut h = Harness::online();
    h.enqueue(3);
    h.hold_fetches = true;
    h.enqueue(3);
    let (after, max) = h.held_fetch.take().expect("a fetch after the first batch");
    assert_eq!(after, Some(3));
    h.answer(1, Outcome::Failed("x".into()));
    let f = h.fetch(after, max);
    h.m.handle_fetched(h.now, f);
    h.hold_fetches = false;
    h.drain();
    assert!(h.sent.is_empty());
    h.advance(RETRY);
    assert_eq!(h.sends(), vec![(1, 3, 0), (4, 6, 3)]);
}

#[test]
fn a_write_stuck_for_losses_stays_stuck_until_it_is_purged() {
    let mut h = Harness::new(cfg(1, 1));
    h.m.handle_session(h.now, true);
    h.drain();
    h.enqueue(2);
    for _ in 0..crate::replication::losses::MAX_LOSSES {
        assert_eq!(h.sends(), vec![(1, 1, 0)]);
        h.answer(1, Outcome::SessionLost("body refused".into()));
        h.m.handle_session(h.now, false);
        h.m.handle_session(h.now, true);
        h.drain();
    }
    assert!(matches!(h.m.state(), HostState::Stuck { seq: 1, .. }));
    // A purge of other writes leaves the head, and the verdict.
    h.m.handle_purged(h.now);
    h.drain();
    assert!(h.sent.is_empty());
    assert!(matches!(h.m.state(), HostState::Stuck { seq: 1, .. }));
    // Purging the head lets the next write go.
    h.queue.retain(|s| *s != 1);
    h.m.handle_purged(h.now);
    h.drain();
    assert_eq!(h.sends(), vec![(2, 2, 0)]);
}

/// Seed 25725 of the simulation: session losses the write did not cause (a flapping server)
/// once made a lone write stuck until an operator purged it, with the queue behind it waiting.
/// The verdict now expires: the write is sent alone again after a pause that doubles per
/// verdict on the same write, and a delivery ends it.
#[test]
fn a_write_stuck_for_losses_is_sent_alone_again_after_a_doubling_pause() {
    use super::{LOSS_RETRY, LOSS_RETRY_MAX};
    let mut h = Harness::new(cfg(1, 1));
    h.m.handle_session(h.now, true);
    h.drain();
    h.enqueue(2);
    let lose = |h: &mut Harness| {
        assert_eq!(h.sends(), vec![(1, 1, 0)]);
        h.answer(1, Outcome::SessionLost("server restarted".into()));
        h.m.handle_session(h.now, false);
        h.m.handle_session(h.now, true);
        h.drain();
    };
    for _ in 0..crate::replication::losses::MAX_LOSSES {
        lose(&mut h);
    }
    assert!(matches!(h.m.state(), HostState::Stuck { seq: 1, .. }));
    assert_eq!(h.m.poll_timeout(), Some(h.now + LOSS_RETRY));
    h.advance(LOSS_RETRY - Duration::from_secs(1));
    assert!(h.sent.is_empty(), "nothing before the pause is over");
    h.advance(Duration::from_secs(1));
    // Sent alone again; one more loss makes it stuck at once, for twice as long.
    lose(&mut h);
    assert!(matches!(h.m.state(), HostState::Stuck { seq: 1, .. }));
    assert_eq!(h.m.poll_timeout(), Some(h.now + 2 * LOSS_RETRY));
    for _ in 0..6 {
        let next = h.m.poll_timeout().map(|t| t - h.now);
        assert!(next.is_some_and(|d| d <= LOSS_RETRY_MAX), "{next:?}");
        h.advance(next.unwrap_or_default());
        lose(&mut h);
    }
    assert_eq!(h.m.poll_timeout(), Some(h.now + LOSS_RETRY_MAX));
    // This time it goes through: the queue behind it follows.
    h.advance(LOSS_RETRY_MAX);
    assert_eq!(h.sends(), vec![(1, 1, 0)]);
    h.deliver(1);
    assert!(!matches!(h.m.state(), HostState::Stuck { .. }));
    assert_eq!(h.sends(), vec![(2, 2, 1)]);
}
