//! Property tests (fuzzing) of the BOSH machine: any sequence of responses
//! (arbitrary text, hostile bodies, terminal conditions, HTTP failures),
//! sends and clock steps never panics, never makes the machine emit without
//! bound, and never leaves it with a deadline in the past (which would spin
//! the driver). Bounded like the XML properties.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use super::*;
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
