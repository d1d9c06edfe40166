//! Property tests (fuzzing) of the BOSH machine: any sequence of responses
//! (arbitrary text, hostile bodies, terminal conditions, HTTP failures),
//! sends and clock steps never panics, never makes the machine emit without
//! bound, and never leaves it with a deadline in the past (which would spin
//! the driver). Bounded like the XML properties.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use super::*;
use crate::xmpp::xml::Limits;
use crate::xmpp::xml::prop_tests::{config, with_deadline};

const HB: &str = "http://jabber.org/protocol/httpbind";

#[derive(Debug, Clone)]
enum Op {
    /// Answer the `n`-th outstanding request (modulo) with this text.
    Respond(usize, String),
    Fail(usize, HttpFailure),
    Advance(u64),
    Send(u8),
    Restart,
    Close,
}

fn attr_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1".to_owned()),
        Just("0".to_owned()),
        Just("-1".to_owned()),
        Just("2".to_owned()),
        Just("60".to_owned()),
        Just("18446744073709551615".to_owned()),
        Just("99999999999999999999999".to_owned()),
        Just(" 5 ".to_owned()),
        "[a-z0-9-]{0,8}",
    ]
}

fn stanza() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<message xmlns='jabber:client' id='m'/>".to_owned()),
        Just("<iq xmlns='jabber:client' type='get' id='q' from='a@b/c'><ping xmlns='urn:xmpp:ping'/></iq>".to_owned()),
        (1usize..100).prop_map(|d| format!(
            "<iq xmlns='jabber:client' type='set' id='d' from='e@b/x'>{}{}</iq>",
            "<x xmlns='urn:x'>".repeat(d),
            "</x>".repeat(d)
        )),
        Just("<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>".to_owned()),
        Just("<stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>".to_owned()),
        Just("<uri>http://elsewhere/</uri>".to_owned()),
        Just("text".to_owned()),
        Just("<unclosed>".to_owned()),
    ]
}

/// A `<body/>` with random session attributes and payloads.
fn body() -> impl Strategy<Value = String> {
    (
        prop::option::of(prop::sample::select(vec!["terminate", "error", "other"])),
        prop::option::of(prop::sample::select(vec![
            "remote-stream-error",
            "item-not-found",
            "host-unknown",
            "internal-server-error",
            "see-other-uri",
            "policy-violation",
        ])),
        prop::collection::vec(
            (
                prop::sample::select(vec![
                    "sid",
                    "wait",
                    "requests",
                    "hold",
                    "inactivity",
                    "polling",
                    "maxpause",
                    "ver",
                ]),
                attr_value(),
            ),
            0..6,
        ),
        prop::collection::vec(stanza(), 0..4),
    )
        .prop_map(|(kind, condition, attrs, payloads)| {
            let mut s = format!("<body xmlns='{HB}'");
            if let Some(k) = kind {
                s.push_str(&format!(" type='{k}'"));
            }
            if let Some(c) = condition {
                s.push_str(&format!(" condition='{c}'"));
            }
            let mut seen = Vec::new();
            for (n, v) in attrs {
                if !seen.contains(&n) {
                    seen.push(n);
                    s.push_str(&format!(" {n}='{v}'"));
                }
            }
            s.push('>');
            s.push_str(&payloads.concat());
            s.push_str("</body>");
            s
        })
}

fn response() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => body(),
        1 => any::<String>(),
        1 => Just(String::new()),
        1 => Just("<notbody/>".to_owned()),
    ]
}

fn failure() -> impl Strategy<Value = HttpFailure> {
    prop_oneof![
        Just(HttpFailure::Timeout),
        any::<u16>().prop_map(HttpFailure::Status),
        Just(HttpFailure::Transport("reset".into())),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (any::<usize>(), response()).prop_map(|(i, r)| Op::Respond(i, r)),
        2 => (any::<usize>(), failure()).prop_map(|(i, f)| Op::Fail(i, f)),
        4 => (0u64..120_000).prop_map(Op::Advance),
        3 => any::<u8>().prop_map(Op::Send),
        1 => Just(Op::Restart),
        1 => Just(Op::Close),
    ]
}

fn created() -> String {
    format!("<body xmlns='{HB}' sid='s' wait='60' requests='2' hold='1' inactivity='30'/>")
}

