//! The Prometheus text of `/metrics`: a read-only rendering of the agent's counters, apart
//! from the JSON handlers because it shares nothing with them but [`Admin`].

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::Admin;
use crate::replication::LATENCY_BUCKETS;

pub(super) async fn metrics(State(a): State<Admin>) -> Response {
    let mut out = String::new();
    let store = a.replicator.store();
    let _ = writeln!(
        out,
        "# HELP webbinder_queue_depth Writes waiting in a host's durable queue.\n# TYPE webbinder_queue_depth gauge"
    );
    let hosts = store.hosts().unwrap_or_default();
    let stats: Vec<_> = hosts
        .iter()
        .filter_map(|h| store.host_stats(h).ok().map(|s| (h, s)))
        .collect();
    for (h, s) in &stats {
        let _ = writeln!(
            out,
            "webbinder_queue_depth{{host=\"{}\"}} {}",
            label(h),
            s.depth
        );
    }
    let _ = writeln!(
        out,
        "# HELP webbinder_delivered_total Writes acknowledged by a host.\n# TYPE webbinder_delivered_total counter"
    );
    for (h, s) in &stats {
        let _ = writeln!(
            out,
            "webbinder_delivered_total{{host=\"{}\"}} {}",
            label(h),
            s.delivered
        );
    }
    let _ = writeln!(
        out,
        "# HELP webbinder_failed_total Writes a host refused (dead-lettered).\n# TYPE webbinder_failed_total counter"
    );
    for (h, s) in &stats {
        let _ = writeln!(
            out,
            "webbinder_failed_total{{host=\"{}\"}} {}",
            label(h),
            s.failed
        );
    }
    let _ = writeln!(
        out,
        "# HELP webbinder_queue_stuck Whether a host's queue is stuck on a head it cannot deliver (see state).\n# TYPE webbinder_queue_stuck gauge"
    );
    for (h, s) in &stats {
        let _ = writeln!(
            out,
            "webbinder_queue_stuck{{host=\"{}\"}} {}",
            label(h),
            u8::from(s.stuck.is_some())
        );
    }
    let _ = writeln!(
        out,
        "# HELP webbinder_purged_total Queued writes an operator dropped with purge.\n# TYPE webbinder_purged_total counter"
    );
    for (h, s) in &stats {
        let _ = writeln!(
            out,
            "webbinder_purged_total{{host=\"{}\"}} {}",
            label(h),
            s.purged
        );
    }
    let lat = a.replicator.latency();
    let _ = writeln!(
        out,
        "# HELP webbinder_write_latency_seconds From enqueue to acknowledgement.\n# TYPE webbinder_write_latency_seconds histogram"
    );
    for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
        let n = lat.buckets.get(i).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "webbinder_write_latency_seconds_bucket{{le=\"{b}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "webbinder_write_latency_seconds_bucket{{le=\"+Inf\"}} {}\nwebbinder_write_latency_seconds_sum {}\nwebbinder_write_latency_seconds_count {}",
        lat.count, lat.sum, lat.count
    );
    let st = a.client.stats();
    let counters = [
        (
            "webbinder_bosh_requests_total",
            "BOSH HTTP requests sent.",
            st.http_requests.load(Ordering::Relaxed),
        ),
        (
            "webbinder_reconnects_total",
            "XMPP session re-establishments.",
            st.reconnects.load(Ordering::Relaxed),
        ),
        (
            "webbinder_xmpp_conflicts_total",
            "Sessions replaced by another client logging in as our JID (same MAC ID twice?).",
            st.conflicts.load(Ordering::Relaxed),
        ),
        (
            "webbinder_bosh_retransmissions_total",
            "BOSH requests sent again (same rid) after a failure.",
            st.retransmissions.load(Ordering::Relaxed),
        ),
        (
            "webbinder_bosh_stalls_total",
            "Sessions given up because the server stopped answering an older request.",
            st.stalls.load(Ordering::Relaxed),
        ),
        (
            "webbinder_reconnect_probe_cuts_total",
            "Reconnect waits cut short because the server answered a probe again.",
            st.probe_cuts.load(Ordering::Relaxed),
        ),
        (
            "webbinder_stanzas_rejected_total",
            "Incoming stanzas dropped for exceeding a parser limit.",
            st.stanzas_rejected.load(Ordering::Relaxed),
        ),
        (
            "webbinder_store_commit_stalls_total",
            "Store commits that took longer than the stall bound (sled stall).",
            store.commit_stalls_total(),
        ),
        (
            "webbinder_binding_reloads_total",
            "Binding sets swapped in by hot reload.",
            a.reloads.reloads.load(Ordering::Relaxed),
        ),
        (
            "webbinder_binding_reload_failures_total",
            "Binding edits rejected (previous bindings kept).",
            a.reloads.failures.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, v) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP webbinder_bosh_http_failures_total Failed HTTP exchanges with the connection manager, by kind.\n# TYPE webbinder_bosh_http_failures_total counter"
    );
    for (kind, counter) in [
        ("connect", &st.http_connect_errors),
        ("timeout", &st.http_timeouts),
        ("transport", &st.http_transport_errors),
        ("5xx", &st.http_5xx),
        ("other", &st.http_other_status),
    ] {
        let _ = writeln!(
            out,
            "webbinder_bosh_http_failures_total{{kind=\"{kind}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// A Prometheus label value, escaped.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
