//! A receiver that forwards what it applies (issue 9): after a crash at any moment, a peer
//! batch's values, the forwards it enqueued and its applied seq are durable together or not
//! at all. sled may write what it holds to disk whenever it likes (its background flusher),
//! so the tests call `Db::flush` directly where that flusher could run.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::tests::open_db;
use super::*;
use crate::datapoints::{DatapointConfig, Direction, DpType, Table, UpdateSource, WriteRequest};

const POINT: &str = "Net/LON/iLON App/VirtFb/nvoTemp";
const SENDER: &str = "a@example.net";
const EPOCH: u64 = 7;
const R: &str = "r@example.net";

/// Agent B: its sled `Db`, store and table, wired as `agent::run` does, with an observer that
/// forwards every update of [`POINT`] to R through an every-change queue, as the replicator.
struct Agent {
    db: sled::Db,
    store: Store,
    table: Table,
}

impl Agent {
    fn open(dir: &Path) -> Agent {
        let db = open_db(dir);
        let store = Store::open(&db).unwrap();
        let config = DatapointConfig {
            name: POINT.to_owned(),
            dp_type: DpType::TempP,
            direction: Direction::InOut,
            initial: "20.00".to_owned(),
        };
        let table = Table::open(&db, vec![config], std::time::SystemTime::now()).unwrap();
        store.attach(Arc::new(table.clone()));
        let forwarder = store.clone();
        table.set_observer(Box::new(move |ev| {
            let w = QueuedWrite {
                connection: "b-to-r".to_owned(),
                target: POINT.to_owned(),
                value: ev.text.clone(),
                lon_format: None,
                priority: 255,
                enqueued_at: ev.at,
            };
            forwarder
                .enqueue(R, &w, false)
                .map(|_| ())
                .map_err(Into::into)
        }));
        Agent { db, store, table }
    }

    /// Applies a peer batch numbered `first..` as `Service::replicated_write` does.
    fn apply(&self, first: u64, values: &[String]) {
        let _atomic = self.store.atomic();
        let applied = self.store.applied_seq(SENDER, EPOCH).unwrap();
        for (i, value) in values.iter().enumerate() {
            let n = first + i as u64;
            if applied.is_some_and(|a| n <= a) {
                continue;
            }
            self.write(value);
        }
        let last = first + values.len() as u64 - 1;
        self.store.set_applied_seq(SENDER, EPOCH, last).unwrap();
    }

    /// One item of a peer batch.
    fn write(&self, value: &str) {
        let source = UpdateSource::Replication {
            from: SENDER.to_owned(),
        };
        self.table
            .write(WriteRequest::new(POINT, value, source))
            .unwrap();
    }

    /// A SIGKILL: no clean close, and what sled holds in memory is what it last wrote.
    fn kill(self, dir: &Path) -> Agent {
        self.table.clear_observer();
        self.store.simulate_crash();
        drop(self.table);
        drop(self.db);
        Agent::open(dir)
    }

    /// The values queued for R, in queue order.
    fn forwards(&self) -> Vec<String> {
        self.store
            .peek_run(R, None, 10_000)
            .unwrap()
            .into_iter()
            .map(|(_, w)| w.value)
            .collect()
    }

    fn value(&self) -> String {
        self.table.read(POINT).unwrap().text()
    }
}

fn batch(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{}.00", 30 + i)).collect()
}

/// Either the whole batch's effects are durable, or none are.
fn assert_all_or_nothing(b: &Agent, values: &[String], last: u64) {
    let applied = b.store.applied_seq(SENDER, EPOCH).unwrap();
    let forwards = b.forwards();
    let value = b.value();
    let all = (Some(last), values.to_vec(), values.last().unwrap().clone());
    let none = (None, Vec::new(), "20.00".to_owned());
    let got = (applied, forwards, value);
    assert!(
        got == all || got == none,
        "after the crash: applied seq {:?}, {} forwards (last {:?}), value {:?}",
        got.0,
        got.1.len(),
        got.1.last(),
        got.2
    );
}

/// The soak's lost writes: sled flushed the values and the applied seq on its own while the
/// forwards sat in the store's buffer; after the kill A's resend was skipped as duplicates.
#[test]
fn sleds_own_flush_never_makes_values_or_applied_seq_durable_without_their_forwards() {
    let dir = tempfile::tempdir().unwrap();
    let b = Agent::open(dir.path());
    let values = batch(64);
    b.apply(6, &values);
    // sled's background flusher runs here; the store's commit does not.
    b.db.flush().unwrap();
    let b = b.kill(dir.path());
    assert_all_or_nothing(&b, &values, 69);

    // A resends the unanswered batch: R must then get all of it, once, in order.
    b.apply(6, &values);
    assert_eq!(b.forwards(), values);
    assert_eq!(b.store.applied_seq(SENDER, EPOCH).unwrap(), Some(69));
}

/// After a commit the whole batch is durable: the kill loses nothing.
#[test]
fn a_committed_batch_survives_a_kill_whole() {
    let dir = tempfile::tempdir().unwrap();
    let b = Agent::open(dir.path());
    let values = batch(40);
    b.apply(1, &values);
    b.store.flush().unwrap();
    let b = b.kill(dir.path());
    assert_all_or_nothing(&b, &values, 40);
    assert_eq!(b.forwards(), values);
}

