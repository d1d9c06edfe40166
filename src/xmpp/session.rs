//! The XMPP client: a thin tokio/reqwest driver (`session/driver.rs`) around
//! [`XmppStream`](super::stream::XmppStream), with IQ request/response
//! correlation (per-IQ timeout), delivery of incoming stanzas as events,
//! reconnection as [`super::reconnect`] decides, and clean shutdown.
//!
//! Protocol rules live in the sans-IO machines (`bosh`, `stream`); this
//! module moves bytes, keeps time and talks to the application.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, info_span};

use super::failover::Failover;
use super::jid::Jid;
use super::proxy::ProxyError;
pub use super::proxy::ProxySetting;
use super::stanza::{self, IqType, StanzaError};
use super::stream::{StreamConfig, StreamError};
use super::xml::Element;

/// Largest response body accepted from the connection manager: what the
/// BOSH machine parses (each stanza in it is held to its own limits).
const MAX_RESPONSE_BYTES: usize = super::bosh::MAX_BODY_BYTES;
/// How long a clean shutdown may take before the driver just stops.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// Everything the client needs to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `http(s)://host:port/path` of each BOSH connection manager, in the
    /// order to try them (at least one; [`super::failover`] picks).
    pub urls: Vec<String>,
    /// `stream.plain_allowed` is the `allow_plain` setting: the driver also
    /// allows SASL PLAIN on each session to an `https://` URL.
    /// PEM trust anchors added to the system roots (a site's own CA).
    pub ca_file: Option<PathBuf>,
    pub stream: StreamConfig,
    /// Default time an IQ may wait for its answer.
    pub iq_timeout: Duration,
    /// First reconnect delay; doubles per failed attempt up to `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Keep trying when the very first connection fails (an agent), or give
    /// up at once (a command-line client).
    pub retry_first_connect: bool,
    /// The HTTP proxy setting (`[xmpp] proxy`).
    pub proxy: ProxySetting,
}

/// What the client tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// Logged in (again, if `reconnected`).
    Online { jid: Jid, reconnected: bool },
    /// The session was lost; a reconnect follows unless `Stopped` does.
    Offline { reason: String },
    /// The next login attempt starts after `delay`.
    Reconnecting { attempt: u32, delay: Duration },
    /// An incoming IQ request (get/set), message or presence. IQ requests
    /// must be answered with [`Client::send`] of an `iq_result`/`iq_error`
    /// (same `id`, `to` = the request's `from`). Until the answer is sent
    /// (at most 40 ms) the client keeps the next BOSH request for it rather
    /// than spend it on an empty poll, which the answer would then have to
    /// wait 25 ms behind (E10).
    Stanza(Element),
    /// The client stopped: after `shutdown`, or on an error that retrying
    /// cannot fix (wrong password, no usable SASL mechanism, ...).
    Stopped { error: Option<StreamError> },
}

/// Why an IQ got no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IqError {
    #[error("iq {id} got no answer within {after:?}")]
    Timeout { id: String, after: Duration },
    #[error("iq {id} was answered with an error: {error}")]
    Stanza { id: String, error: StanzaError },
    #[error("not connected to the XMPP server")]
    NotConnected,
    #[error("the XMPP session was lost before iq {id} was answered")]
    SessionLost { id: String },
}

/// Why [`Client::wait_online`] returned without a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitOnlineError {
    /// The client stopped: with the reason of [`Link::Stopped`], or "client stopped" when it
    /// gave none or its task is gone.
    #[error("{}", reason.as_deref().unwrap_or("client stopped"))]
    Stopped { reason: Option<String> },
    /// Still not online when the time given ran out.
    #[error("not online within {within:?}")]
    Timeout { within: Duration },
}

/// Connection state, observable through [`Client::link`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Online(Jid),
    Offline(String),
    /// Another client logged in as `jid` and the server replaced our session
    /// (two agents with the same MAC ID?); the next login is `retry_in` after
    /// the conflict, the `conflicts`-th in a row.
    Conflict {
        jid: String,
        conflicts: u32,
        retry_in: Duration,
    },
    Stopped(Option<String>),
}

impl std::fmt::Display for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Link::Connecting => f.write_str("connecting"),
            Link::Online(jid) => write!(f, "online as {jid}"),
            Link::Offline(reason) => write!(f, "offline: {reason}"),
            Link::Conflict {
                jid,
                conflicts,
                retry_in,
            } => write!(
                f,
                "conflict: another client logged in as {jid} ({conflicts} in a row; is the same MAC ID configured on two agents?), next login {} after it",
                humantime::format_duration(Duration::from_secs(retry_in.as_secs()))
            ),
            Link::Stopped(None) => f.write_str("stopped"),
            Link::Stopped(Some(e)) => write!(f, "stopped: {e}"),
        }
    }
}

