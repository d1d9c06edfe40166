//! The per-host delivery machine (SPEC §5 "Several Writes in flight", §6.4, §6.7): which
//! queued writes go out next, how many batches are in flight, what `prev` each carries, when a
//! delivered batch may be acknowledged, and when to retry. Pure: no tokio, no store, no XMPP;
//! time is passed in.
//!
//! Call contract (as `xmpp::bosh`): after every `handle_*` call, drain [`HostDelivery::poll_action`]
//! until `None` and carry the actions out in order (a `Settle` must be done before the `Fetch`
//! after it), then sleep until [`HostDelivery::poll_timeout`] (or the next input) and call
//! [`HostDelivery::handle_timeout`].
//!
//! Why the rules are what they are: a receiver applies a batch only if it applied the batch
//! whose `last` is our `prev` (SPEC §5), so batches may be pipelined without a later one ever
//! being applied past a lost earlier one. We acknowledge writes only in seq order: a delivered
//! batch behind an unanswered one waits for it, and is forgotten if that one fails (its writes
//! are sent again and de-duplicated by the receiver's applied seq).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::losses::{AfterLoss, LossGuard};

#[cfg(test)]
mod tests;

/// What the machine needs to know about a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Batches in flight at once (>= 1; the host's `window`, default 4).
    pub window: usize,
    /// Wait after a failed batch before sending again (the host's `retry_time`).
    pub retry_time: Duration,
    /// A batch unanswered this long counts as failed (the connection's timeout).
    pub timeout: Duration,
    /// Items per batch at most (`soap::MAX_ITEMS`).
    pub max_items: usize,
    /// False for the internal queue: no session or presence needed.
    pub remote: bool,
}

/// The pause before a write stuck for session losses is sent alone again; it doubles per
/// verdict on the same write, up to [`LOSS_RETRY_MAX`].
pub const LOSS_RETRY: Duration = Duration::from_secs(5 * 60);
/// The longest such pause.
pub const LOSS_RETRY_MAX: Duration = Duration::from_secs(60 * 60);

/// Names a batch; unique per machine, increasing.
pub type BatchId = u64;

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Read from the durable queue up to `max` consecutive writes with seq > `after` (`None`:
    /// from the head) and report them with `handle_fetched` (the driver may fit them to the
    /// byte budget first and report fewer, or report `Fetched::HeadTooLarge`).
    Fetch {
        /// Read after this seq (`None`: from the head).
        after: Option<u64>,
        /// Writes at most.
        max: usize,
    },
    /// Send these queued writes (seqs `first..=last`, `items` of them) as one Write whose
    /// `<seq>` carries `prev`; report the outcome with `handle_answer(id, ..)`.
    Send {
        /// The batch.
        id: BatchId,
        /// Its first seq.
        first: u64,
        /// Its last seq.
        last: u64,
        /// The `last` of the batch the receiver must have applied first (0: none known).
        prev: u64,
        /// How many writes.
        items: usize,
    },
    /// Delivered: dead-letter `refused` (seq, reason), then acknowledge every queued write
    /// with seq <= `upto`. Emitted in seq order, never past a batch that is not delivered.
    Settle {
        /// Acknowledge up to this seq.
        upto: u64,
        /// Writes the peer refused: (seq, reason).
        refused: Vec<(u64, String)>,
    },
    /// The host's status changed (for `state`, metrics, logs).
    Status(HostState),
}

/// How a batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The peer answered; `refused` are (index in the batch, reason) of per-item faults.
    Delivered {
        /// Refused items: (index in the batch, reason).
        refused: Vec<(usize, String)>,
    },
    /// The receiver applied nothing because an earlier batch is missing (SPEC §5 `prev`):
    /// resend from the oldest unacknowledged write, without waiting out `retry_time`.
    Gap,
    /// No answer in time, an iq error, a Server fault: retry after `retry_time` (or at once
    /// on presence or session up).
    Failed(String),
    /// Our session ended with the batch in flight.
    SessionLost(String),
}

/// Where a host stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostState {
    /// Nothing to send.
    Idle,
    /// Writes may wait, but our XMPP session is down.
    WaitingSession,
    /// Batches in flight.
    Sending {
        /// How many.
        in_flight: usize,
    },
    /// A batch failed; nothing is sent before `until` (unless presence or session cut it).
    BackingOff {
        /// End of the wait.
        until: Instant,
        /// Why.
        reason: String,
    },
    /// The head write `seq` cannot be delivered (SPEC §6.7): nothing is sent until a purge.
    Stuck {
        /// The head write.
        seq: u64,
        /// Why.
        reason: String,
    },
    /// The host left the bindings; its queue is kept until it comes back.
    Removed,
}

