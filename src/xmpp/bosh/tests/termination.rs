//! How a session ends: the manager's terminal conditions, a voided session (HTTP 404),
//! and our own close.

use super::*;

#[test]
fn terminal_condition_from_the_manager_ends_the_session() {
    let mut h = Harness::open();
    h.respond(
        1001,
        &format!("<body {HB} type='terminate' condition='item-not-found'/>"),
    );
    assert_eq!(
        h.events(),
        vec![BoshEvent::Terminated(Termination::Condition {
            condition: "item-not-found".into(),
            detail: None
        })]
    );
    assert_eq!(h.m.state(), BoshState::Closed);
}

#[test]
fn remote_stream_error_delivers_preceding_stanzas_then_terminates() {
    let mut h = Harness::open();
    h.respond(
        1001,
        &format!(
            "<body {HB} xmlns:stream='http://etherx.jabber.org/streams' type='terminate' \
             condition='remote-stream-error'><message xmlns='jabber:client' id='last'/>\
             <stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
             </stream:error></body>"
        ),
    );
    let ev = h.events();
    assert_eq!(payload_ids(&ev), vec!["last"]);
    assert_eq!(
        ev.last(),
        Some(&BoshEvent::Terminated(Termination::Condition {
            condition: "remote-stream-error".into(),
            detail: Some("conflict".into())
        }))
    );
}

#[test]
fn http_404_voids_the_session() {
    let mut h = Harness::open();
    h.fail(1001, HttpFailure::Status(404));
    assert_eq!(
        h.events(),
        vec![BoshEvent::Terminated(Termination::HttpStatus {
            status: 404
        })]
    );
}

#[test]
fn close_sends_terminate_with_queued_stanzas_beyond_the_request_limit() {
    let mut h = Harness::open();
    h.advance(Duration::from_millis(30));
    h.m.send(&msg(1));
    h.pump(); // 1001 held + 1002: two in flight
    h.m.send(&msg(2));
    h.m.close();
    h.advance(Duration::from_millis(30));
    let r = h.pump();
    assert_eq!(rids(&r), vec![1003]);
    let b = body_of(&r[0]);
    assert_eq!(b.get_attr("type"), Some("terminate"));
    assert_eq!(
        b.children()
            .filter_map(|c| c.get_attr("id"))
            .collect::<Vec<_>>(),
        vec!["2"]
    );
    // ejabberd bounces the held ones with other-request; that is normal completion.
    h.respond(
        1001,
        &format!("<body {HB} type='terminate' condition='other-request'/>"),
    );
    assert_eq!(h.events(), vec![BoshEvent::Terminated(Termination::Closed)]);
}

#[test]
fn close_completes_when_the_terminate_is_answered() {
    let mut h = Harness::open();
    h.m.close();
    h.advance(Duration::from_millis(30));
    let r = h.pump();
    assert_eq!(body_of(&r[0]).get_attr("type"), Some("terminate"));
    h.respond(1002, &format!("<body {HB} type='terminate'/>"));
    h.respond(1001, &format!("<body {HB} type='terminate'/>"));
    assert_eq!(h.events(), vec![BoshEvent::Terminated(Termination::Closed)]);
}
