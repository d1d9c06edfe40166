//! Failing links (issue 10 deliverable 3): agent A reaches its connection manager through a
//! fault-injecting relay and feeds agent B (TEMP_OUT -> TEMP), which forwards every update it
//! applies to the recorder R. Under each fault, during a stream of writes: A recovers by
//! itself, every acknowledged write arrives at R once and in order, on ejabberd no request
//! overtook an older one on its way to the server (E10), and `state` shows what happened.
//! Recovery times are printed (`--nocapture`) for the issue's closing note.

use std::time::{Duration, Instant};

use crate::both_servers;
use crate::support::agent::{Agent, TEMP, TEMP_OUT, eventually};
use crate::support::proxy::Proxy;
use crate::support::recorder::Recorder;
use crate::support::relay::{Mode, Relay};
use crate::support::{Kind, Server};

const A_MAC: &str = "08-00-00-1A-7C-62";
const B_MAC: &str = "00-D0-71-02-1B-1C";
const R_MAC: &str = "00-11-22-33-44-55";
const FWD: &str = "B:temp";

struct Rig {
    server: Server,
    relay: Relay,
    a: Agent,
    /// B runs as long as the rig.
    _b: Agent,
    rec: Recorder,
    /// Values A acknowledged, in the order written.
    acked: Vec<String>,
    next: u32,
}

fn host(name: &str, mac: &str) -> String {
    format!(
        "[[host]]\nname = \"{name}\"\nmac_id = \"{mac}\"\nretry_time = \"1s\"\nconnection_timeout = \"10s\"\n\n"
    )
}

fn conn(source: &str, host: &str, target: &str, extra: &str) -> String {
    format!(
        "[[connection]]\nsource = \"{source}\"\nhost = \"{host}\"\ntarget = \"{target}\"\n{extra}\n"
    )
}

/// A behind the relay (BOSH `wait` = `wait_s`), B and R direct.
async fn rig(kind: Kind, wait_s: u32) -> Rig {
    rig_with(kind, wait_s, "").await
}

/// [`rig`] with `xmpp_lines` added to A's `[xmpp]` section.
async fn rig_with(kind: Kind, wait_s: u32, xmpp_lines: &str) -> Rig {
    let server = Server::start(kind);
    server.register(&[(A_MAC, "pw-a"), (B_MAC, "pw-b"), (R_MAC, "pw-r")]);
    let rec = Recorder::start(&server, R_MAC, "pw-r").await;
    let relay = Relay::start(server.http_port).await;
    let mut a = Agent::new(&server, A_MAC, "pw-a", &[]);
    let cfg = std::fs::read_to_string(a.config_path()).expect("config");
    let cfg = cfg
        .replace(
            &format!("port = {}\n", server.http_port),
            &format!("port = {}\n", relay.port),
        )
        .replace("wait = \"20s\"", &format!("wait = \"{wait_s}s\""))
        .replacen("[xmpp]\n", &format!("[xmpp]\n{xmpp_lines}\n"), 1);
    std::fs::write(a.config_path(), cfg).expect("config");
    a.write_binding(
        "to-b.toml",
        &(host("site-b", B_MAC) + &conn(TEMP_OUT, "site-b", TEMP, "")),
    );
    let mut b = Agent::new(&server, B_MAC, "pw-b", &[]);
    b.write_binding(
        "b.toml",
        &(host("site-a", A_MAC)
            + &host("rec", R_MAC)
            + &conn(TEMP, "rec", FWD, "send_on_delta = 0")),
    );
    b.start();
    a.start();
    a.wait_online().await;
    b.wait_online().await;
    Rig {
        server,
        relay,
        a,
        _b: b,
        rec,
        acked: Vec::new(),
        next: 1,
    }
}

impl Rig {
    async fn write(&mut self) {
        let v = format!("{}.0", self.next);
        self.next += 1;
        if self.a.dp_write(TEMP_OUT, &v).await.is_ok() {
            self.acked.push(v);
        }
    }

    /// Waits until R has the last acknowledged value, then checks that R saw every
    /// acknowledged value once, in order (B's initial values aside).
    async fn all_arrived(&self, within: Duration) {
        let last = self.acked.last().cloned().expect("something written");
        let seen = eventually(within, &format!("{FWD} = {last} at R"), || async {
            let v = self.rec.values(FWD);
            (v.last() == Some(&last)).then_some(v)
        })
        .await;
        let first = &self.acked[0];
        let from = seen.iter().position(|v| v == first).unwrap_or(seen.len());
        assert_eq!(
            seen[from..],
            self.acked[..],
            "every acknowledged write once, in order"
        );
    }

