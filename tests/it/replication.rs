//! Web connections between real agents (SPEC §4, §6) over ejabberd and Prosody: values are
//! checked at the far end. Site B forwards every update it applies (send_on_delta = 0) to a
//! recording destination R, so R's list is exactly what B applied, in order, duplicates
//! included: that is how "in order, nothing lost, nothing applied twice" is observed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::both_servers;
use crate::support::agent::{
    Agent, SOURCE, SWITCH, TEMP, TEMP_LATEST, TEMP_OUT, admin_write, eventually,
};
use crate::support::recorder::Recorder;
use crate::support::{Kind, Server};

const A_MAC: &str = "08-00-00-1A-7C-62";
const B_MAC: &str = "00-D0-71-02-1B-1C";
const C_MAC: &str = "00-D0-71-02-1B-1D";
const R_MAC: &str = "00-11-22-33-44-55";
const SETTLE: Duration = Duration::from_secs(60);

fn host(name: &str, mac: &str) -> String {
    host_retrying(name, mac, "1s")
}

fn host_retrying(name: &str, mac: &str, retry: &str) -> String {
    format!(
        "[[host]]\nname = \"{name}\"\nmac_id = \"{mac}\"\nretry_time = \"{retry}\"\nconnection_timeout = \"10s\"\n\n"
    )
}

fn conn(source: &str, host: Option<&str>, target: &str, extra: &str) -> String {
    let host = host
        .map(|h| format!("host = \"{h}\"\n"))
        .unwrap_or_default();
    format!("[[connection]]\nsource = \"{source}\"\n{host}target = \"{target}\"\n{extra}\n")
}

/// Targets of B's forwarding to R, one per B datapoint watched.
fn fwd(name: &str) -> String {
    format!("B:{name}")
}

struct Sites {
    server: Server,
    a: Agent,
    b: Agent,
    rec: Recorder,
}

/// A feeds B (TEMP_OUT -> TEMP every change, TEMP_OUT -> TEMP_LATEST latest, SOURCE -> SWITCH);
/// B forwards every applied update of TEMP, TEMP_LATEST and SWITCH to R.
async fn sites(kind: Kind, a_extra: &str) -> Sites {
    let server = Server::start(kind);
    server.register(&[
        (A_MAC, "pw-a"),
        (B_MAC, "pw-b"),
        (C_MAC, "pw-c"),
        (R_MAC, "pw-r"),
    ]);
    let rec = Recorder::start(&server, R_MAC, "pw-r").await;
    let a = Agent::new(&server, A_MAC, "pw-a", &[]);
    a.write_binding(
        "to-b.toml",
        &(host("site-b", B_MAC)
            + &conn(TEMP_OUT, Some("site-b"), TEMP, "")
            + &conn(
                TEMP_OUT,
                Some("site-b"),
                TEMP_LATEST,
                "delivery = \"latest\"",
            )
            + &conn(SOURCE, Some("site-b"), SWITCH, "")
            + a_extra),
    );
    let b = Agent::new(&server, B_MAC, "pw-b", &[]);
    b.write_binding(
        "b.toml",
        &(host("site-a", A_MAC)
            + &host("rec", R_MAC)
            + &conn(TEMP, Some("rec"), &fwd(TEMP), "send_on_delta = 0")
            + &conn(
                TEMP_LATEST,
                Some("rec"),
                &fwd(TEMP_LATEST),
                "send_on_delta = 0",
            )
            + &conn(SWITCH, Some("rec"), &fwd(SWITCH), "send_on_delta = 0")),
    );
    let mut s = Sites { server, a, b, rec };
    s.b.start();
    s.a.start();
    s.a.wait_online().await;
    s.b.wait_online().await;
    s
}

/// Values of `target` recorded at R after the first occurrence of `from`.
fn after(values: &[String], from: &str) -> Vec<String> {
    match values.iter().position(|v| v == from) {
        Some(i) => values[i..].to_vec(),
        None => Vec::new(),
    }
}

fn temps(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| format!("{i}.0")).collect()
}

async fn wait_recorded(rec: &Recorder, target: &str, last: &str) -> Vec<String> {
    eventually(
        SETTLE,
        &format!("{target} = {last} at the far end"),
        || async {
            let v = rec.values(target);
            (v.last().map(String::as_str) == Some(last)).then_some(v)
        },
    )
    .await
}

