//! The harness: nodes, the event queue on a virtual clock, the drivers of the delivery
//! machines (Fetch -> model queue, Send -> network, Settle -> dead-letter + ack) and the
//! seeded fault schedule.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use crate::soap::Seq;

use super::delivery::{Action, BatchId, DeliveryConfig, Fetched, HostDelivery, HostState, Outcome};
use super::net::{Msg, Net, Payload};
use super::node::{self, Answer, EVERY, LATEST, Store, Target, UNKNOWN};
use super::{Failure, Mutations, Profile, Rng, Stats, check};

pub const A: usize = 0;
pub const B: usize = 1;
pub const C: usize = 2;
pub const NAMES: [&str; 3] = ["A", "B", "C"];
/// Store epochs (kept across restarts: the stores are never recreated).
pub const EPOCH: [u64; 3] = [11, 22, 33];
/// Who sends to whom: A -> B, B -> C (B forwards what it applies from A).
pub(super) const PEER: [Option<usize>; 3] = [Some(B), Some(C), None];
const KNOWN: [Target; 3] = [EVERY[0], EVERY[1], LATEST];
const TRACE: usize = 40;
/// Virtual time allowed after healing for the queues to drain.
const DRAIN: Duration = Duration::from_secs(600);
const MAX_STEPS: u64 = 400_000;

#[derive(Debug)]
pub(super) enum Event {
    Deliver(Msg),
    Write,
    WriteCommit,
    Crash(usize),
    Restart(usize),
    SessionDown(usize),
    SessionUp(usize),
    Presence(usize, bool),
    Reload(usize, Option<usize>),
    Heal,
}

struct Timed {
    at: Duration,
    n: u64,
    ev: Event,
}

impl PartialEq for Timed {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.n) == (o.at, o.n)
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timed {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.n).cmp(&(o.at, o.n))
    }
}

/// One node's delivery machine for its peer, with the driver's bookkeeping.
pub(super) struct Link {
    pub(super) peer: usize,
    pub(super) machine: HostDelivery,
    /// Batches sent and not answered (nor failed by a session loss): id -> (first, last).
    pub(super) outstanding: BTreeMap<BatchId, (u64, u64)>,
    /// Highest `upto` settled by this machine.
    pub(super) settled: u64,
    /// A reload changed the window since this machine started (the window check is off:
    /// batches sent under a larger window may still be out).
    pub(super) reloaded: bool,
}

pub struct Node {
    pub store: Store,
    pub(super) up: bool,
    pub(super) session: bool,
    pub(super) inc: u64,
    pub(super) link: Option<Link>,
    /// The host's configuration on disk; survives crashes.
    pub(super) cfg: DeliveryConfig,
    /// The host was removed by a reload (its queue stays).
    pub(super) removed: bool,
}

pub struct World {
    pub(super) seed: u64,
    pub(super) muts: Mutations,
    pub(super) rng: Rng,
    pub(super) base: Instant,
    pub(super) now: Duration,
    pub(super) n: u64,
    events: BinaryHeap<Reverse<Timed>>,
    pub(super) net: Net,
    pub nodes: Vec<Node>,
    pub(super) healed: bool,
    pub(super) heal_at: Duration,
    pub(super) next_value: u64,
    pub(super) crash_mid_pct: u64,
    pub(super) trace: VecDeque<String>,
    pub(super) stats: Stats,
}

