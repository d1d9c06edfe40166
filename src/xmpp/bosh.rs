//! The BOSH session state machine (XEP-0124 with the XEP-0206 XMPP binding).
//!
//! Sans-IO: the caller feeds it HTTP outcomes and the current time, and polls
//! it for HTTP requests to send, the next instant it wants to be woken, and
//! events (session created, stanzas in rid order, termination). It owns every
//! rule that XEP-0124 puts on a client; the tokio driver in `session.rs` only
//! moves bytes. Time and the initial rid come from outside, so the rules are
//! unit-tested with a simulated clock and canned `<body/>` responses.
//!
//! Call contract: after every `send`/`restart`/`close`/`expect_*`/`handle_*`
//! call, drain `poll_event` until `None`, then `poll_request` until `None`,
//! then sleep until `poll_timeout` (or the next input) and call
//! `handle_timeout`. Events come first so that the owner's reactions are
//! known before requests are produced: when an event hands it something it
//! will answer with a stanza (an iq request; an answer that prompts the next
//! write) but not at once, it calls `expect_send(now, until)`, and
//! `expect_none` once it has sent what it expected. Meanwhile the empty poll
//! waits (at most `expect_max`), so the stanza takes that request instead of
//! queueing `poll_gap` behind it; every other rule stays as it is.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ns;
use super::xml::{Element, NS_XML, Rejected};

mod config;
mod event;
mod wire;

pub use config::{BoshConfig, MAX_BODY_BYTES};
pub use event::{BoshEvent, Termination};
pub use wire::{HttpFailure, HttpRequest, MAX_RID, Rid, SessionParams};
use wire::{parse_params, terminal_condition};

/// Lifecycle of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoshState {
    /// The creation request is (about to be) in flight.
    Creating,
    Open,
    /// `close()` was called; the terminate request is pending or in flight.
    Closing,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ReqState {
    InFlight {
        sent_at: Instant,
        /// Set when a newer request completed first (strophe's secondary timeout).
        suspect_at: Option<Instant>,
    },
    /// Failed; to be retransmitted at `at`.
    Retry { at: Instant, last: HttpFailure },
    /// Answered, waiting for earlier rids before its payloads are delivered.
    Answered(Element, Vec<Rejected>),
}

#[derive(Debug)]
struct Outstanding {
    body: Arc<str>,
    first_sent: Instant,
    attempts: u32,
    /// Failures after a hold (see [`BoshConfig::held_min`]): not counted against the budget.
    cuts: u32,
    state: ReqState,
    /// True for the terminate request (allowed beyond `requests`).
    terminate: bool,
}

/// The XEP-0124 client session machine.
#[derive(Debug)]
pub struct BoshSession {
    cfg: BoshConfig,
    state: BoshState,
    next_rid: u64,
    params: Option<SessionParams>,
    outstanding: BTreeMap<u64, Outstanding>,
    /// Serialised stanzas waiting for a request slot.
    pending: VecDeque<String>,
    restart_pending: bool,
    terminate_sent: bool,
    creation_sent: bool,
    last_send: Option<Instant>,
    last_response: Option<Instant>,
    /// Responses with a `<body/>`: the manager's answers, as opposed to an intermediary's.
    answers: u64,
    /// `answers` when the last cut was forgiven (see [`BoshConfig::held_min`]).
    answers_at_cut: Option<u64>,
    /// The empty poll waits until then for a stanza the owner announced.
    expect_until: Option<Instant>,
    events: VecDeque<BoshEvent>,
}

impl BoshSession {
    /// A session whose first request will carry `initial_rid` (random and
    /// unpredictable in production, fixed in tests; XEP-0124 §14.1).
    pub fn new(cfg: BoshConfig, initial_rid: u64) -> BoshSession {
        // Keep 2^32 of headroom so the rid never passes 2^53 - 1.
        let rid = initial_rid.clamp(1, MAX_RID - (1 << 32));
        BoshSession {
            cfg,
            state: BoshState::Creating,
            next_rid: rid,
            params: None,
            outstanding: BTreeMap::new(),
            pending: VecDeque::new(),
            restart_pending: false,
            terminate_sent: false,
            creation_sent: false,
            last_send: None,
            last_response: None,
            answers: 0,
            answers_at_cut: None,
            expect_until: None,
            events: VecDeque::new(),
        }
    }

