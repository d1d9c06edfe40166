//! Tests of the replication store against real sled databases in temporary directories.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;

/// Opens sled as the agent does, polling with a deadline: a just-dropped `Db` may hold
/// sled's file lock for a moment while its flusher thread exits.
pub(super) fn open_db(path: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let config = sled::Config::new().path(path).cache_capacity(8 << 20);
    loop {
        match config.open() {
            Ok(db) => return db,
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                std::thread::yield_now();
            }
            Err(e) => panic!("cannot open sled at {}: {e}", path.display()),
        }
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    db: Option<sled::Db>,
    store: Option<Store>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = open_db(dir.path());
        let store = Store::open(&db).unwrap();
        Fixture {
            dir,
            db: Some(db),
            store: Some(store),
        }
    }

    fn store(&self) -> &Store {
        self.store.as_ref().unwrap()
    }

    fn tree(&self) -> sled::Tree {
        self.db.as_ref().unwrap().open_tree(TREE_QUEUE).unwrap()
    }

    /// Closes the store and the database cleanly and opens both again.
    fn reopen(&mut self) {
        self.store = None;
        self.db = None;
        let db = open_db(self.dir.path());
        self.store = Some(Store::open(&db).unwrap());
        self.db = Some(db);
    }

    /// Drops the store as a killed process would (no clean close), then reopens.
    fn crash_and_reopen(&mut self) {
        self.store.take().unwrap().simulate_crash();
        self.db = None;
        let db = open_db(self.dir.path());
        self.store = Some(Store::open(&db).unwrap());
        self.db = Some(db);
    }
}

fn t(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
}

fn write(connection: &str, target: &str, value: &str) -> QueuedWrite {
    QueuedWrite {
        connection: connection.to_owned(),
        target: target.to_owned(),
        value: value.to_owned(),
        lon_format: None,
        priority: 255,
        enqueued_at: t(0),
    }
}

fn seqs(run: &[(u64, QueuedWrite)]) -> Vec<u64> {
    run.iter().map(|(s, _)| *s).collect()
}

fn values(run: &[(u64, QueuedWrite)]) -> Vec<&str> {
    run.iter().map(|(_, w)| w.value.as_str()).collect()
}

#[test]
fn writes_come_out_in_fifo_order_per_host() {
    let f = Fixture::new();
    let s = f.store();
    for i in 0..5 {
        let mut w = write("c1", "T", &i.to_string());
        w.lon_format = (i % 2 == 0).then(|| "UCPTvalueDef".to_owned());
        w.priority = i;
        w.enqueued_at = t(u64::from(i));
        assert_eq!(s.enqueue("site-b", &w, false).unwrap(), u64::from(i) + 1);
        s.enqueue("site-c", &write("c2", "U", "x"), false).unwrap();
    }
    let run = s.peek_run("site-b", None, 10).unwrap();
    assert_eq!(seqs(&run), vec![1, 2, 3, 4, 5]);
    assert_eq!(values(&run), vec!["0", "1", "2", "3", "4"]);
    assert_eq!(run[2].1.lon_format.as_deref(), Some("UCPTvalueDef"));
    assert_eq!(run[3].1.lon_format, None);
    assert_eq!(run[3].1.priority, 3);
    assert_eq!(run[3].1.enqueued_at, t(3));
    assert_eq!(s.peek_run("site-c", None, 10).unwrap().len(), 5);
    assert_eq!(s.peek_run("site-b", None, 2).unwrap().len(), 2);
    assert_eq!(s.peek_run("site-b", None, 0).unwrap(), vec![]);
    assert_eq!(s.peek_run("nobody", None, 10).unwrap(), vec![]);
}

