//! Building blocks of the replication soak (tests/it/soak.rs): the sites (A feeds B every
//! change of a counter, B forwards what it applies to the recorder R), the writer that
//! remembers which writes were acknowledged, the seeded chaos plan, the reconciliation at the
//! far end and the scrape of the agents' store commit stalls.

use std::fmt;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::agent::{Agent, encode};
use super::recorder::Recorder;
use super::{Kind, Server};

pub const A_MAC: &str = "08-00-00-1A-7C-70";
pub const B_MAC: &str = "00-D0-71-02-1B-70";
pub const R_MAC: &str = "00-11-22-33-44-70";

/// The replicated datapoint, on A (source) and B (target): a 32-bit counter as raw hex, so
/// that even a ten-minute flat-out writer never runs out of distinct increasing values.
pub const COUNTER: &str = "Soak/counter";
/// The target of B's forwarding to R.
pub const FORWARDED: &str = "B:Soak/counter";

const COUNTER_POINT: &str =
    "\n[[datapoint]]\nname = \"Soak/counter\"\ntype = \"SNVT_count_32\"\nvalue = \"00000000\"\n";

/// The Prometheus counter another part of issue 8 adds; its absence is tolerated.
pub const STALLS_METRIC: &str = "webbinder_store_commit_stalls_total";

/// The text form of counter value `n`.
pub fn counter_text(n: u32) -> String {
    format!("{n:08X}")
}

/// The counter value of a recorded text (`None`: not a counter value).
pub fn counter_value(text: &str) -> Option<u32> {
    u32::from_str_radix(text.trim(), 16).ok()
}

fn host(name: &str, mac: &str) -> String {
    format!(
        "[[host]]\nname = \"{name}\"\nmac_id = \"{mac}\"\nretry_time = \"1s\"\nconnection_timeout = \"10s\"\n\n"
    )
}

fn conn(host: &str, target: &str, extra: &str) -> String {
    format!(
        "[[connection]]\nsource = \"{COUNTER}\"\nhost = \"{host}\"\ntarget = \"{target}\"\n{extra}\n"
    )
}

/// The server, both agents and the recorder.
pub struct Sites {
    pub server: Server,
    pub a: Agent,
    pub b: Agent,
    pub rec: Recorder,
}

impl Sites {
    pub async fn start(kind: Kind) -> Sites {
        let server = Server::start(kind);
        server.register(&[(A_MAC, "pw-a"), (B_MAC, "pw-b"), (R_MAC, "pw-r")]);
        let rec = Recorder::start(&server, R_MAC, "pw-r").await;
        let a = Agent::new(&server, A_MAC, "pw-a", &[]);
        add_counter(&a);
        a.write_binding(
            "to-b.toml",
            &(host("site-b", B_MAC) + &conn("site-b", COUNTER, "")),
        );
        let b = Agent::new(&server, B_MAC, "pw-b", &[]);
        add_counter(&b);
        b.write_binding(
            "b.toml",
            &(host("site-a", A_MAC)
                + &host("rec", R_MAC)
                + &conn("rec", FORWARDED, "send_on_delta = 0")),
        );
        let mut s = Sites { server, a, b, rec };
        s.b.start();
        s.a.start();
        s.a.wait_online().await;
        s.b.wait_online().await;
        s
    }

    /// The highest counter value recorded at R so far (0: none).
    pub fn far_end_max(&self) -> u32 {
        let seen = self.rec.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.iter()
            .rev()
            .filter(|(t, _)| t == FORWARDED)
            .find_map(|(_, v)| counter_value(v))
            .unwrap_or(0)
    }

    /// The counter values recorded at R, in arrival order.
    pub fn far_end(&self) -> Vec<u32> {
        let seen = self.rec.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.iter()
            .filter(|(t, _)| t == FORWARDED)
            .map(|(_, v)| counter_value(v).unwrap_or(u32::MAX))
            .collect()
    }

    /// The last lines of both agents' logs, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- A log (tail) ---\n{}\n--- B log (tail) ---\n{}",
            tail(&self.a.log_path(), 60),
            tail(&self.b.log_path(), 60)
        )
    }
}

/// With `WB_SOAK_LOGS=DIR`, both agents' full logs are kept there (even when the test fails).
impl Drop for Sites {
    fn drop(&mut self) {
        let Ok(dir) = std::env::var("WB_SOAK_LOGS") else {
            return;
        };
        let dir = Path::new(&dir);
        let _ = fs::create_dir_all(dir);
        let _ = fs::copy(self.a.log_path(), dir.join("a.log"));
        let _ = fs::copy(self.b.log_path(), dir.join("b.log"));
        let seen = self.rec.seen.lock().unwrap_or_else(|e| e.into_inner());
        let text: Vec<String> = seen.iter().map(|(t, v)| format!("{t} {v}")).collect();
        let _ = fs::write(dir.join("far-end.txt"), text.join("\n"));
    }
}