/// What a `Fetch` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// Consecutive seqs (ascending) read after the `after` of the Fetch; empty: nothing queued.
    Run(Vec<u64>),
    /// As `Run`, with the batch's estimated size in bytes: the session-loss guard (`losses.rs`)
    /// does not blame a batch no larger than one the server took. (`Run` counts one byte per
    /// item.)
    Sized {
        /// As in `Run`.
        seqs: Vec<u64>,
        /// Estimated stanza size of the batch.
        bytes: usize,
    },
    /// The head write alone is larger than the server accepts (SPEC §6.7: the queue is stuck).
    HeadTooLarge {
        /// The write.
        seq: u64,
        /// Why, for the operator.
        reason: String,
    },
}

/// A batch in flight whose claim still holds.
#[derive(Debug)]
struct Batch {
    id: BatchId,
    seqs: Vec<u64>,
    bytes: usize,
    deadline: Instant,
    /// Delivered, waiting for the batches before it: refused (seq, reason).
    held: Option<Vec<(u64, String)>>,
}

impl Batch {
    fn first(&self) -> u64 {
        self.seqs.first().copied().unwrap_or(0)
    }
    fn last(&self) -> u64 {
        self.seqs.last().copied().unwrap_or(0)
    }
}

/// Why the queue is stuck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StuckKind {
    /// The head is larger than the server accepts: re-evaluated by a reload or a purge.
    TooLarge,
    /// The head alone cost the session again and again: only a purge of it ends this.
    Losses,
}

/// The delivery state of one host's queue.
#[derive(Debug)]
pub struct HostDelivery {
    cfg: DeliveryConfig,
    removed: bool,
    session_up: bool,
    /// Oldest first; consecutive claims from the oldest unsettled write.
    in_flight: VecDeque<Batch>,
    next_id: BatchId,
    /// `last` of the newest batch sent since the last resend.
    last_sent: Option<u64>,
    /// Highest seq settled in this run.
    settled: Option<u64>,
    /// A Fetch is out; `true`: its result no longer fits (claims were dropped meanwhile).
    fetching: Option<bool>,
    /// The queue may hold writes not yet sent.
    more: bool,
    /// `handle_queued` since the last Fetch went out.
    queued_since_fetch: bool,
    /// A batch failed or met a gap: send nothing until the batches before it are answered,
    /// then start again from the oldest unsettled write.
    resend: bool,
    backoff: Option<(Instant, String)>,
    /// A write after the head is too large: fetch again from the head once nothing is in
    /// flight (it is then the head, and the queue stuck).
    drain_first: bool,
    stuck: Option<(u64, String, StuckKind)>,
    /// When a write stuck for session losses is sent alone again, and the pause after that
    /// (doubling per verdict on the same write): losses the write did not cause (a flapping
    /// server) must not stall the queue for good, and one it does cause costs the session
    /// ever more rarely.
    loss_retry: Option<(u64, Instant, Duration)>,
    /// After a purge, a write stuck for losses stays stuck if it is still the head.
    recheck: Option<(u64, String)>,
    guard: LossGuard,
    /// The current session loss was already counted by the guard.
    loss_counted: bool,
    actions: VecDeque<Action>,
    state: HostState,
}

impl HostDelivery {
    /// A machine for a host (or the internal queue), idle, with our session down.
    pub fn new(cfg: DeliveryConfig, now: Instant) -> Self {
        let guard = LossGuard::new(cfg.max_items);
        let mut m = HostDelivery {
            cfg,
            removed: false,
            session_up: false,
            in_flight: VecDeque::new(),
            next_id: 1,
            last_sent: None,
            settled: None,
            fetching: None,
            more: true,
            queued_since_fetch: false,
            resend: false,
            backoff: None,
            drain_first: false,
            stuck: None,
            loss_retry: None,
            recheck: None,
            guard,
            loss_counted: false,
            actions: VecDeque::new(),
            state: HostState::Idle,
        };
        m.pump(now);
        m
    }

    /// The queue grew.
    pub fn handle_queued(&mut self, now: Instant) {
        self.more = true;
        self.queued_since_fetch = true;
        self.pump(now);
    }

    /// Our XMPP session is up (or down). Up cuts a backoff short (SPEC §6.4).
    pub fn handle_session(&mut self, now: Instant, up: bool) {
        self.session_up = up;
        if up {
            self.loss_counted = false;
            self.backoff = None;
        }
        self.pump(now);
    }

