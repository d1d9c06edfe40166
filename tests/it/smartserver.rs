//! The agent as an emulated SmartServer (SPEC §5), run as `webbinder run` against real
//! ejabberd and Prosody: a client application (an allowed JID) sends SOAP over XMPP and checks
//! the answers; a JID that is not allowed is refused; hostile input is answered with errors
//! while the agent keeps serving; values survive restarts and crashes.

use std::time::Duration;

use webbinder::soap::{ResponseBody, parse_response};
use webbinder::xmpp::session::{Client, ClientEvent, IqError};
use webbinder::xmpp::stanza::{self, IqType};
use webbinder::xmpp::xml::Element;

use crate::both_servers;
use crate::support::agent::{
    Agent, SWITCH, TEMP, envelope, read_env, soap, value_in, wait_serving, write_env, xml,
};
use crate::support::{Kind, Server};

const A_MAC: &str = "08-00-00-1A-7C-62";
const CLIENT: &str = "pidgin";
const EVIL: &str = "mallory";
const LOGIN: Duration = Duration::from_secs(20);
const SWITCH_FMT: &str = "#0000000000000000[0].SNVT_switch";

struct Site {
    server: Server,
    agent: Agent,
    client: Client,
}

async fn site(kind: Kind) -> Site {
    let server = Server::start(kind);
    server.register(&[(A_MAC, "secret-a"), (CLIENT, "pw-c"), (EVIL, "pw-e")]);
    let mut agent = Agent::new(&server, A_MAC, "secret-a", &[CLIENT]);
    agent.start();
    let client = login(&server, CLIENT, "pw-c").await;
    wait_serving(&client, &agent, SWITCH).await;
    Site {
        server,
        agent,
        client,
    }
}

async fn login(server: &Server, user: &str, pw: &str) -> Client {
    let (client, _rx) = Client::start(server.client(user, pw, "app")).unwrap();
    client.wait_online(LOGIN).await.unwrap();
    client
}

fn seed(name: &str) -> Element {
    let text =
        std::fs::read_to_string(crate::support::repo_root().join("tests/vectors").join(name))
            .unwrap();
    stanza::payload(&xml(&text)).unwrap().clone()
}

fn stanza_condition(e: &IqError) -> Option<String> {
    match e {
        IqError::Stanza { error, .. } => Some(error.condition.clone()),
        _ => None,
    }
}

async fn seed_examples_are_answered(kind: Kind) {
    let s = site(kind).await;
    for name in [
        "seed_step3_soap_over_xmpp_request_si_rtr.xml",
        "seed_step3_soap_over_xmpp_response_1_read.xml",
        "seed_step3_soap_over_xmpp_response_2_si_network.xml",
        "seed_step5_7e_system_info_si_time_request.xml",
    ] {
        let answer = soap(&s.client, &s.agent.jid, seed(name)).await.unwrap();
        match parse_response(&answer).unwrap().body {
            ResponseBody::Items(i) => {
                assert_eq!(i.fault_count, 0, "{name}: {}", answer.to_xml());
                assert_eq!(i.items.len(), 1, "{name}");
            }
            ResponseBody::SystemInfo(si) => assert_eq!(si.sections.len(), 1, "{name}"),
            ResponseBody::Fault(f) => panic!("{name}: SOAP fault {f:?}"),
        }
    }
    // XEP-0199 ping and XEP-0030 disco#info, for any sender.
    let ping = xml("<ping xmlns='urn:xmpp:ping'/>");
    s.client
        .iq(IqType::Get, Some(&s.agent.jid), ping)
        .await
        .unwrap();
    let disco = xml("<query xmlns='http://jabber.org/protocol/disco#info'/>");
    let answer = s
        .client
        .iq(IqType::Get, Some(&s.agent.jid), disco)
        .await
        .unwrap();
    assert!(
        answer.to_xml().contains("urn:xmpp:ping"),
        "{}",
        answer.to_xml()
    );
}

