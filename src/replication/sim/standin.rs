//! A stand-in for `replication::delivery::HostDelivery` with the same API and one batch in
//! flight, so that the harness could be written and tested before the real machine landed.
//! Kept as a baseline: the harness runs against either (`tests.rs` runs both).

use std::time::{Duration, Instant};

pub type BatchId = u64;

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub window: usize,
    pub retry_time: Duration,
    pub timeout: Duration,
    pub max_items: usize,
    pub remote: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Fetch {
        after: Option<u64>,
        max: usize,
    },
    Send {
        id: BatchId,
        first: u64,
        last: u64,
        prev: u64,
        items: usize,
    },
    Settle {
        upto: u64,
        refused: Vec<(u64, String)>,
    },
    Status(HostState),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered { refused: Vec<(usize, String)> },
    Gap,
    Failed(String),
    SessionLost(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostState {
    BackingOff { until: Instant, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Run(Vec<u64>),
}

struct InFlight {
    id: BatchId,
    first: u64,
    last: u64,
    deadline: Instant,
}

pub struct HostDelivery {
    cfg: DeliveryConfig,
    removed: bool,
    session: bool,
    backoff: Option<Instant>,
    fetching: bool,
    in_flight: Option<InFlight>,
    settled: Option<u64>,
    next_id: BatchId,
    actions: Vec<Action>,
}

impl HostDelivery {
    pub fn new(cfg: DeliveryConfig, _now: Instant) -> Self {
        HostDelivery {
            session: !cfg.remote,
            cfg,
            removed: false,
            backoff: None,
            fetching: false,
            in_flight: None,
            settled: None,
            next_id: 1,
            actions: Vec::new(),
        }
    }

    pub fn handle_queued(&mut self, now: Instant) {
        self.pump(now);
    }

    pub fn handle_session(&mut self, now: Instant, up: bool) {
        self.session = up || !self.cfg.remote;
        if up {
            self.backoff = None;
        }
        self.pump(now);
    }

    pub fn handle_presence(&mut self, now: Instant, available: bool) {
        if available {
            self.backoff = None;
        }
        self.pump(now);
    }

    pub fn handle_reload(&mut self, now: Instant, cfg: Option<DeliveryConfig>) {
        match cfg {
            Some(cfg) => {
                self.cfg = cfg;
                self.removed = false;
            }
            None => self.removed = true,
        }
        self.pump(now);
    }

    pub fn handle_fetched(&mut self, now: Instant, fetched: Fetched) {
        let Fetched::Run(seqs) = fetched;
        self.fetching = false;
        let (Some(&first), Some(&last)) = (seqs.first(), seqs.last()) else {
            return;
        };
        let id = self.next_id;
        self.next_id += 1;
        self.actions.push(Action::Send {
            id,
            first,
            last,
            prev: self.settled.unwrap_or(0),
            items: seqs.len(),
        });
        self.in_flight = Some(InFlight {
            id,
            first,
            last,
            deadline: now + self.cfg.timeout,
        });
    }

    pub fn handle_answer(&mut self, now: Instant, id: BatchId, outcome: Outcome) {
        let Some(f) = self.in_flight.take_if(|f| f.id == id) else {
            return;
        };
        match outcome {
            Outcome::Delivered { refused } => {
                let refused = refused
                    .into_iter()
                    .map(|(i, r)| (f.first + i as u64, r))
                    .collect();
                self.actions.push(Action::Settle {
                    upto: f.last,
                    refused,
                });
                self.settled = Some(f.last);
            }
            Outcome::Gap => {}
            Outcome::Failed(_) | Outcome::SessionLost(_) => self.back_off(now),
        }
        self.pump(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.in_flight.as_ref().is_some_and(|f| f.deadline <= now) {
            self.in_flight = None;
            self.back_off(now);
        }
        if self.backoff.is_some_and(|t| t <= now) {
            self.backoff = None;
        }
        self.pump(now);
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        if self.actions.is_empty() {
            None
        } else {
            Some(self.actions.remove(0))
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let d = self.in_flight.as_ref().map(|f| f.deadline);
        match (d, self.backoff) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn back_off(&mut self, now: Instant) {
        self.settled = None;
        let until = now + self.cfg.retry_time;
        self.backoff = Some(until);
        self.actions.push(Action::Status(HostState::BackingOff {
            until,
            reason: "failed".into(),
        }));
    }

    fn pump(&mut self, _now: Instant) {
        if self.removed || !self.session || self.backoff.is_some() {
            return;
        }
        if self.fetching || self.in_flight.is_some() {
            return;
        }
        self.fetching = true;
        self.actions.push(Action::Fetch {
            after: None,
            max: self.cfg.max_items,
        });
    }
}
