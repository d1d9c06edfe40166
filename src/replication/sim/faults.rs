//! The seeded fault schedule and the fault events: crashes and restarts, our session lost
//! and back, presence, reloads, and the final heal after which the queues must drain.

use std::collections::BTreeMap;
use std::time::Duration;

use super::delivery::{BatchId, HostDelivery, Outcome};
use super::world::{A, Broken, Event, Link, PEER, World};
use super::{Profile, Rng};

impl World {
    pub(super) fn schedule_faults(&mut self, profile: Profile) {
        for i in 0..3 {
            self.at(Duration::ZERO, Event::Restart(i));
        }
        let writes = profile.writes.unwrap_or_else(|| 10 + self.rng.below(50));
        let spacing = profile.spacing_ms.unwrap_or_else(|| 1 + self.rng.below(15));
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
            let crashes = profile.crashes[i].unwrap_or_else(|| self.rng.below(4));
            for _ in 0..crashes {
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

    pub(super) fn crash(&mut self, i: usize) {
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

    pub(super) fn restart(&mut self, i: usize) -> Result<(), Broken> {
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
                settled: 0,
                reloaded: false,
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

    pub(super) fn session_down(&mut self, i: usize) -> Result<(), Broken> {
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

    pub(super) fn session_up(&mut self, i: usize) -> Result<(), Broken> {
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

    pub(super) fn reload(&mut self, i: usize, window: Option<usize>) -> Result<(), Broken> {
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
        if let Some(l) = node.link.as_mut() {
            l.reloaded = true;
        }
        let now = self.instant();
        self.machine(i, |m| m.handle_reload(now, cfg))
    }

    pub(super) fn heal(&mut self) -> Result<(), Broken> {
        self.note(A, || "HEAL".into());
        self.healed = true;
        self.net.healed = true;
        for i in 0..self.nodes.len() {
            if self.nodes[i].removed {
                let w = self.nodes[i].cfg.window;
                self.reload(i, Some(w))?;
            }
            self.restart(i)?;
            self.session_up(i)?;
        }
        let now = self.instant();
        for (i, peer) in PEER.iter().enumerate() {
            let available = peer.is_some_and(|p| self.nodes[p].up && self.nodes[p].session);
            self.machine(i, |m| m.handle_presence(now, available))?;
        }
        Ok(())
    }
}