async fn write_read_presets_priorities_and_faults(kind: Kind) {
    let s = site(kind).await;
    let (c, to) = (&s.client, &s.agent.jid);
    // A preset, then a Read of the value it stands for.
    let w = soap(c, to, write_env(SWITCH, "ON", "UCPTvalueDef", None))
        .await
        .unwrap();
    assert_eq!(value_in(&w), Ok("100.0 1".into()));
    let r = soap(c, to, read_env(SWITCH)).await.unwrap();
    assert_eq!(value_in(&r), Ok("100.0 1".into()));
    // Priority: 100 takes the point; 200 does not take effect; 100 again does.
    let w = soap(c, to, write_env(SWITCH, "50.0 1", SWITCH_FMT, Some(100)))
        .await
        .unwrap();
    assert_eq!(value_in(&w), Ok("50.0 1".into()));
    let w = soap(c, to, write_env(SWITCH, "0.0 0", SWITCH_FMT, Some(200)))
        .await
        .unwrap();
    assert_eq!(
        value_in(&w),
        Ok("50.0 1".into()),
        "a lower priority must not win"
    );
    let r = soap(c, to, read_env(SWITCH)).await.unwrap();
    assert_eq!(value_in(&r), Ok("50.0 1".into()));
    // Unknown datapoint: fault 6. Bad value: fault 11, value unchanged.
    let w = soap(c, to, write_env("Net/LON/nope", "1", "", None))
        .await
        .unwrap();
    assert_eq!(value_in(&w), Err(6));
    let r = soap(c, to, read_env("Net/LON/nope")).await.unwrap();
    assert_eq!(value_in(&r), Err(6));
    let w = soap(c, to, write_env(TEMP, "warm", "", None))
        .await
        .unwrap();
    assert_eq!(value_in(&w), Err(11));
    let w = soap(c, to, write_env(TEMP, "99999", "", None))
        .await
        .unwrap();
    assert_eq!(value_in(&w), Err(11));
    let r = soap(c, to, read_env(TEMP)).await.unwrap();
    assert_eq!(value_in(&r), Ok("21.0".into()));
}

async fn a_jid_not_allowed_is_forbidden_and_changes_nothing(kind: Kind) {
    let s = site(kind).await;
    let evil = login(&s.server, EVIL, "pw-e").await;
    let err = soap(
        &evil,
        &s.agent.jid,
        write_env(SWITCH, "ON", "UCPTvalueDef", None),
    )
    .await
    .unwrap_err();
    assert!(err.contains("forbidden"), "{err}");
    let err = evil
        .iq(IqType::Set, Some(&s.agent.jid), read_env(SWITCH))
        .await
        .unwrap_err();
    assert_eq!(stanza_condition(&err).as_deref(), Some("forbidden"));
    let r = soap(&s.client, &s.agent.jid, read_env(SWITCH))
        .await
        .unwrap();
    assert_eq!(value_in(&r), Ok("0.0 0".into()));
}