    pub fn state(&self) -> BoshState {
        self.state
    }

    pub fn params(&self) -> Option<&SessionParams> {
        self.params.as_ref()
    }

    /// Requests sent and not yet answered (retries included).
    pub fn in_flight(&self) -> usize {
        self.outstanding
            .values()
            .filter(|o| !matches!(o.state, ReqState::Answered(..)) && !o.terminate)
            .count()
    }

    /// Queues a stanza; it leaves in the next request a slot allows, batched
    /// with every other queued stanza (XEP-0124 §8: any number of payloads).
    pub fn send(&mut self, stanza: &Element) {
        if matches!(self.state, BoshState::Closing | BoshState::Closed) {
            return;
        }
        self.pending.push_back(stanza.to_xml_fragment());
    }

    /// Announces that the owner is about to send a stanza: an answer to a
    /// request it was just handed, or the next write after an answer.
    /// Until `until` (at most [`BoshConfig::expect_max`] after `now`) the
    /// empty poll is deferred, so that when the stanza comes it leaves at once
    /// in the request the poll would have used, instead of waiting until the
    /// poll is `poll_gap` old (E10). Only the empty poll waits: stanzas,
    /// restarts and the terminate follow the usual rules. A later call with a
    /// later `until` extends the wait; an earlier one never shortens it.
    pub fn expect_send(&mut self, now: Instant, until: Instant) {
        let until = until.min(now + self.cfg.expect_max);
        if self.expect_until.is_none_or(|t| t < until) {
            self.expect_until = Some(until);
        }
    }

    /// Withdraws [`expect_send`](Self::expect_send): nothing more is coming
    /// (the expected stanzas were sent), so the empty poll is due again after
    /// `poll_delay` as usual.
    pub fn expect_none(&mut self) {
        self.expect_until = None;
    }

    /// Stanzas queued but not yet in any request.
    pub fn queued(&self) -> usize {
        self.pending.len()
    }

    /// Asks for a stream restart after SASL success (XEP-0206 §5): the next
    /// request is an empty body with `xmpp:restart='true'`; queued stanzas wait.
    pub fn restart(&mut self) {
        self.restart_pending = true;
    }

    /// Ends the session: queued stanzas (e.g. an unavailable presence) go
    /// out in a `type='terminate'` request (XEP-0124 §13).
    pub fn close(&mut self) {
        match self.state {
            BoshState::Open => {
                self.state = BoshState::Closing;
            }
            BoshState::Creating => {
                self.state = BoshState::Closed;
                self.events
                    .push_back(BoshEvent::Terminated(Termination::Closed));
            }
            BoshState::Closing | BoshState::Closed => {}
        }
    }

    fn requests_allowed(&self) -> usize {
        self.params
            .as_ref()
            .map_or(1, |p| p.requests.max(1) as usize)
    }

    fn request_timeout(&self) -> Duration {
        // The manager answers a creation at once; only later requests are held.
        if self.state == BoshState::Creating {
            return self.cfg.http_margin;
        }
        let wait = self.params.as_ref().map_or(self.cfg.wait, |p| p.wait);
        wait + self.cfg.http_margin
    }

    /// A failed request waits to be sent again: nothing newer may leave
    /// before it, or it would reach the manager first (E10).
    fn retry_pending(&self) -> bool {
        self.outstanding
            .values()
            .any(|o| matches!(o.state, ReqState::Retry { .. }))
    }

    fn gap_ok(&self, now: Instant) -> bool {
        self.last_send
            .is_none_or(|t| now.saturating_duration_since(t) >= self.cfg.send_gap)
    }

