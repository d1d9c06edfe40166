//! The queue of one host: FIFO runs, runs after a seq, acks across chunks and reopens, and
//! draining at volume.

use super::*;

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
