//! The replication soak (issue 8): continuous A -> B replication (every change) while a seeded
//! chaos schedule restarts the XMPP server and SIGKILLs either agent at random moments, ending
//! with a reconciliation at the far end: every acknowledged write applied exactly once, in
//! order (SPEC §6.1, §6.2, §6.5). B forwards every update it applies to the recorder R, so R's
//! list is what B applied.
//!
//! Environment: `WB_SOAK_SECS` (chaos duration, default 60; 0 skips), `WB_SOAK_SEED` (the chaos
//! schedule; random by default, printed first so that a failing run can be repeated),
//! `WB_SOAK_RATE` (writes per second, default 200, five times a SmartServer's Web connections;
//! 0: as fast as A acknowledges them, which outpaces replication in a debug build on a small
//! machine, so that a "later write" may never arrive within the recovery bound),
//! `WB_SOAK_FAULTS` (only these faults, comma-separated: `server`, `a`, `b`; default all).
//! scripts/soak.sh runs it for 600 s and prints the summary.

use std::time::{Duration, Instant};

use crate::support::Kind;
use crate::support::soak::{
    A_MAC, B_MAC, Chaos, Fault, R_MAC, Sites, Writer, commit_stalls, queue_depth, reconcile,
};

/// How long the system may take to deliver a write made after a restart, and to drain at the
/// end.
const RECOVERY: Duration = Duration::from_secs(120);

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a non-negative integer, got {v:?}")),
    )
}

/// Store commit stalls of agents that have since been killed, plus whether any agent exposed
/// the metric at all.
#[derive(Default)]
struct Stalls {
    total: u64,
    exposed: bool,
}

impl Stalls {
    fn add(&mut self, sample: Option<u64>) {
        if let Some(n) = sample {
            self.total += n;
            self.exposed = true;
        }
    }
}

