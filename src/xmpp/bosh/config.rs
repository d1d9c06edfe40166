//! What the client asks for at session creation and its local pacing knobs:
//! set once by the owner, read by the machine, so apart from its rules.

use std::time::Duration;

use crate::xmpp::xml::{Limits, StanzaLimits};

#[cfg(doc)]
use super::{BoshEvent, BoshSession};

/// Largest response body parsed: several stanzas of the largest size.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// What the client asks for at session creation, and local pacing knobs.
#[derive(Debug, Clone)]
pub struct BoshConfig {
    /// The XMPP domain (`to`), not a host name (XEP-0124 §7.1).
    pub domain: String,
    /// `xml:lang` of the session.
    pub lang: String,
    /// Longest time the connection manager may hold a request (`wait`).
    pub wait: Duration,
    /// Extra time on top of `wait` before an HTTP request counts as lost.
    pub http_margin: Duration,
    /// Minimum spacing between two requests put on the wire.
    ///
    /// Why: ejabberd 23.01 never processes a request that overtakes an
    /// earlier, held one (notes/xmpp-servers.md E10); two requests written
    /// back to back on two connections can race in the server.
    pub send_gap: Duration,
    /// How long an empty poll is deferred after a response, so that a stanza
    /// the application sends in reaction rides in that request instead.
    pub poll_delay: Duration,
    /// Minimum age of every in-flight request before another may follow.
    /// Why: ejabberd 23.01 loses a request that overtakes an earlier one it
    /// then holds (E10); giving the earlier one time to arrive first closes
    /// the window even on a loaded machine.
    pub poll_gap: Duration,
    /// `poll_gap` for a request sent again: it likely needs a new connection
    /// (the failed one is gone), whose setup a newer request on an open
    /// connection would otherwise overtake (E10).
    pub resend_gap: Duration,
    /// Longest the empty poll waits for a send the owner announced with
    /// [`BoshSession::expect_send`], however far away the owner's `until`.
    pub expect_max: Duration,
    /// An older request still unanswered this long after a newer one was
    /// sent means the connection manager lost track (with hold=1 it must
    /// answer the older one first): the session is declared stalled.
    pub stall_timeout: Duration,
    /// Upper bound on one request body; larger batches are split.
    pub max_body_bytes: usize,
    /// Limits applied to a whole response body (its depth limit only
    /// matters for the body itself: stanzas are held to `stanza_limits`).
    pub limits: Limits,
    /// Limits applied to each stanza of a response: one over a limit is
    /// dropped and reported ([`BoshEvent::Rejected`]), the rest delivered.
    pub stanza_limits: StanzaLimits,
    /// Retransmissions of one rid before the session is given up.
    pub max_retries: u32,
    /// A request that fails after being in flight at least this long, other than by our own
    /// timeout or a failed connect, was held by the connection manager and cut on the way
    /// (a proxy's idle timeout below `wait`): its failure does not use up `max_retries`,
    /// provided the manager answered something since the last such cut. A request sent
    /// again after a cut that stays unanswered this long is followed by an empty one, which
    /// makes the manager answer it (hold=1): the proof that it is there at all.
    pub held_min: Duration,
}

impl BoshConfig {
    /// Defaults that work against ejabberd and Prosody with their stock settings.
    pub fn new(domain: &str) -> BoshConfig {
        BoshConfig {
            domain: domain.to_owned(),
            lang: "en".to_owned(),
            wait: Duration::from_secs(60),
            http_margin: Duration::from_secs(10),
            send_gap: Duration::from_millis(1),
            poll_delay: Duration::from_millis(2),
            poll_gap: Duration::from_millis(25),
            resend_gap: Duration::from_millis(250),
            expect_max: Duration::from_millis(50),
            stall_timeout: Duration::from_secs(5),
            max_body_bytes: 256 * 1024,
            limits: Limits {
                max_bytes: MAX_BODY_BYTES,
                ..Limits::default()
            },
            stanza_limits: StanzaLimits::default(),
            max_retries: 5,
            held_min: Duration::from_secs(2),
        }
    }
}
