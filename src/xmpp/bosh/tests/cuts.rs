//! A proxy that cuts held polls: which cuts are forgiven and which still use up the retry
//! budget; apart from failures because these tests drive simulated proxies of their own.

use std::collections::BTreeMap;

use super::*;

/// A proxy that cuts every request it has carried for 5 s (tinyproxy `Timeout 5`, below
/// `wait`), before a live manager: the held poll `rid` is cut and sent again; 2 s later an
/// empty request follows, which makes the manager answer it (hold=1). Returns the rid held
/// now.
fn cut_held_poll(h: &mut Harness, rid: u64, failure: HttpFailure) -> u64 {
    h.advance(Duration::from_secs(5));
    h.fail(rid, failure);
    assert_eq!(h.events(), vec![], "cut {rid} ended the session");
    h.advance_to_timeout();
    assert_eq!(rids(&h.pump()), vec![rid], "the cut poll is retransmitted");
    h.advance(Duration::from_millis(1999));
    assert!(
        h.pump().is_empty(),
        "the retransmission may still be on its way"
    );
    h.advance_to_timeout();
    assert_eq!(
        rids(&h.pump()),
        vec![rid + 1],
        "then an empty request proves the hold"
    );
    h.respond(rid, &empty());
    assert_eq!(h.events(), vec![]);
    rid + 1
}

#[test]
fn a_proxy_cutting_every_held_poll_does_not_end_the_session() {
    let mut h = Harness::open();
    let cut = || HttpFailure::Transport("connection closed before message completed".into());
    // 20 cuts = 140 s of an idle session behind the proxy: far beyond the 5 retries.
    let mut held = 1001;
    for _ in 0..20 {
        held = cut_held_poll(&mut h, held, cut());
    }
    // A gateway timeout answered by the proxy after holding is the same cut.
    for status in [502, 503, 504] {
        held = cut_held_poll(&mut h, held, HttpFailure::Status(status));
    }
    // Traffic still flows in order: a write goes out behind the held poll, never before it.
    h.advance(Duration::from_millis(30));
    h.m.send(&msg(7));
    let r = h.pump();
    assert_eq!(rids(&r), vec![held + 1]);
    h.respond(
        held + 1,
        &with_payload("<message xmlns='jabber:client' id='b'/>"),
    );
    h.respond(
        held,
        &with_payload("<message xmlns='jabber:client' id='a'/>"),
    );
    assert_eq!(payload_ids(&h.events()), vec!["a", "b"]);
    assert_eq!(h.m.state(), BoshState::Open);
}