    /// The host's presence; available cuts a backoff short.
    pub fn handle_presence(&mut self, now: Instant, available: bool) {
        if available {
            self.backoff = None;
        }
        self.pump(now);
    }

    /// The bindings were reloaded: the host's new settings, or `None` if it was removed (its
    /// queue is kept, nothing is sent until it comes back).
    pub fn handle_reload(&mut self, now: Instant, cfg: Option<DeliveryConfig>) {
        match cfg {
            None => {
                self.removed = true;
                self.stale_fetch();
            }
            Some(cfg) => {
                if cfg.max_items != self.cfg.max_items {
                    self.guard = LossGuard::new(cfg.max_items);
                }
                self.cfg = cfg;
                self.removed = false;
                self.more = true;
                // A size verdict may change with the settings: look at the head again.
                if let Some((_, _, StuckKind::TooLarge)) = self.stuck {
                    self.stuck = None;
                    self.restart();
                }
            }
        }
        self.pump(now);
    }

    /// A Fetch was carried out.
    pub fn handle_fetched(&mut self, now: Instant, fetched: Fetched) {
        let Some(stale) = self.fetching.take() else {
            return;
        };
        if stale || !self.may_send() {
            self.more = true;
            self.pump(now);
            return;
        }
        let (seqs, bytes) = match fetched {
            Fetched::Run(seqs) => {
                let n = seqs.len();
                (seqs, n)
            }
            Fetched::Sized { seqs, bytes } => (seqs, bytes),
            Fetched::HeadTooLarge { seq, reason } => {
                if self.in_flight.is_empty() {
                    self.stuck = Some((seq, reason, StuckKind::TooLarge));
                } else {
                    self.drain_first = true;
                }
                self.pump(now);
                return;
            }
        };
        if let Some((seq, reason)) = self.recheck.take()
            && self.in_flight.is_empty()
            && seqs.first() == Some(&seq)
        {
            self.stuck = Some((seq, reason, StuckKind::Losses));
            self.pump(now);
            return;
        }
        let (Some(&first), Some(&last)) = (seqs.first(), seqs.last()) else {
            self.more = self.queued_since_fetch;
            self.pump(now);
            return;
        };
        let id = self.next_id;
        self.next_id += 1;
        let prev = self.last_sent.or(self.settled).unwrap_or(0);
        self.actions.push_back(Action::Send {
            id,
            first,
            last,
            prev,
            items: seqs.len(),
        });
        self.last_sent = Some(last);
        self.in_flight.push_back(Batch {
            id,
            seqs,
            bytes,
            deadline: now + self.cfg.timeout,
            held: None,
        });
        self.more = true;
        self.pump(now);
    }

    /// The answer (or failure) of batch `id`. Answers of forgotten batches are ignored.
    pub fn handle_answer(&mut self, now: Instant, id: BatchId, outcome: Outcome) {
        let Some(i) = self.in_flight.iter().position(|b| b.id == id) else {
            return;
        };
        match outcome {
            Outcome::Delivered { refused } => {
                let b = &mut self.in_flight[i];
                let refused = refused
                    .into_iter()
                    .filter_map(|(k, reason)| b.seqs.get(k).map(|s| (*s, reason)))
                    .collect();
                b.held = Some(refused);
            }
            Outcome::Gap => {
                self.in_flight.truncate(i);
                self.restart();
            }
            Outcome::Failed(reason) => self.fail(now, i, reason, false),
            Outcome::SessionLost(reason) => self.fail(now, i, reason, true),
        }
        self.pump(now);
    }

    /// An operator purged writes of this queue: look at its head again.
    pub fn handle_purged(&mut self, now: Instant) {
        if let Some((seq, reason, kind)) = self.stuck.take()
            && kind == StuckKind::Losses
        {
            self.recheck = Some((seq, reason));
        }
        self.drain_first = false;
        self.more = true;
        self.stale_fetch();
        self.pump(now);
    }

