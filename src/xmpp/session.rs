//! The XMPP client: a thin tokio/reqwest driver around [`XmppStream`], with
//! IQ request/response correlation (per-IQ timeout), delivery of incoming
//! stanzas as events, automatic reconnection with capped exponential
//! backoff and jitter, and clean shutdown.
//!
//! Protocol rules live in the sans-IO machines (`bosh`, `stream`); this
//! module moves bytes, keeps time and talks to the application.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::bosh::{HttpFailure, HttpRequest, Rid};
use super::jid::Jid;
use super::ns;
use super::reconnect::{Decision, ReconnectPolicy};
use super::stanza::{self, IqType, StanzaError};
use super::stream::{StreamConfig, StreamError, StreamEvent, XmppStream};
use super::xml::{Element, Rejected};

/// Largest response body accepted from the connection manager: what the
/// BOSH machine parses (each stanza in it is held to its own limits).
const MAX_RESPONSE_BYTES: usize = super::bosh::MAX_BODY_BYTES;
/// How long a clean shutdown may take before the driver just stops.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// Everything the client needs to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `http(s)://host:port/path` of the BOSH connection manager.
    pub url: String,
    pub stream: StreamConfig,
    /// Default time an IQ may wait for its answer.
    pub iq_timeout: Duration,
    /// First reconnect delay; doubles per failed attempt up to `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Keep trying when the very first connection fails (an agent), or give
    /// up at once (a command-line client).
    pub retry_first_connect: bool,
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
    /// must be answered with [`Client::send`] of an `iq_result`/`iq_error`.
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

/// Counters for metrics and tests.
#[derive(Debug, Default)]
pub struct Stats {
    pub http_requests: AtomicU64,
    pub sessions_started: AtomicU64,
    pub reconnects: AtomicU64,
    /// Sessions replaced by another client logging in as the same JID.
    pub conflicts: AtomicU64,
    /// Incoming stanzas dropped for going over a parser limit.
    pub stanzas_rejected: AtomicU64,
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
    #[error("BOSH URL {url:?} must start with http:// or https://")]
    BadUrl { url: String },
}