/// Drives `h` for up to `span` behind a proxy that cuts every request it carried for 3 s.
/// Behind the proxy, either a live manager (holds one request and answers it, empty, as
/// soon as a newer one arrives: hold=1) or nothing (a dead link: the proxy accepts and cuts
/// every request). Starts from [`Harness::open`]. Returns the requests sent, and how long
/// the session lasted.
fn behind_a_cutting_proxy(h: &mut Harness, span: Duration, live: bool) -> (usize, Duration) {
    let cut_after = Duration::from_secs(3);
    let start = h.now;
    // Harness::open has just sent the poll 1001.
    let mut in_flight = BTreeMap::from([(1001, h.now)]);
    let mut held = live.then_some(1001);
    let mut sent = 0;
    for _ in 0..100_000 {
        if h.m.state() == BoshState::Closed || h.now >= start + span {
            return (sent, h.now - start);
        }
        h.events();
        for r in h.pump() {
            sent += 1;
            in_flight.insert(r.rid.0, h.now);
            if live {
                if let Some(older) = held.filter(|&o| o < r.rid.0) {
                    in_flight.remove(&older);
                    h.respond(older, &empty());
                }
                held = Some(r.rid.0);
            }
        }
        let next_cut = in_flight.values().map(|t| *t + cut_after).min();
        let next = [next_cut, h.m.poll_timeout(), Some(start + span)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(h.now);
        h.now = next.max(h.now);
        let due: Vec<u64> = in_flight
            .iter()
            .filter(|(_, t)| **t + cut_after <= h.now)
            .map(|(rid, _)| *rid)
            .collect();
        for rid in due {
            in_flight.remove(&rid);
            h.fail(
                rid,
                HttpFailure::Transport("connection closed before message completed".into()),
            );
        }
        h.m.handle_timeout(h.now);
    }
    panic!(
        "the machine did not settle: time stood still at {:?}",
        h.now - start
    );
}

#[test]
fn a_cutting_proxy_before_a_live_manager_costs_two_requests_per_cut() {
    let mut h = Harness::open();
    let (sent, lasted) = behind_a_cutting_proxy(&mut h, Duration::from_secs(600), true);
    assert_eq!(h.m.state(), BoshState::Open, "{:?}", h.events());
    assert_eq!(lasted, Duration::from_secs(600));
    // Each poll is cut at 3 s, sent again, and answered when the proof follows 2 s later.
    assert!(sent <= 600 / 5 * 2 + 2, "{sent} requests in 10 min");
}

/// Fails on the code before the proof: a proxy whose link to the manager is dead (it
/// accepts every request, then cuts it after its timeout) looked like one cutting held
/// polls, so the cuts were forgiven forever and the session, never answered, stayed open.
#[test]
fn a_cutting_proxy_before_a_dead_link_ends_the_session() {
    let mut h = Harness::open();
    let (_, lasted) = behind_a_cutting_proxy(&mut h, Duration::from_secs(600), false);
    assert_eq!(
        h.m.state(),
        BoshState::Closed,
        "still open after {lasted:?}"
    );
    assert!(lasted < Duration::from_secs(40), "ended after {lasted:?}");
    assert!(matches!(
        h.events().as_slice(),
        [BoshEvent::Terminated(Termination::GaveUp { .. })]
    ));
}

#[test]
fn only_a_cut_after_a_hold_is_forgiven() {
    // Each of these still uses up the retry budget, however long it took: a connect that
    // timed out reached nothing, our own timeout means the server did not answer in `wait`,
    // 500 is no gateway timeout, and a fast reset is a broken link, not a hold.
    let cases = [
        (
            Duration::from_secs(10),
            HttpFailure::Connect("connect timeout".into()),
        ),
        (Duration::from_secs(70), HttpFailure::Timeout),
        (Duration::from_secs(5), HttpFailure::Status(500)),
        (
            Duration::from_millis(500),
            HttpFailure::Transport("reset".into()),
        ),
    ];
    for (after, failure) in cases {
        let mut h = Harness::open();
        let mut ended = false;
        for _ in 0..=5 {
            h.advance(after);
            h.fail(1001, failure.clone());
            if h.m.state() == BoshState::Closed {
                ended = true;
                break;
            }
            h.advance(Duration::from_secs(10));
            assert_eq!(rids(&h.pump()), vec![1001]);
        }
        assert!(ended, "{failure:?} after {after:?} never ended the session");
        assert!(matches!(
            h.events().as_slice(),
            [BoshEvent::Terminated(Termination::GaveUp {
                attempts: 6,
                ..
            })]
        ));
    }
}

#[test]
fn cuts_do_not_hide_real_failures_of_the_same_request() {
    // A cut in between does not reset the count of real failures, nor does it add to it.
    let mut h = Harness::open();
    let cut = HttpFailure::Status(504);
    let reset = || HttpFailure::Transport("reset".into());
    for i in 0..5 {
        h.advance(Duration::from_secs(5));
        h.fail(1001, cut.clone());
        h.advance_to_timeout();
        assert_eq!(rids(&h.pump()), vec![1001]);
        h.fail(1001, reset());
        assert_eq!(
            h.m.state(),
            BoshState::Open,
            "after {} real failures",
            i + 1
        );
        h.advance(Duration::from_secs(10));
        assert_eq!(rids(&h.pump()), vec![1001]);
        // The manager answers something (here a stanza sent meanwhile, out of order), so
        // the next cut is forgiven again.
        h.m.send(&msg(i));
        h.advance(Duration::from_millis(300));
        let r = h.pump();
        assert_eq!(r.len(), 1);
        h.respond(r[0].rid.0, &empty());
    }
    h.fail(1001, reset());
    assert_eq!(h.m.state(), BoshState::Closed);
}
