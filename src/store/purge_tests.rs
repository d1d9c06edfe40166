//! Stuck marks and selective purges against a real sled database.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::super::{Store, TREE_QUEUE};
use super::*;
use crate::store::QueuedWrite;

fn write(connection: &str, target: &str, value: &str) -> QueuedWrite {
    QueuedWrite {
        connection: connection.to_owned(),
        target: target.to_owned(),
        value: value.to_owned(),
        lon_format: None,
        priority: 255,
        enqueued_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    }
}

fn fixture() -> (tempfile::TempDir, sled::Db, Store) {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().path(dir.path()).open().unwrap();
    let store = Store::open(&db).unwrap();
    (dir, db, store)
}

fn seqs(s: &Store, host: &str) -> Vec<u64> {
    s.peek_run(host, None, 1000)
        .unwrap()
        .iter()
        .map(|(q, _)| *q)
        .collect()
}

/// All queued seqs of `host`, across gaps.
fn all_seqs(s: &Store, host: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let run = s.peek_run(host, after, 1000).unwrap();
        let Some((last, _)) = run.last() else {
            return out;
        };
        after = Some(*last);
        out.extend(run.iter().map(|(q, _)| *q));
    }
}

#[test]
fn a_stuck_mark_persists_and_reads_back() {
    let (dir, db, s) = fixture();
    s.enqueue("b", &write("c", "T", "v"), false).unwrap();
    assert_eq!(s.stuck("b").unwrap(), None);
    let mark = Stuck {
        seq: 1,
        kind: StuckKind::TooLarge,
        reason: "write seq 1 is too large".into(),
        since: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
    };
    s.mark_stuck("b", &mark).unwrap();
    assert_eq!(s.host_stats("b").unwrap().stuck.as_ref(), Some(&mark));
    s.flush().unwrap();
    drop(s);
    drop(db);
    let db = crate::store::tests::open_db(dir.path());
    let s = Store::open(&db).unwrap();
    assert_eq!(s.stuck("b").unwrap(), Some(mark));
    s.clear_stuck("b").unwrap();
    assert_eq!(s.stuck("b").unwrap(), None);
    assert_eq!(s.host_stats("b").unwrap().stuck, None);
}

#[test]
fn a_corrupted_stuck_mark_is_an_error_not_a_panic() {
    let (_dir, db, s) = fixture();
    let tree = db.open_tree(TREE_QUEUE).unwrap();
    tree.insert(b"Sb", &[7u8, 1, 2][..]).unwrap();
    let err = s.stuck("b").unwrap_err();
    assert!(
        err.to_string().contains("stuck mark of host \"b\""),
        "{err}"
    );
    tree.insert(b"Sb", &[0u8, 1, 2][..]).unwrap();
    assert!(matches!(s.stuck("b"), Err(StoreError::Corrupt { .. })));
}

#[test]
fn preview_and_purge_of_one_connection_keep_the_others_in_order() {
    let (_dir, _db, s) = fixture();
    for i in 0..100 {
        let c = if i % 3 == 0 { "x" } else { "y" };
        s.enqueue("b", &write(c, "T", &i.to_string()), false)
            .unwrap();
    }
    s.enqueue("other", &write("x", "T", "v"), false).unwrap();
    let preview = s.purge_preview("b", Some("x")).unwrap();
    assert_eq!(preview.count, 34);
    assert_eq!(preview.seq_range, Some((1, 100)));
    assert_eq!(preview.connections.len(), 1);
    assert_eq!(preview.connections[0].connection, "x");
    let done = s.purge_writes("b", Some("x"), None).unwrap();
    assert_eq!(done, preview);
    let left = all_seqs(&s, "b");
    assert_eq!(left.len(), 66);
    assert!(left.iter().all(|q| (q - 1) % 3 != 0), "{left:?}");
    assert!(left.windows(2).all(|w| w[0] < w[1]));
    let st = s.host_stats("b").unwrap();
    assert_eq!(st.depth, 66);
    assert_eq!(st.purged, 34);
    // Other hosts untouched; nothing left to purge for x.
    assert_eq!(seqs(&s, "other"), vec![1]);
    assert_eq!(s.purge_preview("b", Some("x")).unwrap().count, 0);
    // Acknowledging the rest still works across the gaps.
    assert_eq!(s.ack("b", 100).unwrap(), 66);
    assert_eq!(s.host_stats("b").unwrap().depth, 0);
}