async fn every_change_arrives_in_order_with_fan_out_and_internal(kind: Kind) {
    let extra = host("site-c", C_MAC)
        + &conn(SOURCE, Some("site-c"), SWITCH, "")
        + &conn(SOURCE, None, SWITCH, "");
    let mut s = sites(kind, &extra).await;
    let mut c = Agent::new(&s.server, C_MAC, "pw-c", &[]);
    c.write_binding("c.toml", &host("site-a", A_MAC));
    c.start();
    c.wait_online().await;
    for i in 1..=200 {
        s.a.dp_write(TEMP_OUT, &format!("{i}.0")).await.unwrap();
    }
    for v in ["50.0 1", "100.0 1"] {
        s.a.dp_write(SOURCE, v).await.unwrap();
    }
    let seen = wait_recorded(&s.rec, &fwd(TEMP), "200.0").await;
    assert_eq!(
        after(&seen, "1.0"),
        temps(1..=200),
        "every change, in order, once"
    );
    // Fan-out: B and C both got the switch; internal: A's own SWITCH too.
    let seen = wait_recorded(&s.rec, &fwd(SWITCH), "100.0 1").await;
    assert_eq!(after(&seen, "50.0 1"), vec!["50.0 1", "100.0 1"]);
    eventually(SETTLE, "C's switch", || async {
        (c.dp_read(SWITCH).await.as_deref() == Some("100.0 1")).then_some(())
    })
    .await;
    eventually(SETTLE, "A's internal target", || async {
        (s.a.dp_read(SWITCH).await.as_deref() == Some("100.0 1")).then_some(())
    })
    .await;
    assert_eq!(s.b.dp_read(TEMP).await.as_deref(), Some("200.0"));
    let st = s.a.host_state("site-b");
    assert_eq!(st["queue_depth"], 0, "{st}");
    assert_eq!(st["status"], "online", "{st}");
    assert!(st["delivered"].as_u64().unwrap() >= 200, "{st}");
    // `state` also works with the agent stopped, from the store on disk.
    assert_eq!(s.a.stop(), Some(0));
    let stopped = s.a.state_json();
    assert_eq!(stopped["running"], false, "{stopped}");
    let st = s.a.host_state("site-b");
    assert_eq!(st["queue_depth"], 0, "{st}");
    assert!(st["delivered"].as_u64().unwrap() >= 200, "{st}");
    let (code, out, err) = s.a.cli(&["state"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("site-b") && out.contains("stopped"), "{out}");
}

async fn peer_offline_then_back_delivers_everything_in_order(kind: Kind) {
    let mut s = sites(kind, "").await;
    // Settle the initial values first.
    s.a.dp_write(TEMP_OUT, "0.5").await.unwrap();
    wait_recorded(&s.rec, &fwd(TEMP), "0.5").await;
    wait_recorded(&s.rec, &fwd(TEMP_LATEST), "0.5").await;
    assert_eq!(s.b.stop(), Some(0));
    for i in 1..=1000 {
        s.a.dp_write(TEMP_OUT, &format!("{i}.0")).await.unwrap();
    }
    // While B is away: A shows the backlog and B offline.
    let st = eventually(SETTLE, "site-b offline in state", || async {
        let st = s.a.host_state("site-b");
        (st["status"] == "offline").then_some(st)
    })
    .await;
    let depth = st["queue_depth"].as_u64().unwrap();
    assert!(
        (1000..=1001).contains(&depth),
        "1000 every-change writes (+1 latest) wait: {st}"
    );
    assert!(st["last_error"].is_string(), "{st}");
    s.b.start();
    let seen = wait_recorded(&s.rec, &fwd(TEMP), "1000.0").await;
    assert_eq!(
        after(&seen, "1.0"),
        temps(1..=1000),
        "all 1000, in order, once"
    );
    let latest = wait_recorded(&s.rec, &fwd(TEMP_LATEST), "1000.0").await;
    assert_eq!(
        after(&latest, "0.5"),
        vec!["0.5".to_owned(), "1000.0".to_owned()],
        "latest delivers only the newest value"
    );
    let st = eventually(SETTLE, "the backlog drained", || async {
        let st = s.a.host_state("site-b");
        (st["queue_depth"] == 0 && st["status"] == "online").then_some(st)
    })
    .await;
    assert_eq!(st["failed"], 0, "{st}");
}

async fn a_refused_write_is_dead_lettered_and_does_not_block(kind: Kind) {
    let extra = conn(SOURCE, Some("site-b"), "Net/LON/no/such/point", "");
    let s = sites(kind, &extra).await;
    s.a.dp_write(SOURCE, "100.0 1").await.unwrap();
    s.a.dp_write(TEMP_OUT, "7.0").await.unwrap();
    wait_recorded(&s.rec, &fwd(TEMP), "7.0").await;
    let state = eventually(SETTLE, "a dead letter in state", || async {
        let st = s.a.state_json();
        (!st["dead_letters"].as_array()?.is_empty()).then_some(st)
    })
    .await;
    let dl = &state["dead_letters"][0];
    assert_eq!(dl["target"], "Net/LON/no/such/point", "{state}");
    assert!(dl["reason"].as_str().unwrap().contains('6'), "{state}");
    let st = s.a.host_state("site-b");
    assert!(st["failed"].as_u64().unwrap() >= 1, "{st}");
}

/// Writes `range` to TEMP_OUT through the admin endpoint at `port`, recording which writes
/// were acknowledged.
async fn write_stream(port: u16, range: std::ops::RangeInclusive<u32>, acked: &Mutex<Vec<String>>) {
    for i in range {
        let v = format!("{i}.0");
        if admin_write(port, TEMP_OUT, &v).await.is_ok() {
            acked.lock().unwrap().push(v);
        }
    }
}

fn assert_in_order_once(seen: &[String], acked: &[String]) {
    let nums: Vec<f64> = seen.iter().map(|v| v.parse().unwrap()).collect();
    assert!(
        nums.windows(2).all(|w| w[0] < w[1]),
        "applied at B out of order or twice: {seen:?}"
    );
    for v in acked {
        assert!(seen.contains(v), "acknowledged {v} never arrived: {seen:?}");
    }
}

async fn sigkill_mid_stream_loses_nothing_acknowledged(kind: Kind) {
    let mut s = sites(kind, "").await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let port = s.a.admin_port;
    let writer = {
        let acked = acked.clone();
        tokio::spawn(async move { write_stream(port, 1..=400, &acked).await })
    };
    eventually(SETTLE, "100 acknowledged writes", || async {
        (acked.lock().unwrap().len() >= 100).then_some(())
    })
    .await;
    s.a.kill();
    s.a.start();
    writer.await.unwrap();
    s.a.wait_online().await;
    write_stream(port, 401..=420, &acked).await;
    let seen = wait_recorded(&s.rec, &fwd(TEMP), "420.0").await;
    let acked = acked.lock().unwrap().clone();
    assert_in_order_once(&after(&seen, "1.0"), &acked);
}

async fn server_restart_mid_stream_loses_nothing(kind: Kind) {
    let mut s = sites(kind, "").await;
    let acked = Mutex::new(Vec::new());
    let port = s.a.admin_port;
    write_stream(port, 1..=100, &acked).await;
    s.server.stop();
    write_stream(port, 101..=200, &acked).await;
    s.server.restart();
    write_stream(port, 201..=300, &acked).await;
    let seen = wait_recorded(&s.rec, &fwd(TEMP), "300.0").await;
    let acked = acked.into_inner().unwrap();
    assert_eq!(
        acked.len(),
        300,
        "local writes are acknowledged while the server is down"
    );
    assert_eq!(after(&seen, "1.0"), temps(1..=300));
}

async fn binding_files_hot_reload(kind: Kind) {
    let s = sites(kind, "").await;
    // A new connection: the source's current value arrives at once, then its changes.
    let started = std::time::Instant::now();
    s.a.write_binding("extra.toml", &conn(TEMP, Some("site-b"), TEMP, ""));
    wait_recorded(&s.rec, &fwd(TEMP), "21.0").await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "new connection live after {took:?}"
    );
    s.a.dp_write(TEMP, "33.0").await.unwrap();
    wait_recorded(&s.rec, &fwd(TEMP), "33.0").await;
    // A broken edit: rejected with FILE:LINE:COL, the previous bindings stay in force.
    s.a.write_binding("extra.toml", "[[connection]]\nsource = \n");
    eventually(SETTLE, "the rejection in A's log", || async {
        let log = s.a.log();
        (log.contains("extra.toml:2:") && log.contains("rejected")).then_some(())
    })
    .await;
    let (code, _, err) = s.a.cli(&["check"]);
    assert_eq!(code, 1);
    assert!(err.contains("extra.toml:2:"), "{err}");
    s.a.dp_write(TEMP, "34.0").await.unwrap();
    wait_recorded(&s.rec, &fwd(TEMP), "34.0").await;
    // Fixed again: a different connection replaces it.
    s.a.write_binding("extra.toml", &conn(TEMP, Some("site-b"), TEMP_LATEST, ""));
    wait_recorded(&s.rec, &fwd(TEMP_LATEST), "34.0").await;
    let metrics = s.a.metrics().await;
    assert!(
        metrics.contains("webbinder_binding_reload_failures_total 1"),
        "{metrics}"
    );
}