/// One driver iteration at a fixed `now`: the checks the tokio driver relies on.
fn step(
    m: &mut BoshSession,
    now: Instant,
    outstanding: &mut Vec<Rid>,
) -> Result<(), TestCaseError> {
    m.handle_timeout(now);
    let mut sent = 0;
    while let Some(r) = m.poll_request(now) {
        sent += 1;
        prop_assert!(sent <= 8, "poll_request never stops producing requests");
        prop_assert!(r.rid.0 <= MAX_RID);
        if !outstanding.contains(&r.rid) {
            outstanding.push(r.rid);
        }
    }
    let mut events = 0;
    while m.poll_event().is_some() {
        events += 1;
        prop_assert!(events <= 10_000, "poll_event never stops");
    }
    if let Some(t) = m.poll_timeout() {
        prop_assert!(
            t > now,
            "deadline {:?} not after now: the driver would spin",
            t - now
        );
    }
    if m.state() == BoshState::Closed {
        prop_assert_eq!(m.poll_request(now), None);
        prop_assert_eq!(m.poll_timeout(), None);
    }
    Ok(())
}

fn session(ops: Vec<Op>, create_first: bool) -> Result<(), TestCaseError> {
    let mut m = BoshSession::new(BoshConfig::new("localhost"), 1000);
    let mut now = Instant::now();
    let mut outstanding: Vec<Rid> = Vec::new();
    step(&mut m, now, &mut outstanding)?;
    if create_first {
        m.handle_response(now, Rid(1000), Ok(created()));
        outstanding.retain(|r| r.0 != 1000);
        step(&mut m, now, &mut outstanding)?;
    }
    for op in ops {
        match op {
            Op::Respond(i, text) if !outstanding.is_empty() => {
                let rid = outstanding[i % outstanding.len()];
                m.handle_response(now, rid, Ok(text));
            }
            Op::Fail(i, f) if !outstanding.is_empty() => {
                let rid = outstanding[i % outstanding.len()];
                m.handle_response(now, rid, Err(f));
            }
            Op::Respond(..) | Op::Fail(..) => {}
            Op::Advance(ms) => now += Duration::from_millis(ms),
            Op::Send(n) => m.send(&Element::new(ns::CLIENT, "message").attr("id", n.to_string())),
            Op::Restart => m.restart(),
            Op::Close => m.close(),
        }
        step(&mut m, now, &mut outstanding)?;
    }
    Ok(())
}

#[test]
fn any_sequence_of_responses_never_panics_loops_or_spins() {
    with_deadline(Duration::from_secs(120), || {
        let strategy = (prop::collection::vec(op(), 0..40), any::<bool>());
        let mut runner = TestRunner::new(config());
        if let Err(e) = runner.run(&strategy, |(ops, create)| session(ops, create)) {
            panic!("{e}");
        }
    });
}

#[test]
fn arbitrary_text_as_any_response_never_panics() {
    with_deadline(Duration::from_secs(120), || {
        let mut runner = TestRunner::new(config());
        let strategy = (any::<String>(), body());
        if let Err(e) = runner.run(&strategy, |(junk, b)| {
            session(
                vec![Op::Respond(0, junk), Op::Respond(0, b), Op::Advance(70_000)],
                true,
            )?;
            session(vec![Op::Respond(0, created()), Op::Send(1)], false)
        }) {
            panic!("{e}");
        }
    });
}

// ------------------- E10 under random schedules with expected sends (issue 9, item 5) ---