    fn base_body(&self, rid: u64) -> Element {
        let mut b = Element::new(ns::HTTPBIND, "body").attr("rid", rid.to_string());
        if let Some(p) = &self.params {
            b.set_attr("sid", p.sid.clone());
        }
        b
    }

    fn take_batch(&mut self) -> Vec<String> {
        let mut batch = Vec::new();
        let mut size = 0usize;
        while let Some(s) = self.pending.front() {
            if !batch.is_empty() && size + s.len() > self.cfg.max_body_bytes {
                break;
            }
            size += s.len();
            if let Some(s) = self.pending.pop_front() {
                batch.push(s);
            }
        }
        batch
    }

    fn emit(&mut self, now: Instant, body: String, terminate: bool) -> HttpRequest {
        let rid = self.next_rid;
        self.next_rid += 1;
        let body: Arc<str> = Arc::from(body);
        self.outstanding.insert(
            rid,
            Outstanding {
                body: body.clone(),
                first_sent: now,
                attempts: 0,
                cuts: 0,
                state: ReqState::InFlight {
                    sent_at: now,
                    suspect_at: None,
                },
                terminate,
            },
        );
        self.last_send = Some(now);
        HttpRequest {
            rid: Rid(rid),
            body,
            timeout: self.request_timeout(),
            attempt: 0,
        }
    }

    /// The next HTTP request to send, if the rules allow one now.
    ///
    /// Retransmissions come first, lowest rid first. Then, in order: the
    /// creation request; the terminate request (may exceed `requests` by one,
    /// XEP-0124 §11); a restart; queued stanzas while fewer than `requests`
    /// are in flight; an empty poll when nothing at all is in flight, so that
    /// exactly one request is held while idle (XEP-0124 §10).
    pub fn poll_request(&mut self, now: Instant) -> Option<HttpRequest> {
        if self.state == BoshState::Closed || !self.gap_ok(now) {
            return None;
        }
        // Retransmit identical bytes with the same rid (XEP-0124 §14.3).
        let timeout = self.request_timeout();
        let due = self.outstanding.iter_mut().find(|(_, o)| match o.state {
            ReqState::Retry { at, .. } => at <= now,
            ReqState::InFlight {
                suspect_at: Some(at),
                ..
            } => at <= now,
            _ => false,
        });
        if let Some((rid, o)) = due {
            o.attempts += 1;
            o.state = ReqState::InFlight {
                sent_at: now,
                suspect_at: None,
            };
            let req = HttpRequest {
                rid: Rid(*rid),
                body: o.body.clone(),
                timeout,
                attempt: o.attempts,
            };
            self.last_send = Some(now);
            return Some(req);
        }
        match self.state {
            BoshState::Creating => {
                if self.creation_sent {
                    return None;
                }
                self.creation_sent = true;
                let body = self.creation_body();
                Some(self.emit(now, body, false))
            }
            BoshState::Closing => {
                if self.terminate_sent {
                    return None;
                }
                self.terminate_sent = true;
                let batch = self.take_batch();
                let b = self.base_body(self.next_rid).attr("type", "terminate");
                let frags: Vec<&str> = batch.iter().map(String::as_str).collect();
                let body = b.to_xml_wrapping(&frags);
                Some(self.emit(now, body, true))
            }
            BoshState::Open => {
                let in_flight = self.in_flight();
                if in_flight >= self.requests_allowed()
                    || self.poll_gap_end().is_some_and(|t| t > now)
                    || self.retry_pending()
                {
                    return None;
                }
                if self.restart_pending {
                    self.restart_pending = false;
                    let b = self
                        .base_body(self.next_rid)
                        .attr("to", self.cfg.domain.clone())
                        .attr_ns(NS_XML, "lang", self.cfg.lang.clone())
                        .attr_ns(ns::XBOSH, "restart", "true");
                    return Some(self.emit(now, b.to_xml(), false));
                }
                if !self.pending.is_empty() {
                    let batch = self.take_batch();
                    let frags: Vec<&str> = batch.iter().map(String::as_str).collect();
                    let body = self.base_body(self.next_rid).to_xml_wrapping(&frags);
                    return Some(self.emit(now, body, false));
                }
                if (in_flight == 0 && self.poll_due(now))
                    || self.proof_at().is_some_and(|t| t <= now)
                {
                    let body = self.base_body(self.next_rid).to_xml();
                    return Some(self.emit(now, body, false));
                }
                None
            }
            BoshState::Closed => None,
        }
    }

