//! The model test: random enqueues, acks, dead letters, spills, purges, reopens and crashes,
//! checked against an in-memory model after every step. Kept whole, as the example of how
//! the store is tested.

use std::collections::BTreeMap;

use super::*;

/// A small deterministic random generator (xorshift64*), so the model test needs no seedable
/// RNG from a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The reference model: per host, seq -> (target, value, coalesced), plus depth bookkeeping.
#[derive(Default)]
struct Model {
    queues: BTreeMap<String, BTreeMap<u64, (String, String, bool)>>,
    delivered: BTreeMap<String, u64>,
    failed: BTreeMap<String, u64>,
}

#[test]
fn random_operations_match_a_model_including_reopens_and_crashes() {
    let mut f = Fixture::new();
    let mut model = Model::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let hosts = ["a", "b", "c"];
    for step in 0..4000 {
        let host = hosts[rng.below(3) as usize].to_owned();
        let op = rng.below(100);
        let s = f.store().clone();
        match op {
            0..=59 => {
                let coalesce = rng.below(3) == 0;
                let target = format!("T{}", rng.below(5));
                let value = step.to_string();
                let seq = s
                    .enqueue(&host, &write("c", &target, &value), coalesce)
                    .unwrap();
                let q = model.queues.entry(host.clone()).or_default();
                if coalesce {
                    q.retain(|_, (t, _, c)| !(*c && *t == target));
                }
                assert!(
                    q.keys().all(|&k| k < seq),
                    "step {step}: seq {seq} not increasing"
                );
                q.insert(seq, (target, value, coalesce));
            }
            60..=79 => {
                let q = model.queues.entry(host.clone()).or_default();
                let Some(&last) = q.keys().nth(rng.below(4) as usize) else {
                    continue;
                };
                let expected = q.range(..=last).count();
                q.retain(|&k, _| k > last);
                *model.delivered.entry(host.clone()).or_default() += expected as u64;
                assert_eq!(s.ack(&host, last).unwrap(), expected, "step {step}");
            }
            80..=87 => {
                let q = model.queues.entry(host.clone()).or_default();
                let Some(&seq) = q.keys().nth(rng.below(3) as usize) else {
                    continue;
                };
                q.remove(&seq);
                *model.failed.entry(host.clone()).or_default() += 1;
                s.dead_letter(&host, seq, "fault").unwrap();
            }
            88..=92 => s.inner.lock().spill(&s.inner.trees().unwrap()).unwrap(),
            93..=95 => {
                drop(s);
                f.reopen();
            }
            96..=97 => {
                s.flush().unwrap();
                drop(s);
                f.crash_and_reopen();
            }
            _ => {
                let q = model.queues.entry(host.clone()).or_default();
                assert_eq!(s.purge(&host).unwrap(), q.len(), "step {step}");
                q.clear();
            }
        }
        // Compare the whole queue of every host: walk runs across gaps.
        let s = f.store();
        for h in hosts {
            let q = model.queues.get(h).cloned().unwrap_or_default();
            let mut got = Vec::new();
            let mut after = None;
            loop {
                let run = s.peek_run(h, after, 7).unwrap();
                let Some(&(last, _)) = run.last() else { break };
                got.extend(run.into_iter().map(|(seq, w)| (seq, w.target, w.value)));
                after = Some(last);
            }
            let want: Vec<(u64, String, String)> = q
                .iter()
                .map(|(&k, (t, v, _))| (k, t.clone(), v.clone()))
                .collect();
            assert_eq!(got, want, "step {step} host {h}");
            let stats = s.host_stats(h).unwrap();
            assert_eq!(stats.depth, q.len() as u64, "step {step} host {h}");
            assert_eq!(
                stats.delivered,
                model.delivered.get(h).copied().unwrap_or(0)
            );
            assert_eq!(stats.failed, model.failed.get(h).copied().unwrap_or(0));
        }
    }
}