#[test]
fn purge_up_to_a_seq_spares_later_writes_and_unsticks_the_head() {
    let (_dir, _db, s) = fixture();
    for i in 0..10 {
        s.enqueue("b", &write("c", "T", &i.to_string()), false)
            .unwrap();
    }
    s.ack("b", 2).unwrap();
    s.mark_stuck(
        "b",
        &Stuck {
            seq: 3,
            kind: StuckKind::SessionLosses,
            reason: "r".into(),
            since: SystemTime::now(),
        },
    )
    .unwrap();
    let shown = s.purge_preview("b", None).unwrap();
    assert_eq!((shown.count, shown.seq_range), (8, Some((3, 10))));
    // Written after the operator looked: not purged.
    s.enqueue("b", &write("c", "T", "late"), false).unwrap();
    let done = s.purge_writes("b", None, Some(10)).unwrap();
    assert_eq!(done, shown);
    assert_eq!(seqs(&s, "b"), vec![11]);
    assert_eq!(s.stuck("b").unwrap(), None);
    let st = s.host_stats("b").unwrap();
    assert_eq!((st.depth, st.purged, st.delivered), (1, 8, 2));
    // A mark about a write that was not purged stays.
    s.mark_stuck(
        "b",
        &Stuck {
            seq: 11,
            kind: StuckKind::TooLarge,
            reason: "r".into(),
            since: SystemTime::now(),
        },
    )
    .unwrap();
    s.enqueue("b", &write("d", "U", "v"), false).unwrap();
    s.purge_writes("b", Some("d"), None).unwrap();
    assert!(s.stuck("b").unwrap().is_some());
}

#[test]
fn purging_a_coalesced_write_lets_the_next_latest_write_queue_normally() {
    let (_dir, _db, s) = fixture();
    s.enqueue("b", &write("l", "T", "1"), true).unwrap();
    s.enqueue("b", &write("e", "U", "1"), false).unwrap();
    s.enqueue("b", &write("l", "T", "2"), true).unwrap();
    let done = s.purge_writes("b", Some("l"), None).unwrap();
    assert_eq!(done.count, 1);
    assert_eq!(s.host_stats("b").unwrap().depth, 1);
    let seq = s.enqueue("b", &write("l", "T", "3"), true).unwrap();
    assert_eq!(all_seqs(&s, "b"), vec![2, seq]);
    assert_eq!(s.host_stats("b").unwrap().depth, 2);
}

#[test]
fn a_large_purge_runs_in_bounded_batches() {
    let (_dir, _db, s) = fixture();
    let n = (CHUNKS_PER_BATCH * 32 * 3 + 17) as u64;
    for i in 0..n {
        let c = if i % 2 == 0 { "even" } else { "odd" };
        s.enqueue("b", &write(c, "T", "v"), false).unwrap();
    }
    let done = s.purge_writes("b", None, None).unwrap();
    assert_eq!(done.count, n);
    assert_eq!(done.connections.len(), 2);
    assert_eq!(done.connections[0].connection, "even");
    assert_eq!(done.connections[0].first_seq, 1);
    assert_eq!(done.seq_range, Some((1, n)));
    assert_eq!(s.host_stats("b").unwrap().depth, 0);
    assert!(seqs(&s, "b").is_empty());
    assert_eq!(s.purge_writes("nobody", None, None).unwrap().count, 0);
}
