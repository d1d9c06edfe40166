//! The table as a [`StoreUser`]: flush events in, rolled-back points out (no store involved:
//! the events are made by hand, as the store's flusher makes them).

use std::time::SystemTime;

use super::super::{
    DatapointConfig, Direction, TREE_NAME, Table, TableError, UpdateSource, WriteRequest,
};
use crate::datapoints::clock::RTC_NAME;
use crate::datapoints::record::Record;
use crate::datapoints::snvt::DpType;
use crate::store::StoreUser;

const TEMP: &str = "Net/LON/iLON App/VirtFb/temp";
const SWITCH: &str = "Net/LON/iLON App/Digital Output 1/nviClaValue_1";

fn table() -> (tempfile::TempDir, sled::Db, Table) {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().path(dir.path()).open().unwrap();
    let configs = vec![
        DatapointConfig {
            name: TEMP.to_owned(),
            dp_type: DpType::TempP,
            direction: Direction::InOut,
            initial: "20.00".to_owned(),
        },
        DatapointConfig {
            name: SWITCH.to_owned(),
            dp_type: DpType::Switch,
            direction: Direction::In,
            initial: "0.0 0".to_owned(),
        },
    ];
    let table = Table::open(&db, configs, SystemTime::now()).unwrap();
    (dir, db, table)
}

fn write(table: &Table, name: &str, value: &str, priority: u8) {
    let req = WriteRequest::new(name, value, UpdateSource::Admin).with_priority(priority);
    assert!(table.write(req).unwrap().is_applied());
}

fn shown(table: &Table, name: &str) -> (String, u8) {
    let dp = table.read(name).unwrap();
    (dp.text(), dp.priority)
}

#[test]
fn a_failure_undoes_exactly_what_no_successful_flush_covered() {
    let (_dir, _db, t) = table();
    write(&t, TEMP, "21", 200);
    t.flush_started(1);
    t.flush_succeeded(1);
    // 22 is covered by flush 2; 23 comes after it started, so only 22 is durable.
    write(&t, TEMP, "22", 100);
    t.flush_started(2);
    write(&t, TEMP, "23", 100);
    t.flush_succeeded(2);
    // Never flushed at all.
    write(&t, SWITCH, "100.0 1", 7);
    t.flush_started(3);
    t.store_failed();
    assert_eq!(shown(&t, TEMP), ("22.00".to_owned(), 100));
    assert_eq!(shown(&t, SWITCH), ("0.0 0".to_owned(), 255));
}

#[test]
fn the_end_of_another_flush_covers_nothing() {
    let (_dir, _db, t) = table();
    write(&t, TEMP, "21", 255);
    t.flush_started(5);
    t.flush_succeeded(4);
    t.store_failed();
    assert_eq!(shown(&t, TEMP).0, "20.00");
}

#[test]
fn while_failed_writes_are_refused_and_the_clock_is_not_tracked() {
    let (_dir, _db, t) = table();
    t.tick_clock(SystemTime::now()).unwrap();
    let clock = t.read(RTC_NAME).unwrap().value;
    t.store_failed();
    assert_eq!(t.read(RTC_NAME).unwrap().value, clock);
    let w = t.write(WriteRequest::new(TEMP, "25", UpdateSource::Admin));
    assert_eq!(w.map_err(|f| f.code), Err(12));
    assert_eq!(shown(&t, TEMP).0, "20.00");
    assert!(t.flush().is_err());
}

#[test]
fn a_re_open_reloads_from_disk_and_writes_work_again() {
    let (dir, db, t) = table();
    write(&t, TEMP, "21", 255);
    db.flush().unwrap();
    t.store_failed();
    drop(db);
    let db = sled::Config::new().path(dir.path()).open().unwrap();
    t.store_reopened(&db).unwrap();
    assert_eq!(shown(&t, TEMP).0, "21.00");
    write(&t, TEMP, "26", 255);
    db.flush().unwrap();
    let bytes = db.open_tree(TREE_NAME).unwrap().get(TEMP).unwrap().unwrap();
    assert_eq!(Record::decode(&bytes).unwrap().text, "26.00");
}

#[test]
fn a_tree_that_cannot_be_opened_again_names_the_tree_and_the_sled_error() {
    let source = sled::Error::Unsupported("no room".to_owned());
    let expected = format!("cannot open sled tree {TREE_NAME:?}: {source}");
    let e: crate::store::ReloadError = Box::new(TableError::ReopenTree {
        tree: TREE_NAME,
        source,
    });
    assert_eq!(e.to_string(), expected);
}