/// Counters for metrics, `state` and tests.
#[derive(Debug, Default)]
pub struct Stats {
    pub http_requests: AtomicU64,
    pub sessions_started: AtomicU64,
    pub reconnects: AtomicU64,
    /// Sessions replaced by another client logging in as the same JID.
    pub conflicts: AtomicU64,
    /// Incoming stanzas dropped for going over a parser limit.
    pub stanzas_rejected: AtomicU64,
    /// HTTP exchanges that never connected (refused, DNS, TLS refused).
    pub http_connect_errors: AtomicU64,
    /// HTTP exchanges with no response before their timeout.
    pub http_timeouts: AtomicU64,
    /// HTTP exchanges that failed below HTTP once connected: reset, truncated.
    pub http_transport_errors: AtomicU64,
    /// HTTP exchanges answered with a 5xx (a gateway or the server).
    pub http_5xx: AtomicU64,
    /// HTTP exchanges answered with another non-200 status.
    pub http_other_status: AtomicU64,
    /// Requests sent again after a failure (XEP-0124 §14.3).
    pub retransmissions: AtomicU64,
    /// Sessions given up because an older request went unanswered (E10).
    pub stalls: AtomicU64,
    /// Waits cut short because a probe found the server reachable again.
    pub probe_cuts: AtomicU64,
    last_error: Mutex<Option<(std::time::SystemTime, String)>>,
}

impl Stats {
    /// The last HTTP failure or session loss, and when.
    pub fn last_error(&self) -> Option<(std::time::SystemTime, String)> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_last_error(&self, error: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((std::time::SystemTime::now(), error));
    }

