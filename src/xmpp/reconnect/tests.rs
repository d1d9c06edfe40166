//! The reconnect policy on a simulated clock.

use super::*;
use crate::xmpp::bosh::{HttpFailure, Termination};

fn conflict() -> StreamError {
    StreamError::Bosh(Termination::Condition {
        condition: "remote-stream-error".into(),
        detail: Some("conflict".into()),
    })
}

fn network() -> StreamError {
    StreamError::Bosh(Termination::GaveUp {
        rid: 1,
        attempts: 6,
        last: HttpFailure::Timeout,
    })
}

fn refused(condition: &str) -> StreamError {
    StreamError::SessionRefused {
        domain: "wrong.example".into(),
        condition: condition.into(),
        server: None,
    }
}

fn agent() -> ReconnectPolicy {
    ReconnectPolicy::new(Duration::from_millis(500), Duration::from_secs(30), true)
}

fn delay(d: &Decision) -> Duration {
    match d {
        Decision::Retry { delay, .. } | Decision::Conflict { delay, .. } => *delay,
        Decision::Stop => panic!("stopped"),
    }
}

#[test]
fn ordinary_losses_back_off_exponentially_and_a_login_resets_them() {
    let mut p = agent();
    let t = Instant::now();
    p.online(t);
    let d: Vec<Duration> = (0..8).map(|_| delay(&p.lost(&network(), t, 1.0))).collect();
    assert_eq!(d[0], Duration::from_millis(500));
    assert_eq!(d[1], Duration::from_secs(1));
    assert_eq!(d[2], Duration::from_secs(2));
    assert_eq!(d[7], Duration::from_secs(30), "capped at max");
    assert_eq!(
        delay(&p.lost(&network(), t, 0.0)),
        Duration::from_secs(15),
        "jitter halves at most"
    );
    p.online(t);
    assert_eq!(
        delay(&p.lost(&network(), t, 1.0)),
        Duration::from_millis(500)
    );
}

#[test]
fn a_conflict_waits_30_s_doubling_to_10_min_and_a_login_does_not_reset_it() {
    let mut p = agent();
    let mut now = Instant::now();
    let mut delays = Vec::new();
    for _ in 0..8 {
        p.online(now);
        // Kicked by the twin a few seconds after logging in.
        now += Duration::from_secs(3);
        let d = p.lost(&conflict(), now, 0.0);
        assert!(matches!(d, Decision::Conflict { .. }), "{d:?}");
        delays.push(delay(&d).as_secs());
        now += delay(&d);
    }
    assert_eq!(delays, vec![30, 60, 120, 240, 480, 600, 600, 600]);
    assert_eq!(p.conflicts(), 8);
}

#[test]
fn two_twins_swap_at_most_a_few_times_in_ten_minutes() {
    // Both twins run this policy; whoever logs in kicks the other.
    let start = Instant::now();
    let mut twins = [agent(), agent()];
    let mut next_login = [start, start + Duration::from_secs(1)];
    let mut online: Option<usize> = None;
    let mut logins = 0;
    let end = start + Duration::from_secs(600);
    loop {
        let i = if next_login[0] <= next_login[1] { 0 } else { 1 };
        let now = next_login[i];
        if now > end {
            break;
        }
        logins += 1;
        twins[i].online(now);
        if let Some(kicked) = online.replace(i) {
            // Worst case for the fight: the largest jitter is never drawn.
            let d = twins[kicked].lost(&conflict(), now, 0.0);
            next_login[kicked] = now + delay(&d);
        }
        next_login[i] = end + Duration::from_secs(1);
    }
    // Logins at 0, 1, 31, 61, 121, 181, 301, 421 s: each twin's wait doubles
    // (about 800 logins in 10 minutes without the policy).
    assert!(logins <= 8, "{logins} logins in 10 minutes");
    assert!(logins >= 3, "the twin still gets its turn: {logins}");
}

#[test]
fn a_long_stable_session_forgets_past_conflicts() {
    let mut p = agent();
    let t = Instant::now();
    p.online(t);
    assert_eq!(delay(&p.lost(&conflict(), t, 0.0)), Duration::from_secs(30));
    p.online(t);
    assert_eq!(delay(&p.lost(&conflict(), t, 0.0)), Duration::from_secs(60));
    p.online(t);
    let later = t + CONFLICT_FORGET;
    assert_eq!(
        delay(&p.lost(&conflict(), later, 0.0)),
        Duration::from_secs(30)
    );
}

#[test]
fn conflict_jitter_only_lengthens_the_delay() {
    let mut p = agent();
    let t = Instant::now();
    let d = delay(&p.lost(&conflict(), t, 1.0));
    assert_eq!(d, Duration::from_millis(37_500));
    let mut q = agent();
    assert_eq!(
        delay(&q.lost(&conflict(), t, f64::NAN)),
        Duration::from_millis(33_750)
    );
}

#[test]
fn a_domain_the_server_does_not_serve_stops_at_once() {
    let mut p = agent();
    let t = Instant::now();
    assert_eq!(p.lost(&refused("host-unknown"), t, 0.5), Decision::Stop);
    assert_eq!(
        agent().lost(&refused("improper-addressing"), t, 0.5),
        Decision::Stop
    );
}