#[test]
fn peek_run_after_skips_to_the_next_write() {
    let f = Fixture::new();
    let s = f.store();
    for i in 0..6 {
        s.enqueue("h", &write("c", "T", &i.to_string()), false)
            .unwrap();
    }
    assert_eq!(seqs(&s.peek_run("h", Some(2), 3).unwrap()), vec![3, 4, 5]);
    assert_eq!(seqs(&s.peek_run("h", Some(0), 1).unwrap()), vec![1]);
    assert_eq!(
        seqs(&s.peek_run("h", Some(6), 10).unwrap()),
        Vec::<u64>::new()
    );
    assert_eq!(
        seqs(&s.peek_run("h", Some(u64::MAX), 10).unwrap()),
        Vec::<u64>::new()
    );
    // Entries split over several chunks are read across chunk boundaries.
    s.inner.lock().spill(&s.inner.trees().unwrap()).unwrap();
    for i in 6..9 {
        s.enqueue("h", &write("c", "T", &i.to_string()), false)
            .unwrap();
    }
    assert_eq!(
        seqs(&s.peek_run("h", Some(4), 10).unwrap()),
        vec![5, 6, 7, 8, 9]
    );
}

#[test]
fn seq_is_never_reused_after_the_queue_drains_and_the_store_reopens() {
    let mut f = Fixture::new();
    for _ in 0..3 {
        f.store()
            .enqueue("h", &write("c", "T", "v"), false)
            .unwrap();
    }
    assert_eq!(f.store().ack("h", 3).unwrap(), 3);
    assert_eq!(f.store().host_stats("h").unwrap().depth, 0);
    f.reopen();
    assert_eq!(f.store().host_stats("h").unwrap().next_seq, 4);
    assert_eq!(
        f.store()
            .enqueue("h", &write("c", "T", "v"), false)
            .unwrap(),
        4
    );
    assert_eq!(seqs(&f.store().peek_run("h", None, 10).unwrap()), vec![4]);
}

#[test]
fn seq_jumps_by_the_crash_gap_after_an_unclean_shutdown() {
    let mut f = Fixture::new();
    for _ in 0..3 {
        f.store()
            .enqueue("h", &write("c", "T", "v"), false)
            .unwrap();
    }
    f.store().flush().unwrap();
    f.crash_and_reopen();
    let s = f.store();
    // The durable queue is intact; only the numbering moves on.
    assert_eq!(seqs(&s.peek_run("h", None, 10).unwrap()), vec![1, 2, 3]);
    assert_eq!(
        s.enqueue("h", &write("c", "T", "v"), false).unwrap(),
        4 + SEQ_GAP_AFTER_CRASH
    );
    // A host first seen after the crash starts above anything a lost host could have used.
    assert_eq!(
        s.enqueue("new", &write("c", "T", "v"), false).unwrap(),
        1 + SEQ_GAP_AFTER_CRASH
    );
    assert_eq!(seqs(&s.peek_run("h", None, 10).unwrap()), vec![1, 2, 3]);
    assert_eq!(
        seqs(&s.peek_run("h", Some(3), 10).unwrap()),
        vec![4 + SEQ_GAP_AFTER_CRASH]
    );
    f.reopen();
    assert_eq!(
        f.store()
            .enqueue("h", &write("c", "T", "v"), false)
            .unwrap(),
        5 + SEQ_GAP_AFTER_CRASH
    );
}

#[test]
fn epoch_is_stable_across_reopen_and_differs_for_a_new_store() {
    let mut f = Fixture::new();
    let epoch = f.store().epoch();
    assert_ne!(epoch, 0);
    f.reopen();
    assert_eq!(f.store().epoch(), epoch);
    f.crash_and_reopen();
    assert_eq!(f.store().epoch(), epoch);
    let other = Fixture::new();
    assert_ne!(other.store().epoch(), epoch);
}

#[test]
fn coalescing_replaces_only_the_earlier_latest_write_for_the_same_target() {
    let f = Fixture::new();
    let s = f.store();
    assert_eq!(s.enqueue("h", &write("a", "T1", "a1"), true).unwrap(), 1);
    assert_eq!(s.enqueue("h", &write("b", "T2", "b1"), true).unwrap(), 2);
    assert_eq!(s.enqueue("h", &write("c", "T3", "c1"), true).unwrap(), 3);
    assert_eq!(s.enqueue("h", &write("b", "T2", "b2"), true).unwrap(), 4);
    // Seq 2 is gone: the run from the head stops at the gap, the next one starts after it.
    let run = s.peek_run("h", None, 10).unwrap();
    assert_eq!((seqs(&run), values(&run)), (vec![1], vec!["a1"]));
    let run = s.peek_run("h", Some(1), 10).unwrap();
    assert_eq!((seqs(&run), values(&run)), (vec![3, 4], vec!["c1", "b2"]));
    let stats = s.host_stats("h").unwrap();
    assert_eq!((stats.depth, stats.next_seq), (3, 5));
}