pub(super) type Broken = (&'static str, String);

impl World {
    pub fn new(seed: u64, muts: Mutations, profile: Profile) -> World {
        let mut rng = Rng::new(seed);
        let net = Net::new(&mut rng);
        let base_cfg = |rng: &mut Rng| DeliveryConfig {
            window: 1 + rng.below(6) as usize,
            retry_time: Duration::from_millis(20 + rng.below(400)),
            timeout: Duration::from_millis(60 + rng.below(300)),
            max_items: 1 + rng.below(12) as usize,
            remote: true,
        };
        let nodes = (0..3)
            .map(|_| Node {
                store: Store::default(),
                up: false,
                session: false,
                inc: 0,
                link: None,
                cfg: base_cfg(&mut rng),
                removed: false,
            })
            .collect();
        let crash_mid_pct = rng.below(4);
        let mut w = World {
            seed,
            muts,
            rng,
            base: Instant::now(),
            now: Duration::ZERO,
            n: 0,
            events: BinaryHeap::new(),
            net,
            nodes,
            healed: false,
            heal_at: Duration::ZERO,
            next_value: 1,
            crash_mid_pct,
            trace: VecDeque::with_capacity(TRACE),
            stats: Stats::default(),
        };
        w.schedule_faults(profile);
        w
    }

    pub(super) fn at(&mut self, at: Duration, ev: Event) {
        self.n += 1;
        self.events.push(Reverse(Timed { at, n: self.n, ev }));
    }

    pub(super) fn after(&mut self, d: Duration, ev: Event) {
        self.at(self.now + d, ev);
    }

    pub(super) fn instant(&self) -> Instant {
        self.base + self.now
    }

    pub(super) fn note(&mut self, node: usize, what: impl FnOnce() -> String) {
        if self.trace.len() == TRACE {
            self.trace.pop_front();
        }
        let line = format!("{:>10} {} {}", self.now.as_micros(), NAMES[node], what());
        self.trace.push_back(line);
    }

    pub(super) fn fail(&self, (invariant, detail): Broken) -> Failure {
        Failure {
            seed: self.seed,
            invariant,
            detail,
            trace: self.trace.iter().cloned().collect(),
        }
    }

    pub fn run(mut self) -> Result<Stats, Failure> {
        loop {
            self.stats.steps += 1;
            if self.stats.steps > MAX_STEPS || self.now > self.heal_at + DRAIN {
                return Err(self.fail(("quiet_in_bounded_time", "still busy at the bound".into())));
            }
            let timer = self.next_timer();
            let event = self.events.peek().map(|Reverse(t)| t.at);
            if timer.is_none() && event.is_none() {
                break;
            }
            let r = match (timer, event) {
                (Some((t, i)), e) if e.is_none_or(|e| t <= e) => {
                    // Only a deadline left when idle: the run is quiet if queues are empty.
                    if e.is_none() && self.healed && self.drained() {
                        break;
                    }
                    self.now = self.now.max(t);
                    let now = self.instant();
                    self.machine(i, |m| m.handle_timeout(now))
                }
                _ => {
                    let Some(Reverse(t)) = self.events.pop() else {
                        break;
                    };
                    self.now = self.now.max(t.at);
                    self.handle(t.ev)
                }
            };
            r.map_err(|b| self.fail(b))?;
        }
        check::after_run(&self).map_err(|b| self.fail(b))?;
        self.stats.acknowledged = self.nodes[A].store.source.durable().len();
        self.stats.dead_letters = self.nodes[A].store.dead.durable().len();
        Ok(self.stats)
    }

    /// The head seq at which node `i`'s machine declared its queue stuck (SPEC §6.7).
    pub(super) fn stuck_at(&self, i: usize) -> Option<u64> {
        match self.nodes[i].link.as_ref()?.machine.state() {
            HostState::Stuck { seq, .. } => Some(*seq),
            _ => None,
        }
    }

    pub(super) fn drained(&self) -> bool {
        self.nodes
            .iter()
            .all(|n| n.store.live.queues.values().all(|q| q.entries.is_empty()))
    }

    /// The earliest machine deadline (as an offset) and its node.
    pub(super) fn next_timer(&self) -> Option<(Duration, usize)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let t = n.link.as_ref()?.machine.poll_timeout()?;
                Some((t.saturating_duration_since(self.base), i))
            })
            .min()
    }

    /// Calls `f` on node `i`'s machine (if it runs), then performs its actions.
    pub(super) fn machine(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut HostDelivery),
    ) -> Result<(), Broken> {
        let Some(link) = self.nodes[i].link.as_mut() else {
            return Ok(());
        };
        f(&mut link.machine);
        self.drive(i)
    }

    pub(super) fn drive(&mut self, i: usize) -> Result<(), Broken> {
        loop {
            let node = &mut self.nodes[i];
            let w = node.cfg.window;
            let Some(link) = node.link.as_mut() else {
                return Ok(());
            };
            let Some(action) = link.machine.poll_action() else {
                if let HostState::Sending { in_flight } = link.machine.state()
                    && *in_flight > w
                    && !link.reloaded
                {
                    return Err((
                        "at_most_window_batches_in_flight",
                        format!("{in_flight} in flight, window {w}"),
                    ));
                }
                return Ok(());
            };
            let peer = link.peer;
            match action {
                Action::Fetch { after, max } => {
                    let run = self.nodes[i]
                        .store
                        .queue(peer)
                        .map(|q| q.peek_run(after, max))
                        .unwrap_or_default();
                    self.note(i, || format!("fetch after {after:?} max {max} -> {run:?}"));
                    let now = self.instant();
                    if let Some(l) = self.nodes[i].link.as_mut() {
                        let bytes = 300 * run.len();
                        l.machine
                            .handle_fetched(now, Fetched::Sized { seqs: run, bytes });
                    }
                }
                Action::Send {
                    id,
                    first,
                    last,
                    prev,
                    items,
                } => self.send(
                    i,
                    peer,
                    id,
                    Seq {
                        epoch: EPOCH[i],
                        first,
                        last,
                        prev: Some(prev),
                    },
                    items,
                )?,
                Action::Settle { upto, refused } => self.settle(i, peer, upto, refused)?,
                Action::Status(s) => {
                    if matches!(s, HostState::Stuck { .. }) {
                        self.stats.stuck += 1;
                    }
                    if !matches!(s, HostState::Sending { .. } | HostState::Idle) {
                        self.note(i, || format!("status {s:?}"));
                    }
                }
            }
        }
    }

    pub(super) fn send(
        &mut self,
        i: usize,
        peer: usize,
        id: BatchId,
        seq: Seq,
        n: usize,
    ) -> Result<(), Broken> {
        self.note(i, || {
            format!(
                "send #{id} {}..={} prev {:?} ({n})",
                seq.first, seq.last, seq.prev
            )
        });
        if !self.nodes[i].session {
            return Err(("nothing_sent_while_session_down", format!("batch #{id}")));
        }
        let node = &mut self.nodes[i];
        let q = node.store.queue(peer);
        let items: Vec<(Target, u64)> = (seq.first..=seq.last)
            .filter_map(|s| {
                q.and_then(|q| q.entries.get(&s))
                    .map(|e| (e.target, e.value))
            })
            .collect();
        let span = seq.last.checked_sub(seq.first).map(|d| d + 1);
        if span != Some(items.len() as u64) || items.len() != n {
            return Err((
                "batches_are_runs_of_queued_writes",
                format!(
                    "batch #{id} {}..={} says {n} items, queue has {}",
                    seq.first,
                    seq.last,
                    items.len()
                ),
            ));
        }
        // The agent commits before a batch leaves.
        node.store.commit();
        let inc = node.inc;
        if let Some(l) = node.link.as_mut() {
            l.outstanding.insert(id, (seq.first, seq.last));
        }
        self.stats.sends += 1;
        self.transmit(Msg {
            from: i,
            to: peer,
            inc,
            id,
            payload: Payload::Write { seq, items },
        });
        Ok(())
    }

    pub(super) fn settle(
        &mut self,
        i: usize,
        peer: usize,
        upto: u64,
        refused: Vec<(u64, String)>,
    ) -> Result<(), Broken> {
        self.note(i, || {
            format!("settle upto {upto} refused {}", refused.len())
        });
        if let Some(l) = self.nodes[i].link.as_mut() {
            if upto < l.settled {
                return Err((
                    "settle_in_seq_order",
                    format!("{} settles upto {upto} after {}", NAMES[i], l.settled),
                ));
            }
            l.settled = upto;
        }
        let applied = self.nodes[peer]
            .store
            .committed
            .applied
            .get(&(i, EPOCH[i]))
            .copied();
        let highest = refused
            .iter()
            .map(|(s, _)| *s)
            .chain([upto])
            .max()
            .unwrap_or(upto);
        let queued_max = self.nodes[i]
            .store
            .queue(peer)
            .and_then(|q| q.entries.range(..=highest).next_back().map(|(s, _)| *s));
        // Only writes still queued are acknowledged: the bound is the highest of those.
        if let Some(s) = queued_max
            && applied.is_none_or(|a| a < s)
        {
            return Err((
                "settle_only_what_the_receiver_applied_durably",
                format!(
                    "{} settles seq {s} (upto {upto}), {} applied {applied:?}",
                    NAMES[i], NAMES[peer]
                ),
            ));
        }
        let store = &mut self.nodes[i].store;
        for (seq, reason) in refused {
            let target = store
                .queue(peer)
                .and_then(|q| q.entries.get(&seq))
                .map(|e| e.target);
            match target {
                None => {
                    return Err((
                        "settle_dead_letters_only_queued_writes",
                        format!("seq {seq} is not queued (Store::dead_letter: NotQueued)"),
                    ));
                }
                Some(t) if t != UNKNOWN => {
                    return Err((
                        "nothing_dead_lettered_without_a_fault",
                        format!("seq {seq} to {t} refused: {reason}"),
                    ));
                }
                Some(_) => {}
            }
            store.dead_letter(peer, seq, &reason);
        }
        store.ack(peer, upto);
        Ok(())
    }

    pub(super) fn transmit(&mut self, msg: Msg) {
        for d in self.net.transit(&mut self.rng) {
            self.after(d, Event::Deliver(msg.clone()));
        }
    }

    pub(super) fn handle(&mut self, ev: Event) -> Result<(), Broken> {
        let now = self.instant();
        match ev {
            Event::Deliver(msg) => return self.deliver(msg),
            Event::Write => {
                if !self.nodes[A].up {
                    return Ok(());
                }
                for _ in 0..=self.rng.below(3) {
                    let r = self.rng.below(100);
                    let target = match r {
                        0..35 => EVERY[0],
                        35..65 => EVERY[1],
                        65..92 => LATEST,
                        _ => UNKNOWN,
                    };
                    let v = self.next_value;
                    self.next_value += 1;
                    self.nodes[A].store.write_local(B, target, v);
                    self.note(A, || format!("write {target}={v}"));
                }
                let d = Duration::from_micros(self.rng.below(3000));
                self.after(d, Event::WriteCommit);
                return self.machine(A, |m| m.handle_queued(now));
            }
            Event::WriteCommit => {
                if self.nodes[A].up {
                    self.nodes[A].store.commit();
                }
            }
            Event::Crash(i) => self.crash(i),
            Event::Restart(i) => return self.restart(i),
            Event::SessionDown(i) => return self.session_down(i),
            Event::SessionUp(i) => return self.session_up(i),
            Event::Presence(i, up) => {
                if !self.healed || up {
                    self.note(i, || format!("presence of peer flips to {up}"));
                    return self.machine(i, |m| m.handle_presence(now, up));
                }
            }
            Event::Reload(i, window) => return self.reload(i, window),
            Event::Heal => return self.heal(),
        }
        Ok(())
    }

    pub(super) fn deliver(&mut self, msg: Msg) -> Result<(), Broken> {
        let to = msg.to;
        let reachable = self.nodes[to].up && self.nodes[to].session;
        match msg.payload {
            Payload::Write { seq, items } => {
                if !reachable {
                    // The server bounces it (recipient-unavailable).
                    self.transmit(Msg {
                        from: to,
                        to: msg.from,
                        inc: msg.inc,
                        id: msg.id,
                        payload: Payload::Answer(Answer::Failed("recipient-unavailable".into())),
                    });
                    return Ok(());
                }
                let crash_mid = !self.healed && self.rng.pct(self.crash_mid_pct);
                let forward_to = (to == B).then_some(C);
                let r = node::receive(
                    &mut self.nodes[to].store,
                    msg.from,
                    seq.epoch,
                    seq,
                    &items,
                    &KNOWN,
                    forward_to,
                    self.muts,
                    crash_mid,
                );
                self.note(to, || {
                    format!(
                        "got #{} {}..={} prev {:?}: {:?}{}",
                        msg.id,
                        seq.first,
                        seq.last,
                        seq.prev,
                        r.answer,
                        if r.crashed { " CRASH" } else { "" }
                    )
                });
                if let Some(answer) = r.answer {
                    if answer == Answer::Gap {
                        self.stats.gaps += 1;
                    }
                    self.transmit(Msg {
                        from: to,
                        to: msg.from,
                        inc: msg.inc,
                        id: msg.id,
                        payload: Payload::Answer(answer),
                    });
                }
                if r.crashed {
                    self.crash(to);
                } else if r.forwarded {
                    let now = self.instant();
                    return self.machine(to, |m| m.handle_queued(now));
                }
            }
            Payload::Answer(answer) => {
                let node = &mut self.nodes[to];
                if !reachable || node.inc != msg.inc {
                    return Ok(());
                }
                let Some(link) = node.link.as_mut() else {
                    return Ok(());
                };
                if link.outstanding.remove(&msg.id).is_none() {
                    return Ok(());
                }
                let outcome = match answer {
                    Answer::Delivered { refused } => Outcome::Delivered { refused },
                    Answer::Gap => Outcome::Gap,
                    Answer::Failed(r) => Outcome::Failed(r),
                };
                self.note(to, || format!("answer #{} {outcome:?}", msg.id));
                let now = self.instant();
                return self.machine(to, |m| m.handle_answer(now, msg.id, outcome));
            }
        }
        Ok(())
    }
}
