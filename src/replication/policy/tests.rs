//! The send policy on a virtual clock: time only moves when a test moves it, deadlines fire
//! exactly when they are due.

use std::time::{Duration, Instant, SystemTime};

use super::*;
use crate::datapoints::{PointStatus, UpdateSource};

fn n(x: f64) -> DpValue {
    DpValue::Number(x)
}

fn ev(x: f64) -> ChangeEvent {
    ChangeEvent {
        name: "src".to_owned(),
        value: n(x),
        text: format!("{x:.1}"),
        priority: 255,
        point_status: PointStatus::NoCondition,
        at: SystemTime::UNIX_EPOCH,
        source: UpdateSource::Admin,
    }
}

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

fn settings(delta: Option<f64>, min_ms: Option<u64>, max_ms: Option<u64>) -> Settings {
    Settings {
        send_on_delta: delta,
        min_send_time: min_ms.map(ms),
        max_send_time: max_ms.map(ms),
    }
}

/// How a value left: at once on its update, held by the throttle, or as a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Update,
    Held,
    Beat,
}

/// One connection's policy and the sends it made, as milliseconds since the start.
struct Sim {
    t0: Instant,
    now: Instant,
    p: ConnPolicy,
    sent: Vec<(u64, String, Via)>,
}

impl Sim {
    fn new(s: Settings, last: Option<f64>) -> Sim {
        let t0 = Instant::now();
        Sim {
            t0,
            now: t0,
            p: ConnPolicy::new(t0, s, last.map(n), None),
            sent: Vec::new(),
        }
    }

    fn at(&self, t: u64) -> Instant {
        self.t0 + ms(t)
    }

    fn ms_now(&self) -> u64 {
        u64::try_from((self.now - self.t0).as_millis()).unwrap()
    }

    /// Moves the clock to `t`, firing every deadline on the way exactly when it is due.
    fn advance(&mut self, t: u64) {
        let to = self.at(t);
        for _ in 0..10_000 {
            match self.p.poll_timeout() {
                Some(d) if d <= to => {
                    // (A deadline already past, e.g. after a reload, fires at once.)
                    self.now = d.max(self.now);
                    self.fire();
                }
                _ => {
                    self.now = to;
                    return;
                }
            }
        }
        panic!("deadlines never stop being due");
    }

    fn fire(&mut self) {
        let mut fires = 0;
        while let Some(f) = self.p.handle_timeout(self.now) {
            let via = match f {
                Fire::Deferred(_) => Via::Held,
                Fire::Heartbeat(_) => Via::Beat,
            };
            self.p.sent(self.now, f.event());
            self.sent.push((self.ms_now(), f.event().text.clone(), via));
            fires += 1;
            assert!(fires < 3, "more than one send per deadline");
        }
    }

    /// An update of the source at `t`.
    fn update(&mut self, t: u64, x: f64) -> Decision {
        self.advance(t);
        let e = ev(x);
        let d = self.p.handle_update(self.now, &e);
        if d == Decision::Send {
            self.p.sent(self.now, &e);
            self.sent.push((t, e.text.clone(), Via::Update));
        }
        d
    }

    fn sent(&self) -> Vec<(u64, &str, Via)> {
        self.sent
            .iter()
            .map(|(t, v, via)| (*t, v.as_str(), *via))
            .collect()
    }
}

use Via::{Beat, Held, Update};

#[test]
fn default_sends_only_changes_and_the_first_value() {
    assert!(is_change(None, None, &n(1.0)));
    assert!(!is_change(None, Some(&n(1.0)), &n(1.0)));
    assert!(is_change(None, Some(&n(1.0)), &n(1.5)));
    let mut s = Sim::new(Settings::default(), None);
    for (t, x) in [(0, 1.0), (10, 1.0), (20, 2.0), (30, 2.0)] {
        s.update(t, x);
    }
    assert_eq!(s.sent(), vec![(0, "1.0", Update), (20, "2.0", Update)]);
    assert_eq!(
        s.p.poll_timeout(),
        None,
        "no timer without throttle or heartbeat"
    );
}

