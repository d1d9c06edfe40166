//! Tests of the datapoint table: Write rules, priority, persistence, clock, events, observer.
//! The shared fixture and helpers live here, the tests in one child module per theme.

use std::time::{Duration, UNIX_EPOCH};

use super::*;

mod clock;
mod events;
mod lon_format;
mod persistence;
mod priority;
mod writes;

/// Opens the store, polling with a deadline: a just-dropped `Db` may hold
/// sled's file lock for a moment while its flusher thread exits.
fn open_db(path: &std::path::Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match sled::open(path) {
            Ok(db) => return db,
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("cannot open sled at {}: {e}", path.display()),
        }
    }
}

const SWITCH_IN: &str = "Net/LON/iLON App/Digital Output 1/nviClaValue_1";
const SWITCH_OUT: &str = "Net/LON/iLON App/Digital Input 1/nvoClsValue_1";
const TEMP: &str = "Net/LON/iLON App/VirtFb/nvoTemp";
const STAMP: &str = "Net/LON/iLON App/VirtFb/nviStamp";

/// 2008-04-08T18:14:53.599Z, the WebBinder example's `UCPTlastUpdate` (PR p.31) in UTC.
fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_207_678_493_599)
}

fn later(secs: u64) -> SystemTime {
    t0() + Duration::from_secs(secs)
}

fn configs() -> Vec<DatapointConfig> {
    vec![
        DatapointConfig {
            name: SWITCH_IN.to_owned(),
            dp_type: DpType::Switch,
            direction: Direction::In,
            initial: "0.0 0".to_owned(),
        },
        DatapointConfig {
            name: SWITCH_OUT.to_owned(),
            dp_type: DpType::Switch,
            direction: Direction::Out,
            initial: "0.0 0".to_owned(),
        },
        DatapointConfig {
            name: TEMP.to_owned(),
            dp_type: DpType::TempP,
            direction: Direction::InOut,
            initial: "20.00".to_owned(),
        },
        DatapointConfig {
            name: STAMP.to_owned(),
            dp_type: DpType::TimeStamp,
            direction: Direction::InOut,
            initial: "2008-04-04T12:57:41".to_owned(),
        },
    ]
}

struct Fixture {
    _dir: tempfile::TempDir,
    db: sled::Db,
    table: Table,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let table = Table::open(&db, configs(), t0()).unwrap();
    Fixture {
        _dir: dir,
        db,
        table,
    }
}

fn admin(name: &str, text: &str) -> WriteRequest {
    WriteRequest::new(name, text, UpdateSource::Admin)
}

fn soap(name: &str, text: &str) -> WriteRequest {
    WriteRequest::new(
        name,
        text,
        UpdateSource::Soap {
            from: "pidgin@localhost/x".to_owned(),
        },
    )
}

fn switch(value: f64, state: i8) -> DpValue {
    DpValue::Switch { value, state }
}

fn value_of(table: &Table, name: &str) -> DpValue {
    table.read(name).unwrap().value
}
