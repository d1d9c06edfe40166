//! The failover rule on a simulated clock.

use super::*;
use crate::xmpp::bosh::{HttpFailure, Termination};

const A: &str = "http://127.0.0.1:5280/http-bind";
const B: &str = "https://xmpp2.example.net:5443/bosh";
const C: &str = "http://10.0.0.3:5280/http-bind";

fn unreachable() -> StreamError {
    StreamError::Bosh(Termination::Unreachable {
        failure: HttpFailure::Transport("connection refused".into()),
    })
}

fn conflict() -> StreamError {
    StreamError::Bosh(Termination::Condition {
        condition: "remote-stream-error".into(),
        detail: Some("conflict".into()),
    })
}

fn auth_failed() -> StreamError {
    StreamError::AuthFailed {
        user: "u".into(),
        mechanism: "SCRAM-SHA-1",
        condition: "not-authorized".into(),
        text: None,
    }
}

fn agent() -> ReconnectPolicy {
    ReconnectPolicy::new(Duration::from_millis(500), Duration::from_secs(30), true)
}

fn failover(servers: &[&str]) -> Failover {
    Failover::new(servers.iter().map(|s| (*s).to_owned()).collect()).unwrap()
}

fn delay(d: &Decision) -> Duration {
    match d {
        Decision::Retry { delay, .. } | Decision::Conflict { delay, .. } => *delay,
        Decision::Stop => panic!("stopped"),
    }
}

/// One failure of the current server at `t`, with full jitter: (delay, server to use next).
fn fail(f: &mut Failover, p: &mut ReconnectPolicy, t: Instant) -> (Duration, String) {
    let (d, _) = f.lost(p, &unreachable(), t, 1.0);
    (delay(&d), f.current().to_owned())
}

#[test]
fn no_servers_is_no_failover() {
    assert!(Failover::new(Vec::new()).is_none());
}

#[test]
fn one_server_behaves_exactly_as_the_policy() {
    let t = Instant::now();
    let (mut f, mut p, mut alone) = (failover(&[A]), agent(), agent());
    for _ in 0..8 {
        let (d, s) = f.lost(&mut p, &unreachable(), t, 1.0);
        assert_eq!(d, alone.lost(&unreachable(), t, 1.0));
        assert_eq!(s, None, "nowhere to switch to");
        assert_eq!(f.current(), A);
    }
}

#[test]
fn a_dead_first_server_costs_one_quick_attempt() {
    let t = Instant::now();
    let (mut f, mut p) = (failover(&[A, B]), agent());
    assert_eq!(f.current(), A, "the first is tried first");
    let (d, s) = f.lost(&mut p, &unreachable(), t, 1.0);
    assert_eq!(
        s,
        Some(Switch {
            from: A.into(),
            to: B.into()
        })
    );
    assert_eq!(
        d,
        Decision::Retry {
            attempt: 1,
            delay: SWITCH_DELAY
        }
    );
    assert_eq!(f.current(), B);
    let (d, _) = failover(&[A, B]).lost(&mut agent(), &unreachable(), t, 0.0);
    assert_eq!(delay(&d), SWITCH_DELAY / 2, "jitter halves at most");
}

#[test]
fn backoff_grows_per_round_not_per_server() {
    let t = Instant::now();
    let (mut f, mut p) = (failover(&[A, B, C]), agent());
    let steps: Vec<(Duration, String)> = (0..9).map(|_| fail(&mut f, &mut p, t)).collect();
    let quick = SWITCH_DELAY;
    let expected = [
        (quick, B),
        (quick, C),
        (Duration::from_millis(500), A),
        (quick, B),
        (quick, C),
        (Duration::from_secs(1), A),
        (quick, B),
        (quick, C),
        (Duration::from_secs(2), A),
    ];
    let expected: Vec<(Duration, String)> = expected
        .iter()
        .map(|(d, s)| (*d, (*s).to_owned()))
        .collect();
    assert_eq!(steps, expected);
}

#[test]
fn sticky_it_stays_on_the_server_that_works_and_moves_on_only_when_that_fails() {
    let t = Instant::now();
    let (mut f, mut p) = (failover(&[A, B]), agent());
    fail(&mut f, &mut p, t);
    for i in 1..=10 {
        f.online();
        p.online(t + Duration::from_secs(i));
        assert_eq!(f.current(), B, "logged in on the second: it stays there");
    }
    // The first is back by now, but only the second failing moves the agent back, quickly:
    // a login ended the round, so this is the first failure of a new one.
    let (d, s) = f.lost(&mut p, &unreachable(), t + Duration::from_secs(60), 1.0);
    assert_eq!(
        s,
        Some(Switch {
            from: B.into(),
            to: A.into()
        })
    );
    assert_eq!(delay(&d), SWITCH_DELAY);
    // The first fails too: the round is complete, so the backoff applies (reset by the login).
    assert_eq!(
        fail(&mut f, &mut p, t + Duration::from_secs(61)),
        (Duration::from_millis(500), B.to_owned())
    );
}