/// Waits until R has a counter value of at least `mark` (a write made after the restart).
async fn delivered_from(s: &Sites, mark: u32) -> Option<Duration> {
    let from = Instant::now();
    while Instant::now() < from + RECOVERY {
        if s.far_end_max() >= mark {
            return Some(from.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

async fn soak(kind: Kind) {
    let secs = env_u64("WB_SOAK_SECS").unwrap_or(60);
    let seed = env_u64("WB_SOAK_SEED").unwrap_or_else(rand::random);
    let rate = env_u64("WB_SOAK_RATE").unwrap_or(200);
    let faults = std::env::var("WB_SOAK_FAULTS")
        .map(|t| Fault::parse_list(&t).unwrap_or_else(|e| panic!("WB_SOAK_FAULTS: {e}")))
        .unwrap_or_default();
    eprintln!(
        "soak on {}: WB_SOAK_SECS={secs} WB_SOAK_SEED={seed} WB_SOAK_RATE={rate} WB_SOAK_FAULTS={faults:?} (set these to repeat the schedule)",
        kind.name()
    );
    if secs == 0 {
        eprintln!("WB_SOAK_SECS=0: soak skipped");
        return;
    }
    let mut s = Sites::start(kind).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client");
    let writer = Writer::start(s.a.admin_port, u32::try_from(rate).unwrap_or(u32::MAX));
    let mut chaos = Chaos::with_faults(seed, &faults);
    let (mut kills_a, mut kills_b, mut restarts) = (0u32, 0u32, 0u32);
    let mut recoveries: Vec<(Duration, Fault)> = Vec::new();
    let mut stalls = Stalls::default();
    let started = Instant::now();
    let end = started + Duration::from_secs(secs);
    loop {
        let step = chaos.next_step();
        if Instant::now() + step.after >= end {
            tokio::time::sleep_until(end.into()).await;
            break;
        }
        // A random moment of the stream: the point of a soak, not a synchronisation.
        tokio::time::sleep(step.after).await;
        let at = started.elapsed();
        match step.fault {
            Fault::ServerRestart => {
                s.server.stop();
                tokio::time::sleep(step.down).await;
                s.server.restart();
                restarts += 1;
            }
            Fault::KillA => {
                stalls.add(commit_stalls(&http, &s.a).await);
                s.a.kill();
                tokio::time::sleep(step.down).await;
                s.a.start();
                kills_a += 1;
            }
            Fault::KillB => {
                stalls.add(commit_stalls(&http, &s.b).await);
                s.b.kill();
                tokio::time::sleep(step.down).await;
                s.b.start();
                kills_b += 1;
            }
        }
        let mark = writer.next.load(std::sync::atomic::Ordering::SeqCst);
        if step.await_recovery {
            let Some(took) = delivered_from(&s, mark).await else {
                panic!(
                    "seed {seed}: no write made after the {} at {at:?} reached the far end within {RECOVERY:?} (far end at {}, writer at {})\n{}",
                    step.fault,
                    s.far_end_max(),
                    writer.made(),
                    s.logs()
                );
            };
            recoveries.push((took, step.fault));
            eprintln!(
                "{at:>8.1?}: {} (down {:?}), a later write at the far end after {took:.2?}",
                step.fault, step.down
            );
        } else {
            eprintln!(
                "{at:>8.1?}: {} (down {:?}), next fault without waiting",
                step.fault, step.down
            );
        }
    }
    // Quiet: one more write must get through, then stop writing and drain.
    let mark = writer.next.load(std::sync::atomic::Ordering::SeqCst);
    let Some(quiet_delivery) = delivered_from(&s, mark).await else {
        panic!(
            "seed {seed}: nothing got through within {RECOVERY:?} after the chaos ended\n{}",
            s.logs()
        );
    };
    let (made, acked) = writer.finish().await;
    let writing_for = started.elapsed();
    let drained_from = Instant::now();
    loop {
        let a_left = queue_depth(&http, &s.a, "site-b").await;
        let b_left = queue_depth(&http, &s.b, "rec").await;
        if a_left == Some(0) && b_left == Some(0) {
            break;
        }
        assert!(
            drained_from.elapsed() < RECOVERY,
            "seed {seed}: queues not drained within {RECOVERY:?} (A to B: {a_left:?}, B to R: {b_left:?})\n{}",
            s.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drain = drained_from.elapsed();
    stalls.add(commit_stalls(&http, &s.a).await);
    stalls.add(commit_stalls(&http, &s.b).await);
    let far_end = s.far_end();
    let r = reconcile(&far_end, &acked, made);
    let longest = recoveries.iter().max_by_key(|(d, _)| *d);
    let mean = (!recoveries.is_empty())
        .then(|| recoveries.iter().map(|(d, _)| *d).sum::<Duration>() / recoveries.len() as u32);
    let stalls_text = if stalls.exposed {
        format!("{} (A+B, all runs)", stalls.total)
    } else {
        "not exposed (no webbinder_store_commit_stalls_total in /metrics)".to_owned()
    };
    println!(
        "soak summary: {server}, seed {seed}, {secs} s of chaos (A {A_MAC} -> B {B_MAC} -> R {R_MAC})\n  \
         writes: {made} made, {acked_n} acknowledged ({per_s:.0}/s while writing), {applied} applied at the far end\n  \
         faults: A killed {kills_a}, B killed {kills_b}, server restarted {restarts}\n  \
         recovery (restart to the first later write at the far end): longest {longest}, mean {mean}, over {n} awaited\n  \
         after the chaos: a new write through in {quiet_delivery:.2?}, queues drained in {drain:.2?}\n  \
         store commit stalls: {stalls_text}\n  \
         reconciliation: {verdict}",
        server = kind.name(),
        acked_n = acked.len(),
        per_s = acked.len() as f64 / writing_for.as_secs_f64(),
        applied = r.applied,
        longest = longest.map_or("-".to_owned(), |(d, f)| format!("{d:.2?} ({f})")),
        mean = mean.map_or("-".to_owned(), |d| format!("{d:.2?}")),
        n = recoveries.len(),
        verdict = if r.is_clean() {
            "every acknowledged write applied exactly once, in order".to_owned()
        } else {
            format!("FAILED {r:?}")
        },
    );
    assert!(
        r.is_clean(),
        "seed {seed}: {} acknowledged writes missing (first: {:?}); out of order or twice at (index, previous, value): {:?} (around the first: {:?}); never written: {:?}\n{}",
        r.missing_count,
        r.missing,
        r.out_of_order,
        r.context,
        r.invented,
        s.logs()
    );
    assert!(!acked.is_empty(), "seed {seed}: no write was acknowledged");
    assert!(
        kills_a + kills_b + restarts > 0 || secs < 10,
        "seed {seed}: no fault happened in {secs} s"
    );
}

mod replication_under_chaos {
    use crate::support::Kind;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ejabberd() {
        super::soak(Kind::Ejabberd).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn prosody() {
        super::soak(Kind::Prosody).await;
    }
}

/// The soak's own checks, without a server: the reconciliation can fail.
mod checks {
    use crate::support::soak::{
        Chaos, Fault, STALLS_METRIC, counter_text, counter_value, reconcile, stalls_in, strip_ansi,
    };

    /// The reconciliation fails on each way replication can go wrong.
    #[test]
    fn reconcile_catches_lost_duplicated_reordered_and_invented_writes() {
        let acked = [1, 2, 3, 5];
        let clean = reconcile(&[0, 0, 1, 2, 3, 4, 5], &acked, 5);
        assert!(clean.is_clean(), "{clean:?}");
        assert_eq!(clean.applied, 5);
        // An unacknowledged write (4) may be missing.
        assert!(reconcile(&[1, 2, 3, 5], &acked, 5).is_clean());
        let lost = reconcile(&[1, 2, 5], &acked, 5);
        assert_eq!((lost.missing_count, lost.missing.clone()), (1, vec![3]));
        let twice = reconcile(&[1, 2, 3, 3, 5], &acked, 5);
        assert_eq!(twice.out_of_order, vec![(3, 3, 3)]);
        let swapped = reconcile(&[1, 3, 2, 5], &acked, 5);
        assert_eq!(swapped.out_of_order, vec![(2, 3, 2)]);
        let invented = reconcile(&[1, 2, 3, 5, 9], &acked, 5);
        assert_eq!(invented.invented, vec![9]);
        assert!(!lost.is_clean() && !twice.is_clean() && !swapped.is_clean());
    }

    #[test]
    fn stalls_metric_is_summed_and_its_absence_tolerated() {
        assert_eq!(stalls_in("webbinder_queue_depth{host=\"x\"} 3\n"), None);
        let text = format!("# TYPE {STALLS_METRIC} counter\n{STALLS_METRIC} 2\n");
        assert_eq!(stalls_in(&text), Some(2));
        let labelled =
            format!("{STALLS_METRIC}{{tree=\"a\"}} 1\n{STALLS_METRIC}{{tree=\"b\"}} 3\n");
        assert_eq!(stalls_in(&labelled), Some(4));
    }

    #[test]
    fn log_tail_drops_colour_codes() {
        assert_eq!(
            strip_ansi("\u{1b}[2mtime\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m x"),
            "time  INFO x"
        );
    }

    #[test]
    fn counter_text_round_trips() {
        assert_eq!(counter_text(200), "000000C8");
        assert_eq!(counter_value("000000C8"), Some(200));
        assert_eq!(counter_value(&counter_text(u32::MAX)), Some(u32::MAX));
    }

    #[test]
    fn chaos_is_reproducible_from_its_seed() {
        let (mut x, mut y) = (Chaos::new(7), Chaos::new(7));
        for _ in 0..20 {
            let (a, b) = (x.next_step(), y.next_step());
            assert_eq!((a.after, a.fault, a.down), (b.after, b.fault, b.down));
        }
        let only_b = Fault::parse_list("b").unwrap();
        let mut z = Chaos::with_faults(7, &only_b);
        assert!((0..10).all(|_| z.next_step().fault == Fault::KillB));
        assert!(Fault::parse_list("server, a").is_ok() && Fault::parse_list("c").is_err());
    }
}
