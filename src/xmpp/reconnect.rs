//! When to log in again after a session ended: a pure policy (the cause,
//! `now` and a random number in, a decision out), so its rules are
//! unit-tested on a simulated clock.
//!
//! - Ordinary losses (network, server restart): capped exponential backoff
//!   with jitter, reset by a successful login.
//! - Conflict (RFC 6120 §4.9.3.3: another client bound the same full JID,
//!   i.e. two agents with the same MAC ID): a long, growing delay that a
//!   login does not reset, since logging in is exactly what kicks the twin,
//!   which then kicks us back. Two twins so settle at one swap every few
//!   minutes instead of about 80 a minute.
//! - A session creation the server refuses (wrong `domain`): fatal at once
//!   when the server says so (`host-unknown`, `improper-addressing`);
//!   ejabberd's ambiguous `internal-server-error` is fatal only once it
//!   persists, so a server that is still starting cannot stop an agent.
//! - A server that could not be reached (connection refused or reset, no
//!   answer, a 5xx from a gateway) is probed every [`PROBE_EVERY`] while the
//!   delay runs; the first probe it answers cuts the delay, so an agent logs
//!   in seconds after its server returns instead of up to `max` later. A
//!   login that then fails the same way waits out its whole delay unprobed
//!   (and the backoff keeps growing), so a server that answers probes but
//!   not logins costs one extra login per delay, not a retry storm.

use std::time::{Duration, Instant};

use super::bosh::{HttpFailure, Termination};
use super::stream::StreamError;

/// First delay after a conflict; doubles per consecutive conflict.
pub const CONFLICT_MIN: Duration = Duration::from_secs(30);
/// Longest delay after a conflict.
pub const CONFLICT_MAX: Duration = Duration::from_secs(600);
/// A session that lasted this long shows the twin is gone: conflicts are forgotten.
pub const CONFLICT_FORGET: Duration = Duration::from_secs(1200);
/// Refused session creations in a row before giving up...
pub const REFUSALS_TO_STOP: u32 = 5;
/// ...and for at least this long.
pub const REFUSED_FOR_TO_STOP: Duration = Duration::from_secs(20);

/// How often a server that could not be reached is probed during a delay.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

/// What to do after a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Log in again after `delay`.
    Retry { attempt: u32, delay: Duration },
    /// Another client took our JID: log in again after `delay` (long).
    Conflict { conflicts: u32, delay: Duration },
    /// Retrying cannot help until someone changes the configuration.
    Stop,
}

/// The reconnect policy of one client.
#[derive(Debug, Clone)]
pub struct ReconnectPolicy {
    min: Duration,
    max: Duration,
    retry_first_connect: bool,
    attempt: u32,
    conflicts: u32,
    refusals: u32,
    first_refusal: Option<Instant>,
    online_since: Option<Instant>,
    ever_online: bool,
    /// The next probe while waiting after an unreachable server.
    next_probe: Option<Instant>,
    /// A probe cut the last delay: the login it started has not succeeded yet.
    cut: bool,
}

impl ReconnectPolicy {
    /// Ordinary losses back off from `min` doubling to `max`. Without
    /// `retry_first_connect` (a command-line client) a first login that
    /// fails is final.
    pub fn new(min: Duration, max: Duration, retry_first_connect: bool) -> ReconnectPolicy {
        ReconnectPolicy {
            min,
            max,
            retry_first_connect,
            attempt: 0,
            conflicts: 0,
            refusals: 0,
            first_refusal: None,
            online_since: None,
            ever_online: false,
            next_probe: None,
            cut: false,
        }
    }

    /// A login succeeded.
    pub fn online(&mut self, now: Instant) {
        self.attempt = 0;
        self.refusals = 0;
        self.first_refusal = None;
        self.online_since = Some(now);
        self.ever_online = true;
        self.next_probe = None;
        self.cut = false;
    }

