//! The tokio driver of [`Client`](super::Client): runs [`XmppStream`] over
//! reqwest, correlates IQs, dispatches stanzas, and reconnects as
//! [`ReconnectPolicy`] decides, to the connection manager [`Failover`] picks.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::super::bosh::{HttpFailure, HttpRequest, Rid, Termination};
use super::super::failover::Failover;
use super::super::http::tls_failure;
use super::super::jid::Jid;
use super::super::proxy::{ProxyPlan, Route};
use super::super::reconnect::{Decision, ReconnectPolicy};
use super::super::stanza::{self, IqType, StanzaError};
use super::super::stream::{StreamError, StreamEvent, XmppStream};
use super::super::xml::{Element, Rejected};
use super::expect::Expected;
use super::{
    CLOSE_GRACE, ClientConfig, ClientEvent, Command, IqError, Link, MAX_RESPONSE_BYTES, Shared,
};

enum SessionEnd {
    Shutdown,
    Lost(StreamError),
}

pub(super) struct Driver {
    pub(super) cfg: ClientConfig,
    pub(super) failover: Failover,
    pub(super) http: reqwest::Client,
    pub(super) proxy: ProxyPlan,
    pub(super) shared: Arc<Shared>,
    pub(super) cmd_rx: mpsc::UnboundedReceiver<Command>,
    pub(super) ev_tx: mpsc::UnboundedSender<ClientEvent>,
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