#[test]
fn coalescing_reaches_writes_already_in_sled_and_survives_reopen() {
    let mut f = Fixture::new();
    let s = f.store();
    s.enqueue("h", &write("a", "T1", "a1"), true).unwrap();
    s.enqueue("h", &write("b", "T2", "b1"), true).unwrap();
    s.flush().unwrap();
    s.enqueue("h", &write("a", "T1", "a2"), true).unwrap();
    assert_eq!(
        values(&s.peek_run("h", Some(0), 10).unwrap()),
        vec!["b1", "a2"]
    );
    f.reopen();
    let s = f.store();
    s.enqueue("h", &write("b", "T2", "b2"), true).unwrap();
    let run = s.peek_run("h", Some(0), 10).unwrap();
    assert_eq!((seqs(&run), values(&run)), (vec![3, 4], vec!["a2", "b2"]));
    assert_eq!(s.host_stats("h").unwrap().depth, 2);
}

#[test]
fn every_change_writes_are_never_coalesced_away() {
    let f = Fixture::new();
    let s = f.store();
    s.enqueue("h", &write("a", "T", "1"), false).unwrap();
    s.enqueue("h", &write("b", "T", "2"), true).unwrap();
    s.enqueue("h", &write("a", "T", "3"), false).unwrap();
    s.enqueue("h", &write("b", "T", "4"), true).unwrap();
    let run = s.peek_run("h", None, 10).unwrap();
    assert_eq!(values(&run), vec!["1"]);
    assert_eq!(
        values(&s.peek_run("h", Some(2), 10).unwrap()),
        vec!["3", "4"]
    );
    assert_eq!(s.host_stats("h").unwrap().depth, 3);
}

#[test]
fn a_latest_write_acknowledged_in_flight_is_not_replaced_later() {
    let f = Fixture::new();
    let s = f.store();
    s.enqueue("h", &write("a", "T", "1"), true).unwrap();
    assert_eq!(s.ack("h", 1).unwrap(), 1);
    // The index entry went with the ack: this write is new, and the depth counts it.
    assert_eq!(s.enqueue("h", &write("a", "T", "2"), true).unwrap(), 2);
    assert_eq!(s.host_stats("h").unwrap().depth, 1);
    assert_eq!(values(&s.peek_run("h", None, 10).unwrap()), vec!["2"]);
}

#[test]
fn ack_updates_counters_and_connections_and_is_idempotent() {
    let f = Fixture::new();
    let s = f.store();
    let before = SystemTime::now() - Duration::from_secs(1);
    s.enqueue("h", &write("c1", "T1", "1"), false).unwrap();
    s.enqueue("h", &write("c2", "T2", "2"), false).unwrap();
    s.enqueue("h", &write("c1", "T1", "3"), false).unwrap();
    s.enqueue("h", &write("c1", "T1", "4"), false).unwrap();
    assert_eq!(s.ack("h", 3).unwrap(), 3);
    let stats = s.host_stats("h").unwrap();
    assert_eq!((stats.depth, stats.delivered, stats.failed), (1, 3, 0));
    assert!(stats.last_success.unwrap() >= before);
    assert_eq!(stats.oldest_enqueued_at, Some(t(0)));
    let c1 = s.connection("c1").unwrap().unwrap();
    assert_eq!(c1.last_enqueued, Some(("4".to_owned(), t(0))));
    assert_eq!(c1.last_acked.as_ref().map(|(v, _)| v.as_str()), Some("3"));
    let c2 = s.connection("c2").unwrap().unwrap();
    assert_eq!(c2.last_acked.as_ref().map(|(v, _)| v.as_str()), Some("2"));
    assert_eq!(s.connection("nobody").unwrap(), None);

    assert_eq!(s.ack("h", 3).unwrap(), 0);
    assert_eq!(s.ack("h", 2).unwrap(), 0);
    assert_eq!(s.host_stats("h").unwrap().delivered, 3);
    assert_eq!(seqs(&s.peek_run("h", None, 10).unwrap()), vec![4]);
    // An ack beyond the last seq cannot remove writes enqueued later.
    assert_eq!(s.ack("h", 1000).unwrap(), 1);
    s.enqueue("h", &write("c1", "T1", "5"), false).unwrap();
    assert_eq!(seqs(&s.peek_run("h", None, 10).unwrap()), vec![5]);
    let names: Vec<String> = s
        .connections()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(names, vec!["c1", "c2"]);
}

