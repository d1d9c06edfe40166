//! Request pacing on an open session: one held poll when idle, batches within `requests`
//! and the body limit, the poll gap that keeps rids in order on the way to ejabberd (E10),
//! and delivery in rid order.

use super::*;

#[test]
fn idle_session_holds_exactly_one_empty_request() {
    let mut h = Harness::open();
    for _ in 0..10 {
        h.advance(Duration::from_secs(5));
        assert!(h.pump().is_empty(), "a second idle request was produced");
    }
    assert_eq!(h.m.in_flight(), 1);
    // The held poll returns empty at `wait`: a new one replaces it.
    h.respond(1001, &empty());
    h.advance(Duration::from_millis(30));
    let r = h.pump();
    assert_eq!(rids(&r), vec![1002]);
    assert_eq!(body_of(&r[0]).children().count(), 0);
    assert_eq!(body_of(&r[0]).get_attr("sid"), Some("abc"));
}

#[test]
fn stanza_goes_out_at_once_in_the_free_slot_while_a_poll_is_held() {
    let mut h = Harness::open();
    h.advance(Duration::from_millis(30));
    h.m.send(&msg(1));
    let r = h.pump();
    assert_eq!(rids(&r), vec![1002]);
    let b = body_of(&r[0]);
    assert_eq!(b.children().count(), 1);
    assert_eq!(b.get_attr("rid"), Some("1002"));
}

#[test]
fn stanzas_wait_while_requests_are_in_flight_then_leave_in_one_batch() {
    let mut h = Harness::open();
    h.advance(Duration::from_millis(30));
    h.m.send(&msg(1));
    assert_eq!(rids(&h.pump()), vec![1002]);
    h.advance(Duration::from_millis(30));
    for n in 2..=4 {
        h.m.send(&msg(n));
    }
    assert!(h.pump().is_empty(), "more than `requests` in flight");
    assert_eq!(h.m.queued(), 3);
    h.respond(1001, &empty());
    let r = h.pump();
    assert_eq!(rids(&r), vec![1003]);
    let ids: Vec<_> = body_of(&r[0])
        .children()
        .filter_map(|c| c.get_attr("id").map(str::to_owned))
        .collect();
    assert_eq!(ids, vec!["2", "3", "4"]);
}

#[test]
fn request_after_a_young_empty_poll_waits_for_the_poll_gap() {
    let mut h = Harness::open();
    // The poll 1001 was just sent at `now`: ejabberd must see it before a
    // later rid, so a stanza waits until the poll is `poll_gap` old.
    h.m.send(&msg(1));
    assert!(h.pump().is_empty());
    assert_eq!(h.m.poll_timeout(), Some(h.now + Duration::from_millis(25)));
    h.advance_to_timeout();
    assert_eq!(rids(&h.pump()), vec![1002]);
}

#[test]
fn request_after_a_young_payload_request_waits_for_the_poll_gap() {
    let mut h = Harness::open();
    h.advance(Duration::from_millis(30));
    h.m.send(&msg(1));
    assert_eq!(rids(&h.pump()), vec![1002]);
    // 1002 carries a payload and may be held: a new request must not
    // overtake it on the way to the server (E10), whatever its content.
    h.respond(1001, &empty());
    h.m.send(&msg(2));
    assert!(h.pump().is_empty());
    assert_eq!(h.m.poll_timeout(), Some(h.now + Duration::from_millis(25)));
    h.advance_to_timeout();
    assert_eq!(rids(&h.pump()), vec![1003]);
}

#[test]
fn empty_poll_is_deferred_so_a_reply_can_ride_in_it() {
    let mut h = Harness::open();
    h.advance(Duration::from_millis(30));
    h.respond(
        1001,
        &with_payload("<iq xmlns='jabber:client' type='get' id='q'/>"),
    );
    h.events();
    assert!(h.pump().is_empty(), "empty poll sent before poll_delay");
    h.m.send(&msg(7));
    let r = h.pump();
    assert_eq!(rids(&r), vec![1002]);
    assert_eq!(body_of(&r[0]).children().count(), 1);
    h.advance(Duration::from_secs(1));
    assert!(h.pump().is_empty(), "the reply request is the held one");
}

#[test]
fn payloads_are_delivered_in_rid_order_whatever_the_response_order() {
    let mut h = Harness::open();
    h.advance(Duration::from_millis(30));
    h.m.send(&msg(1));
    assert_eq!(rids(&h.pump()), vec![1002]);
    h.respond(
        1002,
        &with_payload("<message xmlns='jabber:client' id='second'/>"),
    );
    assert_eq!(payload_ids(&h.events()), Vec::<String>::new());
    h.respond(
        1001,
        &with_payload("<message xmlns='jabber:client' id='first'/>"),
    );
    assert_eq!(payload_ids(&h.events()), vec!["first", "second"]);
}

#[test]
fn large_batches_are_split_at_the_body_limit() {
    let mut cfg = BoshConfig::new("localhost");
    cfg.max_body_bytes = 200;
    let mut h = Harness {
        m: BoshSession::new(cfg, 1),
        now: Instant::now(),
    };
    h.pump();
    h.respond(1, &format!("<body {HB} sid='s' requests='2'/>"));
    h.advance(Duration::from_millis(30));
    h.pump(); // held poll
    for n in 0..6 {
        h.m.send(
            &Element::new(ns::CLIENT, "message")
                .attr("id", n.to_string())
                .text("x".repeat(50)),
        );
    }
    h.advance(Duration::from_millis(30));
    let r = h.pump();
    assert_eq!(body_of(&r[0]).children().count(), 2);
    assert_eq!(h.m.queued(), 4);
}
