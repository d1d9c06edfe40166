//! Issue 8 item 1: batches sized by bytes below the server's stanza limit, a head that cannot
//! be delivered makes only its own queue stuck (shown by `state`), and `purge` (SPEC §2,
//! §5 "Sizes", §6.7), on ejabberd and Prosody with small and stock limits.

use super::*;
use crate::support::agent::wait_serving;

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

/// A raw value at the 228-byte limit (456 hex digits), distinct per `i`.
fn blob(i: u32) -> String {
    format!("{i:08X}{}", "5A".repeat(224))
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
    // No flusher thread; the previous injection's store may still be releasing its file lock
    // (its background tasks end shortly after), so wait for it with a deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let db = loop {
        match sled::Config::new()
            .path(state_dir)
            .flush_every_ms(None)
            .open()
        {
            Ok(db) => break db,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("the stopped agent's store: {e:?}"),
        }
    };
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
    // R can see the last value before A has B's answer: wait for A's queue to empty.
    let st = eventually(SETTLE, "A's queue to site-b to empty", || async {
        let st = a.host_state("site-b");
        (st["queue_depth"] == 0).then_some(st)
    })
    .await;
    assert!(st["stuck"].is_null(), "{st}");
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
    // Raw values at the 228-byte limit (456 hex digits): 100 of them make a batch and an answer
    // far over 32 KiB.
    let value = |i: u32| format!("{i:08X}{}", "5A".repeat(224));
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
);