#[test]
fn partly_acknowledged_chunks_survive_reopen_and_go_when_fully_acknowledged() {
    let mut f = Fixture::new();
    for i in 1..=10 {
        f.store()
            .enqueue("h", &write("c", "T", &i.to_string()), false)
            .unwrap();
    }
    assert_eq!(f.store().ack("h", 4).unwrap(), 4);
    f.reopen();
    let s = f.store();
    assert_eq!(seqs(&s.peek_run("h", None, 3).unwrap()), vec![5, 6, 7]);
    assert_eq!(s.host_stats("h").unwrap().depth, 6);
    assert_eq!(s.ack("h", 10).unwrap(), 6);
    let chunks = f.tree().scan_prefix(b"Q").count();
    assert_eq!(chunks, 0);
}

#[test]
fn dead_letter_moves_the_write_and_counts_it() {
    let mut f = Fixture::new();
    let s = f.store();
    for i in 1..=3 {
        s.enqueue("h", &write("c", &format!("T{i}"), &i.to_string()), i == 2)
            .unwrap();
    }
    s.dead_letter("h", 2, "fault 6: unknown name").unwrap();
    let stats = s.host_stats("h").unwrap();
    assert_eq!((stats.depth, stats.failed, stats.delivered), (2, 1, 0));
    assert_eq!(seqs(&s.peek_run("h", None, 10).unwrap()), vec![1]);
    assert_eq!(seqs(&s.peek_run("h", Some(1), 10).unwrap()), vec![3]);
    let dead = s.dead_letters().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].host.as_str(), dead[0].seq), ("h", 2));
    assert_eq!(dead[0].write, write("c", "T2", "2"));
    assert_eq!(dead[0].reason, "fault 6: unknown name");
    assert!(matches!(
        s.dead_letter("h", 2, "again"),
        Err(StoreError::NotQueued { seq: 2, .. })
    ));
    assert!(matches!(
        s.dead_letter("h", 99, "x"),
        Err(StoreError::NotQueued { seq: 99, .. })
    ));
    assert!(matches!(
        s.dead_letter("nobody", 1, "x"),
        Err(StoreError::NotQueued { seq: 1, .. })
    ));
    // The coalescing index no longer points at the dead write.
    assert_eq!(s.enqueue("h", &write("c", "T2", "2b"), true).unwrap(), 4);
    assert_eq!(s.host_stats("h").unwrap().depth, 3);
    f.reopen();
    assert_eq!(f.store().dead_letters().unwrap().len(), 1);
    assert_eq!(f.store().host_stats("h").unwrap().failed, 1);
}

#[test]
fn counters_are_the_same_after_reopen() {
    let mut f = Fixture::new();
    for i in 0..300 {
        f.store()
            .enqueue("a", &write("c", "T", &i.to_string()), false)
            .unwrap();
        f.store()
            .enqueue("b", &write("c", &format!("T{}", i % 7), "v"), true)
            .unwrap();
    }
    f.store().ack("a", 100).unwrap();
    f.store()
        .record_error("a", "recipient-unavailable")
        .unwrap();
    let before: Vec<HostStats> = ["a", "b"]
        .iter()
        .map(|h| f.store().host_stats(h).unwrap())
        .collect();
    assert_eq!((before[0].depth, before[1].depth), (200, 7));
    f.reopen();
    let after: Vec<HostStats> = ["a", "b"]
        .iter()
        .map(|h| f.store().host_stats(h).unwrap())
        .collect();
    assert_eq!(before, after);
    assert_eq!(
        after[0].last_error.as_ref().map(|(_, m)| m.as_str()),
        Some("recipient-unavailable")
    );
}

