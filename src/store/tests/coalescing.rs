//! Coalescing of latest-value writes: what a new write replaces and what it never does.

use super::*;

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
