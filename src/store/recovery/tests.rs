//! A failed commit (injected as on a full disk) and the store's recovery by re-opening sled;
//! a stalled commit (injected as a slow flush).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use crate::datapoints::{DatapointConfig, Direction, DpType, Table, UpdateSource, WriteRequest};
use crate::store::{QueuedWrite, SEQ_GAP_AFTER_CRASH, Store, StoreError};

const TEMP: &str = "Net/LON/iLON App/VirtFb/temp";
const HOST: &str = "site-b";

fn open_db(path: &Path) -> sled::Db {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match sled::Config::new().path(path).open() {
            Ok(db) => return db,
            Err(e) => {
                assert!(Instant::now() < deadline, "cannot open sled: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn configs() -> Vec<DatapointConfig> {
    vec![DatapointConfig {
        name: TEMP.to_owned(),
        dp_type: DpType::TempP,
        direction: Direction::InOut,
        initial: "20.00".to_owned(),
    }]
}

fn queued(value: &str) -> QueuedWrite {
    QueuedWrite {
        connection: "c".to_owned(),
        target: TEMP.to_owned(),
        value: value.to_owned(),
        lon_format: None,
        priority: 255,
        enqueued_at: SystemTime::now(),
    }
}

/// A local update as the agent makes it: table write, enqueue, then commit.
async fn update(table: &Table, store: &Store, value: &str) -> Result<u64, String> {
    table
        .write(WriteRequest::new(TEMP, value, UpdateSource::Admin))
        .map_err(|f| f.to_string())?;
    let seq = store
        .enqueue(HOST, &queued(value), false)
        .map_err(|e| e.to_string())?;
    store.commit().await.map_err(|e| e.to_string())?;
    Ok(seq)
}

fn temp(table: &Table) -> String {
    table.read(TEMP).unwrap().text()
}

/// The agent's wiring: store and table share a `Db` that only they hold.
fn site(dir: &Path, recover: bool) -> (Store, Table) {
    let db = open_db(dir);
    let store = Store::open(&db).unwrap();
    let table = Table::open(&db, configs(), SystemTime::now()).unwrap();
    drop(db);
    store.attach(Arc::new(table.clone()));
    if recover {
        let path = dir.to_owned();
        store.enable_recovery(dir, move || sled::Config::new().path(&path).open());
    }
    (store, table)
}

async fn wait_writable(store: &Store) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !store.is_writable() {
        assert!(
            Instant::now() < deadline,
            "not writable: {:?}",
            store.health()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_stops_writes_rolls_back_and_recovers_by_re_opening() {
    let dir = tempfile::tempdir().unwrap();
    let (store, table) = site(dir.path(), true);
    update(&table, &store, "21").await.unwrap();
    assert!(store.health().writable);

    store.inner.fail_next_flush.store(true, Ordering::SeqCst);
    let refused = update(&table, &store, "22").await;
    assert!(refused.is_err(), "a failed commit must be an error");
    // Not writable, says why and since when; the refused value is not shown.
    let h = store.health();
    assert!(!h.writable);
    let error = h.error.clone().unwrap_or_default();
    assert!(error.contains("No space left on device"), "{h:?}");
    assert!(h.since.is_some(), "{h:?}");
    assert_eq!(temp(&table), "21.00");
    // Everything is refused until it is re-opened.
    let w = table.write(WriteRequest::new(TEMP, "30", UpdateSource::Admin));
    assert_eq!(w.map_err(|f| f.code), Err(12));
    assert_eq!(temp(&table), "21.00");
    assert!(matches!(
        store.enqueue(HOST, &queued("30"), false),
        Err(StoreError::Unavailable { .. })
    ));
    assert!(store.commit().await.is_err());

    // It re-opens by itself, and numbers new writes past the crash gap.
    wait_writable(&store).await;
    let h = store.health();
    assert_eq!((h.recoveries, h.error), (1, None));
    let seq = update(&table, &store, "23").await.unwrap();
    assert!(seq > SEQ_GAP_AFTER_CRASH, "seq {seq} reuses a number");
    assert_eq!(temp(&table), "23.00");

    // What was acknowledged after the recovery is durable.
    drop((store, table));
    let (store, table) = site(dir.path(), false);
    assert_eq!(temp(&table), "23.00");
    // The queue holds 21 and 23, never the refused 22 (it is not replicated).
    let head = store.peek_run(HOST, None, 10).unwrap();
    assert_eq!(head.len(), 1, "{head:?}");
    assert_eq!(head[0].1.value, "21");
    let next = store.peek_run(HOST, Some(head[0].0), 10).unwrap();
    let next: Vec<_> = next.iter().map(|(s, w)| (*s, w.value.as_str())).collect();
    assert_eq!(next, [(seq, "23")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_way_to_re_open_the_store_stays_failed_until_given_one() {
    let dir = tempfile::tempdir().unwrap();
    let (store, table) = site(dir.path(), false);
    store.inner.fail_next_flush.store(true, Ordering::SeqCst);
    assert!(update(&table, &store, "22").await.is_err());
    assert!(!store.is_writable());
    assert_eq!(temp(&table), "20.00", "the refused value is undone");
    let path = dir.path().to_owned();
    store.enable_recovery(dir.path(), move || sled::Config::new().path(&path).open());
    wait_writable(&store).await;
    update(&table, &store, "24").await.unwrap();
    assert_eq!(temp(&table), "24.00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_commit_is_shown_while_it_stalls_and_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _table) = site(dir.path(), false);
    store.set_commit_stall_bound(Duration::from_millis(50));
    store.inner.flush_delay_ms.store(1500, Ordering::SeqCst);
    let commit = tokio::spawn({
        let store = store.clone();
        async move { store.commit().await }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let h = store.health();
        // The stalled time is read at once; the count follows from the watchdog's task.
        if h.commit_stalled_ms.is_some() && h.commit_stalls_total > 0 {
            assert_eq!(h.commit_stalls_total, 1, "{h:?}");
            assert!(h.writable, "a stall is not a failure: {h:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no stall shown: {h:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    commit.await.unwrap().unwrap();
    let h = store.health();
    assert_eq!((h.commit_stalled_ms, h.commit_stalls_total), (None, 1));
    assert_eq!(store.commit_stalls_total(), 1);
    // A quick commit is no stall.
    store.inner.flush_delay_ms.store(0, Ordering::SeqCst);
    store.set_commit_stall_bound(Duration::from_secs(5));
    store.commit().await.unwrap();
    assert_eq!(store.commit_stalls_total(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_insert_fails_the_store_at_once_without_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (store, table) = site(dir.path(), true);
    // A value written but not yet committed, then an insert sled refuses (as when its
    // background flush hit a full disk): the store fails before any commit.
    table
        .write(WriteRequest::new(TEMP, "22", UpdateSource::Admin))
        .unwrap();
    table.fail_next_persist();
    let w = table.write(WriteRequest::new(TEMP, "23", UpdateSource::Admin));
    assert_eq!(w.map_err(|f| f.code), Err(12));
    let h = store.health();
    assert!(!h.writable, "{h:?}");
    assert!(h.error.unwrap_or_default().contains("datapoints"));
    // The undo runs on another thread: 22 was never committed, so it goes.
    let deadline = Instant::now() + Duration::from_secs(10);
    while temp(&table) != "20.00" {
        assert!(Instant::now() < deadline, "22 is still shown");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_writable(&store).await;
    update(&table, &store, "24").await.unwrap();
    assert_eq!(temp(&table), "24.00");
}