#[test]
fn hosts_lists_every_host_with_a_queue_counters_or_errors_sorted() {
    let f = Fixture::new();
    let s = f.store();
    s.enqueue("site-c", &write("c", "T", "v"), false).unwrap();
    s.record_error("site-a", "remote-server-timeout").unwrap();
    s.enqueue("site-b", &write("c", "T", "v"), false).unwrap();
    assert_eq!(s.hosts().unwrap(), vec!["site-a", "site-b", "site-c"]);
    let stats = s.host_stats("unknown").unwrap();
    assert_eq!(
        (stats.depth, stats.oldest_enqueued_at, stats.next_seq),
        (0, None, 1)
    );
}

#[test]
fn a_hundred_thousand_writes_drain_in_runs_of_a_hundred() {
    let f = Fixture::new();
    let s = f.store();
    const N: u64 = 100_000;
    for i in 0..N {
        let seq = s
            .enqueue("h", &write("c", "T", &i.to_string()), false)
            .unwrap();
        assert_eq!(seq, i + 1);
    }
    assert_eq!(s.host_stats("h").unwrap().depth, N);
    let mut expected = 1;
    loop {
        let run = s.peek_run("h", None, 100).unwrap();
        let Some(&(last, _)) = run.last() else { break };
        assert_eq!(run[0].0, expected);
        assert_eq!(run[0].1.value, (expected - 1).to_string());
        assert_eq!(run.len() as u64, last - expected + 1);
        assert_eq!(s.ack("h", last).unwrap(), run.len());
        expected = last + 1;
    }
    assert_eq!(expected, N + 1);
    let stats = s.host_stats("h").unwrap();
    assert_eq!((stats.depth, stats.delivered), (0, N));
    assert_eq!(f.tree().scan_prefix(b"Q").count(), 0);
}

#[test]
fn one_ack_over_more_chunks_than_a_batch_removes_them_all() {
    let f = Fixture::new();
    let s = f.store();
    for i in 0..2500 {
        s.enqueue("h", &write("c", "T", &i.to_string()), false)
            .unwrap();
        // One chunk per write.
        s.inner.lock().spill(&s.inner.trees().unwrap()).unwrap();
    }
    assert_eq!(f.tree().scan_prefix(b"Q").count(), 2500);
    assert_eq!(s.ack("h", 2400).unwrap(), 2400);
    assert_eq!(f.tree().scan_prefix(b"Q").count(), 100);
    assert_eq!(seqs(&s.peek_run("h", None, 1).unwrap()), vec![2401]);
}

#[test]
fn purge_drops_one_hosts_queue_and_keeps_numbering() {
    let f = Fixture::new();
    let s = f.store();
    for i in 0..10 {
        s.enqueue("a", &write("c", &format!("T{}", i % 3), "v"), i % 2 == 0)
            .unwrap();
        s.enqueue("b", &write("c", "T", "v"), false).unwrap();
    }
    let depth = s.host_stats("a").unwrap().depth;
    assert_eq!(s.purge("a").unwrap() as u64, depth);
    assert_eq!(s.host_stats("a").unwrap().depth, 0);
    assert_eq!(s.peek_run("a", None, 100).unwrap(), vec![]);
    assert_eq!(s.peek_run("b", None, 100).unwrap().len(), 10);
    assert_eq!(s.purge("a").unwrap(), 0);
    assert_eq!(s.purge("nobody").unwrap(), 0);
    // Numbering goes on, and coalescing starts afresh.
    assert_eq!(s.enqueue("a", &write("c", "T0", "w"), true).unwrap(), 11);
    assert_eq!(s.host_stats("a").unwrap().depth, 1);
    assert_eq!(f.tree().scan_prefix(b"L").count(), 1);
}