impl Client {
    /// Starts connecting in the background; events arrive on the receiver.
    pub fn start(
        cfg: ClientConfig,
    ) -> Result<(Client, mpsc::UnboundedReceiver<ClientEvent>), ClientError> {
        if !(cfg.url.starts_with("http://") || cfg.url.starts_with("https://")) {
            return Err(ClientError::BadUrl { url: cfg.url });
        }
        let http = reqwest::Client::builder()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(4)
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (link, _) = watch::channel(Link::Connecting);
        let shared = Arc::new(Shared {
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            link,
            stats: Stats::default(),
        });
        let iq_timeout = cfg.iq_timeout;
        let span = info_span!("xmpp", user = %cfg.stream.user, url = %cfg.url);
        let driver = Driver {
            cfg,
            http,
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

    /// Waits until online; fails if the client stops or `within` passes.
    pub async fn wait_online(&self, within: Duration) -> Result<Jid, String> {
        let mut rx = self.link();
        let fut = async {
            loop {
                let state = rx.borrow_and_update().clone();
                match state {
                    Link::Online(jid) => return Ok(jid),
                    Link::Stopped(e) => return Err(e.unwrap_or_else(|| "client stopped".into())),
                    _ => {}
                }
                if rx.changed().await.is_err() {
                    return Err("client stopped".into());
                }
            }
        };
        tokio::time::timeout(within, fut)
            .await
            .unwrap_or_else(|_| Err(format!("not online within {within:?}")))
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
    /// that many IQs can be pipelined in a known order.
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

enum SessionEnd {
    Shutdown,
    Lost(StreamError),
}

struct Driver {
    cfg: ClientConfig,
    http: reqwest::Client,
    shared: Arc<Shared>,
    cmd_rx: mpsc::UnboundedReceiver<Command>,
    ev_tx: mpsc::UnboundedSender<ClientEvent>,
}

impl Driver {
    fn emit(&self, ev: ClientEvent) {
        let _ = self.ev_tx.send(ev);
    }

    /// Our full JID as configured (the bound one, once known, is the same).
    fn configured_jid(&self) -> Option<Jid> {
        let s = &self.cfg.stream;
        format!("{}@{}/{}", s.user, s.bosh.domain, s.resource)
            .parse()
            .ok()
    }

    async fn run(mut self) {
        let mut policy = ReconnectPolicy::new(
            self.cfg.reconnect_min,
            self.cfg.reconnect_max,
            self.cfg.retry_first_connect,
        );
        let mut own: Option<Jid> = None;
        loop {
            self.shared.link.send_replace(Link::Connecting);
            self.shared
                .stats
                .sessions_started
                .fetch_add(1, Ordering::Relaxed);
            let end = self.session(&mut policy, &mut own).await;
            self.shared.fail_all(|id| IqError::SessionLost { id });
            let mut err = match end {
                SessionEnd::Shutdown => {
                    info!("xmpp client stopped");
                    self.shared.link.send_replace(Link::Stopped(None));
                    self.emit(ClientEvent::Stopped { error: None });
                    return;
                }
                SessionEnd::Lost(e) => e,
            };
            if let StreamError::SessionRefused { server, .. } = &mut err {
                *server = Some(self.cfg.url.clone());
            }
            let decision = policy.lost(&err, std::time::Instant::now(), rand::random());
            let (attempt, delay) = match decision {
                Decision::Stop => {
                    error!(error = %err, "xmpp client gives up");
                    self.shared
                        .link
                        .send_replace(Link::Stopped(Some(err.to_string())));
                    self.emit(ClientEvent::Stopped { error: Some(err) });
                    return;
                }
                Decision::Conflict { conflicts, delay } => {
                    self.shared.stats.conflicts.fetch_add(1, Ordering::Relaxed);
                    let jid = own
                        .clone()
                        .or_else(|| self.configured_jid())
                        .map_or_else(|| self.cfg.stream.user.clone(), |j| j.to_string());
                    error!(
                        %jid,
                        conflicts,
                        retry_in = %humantime::format_duration(Duration::from_secs(delay.as_secs())),
                        "another client logged in as {jid}: is the same MAC ID configured on two agents? \
                         The server replaced this session; logging in again later would replace the other one"
                    );
                    self.shared.link.send_replace(Link::Conflict {
                        jid: jid.clone(),
                        conflicts,
                        retry_in: delay,
                    });
                    self.emit(ClientEvent::Offline {
                        reason: format!("another client logged in as {jid} (conflict)"),
                    });
                    (conflicts, delay)
                }
                Decision::Retry { attempt, delay } => {
                    if err.is_refused_session() {
                        error!(error = %err, "xmpp session refused");
                    } else {
                        warn!(error = %err, "xmpp session lost");
                    }
                    self.shared
                        .link
                        .send_replace(Link::Offline(err.to_string()));
                    self.emit(ClientEvent::Offline {
                        reason: err.to_string(),
                    });
                    (attempt, delay)
                }
            };
            self.emit(ClientEvent::Reconnecting { attempt, delay });
            self.shared.stats.reconnects.fetch_add(1, Ordering::Relaxed);
            let until = Instant::now() + delay;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => break,
                    cmd = self.cmd_rx.recv() => match cmd {
                        Some(Command::Send(el)) => self.refuse(&el),
                        Some(Command::Shutdown) | None => {
                            self.shared.link.send_replace(Link::Stopped(None));
                            self.emit(ClientEvent::Stopped { error: None });
                            return;
                        }
                    },
                }
            }
        }
    }

    /// A stanza that cannot be sent now: if it is one of our IQs, fail it at once.
    fn refuse(&self, el: &Element) {
        if let Some(id) = el.get_attr("id")
            && let Some(p) = self.shared.pending().remove(id)
        {
            let _ = p.tx.send(Err(IqError::NotConnected));
        }
    }

    async fn session(&mut self, policy: &mut ReconnectPolicy, own: &mut Option<Jid>) -> SessionEnd {
        let rid = rand::random_range(1u64..(1u64 << 48));
        let mut m = XmppStream::new(self.cfg.stream.clone(), rid, super::sasl::random_nonce());
        let url: Arc<str> = Arc::from(self.cfg.url.as_str());
        let (resp_tx, mut resp_rx) =
            mpsc::unbounded_channel::<(Rid, Result<String, HttpFailure>)>();
        let mut closing_since: Option<Instant> = None;
        let mut own_jid: Option<Jid> = None;
        loop {
            let now = Instant::now().into_std();
            // Deadlines that passed (e.g. a stall) act before anything is sent,
            // so the shortcut below can never spin on an expired deadline.
            m.handle_timeout(now);
            while let Some(req) = m.poll_request(now) {
                self.shared
                    .stats
                    .http_requests
                    .fetch_add(1, Ordering::Relaxed);
                let http = self.http.clone();
                let url = url.clone();
                let tx = resp_tx.clone();
                tokio::spawn(async move {
                    let rid = req.rid;
                    let res = post(&http, &url, &req).await;
                    let _ = tx.send((rid, res));
                });
            }
            while let Some(ev) = m.poll_event() {
                match ev {
                    StreamEvent::Online { jid, sid } => {
                        info!(%jid, %sid, "xmpp session online");
                        let reconnected = own.is_some();
                        policy.online(std::time::Instant::now());
                        *own = Some(jid.clone());
                        own_jid = Some(jid.clone());
                        self.shared.link.send_replace(Link::Online(jid.clone()));
                        self.emit(ClientEvent::Online { jid, reconnected });
                    }
                    StreamEvent::Stanza(el) => self.dispatch(&mut m, el, own_jid.as_ref()),
                    StreamEvent::Rejected(r) => self.rejected(&mut m, &r, own_jid.as_ref()),
                    StreamEvent::Ended(Ok(())) => return SessionEnd::Shutdown,
                    StreamEvent::Ended(Err(e)) => {
                        return if closing_since.is_some() {
                            SessionEnd::Shutdown
                        } else {
                            SessionEnd::Lost(e)
                        };
                    }
                }
            }
            // Replies queued by dispatch (e.g. ping) go out before we sleep.
            if m.poll_timeout()
                .is_some_and(|t| t <= Instant::now().into_std())
            {
                continue;
            }
            let wake = m
                .poll_timeout()
                .map(Instant::from_std)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let grace_end = closing_since.map(|t| t + CLOSE_GRACE);
            tokio::select! {
                biased;
                Some((rid, res)) = resp_rx.recv() => {
                    m.handle_response(Instant::now().into_std(), rid, res);
                    while let Ok((rid, res)) = resp_rx.try_recv() {
                        m.handle_response(Instant::now().into_std(), rid, res);
                    }
                }
                cmd = self.cmd_rx.recv() => {
                    let mut next = cmd;
                    loop {
                        match next {
                            Some(Command::Send(el)) => {
                                if m.is_online() && closing_since.is_none() {
                                    m.send(&el);
                                } else {
                                    self.refuse(&el);
                                }
                            }
                            Some(Command::Shutdown) | None => {
                                if closing_since.is_none() {
                                    closing_since = Some(Instant::now());
                                    m.close();
                                }
                            }
                        }
                        // Batch everything already queued into the next body.
                        match self.cmd_rx.try_recv() {
                            Ok(c) => next = Some(c),
                            Err(_) => break,
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake) => m.handle_timeout(Instant::now().into_std()),
                _ = sleep_opt(grace_end), if grace_end.is_some() => return SessionEnd::Shutdown,
            }
        }
    }

    /// A stanza dropped for a parser limit: logged once, an iq request is
    /// refused, and one of our own IQs whose answer it was fails at once.
    fn rejected(&self, m: &mut XmppStream, r: &Rejected, own: Option<&Jid>) {
        let head = &r.head;
        self.shared
            .stats
            .stanzas_rejected
            .fetch_add(1, Ordering::Relaxed);
        warn!(
            from = head.get_attr("from").unwrap_or("(none)"),
            stanza = head.name(),
            id = head.get_attr("id").unwrap_or("(none)"),
            limit = %r.exceeded,
            "incoming stanza over a limit dropped",
        );
        if let Some(answer) = stanza::refusal(r) {
            m.send(&answer);
            return;
        }
        if matches!(IqType::of(head), Some(IqType::Result | IqType::Error))
            && let Some(id) = head.get_attr("id")
        {
            let mut pending = self.shared.pending();
            let Some(p) = pending.remove(id) else { return };
            if !origin_matches(p.to.as_ref(), stanza::from(head).as_ref(), own) {
                pending.insert(id.to_owned(), p);
                return;
            }
            drop(pending);
            let text = format!("answer dropped: {}", r.exceeded);
            let _ = p.tx.send(Err(IqError::Stanza {
                id: id.to_owned(),
                error: StanzaError::policy_violation(&text),
            }));
        }
    }

    fn dispatch(&self, m: &mut XmppStream, el: Element, own: Option<&Jid>) {
        match IqType::of(&el) {
            Some(kind @ (IqType::Result | IqType::Error)) => {
                let Some(id) = el.get_attr("id") else { return };
                let mut pending = self.shared.pending();
                let Some(p) = pending.remove(id) else {
                    debug!(id, "answer to an unknown or expired iq");
                    return;
                };
                if !origin_matches(p.to.as_ref(), stanza::from(&el).as_ref(), own) {
                    warn!(id, from = ?el.get_attr("from"), "iq answer from the wrong sender ignored");
                    pending.insert(id.to_owned(), p);
                    return;
                }
                drop(pending);
                let res = if kind == IqType::Result {
                    Ok(el)
                } else {
                    let id = id.to_owned();
                    let error = StanzaError::from_stanza(&el)
                        .unwrap_or_else(|| StanzaError::new("cancel", "undefined-condition", None));
                    Err(IqError::Stanza { id, error })
                };
                let _ = p.tx.send(res);
            }
            Some(IqType::Get | IqType::Set) => {
                // XEP-0199: answered for anyone, it reveals nothing.
                if stanza::payload(&el).is_some_and(|p| p.is(ns::PING, "ping")) {
                    m.send(&stanza::iq_result(&el, None));
                    return;
                }
                if let Err(mpsc::error::SendError(ClientEvent::Stanza(el))) =
                    self.ev_tx.send(ClientEvent::Stanza(el))
                {
                    m.send(&stanza::iq_error(&el, &StanzaError::service_unavailable()));
                }
            }
            None => {
                let _ = self.ev_tx.send(ClientEvent::Stanza(el));
            }
        }
    }
}

async fn sleep_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// RFC 6120 §8.1.2.1: an answer must come from whom we asked; for requests
/// to our own account/server, absent, bare own JID or the domain are fine.
fn origin_matches(to: Option<&Jid>, from: Option<&Jid>, own: Option<&Jid>) -> bool {
    match (to, from) {
        (Some(to), Some(from)) => to == from,
        (Some(_), None) => false,
        (None, None) => true,
        (None, Some(from)) => own.is_some_and(|own| {
            *from == own.bare()
                || *from == *own
                || (from.node().is_none() && from.domain() == own.domain())
        }),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

async fn post(http: &reqwest::Client, url: &str, req: &HttpRequest) -> Result<String, HttpFailure> {
    let exchange = async {
        let mut resp = http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(req.body.to_string())
            .send()
            .await
            .map_err(|e| HttpFailure::Transport(error_chain(&e)))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(HttpFailure::Status(resp.status().as_u16()));
        }
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| HttpFailure::Transport(error_chain(&e)))?
        {
            if buf.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(HttpFailure::Transport(format!(
                    "response larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            buf.extend_from_slice(&chunk);
        }
        String::from_utf8(buf).map_err(|_| HttpFailure::Transport("response is not UTF-8".into()))
    };
    tokio::time::timeout(req.timeout, exchange)
        .await
        .unwrap_or(Err(HttpFailure::Timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> Jid {
        s.parse().unwrap()
    }

    #[test]
    fn answer_must_come_from_the_addressee() {
        let own = j("me@d/ilon");
        assert!(origin_matches(
            Some(&j("a@d/x")),
            Some(&j("A@d/x")),
            Some(&own)
        ));
        assert!(!origin_matches(
            Some(&j("a@d/x")),
            Some(&j("b@d/x")),
            Some(&own)
        ));
        assert!(!origin_matches(Some(&j("a@d/x")), None, Some(&own)));
        assert!(origin_matches(None, None, Some(&own)));
        assert!(origin_matches(None, Some(&j("d")), Some(&own)));
        assert!(origin_matches(None, Some(&j("me@d")), Some(&own)));
        assert!(!origin_matches(None, Some(&j("evil@d")), Some(&own)));
    }
}