fn add_counter(agent: &Agent) {
    let path = agent.config_path();
    let mut text = fs::read_to_string(&path).expect("agent config");
    text.push_str(COUNTER_POINT);
    fs::write(&path, text).expect("agent config");
}

/// The last `lines` lines above debug level of a (possibly large) log file, without colour
/// codes.
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(4 << 20);
    if f.seek(SeekFrom::Start(from)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = strip_ansi(&String::from_utf8_lossy(&buf));
    let all: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains(" DEBUG ") && !l.contains(" TRACE "))
        .collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Removes `ESC [ ... m` colour sequences.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `queue_depth` of `host` in the agent's `GET /state` (`None`: no answer).
pub async fn queue_depth(http: &reqwest::Client, agent: &Agent, host: &str) -> Option<u64> {
    let url = format!("http://127.0.0.1:{}/state", agent.admin_port);
    let v: serde_json::Value = http.get(url).send().await.ok()?.json().await.ok()?;
    v["hosts"].as_array()?.iter().find(|h| h["name"] == host)?["queue_depth"].as_u64()
}

/// The agent's store commit stalls so far (`None`: not running, or the metric is absent).
pub async fn commit_stalls(http: &reqwest::Client, agent: &Agent) -> Option<u64> {
    let url = format!("http://127.0.0.1:{}/metrics", agent.admin_port);
    let text = http.get(url).send().await.ok()?.text().await.ok()?;
    stalls_in(&text)
}

/// The sum of [`STALLS_METRIC`] samples in a Prometheus text.
pub fn stalls_in(metrics: &str) -> Option<u64> {
    let mut found = None;
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix(STALLS_METRIC) else {
            continue;
        };
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        if let Some(v) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
            *found.get_or_insert(0) += v as u64;
        }
    }
    found
}

/// Writes increasing counter values (1, 2, ...) to A's source through `PUT /datapoints`, one
/// at a time, until stopped; remembers which were acknowledged (HTTP success).
pub struct Writer {
    /// The next value to write (so `next - 1` writes were made).
    pub next: Arc<AtomicU32>,
    pub acked: Arc<Mutex<Vec<u32>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    /// Starts writing to the admin endpoint on `port`; `rate` caps writes per second (0: as
    /// fast as acknowledgements come).
    pub fn start(port: u16, rate: u32) -> Writer {
        let next = Arc::new(AtomicU32::new(1));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, a, s) = (next.clone(), acked.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .expect("an HTTP client");
            let url = format!("http://127.0.0.1:{port}/datapoints/{}", encode(COUNTER));
            let gap = (rate > 0).then(|| Duration::from_secs_f64(1.0 / f64::from(rate)));
            let mut due = Instant::now();
            while !s.load(Ordering::Relaxed) {
                if let Some(gap) = gap {
                    // No catching up in bursts after a slow write or an outage.
                    due = (due + gap).max(Instant::now());
                    tokio::time::sleep_until(due.into()).await;
                }
                let v = n.fetch_add(1, Ordering::SeqCst);
                let sent = http
                    .put(&url)
                    .json(&serde_json::json!({ "value": counter_text(v) }))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {
                        a.lock().unwrap_or_else(|e| e.into_inner()).push(v);
                    }
                    // The agent is down or refused: pace the retries, not a synchronisation.
                    _ => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        });
        Writer {
            next,
            acked,
            stop,
            task,
        }
    }

    /// Writes made so far (acknowledged or not).
    pub fn made(&self) -> u32 {
        self.next.load(Ordering::SeqCst) - 1
    }

    /// Stops after the write in progress; returns (made, acknowledged values).
    pub async fn finish(self) -> (u32, Vec<u32>) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        let made = self.next.load(Ordering::SeqCst) - 1;
        let acked = self.acked.lock().unwrap_or_else(|e| e.into_inner()).clone();
        (made, acked)
    }
}

/// One disruption of the chaos schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Stop the XMPP server, wait, start it again in the same directory.
    ServerRestart,
    /// SIGKILL agent A (the sender), wait, start it again.
    KillA,
    /// SIGKILL agent B (the receiver), wait, start it again.
    KillB,
}

