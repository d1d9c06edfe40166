//! BOSH over HTTPS with a site's own CA (`tls = true`, `ca_file`), against
//! ejabberd's and Prosody's HTTPS listeners: a valid certificate works; an
//! expired, wrong-name or untrusted one keeps the agent offline with an error
//! that names the server and the reason, while it keeps retrying (and never
//! falls back to the plain HTTP port the same server also serves, where the
//! same account would log in).

use std::time::Duration;

use webbinder::xmpp::session::Client;

use crate::both_servers;
use crate::support::agent::{Agent, SWITCH, eventually, wait_serving};
use crate::support::tls::{Cert, TestCa};
use crate::support::{Kind, Server};

const A_MAC: &str = "08-00-00-1A-7C-62";
const CLIENT: &str = "tls-client";

/// A server presenting `cert` with the agent's account on it, and the agent (not started),
/// configured for HTTPS with the test CA as `ca_file` (a path relative to its config).
fn site(kind: Kind, ca: &TestCa, cert: Cert) -> (Server, Agent) {
    let server = Server::start_tls(kind, ca, cert);
    server.register(&[(A_MAC, "secret-a"), (CLIENT, "pw-c")]);
    let agent = Agent::new(&server, A_MAC, "secret-a", &[CLIENT]);
    std::fs::copy(ca.ca_file(), agent.path().join("site-ca.pem")).expect("copy ca");
    let config = std::fs::read_to_string(agent.config_path()).expect("config");
    let plain = format!("port = {}\n", server.http_port);
    assert!(config.contains(&plain), "{config}");
    let config = config.replacen(
        &plain,
        &format!(
            "port = {}\ntls = true\nca_file = \"site-ca.pem\"\n",
            server.https_port()
        ),
        1,
    );
    std::fs::write(agent.config_path(), config).expect("config");
    (server, agent)
}

async fn valid_certificate_with_ca_file(kind: Kind) {
    let ca = TestCa::new();
    let (server, mut agent) = site(kind, &ca, Cert::Valid);
    agent.start();
    agent.wait_online().await;
    // The peer goes through the library client over HTTPS with the same CA.
    let mut cfg = server.client(CLIENT, "pw-c", "app");
    cfg.url = server.bosh_https_url();
    cfg.ca_file = Some(ca.ca_file());
    let (client, _rx) = Client::start(cfg).expect("client");
    client
        .wait_online(Duration::from_secs(20))
        .await
        .expect("client online over https");
    // A SOAP round trip: request and answer both ride HTTPS BOSH.
    assert_eq!(wait_serving(&client, &agent, SWITCH).await, "0.0 0");
    client.shutdown().await;
    agent.stop();
}

/// The agent stays offline with `reason` (which names the server) in `/health`, logs it
/// on at least two attempts, and has not stopped.
async fn refused(kind: Kind, cert: Cert, reason: &str) {
    let ca = TestCa::new();
    let (server, mut agent) = site(kind, &ca, cert);
    let expected = format!(
        "TLS: the certificate of 127.0.0.1:{} {reason}",
        server.https_port()
    );
    agent.start();
    let last = std::sync::Mutex::new(serde_json::Value::Null);
    let health = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some((_, v)) = agent.health().await {
                if v["xmpp"]["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains(&expected))
                {
                    return v;
                }
                *last.lock().unwrap() = v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "health never showed {expected:?}; last: {}\n{}",
            last.lock().unwrap(),
            agent.log()
        )
    });
    assert_eq!(health["xmpp"]["state"], "offline", "{health}");
    assert_eq!(health["online"], false, "{health}");
    eventually(
        Duration::from_secs(20),
        "a second attempt with the same error in the log",
        || async { (agent.log().matches(&expected).count() >= 2).then_some(()) },
    )
    .await;
    let (_, v) = agent.health().await.expect("health");
    assert_eq!(v["xmpp"]["state"], "offline", "still retrying: {v}");
    assert!(agent.is_running(), "the agent must keep running");
    assert!(
        !agent.log().contains("xmpp session online"),
        "never online (no fallback to plain HTTP):\n{}",
        agent.log()
    );
    agent.stop();
}

async fn expired_certificate(kind: Kind) {
    refused(
        kind,
        Cert::Expired,
        "is expired (valid until 2021-01-01T00:00:00Z)",
    )
    .await;
}

async fn wrong_name_certificate(kind: Kind) {
    refused(
        kind,
        Cert::WrongName,
        "is not valid for the name 127.0.0.1 (it is for wrong.example)",
    )
    .await;
}

async fn untrusted_certificate(kind: Kind) {
    refused(
        kind,
        Cert::Untrusted,
        "is issued by an unknown CA (set xmpp.ca_file to the site's CA certificate, PEM)",
    )
    .await;
}

both_servers!(
    valid_certificate_with_ca_file,
    expired_certificate,
    wrong_name_certificate,
    untrusted_certificate,
);
