//! The replication state report of `webbinder state` and `GET /state` (SPEC §2, §7): per host
//! its JID, online/offline, queue depth, oldest queued age, delivered/failed counts, last
//! success and error; per connection the last value enqueued and acknowledged; dead letters.
//!
//! Built from the store alone (agent stopped) or with the running agent's live status.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::bindings::BindingSet;
use crate::datapoints::clock::iso8601_utc;
use crate::replication::{HostStatus, LOCAL_QUEUE};
use crate::store::{Store, StoreError, StuckKind};
use crate::xmpp::session::Client;

/// The whole report (one JSON document with `--json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateReport {
    /// Whether the report comes from the running agent (`true`) or the store on disk.
    pub running: bool,
    /// The store's epoch (changes only if the store is recreated).
    pub epoch: u64,
    pub hosts: Vec<HostReport>,
    pub connections: Vec<ConnectionReport>,
    pub dead_letters: Vec<DeadLetterReport>,
    /// The XMPP link of the running agent (absent when it is stopped).
    #[serde(default)]
    pub xmpp: Option<XmppReport>,
}

/// What the XMPP link went through since the agent started: what a failing
/// network did (issue 10) without reading the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XmppReport {
    /// The BOSH URL in use.
    pub server: String,
    /// The link state (`online as ...`, `offline: ...`).
    pub link: String,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    /// Login attempts (sessions started), including the first.
    pub sessions: u64,
    pub reconnects: u64,
    pub http_requests: u64,
    pub http_failures: HttpFailures,
    /// Requests sent again after a failure (same rid).
    #[serde(default)]
    pub retransmissions: u64,
    /// Sessions given up because the server stopped answering an older request.
    #[serde(default)]
    pub stalls: u64,
    /// Sessions replaced by another login as the same JID.
    #[serde(default)]
    pub conflicts: u64,
    /// Reconnect delays cut short because the server answered a probe.
    #[serde(default)]
    pub probe_cuts: u64,
}

/// Failed HTTP exchanges with the connection manager, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpFailures {
    /// No connection: refused, unreachable, DNS, a TLS handshake or certificate refused.
    #[serde(default)]
    pub connect: u64,
    /// No response before the request timeout (BOSH `wait` + margin).
    pub timeouts: u64,
    /// Reset, closed, truncated after connecting: failures below HTTP.
    pub transport: u64,
    /// 5xx answers (a gateway or the server).
    pub status_5xx: u64,
    /// Other non-200 answers.
    #[serde(default)]
    pub status_other: u64,
}