/// A local update: its forward is in the same atomic spill as its value, so sled can never
/// hold the value without the forward.
#[test]
fn a_local_value_is_never_durable_without_its_forward() {
    let dir = tempfile::tempdir().unwrap();
    let b = Agent::open(dir.path());
    b.table
        .write(WriteRequest::new(POINT, "25.00", UpdateSource::Admin))
        .unwrap();
    b.db.flush().unwrap();
    let b = b.kill(dir.path());
    let forwards = b.forwards();
    assert!(
        (b.value() == "25.00") == (forwards == ["25.00"]),
        "value {:?}, forwards {forwards:?}",
        b.value()
    );
}

/// A read of the queue from another thread (the sender task) spills the buffer: it waits for
/// the open batch instead of cutting it, and then sees all of it.
#[test]
fn a_spill_from_another_thread_waits_for_the_open_batch() {
    let dir = tempfile::tempdir().unwrap();
    let b = Agent::open(dir.path());
    let values = batch(64);
    let atomic = b.store.atomic();
    for v in &values[..32] {
        b.write(v);
    }
    let reader = {
        let store = b.store.clone();
        std::thread::spawn(move || store.host_stats(R).map(|s| s.depth))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while b.store.inner.gate.waiting() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the reader never waited"
        );
        std::thread::yield_now();
    }
    b.db.flush().unwrap();
    for v in &values[32..] {
        b.write(v);
    }
    b.store.set_applied_seq(SENDER, EPOCH, 64).unwrap();
    drop(atomic);
    assert_eq!(reader.join().unwrap().unwrap(), 64);
    b.db.flush().unwrap();
    let b = b.kill(dir.path());
    assert_all_or_nothing(&b, &values, 64);
    assert_eq!(
        b.forwards().len(),
        64,
        "the reader's spill wrote the whole batch"
    );
}

/// A full buffer is not spilled inside a section: that would cut a batch.
#[test]
fn a_full_buffer_is_not_spilled_inside_a_section() {
    let dir = tempfile::tempdir().unwrap();
    let b = Agent::open(dir.path());
    let atomic = b.store.atomic();
    let w = QueuedWrite {
        connection: "c".to_owned(),
        target: POINT.to_owned(),
        value: "1".to_owned(),
        lon_format: None,
        priority: 255,
        enqueued_at: std::time::SystemTime::now(),
    };
    for _ in 0..SPILL_AT + 10 {
        b.store.enqueue(R, &w, false).unwrap();
    }
    b.db.flush().unwrap();
    drop(atomic);
    let b = b.kill(dir.path());
    assert!(
        b.forwards().is_empty(),
        "a part of the section reached disk"
    );
}

/// Waits (with a deadline) until a spill waits for an open section.
fn until_a_spill_waits(store: &Store) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.inner.gate.waiting() == 0 {
        assert!(std::time::Instant::now() < deadline, "no spill waited");
        std::thread::yield_now();
    }
}

/// A table write inside a peer batch opens its own section, which joins the batch's. Were
/// sections not reentrant, it would wait for the waiting spill, which waits for the batch.
#[test]
fn a_write_inside_a_batch_joins_its_section_while_a_spill_waits() {
    let dir = tempfile::tempdir().unwrap();
    let b = Arc::new(Agent::open(dir.path()));
    let (done, finished) = std::sync::mpsc::channel();
    let batch = {
        let b = Arc::clone(&b);
        std::thread::spawn(move || {
            let atomic = b.store.atomic();
            b.write("31.00");
            let reader = {
                let store = b.store.clone();
                std::thread::spawn(move || store.host_stats(R).map(|s| s.depth))
            };
            until_a_spill_waits(&b.store);
            b.write("32.00");
            b.store.set_applied_seq(SENDER, EPOCH, 2).unwrap();
            drop(atomic);
            let _ = done.send(reader.join().unwrap().unwrap());
        })
    };
    let depth = finished
        .recv_timeout(Duration::from_secs(10))
        .expect("deadlock: the nested section waited for the spill that waits for the batch");
    batch.join().unwrap();
    assert_eq!(depth, 2, "the spill ran after the whole batch");
}

/// A section ends when the last guard of its thread drops, whichever drops first.
#[test]
fn a_nested_section_ends_with_its_last_guard() {
    let dir = tempfile::tempdir().unwrap();
    let b = Agent::open(dir.path());
    let outer = b.store.atomic();
    let inner = b.store.atomic();
    let reader = {
        let store = b.store.clone();
        std::thread::spawn(move || store.host_stats(R).map(|s| s.depth))
    };
    until_a_spill_waits(&b.store);
    drop(outer);
    b.write("31.00");
    assert_eq!(b.store.inner.gate.waiting(), 1, "the section ended early");
    drop(inner);
    assert_eq!(reader.join().unwrap().unwrap(), 1);
}

/// Every table write opens a section, so its observer's enqueue never spills a full buffer;
/// the next write's section does, and the buffer stays bounded without a commit.
#[test]
fn table_writes_keep_the_buffer_bounded_without_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let b = Agent::open(dir.path());
    for i in 0..SPILL_AT + 10 {
        b.write(&format!("{}.00", i % 100));
    }
    assert!(
        !b.store.inner.lock().full(),
        "the buffer grew past SPILL_AT"
    );
    b.db.flush().unwrap();
    let b = b.kill(dir.path());
    assert!(
        b.forwards().len() >= SPILL_AT,
        "the spilled writes reached sled"
    );
}
