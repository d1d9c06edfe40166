//! XMPP stream negotiation over a BOSH session (XEP-0206 §5, RFC 6120 §6-7):
//! SASL, the stream restart, resource binding, the legacy session, roster
//! fetch and initial presence; afterwards it passes stanzas through.
//!
//! Sans-IO like [`super::bosh`], which it wraps: the same
//! `poll_request`/`handle_response`/`poll_timeout`/`poll_event` contract.

use std::collections::VecDeque;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::bosh::{BoshConfig, BoshEvent, BoshSession, HttpFailure, HttpRequest, Rid, Termination};
use super::jid::Jid;
use super::ns;
use super::sasl::{self, SaslClient, SaslError};
use super::stanza::{self, IqType};
use super::xml::{Element, Rejected};

const BIND_ID: &str = "wb-bind";
const SESSION_ID: &str = "wb-session";
/// Id of the roster request sent at login; its result is passed on as a stanza.
pub const ROSTER_ID: &str = "wb-roster";

/// A password that never shows in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Who logs in, and how.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    pub bosh: BoshConfig,
    /// The account's node (already normalised, e.g. `08-00-00-1a-7c-62`).
    pub user: String,
    pub password: Secret,
    pub resource: String,
    /// PLAIN is acceptable (TLS to the connection manager, or `allow_plain`).
    pub plain_allowed: bool,
    /// Fetch the roster at login (Prosody delivers subscription requests only then).
    pub fetch_roster: bool,
    /// Send initial presence at login (so IQs to our full JID are routed).
    pub initial_presence: bool,
}

/// Why a stream ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Bosh(#[from] Termination),
    /// The server refused our credentials (RFC 6120 §6.5).
    #[error("authentication as {user:?} with {mechanism} failed: {condition}{}", text.as_ref().map(|t| format!(" ({t})")).unwrap_or_default())]
    AuthFailed {
        user: String,
        mechanism: &'static str,
        condition: String,
        text: Option<String>,
    },
    #[error("sasl: {0}")]
    Sasl(#[from] SaslError),
    #[error("resource binding failed: {detail}")]
    Bind { detail: String },
    /// The connection manager refused to open a session for our domain.
    #[error("the XMPP server{} refused a session for domain {domain:?} ({condition}{}): check xmpp.domain", server.as_ref().map(|s| format!(" at {s}")).unwrap_or_default(), if condition == "internal-server-error" { "; ejabberd answers so for a domain it does not serve" } else { ": it does not serve that domain" })]
    SessionRefused {
        domain: String,
        condition: String,
        /// The BOSH URL, filled in by the client driver.
        server: Option<String>,
    },
}

impl StreamError {
    /// True when retrying cannot help until someone changes a configuration:
    /// reconnecting would only be a retry storm against the server.
    pub fn is_fatal(&self) -> bool {
        match self {
            StreamError::AuthFailed { .. } | StreamError::Sasl(_) => true,
            StreamError::SessionRefused { condition, .. } => condition != "internal-server-error",
            StreamError::Bosh(Termination::Condition { condition, .. }) => {
                matches!(
                    condition.as_str(),
                    "host-unknown" | "improper-addressing" | "bad-request"
                )
            }
            StreamError::Bosh(Termination::Unreachable {
                failure: HttpFailure::Status(404 | 400 | 403),
            }) => true,
            _ => false,
        }
    }

    /// True when another client bound our full JID and the server replaced
    /// us (RFC 6120 §4.9.3.3 `<conflict/>`; over BOSH a terminate with
    /// `remote-stream-error` wrapping it, as ejabberd and Prosody send).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            StreamError::Bosh(Termination::Condition { condition, detail })
                if condition == "conflict"
                    || (condition == "remote-stream-error" && detail.as_deref() == Some("conflict"))
        )
    }

    /// True for a fatal error that is about the account, not the server
    /// (wrong password, no usable SASL mechanism): another server of the
    /// same domain would give the same answer.
    pub fn is_account_fatal(&self) -> bool {
        matches!(self, StreamError::AuthFailed { .. } | StreamError::Sasl(_))
    }

    /// True when the server refused to create a session at all.
    pub fn is_refused_session(&self) -> bool {
        matches!(self, StreamError::SessionRefused { .. })
    }
}

/// Terminal conditions that, on the session creation request, mean the
/// server does not serve our domain (XEP-0124 §17.2; ejabberd 23.01 answers
/// `internal-server-error` when no BOSH module runs for the `to` host).
const REFUSAL_CONDITIONS: &[&str] = &[
    "host-unknown",
    "host-gone",
    "improper-addressing",
    "internal-server-error",
];

/// What the stream reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// Negotiation is complete: stanzas flow.
    Online { jid: Jid, sid: String },
    /// An incoming stanza (after `Online`).
    Stanza(Element),
    /// An incoming stanza dropped for going over a parser limit: only its
    /// start tag is known, enough to answer an iq with an error.
    Rejected(Rejected),
    /// The stream is over; `Ok(())` after our own `close`.
    Ended(Result<(), StreamError>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the first `<stream:features/>`.
    Features,
    Authenticating,
    /// After SASL success: waiting for the post-restart features.
    Restarted,
    Binding,
    Session,
    Online,
    Closing,
    Ended,
}

