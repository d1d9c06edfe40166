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
