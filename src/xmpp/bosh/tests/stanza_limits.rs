//! Per-stanza limits (issue 8, item 2): a stanza too deep or too large is rejected alone,
//! in its rid order, and the session goes on.

use super::*;

fn deep_message(id: &str, levels: usize) -> String {
    format!(
        "<message xmlns='jabber:client' id='{id}' from='mallory@localhost/x'>{}{}</message>",
        "<x xmlns='urn:deep'>".repeat(levels - 1),
        "</x>".repeat(levels - 1)
    )
}

/// What the events say, in order: payload ids and rejected ids.
fn outline(events: &[BoshEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            BoshEvent::Payload(p) => format!("payload {}", p.get_attr("id").unwrap_or("?")),
            BoshEvent::Rejected(r) => format!(
                "rejected {} ({})",
                r.head.get_attr("id").unwrap_or("?"),
                r.exceeded
            ),
            BoshEvent::Created(_) => "created".into(),
            BoshEvent::Terminated(t) => format!("terminated: {t}"),
        })
        .collect()
}

#[test]
fn a_stanza_nested_70_deep_is_dropped_alone_and_the_session_goes_on() {
    let mut h = Harness::open();
    let body = with_payload(&format!(
        "<message xmlns='jabber:client' id='before'/>{}<message xmlns='jabber:client' id='after'/>",
        deep_message("deep", 70)
    ));
    h.respond(1001, &body);
    assert_eq!(
        outline(&h.events()),
        vec![
            "payload before",
            "rejected deep (nesting depth over 64 levels)",
            "payload after"
        ]
    );
    assert_eq!(h.m.state(), BoshState::Open);
    // No retransmission of rid 1001: the next request is the new poll.
    h.advance(Duration::from_millis(30));
    assert_eq!(rids(&h.pump()), vec![1002]);
    assert_eq!(
        h.m.poll_timeout(),
        None,
        "nothing is due: no retry is armed"
    );
}

#[test]
fn a_stanza_at_exactly_the_depth_limit_is_delivered() {
    let mut h = Harness::open();
    h.respond(1001, &with_payload(&deep_message("edge", 64)));
    assert_eq!(outline(&h.events()), vec!["payload edge"]);
}

#[test]
fn an_oversized_stanza_is_dropped_and_its_neighbours_delivered_in_order() {
    let mut cfg = BoshConfig::new("localhost");
    cfg.stanza_limits.max_bytes = 1000;
    let mut h = Harness {
        m: BoshSession::new(cfg, 1000),
        now: Instant::now(),
    };
    h.pump();
    h.respond(1000, &ejabberd_created());
    h.events();
    h.advance(Duration::from_millis(30));
    assert_eq!(rids(&h.pump()), vec![1001]);
    let big = format!(
        "<iq xmlns='jabber:client' type='set' id='big' from='m@localhost/x'><q xmlns='urn:q'>{}</q></iq>",
        "v".repeat(2000)
    );
    h.respond(
        1001,
        &with_payload(&format!(
            "{big}<message xmlns='jabber:client' id='1'/>{big}<message xmlns='jabber:client' id='2'/>"
        )),
    );
    assert_eq!(
        outline(&h.events()),
        vec![
            "rejected big (size over 1000 bytes)",
            "payload 1",
            "rejected big (size over 1000 bytes)",
            "payload 2"
        ]
    );
    assert_eq!(h.m.state(), BoshState::Open);
}

#[test]
fn a_rejected_stanza_keeps_its_place_in_rid_order() {
    let mut h = Harness::open();
    h.advance(Duration::from_millis(30));
    h.m.send(&msg(1));
    assert_eq!(rids(&h.pump()), vec![1002]);
    h.respond(1002, &with_payload(&deep_message("late", 80)));
    assert!(h.events().is_empty(), "rid 1002 waits for rid 1001");
    h.respond(
        1001,
        &with_payload("<message xmlns='jabber:client' id='early'/>"),
    );
    assert_eq!(
        outline(&h.events()),
        vec![
            "payload early",
            "rejected late (nesting depth over 64 levels)"
        ]
    );
}

#[test]
fn a_malformed_body_is_still_a_body_error_and_is_retransmitted() {
    let mut h = Harness::open();
    let broken = with_payload(&format!(
        "{}</y></message>",
        deep_message("d", 70).replace("</message>", "")
    ));
    h.respond(1001, &broken);
    assert!(h.events().is_empty());
    h.advance_to_timeout();
    let again = h.pump();
    assert_eq!(rids(&again), vec![1001], "the same rid is asked again");
    assert_eq!(again[0].attempt, 1);
}