/// The negotiation machine.
#[derive(Debug)]
pub struct XmppStream {
    bosh: BoshSession,
    cfg: StreamConfig,
    nonce: String,
    phase: Phase,
    sasl: Option<SaslClient>,
    session_required: bool,
    jid: Option<Jid>,
    failure: Option<StreamError>,
    events: VecDeque<StreamEvent>,
}

impl XmppStream {
    /// `initial_rid` and the SCRAM `nonce` are injected (random in production).
    pub fn new(cfg: StreamConfig, initial_rid: u64, nonce: String) -> XmppStream {
        XmppStream {
            bosh: BoshSession::new(cfg.bosh.clone(), initial_rid),
            cfg,
            nonce,
            phase: Phase::Features,
            sasl: None,
            session_required: false,
            jid: None,
            failure: None,
            events: VecDeque::new(),
        }
    }

    pub fn is_online(&self) -> bool {
        self.phase == Phase::Online
    }

    /// The BOSH session id, once created.
    pub fn sid(&self) -> Option<&str> {
        self.bosh.params().map(|p| p.sid.as_str())
    }

    /// Sends a stanza. Only meaningful once `Online`; earlier ones are dropped
    /// by the caller's contract (the driver refuses them).
    pub fn send(&mut self, stanza: &Element) {
        if self.phase == Phase::Online {
            self.bosh.send(stanza);
        }
    }

    /// Ends the session cleanly: unavailable presence inside the terminate.
    pub fn close(&mut self) {
        match self.phase {
            Phase::Online => {
                self.bosh.send(&stanza::presence(Some("unavailable"), None));
                self.phase = Phase::Closing;
                self.bosh.close();
            }
            Phase::Closing | Phase::Ended => {}
            _ => {
                self.phase = Phase::Closing;
                self.bosh.close();
            }
        }
        self.drain();
    }

    /// See [`BoshSession::expect_send`].
    pub fn expect_send(&mut self, now: Instant, until: Instant) {
        self.bosh.expect_send(now, until);
    }

    /// See [`BoshSession::expect_none`].
    pub fn expect_none(&mut self) {
        self.bosh.expect_none();
    }

    pub fn poll_request(&mut self, now: Instant) -> Option<HttpRequest> {
        self.bosh.poll_request(now)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.bosh.poll_timeout()
    }

