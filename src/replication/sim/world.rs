//! The harness: nodes, the event queue on a virtual clock, the drivers of the delivery
//! machines (Fetch -> model queue, Send -> network, Settle -> dead-letter + ack) and the
//! seeded fault schedule.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use crate::soap::Seq;

use super::delivery::{Action, BatchId, DeliveryConfig, Fetched, HostDelivery, Outcome};
use super::net::{Msg, Net, Payload};
use super::node::{self, Answer, EVERY, LATEST, Store, Target, UNKNOWN};
use super::{Failure, Mutations, Rng, Stats, check};

pub const A: usize = 0;
pub const B: usize = 1;
pub const C: usize = 2;
pub const NAMES: [&str; 3] = ["A", "B", "C"];
/// Store epochs (kept across restarts: the stores are never recreated).
pub const EPOCH: [u64; 3] = [11, 22, 33];
/// Who sends to whom: A -> B, B -> C (B forwards what it applies from A).
const PEER: [Option<usize>; 3] = [Some(B), Some(C), None];
const KNOWN: [Target; 3] = [EVERY[0], EVERY[1], LATEST];
const TRACE: usize = 40;
/// Virtual time allowed after healing for the queues to drain.
const DRAIN: Duration = Duration::from_secs(600);
const MAX_STEPS: u64 = 400_000;