#[test]
fn zero_delta_sends_every_update_even_unchanged() {
    assert!(is_change(Some(0.0), Some(&n(1.0)), &n(1.0)));
    let mut s = Sim::new(settings(Some(0.0), None, None), Some(1.0));
    for (t, x) in [(0, 1.0), (10, 1.0), (20, 2.0)] {
        assert_eq!(s.update(t, x), Decision::Send);
    }
    assert_eq!(s.sent.len(), 3);
}

#[test]
fn delta_is_absolute_and_measured_from_the_value_last_enqueued() {
    assert!(!is_change(Some(0.5), Some(&n(1.0)), &n(1.4)));
    assert!(is_change(Some(0.5), Some(&n(1.0)), &n(1.5)));
    assert!(is_change(Some(0.5), Some(&n(1.0)), &n(0.5)));
    let mut s = Sim::new(settings(Some(0.5), None, None), Some(1.0));
    // 1.3 is skipped; 1.6 moved 0.6 from the 1.0 last enqueued (only 0.3 from the last update).
    for (t, x) in [(0, 1.3), (10, 1.6), (20, 1.2), (30, 1.0)] {
        s.update(t, x);
    }
    assert_eq!(s.sent(), vec![(10, "1.6", Update), (30, "1.0", Update)]);
}

#[test]
fn throttle_sends_at_most_once_per_min_send_time_and_the_newest_wins() {
    let mut s = Sim::new(settings(None, Some(1000), None), None);
    assert_eq!(s.update(0, 1.0), Decision::Send);
    assert_eq!(s.update(100, 2.0), Decision::Defer(s.at(1000)));
    assert_eq!(s.update(200, 3.0), Decision::Defer(s.at(1000)));
    assert_eq!(s.p.poll_timeout(), Some(s.at(1000)));
    s.advance(1100);
    // The next window starts at the held send.
    assert_eq!(s.update(1100, 4.0), Decision::Defer(s.at(2000)));
    s.advance(5000);
    assert_eq!(
        s.sent(),
        vec![(0, "1.0", Update), (1000, "3.0", Held), (2000, "4.0", Held)]
    );
    assert_eq!(s.p.poll_timeout(), None);
}

#[test]
fn throttle_sends_nothing_when_the_newest_value_is_back_to_the_last_sent() {
    // Fails on the code before this module: an unchanged update was skipped without replacing
    // the held 2.0, which then went out although the source was back at 1.0.
    let mut s = Sim::new(settings(None, Some(1000), None), None);
    s.update(0, 1.0);
    assert_eq!(s.update(100, 2.0), Decision::Defer(s.at(1000)));
    assert_eq!(s.update(200, 1.0), Decision::Defer(s.at(1000)));
    s.advance(3000);
    assert_eq!(s.sent(), vec![(0, "1.0", Update)]);
    assert_eq!(s.p.poll_timeout(), None);
}

#[test]
fn throttle_checks_the_held_value_against_the_delta_at_its_deadline() {
    let mut s = Sim::new(settings(Some(0.5), Some(1000), None), None);
    s.update(0, 1.0);
    s.update(100, 1.6);
    s.update(200, 1.3);
    s.advance(1500);
    assert_eq!(s.sent(), vec![(0, "1.0", Update)]);
    // A held value still a change goes out at the deadline.
    assert_eq!(s.update(1600, 2.0), Decision::Send);
    assert_eq!(s.update(1700, 2.7), Decision::Defer(s.at(2600)));
    s.advance(3000);
    assert_eq!(s.sent()[2], (2600, "2.7", Held));
}

#[test]
fn after_a_quiet_window_an_update_goes_out_at_once() {
    let mut s = Sim::new(settings(None, Some(1000), None), None);
    s.update(0, 1.0);
    assert_eq!(s.update(1000, 2.0), Decision::Send);
    assert_eq!(s.update(2500, 3.0), Decision::Send);
}

#[test]
fn an_update_after_a_missed_deadline_supersedes_the_held_one() {
    let mut s = Sim::new(settings(None, Some(1000), None), None);
    s.update(0, 1.0);
    s.update(100, 2.0);
    // The timer is late: the next update arrives past the deadline, before the timer fired.
    let late = s.at(1200);
    assert_eq!(s.p.handle_update(late, &ev(3.0)), Decision::Send);
    s.p.sent(late, &ev(3.0));
    assert_eq!(s.p.handle_timeout(late), None, "2.0 was superseded");
    assert_eq!(s.p.poll_timeout(), None);
}

