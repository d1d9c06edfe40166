//! The send policy under seeded random schedules (SPEC §4), on a virtual clock: random
//! settings, random update streams, the driver's calls as `replication::enqueue` makes them
//! (every due deadline handled at its exact instant), then the rules checked over the whole
//! timeline: send-on-delta, the throttle, the heartbeat, and that the target ends in step.

use std::time::{Duration, Instant, SystemTime};

use proptest::prelude::*;

use super::*;
use crate::datapoints::{PointStatus, UpdateSource};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Why {
    Update,
    Held,
    Heartbeat,
}

#[derive(Debug, Clone, Copy)]
struct Send {
    at: Duration,
    value: f64,
    why: Why,
}

fn ev(x: f64) -> ChangeEvent {
    ChangeEvent {
        name: "src".to_owned(),
        value: DpValue::Number(x),
        text: format!("{x:.1}"),
        priority: 255,
        point_status: PointStatus::NoCondition,
        at: SystemTime::UNIX_EPOCH,
        source: UpdateSource::Admin,
    }
}

fn number(ev: &ChangeEvent) -> f64 {
    match ev.value {
        DpValue::Number(x) => x,
        _ => f64::NAN,
    }
}

/// Drives one policy as the enqueue side does, recording every send.
struct Driver {
    t0: Instant,
    now: Instant,
    policy: ConnPolicy,
    sends: Vec<Send>,
}

impl Driver {
    fn send(&mut self, ev: &ChangeEvent, why: Why) {
        self.sends.push(Send {
            at: self.now - self.t0,
            value: number(ev),
            why,
        });
        self.policy.sent(self.now, ev);
    }

    /// Moves the clock to `to`, handling every deadline on the way at its instant.
    fn advance(&mut self, to: Instant) -> Result<(), TestCaseError> {
        let mut turns = 0;
        while let Some(at) = self.policy.poll_timeout().filter(|at| *at <= to) {
            turns += 1;
            prop_assert!(
                turns < 10_000,
                "deadlines never end (at {:?})",
                at - self.t0
            );
            self.now = at.max(self.now);
            while let Some(fire) = self.policy.handle_timeout(self.now) {
                let why = match fire {
                    Fire::Deferred(_) => Why::Held,
                    Fire::Heartbeat(_) => Why::Heartbeat,
                };
                self.send(fire.event(), why);
            }
        }
        self.now = to;
        Ok(())
    }

    fn update(&mut self, x: f64) {
        let e = ev(x);
        if self.policy.handle_update(self.now, &e) == Decision::Send {
            self.send(&e, Why::Update);
        }
    }
}

/// SPEC §4's "what counts as a change", written out independently of `is_change`.
fn change(delta: Option<f64>, last: Option<f64>, new: f64) -> bool {
    match (delta, last) {
        (_, None) => true,
        (None, Some(last)) => last != new,
        (Some(d), _) if d <= 0.0 => true,
        (Some(d), Some(last)) => (new - last).abs() >= d,
    }
}

fn settings() -> impl Strategy<Value = Settings> {
    let delta = prop::sample::select(vec![None, Some(0.0), Some(0.5), Some(2.0)]);
    let min = prop::sample::select(vec![None, Some(50u64), Some(300)]);
    // Heartbeats longer than any throttle, so that the two rules never contradict.
    let max = prop::sample::select(vec![None, Some(700u64), Some(2_000)]);
    (delta, min, max).prop_map(|(d, min, max)| Settings {
        send_on_delta: d,
        min_send_time: min.map(Duration::from_millis),
        max_send_time: max.map(Duration::from_millis),
    })
}

/// (milliseconds since the previous update, value)
fn updates() -> impl Strategy<Value = Vec<(u64, f64)>> {
    let value = prop::sample::select(vec![0.0, 0.5, 1.0, 1.4, 3.0, 10.0]);
    prop::collection::vec((0u64..400, value), 1..60)
}

proptest! {
    #![proptest_config(crate::fuzzing::config())]

    #[test]
    fn random_update_streams_keep_the_send_policy(s in settings(), stream in updates()) {
        let t0 = Instant::now();
        let mut d = Driver { t0, now: t0, policy: ConnPolicy::new(t0, s, None, None), sends: Vec::new() };
        // (time, value, sends before it) of every update.
        let mut history: Vec<(Duration, f64, usize)> = Vec::new();
        for (gap, x) in &stream {
            let to = d.now + Duration::from_millis(*gap);
            d.advance(to)?;
            history.push((d.now - t0, *x, d.sends.len()));
            d.update(*x);
        }
        let end = d.now + Duration::from_millis(3 * 2_000 + 600);
        d.advance(end)?;
        let sends = &d.sends;
        // The source's value at a send: the last update before it (at the same instant too).
        let source_at = |i: usize| history.iter().rev().find(|(_, _, before)| *before <= i).map(|(_, x, _)| *x);

        prop_assert!(!sends.is_empty(), "the first update is always sent");
        for pair in sends.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if let Some(min) = s.min_send_time {
                prop_assert!(b.at - a.at >= min, "two sends {:?} apart, throttle {min:?}: {a:?} {b:?}", b.at - a.at);
            }
            if let Some(max) = s.max_send_time {
                prop_assert!(b.at - a.at <= max, "nothing sent for {:?}, heartbeat {max:?}: {a:?} {b:?}", b.at - a.at);
            }
            if b.why != Why::Heartbeat {
                prop_assert!(
                    change(s.send_on_delta, Some(a.value), b.value),
                    "{b:?} is no change from {a:?} (send_on_delta {:?})", s.send_on_delta
                );
            }
        }
        for (i, send) in sends.iter().enumerate() {
            // What is sent is always the source's value at that instant (newest wins).
            prop_assert_eq!(source_at(i), Some(send.value), "{:?}", send);
        }
        if let (Some(max), Some(last)) = (s.max_send_time, sends.last()) {
            prop_assert!((end - t0) - last.at < max, "the heartbeat stopped after {last:?}");
        }
        // Without a throttle every change goes out at once.
        if s.min_send_time.is_none() {
            for (at, x, before) in &history {
                let basis = before.checked_sub(1).map(|i| sends[i].value);
                if change(s.send_on_delta, basis, *x) {
                    let q = sends.get(*before);
                    prop_assert!(
                        q.is_some_and(|q| q.at == *at && q.value == *x && q.why == Why::Update),
                        "the change to {x} at {at:?} was not sent at once: {q:?}"
                    );
                }
            }
        }
        // In the end the target is in step with the source, within the delta.
        let (last_sent, last_value) = (sends.last().map(|q| q.value), history.last().map(|(_, x, _)| *x));
        if let (Some(sent), Some(value)) = (last_sent, last_value) {
            match s.send_on_delta {
                Some(delta) if delta > 0.0 => prop_assert!((sent - value).abs() < delta, "ended at {sent}, source {value}, delta {delta}"),
                _ => prop_assert_eq!(sent, value, "the target ends out of step"),
            }
        }
    }
}
