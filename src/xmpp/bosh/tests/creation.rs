//! Session creation: the creation request, the manager's answer and the parameters it sets,
//! and the stream restart; the first exchange, before any pacing applies.

use super::*;

#[test]
fn creation_request_carries_the_xep_0124_and_xep_0206_attributes() {
    let mut h = Harness::new();
    let r = h.pump();
    assert_eq!(rids(&r), vec![1000]);
    let b = body_of(&r[0]);
    assert!(b.is(ns::HTTPBIND, "body"));
    assert_eq!(b.get_attr("rid"), Some("1000"));
    assert_eq!(b.get_attr("to"), Some("localhost"));
    assert_eq!(b.get_attr("wait"), Some("60"));
    assert_eq!(b.get_attr("hold"), Some("1"));
    assert_eq!(b.get_attr("ver"), Some("1.6"));
    assert_eq!(b.get_attr("content"), Some("text/xml; charset=utf-8"));
    assert_eq!(b.get_attr_ns(Some(NS_XML), "lang"), Some("en"));
    assert_eq!(b.get_attr_ns(Some(ns::XBOSH), "version"), Some("1.0"));
    assert_eq!(b.get_attr("sid"), None);
}

#[test]
fn nothing_else_is_sent_until_the_session_is_created() {
    let mut h = Harness::new();
    h.pump();
    h.m.send(&msg(1));
    h.advance(Duration::from_secs(1));
    assert!(h.pump().is_empty());
}

#[test]
fn creation_response_reports_params_then_features() {
    let mut h = Harness::new();
    h.pump();
    h.respond(1000, &ejabberd_created());
    let ev = h.events();
    assert_eq!(
        ev[0],
        BoshEvent::Created(SessionParams {
            sid: "abc".into(),
            wait: Duration::from_secs(60),
            requests: 2,
            hold: 1,
            inactivity: Some(Duration::from_secs(30)),
            polling: Some(Duration::from_secs(2)),
            maxpause: Some(Duration::from_secs(120)),
            ver: Some("1.11".into()),
            from: Some("localhost".into()),
        })
    );
    assert!(matches!(&ev[1], BoshEvent::Payload(f) if f.is(ns::STREAM, "features")));
    assert_eq!(ev.len(), 2);
}

#[test]
fn failed_creation_request_reports_the_manager_unreachable() {
    let mut h = Harness::new();
    h.pump();
    h.fail(1000, HttpFailure::Transport("connection refused".into()));
    assert_eq!(
        h.events(),
        vec![BoshEvent::Terminated(Termination::Unreachable {
            failure: HttpFailure::Transport("connection refused".into())
        })]
    );
}

#[test]
fn creation_response_without_sid_is_a_protocol_error() {
    let mut h = Harness::new();
    h.pump();
    h.respond(1000, &empty());
    assert_eq!(
        h.events(),
        vec![BoshEvent::Terminated(Termination::Protocol {
            detail: "session creation response has no sid".into()
        })]
    );
}

#[test]
fn restart_is_an_empty_body_with_restart_attribute_and_stanzas_wait() {
    let mut h = Harness::open();
    h.advance(Duration::from_millis(30));
    h.m.restart();
    h.m.send(&msg(1));
    let r = h.pump();
    assert_eq!(rids(&r), vec![1002]);
    let b = body_of(&r[0]);
    assert_eq!(b.get_attr_ns(Some(ns::XBOSH), "restart"), Some("true"));
    assert_eq!(b.get_attr("to"), Some("localhost"));
    assert_eq!(b.get_attr_ns(Some(NS_XML), "lang"), Some("en"));
    assert_eq!(b.children().count(), 0);
    assert_eq!(h.m.queued(), 1);
}

#[test]
fn request_timeout_is_the_servers_wait_plus_margin() {
    let mut h = Harness::new();
    let r = h.pump();
    // The manager answers a creation at once (it holds only later requests): one lost
    // on a dead link is given up after the margin, so the agent logs in soon after the
    // link returns (issue 10: 15 s of a 20 s recovery from a stall were this timeout).
    assert_eq!(r[0].timeout, Duration::from_secs(10));
    h.respond(
        1000,
        &format!("<body {HB} sid='s' wait='20' requests='2' hold='1'/>"),
    );
    h.advance(Duration::from_millis(30));
    let r = h.pump();
    assert_eq!(r[0].timeout, Duration::from_secs(30));
}

#[test]
fn initial_rid_leaves_room_below_two_to_the_53() {
    let mut m = BoshSession::new(BoshConfig::new("d"), u64::MAX);
    let r = m.poll_request(Instant::now()).expect("creation request");
    assert!(r.rid.0 + (1 << 32) <= MAX_RID);
}
