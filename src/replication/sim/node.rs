//! The model of one agent's durable store and of its receiver: per-host queues with the
//! store's coalescing and `peek_run` rules, the applied seq per (sender, epoch) with the
//! applied values, and a dead-letter list. Everything changes in a live copy; `commit` makes
//! the live copy durable and `crash` goes back to the last durable one, so a crash loses
//! exactly what was not committed.

use std::collections::BTreeMap;

use crate::soap::{Admission, Seq};

use super::Mutations;

/// A datapoint name (the simulation uses a handful of fixed ones).
pub type Target = &'static str;

/// The every-change targets fed from A.
pub const EVERY: [Target; 2] = ["t1", "t2"];
/// The `latest` (coalescing) target fed from A.
pub const LATEST: Target = "t3";
/// A target that B does not know: its items get a per-item `_error` fault.
pub const UNKNOWN: Target = "nope";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub target: Target,
    pub value: u64,
    pub coalesce: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Queue {
    pub next_seq: u64,
    pub entries: BTreeMap<u64, Entry>,
    /// Coalescing index: target -> seq of its queued `latest` write.
    latest: BTreeMap<Target, u64>,
}

impl Queue {
    fn enqueue(&mut self, e: Entry) -> u64 {
        let seq = self.next_seq.max(1);
        self.next_seq = seq + 1;
        if e.coalesce
            && let Some(old) = self.latest.insert(e.target, seq)
        {
            self.entries.remove(&old);
        }
        self.entries.insert(seq, e);
        seq
    }

    /// `Store::peek_run`: consecutive seqs from the first above `after`, stopping at a gap.
    pub fn peek_run(&self, after: Option<u64>, max: usize) -> Vec<u64> {
        let start = after.map_or(0, |a| a.saturating_add(1));
        let mut run: Vec<u64> = Vec::new();
        for &seq in self.entries.range(start..).map(|(s, _)| s).take(max) {
            if run.last().is_some_and(|&l| l + 1 != seq) {
                break;
            }
            run.push(seq);
        }
        run
    }

    fn remove(&mut self, seq: u64) -> Option<Entry> {
        let e = self.entries.remove(&seq)?;
        if e.coalesce && self.latest.get(e.target) == Some(&seq) {
            self.latest.remove(e.target);
        }
        Some(e)
    }
}

/// The part of the store that is copied at each commit (small: queues drain).
#[derive(Debug, Clone, Default)]
pub struct Core {
    pub queues: BTreeMap<usize, Queue>,
    pub applied: BTreeMap<(usize, u64), u64>,
    pub values: BTreeMap<Target, u64>,
}

/// One value applied at a receiver (the test's view of the datapoint's updates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub sender: usize,
    pub seq: u64,
    pub target: Target,
    pub value: u64,
}

/// One dead-lettered write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dead {
    pub host: usize,
    pub seq: u64,
    pub entry: Option<Entry>,
    pub reason: String,
}

/// Append-only log with a durable prefix.
#[derive(Debug, Clone)]
pub struct Log<T> {
    pub items: Vec<T>,
    pub durable: usize,
}

impl<T> Default for Log<T> {
    fn default() -> Self {
        Log {
            items: Vec::new(),
            durable: 0,
        }
    }
}

impl<T> Log<T> {
    fn commit(&mut self) {
        self.durable = self.items.len();
    }
    fn crash(&mut self) {
        self.items.truncate(self.durable);
    }
    pub fn durable(&self) -> &[T] {
        &self.items[..self.durable]
    }
}

/// The model durable store of one node.
#[derive(Debug, Clone, Default)]
pub struct Store {
    pub live: Core,
    pub committed: Core,
    pub history: Log<Applied>,
    pub dead: Log<Dead>,
    /// Local (writer) updates enqueued here: (target, value); durable ones are acknowledged.
    pub source: Log<(Target, u64)>,
    pub commits: u64,
}

impl Store {
    pub fn commit(&mut self) {
        self.committed.clone_from(&self.live);
        self.history.commit();
        self.dead.commit();
        self.source.commit();
        self.commits += 1;
    }