async fn hostile_input_gets_errors_and_the_agent_keeps_serving(kind: Kind) {
    let s = site(kind).await;
    let (c, to) = (&s.client, &s.agent.jid);
    let is_soap_fault = |e: &Element| {
        matches!(
            parse_response(e).map(|r| r.body),
            Ok(ResponseBody::Fault(_))
        )
    };
    // A DOCTYPE with an entity inside the escaped <Data> string (the only XML the agent parses
    // itself; a DOCTYPE in the stanza never gets past the XMPP server).
    let bomb = xml(
        r#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><SystemService_Read_Info xmlns="http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/"><Data>&lt;!DOCTYPE l [&lt;!ENTITY a "aaaaaaaa"&gt;&lt;!ENTITY b "&amp;a;&amp;a;&amp;a;&amp;a;"&gt;]&gt;&lt;iLONSystemService&gt;&lt;UCPTsystemInfoType&gt;&amp;b;&lt;/UCPTsystemInfoType&gt;&lt;/iLONSystemService&gt;</Data></SystemService_Read_Info></Body></Envelope>"#,
    );
    let answer = soap(c, to, bomb).await.unwrap();
    assert!(is_soap_fault(&answer), "{}", answer.to_xml());
    // Malformed XML in the <Data> string.
    let broken = xml(
        r#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><SystemService_Read_Info xmlns="http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/"><Data>&lt;iLONSystemService&gt;&lt;UCPTsystemInfoType&gt;SI_TIME</Data></SystemService_Read_Info></Body></Envelope>"#,
    );
    let answer = soap(c, to, broken).await.unwrap();
    assert!(is_soap_fault(&answer), "{}", answer.to_xml());
    // An unknown operation: SOAP Fault naming it.
    let answer = soap(c, to, envelope("Frobnicate", "")).await.unwrap();
    assert!(is_soap_fault(&answer), "{}", answer.to_xml());
    assert!(answer.to_xml().contains("Frobnicate"));
    // SOAP namespace but not an Envelope: bad-request. Another namespace: service-unavailable.
    let err = c
        .iq(
            IqType::Set,
            Some(to),
            xml("<Body xmlns='http://schemas.xmlsoap.org/soap/envelope/'/>"),
        )
        .await
        .unwrap_err();
    assert_eq!(stanza_condition(&err).as_deref(), Some("bad-request"));
    let err = c
        .iq(IqType::Set, Some(to), xml("<q xmlns='urn:other'/>"))
        .await
        .unwrap_err();
    assert_eq!(
        stanza_condition(&err).as_deref(),
        Some("service-unavailable")
    );
    // More items than a SmartServer call may carry.
    let items: String = (0..101)
        .map(|_| {
            format!(r#"<Item><UCPTname>{SWITCH}</UCPTname><UCPTvalue>1.0 1</UCPTvalue></Item>"#)
        })
        .collect();
    let answer = soap(c, to, envelope("Write", &items)).await.unwrap();
    assert!(
        is_soap_fault(&answer),
        "a 101-item Write is refused: {:.600}",
        answer.to_xml()
    );
    assert!(answer.to_xml().contains("101 items"));
    // A huge stanza (over the server's 16 MiB stanza limit) from another client: the server
    // cuts that client off; the agent never sees it and keeps serving.
    let (evil, mut evil_events) = Client::start(s.server.client(EVIL, "pw-e", "big")).unwrap();
    evil.wait_online(LOGIN).await.unwrap();
    let huge = Element::new("http://schemas.xmlsoap.org/soap/envelope/", "Envelope")
        .text("9".repeat(17 * 1024 * 1024));
    let pending = evil.iq_start(IqType::Set, Some(to), huge).unwrap();
    let outcome = pending.wait(Duration::from_secs(60)).await;
    assert!(outcome.is_err(), "the server must refuse a 17 MiB stanza");
    let cut_off = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(ev) = evil_events.recv().await {
            if matches!(
                ev,
                ClientEvent::Offline { .. } | ClientEvent::Stopped { .. }
            ) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        cut_off,
        Ok(true),
        "the sender of the huge stanza is disconnected"
    );
    // A 1 MiB value, which this test server lets through but which is over the agent's own
    // `max_stanza_size` (256 KiB): that stanza alone is refused with policy-violation.
    let big = write_env(TEMP, &"1".repeat(1024 * 1024), "", None);
    let refused = soap(c, to, big).await.unwrap_err();
    assert!(refused.contains("policy-violation"), "{refused}");
    // Still serving, value unchanged.
    let r = soap(c, to, read_env(SWITCH)).await.unwrap();
    assert_eq!(value_in(&r), Ok("0.0 0".into()));
    let mut agent = s.agent;
    assert!(agent.is_running(), "agent died:\n{}", agent.log());
}

async fn values_survive_a_restart_and_a_crash(kind: Kind) {
    let mut s = site(kind).await;
    let (c, to) = (&s.client, &s.agent.jid.clone());
    let w = soap(c, to, write_env(TEMP, "23.5", "", None))
        .await
        .unwrap();
    assert_eq!(value_in(&w), Ok("23.5".into()));
    assert_eq!(
        s.agent.stop(),
        Some(0),
        "clean exit on SIGTERM:\n{}",
        s.agent.log()
    );
    s.agent.start();
    assert_eq!(wait_serving(c, &s.agent, TEMP).await, "23.5");
    // An acknowledged write survives SIGKILL right after the answer.
    let w = soap(c, to, write_env(TEMP, "24.5", "", None))
        .await
        .unwrap();
    assert_eq!(value_in(&w), Ok("24.5".into()));
    s.agent.kill();
    s.agent.start();
    assert_eq!(wait_serving(c, &s.agent, TEMP).await, "24.5");
}

async fn send_command_acts_as_a_client_application(kind: Kind) {
    let s = site(kind).await;
    let (code, out, err) = s.agent.cli(&["send", "--info", "SI_TIME"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("<UCPTsystemTime>"), "{out}");
    let w = format!("{SWITCH}=ON");
    let (code, out, err) = s
        .agent
        .cli(&["send", "--write", &w, "--lon-format", "UCPTvalueDef"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("100.0 1"), "{out}");
    let (code, out, err) = s.agent.cli(&["send", "--to", A_MAC, "--read", SWITCH]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("100.0 1"), "{out}");
    let (code, out, _) = s.agent.cli(&["send", "--read", "Net/LON/nope"]);
    assert_eq!(code, 1);
    assert!(out.contains("<faultcode"), "{out}");
    let file = s.agent.path().join("req.xml");
    std::fs::write(
        &file,
        std::fs::read_to_string(
            crate::support::repo_root().join("tests/vectors/notes_3_6_read_request_ikegam.xml"),
        )
        .unwrap(),
    )
    .unwrap();
    let (code, out, err) = s.agent.cli(&["send", "--file", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ReadResponse"), "{out}");
    // `dp` goes through the admin endpoint.
    let (code, out, err) = s
        .agent
        .cli(&["dp", "write", TEMP, "25.5", "--priority", "100"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("25.5"), "{out}");
    let (code, out, err) = s.agent.cli(&["dp", "read", TEMP]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("25.5") && out.contains("priority 100"),
        "{out}"
    );
    let (code, out, _) = s.agent.cli(&["dp", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains("Real Time Clock"), "{out}");
    let (code, _, err) = s.agent.cli(&["dp", "write", TEMP, "hot"]);
    assert_eq!(code, 1);
    assert!(err.contains("fault 11"), "{err}");
    let (code, _, err) = s.agent.cli(&["dp", "read", "Net/LON/nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("fault 6"), "{err}");
    // The chat reply of a SmartServer.
    let (chat, mut rx) = Client::start(s.server.client(CLIENT, "pw-c", "chat")).unwrap();
    chat.wait_online(LOGIN).await.unwrap();
    chat.send(stanza::chat(&s.agent.jid, "hello"));
    let reply = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(ev) = rx.recv().await {
            if let ClientEvent::Stanza(el) = ev
                && let Some(body) = el.get_child(webbinder::xmpp::ns::CLIENT, "body")
            {
                return body.text_content();
            }
        }
        String::new()
    })
    .await
    .unwrap();
    assert_eq!(reply, "I like that statement.");
}

/// The servers' stock stanza limit (ejabberd's `max_stanza_size`, Prosody's
/// `c2s_stanza_size_limit`): 256 KiB. The project's scripts raise it to 16 MiB by default.
const STOCK_STANZA_SIZE: &str = "262144";
/// A raw (hex) datapoint added to the test configuration.
const RAW: &str = "Net/LON/iLON App/VirtFb/raw";

/// A site on a server with the stock stanza limit, with [`RAW`] and `long_names` datapoints
/// whose names are 300 bytes long.
async fn stock_site(kind: Kind, long_names: usize) -> Site {
    let server = Server::start_with(kind, &[("BOSH_MAX_STANZA_SIZE", STOCK_STANZA_SIZE)]);
    server.register(&[(A_MAC, "secret-a"), (CLIENT, "pw-c")]);
    let mut agent = Agent::new(&server, A_MAC, "secret-a", &[CLIENT]);
    let mut extra =
        format!("\n[[datapoint]]\nname = \"{RAW}\"\ntype = \"SNVT_count\"\nvalue = \"0000\"\n");
    for i in 0..long_names {
        extra.push_str(&format!(
            "\n[[datapoint]]\nname = \"Net/LON/long/{i:05}/{}\"\ntype = \"SNVT_temp\"\nvalue = \"0.0\"\n",
            "n".repeat(280)
        ));
    }
    let mut config = std::fs::read_to_string(agent.config_path()).unwrap();
    config.push_str(&extra);
    std::fs::write(agent.config_path(), config).unwrap();
    agent.start();
    let client = login(&server, CLIENT, "pw-c").await;
    wait_serving(&client, &agent, SWITCH).await;
    Site {
        server,
        agent,
        client,
    }
}

/// Issue 8, item 3: at the stock limit, a 700-item Read (whose answer would be about 280 kB)
/// gets a fault instead of costing the agent its session, and the next Read is answered; a
/// List whose answer would outgrow the server gets a SOAP Fault naming size and limit.
async fn answers_that_would_outgrow_the_server_get_faults(kind: Kind) {
    let s = stock_site(kind, 1000).await;
    let (c, to) = (&s.client, &s.agent.jid);
    let items: String = (0..700)
        .map(|_| format!("<Item><UCPTname>{SWITCH}</UCPTname></Item>"))
        .collect();
    let answer = soap(c, to, envelope("Read", &items)).await.unwrap();
    match parse_response(&answer).map(|r| r.body) {
        Ok(ResponseBody::Fault(f)) => assert!(f.string.contains("700 items"), "{f:?}"),
        other => panic!("expected a SOAP fault, got {other:?}"),
    }
    let r = soap(c, to, read_env(SWITCH)).await.unwrap();
    assert_eq!(value_in(&r), Ok("0.0 0".into()));
    // A List of everything: 1,000 names of 300 bytes do not fit 256 KiB.
    let answer = soap(c, to, envelope("List", "")).await.unwrap();
    match parse_response(&answer).map(|r| r.body) {
        Ok(ResponseBody::Fault(f)) => {
            assert!(f.string.contains("ListResponse"), "{f:?}");
            assert!(f.string.contains(STOCK_STANZA_SIZE), "{f:?}");
        }
        other => panic!("expected a SOAP fault, got {other:?}"),
    }
    let r = soap(c, to, read_env(TEMP)).await.unwrap();
    assert_eq!(value_in(&r), Ok("21.0".into()));
    // 100 items, the most one Read may ask for, are answered.
    let items: String = (0..100)
        .map(|i| {
            format!(
                "<Item><UCPTname>Net/LON/long/{i:05}/{}</UCPTname></Item>",
                "n".repeat(280)
            )
        })
        .collect();
    let answer = soap(c, to, envelope("Read", &items)).await.unwrap();
    match parse_response(&answer).unwrap().body {
        ResponseBody::Items(i) => assert_eq!((i.fault_count, i.items.len()), (0, 100)),
        other => panic!("{other:?}"),
    }
}

/// Issue 8, item 1: a 200 kB value is refused when it is written (SOAP Write and the admin
/// endpoint alike) and is never readable.
async fn a_value_too_long_to_ever_fit_is_refused_when_written(kind: Kind) {
    let s = stock_site(kind, 0).await;
    let (c, to) = (&s.client, &s.agent.jid);
    let huge = "AB".repeat(100_000);
    let w = soap(c, to, write_env(RAW, &huge, "RAW_HEX", None))
        .await
        .unwrap();
    assert_eq!(value_in(&w), Err(11));
    let r = soap(c, to, read_env(RAW)).await.unwrap();
    assert_eq!(value_in(&r), Ok("0000".into()));
    let err = s.agent.dp_write(RAW, &huge).await.unwrap_err();
    assert!(err.contains("1024"), "{err}");
    assert_eq!(s.agent.dp_read(RAW).await.as_deref(), Some("0000"));
    // The longest raw value a LonTalk network variable holds is accepted.
    let longest = "CD".repeat(228);
    let w = soap(c, to, write_env(RAW, &longest, "RAW_HEX", None))
        .await
        .unwrap();
    assert_eq!(value_in(&w), Ok(longest.clone()));
    // A Write item of the wrong xsi:type is refused and not applied.
    let cfg = envelope(
        "Write",
        &format!(
            r#"<Item xsi:type="Dp_Cfg"><UCPTname>{SWITCH}</UCPTname><UCPTvalue LonFormat="UCPTvalueDef">ON</UCPTvalue></Item>"#
        ),
    );
    let w = soap(c, to, cfg).await.unwrap();
    assert_eq!(value_in(&w), Err(2));
    let r = soap(c, to, read_env(SWITCH)).await.unwrap();
    assert_eq!(value_in(&r), Ok("0.0 0".into()));
}

both_servers!(
    answers_that_would_outgrow_the_server_get_faults,
    a_value_too_long_to_ever_fit_is_refused_when_written,
    seed_examples_are_answered,
    write_read_presets_priorities_and_faults,
    a_jid_not_allowed_is_forbidden_and_changes_nothing,
    hostile_input_gets_errors_and_the_agent_keeps_serving,
    values_survive_a_restart_and_a_crash,
    send_command_acts_as_a_client_application,
);
