//! Per-host bookkeeping: dead letters, counters across reopen, the host list, and purge.

use super::*;

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