#[test]
fn a_conflict_waits_on_the_same_server() {
    let t = Instant::now();
    let (mut f, mut p) = (failover(&[A, B]), agent());
    f.online();
    p.online(t);
    let (d, s) = f.lost(&mut p, &conflict(), t, 0.0);
    assert!(
        matches!(d, Decision::Conflict { conflicts: 1, .. }),
        "{d:?}"
    );
    assert_eq!(delay(&d), crate::xmpp::reconnect::CONFLICT_MIN);
    assert_eq!((s, f.current()), (None, A));
}

#[test]
fn a_fatal_error_stops_without_trying_the_others() {
    let (mut f, mut p) = (failover(&[A, B]), agent());
    let (d, s) = f.lost(&mut p, &auth_failed(), Instant::now(), 0.5);
    assert_eq!((d, s), (Decision::Stop, None));
}

#[test]
fn a_one_shot_client_tries_every_server_once_then_gives_up() {
    let t = Instant::now();
    let mut p = ReconnectPolicy::new(Duration::from_millis(500), Duration::from_secs(30), false);
    let mut f = failover(&[A, B, C]);
    assert!(matches!(
        fail_decision(&mut f, &mut p, t),
        Decision::Retry { .. }
    ));
    assert!(matches!(
        fail_decision(&mut f, &mut p, t),
        Decision::Retry { .. }
    ));
    assert_eq!(f.current(), C);
    assert_eq!(fail_decision(&mut f, &mut p, t), Decision::Stop);
}

fn fail_decision(f: &mut Failover, p: &mut ReconnectPolicy, t: Instant) -> Decision {
    f.lost(p, &unreachable(), t, 0.5).0
}

#[test]
fn a_server_still_starting_is_skipped_like_a_dead_one() {
    // ejabberd answers internal-server-error while its modules start: not fatal.
    let refused = StreamError::SessionRefused {
        domain: "localhost".into(),
        condition: "internal-server-error".into(),
        server: Some(A.into()),
    };
    let (mut f, mut p) = (failover(&[A, B]), agent());
    let (d, s) = f.lost(&mut p, &refused, Instant::now(), 1.0);
    assert_eq!(delay(&d), SWITCH_DELAY);
    assert_eq!(s.map(|s| s.to), Some(B.to_owned()));
}

fn wrong_path() -> StreamError {
    StreamError::Bosh(Termination::Unreachable {
        failure: HttpFailure::Status(404),
    })
}

#[test]
fn a_server_that_refuses_for_good_is_passed_over_while_another_may_work() {
    let t = Instant::now();
    let (mut f, mut p) = (failover(&[A, B]), agent());
    // A answers 404 (wrong BOSH path on that node): move on to B at once.
    let (d, s) = f.lost(&mut p, &wrong_path(), t, 1.0);
    assert_eq!(delay(&d), SWITCH_DELAY);
    assert_eq!(s.map(|s| s.to), Some(B.to_owned()));
    // B is down: the round ends with a backoff, not a stop, and goes back to A.
    let (d, _) = f.lost(&mut p, &unreachable(), t, 1.0);
    assert_eq!(delay(&d), Duration::from_millis(500));
    assert_eq!(f.current(), A);
    // A refuses again, then B comes back and refuses no more: still retrying.
    let (d, _) = f.lost(&mut p, &wrong_path(), t, 1.0);
    assert!(matches!(d, Decision::Retry { .. }));
}

#[test]
fn the_agent_stops_only_when_every_server_refuses_for_good() {
    let t = Instant::now();
    let (mut f, mut p) = (failover(&[A, B]), agent());
    assert!(matches!(
        f.lost(&mut p, &wrong_path(), t, 0.5).0,
        Decision::Retry { .. }
    ));
    assert_eq!(f.lost(&mut p, &wrong_path(), t, 0.5).0, Decision::Stop);
}

#[test]
fn a_single_server_that_refuses_for_good_still_stops_at_once() {
    let (mut f, mut p) = (failover(&[A]), agent());
    assert_eq!(
        f.lost(&mut p, &wrong_path(), Instant::now(), 0.5).0,
        Decision::Stop
    );
}