#[test]
fn heartbeat_resends_exactly_when_nothing_was_sent_for_max_send_time() {
    let mut s = Sim::new(settings(None, None, Some(5000)), Some(1.0));
    s.update(1000, 2.0);
    assert_eq!(s.p.poll_timeout(), Some(s.at(6000)));
    s.advance(5999);
    assert_eq!(s.sent.len(), 1, "not a millisecond early");
    s.advance(16_000);
    assert_eq!(
        s.sent(),
        vec![
            (1000, "2.0", Update),
            (6000, "2.0", Beat),
            (11_000, "2.0", Beat),
            (16_000, "2.0", Beat)
        ]
    );
}

#[test]
fn sends_postpone_the_heartbeat() {
    let mut s = Sim::new(settings(None, None, Some(5000)), None);
    for (t, x) in [(1000, 1.0), (4000, 2.0), (8000, 3.0)] {
        s.update(t, x);
    }
    s.advance(12_999);
    assert_eq!(s.sent.len(), 3, "no heartbeat while sends happen");
    s.advance(13_000);
    assert_eq!(s.sent()[3], (13_000, "3.0", Beat));
}

#[test]
fn heartbeat_sends_the_current_value_even_one_the_delta_skipped() {
    let mut s = Sim::new(settings(Some(1.0), None, Some(5000)), None);
    s.update(0, 1.0);
    assert_eq!(s.update(1000, 1.5), Decision::Skip);
    s.advance(5000);
    assert_eq!(s.sent()[1], (5000, "1.5", Beat));
    // The heartbeat is the new base of the delta.
    assert_eq!(s.update(6000, 2.0), Decision::Skip);
    assert_eq!(s.update(6100, 2.5), Decision::Send);
}

#[test]
fn heartbeat_clock_starts_with_the_policy_and_needs_a_known_value() {
    let mut s = Sim::new(settings(None, None, Some(5000)), Some(1.0));
    assert_eq!(s.p.poll_timeout(), Some(s.at(5000)));
    // Nothing known to re-send (no update, no resync): the deadline moves on, no busy loop.
    s.advance(5000);
    assert!(s.sent.is_empty());
    assert_eq!(s.p.poll_timeout(), Some(s.at(10_000)));
    assert!(
        !s.p.handle_resync(&ev(1.0)),
        "in step with the persisted value"
    );
    s.advance(10_000);
    assert_eq!(s.sent(), vec![(10_000, "1.0", Beat)]);
}

#[test]
fn a_failed_heartbeat_enqueue_still_moves_the_deadline() {
    let mut s = Sim::new(settings(None, None, Some(5000)), None);
    s.update(0, 1.0);
    let due = s.at(5000);
    assert!(matches!(s.p.handle_timeout(due), Some(Fire::Heartbeat(_))));
    // The caller could not enqueue it, so it does not call `sent`.
    assert_eq!(s.p.handle_timeout(due), None);
    assert_eq!(s.p.poll_timeout(), Some(s.at(10_000)));
}

#[test]
fn a_held_send_moves_the_heartbeat() {
    let mut s = Sim::new(settings(None, Some(1000), Some(3000)), None);
    s.update(0, 1.0);
    s.update(500, 2.0);
    s.advance(3999);
    assert_eq!(s.sent(), vec![(0, "1.0", Update), (1000, "2.0", Held)]);
    s.advance(4000);
    assert_eq!(s.sent()[2], (4000, "2.0", Beat));
}

#[test]
fn equal_throttle_and_heartbeat_make_one_send_per_deadline() {
    let mut s = Sim::new(settings(None, Some(2000), Some(2000)), None);
    s.update(0, 1.0);
    s.update(1000, 2.0);
    s.advance(2000);
    // The held change and the heartbeat fall due together: one send (the `fire` asserts it).
    assert_eq!(s.sent(), vec![(0, "1.0", Update), (2000, "2.0", Held)]);
    // Back to 2.0 before the deadline of a held 3.0: no change, but the heartbeat is due.
    s.update(2500, 3.0);
    s.update(3000, 2.0);
    s.advance(4000);
    assert_eq!(s.sent()[2], (4000, "2.0", Beat));
    assert_eq!(s.sent.len(), 3);
}