    /// The instant the youngest in-flight request is `poll_gap` old: no new
    /// request may follow it before (ejabberd parks and loses a request that
    /// overtakes an earlier one that it then holds, whether empty or not).
    fn poll_gap_end(&self) -> Option<Instant> {
        self.outstanding
            .values()
            .filter(|o| !o.terminate)
            .filter_map(|o| match o.state {
                ReqState::InFlight { sent_at, .. } if o.attempts > 0 => {
                    Some(sent_at + self.cfg.resend_gap.max(self.cfg.poll_gap))
                }
                ReqState::InFlight { sent_at, .. } => Some(sent_at + self.cfg.poll_gap),
                _ => None,
            })
            .max()
    }

    /// The newest request, if it is still unanswered on the wire.
    fn newest_in_flight(&self) -> Option<(u64, &Outstanding)> {
        let (rid, o) = self.outstanding.iter().rfind(|(_, o)| !o.terminate)?;
        matches!(o.state, ReqState::InFlight { .. }).then_some((*rid, o))
    }

    /// Finds an older request unanswered for `stall_timeout` after a newer
    /// one went out (and is itself still unanswered).
    fn stalled(&self, now: Instant) -> Option<(u64, u64)> {
        let (newest_rid, newest) = self.newest_in_flight()?;
        self.outstanding
            .iter()
            .take_while(|(rid, _)| **rid < newest_rid)
            .find_map(|(rid, o)| match o.state {
                ReqState::InFlight { sent_at, .. }
                    if now.saturating_duration_since(sent_at.max(newest.first_sent))
                        >= self.cfg.stall_timeout =>
                {
                    Some((*rid, newest_rid))
                }
                _ => None,
            })
    }

    fn stall_deadline(&self) -> Option<Instant> {
        let (newest_rid, newest) = self.newest_in_flight()?;
        self.outstanding
            .iter()
            .take_while(|(rid, _)| **rid < newest_rid)
            .filter_map(|(_, o)| match o.state {
                ReqState::InFlight { sent_at, .. } => {
                    Some(sent_at.max(newest.first_sent) + self.cfg.stall_timeout)
                }
                _ => None,
            })
            .min()
    }

    /// When the empty poll may leave: `poll_delay` after the last response
    /// (a reaction to it rides in the poll's request instead), or later while
    /// the owner has announced a send.
    fn poll_due_at(&self) -> Option<Instant> {
        let after_response = self.last_response.map(|t| t + self.cfg.poll_delay);
        after_response.max(self.expect_until)
    }

    fn poll_due(&self, now: Instant) -> bool {
        self.poll_due_at().is_none_or(|t| now >= t)
    }

    /// Whether the manager answered since the last forgiven cut (or none was forgiven yet).
    fn answered_since_cut(&self) -> bool {
        self.answers_at_cut.is_none_or(|n| self.answers > n)
    }

    /// When an empty request should follow the one request in flight, a retransmission after
    /// a cut, to make the manager answer it: until it does, cuts are not forgiven, so a proxy
    /// that cuts requests it never delivered (the link behind it is dead) ends the session
    /// after `max_retries` instead of keeping it "online" forever. Sent `held_min` after the
    /// retransmission, which by then has reached the manager: sooner, the empty request
    /// could overtake it (E10).
    fn proof_at(&self) -> Option<Instant> {
        if self.state != BoshState::Open
            || self.answered_since_cut()
            || self.in_flight() != 1
            || self.requests_allowed() < 2
        {
            return None;
        }
        // The one unanswered request (a terminate is only sent while closing).
        self.outstanding.values().find_map(|o| match o.state {
            ReqState::InFlight { sent_at, .. } if o.cuts > 0 => Some(sent_at + self.cfg.held_min),
            _ => None,
        })
    }

