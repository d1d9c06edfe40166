//! Deterministic simulation of replication (issue 9, part 3): three agents A -> B -> C, each
//! with a model durable store (`node.rs`) and one delivery machine per remote host, over a
//! simulated network (`net.rs`), on a virtual clock, driven by one seeded random schedule of
//! faults: delay, drop, duplicate and reorder of requests and answers, batch timeouts, our
//! session lost and back, presence flips, reloads (another window, host removed and back),
//! crashes of any node at any instant (also inside an apply). After every run `check.rs`
//! verifies the delivery guarantees of SPEC §6. A failing seed prints itself and reruns
//! alone with `WB_SIM_SEED=<n>`.

mod check;
mod faults;
mod net;
mod node;
mod tests;
mod world;

use std::fmt;

/// The machine under test.
use super::delivery;

/// A small deterministic PRNG (splitmix64): one per run, seeded from the seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5eed_0f51_11ab_u64)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True with probability `p` per cent.
    pub fn pct(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

/// Deliberately broken rules, to show that the simulation catches them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mutations {
    /// The receiver answers before it commits: a crash loses values it acknowledged.
    pub ack_before_commit: bool,
    /// The receiver ignores `prev`: a batch is applied past a missing earlier one.
    pub apply_past_gap: bool,
    /// B's forwards become durable on their own, before its applied seq (issue 9's chain bug).
    pub forward_not_atomic: bool,
}

/// A violated invariant.
#[derive(Debug, Clone)]
pub struct Failure {
    pub seed: u64,
    pub invariant: &'static str,
    pub detail: String,
    pub trace: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} broke `{}`: {}",
            self.seed, self.invariant, self.detail
        )?;
        writeln!(f, "trace tail (us node event):")?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        write!(
            f,
            "rerun alone: WB_SIM_SEED={} cargo test --lib replication::sim",
            self.seed
        )
    }
}

/// Figures of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub steps: u64,
    pub acknowledged: usize,
    pub crashes: u64,
    pub sends: u64,
    pub gaps: u64,
    pub dead_letters: usize,
    pub stuck: u64,
}

/// The shape of a run; `None` fields are drawn from the seed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Profile {
    /// Writer events at A (each writes 1 to 3 updates).
    pub writes: Option<u64>,
    /// Mean spacing of the writer events, in ms.
    pub spacing_ms: Option<u64>,
    /// Crashes of A, B and C at random instants.
    pub crashes: [Option<u64>; 3],
}

/// Runs one seeded schedule to the end and checks every guarantee.
pub fn run(seed: u64, muts: Mutations) -> Result<Stats, Failure> {
    run_with(seed, muts, Profile::default())
}

/// As [`run`], with a given shape.
pub fn run_with(seed: u64, muts: Mutations, profile: Profile) -> Result<Stats, Failure> {
    world::World::new(seed, muts, profile).run()
}
