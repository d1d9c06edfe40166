//! IQ round trips per second between two BOSH clients through a real
//! ejabberd and Prosody (started by the project's scripts), sequential and
//! pipelined. Run: `cargo bench --bench bosh_iq` (BENCH_SERVERS=ejabberd to pick).

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{Kind, Server};
use webbinder::xmpp::jid::Jid;
use webbinder::xmpp::session::{Client, ClientEvent, IqHandle};
use webbinder::xmpp::stanza::{self, IqType};
use webbinder::xmpp::xml::Element;

const SEQUENTIAL: usize = 3000;
const PIPELINED: usize = 30000;
const WINDOW: usize = 500;

fn probe(n: usize) -> Element {
    Element::new("urn:webbinder:bench", "p").attr("n", n.to_string())
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn bench(kind: Kind) {
    let s = Server::start(kind);
    s.register(&[("08-00-00-1A-7C-62", "a"), ("00-D0-71-02-1B-1C", "b")]);
    let (b, mut b_rx) = Client::start(s.client("00-D0-71-02-1B-1C", "b", "ilon")).expect("client");
    let b = Arc::new(b);
    b.wait_online(Duration::from_secs(20))
        .await
        .expect("B online");
    let b2 = b.clone();
    tokio::spawn(async move {
        while let Some(ev) = b_rx.recv().await {
            if let ClientEvent::Stanza(el) = ev
                && IqType::of(&el) == Some(IqType::Set)
            {
                b2.send(stanza::iq_result(&el, None));
            }
        }
    });
    let (a, _a_rx) = Client::start(s.client("08-00-00-1A-7C-62", "a", "ilon")).expect("client");
    a.wait_online(Duration::from_secs(20))
        .await
        .expect("A online");
    let to: Jid = format!("00-d0-71-02-1b-1c@{}/ilon", s.domain())
        .parse()
        .expect("jid");

    for n in 0..200 {
        a.iq(IqType::Set, Some(&to), probe(n))
            .await
            .expect("warm-up iq");
    }
    let reqs0 = a
        .stats()
        .http_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    let mut rtts = Vec::with_capacity(SEQUENTIAL);
    let t0 = Instant::now();
    for n in 0..SEQUENTIAL {
        let t = Instant::now();
        a.iq(IqType::Set, Some(&to), probe(n))
            .await
            .expect("sequential iq");
        rtts.push(t.elapsed());
    }
    let seq_secs = t0.elapsed().as_secs_f64();
    let reqs1 = a
        .stats()
        .http_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    rtts.sort();
    println!(
        "{:<9} sequential {SEQUENTIAL:>6} iq in {seq_secs:6.2} s = {:8.0} iq/s   rtt p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({:.2} HTTP requests/iq at A)",
        kind.name(),
        SEQUENTIAL as f64 / seq_secs,
        pct(&rtts, 0.50),
        pct(&rtts, 0.99),
        pct(&rtts, 1.0),
        (reqs1 - reqs0) as f64 / SEQUENTIAL as f64,
    );

    let t0 = Instant::now();
    let mut window: std::collections::VecDeque<IqHandle> = std::collections::VecDeque::new();
    for n in 0..PIPELINED {
        if window.len() >= WINDOW
            && let Some(h) = window.pop_front()
        {
            h.wait(Duration::from_secs(60)).await.expect("pipelined iq");
        }
        window.push_back(
            a.iq_start(IqType::Set, Some(&to), probe(n))
                .expect("online"),
        );
    }
    while let Some(h) = window.pop_front() {
        h.wait(Duration::from_secs(60)).await.expect("pipelined iq");
    }
    let pipe_secs = t0.elapsed().as_secs_f64();
    let reqs2 = a
        .stats()
        .http_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "{:<9} pipelined  {PIPELINED:>6} iq in {pipe_secs:6.2} s = {:8.0} iq/s   (window {WINDOW}; {:.3} HTTP requests/iq at A)",
        kind.name(),
        PIPELINED as f64 / pipe_secs,
        (reqs2 - reqs1) as f64 / PIPELINED as f64,
    );
    a.shutdown().await;
    b.shutdown().await;
}

fn main() {
    // `cargo test --all-targets` runs this binary too: only `cargo bench`
    // (which passes --bench) should start servers and measure.
    if !std::env::args().any(|a| a == "--bench") {
        println!("bosh_iq: benchmark skipped (run it with `cargo bench --bench bosh_iq`)");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let servers = std::env::var("BENCH_SERVERS").unwrap_or_else(|_| "ejabberd prosody".into());
    for name in servers.split_whitespace() {
        let kind = match name {
            "ejabberd" => Kind::Ejabberd,
            "prosody" => Kind::Prosody,
            other => {
                eprintln!("unknown server {other:?} in BENCH_SERVERS");
                std::process::exit(2);
            }
        };
        rt.block_on(bench(kind));
    }
}