    /// A timer may end the session (a stall): its `Ended` is reported at
    /// once, not with the next response, which can be `wait` away.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.bosh.handle_timeout(now);
        self.drain();
    }

    pub fn handle_response(&mut self, now: Instant, rid: Rid, result: Result<String, HttpFailure>) {
        self.bosh.handle_response(now, rid, result);
        self.drain();
    }

    pub fn poll_event(&mut self) -> Option<StreamEvent> {
        self.events.pop_front()
    }

    fn drain(&mut self) {
        while let Some(ev) = self.bosh.poll_event() {
            match ev {
                BoshEvent::Created(_) => {}
                BoshEvent::Payload(el) => self.on_payload(el),
                BoshEvent::Rejected(r) => self.events.push_back(StreamEvent::Rejected(r)),
                BoshEvent::Terminated(t) => {
                    let created = self.sid().is_some();
                    let result = match (self.failure.take(), t) {
                        (Some(f), _) => Err(f),
                        (None, Termination::Closed) if self.phase == Phase::Closing => Ok(()),
                        (None, Termination::Condition { condition, .. })
                            if !created && REFUSAL_CONDITIONS.contains(&condition.as_str()) =>
                        {
                            Err(StreamError::SessionRefused {
                                domain: self.cfg.bosh.domain.clone(),
                                condition,
                                server: None,
                            })
                        }
                        (None, t) => Err(StreamError::Bosh(t)),
                    };
                    self.phase = Phase::Ended;
                    self.events.push_back(StreamEvent::Ended(result));
                }
            }
        }
    }

    /// Records a failure and closes the BOSH session; `Ended` carries it.
    fn fail(&mut self, e: StreamError) {
        if self.failure.is_none() {
            self.failure = Some(e);
        }
        self.phase = Phase::Closing;
        self.bosh.close();
    }

    fn on_payload(&mut self, el: Element) {
        match self.phase {
            Phase::Features if el.is(ns::STREAM, "features") => self.start_auth(&el),
            Phase::Authenticating if el.ns() == ns::SASL => self.on_sasl(&el),
            Phase::Restarted if el.is(ns::STREAM, "features") => self.start_bind(&el),
            Phase::Binding if el.get_attr("id") == Some(BIND_ID) => self.on_bind(&el),
            Phase::Session if el.get_attr("id") == Some(SESSION_ID) => {
                if IqType::of(&el) == Some(IqType::Result) {
                    self.go_online();
                } else {
                    self.fail(StreamError::Bind {
                        detail: format!("session establishment refused: {}", describe_error(&el)),
                    });
                }
            }
            Phase::Online | Phase::Closing => self.events.push_back(StreamEvent::Stanza(el)),
            _ => {} // e.g. features repeated while we wait for something else
        }
    }

    fn start_auth(&mut self, features: &Element) {
        let offered: Vec<String> = features
            .get_child(ns::SASL, "mechanisms")
            .map(|m| m.children().map(Element::text_content).collect())
            .unwrap_or_default();
        let mech = match sasl::choose(&offered, self.cfg.plain_allowed) {
            Ok(m) => m,
            Err(e) => return self.fail(e.into()),
        };
        let mut client = SaslClient::new(mech, &self.cfg.user, &self.cfg.password.0, &self.nonce);
        let initial = client.initial_response();
        let text = if initial.is_empty() {
            "=".to_owned()
        } else {
            BASE64.encode(initial)
        };
        self.bosh.send(
            &Element::new(ns::SASL, "auth")
                .attr("mechanism", mech.name())
                .text(text),
        );
        self.sasl = Some(client);
        self.phase = Phase::Authenticating;
    }

    fn on_sasl(&mut self, el: &Element) {
        let Some(client) = self.sasl.as_mut() else {
            return;
        };
        let data = match BASE64.decode(el.text_content().trim()) {
            Ok(d) => d,
            Err(e) => {
                return self.fail(StreamError::Sasl(SaslError::Malformed {
                    step: "server message",
                    detail: format!("not base64: {e}"),
                }));
            }
        };
        match el.name() {
            "challenge" => match client.handle_challenge(&data) {
                Ok(resp) => {
                    let text = if resp.is_empty() {
                        String::new()
                    } else {
                        BASE64.encode(resp)
                    };
                    self.bosh
                        .send(&Element::new(ns::SASL, "response").text(text));
                }
                Err(e) => self.fail(e.into()),
            },
            "success" => match client.handle_success(&data) {
                Ok(()) => {
                    self.bosh.restart();
                    self.phase = Phase::Restarted;
                }
                Err(e) => self.fail(e.into()),
            },
            "failure" => {
                let condition = el
                    .children()
                    .find(|c| c.name() != "text")
                    .map_or("not-authorized", Element::name)
                    .to_owned();
                let text = el.get_child(ns::SASL, "text").map(Element::text_content);
                let mechanism = client.mechanism().name();
                self.fail(StreamError::AuthFailed {
                    user: self.cfg.user.clone(),
                    mechanism,
                    condition,
                    text,
                });
            }
            _ => {}
        }
    }

    fn start_bind(&mut self, features: &Element) {
        if features.get_child(ns::BIND, "bind").is_none() {
            return self.fail(StreamError::Bind {
                detail: "server offers no resource binding after authentication".into(),
            });
        }
        self.session_required = features
            .get_child(ns::SESSION, "session")
            .is_some_and(|s| s.get_child(ns::SESSION, "optional").is_none());
        let bind = Element::new(ns::BIND, "bind")
            .child(Element::new(ns::BIND, "resource").text(self.cfg.resource.clone()));
        self.bosh
            .send(&stanza::iq(IqType::Set, BIND_ID, None, Some(bind)));
        self.phase = Phase::Binding;
    }

    fn on_bind(&mut self, el: &Element) {
        if IqType::of(el) != Some(IqType::Result) {
            return self.fail(StreamError::Bind {
                detail: describe_error(el),
            });
        }
        let jid = el
            .get_child(ns::BIND, "bind")
            .and_then(|b| b.get_child(ns::BIND, "jid"))
            .map(Element::text_content)
            .and_then(|t| t.trim().parse::<Jid>().ok());
        let Some(jid) = jid else {
            return self.fail(StreamError::Bind {
                detail: "bind result carries no valid JID".into(),
            });
        };
        self.jid = Some(jid);
        if self.session_required {
            let s = Element::new(ns::SESSION, "session");
            self.bosh
                .send(&stanza::iq(IqType::Set, SESSION_ID, None, Some(s)));
            self.phase = Phase::Session;
        } else {
            self.go_online();
        }
    }

    fn go_online(&mut self) {
        let Some(jid) = self.jid.clone() else {
            return;
        };
        if self.cfg.fetch_roster {
            let q = Element::new(ns::ROSTER, "query");
            self.bosh
                .send(&stanza::iq(IqType::Get, ROSTER_ID, None, Some(q)));
        }
        if self.cfg.initial_presence {
            self.bosh.send(&stanza::presence(None, None));
        }
        self.phase = Phase::Online;
        let sid = self.sid().unwrap_or_default().to_owned();
        self.events.push_back(StreamEvent::Online { jid, sid });
    }
}

fn describe_error(el: &Element) -> String {
    stanza::StanzaError::from_stanza(el)
        .map(|e| e.to_string())
        .unwrap_or_else(|| "unexpected answer".into())
}

#[cfg(test)]
mod tests;
