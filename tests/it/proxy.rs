//! BOSH through a real HTTP proxy (tinyproxy from Debian, scripts/proxy-up.sh) on ejabberd and
//! Prosody (SPEC §3 `proxy`, issue 10 deliverable 2): the proxy from the config, from the
//! environment, `"none"` against a bogus environment, and a proxy that cuts every held
//! long-poll during a stream of writes. Values are checked at the far end as in
//! `replication.rs`: B forwards every update it applies to the recorder R.

use std::fs;
use std::time::Duration;

use crate::both_servers;
use crate::support::agent::{Agent, TEMP, TEMP_OUT, admin_write, eventually};
use crate::support::proxy::Proxy;
use crate::support::recorder::Recorder;
use crate::support::tls::{Cert, TestCa};
use crate::support::{Kind, Server, free_port};

const A_MAC: &str = "08-00-00-1A-7C-62";
const B_MAC: &str = "00-D0-71-02-1B-1C";
const C_MAC: &str = "00-D0-71-02-1B-1D";
const R_MAC: &str = "00-11-22-33-44-55";
const SETTLE: Duration = Duration::from_secs(60);
const FWD: &str = "B:temp";

/// Sets `[xmpp] proxy` (and optionally `wait`) in the agent's config.
fn set_xmpp(agent: &Agent, lines: &str) {
    let path = agent.config_path();
    let text = fs::read_to_string(&path).expect("agent config");
    let text = text.replacen("[xmpp]\n", &format!("[xmpp]\n{lines}\n"), 1);
    let text = if lines.contains("wait =") {
        text.replacen("wait = \"20s\"\n", "", 1)
    } else {
        text
    };
    fs::write(&path, text).expect("agent config");
}

/// Points the agent at the server's HTTPS BOSH port, trusting the test CA (`ca_file`).
fn use_https(agent: &Agent, server: &Server, ca: &TestCa) {
    fs::copy(ca.ca_file(), agent.path().join("site-ca.pem")).expect("copy ca");
    let config = fs::read_to_string(agent.config_path()).expect("config");
    let config = config.replacen(
        &format!("port = {}\n", server.http_port),
        &format!(
            "port = {}\ntls = true\nca_file = \"site-ca.pem\"\n",
            server.https_port()
        ),
        1,
    );
    fs::write(agent.config_path(), config).expect("config");
}