#[test]
fn reload_removing_the_throttle_releases_the_held_update_at_once() {
    let mut s = Sim::new(settings(None, Some(10_000), None), None);
    s.update(0, 1.0);
    s.update(100, 2.0);
    s.advance(200);
    s.p.reconfigure(settings(None, None, None));
    assert!(s.p.poll_timeout().is_some_and(|d| d <= s.now));
    s.advance(200);
    assert_eq!(s.sent()[1], (200, "2.0", Held));
    assert_eq!(s.update(300, 3.0), Decision::Send);
}

#[test]
fn reload_lengthening_the_throttle_moves_the_held_deadline() {
    let mut s = Sim::new(settings(None, Some(1000), None), None);
    s.update(0, 1.0);
    s.update(100, 2.0);
    s.p.reconfigure(settings(None, Some(3000), None));
    assert_eq!(s.p.poll_timeout(), Some(s.at(3000)));
    s.advance(5000);
    assert_eq!(s.sent()[1], (3000, "2.0", Held));
}

#[test]
fn reload_adding_then_removing_a_heartbeat() {
    let mut s = Sim::new(Settings::default(), None);
    s.update(0, 1.0);
    s.advance(1000);
    s.p.reconfigure(settings(None, None, Some(2000)));
    // The resync of the reload tells the policy the current value.
    assert!(!s.p.handle_resync(&ev(1.0)));
    assert_eq!(
        s.p.poll_timeout(),
        Some(s.at(2000)),
        "counted from the last send"
    );
    s.advance(2000);
    assert_eq!(s.sent()[1], (2000, "1.0", Beat));
    s.p.reconfigure(Settings::default());
    assert_eq!(s.p.poll_timeout(), None);
}

#[test]
fn reload_changing_the_delta_applies_to_the_next_update() {
    let mut s = Sim::new(settings(Some(1.0), None, None), None);
    s.update(0, 1.0);
    assert_eq!(s.update(10, 1.5), Decision::Skip);
    s.p.reconfigure(settings(Some(0.0), None, None));
    assert_eq!(s.update(20, 1.5), Decision::Send);
    assert_eq!(s.update(30, 1.5), Decision::Send);
}

#[test]
fn resync_sends_only_what_is_not_in_step() {
    let fresh = |last| ConnPolicy::new(Instant::now(), Settings::default(), last, None);
    assert!(
        fresh(None).handle_resync(&ev(1.0)),
        "a new connection starts in step"
    );
    assert!(!fresh(Some(n(1.0))).handle_resync(&ev(1.0)));
    assert!(
        fresh(Some(n(1.0))).handle_resync(&ev(2.0)),
        "a change held back when the agent stopped"
    );
    // Sent during this run: its updates keep it in step (the snapshot may be older).
    let mut s = Sim::new(Settings::default(), None);
    s.update(0, 3.0);
    assert!(!s.p.handle_resync(&ev(2.0)));
}

#[test]
fn timers_give_the_earliest_deadline_and_exactly_the_due_keys() {
    let t0 = Instant::now();
    let mut t: Timers<String> = Timers::default();
    assert_eq!(t.poll_timeout(), None);
    assert!(t.set(&"a".to_owned(), Some(t0 + ms(300))));
    assert!(t.set(&"b".to_owned(), Some(t0 + ms(100))));
    assert!(!t.set(&"c".to_owned(), Some(t0 + ms(200))), "not earlier");
    assert!(!t.set(&"b".to_owned(), Some(t0 + ms(100))), "unchanged");
    // Replacing moves the key; clearing removes it.
    assert!(!t.set(&"b".to_owned(), Some(t0 + ms(400))));
    assert!(!t.set(&"c".to_owned(), None));
    assert_eq!((t.poll_timeout(), t.len()), (Some(t0 + ms(300)), 2));
    assert_eq!(t.poll_due(t0 + ms(299)), None);
    assert_eq!(t.poll_due(t0 + ms(400)), Some("a".to_owned()));
    assert_eq!(t.poll_due(t0 + ms(400)), Some("b".to_owned()));
    assert_eq!(t.poll_due(t0 + ms(400)), None);
    assert!(t.is_empty());
    t.set(&"x".to_owned(), Some(t0));
    t.set(&"y".to_owned(), Some(t0));
    t.retain(|k| k == "y");
    assert_eq!(t.poll_due(t0), Some("y".to_owned()));
    assert!(t.is_empty());
}

