//! Which connection manager to log in to next, when several are configured
//! (`servers`, SPEC §3): a pure rule on top of [`ReconnectPolicy`] (the cause,
//! `now` and a random number in; a decision and the server to use out), so it
//! is unit-tested on a simulated clock.
//!
//! - Servers are tried in the configured order, starting with the first.
//! - Sticky: the agent stays on the server it is logged in to; it moves on
//!   only when that server fails (unreachable, session lost, refused), to the
//!   next in the list, wrapping round. There is no probing of the first one:
//!   moving back costs a session, and the one in use works.
//! - Backoff is per round through the list, not per server: a dead server
//!   costs one quick attempt ([`SWITCH_DELAY`]) before the next is tried;
//!   only when every server failed since the last login does the policy's
//!   backoff apply (and grow). A login ends the round.
//! - Failures that are not the server's are not a reason to move: a conflict
//!   (another client took our JID) waits on the same server as the policy
//!   says; a wrong password or no usable SASL mechanism stops, as with one
//!   server. An error fatal for one server only (wrong BOSH path, a node
//!   that does not serve the domain) moves on like a dead server; the agent
//!   stops only when every server in a round answered so.

use std::time::{Duration, Instant};

use super::reconnect::{Decision, ReconnectPolicy, spread};
use super::stream::StreamError;

/// Delay before trying the next server in a round (halved at most by jitter):
/// long enough not to spin, short against a session's worth of outage.
pub const SWITCH_DELAY: Duration = Duration::from_millis(250);

/// The agent moves from one connection manager to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    pub from: String,
    pub to: String,
}

/// The failover state of one client: the servers and the one in use.
#[derive(Debug, Clone)]
pub struct Failover {
    servers: Vec<String>,
    current: usize,
    /// Servers that failed since the last login or the last full round.
    failed: usize,
    /// Of those, servers that refused us for good (wrong path, unknown domain).
    refused: usize,
}

impl Failover {
    /// Starts on the first of `servers`; `None` when the list is empty.
    pub fn new(servers: Vec<String>) -> Option<Failover> {
        (!servers.is_empty()).then_some(Failover {
            servers,
            current: 0,
            failed: 0,
            refused: 0,
        })
    }

    /// The server in use (or to be tried next).
    pub fn current(&self) -> &str {
        &self.servers[self.current]
    }

    /// A login on the current server succeeded: it stays in use, and the
    /// round through the list starts again from it.
    pub fn online(&mut self) {
        self.failed = 0;
        self.refused = 0;
    }

    /// The session on the current server ended with `err`; `jitter` is
    /// uniform in [0, 1]. Returns what to do (as [`ReconnectPolicy::lost`])
    /// and the switch made, if the next login goes to another server.
    pub fn lost(
        &mut self,
        policy: &mut ReconnectPolicy,
        err: &StreamError,
        now: Instant,
        jitter: f64,
    ) -> (Decision, Option<Switch>) {
        let several = self.servers.len() > 1;
        let server_fatal = err.is_fatal() && !err.is_account_fatal();
        if err.is_conflict() || (err.is_fatal() && !(several && server_fatal)) {
            return (policy.lost(err, now, jitter), None);
        }
        self.failed += 1;
        if server_fatal {
            self.refused += 1;
        }
        let round_done = self.failed >= self.servers.len();
        let decision = if round_done {
            let all_refused = self.refused >= self.servers.len();
            self.failed = 0;
            self.refused = 0;
            if server_fatal && !all_refused {
                // The round ends on a refusal, but some server failed in a way
                // that may pass: back off as for an outage.
                policy.backoff(jitter)
            } else {
                policy.lost(err, now, jitter)
            }
        } else {
            Decision::Retry {
                attempt: policy.attempt().saturating_add(1),
                delay: spread(SWITCH_DELAY, jitter),
            }
        };
        if decision == Decision::Stop || self.servers.len() == 1 {
            return (decision, None);
        }
        let from = self.current().to_owned();
        self.current = (self.current + 1) % self.servers.len();
        let to = self.current().to_owned();
        (decision, Some(Switch { from, to }))
    }
}

#[cfg(test)]
mod tests;