impl Fault {
    /// Parses `WB_SOAK_FAULTS`: a comma-separated list of `server`, `a`, `b`.
    pub fn parse_list(text: &str) -> Result<Vec<Fault>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| match t {
                "server" => Ok(Fault::ServerRestart),
                "a" => Ok(Fault::KillA),
                "b" => Ok(Fault::KillB),
                other => Err(format!("unknown fault {other:?} (server, a, b)")),
            })
            .collect()
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::ServerRestart => "server restart",
            Fault::KillA => "SIGKILL of A",
            Fault::KillB => "SIGKILL of B",
        })
    }
}

/// One step of the schedule: run until `after`, then `fault`, down for `down`, then (if
/// `await_recovery`) wait for a write made after the restart to reach the far end.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub after: Duration,
    pub fault: Fault,
    pub down: Duration,
    pub await_recovery: bool,
}

/// The chaos schedule, reproducible from its seed.
pub struct Chaos {
    rng: StdRng,
    faults: Vec<Fault>,
    /// The rest of the current round: every fault once per round, in random order, so that
    /// even a short run has each of them.
    round: Vec<Fault>,
}

impl Chaos {
    pub fn new(seed: u64) -> Chaos {
        Chaos::with_faults(seed, &[Fault::ServerRestart, Fault::KillA, Fault::KillB])
    }

    /// A schedule of only these faults (all three if empty).
    pub fn with_faults(seed: u64, faults: &[Fault]) -> Chaos {
        if faults.is_empty() {
            return Chaos::new(seed);
        }
        Chaos {
            rng: StdRng::seed_from_u64(seed),
            faults: faults.to_vec(),
            round: Vec::new(),
        }
    }

    /// The next step: faults at random moments (pause 0.2-4 s), down 0-3 s; one in four does
    /// not wait for recovery, so the next fault can hit a recovering system.
    pub fn next_step(&mut self) -> Step {
        if self.round.is_empty() {
            self.round = self.faults.clone();
        }
        let i = self.rng.random_range(0..self.round.len());
        let fault = self.round.swap_remove(i);
        Step {
            after: Duration::from_millis(self.rng.random_range(200..4000)),
            fault,
            down: Duration::from_millis(self.rng.random_range(0..3000)),
            await_recovery: self.rng.random_range(0..4u8) != 0,
        }
    }
}

/// What the far end shows, against what was acknowledged.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reconciliation {
    /// Counter values applied at B (as forwarded to R), initial zeros left out.
    pub applied: usize,
    /// Acknowledged writes that never arrived (at most 20 listed).
    pub missing: Vec<u32>,
    /// Number of acknowledged writes that never arrived.
    pub missing_count: usize,
    /// Positions where a value did not follow its predecessor upwards (duplicate or
    /// reordering): (index, previous, value), at most 20 listed.
    pub out_of_order: Vec<(usize, u32, u32)>,
    /// Values applied that were never written (at most 20 listed).
    pub invented: Vec<u32>,
    /// The far end around the first disorder: (index, value) of up to 10 values either side.
    pub context: Vec<(usize, u32)>,
}

impl Reconciliation {
    pub fn is_clean(&self) -> bool {
        self.missing_count == 0 && self.out_of_order.is_empty() && self.invented.is_empty()
    }
}

/// Checks the far end's values (arrival order) against the acknowledged writes (ascending):
/// every acknowledged write exactly once, everything in increasing order, nothing that was not
/// written (`made` values were attempted). The initial value 0 (sent when the connections are
/// first brought in step) is left out.
pub fn reconcile(far_end: &[u32], acked: &[u32], made: u32) -> Reconciliation {
    let applied: Vec<u32> = far_end.iter().copied().filter(|v| *v != 0).collect();
    let mut r = Reconciliation {
        applied: applied.len(),
        ..Reconciliation::default()
    };
    for (i, w) in applied.windows(2).enumerate() {
        if w[1] <= w[0] && r.out_of_order.len() < 20 {
            r.out_of_order.push((i + 1, w[0], w[1]));
        }
    }
    if let Some((i, _, _)) = r.out_of_order.first() {
        let from = i.saturating_sub(10);
        r.context = (from..applied.len().min(i + 10))
            .map(|j| (j, applied[j]))
            .collect();
    }
    r.invented = applied
        .iter()
        .copied()
        .filter(|v| *v > made)
        .take(20)
        .collect();
    let mut sorted = applied.clone();
    sorted.sort_unstable();
    for v in acked {
        if sorted.binary_search(v).is_err() {
            r.missing_count += 1;
            if r.missing.len() < 20 {
                r.missing.push(*v);
            }
        }
    }
    r
}
