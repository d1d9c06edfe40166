//! Publication of applied updates: events in apply order, none for rejected writes, the
//! observer before the apply, and every write published from concurrent clones.

use std::sync::{Arc, Mutex};

use tokio::sync::broadcast::error::TryRecvError;

use super::*;

// ---- events and observer ----

#[test]
fn events_are_published_in_apply_order_with_their_source() {
    let f = fixture();
    let mut rx = f.table.subscribe();
    f.table
        .write_at(admin(SWITCH_IN, "10.0 1"), later(1))
        .unwrap();
    f.table
        .write_at(
            WriteRequest::new(
                TEMP,
                "21.00",
                UpdateSource::Replication {
                    from: "00-d0-71-02-1b-1c@localhost".to_owned(),
                },
            )
            .with_priority(3),
            later(2),
        )
        .unwrap();
    f.table
        .write_at(soap(SWITCH_IN, "20.0 1"), later(3))
        .unwrap();
    let got: Vec<(String, String, u8, SystemTime, UpdateSource)> = (0..3)
        .map(|_| {
            let e = rx.try_recv().unwrap();
            (e.name, e.text, e.priority, e.at, e.source)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                SWITCH_IN.to_owned(),
                "10.0 1".to_owned(),
                255,
                later(1),
                UpdateSource::Admin
            ),
            (
                TEMP.to_owned(),
                "21.00".to_owned(),
                3,
                later(2),
                UpdateSource::Replication {
                    from: "00-d0-71-02-1b-1c@localhost".to_owned()
                }
            ),
            (
                SWITCH_IN.to_owned(),
                "20.0 1".to_owned(),
                255,
                later(3),
                UpdateSource::Soap {
                    from: "pidgin@localhost/x".to_owned()
                }
            ),
        ]
    );
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn faulted_and_priority_ignored_writes_publish_no_event() {
    let f = fixture();
    f.table
        .write(admin(SWITCH_IN, "100.0 1").with_priority(1))
        .unwrap();
    let mut rx = f.table.subscribe();
    f.table.write(admin(SWITCH_IN, "0.0 0")).unwrap();
    f.table.write(admin(SWITCH_IN, "bad")).unwrap_err();
    f.table.write(admin("Net/LON/nope", "1")).unwrap_err();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn observer_sees_each_update_before_it_is_applied() {
    let f = fixture();
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let sink = Arc::clone(&seen);
    f.table.set_observer(Box::new(move |e: &ChangeEvent| {
        sink.lock().unwrap().push((e.name.clone(), e.text.clone()));
        Ok(())
    }));
    f.table.write(admin(SWITCH_IN, "10.0 1")).unwrap();
    f.table.tick_clock(later(1)).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (SWITCH_IN.to_owned(), "10.0 1".to_owned()),
            (RTC_NAME.to_owned(), "2008-04-08T18:14:54".to_owned()),
        ]
    );
}

#[test]
fn observer_error_rejects_the_write_and_leaves_everything_unchanged() {
    let f = fixture();
    let mut rx = f.table.subscribe();
    f.table
        .set_observer(Box::new(|_: &ChangeEvent| Err("queue full".into())));
    let before = f.table.read(SWITCH_IN).unwrap();
    let fault = f
        .table
        .write_at(admin(SWITCH_IN, "100.0 1").with_priority(5), later(1))
        .unwrap_err();
    assert_eq!(
        fault,
        WriteFault {
            code: 12,
            message: "Command failed: update not recorded: queue full".to_owned(),
            name: SWITCH_IN.to_owned(),
        }
    );
    assert_eq!(f.table.read(SWITCH_IN), Some(before));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    let tree = f.db.open_tree(TREE_NAME).unwrap();
    assert_eq!(tree.get(SWITCH_IN.as_bytes()).unwrap(), None);

    f.table.clear_observer();
    assert!(
        f.table
            .write(admin(SWITCH_IN, "100.0 1"))
            .unwrap()
            .is_applied()
    );
}

// ---- concurrency ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_share_one_table_across_tasks_and_every_write_is_published() {
    let f = fixture();
    let mut rx = f.table.subscribe();
    let mut tasks = Vec::new();
    for task in 0..4_u32 {
        let table = f.table.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50_u32 {
                let text = format!("{}.00", task * 50 + i);
                table.write(admin(TEMP, &text)).unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut count = 0;
    let mut last = None;
    while let Ok(e) = rx.try_recv() {
        count += 1;
        last = Some(e.value);
    }
    assert_eq!(count, 200);
    // The last event published is the value the table holds.
    assert_eq!(last, Some(value_of(&f.table, TEMP)));
}