#[test]
fn one_timer_drives_many_heartbeats_each_on_time() {
    // Three connections with heartbeats of 3 s, 5 s and 7 s, driven the way the policy task
    // drives them: sleep to the earliest deadline, fire exactly the due connections.
    let t0 = Instant::now();
    let periods = [3000, 5000, 7000];
    let mut conns: Vec<ConnPolicy> = periods
        .iter()
        .map(|&p| {
            let mut c = ConnPolicy::new(t0, settings(None, None, Some(p)), None, None);
            c.sent(t0, &ev(1.0));
            c
        })
        .collect();
    let mut timers: Timers<usize> = Timers::default();
    for (i, c) in conns.iter().enumerate() {
        timers.set(&i, c.poll_timeout());
    }
    let mut beats: Vec<(usize, u64)> = Vec::new();
    let end = t0 + ms(21_000);
    while let Some(now) = timers.poll_timeout().filter(|d| *d <= end) {
        while let Some(i) = timers.poll_due(now) {
            while let Some(f) = conns[i].handle_timeout(now) {
                conns[i].sent(now, f.event());
                beats.push((i, u64::try_from((now - t0).as_millis()).unwrap()));
            }
            timers.set(&i, conns[i].poll_timeout());
        }
    }
    for (i, p) in periods.iter().enumerate() {
        let at: Vec<u64> = beats.iter().filter(|b| b.0 == i).map(|b| b.1).collect();
        let want: Vec<u64> = (1..=21_000 / p).map(|k| k * p).collect();
        assert_eq!(at, want, "connection {i}");
    }
}

#[test]
fn a_zero_heartbeat_is_never_due() {
    let mut s = Sim::new(settings(None, None, Some(0)), None);
    s.update(0, 1.0);
    assert_eq!(s.p.poll_timeout(), None);
    assert_eq!(s.p.handle_timeout(s.at(1000)), None);
}

#[test]
fn after_a_restart_the_heartbeat_counts_from_the_last_send_of_the_earlier_run() {
    let t0 = Instant::now() + Duration::from_secs(3600);
    let beat = settings(None, None, Some(5000));
    let p = ConnPolicy::new(t0, beat, Some(n(1.0)), Some(ms(2000)));
    assert_eq!(p.poll_timeout(), Some(t0 + ms(3000)), "the remaining 3 s");
    let p = ConnPolicy::new(t0, beat, Some(n(1.0)), Some(ms(9000)));
    assert_eq!(
        p.poll_timeout(),
        Some(t0 - ms(4000)),
        "overdue: due at once"
    );
    // Down for longer than the monotonic clock reaches back (e.g. a reboot): due at once.
    let p = ConnPolicy::new(t0, beat, Some(n(1.0)), Some(Duration::MAX));
    assert_eq!(p.poll_timeout(), Some(t0));
}

#[test]
fn a_refused_update_leaves_the_held_value_and_the_heartbeat_value() {
    let mut s = Sim::new(settings(None, Some(1000), Some(5000)), None);
    s.update(0, 1.0);
    s.update(100, 2.0);
    // The timer is late and the enqueue of the next update fails: the table refuses 3.0, so
    // 2.0 is still the source's value and must still go out.
    let late = s.at(1200);
    assert_eq!(s.p.handle_update(late, &ev(3.0)), Decision::Send);
    assert!(s.p.poll_timeout().is_some_and(|d| d <= late));
    assert_eq!(s.p.handle_timeout(late), Some(Fire::Deferred(ev(2.0))));
    s.p.sent(late, &ev(2.0));
    assert_eq!(
        s.p.handle_timeout(s.at(6200)),
        Some(Fire::Heartbeat(ev(2.0)))
    );
}