    pub(super) async fn run(mut self) {
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
            let server = self.failover.current().to_owned();
            let end = self
                .session(&mut policy, &mut own)
                .instrument(info_span!("session", %server))
                .await;
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
            if let StreamError::SessionRefused { server: at, .. } = &mut err {
                *at = Some(server.clone());
            }
            let (decision, switch) =
                self.failover
                    .lost(&mut policy, &err, std::time::Instant::now(), rand::random());
            if let Some(s) = switch {
                warn!(from = %s.from, to = %s.to, reason = %err, "switching to the next connection manager");
                *self
                    .shared
                    .server
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = s.to;
            }
            if matches!(err, StreamError::Bosh(Termination::Stalled { .. })) {
                self.shared.stats.stalls.fetch_add(1, Ordering::Relaxed);
            }
            self.shared
                .stats
                .set_last_error(format!("session lost: {err}"));
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
                        error!(error = %err, %server, "xmpp session refused");
                    } else {
                        warn!(error = %err, %server, "xmpp session lost");
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
            // The server the next login goes to is the one worth probing.
            let next = self.failover.current().to_owned();
            loop {
                let probe_at = policy.probe_at().map(Instant::from_std);
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => break,
                    reachable = probe(&self.http, &next, probe_at), if probe_at.is_some() => {
                        if policy.probed(std::time::Instant::now(), reachable) {
                            self.shared.stats.probe_cuts.fetch_add(1, Ordering::Relaxed);
                            info!(url = %next, "the connection manager answers again: logging in now");
                            break;
                        }
                    }
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
        let url: Arc<str> = Arc::from(self.failover.current());
        let route: Option<Arc<(reqwest::Url, Route)>> = reqwest::Url::parse(&url).ok().map(|u| {
            let r = self.proxy.route(&u);
            Arc::new((u, r))
        });
        let mut stream = self.cfg.stream.clone();
        // PLAIN is safe over TLS: decided per server, by its URL's scheme.
        stream.plain_allowed |= url.starts_with("https://");
        let mut m = XmppStream::new(stream, rid, super::super::sasl::random_nonce());
        let (resp_tx, mut resp_rx) =
            mpsc::unbounded_channel::<(Rid, Result<String, HttpFailure>)>();
        let mut closing_since: Option<Instant> = None;
        let mut own_jid: Option<Jid> = None;
        // Answers and follow-ups the application owes: the empty poll waits for them.
        let mut expected = Expected::default();
        loop {
            let now = Instant::now().into_std();
            // Deadlines that passed (e.g. a stall) act before anything is sent,
            // so the shortcut below can never spin on an expired deadline.
            m.handle_timeout(now);
            // Events before requests: an answer queued by dispatch rides in
            // the next request, and an expected one keeps the poll back.
            while let Some(ev) = m.poll_event() {
                match ev {
                    StreamEvent::Online { jid, sid } => {
                        info!(%jid, %sid, "xmpp session online");
                        let reconnected = own.is_some();
                        policy.online(std::time::Instant::now());
                        self.failover.online();
                        *own = Some(jid.clone());
                        own_jid = Some(jid.clone());
                        self.shared.link.send_replace(Link::Online(jid.clone()));
                        self.emit(ClientEvent::Online { jid, reconnected });
                    }
                    StreamEvent::Stanza(el) => {
                        self.dispatch(&mut m, &mut expected, now, el, own_jid.as_ref())
                    }
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
            match expected.until(now) {
                Some(until) => m.expect_send(now, until),
                None => m.expect_none(),
            }
            while let Some(req) = m.poll_request(now) {
                let stats = &self.shared.stats;
                stats.http_requests.fetch_add(1, Ordering::Relaxed);
                if req.attempt > 0 {
                    stats.retransmissions.fetch_add(1, Ordering::Relaxed);
                    info!(
                        rid = req.rid.0,
                        attempt = req.attempt,
                        "BOSH request sent again"
                    );
                }
                let http = self.http.clone();
                let url = url.clone();
                let tx = resp_tx.clone();
                let shared = self.shared.clone();
                let route = route.clone();
                tokio::spawn(async move {
                    let rid = req.rid;
                    let res = post(&http, &url, &req)
                        .await
                        .map_err(|f| proxy_refusal(route.as_deref(), f));
                    if let Err(f) = &res {
                        shared.stats.http_failed(f);
                        warn!(rid = rid.0, attempt = req.attempt, %url, "BOSH request failed: {f}");
                        shared.stats.set_last_error(format!(
                            "BOSH request rid {} to {url} failed: {f}",
                            rid.0
                        ));
                    }
                    let _ = tx.send((rid, res));
                });
            }
            // Something fell due while we worked (e.g. the send gap passed):
            // go round again rather than sleep past it.
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
                                    expected.sent(&el);
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

    fn dispatch(
        &self,
        m: &mut XmppStream,
        expected: &mut Expected,
        now: std::time::Instant,
        el: Element,
        own: Option<&Jid>,
    ) {
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
                // Its caller (e.g. the replication sender) is likely to send next.
                expected.answered(now);
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
                // Requests (XEP-0199 ping included) are the application's: `smartserver::dispatch`.
                expected.delivered(now, &el);
                if let Err(mpsc::error::SendError(ClientEvent::Stanza(el))) =
                    self.ev_tx.send(ClientEvent::Stanza(el))
                {
                    let refusal = stanza::iq_error(&el, &StanzaError::service_unavailable());
                    m.send(&refusal);
                    expected.sent(&refusal);
                }
            }
            None => {
                let _ = self.ev_tx.send(ClientEvent::Stanza(el));
            }
        }
    }
}

/// Whether the connection manager at `url` answers at all (any status
/// below 500: a 5xx is a gateway speaking for a server it cannot reach).
/// Waits until `at` first; a cheap GET through the same HTTP client, so
/// that proxies and TLS settings apply as they do to logins.
async fn probe(http: &reqwest::Client, url: &str, at: Option<Instant>) -> bool {
    sleep_opt(at).await;
    match http.get(url).timeout(PROBE_TIMEOUT).send().await {
        Ok(resp) => {
            debug!(%url, status = resp.status().as_u16(), "probe answered");
            resp.status().as_u16() < 500
        }
        Err(e) => {
            debug!(%url, error = %error_chain(&e), "probe failed");
            false
        }
    }
}

/// How long a probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

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

/// A request the proxy refused never got past it: a connect failure, explained for the operator
/// (which proxy, which setting to check).
fn proxy_refusal(route: Option<&(reqwest::Url, Route)>, f: HttpFailure) -> HttpFailure {
    let Some((target, route)) = route else {
        return f;
    };
    let explained = match &f {
        HttpFailure::Status(s) => route.auth_refusal(*s),
        HttpFailure::Connect(text) => route.tunnel_refusal(target, text),
        _ => None,
    };
    explained.map_or(f, HttpFailure::Connect)
}

async fn post(http: &reqwest::Client, url: &str, req: &HttpRequest) -> Result<String, HttpFailure> {
    let exchange = async {
        let mut resp = http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(req.body.to_string())
            .send()
            .await
            .map_err(|e| {
                // A certificate that does not verify, in the operator's words (never plain HTTP).
                let text = tls_failure(url, &e).unwrap_or_else(|| error_chain(&e));
                if e.is_connect() {
                    HttpFailure::Connect(text)
                } else {
                    HttpFailure::Transport(text)
                }
            })?;
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
