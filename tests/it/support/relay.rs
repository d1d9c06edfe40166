//! A fault-injecting TCP relay between an agent and the connection manager (issue 10): it
//! forwards HTTP/1.1 requests whole (so that it knows where one ends) and responses as they
//! come, and can be switched at run time to delay, stall, reset, blackhole, refuse, or answer
//! 5xx itself. It records the BOSH `sid`/`rid` of every request in the order it was written
//! to the server, so a test can check that no request overtook an older one (ejabberd E10,
//! notes/xmpp-servers.md).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// What the relay does with traffic from now on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Pass,
    /// Each request, and each response chunk, waits `fixed` plus a uniform share of `jitter`
    /// (per connection, so requests on two connections can swap places).
    Delay {
        fixed: Duration,
        jitter: Duration,
    },
    /// Only empty BOSH bodies (idle polls) wait this long, so that a request with stanzas sent
    /// right after one reaches the server first: the reordering of ejabberd's E10.
    DelayPolls(Duration),
    /// The first request on each new connection waits this long: a connection setup that
    /// takes a round trip or three (TCP, TLS) on a real network.
    SlowConnect(Duration),
    /// Requests are read and dropped: the connection carrying one stays silent for good.
    Stall,
    /// Half of each request reaches the server, then both sides are reset (RST).
    ResetRequest,
    /// Requests go through; half of the next response reaches the client, then RST.
    ResetResponse,
    /// New connections are accepted and read, existing ones go silent; nothing is answered.
    Blackhole,
    /// New connections are reset at once (a server that is down).
    Refuse,
    /// Each request is answered by the relay with this status (e.g. 502, 503).
    Status(u16),
}

/// One request from the client: written to the server, or killed by a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    pub conn: u64,
    /// Written to the server whole (false: swallowed, reset, answered by the relay).
    pub forwarded: bool,
    /// `None` for a session creation request.
    pub sid: Option<String>,
    pub rid: Option<u64>,
    pub at: Instant,
}

struct Ctl {
    mode: Mutex<Mode>,
    log: Mutex<Vec<Forwarded>>,
    /// When a response started coming back, per connection.
    answers: Mutex<Vec<(u64, Instant)>>,
    /// Faults acted out: resets, refusals, relay answers, swallowed requests.
    faults: AtomicU64,
    next_conn: AtomicU64,
}

