//! Failed and lost requests: retransmission of the same rid and bytes, the retry budget,
//! stalled sessions, and the E10 order kept while a request waits to be sent again.

use super::*;

#[test]
fn older_request_never_answered_after_a_newer_one_means_a_stalled_session() {
    let mut h = Harness::open();
    h.advance(Duration::from_millis(30));
    h.m.send(&msg(1));
    assert_eq!(rids(&h.pump()), vec![1002]);
    // ejabberd 23.01 E10: 1002 parked, 1001 held; nothing ever comes back.
    h.advance(Duration::from_secs(4));
    assert_eq!(h.m.state(), BoshState::Open);
    assert_eq!(h.m.poll_timeout(), Some(h.now + Duration::from_secs(1)));
    h.advance_to_timeout();
    assert_eq!(
        h.events(),
        vec![BoshEvent::Terminated(Termination::Stalled {
            rid: 1001,
            newer: 1002
        })]
    );
}

#[test]
fn newer_request_held_long_after_the_older_was_answered_is_normal() {
    let mut h = Harness::open();
    h.advance(Duration::from_millis(30));
    h.m.send(&msg(1));
    h.pump();
    h.respond(1001, &empty());
    h.advance(Duration::from_secs(30));
    assert_eq!(h.m.state(), BoshState::Open);
    assert!(h.events().is_empty());
}

#[test]
fn transport_failure_retransmits_identical_bytes_with_the_same_rid() {
    let mut h = Harness::open();
    h.advance(Duration::from_millis(30));
    h.m.send(&msg(1));
    let first = h.pump();
    h.fail(1002, HttpFailure::Transport("connection reset".into()));
    assert!(
        h.pump().is_empty(),
        "retransmission not spaced by the send gap"
    );
    h.advance_to_timeout();
    let again = h.pump();
    assert_eq!(rids(&again), vec![1002]);
    assert_eq!(again[0].body, first[0].body);
    assert_eq!(again[0].attempt, 1);
    // Second failure backs off before the next retransmission.
    h.fail(1002, HttpFailure::Status(502));
    assert!(h.pump().is_empty());
    h.advance_to_timeout();
    let third = h.pump();
    assert_eq!(rids(&third), vec![1002]);
    assert_eq!(third[0].body, first[0].body);
    assert_eq!(third[0].attempt, 2);
}

#[test]
fn failed_request_still_counts_against_the_request_limit() {
    let mut h = Harness::open();
    h.advance(Duration::from_millis(30));
    h.m.send(&msg(1));
    h.pump();
    h.fail(1002, HttpFailure::Timeout);
    h.m.send(&msg(2));
    h.advance(Duration::from_millis(30));
    let r = h.pump();
    assert_eq!(rids(&r), vec![1002], "only the retransmission may go");
    assert_eq!(r[0].attempt, 1);
    h.advance(Duration::from_millis(30));
    assert!(h.pump().is_empty());
}

#[test]
fn recoverable_error_resends_the_failed_and_all_earlier_unanswered_requests() {
    let mut h = Harness::open();
    h.advance(Duration::from_millis(30));
    h.m.send(&msg(1));
    let sent = h.pump();
    h.respond(1002, &format!("<body {HB} type='error'/>"));
    h.advance(Duration::from_millis(30));
    let again = h.pump();
    assert_eq!(rids(&again), vec![1001]);
    h.advance(Duration::from_millis(30));
    let again2 = h.pump();
    assert_eq!(rids(&again2), vec![1002]);
    assert_eq!(again2[0].body, sent[0].body);
}

#[test]
fn retries_past_the_budget_terminate_the_session() {
    let mut h = Harness::open();
    for _ in 0..=5 {
        h.fail(1001, HttpFailure::Transport("refused".into()));
        if h.m.state() == BoshState::Closed {
            break;
        }
        h.advance(Duration::from_secs(10));
        assert_eq!(rids(&h.pump()), vec![1001]);
    }
    assert_eq!(
        h.events(),
        vec![BoshEvent::Terminated(Termination::GaveUp {
            rid: 1001,
            attempts: 6,
            last: HttpFailure::Transport("refused".into())
        })]
    );
    assert_eq!(h.m.poll_request(h.now), None);
    assert_eq!(h.m.poll_timeout(), None);
}

#[test]
fn older_request_whose_response_was_lost_is_retransmitted_after_grace() {
    let mut h = Harness::open();
    h.advance(Duration::from_millis(30));
    h.m.send(&msg(1));
    h.pump();
    h.respond(
        1002,
        &with_payload("<message xmlns='jabber:client' id='late'/>"),
    );
    assert!(payload_ids(&h.events()).is_empty());
    h.advance_to_timeout();
    let r = h.pump();
    assert_eq!(rids(&r), vec![1001]);
    assert_eq!(r[0].attempt, 1);
    h.respond(1001, &empty());
    assert_eq!(payload_ids(&h.events()), vec!["late"]);
}

/// A request waiting to be sent again keeps newer ones back: sent meanwhile, a newer rid
/// would reach the manager first, which ejabberd parks and never processes once the older
/// one is held (E10, issue 10's failing links).
#[test]
fn nothing_new_leaves_while_an_older_request_waits_to_be_sent_again() {
    let mut h = Harness::open();
    h.advance(Duration::from_millis(30));
    h.m.send(&msg(1));
    assert_eq!(rids(&h.pump()), vec![1002]);
    h.fail(1002, HttpFailure::Transport("connection reset".into()));
    h.advance_to_timeout();
    assert_eq!(rids(&h.pump()), vec![1002]);
    h.fail(1002, HttpFailure::Transport("connection reset".into()));
    h.respond(1001, &empty());
    h.m.send(&msg(2));
    h.advance(Duration::from_millis(30));
    assert!(h.pump().is_empty(), "rid 1003 would overtake 1002");
    assert!(
        h.m.poll_timeout().is_some_and(|t| t > h.now),
        "no timer due while held back (the driver would spin)"
    );
    h.advance_to_timeout();
    assert_eq!(rids(&h.pump()), vec![1002], "the retransmission first");
    // It likely opens a new connection: 1003 waits out the longer resend gap.
    h.advance(Duration::from_millis(30));
    assert!(
        h.pump().is_empty(),
        "1003 would overtake 1002's connection setup"
    );
    h.advance(Duration::from_millis(220));
    assert_eq!(rids(&h.pump()), vec![1003]);
}
