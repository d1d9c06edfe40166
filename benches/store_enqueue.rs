//! Benchmark of the durable replication store (SPEC §9: enqueue >= 100,000 updates/s; drain
//! of a 1,000,000-write backlog >= 20,000 writes/s end to end, here the store's share only).
//!
//! Run: `cargo bench --bench store_enqueue`. Prints one line per figure with its target.
//! `cargo test --all-targets` runs this binary too (without `--bench`): it then does a small
//! smoke run so that the benchmark code stays working, and its figures mean nothing.

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use webbinder::store::{QueuedWrite, Store};

const HOST: &str = "site-b";
const TARGETS: usize = 16;
const GROUP_TASKS: usize = 8;
const RUN: usize = 100;

/// Sizes of one run: the real benchmark or the smoke run of `cargo test`.
struct Sizes {
    backlog: u64,
    group: Duration,
    coalesced: u64,
}

const BENCH: Sizes = Sizes {
    backlog: 1_000_000,
    group: Duration::from_secs(5),
    coalesced: 200_000,
};

const SMOKE: Sizes = Sizes {
    backlog: 5_000,
    group: Duration::from_millis(200),
    coalesced: 1_000,
};

/// Writes like the agent's: a connection key, a datapoint name, a SNVT_temp_p value.
fn writes() -> Vec<QueuedWrite> {
    (0..TARGETS)
        .map(|i| QueuedWrite {
            connection: format!("bindings/site-b.toml#{i}"),
            target: format!("Net/LON/iLON App/VirtFb/nviTemp_{i}"),
            value: format!("{}.50", 20 + i),
            lon_format: None,
            priority: 255,
            enqueued_at: SystemTime::now(),
        })
        .collect()
}

/// Resident and peak resident memory of this process, from /proc (Linux), in MiB.
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or_else(
                || "?".to_owned(),
                |kb| format!("{:.1} MiB", kb as f64 / 1024.0),
            )
    };
    format!("rss {}, peak {}", field("VmRSS:"), field("VmHWM:"))
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() -> Result<(), Box<dyn Error>> {
    let sizes = if std::env::args().any(|a| a == "--bench") {
        BENCH
    } else {
        println!(
            "store_enqueue: smoke run (figures meaningless; use `cargo bench --bench store_enqueue`)"
        );
        SMOKE
    };
    let dir = tempfile::tempdir()?;
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(8 * 1024 * 1024)
        .open()?;
    let store = Store::open(&db)?;
    let writes = writes();
    println!(
        "store benchmark: sled 0.34.7, cache_capacity 8 MiB, {}",
        dir.path().display()
    );

    // 1. Enqueue a 1,000,000-write backlog, one thread, every-change (no coalescing).
    let start = Instant::now();
    for i in 0..sizes.backlog {
        store.enqueue(HOST, &writes[i as usize % TARGETS], false)?;
    }
    let enqueue = start.elapsed();
    let start = Instant::now();
    store.flush()?;
    let commit = start.elapsed();
    println!(
        "enqueue (coalesce=false, 1 thread): {} writes in {:.2} s = {:.0} writes/s (target >= 100,000/s); then commit {:.1} ms; {}",
        sizes.backlog,
        enqueue.as_secs_f64(),
        rate(sizes.backlog, enqueue),
        commit.as_secs_f64() * 1e3,
        memory()
    );

    // 2. Enqueue + commit from concurrent tasks: group commit (each update durable before the
    //    task goes on, as before acknowledging a local update).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let flushes_before = store.commit_flushes();
    let start = Instant::now();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..GROUP_TASKS {
            let store = store.clone();
            let w = writes[t % TARGETS].clone();
            let (done, stop) = (Arc::clone(&done), Arc::clone(&stop));
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    store.enqueue("site-c", &w, false)?;
                    store.commit().await?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<(), webbinder::store::StoreError>(())
            }));
        }
        tokio::time::sleep(sizes.group).await;
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await??;
        }
        Ok::<(), Box<dyn Error>>(())
    })?;
    let elapsed = start.elapsed();
    let n = done.load(Ordering::Relaxed);
    let flushes = store.commit_flushes() - flushes_before;
    println!(
        "enqueue+commit ({GROUP_TASKS} tasks, group commit, {:.1} s): {n} durable writes = {:.0} writes/s, {flushes} flushes ({:.1} writes per fsync)",
        sizes.group.as_secs_f64(),
        rate(n, elapsed),
        n as f64 / flushes.max(1) as f64
    );

    // 3. Coalescing path ("latest"), 1 thread, over the same 16 targets of another host.
    let coalesced = sizes.coalesced;
    let start = Instant::now();
    for i in 0..coalesced {
        store.enqueue("site-d", &writes[i as usize % TARGETS], true)?;
    }
    let elapsed = start.elapsed();
    println!(
        "enqueue (coalesce=true, {TARGETS} targets, 1 thread): {coalesced} writes = {:.0} writes/s (target >= 100,000/s); queue depth {}",
        rate(coalesced, elapsed),
        store.host_stats("site-d")?.depth
    );

    // 4. Drain the backlog as the delivery task does: peek a run of 100, acknowledge it.
    let start = Instant::now();
    let mut drained = 0u64;
    loop {
        let run = store.peek_run(HOST, None, RUN)?;
        let Some(&(last, _)) = run.last() else { break };
        drained += store.ack(HOST, last)? as u64;
    }
    let drain = start.elapsed();
    store.flush()?;
    println!(
        "drain (peek_run {RUN} + ack, 1 thread): {drained} writes in {:.2} s = {:.0} writes/s (target >= 20,000/s end to end); {}",
        drain.as_secs_f64(),
        rate(drained, drain),
        memory()
    );
    Ok(())
}
