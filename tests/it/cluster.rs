//! A second server (SPEC §3 `servers`): several connection managers, tried in order. On both
//! servers, a dead first one costs one quick attempt, and a client that moved on stays where
//! it is until that server fails too; on a two-node ejabberd cluster, agents on
//! both nodes replicate across them, one node is killed, its agent moves to the other by
//! itself, and every acknowledged write arrives once and in order at the far end.
//!
//! Values are observed as in replication.rs: B forwards every update it applies
//! (send_on_delta = 0) to a recording destination R, so R's list is what B applied, in order,
//! duplicates included.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use webbinder::xmpp::jid::Jid;
use webbinder::xmpp::session::{Client, Link};
use webbinder::xmpp::stanza::IqType;
use webbinder::xmpp::xml::Element;

use crate::both_servers;
use crate::support::agent::{Agent, SOURCE, SWITCH, TEMP, TEMP_OUT, admin_write, eventually};
use crate::support::cluster::Cluster;
use crate::support::recorder::Recorder;
use crate::support::relay::{Mode, Relay};
use crate::support::{Kind, Server, free_port};

const A_MAC: &str = "08-00-00-1A-7C-62";
const B_MAC: &str = "00-D0-71-02-1B-1C";
const R_MAC: &str = "00-11-22-33-44-55";
/// Writes in the stream; node 1 dies about a third of the way through.
const WRITES: u32 = 300;
const KILL_AFTER: usize = 80;
const SETTLE: Duration = Duration::from_secs(60);

async fn a_dead_first_server_costs_one_quick_attempt(kind: Kind) {
    let server = Server::start(kind);
    server.register(&[("failover", "pw-f")]);
    let dead = format!("http://127.0.0.1:{}/http-bind", free_port());
    let mut cfg = server.client("failover", "pw-f", "t");
    cfg.urls = vec![dead.clone(), server.bosh_url()];
    // A backoff per server would wait 10 s or more before the live one.
    cfg.reconnect_min = Duration::from_secs(20);
    cfg.reconnect_max = Duration::from_secs(30);
    let started = Instant::now();
    let (client, _events) = Client::start(cfg).unwrap();
    client
        .wait_online(Duration::from_secs(8))
        .await
        .unwrap_or_else(|e| panic!("not online on the second server: {e}"));
    let took = started.elapsed();
    eprintln!("online on the second server {took:?} after start");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(client.server(), server.bosh_url());
    client.shutdown().await;
}

both_servers!(a_dead_first_server_costs_one_quick_attempt);

/// A first server that refuses for good (a wrong BOSH path: HTTP 404, fatal with one server)
/// is passed over for the next instead of stopping the client.
async fn a_first_server_that_refuses_for_good_is_passed_over(kind: Kind) {
    let server = Server::start(kind);
    server.register(&[("failover", "pw-f")]);
    let wrong_path = server.bosh_url().replace("/http-bind", "/no-such-bosh");
    let mut cfg = server.client("failover", "pw-f", "t");
    cfg.urls = vec![wrong_path, server.bosh_url()];
    cfg.reconnect_min = Duration::from_secs(20);
    cfg.reconnect_max = Duration::from_secs(30);
    let (client, _events) = Client::start(cfg).unwrap();
    client
        .wait_online(Duration::from_secs(8))
        .await
        .unwrap_or_else(|e| panic!("not online on the second server: {e}"));
    assert_eq!(client.server(), server.bosh_url());
    client.shutdown().await;
}

both_servers!(a_first_server_that_refuses_for_good_is_passed_over);

/// Sticky: a client that moved to the second server stays there once the first is back, and
/// goes back to the first only when the second fails in turn. Each "server" is a relay in
/// front of one real server, so either can be taken down (new connections and requests
/// reset) and brought back.
async fn the_client_moves_back_only_when_it_has_to(kind: Kind) {
    let server = Server::start(kind);
    server.register(&[("failover", "pw-f")]);
    let relays = [
        Relay::start(server.http_port).await,
        Relay::start(server.http_port).await,
    ];
    let url = |n: usize| format!("http://127.0.0.1:{}/http-bind", relays[n].port);
    let mut cfg = server.client("failover", "pw-f", "t");
    cfg.urls = vec![url(0), url(1)];
    let (client, _events) = Client::start(cfg).unwrap();
    let domain: Jid = server.domain().parse().unwrap();
    let ping = || async {
        let ping = Element::new("urn:xmpp:ping", "ping");
        client
            .iq_within(IqType::Get, Some(&domain), ping, Duration::from_secs(5))
            .await
            .is_ok()
    };
    let on = |n: usize| {
        let url = url(n);
        let client = &client;
        move || {
            let online =
                client.server() == url && matches!(*client.link().borrow(), Link::Online(_));
            async move { online.then_some(()) }
        }
    };
    eventually(SETTLE, "online on the first", on(0)).await;
    assert!(ping().await);

    relays[0].set(Mode::Refuse);
    // Traffic finds out at once (the held poll would only after `wait`).
    let _ = ping().await;
    eventually(SETTLE, "online on the second", on(1)).await;
    relays[0].set(Mode::Pass);
    let seen_by_first = relays[0].log().len();
    let reconnects = client.stats().reconnects.load(Ordering::Relaxed);
    // The first is back: 5 s of round trips, all on the second.
    let window = Instant::now();
    while window.elapsed() < Duration::from_secs(5) {
        assert!(ping().await, "a ping on the second server failed");
        assert_eq!(client.server(), url(1), "moved back though nothing failed");
    }
    assert_eq!(
        relays[0].log().len(),
        seen_by_first,
        "the first was sent requests"
    );
    assert_eq!(
        client.stats().reconnects.load(Ordering::Relaxed),
        reconnects
    );

    // Now it has to: the second goes down.
    relays[1].set(Mode::Refuse);
    let _ = ping().await;
    eventually(SETTLE, "online on the first again", on(0)).await;
    assert!(ping().await);
    client.shutdown().await;
}