    fn creation_body(&self) -> String {
        // XEP-0124 §7.1 + XEP-0206 §3. ver 1.6 as the SPEC and strophe.js send.
        Element::new(ns::HTTPBIND, "body")
            .attr("content", "text/xml; charset=utf-8")
            .attr("hold", "1")
            .attr("rid", self.next_rid.to_string())
            .attr("to", self.cfg.domain.clone())
            .attr("ver", "1.6")
            .attr("wait", self.cfg.wait.as_secs().to_string())
            .attr_ns(NS_XML, "lang", self.cfg.lang.clone())
            .attr_ns(ns::XBOSH, "version", "1.0")
            .to_xml()
    }

    /// The earliest instant at which `handle_timeout`/`poll_request` has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == BoshState::Closed {
            return None;
        }
        let mut t: Option<Instant> = None;
        let mut consider = |i: Instant| t = Some(t.map_or(i, |x| x.min(i)));
        for o in self.outstanding.values() {
            match o.state {
                ReqState::Retry { at, .. } => consider(at),
                ReqState::InFlight {
                    suspect_at: Some(at),
                    ..
                } => consider(at),
                _ => {}
            }
        }
        if let Some(at) = self.stall_deadline() {
            consider(at);
        }
        if let Some(at) = self.proof_at() {
            consider(at);
        }
        let wants_send = match self.state {
            BoshState::Open => {
                self.in_flight() < self.requests_allowed()
                    && !self.retry_pending()
                    && (self.restart_pending || !self.pending.is_empty() || self.in_flight() == 0)
            }
            BoshState::Closing => !self.terminate_sent,
            _ => false,
        };
        if wants_send {
            let idle_poll =
                self.state == BoshState::Open && self.pending.is_empty() && !self.restart_pending;
            let mut at = match self.poll_due_at() {
                Some(due) if idle_poll => Some(due),
                _ => self.last_send,
            };
            if self.state == BoshState::Open
                && let (Some(a), Some(gap_end)) = (at, self.poll_gap_end())
            {
                at = Some(a.max(gap_end));
            }
            if let Some(a) = at {
                consider(a);
            }
        }
        // Nothing leaves before the send gap has passed.
        match (t, self.last_send) {
            (Some(t), Some(last)) => Some(t.max(last + self.cfg.send_gap)),
            (t, _) => t,
        }
    }

    /// Checks for a stalled session; retransmissions and polls that became
    /// due are picked up by `poll_request`. Spurious calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some((rid, newer)) = self.stalled(now) {
            self.finish(Termination::Stalled { rid, newer });
        }
    }

    /// Feeds the outcome of the HTTP exchange for `rid`.
    pub fn handle_response(&mut self, now: Instant, rid: Rid, result: Result<String, HttpFailure>) {
        let Some(o) = self.outstanding.get(&rid.0) else {
            return; // a late duplicate of an answered request
        };
        if matches!(o.state, ReqState::Answered(..)) {
            return;
        }
        let terminate = o.terminate;
        match result {
            Ok(text) => {
                match Element::parse_document(&text, &self.cfg.limits, &self.cfg.stanza_limits) {
                    Ok(doc) if doc.root.is(ns::HTTPBIND, "body") => {
                        let body = doc.root;
                        self.last_response = Some(now);
                        self.answers += 1;
                        if body.get_attr("type") == Some("error") {
                            self.recoverable_error(now, rid.0);
                            return;
                        }
                        if let Some(o) = self.outstanding.get_mut(&rid.0) {
                            o.state = ReqState::Answered(body, doc.rejected);
                        }
                        self.mark_older_suspect(now, rid.0);
                        self.deliver_in_order();
                    }
                    Ok(other) => self.failed(
                        now,
                        rid.0,
                        HttpFailure::Transport(format!(
                            "response is <{}/>, not a BOSH body",
                            other.root.name()
                        )),
                    ),
                    Err(e) => self.failed(now, rid.0, HttpFailure::Transport(e.to_string())),
                }
            }
            Err(f) if terminate => {
                // Best effort: the session is over either way.
                let _ = f;
                self.finish(Termination::Closed);
            }
            // 5xx come from intermediaries and are retried; any other
            // non-200 (400/403/404 of XEP-0124 §17.1, Prosody's 301 for an
            // oversized body) voids the session.
            Err(HttpFailure::Status(status)) if !(500..600).contains(&status) => {
                if self.state == BoshState::Creating {
                    self.finish(Termination::Unreachable {
                        failure: HttpFailure::Status(status),
                    });
                } else {
                    self.finish(Termination::HttpStatus { status });
                }
            }
            Err(f) => self.failed(now, rid.0, f),
        }
    }

    /// XEP-0124 §17.3: resend the failed request and all earlier unanswered ones.
    fn recoverable_error(&mut self, now: Instant, rid: u64) {
        let max = self.cfg.max_retries;
        let mut gave_up = None;
        for (r, o) in self.outstanding.range_mut(..=rid) {
            if matches!(o.state, ReqState::Answered(..)) {
                continue;
            }
            if o.attempts.saturating_sub(o.cuts) >= max {
                gave_up = Some((*r, o.attempts + 1));
            }
            o.state = ReqState::Retry {
                at: now,
                last: HttpFailure::Transport("recoverable binding error".into()),
            };
        }
        if let Some((rid, attempts)) = gave_up {
            self.finish(Termination::GaveUp {
                rid,
                attempts,
                last: HttpFailure::Transport("recoverable binding error".into()),
            });
        }
    }

    /// A newer request was answered while older ones are still out: with
    /// hold=1 the manager must have answered those first, so their responses
    /// are probably lost. Retransmit them after a short grace period
    /// (strophe.js's secondary timeout, 0.1 x wait, at least 1 s).
    fn mark_older_suspect(&mut self, now: Instant, rid: u64) {
        let wait = self.params.as_ref().map_or(self.cfg.wait, |p| p.wait);
        let grace = (wait / 10).max(Duration::from_secs(1));
        for (_, o) in self.outstanding.range_mut(..rid) {
            if let ReqState::InFlight { suspect_at, .. } = &mut o.state
                && suspect_at.is_none()
            {
                *suspect_at = Some(now + grace);
            }
        }
    }

    fn backoff(attempts: u32) -> Duration {
        // 0 s, 0.25 s, 0.5 s, 1 s, 2 s, ...: the total stays well below
        // ejabberd's default 30 s inactivity, after which the session is gone.
        if attempts == 0 {
            Duration::ZERO
        } else {
            Duration::from_millis(250u64 << (attempts - 1).min(5))
        }
    }

    fn failed(&mut self, now: Instant, rid: u64, failure: HttpFailure) {
        if self.state == BoshState::Creating {
            self.finish(Termination::Unreachable { failure });
            return;
        }
        let max = self.cfg.max_retries;
        let held_min = self.cfg.held_min;
        let answered = self.answered_since_cut();
        let answers = self.answers;
        let Some(o) = self.outstanding.get_mut(&rid) else {
            return;
        };
        let cut = answered
            && matches!(o.state, ReqState::InFlight { sent_at, .. }
                if now.saturating_duration_since(sent_at) >= held_min)
            && Self::cut_after_hold(&failure);
        if cut {
            self.answers_at_cut = Some(answers);
            // Retransmitted at once: the session is alive and the poll must be back in place.
            o.cuts += 1;
            o.state = ReqState::Retry {
                at: now,
                last: failure,
            };
            return;
        }
        if o.attempts.saturating_sub(o.cuts) >= max {
            let attempts = o.attempts + 1;
            self.finish(Termination::GaveUp {
                rid,
                attempts,
                last: failure,
            });
            return;
        }
        o.state = ReqState::Retry {
            at: now + Self::backoff(o.attempts.saturating_sub(o.cuts)),
            last: failure,
        };
    }

    /// Whether `failure`, coming after a hold, is an intermediary cutting a held request
    /// rather than a server or link that is gone. Why a hold is forgiven: the request reached
    /// a connection manager that kept it (so the session is alive there), and a proxy whose
    /// idle timeout is below `wait` cuts every held poll, so a count would end a healthy
    /// session after `max_retries` cuts. Not forgiven: our own timeout (the server did not
    /// answer within `wait`: a stall), a failed connect (nothing was reached), other
    /// statuses, and a cut while the last forgiven one is still unproven (see
    /// [`BoshSession::proof_at`]). The retransmission keeps the rid and stays first in line,
    /// so ordering (E10) is unchanged.
    fn cut_after_hold(failure: &HttpFailure) -> bool {
        matches!(
            failure,
            HttpFailure::Transport(_) | HttpFailure::Status(502..=504)
        )
    }

    fn finish(&mut self, reason: Termination) {
        if self.state == BoshState::Closed {
            return;
        }
        self.state = BoshState::Closed;
        self.outstanding.clear();
        self.pending.clear();
        self.expect_until = None;
        self.events.push_back(BoshEvent::Terminated(reason));
    }

    /// Processes answered requests from the lowest rid up, stopping at the
    /// first one still unanswered (XEP-0124 §14.2: responses in request order).
    fn deliver_in_order(&mut self) {
        while let Some(entry) = self.outstanding.first_entry() {
            if !matches!(entry.get().state, ReqState::Answered(..)) {
                break;
            }
            let o = entry.remove();
            let ReqState::Answered(body, rejected) = o.state else {
                break;
            };
            self.process_body(body, rejected, o.terminate);
            if self.state == BoshState::Closed {
                break;
            }
        }
    }

    fn process_body(&mut self, body: Element, rejected: Vec<Rejected>, was_terminate: bool) {
        if self.state == BoshState::Creating {
            match parse_params(&body, self.cfg.wait) {
                Ok(p) => {
                    self.params = Some(p.clone());
                    self.state = BoshState::Open;
                    self.events.push_back(BoshEvent::Created(p));
                }
                Err(problem) => {
                    if body.get_attr("type") == Some("terminate") {
                        let (condition, detail) = terminal_condition(&body);
                        self.finish(Termination::Condition { condition, detail });
                    } else {
                        self.finish(Termination::Protocol {
                            detail: problem.to_string(),
                        });
                    }
                    return;
                }
            }
        }
        let is_terminate = body.get_attr("type") == Some("terminate");
        let closing = self.state == BoshState::Closing;
        let (condition, detail) = terminal_condition(&body);
        // Payloads before a terminal condition are still delivered (XEP-0206 §8).
        let mut rejected = rejected.into_iter().peekable();
        let mut index = 0usize;
        for child in body.into_children() {
            while let Some(r) = rejected.next_if(|r| r.index <= index) {
                self.events.push_back(BoshEvent::Rejected(r));
                index += 1;
            }
            index += 1;
            if !child.is(ns::STREAM, "error") {
                self.events.push_back(BoshEvent::Payload(child));
            }
        }
        self.events.extend(rejected.map(BoshEvent::Rejected));
        if was_terminate || (is_terminate && closing) {
            self.finish(Termination::Closed);
        } else if is_terminate {
            self.finish(Termination::Condition { condition, detail });
        }
    }

    /// The next event, in order.
    pub fn poll_event(&mut self) -> Option<BoshEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;