    /// When the driver should next probe the server during the current
    /// delay (`None`: do not probe, the delay runs out as decided).
    pub fn probe_at(&self) -> Option<Instant> {
        self.next_probe
    }

    /// A probe's outcome at `now`: true when the server answered and the
    /// delay should end at once (log in now).
    pub fn probed(&mut self, now: Instant, reachable: bool) -> bool {
        if self.next_probe.is_none() {
            return false;
        }
        if reachable {
            self.next_probe = None;
            self.cut = true;
            return true;
        }
        self.next_probe = Some(now + PROBE_EVERY);
        false
    }

    /// Failed login attempts since the last login (0: none).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Consecutive conflicts so far (0: none pending).
    pub fn conflicts(&self) -> u32 {
        self.conflicts
    }

    /// The session ended with `err`; `jitter` is uniform in [0, 1].
    pub fn lost(&mut self, err: &StreamError, now: Instant, jitter: f64) -> Decision {
        let after_cut = std::mem::take(&mut self.cut);
        self.next_probe = None;
        if let Some(since) = self.online_since.take()
            && now.saturating_duration_since(since) >= CONFLICT_FORGET
        {
            self.conflicts = 0;
        }
        if err.is_fatal() || (!self.ever_online && !self.retry_first_connect) {
            return Decision::Stop;
        }
        if err.is_conflict() {
            self.conflicts = self.conflicts.saturating_add(1);
            let base = CONFLICT_MIN
                .saturating_mul(1u32 << (self.conflicts - 1).min(10))
                .min(CONFLICT_MAX);
            // Up to 25 % more, never less: the floor is what stops the fight.
            let delay = base.mul_f64(1.0 + 0.25 * unit(jitter));
            return Decision::Conflict {
                conflicts: self.conflicts,
                delay,
            };
        }
        if err.is_refused_session() {
            self.refusals += 1;
            let first = *self.first_refusal.get_or_insert(now);
            if self.refusals >= REFUSALS_TO_STOP
                && now.saturating_duration_since(first) >= REFUSED_FOR_TO_STOP
            {
                return Decision::Stop;
            }
        }
        let decision = self.backoff(jitter);
        if unreachable(err) && !after_cut && matches!(decision, Decision::Retry { .. }) {
            self.next_probe = Some(now + PROBE_EVERY);
        }
        decision
    }

    /// The next ordinary backoff delay, whatever the cause (the failover
    /// rule's round of servers that each failed in its own way); a
    /// command-line client that never got online stops instead.
    pub fn backoff(&mut self, jitter: f64) -> Decision {
        if !self.ever_online && !self.retry_first_connect {
            return Decision::Stop;
        }
        self.attempt = self.attempt.saturating_add(1);
        let exp = self
            .min
            .saturating_mul(1u32 << (self.attempt - 1).min(16))
            .min(self.max);
        Decision::Retry {
            attempt: self.attempt,
            delay: spread(exp, jitter),
        }
    }
}

/// `jitter` in [0, 1] (0.5 when it is not a number).
fn unit(jitter: f64) -> f64 {
    if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.5
    }
}

/// `base` scaled into [50 %, 100 %] by `jitter` (uniform in [0, 1]): agents restarting
/// together spread out.
pub(super) fn spread(base: Duration, jitter: f64) -> Duration {
    base.mul_f64(0.5 + 0.5 * unit(jitter))
}

/// The server (or the way to it) did not answer at all, as opposed to a
/// login that reached it and failed: only then can a probe tell it is back.
fn unreachable(err: &StreamError) -> bool {
    let failure = match err {
        StreamError::Bosh(Termination::Unreachable { failure }) => failure,
        StreamError::Bosh(Termination::GaveUp { last, .. }) => last,
        _ => return false,
    };
    match failure {
        HttpFailure::Connect(_) | HttpFailure::Transport(_) | HttpFailure::Timeout => true,
        HttpFailure::Status(s) => (500..600).contains(s),
    }
}

#[cfg(test)]
mod tests;
