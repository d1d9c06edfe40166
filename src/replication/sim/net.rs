//! The simulated network between the nodes (the XMPP server between agents): every message
//! gets a seeded delay (so messages reorder), and while the network is not healed it may be
//! dropped or duplicated. Requests and answers are treated alike.

use std::time::Duration;

use crate::soap::Seq;

use super::Rng;
use super::node::{Answer, Target};

#[derive(Debug, Clone)]
pub enum Payload {
    Write { seq: Seq, items: Vec<(Target, u64)> },
    Answer(Answer),
}

/// One stanza. `inc` is the incarnation of the requester (its process since the last
/// restart): answers for an earlier process are not delivered to a new one.
#[derive(Debug, Clone)]
pub struct Msg {
    pub from: usize,
    pub to: usize,
    pub inc: u64,
    pub id: u64,
    pub payload: Payload,
}

/// Fault rates of one run (drawn from the seed).
#[derive(Debug, Clone, Copy)]
pub struct Net {
    pub drop_pct: u64,
    pub dup_pct: u64,
    /// Per cent of messages that take a long path (beyond the batch timeout).
    pub slow_pct: u64,
    pub max_delay_ms: u64,
    pub healed: bool,
}

impl Net {
    pub fn new(rng: &mut Rng) -> Self {
        Net {
            drop_pct: rng.below(8),
            dup_pct: rng.below(8),
            slow_pct: rng.below(5),
            max_delay_ms: 1 + rng.below(30),
            healed: false,
        }
    }

    /// The delays after which copies of a message arrive (none: dropped).
    pub fn transit(&self, rng: &mut Rng) -> Vec<Duration> {
        let mut out = Vec::new();
        if !self.healed && rng.pct(self.drop_pct) {
            return out;
        }
        out.push(self.delay(rng));
        if !self.healed && rng.pct(self.dup_pct) {
            out.push(self.delay(rng));
        }
        out
    }

    fn delay(&self, rng: &mut Rng) -> Duration {
        let ms = if !self.healed && rng.pct(self.slow_pct) {
            200 + rng.below(800)
        } else {
            rng.below(self.max_delay_ms + 1)
        };
        Duration::from_micros(ms * 1000 + rng.below(1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healed_network_delivers_every_message_once() {
        let mut rng = Rng::new(3);
        let mut net = Net {
            drop_pct: 100,
            dup_pct: 100,
            slow_pct: 0,
            max_delay_ms: 5,
            healed: false,
        };
        assert!(net.transit(&mut rng).is_empty());
        net.healed = true;
        for _ in 0..100 {
            let t = net.transit(&mut rng);
            assert_eq!(t.len(), 1);
            assert!(t[0] < Duration::from_millis(6));
        }
    }
}