#[derive(Debug)]
enum Event {
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
struct Link {
    peer: usize,
    machine: HostDelivery,
    /// Batches sent and not answered (nor failed by a session loss): id -> (first, last).
    outstanding: BTreeMap<BatchId, (u64, u64)>,
}

pub struct Node {
    pub store: Store,
    up: bool,
    session: bool,
    inc: u64,
    link: Option<Link>,
    /// The host's configuration on disk; survives crashes.
    cfg: DeliveryConfig,
    /// The host was removed by a reload (its queue stays).
    removed: bool,
}

pub struct World {
    seed: u64,
    muts: Mutations,
    rng: Rng,
    base: Instant,
    now: Duration,
    n: u64,
    events: BinaryHeap<Reverse<Timed>>,
    net: Net,
    pub nodes: Vec<Node>,
    healed: bool,
    heal_at: Duration,
    next_value: u64,
    crash_mid_pct: u64,
    trace: VecDeque<String>,
    stats: Stats,
}

type Broken = (&'static str, String);

impl World {
    pub fn new(seed: u64, muts: Mutations) -> World {
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
        w.schedule_faults();
        w
    }

    fn schedule_faults(&mut self) {
        for i in 0..3 {
            self.at(Duration::ZERO, Event::Restart(i));
        }
        let writes = 20 + self.rng.below(100);
        let spacing = 1 + self.rng.below(15);
        let mut t = Duration::from_millis(5);
        for _ in 0..writes {
            t += Duration::from_millis(self.rng.below(2 * spacing + 1));
            self.at(t, Event::Write);
        }
        let end = t.as_millis() as u64 + 1;
        self.heal_at = t + Duration::from_millis(50);
        self.at(self.heal_at, Event::Heal);
        let when = |rng: &mut Rng| Duration::from_millis(rng.below(end));
        for i in 0..3 {
            for _ in 0..self.rng.below(4) {
                let t = when(&mut self.rng);
                self.at(t, Event::Crash(i));
            }
            for _ in 0..self.rng.below(4) {
                let t = when(&mut self.rng);
                self.at(t, Event::SessionDown(i));
            }
            for _ in 0..self.rng.below(4) {
                let t = when(&mut self.rng);
                let up = self.rng.pct(50);
                self.at(t, Event::Presence(i, up));
            }
            for _ in 0..self.rng.below(3) {
                let t = when(&mut self.rng);
                let window = (!self.rng.pct(30)).then(|| 1 + self.rng.below(6) as usize);
                self.at(t, Event::Reload(i, window));
                if window.is_none() {
                    let back = t + Duration::from_millis(1 + self.rng.below(300));
                    let w = 1 + self.rng.below(6) as usize;
                    self.at(back, Event::Reload(i, Some(w)));
                }
            }
        }
    }

    fn at(&mut self, at: Duration, ev: Event) {
        self.n += 1;
        self.events.push(Reverse(Timed { at, n: self.n, ev }));
    }

    fn after(&mut self, d: Duration, ev: Event) {
        self.at(self.now + d, ev);
    }

    fn instant(&self) -> Instant {
        self.base + self.now
    }

    fn note(&mut self, node: usize, what: impl FnOnce() -> String) {
        if self.trace.len() == TRACE {
            self.trace.pop_front();
        }
        let line = format!(
            "{:>8.3} {} {}",
            self.now.as_secs_f64() * 1e3,
            NAMES[node],
            what()
        );
        self.trace.push_back(line);
    }

    fn fail(&self, (invariant, detail): Broken) -> Failure {
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

    fn drained(&self) -> bool {
        self.nodes
            .iter()
            .all(|n| n.store.live.queues.values().all(|q| q.entries.is_empty()))
    }

    /// The earliest machine deadline (as an offset) and its node.
    fn next_timer(&self) -> Option<(Duration, usize)> {
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
    fn machine(&mut self, i: usize, f: impl FnOnce(&mut HostDelivery)) -> Result<(), Broken> {
        let Some(link) = self.nodes[i].link.as_mut() else {
            return Ok(());
        };
        f(&mut link.machine);
        self.drive(i)
    }

    fn drive(&mut self, i: usize) -> Result<(), Broken> {
        loop {
            let Some(link) = self.nodes[i].link.as_mut() else {
                return Ok(());
            };
            let Some(action) = link.machine.poll_action() else {
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
                        l.machine.handle_fetched(now, Fetched::Run(run));
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
                Action::Status(s) => self.note(i, || format!("status {s:?}")),
            }
        }
    }

    fn send(
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

    fn settle(
        &mut self,
        i: usize,
        peer: usize,
        upto: u64,
        refused: Vec<(u64, String)>,
    ) -> Result<(), Broken> {
        self.note(i, || {
            format!("settle upto {upto} refused {}", refused.len())
        });
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
            if target.is_some_and(|t| t != UNKNOWN) {
                return Err((
                    "nothing_dead_lettered_without_a_fault",
                    format!("seq {seq} to {target:?} refused: {reason}"),
                ));
            }
            store.dead_letter(peer, seq, &reason);
        }
        store.ack(peer, upto);
        Ok(())
    }

    fn transmit(&mut self, msg: Msg) {
        for d in self.net.transit(&mut self.rng) {
            self.after(d, Event::Deliver(msg.clone()));
        }
    }

    fn handle(&mut self, ev: Event) -> Result<(), Broken> {
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

    fn deliver(&mut self, msg: Msg) -> Result<(), Broken> {
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

    fn crash(&mut self, i: usize) {
        if self.healed || !self.nodes[i].up {
            return;
        }
        self.note(i, || "CRASH".into());
        self.stats.crashes += 1;
        let node = &mut self.nodes[i];
        node.up = false;
        node.session = false;
        node.link = None;
        node.inc += 1;
        node.store.crash();
        let d = Duration::from_millis(1 + self.rng.below(300));
        self.after(d, Event::Restart(i));
        let now = self.instant();
        for p in self.senders_to(i) {
            let _ = self.machine(p, |m| m.handle_presence(now, false));
        }
    }

    fn senders_to(&self, i: usize) -> Vec<usize> {
        (0..3)
            .filter(|&p| PEER[p] == Some(i) && self.nodes[p].up)
            .collect()
    }

    fn restart(&mut self, i: usize) -> Result<(), Broken> {
        if self.nodes[i].up {
            return Ok(());
        }
        self.note(i, || "start".into());
        let now = self.instant();
        let node = &mut self.nodes[i];
        node.up = true;
        node.inc += 1;
        if let Some(peer) = PEER[i] {
            let mut machine = HostDelivery::new(node.cfg.clone(), now);
            if node.removed {
                machine.handle_reload(now, None);
            }
            node.link = Some(Link {
                peer,
                machine,
                outstanding: BTreeMap::new(),
            });
        }
        let d = Duration::from_millis(self.rng.below(40));
        self.after(d, Event::SessionUp(i));
        let available = PEER[i].is_some_and(|p| self.nodes[p].up && self.nodes[p].session);
        self.machine(i, |m| {
            m.handle_presence(now, available);
            m.handle_queued(now);
        })
    }

    fn session_down(&mut self, i: usize) -> Result<(), Broken> {
        if self.healed || !self.nodes[i].session {
            return Ok(());
        }
        self.note(i, || "session lost".into());
        self.nodes[i].session = false;
        let now = self.instant();
        let lost: Vec<BatchId> = self.nodes[i]
            .link
            .as_mut()
            .map(|l| std::mem::take(&mut l.outstanding).into_keys().collect())
            .unwrap_or_default();
        for id in lost {
            self.machine(i, |m| {
                m.handle_answer(now, id, Outcome::SessionLost("session lost".into()))
            })?;
        }
        self.machine(i, |m| m.handle_session(now, false))?;
        for p in self.senders_to(i) {
            self.machine(p, |m| m.handle_presence(now, false))?;
        }
        let d = Duration::from_millis(1 + self.rng.below(200));
        self.after(d, Event::SessionUp(i));
        Ok(())
    }

    fn session_up(&mut self, i: usize) -> Result<(), Broken> {
        if !self.nodes[i].up || self.nodes[i].session {
            return Ok(());
        }
        self.note(i, || "session up".into());
        self.nodes[i].session = true;
        let now = self.instant();
        self.machine(i, |m| m.handle_session(now, true))?;
        for p in self.senders_to(i) {
            self.machine(p, |m| m.handle_presence(now, true))?;
        }
        Ok(())
    }

    fn reload(&mut self, i: usize, window: Option<usize>) -> Result<(), Broken> {
        if PEER[i].is_none() || (self.healed && window.is_none()) {
            return Ok(());
        }
        self.note(i, || format!("reload window {window:?}"));
        let node = &mut self.nodes[i];
        if let Some(w) = window {
            node.cfg.window = w;
        }
        node.removed = window.is_none();
        let cfg = window.map(|_| node.cfg.clone());
        let now = self.instant();
        self.machine(i, |m| m.handle_reload(now, cfg))
    }

    fn heal(&mut self) -> Result<(), Broken> {
        self.note(A, || "HEAL".into());
        self.healed = true;
        self.net.healed = true;
        for i in 0..3 {
            if self.nodes[i].removed {
                let w = self.nodes[i].cfg.window;
                self.reload(i, Some(w))?;
            }
            self.restart(i)?;
            self.session_up(i)?;
        }
        let now = self.instant();
        for i in 0..3 {
            let available = PEER[i].is_some_and(|p| self.nodes[p].up && self.nodes[p].session);
            self.machine(i, |m| m.handle_presence(now, available))?;
        }
        Ok(())
    }
}