/// With the default retry time of 120 s, B's presence coming back is what triggers delivery.
async fn presence_of_a_returning_peer_triggers_delivery(kind: Kind) {
    let server = Server::start(kind);
    server.register(&[(A_MAC, "pw-a"), (B_MAC, "pw-b")]);
    let mut a = Agent::new(&server, A_MAC, "pw-a", &[]);
    a.write_binding(
        "to-b.toml",
        &(host_retrying("site-b", B_MAC, "120s") + &conn(TEMP_OUT, Some("site-b"), TEMP, "")),
    );
    let mut b = Agent::new(&server, B_MAC, "pw-b", &[]);
    b.write_binding("b.toml", &host("site-a", A_MAC));
    b.start();
    a.start();
    a.wait_online().await;
    b.wait_online().await;
    a.dp_write(TEMP_OUT, "1.0").await.unwrap();
    eventually(SETTLE, "1.0 at B", || async {
        (b.dp_read(TEMP).await.as_deref() == Some("1.0")).then_some(())
    })
    .await;
    assert_eq!(b.stop(), Some(0));
    a.dp_write(TEMP_OUT, "2.0").await.unwrap();
    eventually(SETTLE, "site-b offline after a failed attempt", || async {
        (a.host_state("site-b")["status"] == "offline").then_some(())
    })
    .await;
    let back = std::time::Instant::now();
    b.start();
    eventually(SETTLE, "2.0 at B", || async {
        (b.dp_read(TEMP).await.as_deref() == Some("2.0")).then_some(())
    })
    .await;
    let took = back.elapsed();
    assert!(
        took < Duration::from_secs(60),
        "delivered {took:?} after B came back: presence, not the 120 s retry"
    );
}