#[test]
fn corrupted_records_give_errors_not_panics() {
    let f = Fixture::new();
    let s = f.store();
    for i in 0..3 {
        s.enqueue("h", &write("c", "T", &i.to_string()), false)
            .unwrap();
    }
    s.flush().unwrap();
    let tree = f.tree();
    let (key, mut chunk) = tree
        .scan_prefix(b"Q")
        .next()
        .unwrap()
        .map(|(k, v)| (k, v.to_vec()))
        .unwrap();
    chunk.truncate(chunk.len() - 2);
    tree.insert(&key, chunk).unwrap();
    let err = s.peek_run("h", None, 10).unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Corrupt {
                tree: TREE_QUEUE,
                source: DecodeError::Truncated {
                    record: "queue chunk",
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "sled tree \"replication\": queue chunk of host \"h\" from seq 1 is corrupted"
    );
    assert!(matches!(s.ack("h", 3), Err(StoreError::Corrupt { .. })));
    // The operator's way out still works.
    assert_eq!(s.purge("h").unwrap(), 3);

    tree.insert(b"Hbroken", &[9u8][..]).unwrap();
    let err = s
        .enqueue("broken", &write("c", "T", "v"), false)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Corrupt {
                source: DecodeError::Version {
                    record: "host",
                    found: 9
                },
                ..
            }
        ),
        "{err:?}"
    );
    tree.insert(b"Ec1", &[1u8, 0][..]).unwrap();
    assert!(matches!(
        s.connection("c1"),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(s.connections(), Err(StoreError::Corrupt { .. })));
}

#[test]
fn applied_seq_round_trips_per_sender_and_epoch() {
    let mut f = Fixture::new();
    let s = f.store();
    assert_eq!(s.applied_seq("a@localhost", 7).unwrap(), None);
    s.set_applied_seq("a@localhost", 7, 42).unwrap();
    s.set_applied_seq("a@localhost", 8, 1).unwrap();
    s.set_applied_seq("b@localhost", 7, 5).unwrap();
    assert_eq!(s.applied_seq("a@localhost", 7).unwrap(), Some(42));
    f.store().flush().unwrap();
    f.reopen();
    let s = f.store();
    assert_eq!(s.applied_seq("a@localhost", 7).unwrap(), Some(42));
    assert_eq!(s.applied_seq("a@localhost", 8).unwrap(), Some(1));
    assert_eq!(s.applied_seq("b@localhost", 7).unwrap(), Some(5));
    assert_eq!(s.applied_seq("b@localhost", 8).unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Why: the test holds the store's state lock on purpose while the commits queue up.
#[allow(clippy::await_holding_lock)]
async fn fifty_concurrent_commits_share_flushes_and_are_durable() {
    let mut f = Fixture::new();
    let s = f.store().clone();
    // Hold the state lock so that the first flush cannot get past its spill until all 50
    // callers wait: then at most two flushes serve them all.
    let before = s.inner.commits.generations();
    let held = s.inner.lock();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move { s.commit().await }));
    }
    while s.inner.commits.waiters() < 50 {
        tokio::task::yield_now().await;
    }
    drop(held);
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let flushes = s.inner.commits.generations() - before;
    assert!(flushes <= 2, "{flushes} flushes for 50 concurrent commits");

    // Enqueue + commit from 50 tasks, then drop everything and look again.
    let mut tasks = Vec::new();
    for i in 0..50u32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let seq = s
                .enqueue(
                    "h",
                    &write(&format!("c{i}"), &format!("T{i}"), &i.to_string()),
                    false,
                )
                .unwrap();
            s.commit().await.map(|()| seq)
        }));
    }
    let mut got = Vec::new();
    for task in tasks {
        got.push(task.await.unwrap().unwrap());
    }
    got.sort_unstable();
    assert_eq!(got, (1..=50).collect::<Vec<u64>>());
    drop(s);
    f.crash_and_reopen();
    let run = f.store().peek_run("h", None, 100).unwrap();
    assert_eq!(seqs(&run), (1..=50).collect::<Vec<u64>>());
}

#[test]
fn commit_works_outside_a_runtime_thread_pool() {
    let f = Fixture::new();
    let s = f.store().clone();
    s.enqueue("h", &write("c", "T", "v"), false).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(s.commit()).unwrap();
}

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
