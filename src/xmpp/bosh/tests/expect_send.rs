//! Expected sends take the empty poll's slot (issue 9, item 5); apart from pacing because
//! these tests step a 1 ms clock with helpers of their own.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Steps the clock 1 ms at a time for `span` ms, calling `at(t)` before each
/// pump; returns what left: (ms after the start, rid, payload count).
fn timeline(
    h: &mut Harness,
    span: u64,
    mut at: impl FnMut(u64, &mut Harness),
) -> Vec<(u64, u64, usize)> {
    let mut sent = Vec::new();
    for t in 0..=span {
        if t > 0 {
            h.advance(ms(1));
        }
        at(t, h);
        for r in h.pump() {
            sent.push((t, r.rid.0, body_of(&r).children().count()));
        }
    }
    sent
}

/// Idle session; the held poll 1001 returns an iq set for the owner at `now`.
fn handed_a_request() -> Harness {
    let mut h = Harness::open();
    h.advance(ms(30));
    h.respond(
        1001,
        &with_payload("<iq xmlns='jabber:client' type='set' id='w' from='b@localhost/x'/>"),
    );
    assert_eq!(payload_ids(&h.events()), vec!["w"]);
    h
}

fn answer() -> Element {
    Element::new(ns::CLIENT, "iq")
        .attr("type", "result")
        .attr("id", "w")
        .attr("to", "b@localhost/x")
}

#[test]
fn an_answer_sent_5_ms_after_its_request_takes_the_empty_polls_slot() {
    // Before issue 9 the poll left at 2 ms (poll_delay) and the answer then
    // waited until that poll was 25 ms old: [(2, 1002, 0), (27, 1003, 1)].
    let mut h = handed_a_request();
    h.m.expect_send(h.now, h.now + ms(40));
    let sent = timeline(&mut h, 80, |t, h| {
        if t == 5 {
            h.m.send(&answer());
            h.m.expect_none();
        }
    });
    assert_eq!(sent, vec![(5, 1002, 1)], "(ms, rid, payloads) that left");
}

#[test]
fn the_next_write_after_an_answer_takes_the_empty_polls_slot() {
    // The replication sender: an iq result arrives, the next Write follows
    // once the sender has committed; the owner does not withdraw the
    // expectation, the send alone uses the slot and the deadline is harmless.
    let mut h = Harness::open();
    h.advance(ms(30));
    h.respond(
        1001,
        &with_payload("<iq xmlns='jabber:client' type='result' id='wb1'/>"),
    );
    h.events();
    h.m.expect_send(h.now, h.now + ms(20));
    let sent = timeline(&mut h, 80, |t, h| {
        if t == 9 {
            h.m.send(&msg(2));
        }
    });
    assert_eq!(sent, vec![(9, 1002, 1)]);
}

#[test]
fn an_expected_send_that_never_comes_delays_the_idle_poll_only_until_its_deadline() {
    let mut h = handed_a_request();
    h.m.expect_send(h.now, h.now + ms(20));
    assert_eq!(h.m.poll_timeout(), Some(h.now + ms(20)));
    let sent = timeline(&mut h, 80, |_, _| {});
    assert_eq!(
        sent,
        vec![(20, 1002, 0)],
        "one held poll once the wait is over"
    );
}

#[test]
fn expect_max_bounds_how_long_the_idle_poll_waits() {
    let mut h = handed_a_request();
    h.m.expect_send(h.now, h.now + Duration::from_secs(10));
    let sent = timeline(&mut h, 120, |_, _| {});
    assert_eq!(sent, vec![(50, 1002, 0)]);
}

#[test]
fn withdrawing_the_expectation_releases_the_poll_at_poll_delay() {
    let mut h = handed_a_request();
    h.m.expect_send(h.now, h.now + ms(40));
    let sent = timeline(&mut h, 80, |t, h| {
        if t == 1 {
            h.m.expect_none();
        }
    });
    assert_eq!(sent, vec![(2, 1002, 0)]);
}

#[test]
fn an_expected_send_never_overtakes_a_young_request() {
    // The poll 1001 has just left: an expected stanza still waits until it
    // is poll_gap old (E10), exactly as an unexpected one would.
    let mut h = Harness::open();
    h.m.expect_send(h.now, h.now + ms(40));
    let sent = timeline(&mut h, 80, |t, h| {
        if t == 5 {
            h.m.send(&msg(1));
        }
    });
    assert_eq!(sent, vec![(25, 1002, 1)]);
}

#[test]
fn an_expectation_does_not_outlive_the_session() {
    let mut h = handed_a_request();
    h.m.expect_send(h.now, h.now + ms(40));
    h.m.close();
    let sent = timeline(&mut h, 5, |_, _| {});
    assert_eq!(sent, vec![(0, 1002, 0)], "the terminate leaves at once");
}