    pub fn crash(&mut self) {
        self.live.clone_from(&self.committed);
        self.history.crash();
        self.dead.crash();
        self.source.crash();
    }

    pub fn queue(&self, host: usize) -> Option<&Queue> {
        self.live.queues.get(&host)
    }

    pub fn enqueue(&mut self, host: usize, e: Entry) -> u64 {
        self.live.queues.entry(host).or_default().enqueue(e)
    }

    /// A local update (the writer at A): queued for `host`, not acknowledged until committed.
    pub fn write_local(&mut self, host: usize, target: Target, value: u64) {
        let coalesce = target == LATEST;
        self.enqueue(
            host,
            Entry {
                target,
                value,
                coalesce,
            },
        );
        self.source.items.push((target, value));
    }

    /// `Store::dead_letter`.
    pub fn dead_letter(&mut self, host: usize, seq: u64, reason: &str) {
        let entry = self.live.queues.get_mut(&host).and_then(|q| q.remove(seq));
        self.dead.items.push(Dead {
            host,
            seq,
            entry,
            reason: reason.to_owned(),
        });
    }

    /// `Store::ack`: removes the writes with seq <= `upto`; returns their seqs.
    pub fn ack(&mut self, host: usize, upto: u64) -> Vec<u64> {
        let Some(q) = self.live.queues.get_mut(&host) else {
            return Vec::new();
        };
        let seqs: Vec<u64> = q.entries.range(..=upto).map(|(s, _)| *s).collect();
        for s in &seqs {
            q.remove(*s);
        }
        seqs
    }
}

/// The receiver's answer on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Delivered { refused: Vec<(usize, String)> },
    Gap,
    Failed(String),
}

/// What a receiver did with one Write.
pub struct Received {
    /// `None`: the receiver crashed before answering.
    pub answer: Option<Answer>,
    /// The receiver crashed inside the apply (`crash_mid` was asked and the step had a
    /// point to crash at).
    pub crashed: bool,
    /// Forwards were enqueued (for `handle_queued`).
    pub forwarded: bool,
}