mod sizes;
mod window;

/// `POST /datapoints`: many local updates in one request, each answered in order (an unknown
/// name refused alone), all replicated in order through B to R.
async fn bulk_writes_replicate_in_order(kind: Kind) {
    let s = sites(kind, "").await;
    let url = format!("http://127.0.0.1:{}/datapoints", s.a.admin_port);
    let http = reqwest::Client::new();
    for chunk in 0..3u32 {
        let mut writes: Vec<serde_json::Value> = (chunk * 100 + 1..=chunk * 100 + 100)
            .map(|i| serde_json::json!({ "name": TEMP_OUT, "value": format!("{i}.0") }))
            .collect();
        writes.insert(
            50,
            serde_json::json!({ "name": "no/such/point", "value": "1" }),
        );
        let resp = http.post(&url).json(&writes).send().await.unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        let results: Vec<serde_json::Value> = resp.json().await.unwrap();
        assert_eq!(results.len(), 101);
        assert_eq!(results[50]["fault"], 6, "{}", results[50]);
        assert_eq!(results[100]["value"], format!("{}.0", chunk * 100 + 100));
    }
    let seen = wait_recorded(&s.rec, &fwd(TEMP), "300.0").await;
    assert_eq!(after(&seen, "1.0"), temps(1..=300));
    let too_many: Vec<serde_json::Value> = (0..1001)
        .map(|_| serde_json::json!({ "name": TEMP_OUT, "value": "1.0" }))
        .collect();
    let resp = http.post(&url).json(&too_many).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 413);
}

both_servers!(
    bulk_writes_replicate_in_order,
    presence_of_a_returning_peer_triggers_delivery,
    every_change_arrives_in_order_with_fan_out_and_internal,
    peer_offline_then_back_delivers_everything_in_order,
    a_refused_write_is_dead_lettered_and_does_not_block,
    sigkill_mid_stream_loses_nothing_acknowledged,
    server_restart_mid_stream_loses_nothing,
    binding_files_hot_reload,
);