impl Ctl {
    fn mode(&self) -> Mode {
        self.mode
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A running relay on a loopback port; dropped, it stops and closes every connection.
pub struct Relay {
    pub port: u16,
    ctl: Arc<Ctl>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Listens on a free loopback port and forwards to `127.0.0.1:upstream`.
    pub async fn start(upstream: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay bind");
        let port = listener.local_addr().expect("relay addr").port();
        let ctl = Arc::new(Ctl {
            mode: Mutex::new(Mode::Pass),
            log: Mutex::new(Vec::new()),
            answers: Mutex::new(Vec::new()),
            faults: AtomicU64::new(0),
            next_conn: AtomicU64::new(1),
        });
        let up: SocketAddr = ([127, 0, 0, 1], upstream).into();
        let c = ctl.clone();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    acc = listener.accept() => {
                        let Ok((client, _)) = acc else { continue };
                        let id = c.next_conn.fetch_add(1, Ordering::Relaxed);
                        conns.spawn(connection(c.clone(), id, client, up));
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Relay { port, ctl, task }
    }

    pub fn set(&self, mode: Mode) {
        *self.ctl.mode.lock().unwrap_or_else(PoisonError::into_inner) = mode;
    }

    /// Faults acted out so far (resets, refusals, own answers, swallowed requests).
    pub fn faults(&self) -> u64 {
        self.ctl.faults.load(Ordering::Relaxed)
    }

    /// Every request written to the server so far, in that order.
    pub fn log(&self) -> Vec<Forwarded> {
        self.ctl
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What went to the server and came back since `since`, one line per event, oldest
    /// first: `+ms conn rid` for requests, `+ms conn <- answer` for responses (each answers
    /// the last request on its connection).
    pub fn timeline(&self, since: Instant) -> String {
        let mut ev: Vec<(Instant, String)> = self
            .log()
            .into_iter()
            .filter(|f| f.at >= since)
            .map(|f| {
                let what = match (&f.sid, f.rid) {
                    (None, Some(rid)) => format!("rid {rid} (new session)"),
                    (_, Some(rid)) => format!("rid {rid}"),
                    _ => "(no rid)".to_owned(),
                };
                let arrow = if f.forwarded { "->" } else { "-x (killed)" };
                (f.at, format!("conn {} {arrow} {what}", f.conn))
            })
            .collect();
        for (conn, at) in self
            .ctl
            .answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            if *at >= since {
                ev.push((*at, format!("conn {conn} <- answer")));
            }
        }
        ev.sort_by_key(|(t, _)| *t);
        ev.iter()
            .map(|(t, e)| format!("+{:>6} ms {e}\n", t.duration_since(since).as_millis()))
            .collect()
    }

    /// First transmissions written to the server after a newer rid of the same session:
    /// `(sid, late rid, newer rid written before it)`. Retransmissions are fine.
    pub fn overtaken(&self) -> Vec<(String, u64, u64)> {
        overtaken(&self.log())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How long the client may take to notice a killed request before a newer one it sends
/// counts as overtaking it.
const NOTICE: Duration = Duration::from_millis(100);

/// See [`Relay::overtaken`]: a first transmission written to the server after a newer rid
/// of its session was (network reordering), or while an older rid the relay killed more
/// than [`NOTICE`] before had not been sent again (the client did not hold new requests
/// back behind a retransmission).
pub fn overtaken(log: &[Forwarded]) -> Vec<(String, u64, u64)> {
    use std::collections::{BTreeMap, HashMap, HashSet};
    let mut newest: HashMap<&str, u64> = HashMap::new();
    let mut seen: HashSet<(&str, u64)> = HashSet::new();
    let mut killed: HashMap<&str, BTreeMap<u64, Instant>> = HashMap::new();
    let mut bad = Vec::new();
    for f in log {
        let (Some(sid), Some(rid)) = (f.sid.as_deref(), f.rid) else {
            continue;
        };
        let first = seen.insert((sid, rid));
        let k = killed.entry(sid).or_default();
        if !f.forwarded {
            k.entry(rid).or_insert(f.at);
            continue;
        }
        k.remove(&rid);
        if first
            && let Some((old, _)) = k
                .range(..rid)
                .find(|(_, at)| f.at.duration_since(**at) > NOTICE)
        {
            bad.push((sid.to_owned(), rid, *old));
        }
        let n = newest.entry(sid).or_insert(rid);
        if rid > *n {
            *n = rid;
        } else if rid < *n && first {
            bad.push((sid.to_owned(), rid, *n));
        }
    }
    bad
}

/// Where one request ends in `buf`, if it is complete.
fn request_end(buf: &[u8]) -> Option<usize> {
    let head = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = String::from_utf8_lossy(&buf[..head]);
    let len = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (buf.len() >= head + len).then_some(head + len)
}

/// The value of attribute `name` of the first element in `body`.
fn attr(body: &str, name: &str) -> Option<String> {
    let root = body.split_once("<body")?.1;
    let root = &root[..root.find('>')?];
    let at = root.find(&format!(" {name}="))? + name.len() + 2;
    let quote = root[at..].chars().next()?;
    let rest = &root[at + 1..];
    Some(rest[..rest.find(quote)?].to_owned())
}

fn reason(status: u16) -> &'static str {
    match status {
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

fn reset(s: TcpStream) {
    let _ = s.set_zero_linger();
    drop(s);
}

async fn read_opt(s: &mut Option<TcpStream>, buf: &mut [u8]) -> std::io::Result<usize> {
    match s {
        Some(s) => s.read(buf).await,
        None => std::future::pending().await,
    }
}

fn pause(mode: &Mode, request: Option<&[u8]>) -> Option<Duration> {
    match mode {
        Mode::Delay { fixed, jitter } => Some(*fixed + jitter.mul_f64(rand::random::<f64>())),
        Mode::DelayPolls(d) => request.filter(|r| is_empty_poll(r)).map(|_| *d),
        _ => None,
    }
}

/// Whether an HTTP request carries a BOSH body without children (and no restart).
fn is_empty_poll(req: &[u8]) -> bool {
    let text = String::from_utf8_lossy(req);
    let Some((_, body)) = text.split_once("<body") else {
        return false;
    };
    body.trim_end().ends_with("/>") && !body.contains("restart") && body.contains(" sid=")
}

async fn connection(ctl: Arc<Ctl>, id: u64, mut client: TcpStream, up: SocketAddr) {
    match ctl.mode() {
        Mode::Refuse => {
            ctl.faults.fetch_add(1, Ordering::Relaxed);
            return reset(client);
        }
        Mode::Blackhole => {
            ctl.faults.fetch_add(1, Ordering::Relaxed);
            return swallow(client).await;
        }
        _ => {}
    }
    // Connected at once, so that the relay itself adds no setup time to a new connection.
    let mut upstream: Option<TcpStream> = match TcpStream::connect(up).await {
        Ok(s) => {
            let _ = s.set_nodelay(true);
            Some(s)
        }
        Err(_) => return reset(client),
    };
    let mut first_request = true;
    let mut pending: Vec<u8> = Vec::new();
    let mut cbuf = vec![0u8; 64 * 1024];
    let mut sbuf = vec![0u8; 64 * 1024];
    let mut cut_response = false;
    loop {
        tokio::select! {
            r = client.read(&mut cbuf) => {
                let n = match r { Ok(0) | Err(_) => return, Ok(n) => n };
                pending.extend_from_slice(&cbuf[..n]);
                while let Some(end) = request_end(&pending) {
                    let req: Vec<u8> = pending.drain(..end).collect();
                    let mode = ctl.mode();
                    match mode {
                        Mode::Stall | Mode::Blackhole => {
                            note(&ctl, id, &req, false);
                            return swallow(client).await;
                        }
                        Mode::Refuse => {
                            note(&ctl, id, &req, false);
                            return reset(client);
                        }
                        Mode::Status(code) => {
                            note(&ctl, id, &req, false);
                            let resp = format!(
                                "HTTP/1.1 {code} {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                                reason(code)
                            );
                            let _ = client.write_all(resp.as_bytes()).await;
                            let _ = client.shutdown().await;
                            return;
                        }
                        _ => {}
                    }
                    if let Some(d) = pause(&mode, Some(&req)) {
                        tokio::time::sleep(d).await;
                    }
                    if let (Mode::SlowConnect(d), true) = (&mode, first_request) {
                        tokio::time::sleep(*d).await;
                    }
                    first_request = false;
                    let Some(server) = upstream.as_mut() else { return reset(client) };
                    if mode == Mode::ResetRequest {
                        note(&ctl, id, &req, false);
                        let _ = server.write_all(&req[..req.len() / 2]).await;
                        if let Some(s) = upstream.take() {
                            reset(s);
                        }
                        return reset(client);
                    }
                    if server.write_all(&req).await.is_err() {
                        return reset(client);
                    }
                    note(&ctl, id, &req, true);
                    cut_response |= mode == Mode::ResetResponse;
                }
            }
            r = read_opt(&mut upstream, &mut sbuf) => {
                let n = match r { Ok(0) | Err(_) => return, Ok(n) => n };
                let mode = ctl.mode();
                if mode == Mode::Blackhole {
                    ctl.faults.fetch_add(1, Ordering::Relaxed);
                    return swallow(client).await;
                }
                if let Some(d) = pause(&mode, None) {
                    tokio::time::sleep(d).await;
                }
                if sbuf[..n].starts_with(b"HTTP/") {
                    ctl.answers.lock().unwrap_or_else(PoisonError::into_inner).push((id, Instant::now()));
                }
                if cut_response {
                    ctl.faults.fetch_add(1, Ordering::Relaxed);
                    let _ = client.write_all(&sbuf[..n / 2]).await;
                    return reset(client);
                }
                if client.write_all(&sbuf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Logs a request; one not forwarded counts as a fault acted out.
fn note(ctl: &Ctl, conn: u64, req: &[u8], forwarded: bool) {
    if !forwarded {
        ctl.faults.fetch_add(1, Ordering::Relaxed);
    }
    let body = String::from_utf8_lossy(req);
    ctl.log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Forwarded {
            conn,
            forwarded,
            sid: attr(&body, "sid"),
            rid: attr(&body, "rid").and_then(|r| r.parse().ok()),
            at: Instant::now(),
        });
}

/// Reads and drops everything until the client gives up: a silent peer.
async fn swallow(mut client: TcpStream) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = client.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(sid: &str, rid: u64) -> Forwarded {
        Forwarded {
            conn: 0,
            forwarded: true,
            sid: Some(sid.into()),
            rid: Some(rid),
            at: Instant::now(),
        }
    }

    #[test]
    fn overtaking_is_a_first_transmission_after_a_newer_rid() {
        let ok = [f("s", 1), f("s", 2), f("s", 2), f("s", 1), f("s", 3)];
        assert!(overtaken(&ok).is_empty());
        let bad = [f("s", 1), f("s", 3), f("s", 2), f("t", 1)];
        assert_eq!(overtaken(&bad), vec![("s".to_owned(), 2, 3)]);
        // A killed request sent again after a newer one: the newer one overtook it.
        let t = Instant::now();
        let killed = Forwarded {
            forwarded: false,
            at: t,
            ..f("s", 2)
        };
        let late = |rid, ms| Forwarded {
            at: t + Duration::from_millis(ms),
            ..f("s", rid)
        };
        let log = [f("s", 1), killed.clone(), late(2, 300), late(3, 400)];
        assert!(overtaken(&log).is_empty(), "sent again first");
        let log = [f("s", 1), killed.clone(), late(3, 20), late(2, 300)];
        assert!(overtaken(&log).is_empty(), "too soon to know");
        let log = [f("s", 1), killed, late(3, 300), late(2, 400)];
        assert_eq!(overtaken(&log), vec![("s".to_owned(), 3, 2)]);
    }

    #[test]
    fn parses_rid_sid_and_request_ends() {
        let body = "<body rid='12' xmlns='http://jabber.org/protocol/httpbind' sid=\"ab\"/>";
        assert_eq!(attr(body, "rid").as_deref(), Some("12"));
        assert_eq!(attr(body, "sid").as_deref(), Some("ab"));
        let req = b"POST / HTTP/1.1\r\ncontent-length: 3\r\n\r\nabcPOST";
        assert_eq!(request_end(req), Some(req.len() - 4));
        assert_eq!(
            request_end(b"POST / HTTP/1.1\r\ncontent-length: 3\r\n\r\nab"),
            None
        );
    }
}