/// Applies a Write from `sender` (epoch `epoch`) at a node whose store is `store`, with the
/// real admission rule. `forward_to`: the host that applied values are forwarded to (B -> C).
/// `crash_mid`: crash at the step's first durable point (after the commit in a correct
/// receiver; between the two halves of the broken ones).
#[allow(clippy::too_many_arguments)]
pub fn receive(
    store: &mut Store,
    sender: usize,
    epoch: u64,
    seq: Seq,
    items: &[(Target, u64)],
    known: &[Target],
    forward_to: Option<usize>,
    muts: Mutations,
    crash_mid: bool,
) -> Received {
    let applied = store.live.applied.get(&(sender, epoch)).copied();
    let rule = if muts.apply_past_gap {
        Seq { prev: None, ..seq }
    } else {
        seq
    };
    let (skip, new_applied) = match rule.admit(applied, items.len()) {
        Admission::Gap { .. } => {
            return Received {
                answer: Some(Answer::Gap),
                crashed: false,
                forwarded: false,
            };
        }
        Admission::Apply { skip, applied } => (skip, applied),
    };
    let mut refused = Vec::new();
    let mut forwards = Vec::new();
    let mut applies = Vec::new();
    for (i, &(target, value)) in items.iter().enumerate().skip(skip) {
        if known.contains(&target) {
            applies.push(Applied {
                sender,
                seq: seq.first + i as u64,
                target,
                value,
            });
            forwards.push(Entry {
                target,
                value,
                coalesce: target == LATEST,
            });
        } else {
            refused.push((i, format!("_error: unknown datapoint {target}")));
        }
    }
    let forwarded = forward_to.is_some() && !forwards.is_empty();
    let enqueue_forwards = |store: &mut Store| {
        if let Some(host) = forward_to {
            for f in &forwards {
                store.enqueue(host, *f);
            }
        }
    };
    let record = |store: &mut Store| {
        for a in &applies {
            store.live.values.insert(a.target, a.value);
            store.history.items.push(*a);
        }
        store.live.applied.insert((sender, epoch), new_applied);
    };
    let answer = Some(Answer::Delivered { refused });
    if muts.forward_not_atomic {
        // Broken: the forwards become durable on their own, before the applied seq.
        enqueue_forwards(store);
        store.commit();
        if crash_mid {
            return Received {
                answer: None,
                crashed: true,
                forwarded,
            };
        }
        record(store);
        store.commit();
        return Received {
            answer,
            crashed: false,
            forwarded,
        };
    }
    record(store);
    enqueue_forwards(store);
    if muts.ack_before_commit {
        // Broken: the answer leaves before the commit; a crash loses what it acknowledged.
        return Received {
            answer,
            crashed: crash_mid,
            forwarded,
        };
    }
    store.commit();
    Received {
        answer: if crash_mid { None } else { answer },
        crashed: crash_mid,
        forwarded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(target: Target, value: u64) -> Entry {
        Entry {
            target,
            value,
            coalesce: target == LATEST,
        }
    }

    #[test]
    fn a_crash_loses_exactly_what_was_not_committed() {
        let mut s = Store::default();
        s.write_local(1, "t1", 1);
        s.commit();
        s.write_local(1, "t1", 2);
        s.crash();
        assert_eq!(s.source.durable(), &[("t1", 1)]);
        assert_eq!(s.queue(1).map(|q| q.entries.len()), Some(1));
        // The lost write's seq is handed out again.
        assert_eq!(s.enqueue(1, entry("t1", 3)), 2);
    }

    #[test]
    fn latest_coalesces_and_peek_run_stops_at_the_gap() {
        let mut s = Store::default();
        for (t, v) in [("t1", 1), ("t3", 2), ("t1", 3), ("t3", 4)] {
            s.write_local(1, t, v);
        }
        let q = s.queue(1).expect("queue");
        assert_eq!(q.peek_run(None, 10), vec![1]);
        assert_eq!(q.peek_run(Some(1), 10), vec![3, 4]);
        assert_eq!(q.peek_run(Some(1), 1), vec![3]);
    }

    fn seq(first: u64, last: u64, prev: u64) -> Seq {
        Seq {
            epoch: 7,
            first,
            last,
            prev: Some(prev),
        }
    }

    #[test]
    fn the_receiver_skips_duplicates_refuses_unknown_targets_and_answers_gaps() {
        let mut s = Store::default();
        let ok = Mutations::default();
        let items = [("t1", 1), (UNKNOWN, 2)];
        let r = receive(
            &mut s,
            0,
            7,
            seq(1, 2, 0),
            &items,
            &EVERY,
            Some(2),
            ok,
            false,
        );
        assert!(matches!(r.answer, Some(Answer::Delivered { ref refused }) if refused.len() == 1));
        let r = receive(
            &mut s,
            0,
            7,
            seq(1, 2, 0),
            &items,
            &EVERY,
            Some(2),
            ok,
            false,
        );
        assert_eq!(r.answer, Some(Answer::Delivered { refused: vec![] }));
        let r = receive(
            &mut s,
            0,
            7,
            seq(5, 5, 4),
            &[("t1", 5)],
            &EVERY,
            None,
            ok,
            false,
        );
        assert_eq!(r.answer, Some(Answer::Gap));
        assert_eq!(s.history.durable().len(), 1);
        assert_eq!(s.queue(2).map(|q| q.entries.len()), Some(1));
    }

    #[test]
    fn a_correct_receiver_crashing_mid_apply_keeps_values_seq_and_forwards_together() {
        let mut s = Store::default();
        let items = [("t1", 1)];
        let r = receive(
            &mut s,
            0,
            7,
            seq(1, 1, 0),
            &items,
            &EVERY,
            Some(2),
            Mutations::default(),
            true,
        );
        assert!(r.crashed && r.answer.is_none());
        s.crash();
        assert_eq!(s.committed.applied.get(&(0, 7)), Some(&1));
        assert_eq!(s.history.durable().len(), 1);
        assert_eq!(s.queue(2).map(|q| q.entries.len()), Some(1));
    }
}