/// One step of a well-formed schedule: valid bodies, short clock steps (so
/// that `poll_gap` matters), expectations announced and withdrawn.
#[derive(Debug, Clone)]
enum Sched {
    /// Answer the `n`-th request on the wire (modulo) with this payload.
    Respond(usize, &'static str),
    Fail(usize),
    AdvanceMs(u64),
    Send(u8),
    Expect(u64),
    ExpectNone,
}

fn sched() -> impl Strategy<Value = Sched> {
    prop_oneof![
        4 => (any::<usize>(), prop::sample::select(vec![
            "",
            "<iq xmlns='jabber:client' type='set' id='s' from='b@localhost/x'/>",
            "<iq xmlns='jabber:client' type='result' id='wb1'/>",
            "<message xmlns='jabber:client' id='m'/>",
        ])).prop_map(|(i, p)| Sched::Respond(i, p)),
        1 => any::<usize>().prop_map(Sched::Fail),
        6 => (0u64..40).prop_map(Sched::AdvanceMs),
        3 => any::<u8>().prop_map(Sched::Send),
        2 => (0u64..200).prop_map(Sched::Expect),
        1 => Just(Sched::ExpectNone),
    ]
}

/// Runs a schedule against the machine and a model of the wire (requests
/// sent and not yet answered, with their send time), checking after every
/// step: (1) no new request leaves while an earlier one on the wire is
/// younger than `poll_gap` (E10; the terminate is exempt); (2) at most
/// `requests` on the wire; (3) with nothing in flight, a queued stanza
/// leaves within `send_gap` and the idle poll within `expect_max`: an
/// expectation always ends.
fn schedule(steps: Vec<Sched>) -> Result<(), TestCaseError> {
    let cfg = BoshConfig::new("localhost");
    let mut m = BoshSession::new(cfg.clone(), 1000);
    let mut now = Instant::now();
    let mut wire: BTreeMap<u64, (Instant, bool)> = BTreeMap::new();
    let emit = |m: &mut BoshSession, now: Instant, wire: &mut BTreeMap<u64, (Instant, bool)>| {
        while let Some(r) = m.poll_request(now) {
            let terminate = Element::parse(&r.body, &Limits::default())
                .map_err(|e| TestCaseError::fail(e.to_string()))?
                .get_attr("type")
                == Some("terminate");
            if r.attempt == 0 && !terminate {
                for (rid, (at, term)) in wire.iter() {
                    prop_assert!(
                        *term || *at + cfg.poll_gap <= now,
                        "rid {} sent {:?} after rid {rid}, which is still on the wire",
                        r.rid.0,
                        now - *at
                    );
                }
            }
            wire.insert(r.rid.0, (now, terminate));
            prop_assert!(wire.values().filter(|(_, t)| !t).count() <= 2);
        }
        while m.poll_event().is_some() {}
        if m.state() == BoshState::Open && m.in_flight() == 0 {
            let t = m.poll_timeout();
            let bound = if m.queued() > 0 {
                cfg.send_gap
            } else {
                cfg.expect_max
            };
            prop_assert!(
                t.is_some_and(|t| t > now && t <= now + bound),
                "nothing in flight and the next send is {:?} away",
                t.map(|t| t - now)
            );
        }
        Ok(())
    };
    emit(&mut m, now, &mut wire)?;
    m.handle_response(now, Rid(1000), Ok(created()));
    wire.remove(&1000);
    emit(&mut m, now, &mut wire)?;
    for s in steps {
        let nth = |i: usize, wire: &BTreeMap<u64, (Instant, bool)>| {
            (!wire.is_empty()).then(|| *wire.keys().nth(i % wire.len()).unwrap_or(&0))
        };
        match s {
            Sched::Respond(i, p) => {
                if let Some(rid) = nth(i, &wire) {
                    wire.remove(&rid);
                    let body = format!("<body xmlns='{HB}'>{p}</body>");
                    m.handle_response(now, Rid(rid), Ok(body));
                }
            }
            Sched::Fail(i) => {
                if let Some(rid) = nth(i, &wire) {
                    wire.remove(&rid);
                    m.handle_response(now, Rid(rid), Err(HttpFailure::Transport("reset".into())));
                }
            }
            Sched::AdvanceMs(n) => now += Duration::from_millis(n),
            Sched::Send(n) => {
                m.send(&Element::new(ns::CLIENT, "message").attr("id", n.to_string()))
            }
            Sched::Expect(n) => m.expect_send(now, now + Duration::from_millis(n)),
            Sched::ExpectNone => m.expect_none(),
        }
        m.handle_timeout(now);
        emit(&mut m, now, &mut wire)?;
        if m.state() == BoshState::Closed {
            break;
        }
    }
    Ok(())
}

#[test]
fn no_request_overtakes_a_young_one_and_expectations_always_end() {
    with_deadline(Duration::from_secs(120), || {
        let mut runner = TestRunner::new(config());
        let strategy = prop::collection::vec(sched(), 0..80);
        if let Err(e) = runner.run(&strategy, schedule) {
            panic!("{e}");
        }
    });
}