    /// Time passed: batches unanswered past their deadline fail, a backoff ends.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(i) = self.in_flight.iter().position(|b| b.deadline <= now) {
            let secs = self.cfg.timeout.as_secs_f64();
            self.fail(now, i, format!("no answer within {secs} s"), false);
        }
        if self
            .backoff
            .as_ref()
            .is_some_and(|(until, _)| *until <= now)
        {
            self.backoff = None;
        }
        if let (Some((seq, _, StuckKind::Losses)), Some((_, at, _))) =
            (&self.stuck, self.loss_retry)
            && at <= now
        {
            info!(
                seq,
                "sending again, alone, a write stuck for session losses"
            );
            self.stuck = None;
            self.more = true;
            self.stale_fetch();
        }
        self.pump(now);
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When `handle_timeout` is due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let batches = self.in_flight.iter().map(|b| b.deadline);
        let retry = match (&self.stuck, self.loss_retry) {
            (Some((_, _, StuckKind::Losses)), Some((_, at, _))) => Some(at),
            _ => None,
        };
        batches
            .chain(self.backoff.as_ref().map(|(t, _)| *t))
            .chain(retry)
            .min()
    }

    /// Where the host stands.
    #[must_use]
    pub fn state(&self) -> &HostState {
        &self.state
    }

    /// Batch `i` (and every later one) failed: back off, then resend from the oldest
    /// unsettled write once the batches before it are answered.
    fn fail(&mut self, now: Instant, i: usize, reason: String, lost: bool) {
        if lost && !self.loss_counted {
            self.loss_counted = true;
            let b = &self.in_flight[i];
            let items = b.seqs.len();
            match self.guard.lost(b.first(), items, b.bytes, now) {
                AfterLoss::Retry { cap } => {
                    warn!(%reason, items, next_cap = cap, "session lost with a batch in flight; sending smaller batches");
                }
                AfterLoss::Stuck { seq, losses } => {
                    let pause = match self.loss_retry {
                        Some((s, _, p)) if s == seq => (p * 2).min(LOSS_RETRY_MAX),
                        _ => LOSS_RETRY,
                    };
                    self.loss_retry = Some((seq, now + pause, pause));
                    let why = format!(
                        "write seq {seq} cost the XMPP session {losses} times in a row when sent alone: sent again alone in {}",
                        humantime::format_duration(pause)
                    );
                    self.stuck = Some((seq, why, StuckKind::Losses));
                }
            }
        }
        self.in_flight.truncate(i);
        self.restart();
        self.backoff = Some((now + self.cfg.retry_time, reason));
    }

    /// Forget the claims of batches not in flight: start again from the oldest unsettled
    /// write once the batches still in flight are answered.
    fn restart(&mut self) {
        self.resend = true;
        self.more = true;
        self.stale_fetch();
    }

    fn stale_fetch(&mut self) {
        if let Some(stale) = &mut self.fetching {
            *stale = true;
        }
    }

    fn may_send(&self) -> bool {
        !self.removed
            && self.stuck.is_none()
            && self.backoff.is_none()
            && !self.resend
            && (self.session_up || !self.cfg.remote)
    }

    fn pump(&mut self, now: Instant) {
        while self.in_flight.front().is_some_and(|b| b.held.is_some()) {
            let Some(b) = self.in_flight.pop_front() else {
                break;
            };
            self.guard.delivered(b.bytes);
            self.settled = Some(b.last());
            self.actions.push_back(Action::Settle {
                upto: b.last(),
                refused: b.held.unwrap_or_default(),
            });
        }
        if self.in_flight.is_empty() {
            if self.resend && self.backoff.is_none() {
                self.resend = false;
                self.last_sent = None;
            }
            self.drain_first = false;
        }
        let cap = self.guard.cap(now).min(self.cfg.max_items).max(1);
        // Recovering from a loss that may have been a batch's size: one at a time, so the
        // guard knows which batch to blame.
        let window = if cap < self.cfg.max_items {
            1
        } else {
            self.cfg.window.max(1)
        };
        if self.may_send()
            && self.more
            && self.fetching.is_none()
            && !self.drain_first
            && self.in_flight.len() < window
        {
            self.fetching = Some(false);
            self.queued_since_fetch = false;
            let after = self.in_flight.back().map(Batch::last);
            self.actions.push_back(Action::Fetch { after, max: cap });
        }
        let state = self.compute_state();
        if state != self.state {
            self.state = state.clone();
            self.actions.push_back(Action::Status(state));
        }
    }

    fn compute_state(&self) -> HostState {
        if self.removed {
            HostState::Removed
        } else if let Some((seq, reason, _)) = &self.stuck {
            HostState::Stuck {
                seq: *seq,
                reason: reason.clone(),
            }
        } else if let Some((until, reason)) = &self.backoff {
            HostState::BackingOff {
                until: *until,
                reason: reason.clone(),
            }
        } else if !self.in_flight.is_empty() {
            HostState::Sending {
                in_flight: self.in_flight.len(),
            }
        } else if self.cfg.remote && !self.session_up {
            HostState::WaitingSession
        } else {
            HostState::Idle
        }
    }
}
