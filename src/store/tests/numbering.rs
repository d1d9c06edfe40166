//! Sequence numbers and epochs: a host's seq is never reused, jumps after a crash, the
//! epoch is stable, and a receiver's applied seq is kept per sender and epoch.

use super::*;

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