    async fn online(&self) -> bool {
        matches!(self.a.health().await, Some((_, h)) if h["online"] == true)
    }

    async fn wait_online(&self, within: Duration, what: &str) {
        eventually(within, what, || async { self.online().await.then_some(()) }).await;
    }

    /// The `xmpp` section of A's `state --json`.
    fn xmpp_state(&self) -> serde_json::Value {
        self.a.state_json()["xmpp"].clone()
    }

    fn no_overtaking(&self) {
        if self.server.kind == Kind::Ejabberd {
            let bad = self.relay.overtaken();
            let around = |sid: &str| -> String {
                let log = self.relay.log();
                let t0 = log.first().map(|f| f.at);
                log.iter()
                    .filter(|f| f.sid.as_deref() == Some(sid))
                    .map(|f| {
                        let ms = t0.map_or(0, |t| f.at.duration_since(t).as_millis());
                        format!(
                            "+{ms} ms conn {} rid {:?} forwarded {}\n",
                            f.conn, f.rid, f.forwarded
                        )
                    })
                    .collect()
            };
            assert!(
                bad.is_empty(),
                "requests overtook older ones (E10): {bad:?}\n{}",
                around(&bad[0].0)
            );
        }
    }
}

async fn reconnects(a: &Agent) -> f64 {
    a.metric("webbinder_reconnects_total").await.unwrap_or(0.0)
}