#[test]
fn ejabberds_internal_server_error_at_creation_stops_only_once_it_persists() {
    let mut p = agent();
    let mut now = Instant::now();
    let mut tries = 0;
    let stopped_after = loop {
        tries += 1;
        match p.lost(&refused("internal-server-error"), now, 1.0) {
            Decision::Stop => break tries,
            d => now += delay(&d),
        }
        assert!(tries < 100, "never stops");
    };
    assert!(stopped_after >= REFUSALS_TO_STOP as usize);
    // A login in between (a server that was still starting) starts the count again.
    let mut p = agent();
    let t = Instant::now();
    for _ in 0..4 {
        assert!(matches!(
            p.lost(&refused("internal-server-error"), t, 1.0),
            Decision::Retry { .. }
        ));
    }
    p.online(t);
    let late = t + Duration::from_secs(60);
    assert!(matches!(
        p.lost(&refused("internal-server-error"), late, 1.0),
        Decision::Retry { .. }
    ));
}

#[test]
fn a_command_line_client_does_not_retry_its_first_login() {
    let mut p = ReconnectPolicy::new(Duration::from_millis(500), Duration::from_secs(30), false);
    assert_eq!(p.lost(&network(), Instant::now(), 0.5), Decision::Stop);
    let mut p = ReconnectPolicy::new(Duration::from_millis(500), Duration::from_secs(30), false);
    p.online(Instant::now());
    assert!(matches!(
        p.lost(&network(), Instant::now(), 0.5),
        Decision::Retry { .. }
    ));
}

#[test]
fn a_certificate_that_does_not_verify_is_retried_with_backoff_never_fatal() {
    // What the driver makes of a rustls refusal (xmpp::http): a transport failure of the
    // session creation. Fixing the certificate or ca_file needs no restart of the agent.
    let tls = StreamError::Bosh(Termination::Unreachable {
        failure: HttpFailure::Transport("TLS: the certificate of 127.0.0.1:5443 is expired".into()),
    });
    assert!(!tls.is_fatal());
    let mut p = agent();
    let t0 = Instant::now();
    let delays: Vec<Duration> = (0..8)
        .map(|i| delay(&p.lost(&tls, t0 + Duration::from_secs(i * 30), 1.0)))
        .collect();
    assert_eq!(delays[0], Duration::from_millis(500));
    assert_eq!(delays[1], Duration::from_secs(1));
    assert_eq!(delays[7], Duration::from_secs(30));
}

fn refused_connection() -> StreamError {
    StreamError::Bosh(Termination::Unreachable {
        failure: HttpFailure::Transport("connection refused".into()),
    })
}

/// Losses until the delay is at its cap (15-30 s with jitter).
fn down_for_long(p: &mut ReconnectPolicy, t: Instant) -> Duration {
    p.online(t);
    (0..8)
        .map(|_| delay(&p.lost(&refused_connection(), t, 1.0)))
        .last()
        .unwrap()
}

#[test]
fn a_server_back_from_an_outage_is_logged_in_to_after_one_probe_not_the_cap() {
    let mut p = agent();
    let t = Instant::now();
    assert_eq!(down_for_long(&mut p, t), Duration::from_secs(30));
    // Probed every second while the 30 s run; the first answer ends the wait.
    assert_eq!(p.probe_at(), Some(t + PROBE_EVERY));
    assert!(!p.probed(t + Duration::from_secs(1), false));
    assert_eq!(p.probe_at(), Some(t + Duration::from_secs(2)));
    assert!(p.probed(t + Duration::from_secs(2), true), "cut the wait");
    assert_eq!(p.probe_at(), None);
    p.online(t + Duration::from_secs(3));
    assert_eq!(
        delay(&p.lost(&refused_connection(), t, 1.0)),
        Duration::from_millis(500),
        "a login resets the backoff"
    );
}

#[test]
fn a_gateway_5xx_or_a_timeout_is_probed_too() {
    for err in [
        network(),
        StreamError::Bosh(Termination::Unreachable {
            failure: HttpFailure::Status(502),
        }),
    ] {
        let mut p = agent();
        let t = Instant::now();
        p.online(t);
        p.lost(&err, t, 1.0);
        assert_eq!(p.probe_at(), Some(t + PROBE_EVERY), "{err}");
    }
}

#[test]
fn logins_that_reach_the_server_and_fail_keep_backing_off_unprobed() {
    let t = Instant::now();
    for err in [
        refused("internal-server-error"),
        StreamError::Bosh(Termination::Stalled { rid: 2, newer: 3 }),
        StreamError::Bosh(Termination::HttpStatus { status: 404 }),
        conflict(),
    ] {
        let mut p = agent();
        p.online(t);
        p.lost(&err, t, 1.0);
        assert_eq!(p.probe_at(), None, "{err}");
        assert!(!p.probed(t, true), "no probe, nothing to cut: {err}");
    }
}

#[test]
fn a_login_after_a_cut_that_fails_again_waits_its_full_growing_delay() {
    let mut p = agent();
    let t = Instant::now();
    p.online(t);
    let first = delay(&p.lost(&refused_connection(), t, 1.0));
    assert!(p.probed(t, true));
    // The probe answered but the login did not: no probing, the backoff grows.
    let second = delay(&p.lost(&refused_connection(), t, 1.0));
    assert_eq!(second, first * 2);
    assert_eq!(p.probe_at(), None);
    // The loss after that is probed again.
    p.lost(&refused_connection(), t, 1.0);
    assert_eq!(p.probe_at(), Some(t + PROBE_EVERY));
}
