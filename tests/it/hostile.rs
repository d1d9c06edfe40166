//! Hostile tenants and unlucky operators (issue 8) against `webbinder run` on real ejabberd
//! and Prosody: a deeply nested stanza from any account, two agents with the same MAC ID,
//! a wrong `domain`.

use std::time::{Duration, Instant};

use webbinder::xmpp::session::{Client, IqError};
use webbinder::xmpp::stanza::IqType;
use webbinder::xmpp::xml::Element;

use crate::both_servers;
use crate::support::agent::{Agent, SWITCH, read_env, soap, value_in, wait_serving};
use crate::support::{Kind, Server};

const A_MAC: &str = "08-00-00-1A-7C-62";
const CLIENT: &str = "pidgin";
const EVIL: &str = "mallory";
const LOGIN: Duration = Duration::from_secs(20);

async fn login(server: &Server, user: &str, pw: &str, resource: &str) -> Client {
    let (client, _rx) = Client::start(server.client(user, pw, resource)).unwrap();
    client.wait_online(LOGIN).await.unwrap();
    client
}

/// `<x xmlns='urn:deep'>` nested `levels` deep (the outermost included).
fn nested(levels: usize) -> Element {
    let mut e = Element::new("urn:deep", "x").text("bottom");
    for _ in 1..levels {
        e = Element::new("urn:deep", "x").child(e);
    }
    e
}

/// A counter of the agent's `/metrics`, or `None` if it is not there.
async fn metric(agent: &Agent, name: &str) -> Option<u64> {
    let text = agent.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
}

/// Lines of the agent's log at `level` (ANSI colour codes ignored) that contain every needle.
fn log_lines(agent: &Agent, level: &str, needles: &[&str]) -> Vec<String> {
    agent
        .log()
        .lines()
        .filter(|l| l.contains(level) && needles.iter().all(|n| l.contains(n)))
        .map(str::to_owned)
        .collect()
}

/// Item 2: a 70-deep `<message>` and a 70-deep `<iq>` from an account that is not in `allow`
/// are dropped on their own (the iq answered with an error, each logged once); the agent keeps
/// its session and answers the next Read.
async fn a_deeply_nested_stanza_is_dropped_alone(kind: Kind) {
    let server = Server::start(kind);
    server.register(&[(A_MAC, "secret-a"), (CLIENT, "pw-c"), (EVIL, "pw-e")]);
    let mut agent = Agent::new(&server, A_MAC, "secret-a", &[CLIENT]);
    agent.start();
    let client = login(&server, CLIENT, "pw-c", "app").await;
    wait_serving(&client, &agent, SWITCH).await;
    assert_eq!(metric(&agent, "webbinder_reconnects_total").await, Some(0));

    let evil = login(&server, EVIL, "pw-e", "deep").await;
    let message = Element::new("jabber:client", "message")
        .attr("to", agent.jid.to_string())
        .attr("type", "chat")
        .attr("id", "deep-message")
        .child(nested(69));
    evil.send(message);
    let err = evil
        .iq_within(
            IqType::Set,
            Some(&agent.jid),
            nested(69),
            Duration::from_secs(15),
        )
        .await
        .expect_err("a 70-deep iq is refused");
    match &err {
        IqError::Stanza { error, .. } => {
            assert_eq!(error.kind, "modify", "{err}");
            assert_eq!(error.condition, "policy-violation", "{err}");
        }
        other => panic!("expected a stanza error, got {other}\n{}", agent.log()),
    }
    // Right after: a normal Read is answered, on the same session.
    let r = soap(&client, &agent.jid, read_env(SWITCH)).await.unwrap();
    assert_eq!(value_in(&r), Ok("0.0 0".into()));
    assert_eq!(
        metric(&agent, "webbinder_reconnects_total").await,
        Some(0),
        "the agent lost its session:\n{}",
        agent.log()
    );
    // Each dropped stanza is logged once, naming its sender and the limit.
    let warned = log_lines(&agent, "WARN", &["mallory@", "depth"]);
    assert_eq!(warned.len(), 2, "{warned:#?}\n{}", agent.log());
    assert!(agent.is_running(), "agent died:\n{}", agent.log());
}

/// Sessions an agent started so far (its "xmpp session online" log lines).
fn sessions(agent: &Agent) -> usize {
    log_lines(agent, "INFO", &["xmpp session online"]).len()
}

/// Item 5: two agents with the same MAC ID (same JID and resource) do not replace each other's
/// session in a loop: over 20 s they start few sessions, and the one kicked says why.
async fn two_agents_with_the_same_mac_id_back_off(kind: Kind) {
    let server = Server::start(kind);
    server.register(&[(A_MAC, "secret-a")]);
    let mut first = Agent::new(&server, A_MAC, "secret-a", &[]);
    let mut twin = Agent::new(&server, A_MAC, "secret-a", &[]);
    first.start();
    first.wait_online().await;
    twin.start();
    twin.wait_online().await;
    let window = Instant::now() + Duration::from_secs(20);
    while Instant::now() < window {
        let total = sessions(&first) + sessions(&twin);
        assert!(
            total <= 4,
            "{total} session starts: the twins fight\n--- first:\n{}\n--- twin:\n{}",
            first.log(),
            twin.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let needle = format!("another client logged in as {}", first.jid);
    let errors = log_lines(&first, "ERROR", &[&needle]);
    assert!(
        !errors.is_empty() && errors[0].contains("same MAC ID"),
        "the kicked agent names the cause:\n{}",
        first.log()
    );
    assert!(first.is_running() && twin.is_running());
}

/// Item 9: an agent configured with a domain the server does not serve stops like one with a
/// wrong password (exit 1) with an error naming the domain and the server, instead of retrying
/// forever with "internal-server-error".
async fn a_wrong_domain_stops_the_agent_with_a_clear_error(kind: Kind) {
    let server = Server::start(kind);
    server.register(&[(A_MAC, "secret-a")]);
    let mut agent = Agent::new(&server, A_MAC, "secret-a", &[]);
    let config = std::fs::read_to_string(agent.config_path()).unwrap();
    let wrong = config.replace(
        &format!("domain = \"{}\"", server.domain()),
        "domain = \"wrong.example\"",
    );
    assert_ne!(config, wrong);
    std::fs::write(agent.config_path(), wrong).unwrap();
    let started = Instant::now();
    agent.start();
    let code = tokio::task::block_in_place(|| agent.wait_exit(Duration::from_secs(90)));
    assert_eq!(code, Some(1), "the agent must stop:\n{}", agent.log());
    let log = agent.log();
    let last = log
        .lines()
        .rfind(|l| l.starts_with("webbinder:"))
        .unwrap_or_default();
    assert!(
        last.contains("\"wrong.example\"")
            && last.contains(&server.bosh_url())
            && last.contains("check xmpp.domain"),
        "the error names the domain and the server: {last:?}\n{log}"
    );
    eprintln!("{last}");
    // A clear error at each refusal, long before it gives up.
    let refusals = log_lines(&agent, "ERROR", &["wrong.example", "refused"]);
    assert!(!refusals.is_empty(), "{log}");
    eprintln!(
        "{}: stopped after {:?} and {} refusals",
        kind.name(),
        started.elapsed(),
        refusals.len()
    );
}

both_servers!(
    a_deeply_nested_stanza_is_dropped_alone,
    two_agents_with_the_same_mac_id_back_off,
    a_wrong_domain_stops_the_agent_with_a_clear_error
);