/// `HTTP_PROXY` = `url`, every other proxy variable empty (an empty one counts as unset), so
/// that the environment of the test run cannot interfere.
fn proxy_env(url: &str) -> Vec<(String, String)> {
    [
        ("HTTP_PROXY", url),
        ("http_proxy", ""),
        ("HTTPS_PROXY", ""),
        ("https_proxy", ""),
        ("ALL_PROXY", ""),
        ("all_proxy", ""),
        ("NO_PROXY", ""),
        ("no_proxy", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A sends every change of TEMP_OUT to B's TEMP; B forwards each one it applies to R.
fn bind(a: &Agent, b: &Agent) {
    a.write_binding(
        "to-b.toml",
        &format!(
            "[[host]]\nname = \"site-b\"\nmac_id = \"{B_MAC}\"\nretry_time = \"1s\"\n\n\
             [[connection]]\nsource = \"{TEMP_OUT}\"\nhost = \"site-b\"\ntarget = \"{TEMP}\"\n"
        ),
    );
    b.write_binding(
        "b.toml",
        &format!(
            "[[host]]\nname = \"site-a\"\nmac_id = \"{A_MAC}\"\n\n\
             [[host]]\nname = \"rec\"\nmac_id = \"{R_MAC}\"\nretry_time = \"1s\"\n\n\
             [[connection]]\nsource = \"{TEMP}\"\nhost = \"rec\"\ntarget = \"{FWD}\"\nsend_on_delta = 0\n"
        ),
    );
}

/// Writes `range` at A; every write must be acknowledged.
async fn write(a: &Agent, range: std::ops::RangeInclusive<u32>) {
    for i in range {
        admin_write(a.admin_port, TEMP_OUT, &format!("{i}.0"))
            .await
            .unwrap_or_else(|e| panic!("write {i} not acknowledged: {e}"));
    }
}

/// R's values after the first `1.0`, once the last one is `last`.
async fn recorded(rec: &Recorder, last: u32) -> Vec<String> {
    let last = format!("{last}.0");
    let seen = eventually(SETTLE, &format!("{FWD} = {last} at R"), || async {
        let v = rec.values(FWD);
        (v.last() == Some(&last)).then_some(v)
    })
    .await;
    let from = seen.iter().position(|v| v == "1.0").unwrap_or(seen.len());
    seen[from..].to_vec()
}

fn temps(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| format!("{i}.0")).collect()
}

async fn proxies_from_config_env_and_none(kind: Kind) {
    let server = Server::start(kind);
    server.register(&[
        (A_MAC, "pw-a"),
        (B_MAC, "pw-b"),
        (C_MAC, "pw-c"),
        (R_MAC, "pw-r"),
    ]);
    let rec = Recorder::start(&server, R_MAC, "pw-r").await;
    let (p_config, p_env) = (Proxy::start(), Proxy::start());
    let mut a = Agent::new(&server, A_MAC, "pw-a", &[]);
    set_xmpp(&a, &format!("proxy = \"{}\"", p_config.url()));
    // The config wins over the environment.
    a.env = proxy_env(&format!("http://127.0.0.1:{}", free_port()));
    let mut b = Agent::new(&server, B_MAC, "pw-b", &[]);
    b.env = proxy_env(&p_env.url());
    let mut c = Agent::new(&server, C_MAC, "pw-c", &[]);
    set_xmpp(&c, "proxy = \"none\"");
    c.env = proxy_env(&format!("http://127.0.0.1:{}", free_port()));
    bind(&a, &b);
    for agent in [&mut a, &mut b, &mut c] {
        agent.start();
    }
    for agent in [&a, &b, &c] {
        agent.wait_online().await;
    }
    write(&a, 1..=20).await;
    assert_eq!(recorded(&rec, 20).await, temps(1..=20));

    let via_config = format!("through proxy {} (xmpp.proxy)", p_config.url());
    let via_env = format!("through proxy {} (from HTTP_PROXY)", p_env.url());
    assert!(a.log().contains(&via_config), "A: {}", a.log());
    assert!(b.log().contains(&via_env), "B: {}", b.log());
    assert!(
        c.log().contains("direct (xmpp.proxy = \"none\")"),
        "C: {}",
        c.log()
    );
    // Both proxies carried their agent's traffic: the login, the writes, the polls.
    for (name, p) in [("config", &p_config), ("environment", &p_env)] {
        let n = p.requests_to(server.http_port);
        assert!(
            n >= 10,
            "the {name} proxy carried {n} requests: {}",
            p.log()
        );
    }
}

/// Counts in the agent's log and metrics that show a session lost and made again.
async fn assert_one_session(agent: &Agent, name: &str) {
    let log = agent.log();
    assert_eq!(
        log.matches("xmpp session online").count(),
        1,
        "{name} logged in more than once: {log}"
    );
    assert!(!log.contains("xmpp session lost"), "{name}: {log}");
    assert_eq!(
        agent.metric("webbinder_reconnects_total").await,
        Some(0.0),
        "{name} reconnected"
    );
}

async fn a_proxy_cutting_held_polls_loses_no_session_and_no_write(kind: Kind) {
    let server = Server::start(kind);
    server.register(&[(A_MAC, "pw-a"), (B_MAC, "pw-b"), (R_MAC, "pw-r")]);
    let rec = Recorder::start(&server, R_MAC, "pw-r").await;
    // Cuts after 3 s what the server holds for up to 60 s (`wait`): an idle minute is ~20
    // cuts of one held poll per agent, far beyond the 5 retransmissions of a failing request.
    let proxy = Proxy::cutting(3);
    let (mut a, mut b) = (
        Agent::new(&server, A_MAC, "pw-a", &[]),
        Agent::new(&server, B_MAC, "pw-b", &[]),
    );
    for agent in [&a, &b] {
        set_xmpp(
            agent,
            &format!("proxy = \"{}\"\nwait = \"60s\"", proxy.url()),
        );
    }
    bind(&a, &b);
    b.start();
    a.start();
    a.wait_online().await;
    b.wait_online().await;
    let mut last = 0;
    // Bursts of writes, each followed by idle time in which the proxy cuts held polls.
    for (burst, cuts) in [(10, 16), (10, 18), (10, 20)] {
        write(&a, last + 1..=last + burst).await;
        last += burst;
        eventually(SETTLE, &format!("{cuts} cuts by the proxy"), || async {
            (proxy.cuts() >= cuts).then_some(())
        })
        .await;
    }
    assert_eq!(recorded(&rec, last).await, temps(1..=last));
    assert_one_session(&a, "A").await;
    assert_one_session(&b, "B").await;
}

/// HTTPS BOSH through the proxy (CONNECT, allowed to the server's HTTPS port only) that also
/// cuts: tinyproxy closes a tunnel idle for 3 s, so each held poll inside it is cut as well.
async fn https_through_a_cutting_connect_proxy(kind: Kind) {
    let ca = TestCa::new();
    let server = Server::start_tls(kind, &ca, Cert::Valid);
    server.register(&[(A_MAC, "pw-a"), (R_MAC, "pw-r")]);
    let rec = Recorder::start(&server, R_MAC, "pw-r").await;
    let https_port = server.https_port();
    let proxy = Proxy::start_with(&["--timeout", "3", "--connect-port", &https_port.to_string()]);
    let mut a = Agent::new(&server, A_MAC, "pw-a", &[]);
    use_https(&a, &server, &ca);
    set_xmpp(&a, &format!("proxy = \"{}\"\nwait = \"60s\"", proxy.url()));
    a.write_binding(
        "to-r.toml",
        &format!(
            "[[host]]\nname = \"rec\"\nmac_id = \"{R_MAC}\"\nretry_time = \"1s\"\n\n\
             [[connection]]\nsource = \"{TEMP_OUT}\"\nhost = \"rec\"\ntarget = \"{FWD}\"\n"
        ),
    );
    a.start();
    a.wait_online().await;
    let mut last = 0;
    for cuts in [3, 4] {
        write(&a, last + 1..=last + 10).await;
        last += 10;
        eventually(SETTLE, &format!("{cuts} cuts by the proxy"), || async {
            (proxy.cuts_or_idle_closes() >= cuts).then_some(())
        })
        .await;
    }
    assert_eq!(recorded(&rec, last).await, temps(1..=last));
    assert!(
        proxy.requests_to(https_port) >= 1,
        "no CONNECT to {https_port}: {}",
        proxy.log()
    );
    assert_eq!(proxy.requests_to(server.http_port), 0, "{}", proxy.log());
    let via = format!("through proxy {} (xmpp.proxy)", proxy.url());
    assert!(a.log().contains(&via), "A: {}", a.log());
    assert_one_session(&a, "A").await;
}

/// A proxy that wants credentials (tinyproxy BasicAuth), over plain HTTP and HTTPS (CONNECT):
/// with the right user:password in `xmpp.proxy` the agent logs in through it; with a wrong
/// one it stays offline, says in `/health` and its log that the proxy refused the
/// credentials, keeps retrying, and never prints the password.
async fn a_proxy_that_wants_credentials(kind: Kind) {
    let ca = TestCa::new();
    let server = Server::start_tls(kind, &ca, Cert::Valid);
    const D_MAC: &str = "00-D0-71-02-1B-1E";
    let macs = [A_MAC, B_MAC, C_MAC, D_MAC, R_MAC];
    server.register(&macs.map(|m| (m, "pw")));
    let https_port = server.https_port();
    let proxy = Proxy::start_with(&["--auth", "site:s3cret-pw"]);
    let with = |user_pw: &str| {
        proxy
            .url()
            .replace("http://", &format!("http://{user_pw}@"))
    };
    let agent = |mac: &str, https: bool, user_pw: &str| {
        let a = Agent::new(&server, mac, "pw", &[]);
        if https {
            use_https(&a, &server, &ca);
        }
        let proxy_url = if user_pw.is_empty() {
            proxy.url()
        } else {
            with(user_pw)
        };
        set_xmpp(&a, &format!("proxy = \"{proxy_url}\""));
        a
    };
    let mut good = [
        agent(A_MAC, false, "site:s3cret-pw"),
        agent(B_MAC, true, "site:s3cret-pw"),
    ];
    let refused = format!(
        "the proxy http://***@127.0.0.1:{} refused our credentials (401 Unauthorized): check the user and password in xmpp.proxy",
        proxy.port
    );
    let wanted = format!(
        "the proxy {} wants credentials (407 Proxy Authentication Required): give them in xmpp.proxy as http://user:password@host:port",
        proxy.url()
    );
    let mut bad = [
        (agent(C_MAC, false, "site:n0t-the-pw"), refused),
        (agent(D_MAC, false, ""), wanted),
        (
            agent(R_MAC, true, "site:n0t-the-pw"),
            format!(
                "the proxy http://***@127.0.0.1:{} refused to open a tunnel (CONNECT) to 127.0.0.1:{https_port}: check the user and password in xmpp.proxy",
                proxy.port
            ),
        ),
    ];
    for a in good.iter_mut().chain(bad.iter_mut().map(|(a, _)| a)) {
        a.start();
    }
    for a in &good {
        a.wait_online().await;
    }
    assert!(proxy.requests_to(server.http_port) >= 3, "{}", proxy.log());
    assert!(proxy.requests_to(https_port) >= 1, "{}", proxy.log());
    for (a, expected) in &mut bad {
        let expected = expected.as_str();
        let health = eventually(
            Duration::from_secs(20),
            &format!("{expected:?} in /health"),
            || async {
                let (_, v) = a.health().await?;
                let reason = v["xmpp"]["reason"].as_str()?;
                reason.contains(expected).then_some(v)
            },
        )
        .await;
        assert_eq!(health["online"], false, "{health}");
        eventually(
            Duration::from_secs(20),
            "a second attempt with the same error in the log",
            || async { (a.log().matches(expected).count() >= 2).then_some(()) },
        )
        .await;
        assert!(a.is_running(), "the agent must keep running");
        assert!(!a.log().contains("xmpp session online"), "{}", a.log());
    }
    for a in good.iter().chain(bad.iter().map(|(a, _)| a)) {
        let log = a.log();
        assert!(
            !log.contains("s3cret-pw") && !log.contains("n0t-the-pw"),
            "a proxy password in the log:\n{log}"
        );
    }
}

both_servers!(
    a_proxy_that_wants_credentials,
    proxies_from_config_env_and_none,
    a_proxy_cutting_held_polls_loses_no_session_and_no_write,
    https_through_a_cutting_connect_proxy,
);