/// A server that was down long enough for the backoff to reach its cap (30 s) is logged in
/// to within seconds of coming back: a reachable server resets the backoff.
async fn server_back_is_noticed_within_seconds(kind: Kind) {
    let mut r = rig(kind, 20).await;
    for _ in 0..5 {
        r.write().await;
    }
    r.all_arrived(Duration::from_secs(30)).await;
    let base = reconnects(&r.a).await;
    r.relay.set(Mode::Refuse);
    // Losses back off 0.5, 1, 2, 4, 8, 16 s (each 50-100 %); the 7th wait is 15-30 s.
    let down = Instant::now();
    while reconnects(&r.a).await < base + 7.0 {
        assert!(
            down.elapsed() < Duration::from_secs(90),
            "backoff did not grow"
        );
        r.write().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    r.relay.set(Mode::Pass);
    let back = Instant::now();
    r.wait_online(Duration::from_secs(40), "A online again")
        .await;
    let took = back.elapsed();
    println!(
        "FIGURE {}: refused for {:.1} s (backoff at its cap), online {:.2} s after the server came back",
        kind.name(),
        back.duration_since(down).as_secs_f64(),
        took.as_secs_f64()
    );
    assert!(
        took < Duration::from_secs(5),
        "online {took:?} after the server came back: the backoff was waited out"
    );
    r.write().await;
    r.all_arrived(Duration::from_secs(30)).await;
    r.no_overtaking();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_back_is_noticed_within_seconds_ejabberd() {
    server_back_is_noticed_within_seconds(Kind::Ejabberd).await;
}

/// One fault while A writes: kept until the relay acted it out `faults` times and for at
/// least `min`, then lifted; returns the time from lifting it until the last write arrived.
async fn phase(r: &mut Rig, name: &str, mode: Mode, faults: u64, min: Duration) -> Duration {
    let base = r.relay.faults();
    r.relay.set(mode);
    let start = Instant::now();
    while r.relay.faults() < base + faults || start.elapsed() < min {
        assert!(
            start.elapsed() < min + Duration::from_secs(60),
            "{name}: the relay acted out {} of {faults} faults",
            r.relay.faults() - base
        );
        r.write().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    r.relay.set(Mode::Pass);
    let lifted = Instant::now();
    for _ in 0..3 {
        r.write().await;
    }
    r.all_arrived(Duration::from_secs(90)).await;
    let took = lifted.elapsed();
    r.wait_online(Duration::from_secs(30), "A online").await;
    if took > Duration::from_secs(3) {
        println!(
            "TIMELINE {name} (lifted at +{} ms):\n{}",
            lifted.duration_since(start).as_millis(),
            r.relay.timeline(start)
        );
    }
    println!(
        "FIGURE {} {name}: fault held {:.1} s, {} faults acted out, last write at the far end {:.2} s after the fault was lifted",
        r.server.kind.name(),
        lifted.duration_since(start).as_secs_f64(),
        r.relay.faults() - base,
        took.as_secs_f64()
    );
    took
}

/// Delay, resets mid-request and mid-response, 502, 503 and a stall longer than `wait`, one
/// after the other during a stream of writes.
async fn faults_during_writes_lose_nothing(kind: Kind) {
    let mut r = rig(kind, 5).await;
    let ms = Duration::from_millis;
    for _ in 0..3 {
        r.write().await;
    }
    r.all_arrived(Duration::from_secs(30)).await;
    phase(
        &mut r,
        "delay 100 ms",
        Mode::Delay {
            fixed: ms(100),
            jitter: Duration::ZERO,
        },
        0,
        Duration::from_secs(3),
    )
    .await;
    r.no_overtaking();
    phase(&mut r, "reset mid-request", Mode::ResetRequest, 3, ms(0)).await;
    let x = r.xmpp_state();
    assert!(x["http_failures"]["transport"].as_u64() >= Some(3), "{x}");
    assert!(x["retransmissions"].as_u64() >= Some(3), "{x}");
    phase(&mut r, "reset mid-response", Mode::ResetResponse, 3, ms(0)).await;
    let x = r.xmpp_state();
    assert!(x["http_failures"]["transport"].as_u64() >= Some(6), "{x}");
    phase(&mut r, "502", Mode::Status(502), 3, ms(0)).await;
    phase(&mut r, "503", Mode::Status(503), 3, ms(0)).await;
    let x = r.xmpp_state();
    assert!(x["http_failures"]["status_5xx"].as_u64() >= Some(6), "{x}");
    let fives =
        r.a.metric("webbinder_bosh_http_failures_total{kind=\"5xx\"}")
            .await;
    assert!(fives >= Some(6.0), "/metrics 5xx failures: {fives:?}");
    let t = phase(
        &mut r,
        "stall 8 s (wait 5 s)",
        Mode::Stall,
        1,
        Duration::from_secs(8),
    )
    .await;
    assert!(t < Duration::from_secs(30), "stall recovery took {t:?}");
    let x = r.xmpp_state();
    println!("STATE {}: {x}", kind.name());
    assert!(
        x["last_error"].is_string() && x["last_error_at"].is_string(),
        "{x}"
    );
    assert!(
        x["link"].as_str().is_some_and(|l| l.starts_with("online")),
        "{x}"
    );
    assert!(
        x["server"]
            .as_str()
            .is_some_and(|s| s.contains(&r.relay.port.to_string())),
        "{x}"
    );
    r.no_overtaking();
    let (code, out, _) = r.a.cli(&["state"]);
    assert_eq!(code, 0);
    assert!(out.contains("http failures: connect 0 timeouts"), "{out}");
}

both_servers!(faults_during_writes_lose_nothing);

/// A's idle polls reach ejabberd 300 ms late, so the request with the next Write overtakes
/// the poll (E10: ejabberd parks it). Issue 10 asks whether the client can cause "two Writes
/// lost without answer and a hop stalled for 48.7 s with nothing logged": this shows what the
/// agent does when the network reorders its requests, with and without stanzas arriving for
/// it meanwhile (they answer the held poll, which hides the parked request from the stall
/// check). Nothing may be lost; the figures, `state` and A's log say what happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_reordered_on_the_way_to_ejabberd_lose_nothing() {
    let mut r = rig(Kind::Ejabberd, 20).await;
    r.write().await;
    r.all_arrived(Duration::from_secs(30)).await;
    let poll_late = Mode::DelayPolls(Duration::from_millis(300));
    let secs = Duration::from_secs;
    let t0 = Instant::now();
    let took = phase(
        &mut r,
        "idle polls 300 ms late",
        poll_late.clone(),
        0,
        secs(10),
    )
    .await;
    println!("TIMELINE polls late:\n{}", r.relay.timeline(t0));
    let log = r.relay.log();
    let bad = crate::support::relay::overtaken(&log);
    assert!(!bad.is_empty(), "the relay did not reorder anything");
    // The first poll that arrived after a newer request, and the next session's creation.
    let late = log
        .iter()
        .position(|f| f.sid.as_deref() == Some(&bad[0].0) && f.rid == Some(bad[0].1))
        .expect("the late poll in the log");
    let relogin = log[late..]
        .iter()
        .find(|f| f.sid.is_none())
        .expect("a new session after the stall");
    let stalled_for = relogin.at.duration_since(log[late].at);
    println!(
        "FIGURE ejabberd E10: session given up and logged in again {:.2} s after the poll arrived late",
        stalled_for.as_secs_f64()
    );
    assert!(
        stalled_for < Duration::from_secs(8),
        "the stall was noticed only {stalled_for:?} after it began (stall_timeout is 5 s)"
    );
    let x = r.xmpp_state();
    println!("STATE polls late: {x}");
    let overtaken = r.relay.overtaken().len();
    // Now with chats arriving for A every 150 ms.
    let (client, to) = (r.rec.client.clone(), r.a.jid.clone());
    let chats = tokio::spawn(async move {
        loop {
            client.send(webbinder::xmpp::stanza::chat(&to, "hello"));
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    });
    let took2 = phase(
        &mut r,
        "idle polls 300 ms late, chats arriving",
        poll_late,
        0,
        secs(10),
    )
    .await;
    chats.abort();
    let x2 = r.xmpp_state();
    println!("STATE polls late with chats: {x2}");
    println!(
        "FIGURE ejabberd reordered: {overtaken} then {} requests overtaken; last write {:.2} s / {:.2} s after",
        r.relay.overtaken().len() - overtaken,
        took.as_secs_f64(),
        took2.as_secs_f64()
    );
    let log = r.a.log();
    for l in log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("sent again"))
    {
        println!("A: {l}");
    }
}

/// 90 s of blackhole (connections accepted, nothing answered, existing ones silent) during
/// writes: A notices, keeps trying, and is back soon after the link returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_for_90_s_loses_nothing() {
    let mut r = rig(Kind::Ejabberd, 20).await;
    r.write().await;
    r.all_arrived(Duration::from_secs(30)).await;
    let took = phase(
        &mut r,
        "blackhole 90 s",
        Mode::Blackhole,
        1,
        Duration::from_secs(90),
    )
    .await;
    let x = r.xmpp_state();
    println!("STATE blackhole: {x}");
    assert!(x["http_failures"]["timeouts"].as_u64() >= Some(1), "{x}");
    assert!(
        took < Duration::from_secs(45),
        "blackhole recovery took {took:?}"
    );
}

/// A reaches the server through a proxy that cuts every request after 3 s (below `wait`),
/// and the link behind the proxy goes dead (the relay blackholes): the proxy still accepts
/// every request and cuts it, as it cuts held polls. A must notice that nothing reaches the
/// server, read offline, and come back by itself once the link returns, losing nothing.
/// Failed before the proof poll: every cut was forgiven as a held poll's, and A read online
/// through the whole outage.
async fn a_cutting_proxy_before_a_dead_link(kind: Kind) {
    let proxy = Proxy::cutting(3);
    let mut r = rig_with(kind, 60, &format!("proxy = \"{}\"", proxy.url())).await;
    r.write().await;
    r.all_arrived(Duration::from_secs(30)).await;
    // Idle behind the cutting proxy for a few cuts: the session lives on.
    let cuts = proxy.cuts();
    eventually(Duration::from_secs(30), "3 cuts by the proxy", || async {
        (proxy.cuts() >= cuts + 3).then_some(())
    })
    .await;
    assert!(r.online().await, "A offline behind a healthy cutting proxy");
    assert_eq!(reconnects(&r.a).await, 0.0);
    r.relay.set(Mode::Blackhole);
    let dead = Instant::now();
    r.write().await;
    eventually(
        Duration::from_secs(60),
        "A offline while the link is dead",
        || async { (!r.online().await).then_some(()) },
    )
    .await;
    let noticed = dead.elapsed();
    r.write().await;
    r.relay.set(Mode::Pass);
    let lifted = Instant::now();
    r.wait_online(Duration::from_secs(30), "A online again")
        .await;
    let back = lifted.elapsed();
    r.write().await;
    r.all_arrived(Duration::from_secs(60)).await;
    r.no_overtaking();
    println!(
        "FIGURE {} cutting proxy before a dead link: offline after {:.1} s, online {:.1} s after the link returned, {} cuts by the proxy",
        r.server.kind.name(),
        noticed.as_secs_f64(),
        back.as_secs_f64(),
        proxy.cuts()
    );
}

both_servers!(a_cutting_proxy_before_a_dead_link);
