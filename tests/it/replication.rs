//! Web connections between real agents (SPEC §4, §6) over ejabberd and Prosody: values are
//! checked at the far end. Site B forwards every update it applies (send_on_delta = 0) to a
//! recording destination R, so R's list is exactly what B applied, in order, duplicates
//! included: that is how "in order, nothing lost, nothing applied twice" is observed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::both_servers;
use crate::support::agent::{
    Agent, SOURCE, SWITCH, TEMP, TEMP_LATEST, TEMP_OUT, admin_write, eventually, wait_serving,
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

// ---- issue 8 item 1: sizes, stuck queues, purge ----------------------------------------------

const BLOB_OUT: &str = "Net/LON/iLON App/VirtFb/blob_out";
const BLOB: &str = "Net/LON/iLON App/VirtFb/blob";
/// The server's limit in these tests (ejabberd: one BOSH body, HTTP 403 above it; Prosody:
/// `http_max_content_size`, HTTP 413).
const SERVER_LIMIT: usize = 32_768;

/// Raw (hex) datapoints for long values, appended to a site's config.
fn add_blob_datapoints(agent: &Agent) {
    let path = agent.config_path();
    let mut text = std::fs::read_to_string(&path).unwrap();
    for name in [BLOB_OUT, BLOB] {
        text.push_str(&format!(
            "\n[[datapoint]]\nname = \"{name}\"\ntype = \"SNVT_blob\"\nvalue = \"00\"\n"
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// Sets the site's `xmpp.max_stanza_size` (takes effect at the next start).
fn set_stanza_limit(agent: &Agent, bytes: usize) {
    let path = agent.config_path();
    let text: String = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("max_stanza_size"))
        .map(|l| format!("{l}\n"))
        .collect();
    let text = text.replacen(
        "wait = \"20s\"\n",
        &format!("wait = \"20s\"\nmax_stanza_size = {bytes}\n"),
        1,
    );
    assert!(text.contains("max_stanza_size"), "{text}");
    std::fs::write(path, text).unwrap();
}

/// A 1,000-character raw value, distinct per `i`.
fn blob(i: u32) -> String {
    format!("{i:08X}{}", "5A".repeat(496))
}

/// `webbinder_reconnects_total` of a running agent.
async fn reconnects(agent: &Agent) -> u64 {
    let m = agent.metrics().await;
    m.lines()
        .find_map(|l| l.strip_prefix("webbinder_reconnects_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no reconnect counter in {m}"))
}

/// Puts a write straight into a stopped agent's queue for `host`, as an older version (or a
/// larger `max_stanza_size`) could have left it.
fn inject(state_dir: &std::path::Path, host: &str, connection: &str, target: &str, value: &str) {
    // No flusher thread: the file lock is released as soon as the Db is dropped.
    let db = sled::Config::new()
        .path(state_dir)
        .flush_every_ms(None)
        .open()
        .expect("the stopped agent's store");
    let store = webbinder::store::Store::open(&db).unwrap();
    let w = webbinder::store::QueuedWrite {
        connection: connection.to_owned(),
        target: target.to_owned(),
        value: value.to_owned(),
        lon_format: Some("RAW_HEX".to_owned()),
        priority: 255,
        enqueued_at: std::time::SystemTime::now(),
    };
    store.enqueue(host, &w, false).unwrap();
    store.flush().unwrap();
}

/// A backlog of long values that would make batches larger than the server accepts (today:
/// HTTP 403/413, the session lost, the same batch resent forever) is sent in batches sized
/// below the limit: everything arrives, in order, and A's session is never lost.
async fn a_backlog_of_large_values_is_batched_below_the_stanza_limit(kind: Kind) {
    let limit = SERVER_LIMIT.to_string();
    let server = Server::start_with(kind, &[("BOSH_MAX_STANZA_SIZE", &limit)]);
    server.register(&[(A_MAC, "pw-a"), (B_MAC, "pw-b"), (R_MAC, "pw-r")]);
    let rec = Recorder::start(&server, R_MAC, "pw-r").await;
    let mut a = Agent::new(&server, A_MAC, "pw-a", &[]);
    let mut b = Agent::new(&server, B_MAC, "pw-b", &[]);
    // Half the server's limit: B answers a Write with every item and its value (about the
    // request's size), and B's forwards to R are answered the same way.
    for x in [&a, &b] {
        add_blob_datapoints(x);
        set_stanza_limit(x, SERVER_LIMIT / 2);
    }
    a.write_binding(
        "to-b.toml",
        &(host("site-b", B_MAC) + &conn(BLOB_OUT, Some("site-b"), BLOB, "")),
    );
    b.write_binding(
        "b.toml",
        &(host("site-a", A_MAC)
            + &host("rec", R_MAC)
            + &conn(BLOB, Some("rec"), &fwd(BLOB), "send_on_delta = 0")),
    );
    b.start();
    a.start();
    a.wait_online().await;
    b.wait_online().await;
    a.dp_write(BLOB_OUT, &blob(0)).await.unwrap();
    eventually(SETTLE, "blob 0 at R", || async {
        rec.values(&fwd(BLOB)).contains(&blob(0)).then_some(())
    })
    .await;
    assert_eq!(b.stop(), Some(0));
    for i in 1..=150 {
        a.dp_write(BLOB_OUT, &blob(i)).await.unwrap();
    }
    b.start();
    let seen = eventually(SETTLE, "blob 150 at R", || async {
        let v = rec.values(&fwd(BLOB));
        (v.last() == Some(&blob(150))).then_some(v)
    })
    .await;
    assert_eq!(
        after(&seen, &blob(1)),
        (1..=150).map(blob).collect::<Vec<_>>(),
        "every value, in order, once"
    );
    assert_eq!(reconnects(&a).await, 0, "A lost its session:\n{}", a.log());
    let st = a.host_state("site-b");
    assert!(st["stuck"].is_null(), "{st}");
    assert_eq!(st["queue_depth"], 0, "{st}");
}

/// A queued write that can never fit in a stanza makes only its own queue stuck: `state` says
/// why (naming the write, its size and the limit), other hosts keep flowing, the agent keeps
/// answering, its session is never lost, and `purge` (confirmed) unsticks the queue.
async fn a_head_that_can_never_fit_is_stuck_until_purged(kind: Kind) {
    let limit = SERVER_LIMIT.to_string();
    let server = Server::start_with(kind, &[("BOSH_MAX_STANZA_SIZE", &limit)]);
    server.register(&[(A_MAC, "pw-a"), (B_MAC, "pw-b"), (C_MAC, "pw-c")]);
    let mut a = Agent::new(&server, A_MAC, "pw-a", &[]);
    set_stanza_limit(&a, SERVER_LIMIT);
    a.write_binding(
        "to-bc.toml",
        &(host("site-b", B_MAC)
            + &host("site-c", C_MAC)
            + &conn(TEMP_OUT, Some("site-b"), TEMP, "")
            + &conn(TEMP_OUT, Some("site-c"), TEMP, "")),
    );
    let mut b = Agent::new(&server, B_MAC, "pw-b", &[]);
    b.write_binding("b.toml", &host("site-a", A_MAC));
    let mut c = Agent::new(&server, C_MAC, "pw-c", &[]);
    c.write_binding("c.toml", &host("site-a", A_MAC));
    for x in [&mut b, &mut c, &mut a] {
        x.start();
    }
    for x in [&a, &b, &c] {
        x.wait_online().await;
    }
    a.dp_write(TEMP_OUT, "1.0").await.unwrap();
    for x in [&b, &c] {
        eventually(SETTLE, "1.0 at B and C", || async {
            (x.dp_read(TEMP).await.as_deref() == Some("1.0")).then_some(())
        })
        .await;
    }
    assert_eq!(a.stop(), Some(0));
    // Left by an older version: 40,000 characters, more than the server takes in one body.
    let legacy = format!("{BLOB_OUT} -> site-b:{BLOB}");
    inject(
        &a.path().join("state"),
        "site-b",
        &legacy,
        BLOB,
        &"5A".repeat(20_000),
    );
    a.start();
    a.wait_online().await;
    a.dp_write(TEMP_OUT, "2.0").await.unwrap();
    eventually(SETTLE, "2.0 at C while B's queue is stuck", || async {
        (c.dp_read(TEMP).await.as_deref() == Some("2.0")).then_some(())
    })
    .await;
    let st = eventually(SETTLE, "site-b stuck in state", || async {
        let st = a.host_state("site-b");
        (!st["stuck"].is_null()).then_some(st)
    })
    .await;
    let reason = st["stuck"]["reason"].as_str().unwrap();
    let seq = st["stuck"]["seq"].as_u64().unwrap();
    for part in [
        format!("seq {seq}"),
        legacy.clone(),
        limit.clone(),
        "40000 value bytes".to_owned(),
    ] {
        assert!(reason.contains(&part), "{part:?} not in {st}");
    }
    assert_eq!(st["stuck"]["kind"], "too-large", "{st}");
    assert_eq!(st["queue_depth"], 2, "{st}");
    let (code, text, err) = a.cli(&["state"]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("STUCK") && text.contains(&legacy), "{text}");
    // The agent keeps serving, its session intact; nothing overtook the stuck head.
    let (probe, _events) =
        webbinder::xmpp::session::Client::start(server.client(B_MAC, "pw-b", "probe")).unwrap();
    assert_eq!(wait_serving(&probe, &a, TEMP_OUT).await, "2.0");
    assert_eq!(reconnects(&a).await, 0, "A lost its session:\n{}", a.log());
    assert_eq!(b.dp_read(TEMP).await.as_deref(), Some("1.0"));
    // Without --yes and without a terminal: refused, after showing what would go.
    let spec = format!("{BLOB_OUT}->{BLOB}");
    let (code, out, err) = a.cli(&["purge", "site-b", "--connection", &spec]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("--yes"), "{err}");
    assert!(
        out.contains(&format!("would drop 1 queued write(s), seq {seq}..{seq}"))
            && out.contains(&legacy),
        "{out}"
    );
    assert_eq!(a.host_state("site-b")["queue_depth"], 2);
    let (code, out, err) = a.cli(&["purge", "site-b", "--connection", &spec, "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dropped 1 queued write(s)"), "{out}");
    eventually(SETTLE, "2.0 at B once the head is purged", || async {
        (b.dp_read(TEMP).await.as_deref() == Some("2.0")).then_some(())
    })
    .await;
    let st = eventually(SETTLE, "site-b drained and unstuck", || async {
        let st = a.host_state("site-b");
        (st["queue_depth"] == 0).then_some(st)
    })
    .await;
    assert!(st["stuck"].is_null(), "{st}");
    assert_eq!(st["purged"], 1, "{st}");
    assert!(
        a.log().contains("queued writes purged"),
        "purges are logged"
    );
}

/// Defence in depth: A believes the server takes 256 KiB, the server takes 32 KiB. Each batch
/// that costs the session halves the next ones, so a backlog still arrives, in order, after a
/// bounded number of session losses (today: the same batch is resent forever); a lone write
/// that costs the session 3 times is declared stuck instead of being sent again.
async fn a_server_limit_below_ours_costs_the_session_a_bounded_number_of_times(kind: Kind) {
    let limit = SERVER_LIMIT.to_string();
    let server = Server::start_with(kind, &[("BOSH_MAX_STANZA_SIZE", &limit)]);
    server.register(&[(A_MAC, "pw-a"), (R_MAC, "pw-r")]);
    let mut a = Agent::new(&server, A_MAC, "pw-a", &[]);
    add_blob_datapoints(&a);
    let target = fwd(BLOB);
    a.write_binding(
        "to-rec.toml",
        &(host("rec", R_MAC) + &conn(BLOB_OUT, Some("rec"), &target, "")),
    );
    a.start();
    a.wait_online().await;
    // 500-character values: 100 of them make a 70 kB batch, 25 fit (and so do their answers).
    let value = |i: u32| format!("{i:08X}{}", "5A".repeat(246));
    for i in 1..=100 {
        a.dp_write(BLOB_OUT, &value(i)).await.unwrap();
    }
    let rec = Recorder::start(&server, R_MAC, "pw-r").await;
    let seen = eventually(SETTLE, "100 values at R", || async {
        let v = rec.values(&target);
        (v.last() == Some(&value(100))).then_some(v)
    })
    .await;
    assert_eq!(
        after(&seen, &value(1)),
        (1..=100).map(value).collect::<Vec<_>>(),
        "every value, in order, once"
    );
    let losses = reconnects(&a).await;
    eprintln!(
        "{}: {losses} session losses before batches fitted",
        kind.name()
    );
    assert!(
        (1..=4).contains(&losses),
        "{losses} session losses:\n{}",
        a.log()
    );
    assert!(a.log().contains("sending smaller batches"));
    // A write that fits our limit but not the server's: 3 losses, then stuck, not a loop.
    assert_eq!(a.stop(), Some(0));
    let legacy = "old -> rec:x";
    inject(
        &a.path().join("state"),
        "rec",
        legacy,
        &target,
        &"5A".repeat(20_000),
    );
    a.start();
    a.wait_online().await;
    let st = eventually(SETTLE, "rec stuck after session losses", || async {
        let st = a.host_state("rec");
        (!st["stuck"].is_null()).then_some(st)
    })
    .await;
    assert_eq!(st["stuck"]["kind"], "session-losses", "{st}");
    let reason = st["stuck"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("3 times") && reason.contains(legacy) && reason.contains("262144"),
        "{st}"
    );
    a.wait_online().await;
    a.dp_write(BLOB_OUT, &value(101)).await.unwrap();
    let (code, out, err) = a.cli(&["purge", "rec", "--connection", "old->x", "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dropped 1 queued write(s)"), "{out}");
    eventually(SETTLE, "delivery resumed after the purge", || async {
        (rec.values(&target).last() == Some(&value(101))).then_some(())
    })
    .await;
    assert_eq!(reconnects(&a).await, 3, "{}", a.log());
}

/// The issue's case, with ejabberd's stock limit (256 KiB): three 100 kB values queued (left by
/// an older version) went out in one 300 kB Write, refused with the session, forever. Now
/// each goes alone, and the queue drains without a single session loss.
async fn large_values_go_one_by_one_with_the_stock_limit(kind: Kind) {
    let server = Server::start_with(kind, &[("BOSH_MAX_STANZA_SIZE", "262144")]);
    server.register(&[(A_MAC, "pw-a"), (B_MAC, "pw-b")]);
    let mut a = Agent::new(&server, A_MAC, "pw-a", &[]);
    let mut b = Agent::new(&server, B_MAC, "pw-b", &[]);
    for x in [&a, &b] {
        add_blob_datapoints(x);
    }
    a.write_binding(
        "to-b.toml",
        &(host("site-b", B_MAC) + &conn(BLOB_OUT, Some("site-b"), BLOB, "")),
    );
    b.write_binding("b.toml", &host("site-a", A_MAC));
    let key = format!("{BLOB_OUT} -> site-b:{BLOB}");
    let big = |i: u32| format!("{i:08X}{}", "5A".repeat(49_996));
    for i in 1..=3 {
        inject(&a.path().join("state"), "site-b", &key, BLOB, &big(i));
    }
    b.start();
    b.wait_online().await;
    a.start();
    a.wait_online().await;
    let st = eventually(SETTLE, "the three large writes answered", || async {
        let st = a.host_state("site-b");
        (st["queue_depth"] == 0).then_some(st)
    })
    .await;
    assert!(st["stuck"].is_null(), "{st}");
    assert_eq!(reconnects(&a).await, 0, "A lost its session:\n{}", a.log());
    let answered = st["delivered"].as_u64().unwrap() + st["failed"].as_u64().unwrap();
    assert!(answered >= 3, "{st}");
}

/// `webbinder purge` on a stopped agent works on the store: shows what it would drop, refuses
/// without confirmation, drops per connection or per host with `--yes`.
#[test]
fn purge_on_a_stopped_agent() {
    let d = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    std::fs::write(
        d.path().join("webbinder.toml"),
        format!(
            "[xmpp]\nserver = \"127.0.0.1\"\ndomain = \"localhost\"\nuser = \"{A_MAC}\"\npassword_file = \"secret\"\n\n[agent]\nadmin = \"127.0.0.1:{port}\"\n{}",
            crate::support::agent::DATAPOINTS
        ),
    )
    .unwrap();
    std::fs::write(d.path().join("secret"), "pw\n").unwrap();
    std::fs::create_dir_all(d.path().join("bindings")).unwrap();
    std::fs::write(
        d.path().join("bindings").join("b.toml"),
        host("site-b", B_MAC) + &conn(TEMP_OUT, Some("site-b"), TEMP, ""),
    )
    .unwrap();
    let key = format!("{TEMP_OUT} -> site-b:{TEMP}");
    let state = d.path().join("state");
    for v in ["1.0", "2.0"] {
        inject(&state, "site-b", &key, TEMP, v);
    }
    inject(&state, "site-b", "old -> site-b:gone", "gone", "x");
    {
        let db = sled::Config::new()
            .path(&state)
            .flush_every_ms(None)
            .open()
            .unwrap();
        let store = webbinder::store::Store::open(&db).unwrap();
        let mark = webbinder::store::Stuck {
            seq: 1,
            kind: webbinder::store::StuckKind::TooLarge,
            reason: "write seq 1 is too large".to_owned(),
            since: std::time::SystemTime::now(),
        };
        store.mark_stuck("site-b", &mark).unwrap();
        store.flush().unwrap();
    }
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_webbinder"))
            .arg("--config")
            .arg(d.path().join("webbinder.toml"))
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = cli(&["state"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("STUCK") && out.contains("write seq 1 is too large"),
        "{out}"
    );
    let (code, out, err) = cli(&["purge", "site-b"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("--yes"), "{err}");
    assert!(
        out.contains("would drop 3 queued write(s), seq 1..3"),
        "{out}"
    );
    assert!(
        out.contains(&format!("{key}: 2 write(s), seq 1..2")),
        "{out}"
    );
    assert!(
        out.contains("old -> site-b:gone: 1 write(s), seq 3..3"),
        "{out}"
    );
    let (code, out, err) = cli(&["purge", "site-b", "--connection", "old->gone", "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dropped 1 queued write(s), seq 3..3"), "{out}");
    let (code, out, err) = cli(&["state", "--json"]);
    assert_eq!(code, 0, "{err}");
    let st: serde_json::Value = serde_json::from_str(&out).unwrap();
    let h = &st["hosts"][0];
    assert_eq!(
        (h["name"].as_str(), h["queue_depth"].as_u64()),
        (Some("site-b"), Some(2)),
        "{st}"
    );
    assert_eq!(h["purged"], 1, "{st}");
    assert_eq!(
        h["stuck"]["kind"], "too-large",
        "the stuck head is still queued: {st}"
    );
    let (code, out, _) = cli(&["purge", "site-b", "--yes"]);
    assert_eq!(code, 0);
    assert!(out.contains("dropped 2 queued write(s), seq 1..2"), "{out}");
    let (_, out, _) = cli(&["state", "--json"]);
    let st: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        st["hosts"][0]["stuck"].is_null(),
        "purging the head unsticks: {st}"
    );
    assert_eq!(st["hosts"][0]["purged"], 3, "{st}");
    let (code, out, _) = cli(&["purge", "site-b", "--yes"]);
    assert_eq!(code, 0);
    assert!(out.contains("no queued write matches"), "{out}");
    let (code, _, err) = cli(&["purge", "site-b", "--connection", "nonsense"]);
    assert_eq!(code, 1);
    assert!(err.contains("SOURCE->TARGET"), "{err}");
}

both_servers!(
    a_backlog_of_large_values_is_batched_below_the_stanza_limit,
    a_head_that_can_never_fit_is_stuck_until_purged,
    a_server_limit_below_ours_costs_the_session_a_bounded_number_of_times,
    large_values_go_one_by_one_with_the_stock_limit,
    presence_of_a_returning_peer_triggers_delivery,
    every_change_arrives_in_order_with_fan_out_and_internal,
    peer_offline_then_back_delivers_everything_in_order,
    a_refused_write_is_dead_lettered_and_does_not_block,
    sigkill_mid_stream_loses_nothing_acknowledged,
    server_restart_mid_stream_loses_nothing,
    binding_files_hot_reload,
);