both_servers!(the_client_moves_back_only_when_it_has_to);

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

/// Whether `log` shows a login while connected to `url`.
fn online_on(log: &str, url: &str) -> bool {
    log.lines()
        .any(|l| l.contains("xmpp session online") && l.contains(&format!("server={url}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_move_to_the_surviving_node_and_nothing_is_lost() {
    let t = Instant::now();
    let cluster = Cluster::start();
    eprintln!("cluster up in {:?}", t.elapsed());
    let (n1, n2) = (cluster.node(1), cluster.node(2));
    // Registered once, on node 1: Mnesia replicates the accounts to node 2.
    n1.register(&[(A_MAC, "pw-a"), (B_MAC, "pw-b"), (R_MAC, "pw-r")]);
    let rec = Recorder::start(n2, R_MAC, "pw-r").await;
    let mut a = Agent::with_servers(n1, &cluster.urls(&[1, 2]), A_MAC, "pw-a", &[]);
    a.write_binding(
        "to-b.toml",
        &(host("site-b", B_MAC) + &conn(TEMP_OUT, "site-b", TEMP, "")),
    );
    let mut b = Agent::with_servers(n1, &cluster.urls(&[2, 1]), B_MAC, "pw-b", &[]);
    b.write_binding(
        "b.toml",
        &(host("site-a", A_MAC)
            + &host("rec", R_MAC)
            + &conn(TEMP, "rec", &format!("B:{TEMP}"), "send_on_delta = 0")
            + &conn(SOURCE, "site-a", SWITCH, "")),
    );
    b.start();
    a.start();
    a.wait_online().await;
    b.wait_online().await;
    let (url1, url2) = (n1.bosh_url(), n2.bosh_url());
    assert!(
        online_on(&a.log(), &url1),
        "A logs in to node 1 first:\n{}",
        a.log()
    );
    assert!(
        online_on(&b.log(), &url2),
        "B logs in to node 2 first:\n{}",
        b.log()
    );

    // B -> A across the nodes too, before and after A moves.
    b_to_a(&b, &a, "50.0 1").await;

    let port = a.admin_port;
    let writer = tokio::spawn(async move {
        for i in 1..=WRITES {
            admin_write(port, TEMP_OUT, &format!("{i}.0")).await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok::<(), String>(())
    });
    let target = format!("B:{TEMP}");
    // Replicating across the nodes (A on node 1, B and R on node 2) before the kill.
    eventually(SETTLE, "values at the far end before the kill", || async {
        (rec.values(&target).len() >= KILL_AFTER).then_some(())
    })
    .await;
    let killed = Instant::now();
    n1.kill();
    eventually(SETTLE, "A online on node 2", || async {
        online_on(&a.log(), &url2).then_some(())
    })
    .await;
    let recovered = killed.elapsed();
    eprintln!("A online on node 2 {recovered:?} after node 1 was killed");
    let log = a.log();
    let switch = log
        .lines()
        .find(|l| l.contains("switching to") && l.contains(&url1) && l.contains(&url2));
    let switch = switch.unwrap_or_else(|| panic!("the switch is logged with both URLs:\n{log}"));
    eprintln!("{switch}");
    writer.await.unwrap().expect("every write acknowledged");
    b_to_a(&b, &a, "100.0 1").await;

    let last = format!("{WRITES}.0");
    let seen = eventually(SETTLE, "the last write at the far end", || async {
        let v = rec.values(&target);
        (v.last() == Some(&last)).then_some(v)
    })
    .await;
    let from = seen.iter().position(|v| v == "1.0").unwrap_or(seen.len());
    let expected: Vec<String> = (1..=WRITES).map(|i| format!("{i}.0")).collect();
    assert_eq!(seen[from..], expected[..], "every write, once, in order");
    assert!(
        recovered < Duration::from_secs(20),
        "A took {recovered:?} to move to node 2"
    );
    assert!(b.is_running() && a.is_running());
}

/// B writes `value` to its SOURCE; it must arrive at A's SWITCH.
async fn b_to_a(b: &Agent, a: &Agent, value: &str) {
    let t = Instant::now();
    b.dp_write(SOURCE, value).await.unwrap();
    eventually(SETTLE, &format!("A's switch = {value}"), || async {
        (a.dp_read(SWITCH).await.as_deref() == Some(value)).then_some(())
    })
    .await;
    eprintln!("B -> A {value} took {:?}", t.elapsed());
}