    fn http_failed(&self, f: &super::bosh::HttpFailure) {
        use super::bosh::HttpFailure;
        let counter = match f {
            HttpFailure::Connect(_) => &self.http_connect_errors,
            HttpFailure::Timeout => &self.http_timeouts,
            HttpFailure::Transport(_) => &self.http_transport_errors,
            HttpFailure::Status(s) if (500..600).contains(s) => &self.http_5xx,
            HttpFailure::Status(_) => &self.http_other_status,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

struct PendingIq {
    tx: oneshot::Sender<Result<Element, IqError>>,
    to: Option<Jid>,
}

struct Shared {
    pending: Mutex<HashMap<String, PendingIq>>,
    next_id: AtomicU64,
    link: watch::Sender<Link>,
    stats: Stats,
    /// The connection manager in use ([`Client::server`]).
    server: Mutex<String>,
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, PendingIq>> {
        // A poisoned map is still a valid map: no invariant spans the lock.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fail_all(&self, make: impl Fn(String) -> IqError) {
        for (id, p) in self.pending().drain() {
            let _ = p.tx.send(Err(make(id)));
        }
    }
}

enum Command {
    Send(Element),
    Shutdown,
}

/// A running XMPP-over-BOSH client. Cheap to share behind an `Arc`.
pub struct Client {
    cmd: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
    iq_timeout: Duration,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Errors starting the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    CaFile(#[from] super::http::CaFileError),
    #[error("BOSH URL {url:?} must start with http:// or https://")]
    BadUrl { url: String },
    #[error("no BOSH URL to connect to")]
    NoServers,
    #[error("HTTP proxy for {url}: {source}")]
    Proxy {
        url: String,
        #[source]
        source: ProxyError,
    },
}

impl Client {
    /// Starts connecting in the background; events arrive on the receiver.
    pub fn start(
        cfg: ClientConfig,
    ) -> Result<(Client, mpsc::UnboundedReceiver<ClientEvent>), ClientError> {
        if let Some(url) = cfg
            .urls
            .iter()
            .find(|u| !(u.starts_with("http://") || u.starts_with("https://")))
        {
            return Err(ClientError::BadUrl { url: url.clone() });
        }
        let failover = Failover::new(cfg.urls.clone()).ok_or(ClientError::NoServers)?;
        let (http, proxy) = super::http::http_client(&cfg)?;
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (link, _) = watch::channel(Link::Connecting);
        let shared = Arc::new(Shared {
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            link,
            stats: Stats::default(),
            server: Mutex::new(failover.current().to_owned()),
        });
        let iq_timeout = cfg.iq_timeout;
        let span = info_span!("xmpp", user = %cfg.stream.user);
        let driver = Driver {
            cfg,
            failover,
            http,
            proxy,
            shared: shared.clone(),
            cmd_rx,
            ev_tx,
        };
        let task = tokio::spawn(driver.run().instrument(span));
        Ok((
            Client {
                cmd: cmd_tx,
                shared,
                iq_timeout,
                task: Mutex::new(Some(task)),
            },
            ev_rx,
        ))
    }

    /// Watches the connection state.
    pub fn link(&self) -> watch::Receiver<Link> {
        self.shared.link.subscribe()
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// The BOSH URL in use: logged in to, or being tried next.
    pub fn server(&self) -> String {
        self.shared
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until online; fails if the client stops or `within` passes.
    pub async fn wait_online(&self, within: Duration) -> Result<Jid, WaitOnlineError> {
        let mut rx = self.link();
        let fut = async {
            loop {
                let state = rx.borrow_and_update().clone();
                match state {
                    Link::Online(jid) => return Ok(jid),
                    Link::Stopped(reason) => return Err(WaitOnlineError::Stopped { reason }),
                    _ => {}
                }
                if rx.changed().await.is_err() {
                    return Err(WaitOnlineError::Stopped { reason: None });
                }
            }
        };
        tokio::time::timeout(within, fut)
            .await
            .unwrap_or(Err(WaitOnlineError::Timeout { within }))
    }

    /// Sends a stanza (fire and forget). Dropped if not online.
    pub fn send(&self, stanza: Element) {
        let _ = self.cmd.send(Command::Send(stanza));
    }

    /// Sends an IQ and waits for its result with the default timeout.
    pub async fn iq(
        &self,
        kind: IqType,
        to: Option<&Jid>,
        payload: Element,
    ) -> Result<Element, IqError> {
        self.iq_within(kind, to, payload, self.iq_timeout).await
    }

    /// Sends an IQ and waits at most `within` for the `result` (returned) or
    /// `error` (an [`IqError::Stanza`]).
    pub async fn iq_within(
        &self,
        kind: IqType,
        to: Option<&Jid>,
        payload: Element,
        within: Duration,
    ) -> Result<Element, IqError> {
        self.iq_start(kind, to, payload)?.wait(within).await
    }

    /// Queues an IQ at once and returns a handle to await its answer, so
    /// that many IQs can be pipelined in a known order. When the answer
    /// arrives the client expects the caller to send next (for up to 20 ms)
    /// and keeps the next BOSH request for that send rather than an empty poll.
    pub fn iq_start(
        &self,
        kind: IqType,
        to: Option<&Jid>,
        payload: Element,
    ) -> Result<IqHandle, IqError> {
        if !matches!(*self.shared.link.borrow(), Link::Online(_)) {
            return Err(IqError::NotConnected);
        }
        let id = format!("wb{}", self.shared.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        self.shared.pending().insert(
            id.clone(),
            PendingIq {
                tx,
                to: to.cloned(),
            },
        );
        let el = stanza::iq(kind, &id, to, Some(payload));
        if self.cmd.send(Command::Send(el)).is_err() {
            self.shared.pending().remove(&id);
            return Err(IqError::NotConnected);
        }
        Ok(IqHandle {
            id,
            rx,
            shared: self.shared.clone(),
        })
    }

    /// Asks for `jid`'s presence (RFC 6121 §3.1).
    pub fn subscribe(&self, jid: &Jid) {
        self.send(stanza::presence(Some("subscribe"), Some(&jid.bare())));
    }

    /// Approves `jid`'s subscription request (RFC 6121 §3.1.4).
    pub fn approve(&self, jid: &Jid) {
        self.send(stanza::presence(Some("subscribed"), Some(&jid.bare())));
    }

    /// Ends the session cleanly (`type='terminate'`) and waits for the driver.
    pub async fn shutdown(&self) {
        let _ = self.cmd.send(Command::Shutdown);
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = task {
            let _ = tokio::time::timeout(CLOSE_GRACE * 2, t).await;
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.cmd.send(Command::Shutdown);
    }
}

/// An IQ on its way; [`IqHandle::wait`] gives its answer.
pub struct IqHandle {
    id: String,
    rx: oneshot::Receiver<Result<Element, IqError>>,
    shared: Arc<Shared>,
}

impl IqHandle {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Waits at most `within` for the answer.
    pub async fn wait(self, within: Duration) -> Result<Element, IqError> {
        let IqHandle { id, rx, shared } = self;
        match tokio::time::timeout(within, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(IqError::SessionLost { id }),
            Err(_) => {
                shared.pending().remove(&id);
                Err(IqError::Timeout { id, after: within })
            }
        }
    }
}

mod driver;
mod expect;

use driver::Driver;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_online_errors_read_as_before() {
        let stopped = |reason: Option<&str>| WaitOnlineError::Stopped {
            reason: reason.map(str::to_owned),
        };
        assert_eq!(stopped(None).to_string(), "client stopped");
        assert_eq!(
            stopped(Some("not-authorized")).to_string(),
            "not-authorized"
        );
        assert_eq!(
            WaitOnlineError::Timeout {
                within: Duration::from_secs(1)
            }
            .to_string(),
            "not online within 1s"
        );
    }
}
