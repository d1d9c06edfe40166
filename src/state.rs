//! The replication state report of `webbinder state` and `GET /state` (SPEC §2, §7): per host
//! its JID, online/offline, queue depth, oldest queued age, delivered/failed counts, last
//! success and error; per connection the last value enqueued and acknowledged; dead letters.
//!
//! Built from the store alone (agent stopped) or with the running agent's live status.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::bindings::BindingSet;
use crate::datapoints::clock::iso8601_utc;
use crate::replication::{HostStatus, LOCAL_QUEUE};
use crate::store::{Store, StoreError};

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