/// The running client's link, for [`StateReport::xmpp`].
pub fn xmpp_report(client: &Client) -> XmppReport {
    let st = client.stats();
    let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let last = st.last_error();
    XmppReport {
        server: client.server(),
        link: client.link().borrow().to_string(),
        last_error_at: last.as_ref().map(|(t, _)| iso8601_utc(*t)),
        last_error: last.map(|(_, e)| e),
        sessions: n(&st.sessions_started),
        reconnects: n(&st.reconnects),
        http_requests: n(&st.http_requests),
        http_failures: HttpFailures {
            connect: n(&st.http_connect_errors),
            timeouts: n(&st.http_timeouts),
            transport: n(&st.http_transport_errors),
            status_5xx: n(&st.http_5xx),
            status_other: n(&st.http_other_status),
        },
        retransmissions: n(&st.retransmissions),
        stalls: n(&st.stalls),
        conflicts: n(&st.conflicts),
        probe_cuts: n(&st.probe_cuts),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostReport {
    /// The alias of the binding files (`(internal)` for internal connections).
    pub name: String,
    /// The peer's JID; `None` for internal connections or a host no longer configured.
    pub jid: Option<String>,
    /// Whether the host is in the bindings in force.
    pub configured: bool,
    /// `online`, `offline` or `unknown` (not tried yet, or the agent is stopped).
    pub status: String,
    pub queue_depth: u64,
    /// Seconds the oldest queued write has waited.
    pub oldest_queued_age_s: Option<f64>,
    pub delivered: u64,
    pub failed: u64,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    /// Why the queue's head cannot be delivered, when it cannot (SPEC §6.7).
    #[serde(default)]
    pub stuck: Option<StuckReport>,
    /// Writes dropped by `webbinder purge`.
    #[serde(default)]
    pub purged: u64,
}

/// A stuck queue: its head write is not sent until purged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StuckReport {
    /// The head write's seq.
    pub seq: u64,
    /// `too-large` or `session-losses`.
    pub kind: String,
    /// The explanation, naming the write, its size and the limit.
    pub reason: String,
    pub since: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionReport {
    pub key: String,
    pub last_enqueued: Option<String>,
    pub last_enqueued_at: Option<String>,
    pub last_acked: Option<String>,
    pub last_acked_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterReport {
    pub host: String,
    pub seq: u64,
    pub target: String,
    pub value: String,
    pub reason: String,
    pub at: String,
}

/// Builds the report from the store, the bindings (if known) and live status (if running).
pub fn build(
    store: &Store,
    bindings: Option<&BindingSet>,
    live: Option<&HashMap<String, HostStatus>>,
) -> Result<StateReport, StoreError> {
    let now = SystemTime::now();
    let mut names: BTreeMap<String, ()> = store.hosts()?.into_iter().map(|h| (h, ())).collect();
    if let Some(b) = bindings {
        for h in b.hosts.keys() {
            names.insert(h.clone(), ());
        }
        if b.connections.iter().any(|c| c.host.is_none()) {
            names.insert(LOCAL_QUEUE.to_owned(), ());
        }
    }
    let mut hosts = Vec::new();
    for name in names.into_keys() {
        let stats = store.host_stats(&name)?;
        let host = bindings.and_then(|b| b.hosts.get(&name));
        let status = live.and_then(|l| l.get(&name));
        let status = match status.and_then(|s| s.online) {
            Some(true) => "online",
            Some(false) => "offline",
            None => "unknown",
        };
        hosts.push(HostReport {
            jid: host.map(|h| h.jid.to_string()),
            configured: host.is_some() || (name == LOCAL_QUEUE && bindings.is_some()),
            status: status.to_owned(),
            queue_depth: stats.depth,
            oldest_queued_age_s: stats
                .oldest_enqueued_at
                .map(|t| now.duration_since(t).map_or(0.0, |d| d.as_secs_f64())),
            delivered: stats.delivered,
            failed: stats.failed,
            last_success: stats.last_success.map(iso8601_utc),
            last_error_at: stats.last_error.as_ref().map(|(t, _)| iso8601_utc(*t)),
            last_error: stats.last_error.map(|(_, e)| e),
            stuck: stats.stuck.map(|s| StuckReport {
                seq: s.seq,
                kind: match s.kind {
                    StuckKind::TooLarge => "too-large",
                    StuckKind::SessionLosses => "session-losses",
                }
                .to_owned(),
                reason: s.reason,
                since: iso8601_utc(s.since),
            }),
            purged: stats.purged,
            name,
        });
    }
    let connections = store
        .connections()?
        .into_iter()
        .map(|(key, rec)| ConnectionReport {
            key,
            last_enqueued_at: rec.last_enqueued.as_ref().map(|(_, t)| iso8601_utc(*t)),
            last_enqueued: rec.last_enqueued.map(|(v, _)| v),
            last_acked_at: rec.last_acked.as_ref().map(|(_, t)| iso8601_utc(*t)),
            last_acked: rec.last_acked.map(|(v, _)| v),
        })
        .collect();
    let dead_letters = store
        .dead_letters()?
        .into_iter()
        .map(|d| DeadLetterReport {
            host: d.host,
            seq: d.seq,
            target: d.write.target,
            value: d.write.value,
            reason: d.reason,
            at: iso8601_utc(d.at),
        })
        .collect();
    Ok(StateReport {
        running: live.is_some(),
        epoch: store.epoch(),
        hosts,
        connections,
        dead_letters,
        xmpp: None,
    })
}

/// The human-readable form printed by `webbinder state`.
pub fn render(r: &StateReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "agent: {} (store epoch {})",
        if r.running { "running" } else { "stopped" },
        r.epoch
    );
    if let Some(x) = &r.xmpp {
        render_xmpp(&mut out, x);
    }
    let _ = writeln!(out, "hosts:");
    if r.hosts.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for h in &r.hosts {
        let _ = writeln!(
            out,
            "  {} {} [{}{}] queue {} (oldest {}) delivered {} failed {}",
            h.name,
            h.jid.as_deref().unwrap_or("-"),
            h.status,
            if h.configured { "" } else { ", not configured" },
            h.queue_depth,
            h.oldest_queued_age_s
                .map_or_else(|| "-".to_owned(), |s| format!("{s:.1}s")),
            h.delivered,
            h.failed,
        );
        if let Some(s) = &h.stuck {
            let _ = writeln!(
                out,
                "    STUCK since {} at seq {}: {}",
                s.since, s.seq, s.reason
            );
        }
        if h.purged > 0 {
            let _ = writeln!(out, "    purged {}", h.purged);
        }
        if let Some(t) = &h.last_success {
            let _ = writeln!(out, "    last success {t}");
        }
        if let (Some(e), Some(t)) = (&h.last_error, &h.last_error_at) {
            let _ = writeln!(out, "    last error {t}: {e}");
        }
    }
    let _ = writeln!(out, "connections:");
    if r.connections.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for c in &r.connections {
        let _ = writeln!(
            out,
            "  {}: enqueued {} acked {}",
            c.key,
            c.last_enqueued.as_deref().unwrap_or("-"),
            c.last_acked.as_deref().unwrap_or("-"),
        );
    }
    let _ = writeln!(out, "dead letters: {}", r.dead_letters.len());
    for d in &r.dead_letters {
        let _ = writeln!(
            out,
            "  {} seq {} {} = {} at {}: {}",
            d.host, d.seq, d.target, d.value, d.at, d.reason
        );
    }
    out
}

fn render_xmpp(out: &mut String, x: &XmppReport) {
    let f = &x.http_failures;
    let _ = writeln!(out, "xmpp: {} via {}", x.link, x.server);
    let _ = writeln!(
        out,
        "  sessions {} reconnects {} requests {} retransmitted {} stalls {} conflicts {} probe cuts {}",
        x.sessions,
        x.reconnects,
        x.http_requests,
        x.retransmissions,
        x.stalls,
        x.conflicts,
        x.probe_cuts
    );
    let _ = writeln!(
        out,
        "  http failures: connect {} timeouts {} transport {} 5xx {} other {}",
        f.connect, f.timeouts, f.transport, f.status_5xx, f.status_other
    );
    if let (Some(e), Some(t)) = (&x.last_error, &x.last_error_at) {
        let _ = writeln!(out, "  last error {t}: {e}");
    }
}

/// Body of the admin endpoint's `POST /purge` (`webbinder purge` on a running agent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeRequest {
    /// The host alias whose queue is purged.
    pub host: String,
    /// Only this connection's writes (its key, `SOURCE -> HOST:TARGET`).
    #[serde(default)]
    pub connection: Option<String>,
    /// Only writes with seq <= this (what the operator was shown); all when absent.
    #[serde(default)]
    pub upto: Option<u64>,
    /// Only report what would be dropped.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a purge dropped (or, with `dry_run`, would drop).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeReport {
    pub host: String,
    pub dry_run: bool,
    pub count: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub connections: Vec<PurgedConnectionReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgedConnectionReport {
    pub connection: String,
    pub count: u64,
    pub first_seq: u64,
    pub last_seq: u64,
}

impl PurgeReport {
    /// The report of `summary` for `host`.
    pub fn of(host: &str, dry_run: bool, summary: &crate::store::PurgeSummary) -> PurgeReport {
        PurgeReport {
            host: host.to_owned(),
            dry_run,
            count: summary.count,
            first_seq: summary.seq_range.map(|r| r.0),
            last_seq: summary.seq_range.map(|r| r.1),
            connections: summary
                .connections
                .iter()
                .map(|c| PurgedConnectionReport {
                    connection: c.connection.clone(),
                    count: c.count,
                    first_seq: c.first_seq,
                    last_seq: c.last_seq,
                })
                .collect(),
        }
    }
}

/// The human-readable form printed by `webbinder purge`.
pub fn render_purge(r: &PurgeReport) -> String {
    let mut out = String::new();
    let verb = if r.dry_run { "would drop" } else { "dropped" };
    match (r.first_seq, r.last_seq) {
        (Some(first), Some(last)) if r.count > 0 => {
            let _ = writeln!(
                out,
                "host {}: {verb} {} queued write(s), seq {first}..{last}",
                r.host, r.count
            );
        }
        _ => {
            let _ = writeln!(out, "host {}: no queued write matches", r.host);
        }
    }
    for c in &r.connections {
        let _ = writeln!(
            out,
            "  {}: {} write(s), seq {}..{}",
            c.connection, c.count, c.first_seq, c.last_seq
        );
    }
    out
}

/// The store key of the connection `SOURCE->TARGET` to `host` (the `--connection` argument of
/// `webbinder purge`); `None` if `spec` has no `->`. Internal connections (queue
/// `(internal)`) have an empty host in their key.
pub fn connection_key(host: &str, spec: &str) -> Option<String> {
    let (source, target) = spec.split_once("->")?;
    let host = if host == LOCAL_QUEUE { "" } else { host };
    Some(format!("{} -> {host}:{}", source.trim(), target.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_keys_match_the_binding_keys() {
        assert_eq!(
            connection_key("site-b", "Net/LON/a b->Net/LON/c").as_deref(),
            Some("Net/LON/a b -> site-b:Net/LON/c")
        );
        assert_eq!(connection_key("h", " S -> T ").as_deref(), Some("S -> h:T"));
        assert_eq!(connection_key("h", "S=>T"), None);
        assert_eq!(
            connection_key(LOCAL_QUEUE, "S->T").as_deref(),
            Some("S -> :T")
        );
    }

    #[test]
    fn purge_reports_name_counts_ranges_and_connections() {
        let summary = crate::store::PurgeSummary {
            count: 3,
            seq_range: Some((5, 9)),
            connections: vec![crate::store::PurgedConnection {
                connection: "S -> h:T".into(),
                count: 3,
                first_seq: 5,
                last_seq: 9,
            }],
        };
        let text = render_purge(&PurgeReport::of("h", true, &summary));
        assert_eq!(
            text,
            "host h: would drop 3 queued write(s), seq 5..9\n  S -> h:T: 3 write(s), seq 5..9\n"
        );
        let none = PurgeReport::of("h", false, &crate::store::PurgeSummary::default());
        assert_eq!(render_purge(&none), "host h: no queued write matches\n");
    }

    #[test]
    fn an_old_report_without_xmpp_still_parses_and_a_new_one_prints_it() {
        let old = r#"{"running":true,"epoch":1,"hosts":[],"connections":[],"dead_letters":[]}"#;
        let r: StateReport = serde_json::from_str(old).unwrap();
        assert_eq!(r.xmpp, None);
        assert!(!render(&r).contains("xmpp:"));
        let mut r = r;
        r.xmpp = Some(XmppReport {
            server: "http://cm:5280/bosh".into(),
            link: "offline: cannot reach the connection manager".into(),
            last_error: Some("session lost: x".into()),
            last_error_at: Some("2026-11-30T00:00:00Z".into()),
            sessions: 3,
            reconnects: 2,
            http_requests: 40,
            http_failures: HttpFailures {
                connect: 6,
                timeouts: 1,
                transport: 4,
                status_5xx: 2,
                status_other: 0,
            },
            retransmissions: 5,
            stalls: 1,
            conflicts: 0,
            probe_cuts: 1,
        });
        let text = render(&r);
        assert!(
            text.contains(
                "xmpp: offline: cannot reach the connection manager via http://cm:5280/bosh"
            ),
            "{text}"
        );
        assert!(
            text.contains("connect 6 timeouts 1 transport 4 5xx 2 other 0"),
            "{text}"
        );
        assert!(
            text.contains("last error 2026-11-30T00:00:00Z: session lost: x"),
            "{text}"
        );
        let back: StateReport = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
