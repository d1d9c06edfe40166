//! Running an agent as an operator does (issue 8): `/health` tells the truth about the XMPP
//! session, logs written to a file carry no colour codes, SIGHUP reloads the binding files,
//! and a flood of idle connections to the admin endpoint cannot take the agent offline.

use std::time::{Duration, Instant};

use crate::both_servers;
use crate::support::agent::{Agent, eventually};
use crate::support::{Kind, Server};

const A_MAC: &str = "08-00-00-1A-7C-62";
const B_MAC: &str = "00-D0-71-02-1B-1C";

async fn started(kind: Kind) -> (Server, Agent) {
    let server = Server::start(kind);
    server.register(&[(A_MAC, "secret-a")]);
    let mut agent = Agent::new(&server, A_MAC, "secret-a", &[]);
    agent.start();
    agent.wait_online().await;
    (server, agent)
}

/// `/health` answers 200 with every part ok while online, and 503 naming the XMPP session as
/// soon as the server is gone (it used to say `ok` throughout).
async fn health_reports_the_xmpp_session(kind: Kind) {
    let (server, agent) = started(kind).await;
    let (code, body) = agent.health().await.expect("/health answers");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["xmpp"]["ok"], true, "{body}");
    assert_eq!(body["store"]["ok"], true, "{body}");
    assert_eq!(body["bindings"]["ok"], true, "{body}");

    server.stop();
    let body = eventually(Duration::from_secs(60), "/health to say 503", || async {
        let (code, body) = agent.health().await?;
        (code == 503).then_some(body)
    })
    .await;
    assert_eq!(body["xmpp"]["ok"], false, "{body}");
    assert_ne!(body["status"], "ok", "{body}");
    assert!(
        body["xmpp"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "/health names why the session is down: {body}"
    );
}

/// A log written to a file (not a terminal) has no ANSI escape sequences.
async fn logs_to_a_file_carry_no_colour_codes(kind: Kind) {
    let (_server, agent) = started(kind).await;
    let log = agent.log();
    assert!(log.contains("online"), "the log has the login: {log}");
    assert!(
        !log.contains('\u{1b}'),
        "the log file carries ANSI escape codes:\n{log}"
    );
}

/// SIGHUP re-reads the binding files (a new host is live without any file event being needed)
/// and the agent keeps running; it used to die silently.
async fn sighup_reloads_the_bindings(kind: Kind) {
    let (_server, mut agent) = started(kind).await;
    let before = agent
        .metric("webbinder_binding_reloads_total")
        .await
        .expect("reload counter");
    agent.signal("HUP");
    eventually(Duration::from_secs(10), "a reload after SIGHUP", || async {
        let n = agent.metric("webbinder_binding_reloads_total").await?;
        (n > before).then_some(())
    })
    .await;
    assert!(
        agent.is_running(),
        "the agent died on SIGHUP:\n{}",
        agent.log()
    );
    assert!(
        agent.log().contains("SIGHUP"),
        "the log says why it reloaded:\n{}",
        agent.log()
    );
    // The reload picked up a host added in the meantime.
    agent.write_binding(
        "b.toml",
        &format!("[[host]]\nname = \"site-b\"\nmac_id = \"{B_MAC}\"\n"),
    );
    agent.signal("HUP");
    eventually(Duration::from_secs(10), "site-b in state", || async {
        let s = agent.state_json();
        s["hosts"]
            .as_array()?
            .iter()
            .any(|h| h["name"] == "site-b")
            .then_some(())
    })
    .await;
    assert_eq!(agent.stop(), Some(0), "a clean stop after SIGHUPs");
}

/// 600 idle connections to the admin endpoint of an agent limited to 256 file descriptors:
/// the agent keeps its XMPP session (they used to exhaust its descriptors and drop it), keeps
/// its descriptors bounded, and `/health` answers again within seconds while they stay open.
async fn idle_admin_connections_cannot_take_the_agent_offline(kind: Kind) {
    let server = Server::start(kind);
    server.register(&[(A_MAC, "secret-a")]);
    let mut agent = Agent::new(&server, A_MAC, "secret-a", &[]);
    agent.start_limited(Some(256));
    agent.wait_online().await;
    let sessions = agent
        .metric("webbinder_reconnects_total")
        .await
        .expect("reconnect counter");
    let pid = agent.pid().expect("pid");

    let mut held = Vec::new();
    for _ in 0..600 {
        let connect = tokio::net::TcpStream::connect(("127.0.0.1", agent.admin_port));
        match tokio::time::timeout(Duration::from_secs(5), connect).await {
            Ok(Ok(s)) => held.push(s),
            Ok(Err(e)) => panic!("connect {}: {e}", held.len()),
            Err(_) => panic!("connect {}: the agent no longer accepts", held.len()),
        }
    }
    let fds = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let t0 = Instant::now();
    let (code, body) = eventually(
        Duration::from_secs(30),
        "/health while 600 idle connections are held",
        || async { agent.health().await },
    )
    .await;
    let answered_after = t0.elapsed();
    assert_eq!(code, 200, "{body}");
    assert!(
        fds() < 200,
        "the agent holds {} descriptors with 600 idle admin connections",
        fds()
    );
    assert_eq!(
        agent.metric("webbinder_reconnects_total").await,
        Some(sessions),
        "the XMPP session was lost:\n{}",
        agent.log()
    );
    assert!(agent.is_running());
    eprintln!(
        "{}: /health answered {answered_after:?} into the flood",
        kind.name()
    );
    drop(held);
}

both_servers!(
    health_reports_the_xmpp_session,
    logs_to_a_file_carry_no_colour_codes,
    sighup_reloads_the_bindings,
    idle_admin_connections_cannot_take_the_agent_offline,
);
