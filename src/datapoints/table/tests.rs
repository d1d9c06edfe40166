//! Tests of the datapoint table: Write rules, priority, persistence, clock, events, observer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use tokio::sync::broadcast::error::TryRecvError;

use super::*;

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

// ---- round trip, faults ----

#[test]
fn written_value_is_read_back_with_priority_and_time() {
    let f = fixture();
    let outcome = f
        .table
        .write_at(soap(SWITCH_IN, "100.0 1").with_priority(200), later(1))
        .unwrap();
    let expected = Datapoint {
        name: SWITCH_IN.to_owned(),
        dp_type: DpType::Switch,
        direction: Direction::In,
        value: switch(100.0, 1),
        priority: 200,
        point_status: PointStatus::NoCondition,
        last_update: later(1),
        presets: DpType::Switch.default_presets(),
    };
    assert_eq!(outcome, WriteOutcome::Applied(expected.clone()));
    assert_eq!(f.table.read(SWITCH_IN), Some(expected.clone()));
    assert_eq!(expected.text(), "100.0 1");
    assert_eq!(expected.preset_name(), Some("ON"));
}

#[test]
fn write_canonicalises_the_value_text() {
    let f = fixture();
    f.table.write_at(admin(TEMP, " 21.5 "), later(1)).unwrap();
    let dp = f.table.read(TEMP).unwrap();
    assert_eq!(dp.value, DpValue::Number(21.5));
    assert_eq!(dp.text(), "21.50");
}

#[test]
fn write_to_unknown_name_fails_with_fault_6() {
    let f = fixture();
    let fault = f.table.write(admin("Net/LON/nope", "1")).unwrap_err();
    assert_eq!(
        fault,
        WriteFault {
            code: 6,
            message: "Instance doesn't exist".to_owned(),
            name: "Net/LON/nope".to_owned(),
        }
    );
}

#[test]
fn write_of_a_value_that_does_not_parse_fails_with_fault_11_and_keeps_the_value() {
    let f = fixture();
    let fault = f.table.write(admin(TEMP, "hot")).unwrap_err();
    assert_eq!(
        fault,
        WriteFault {
            code: 11,
            message: "Value cannot be formatted: \"hot\" is not a valid SNVT_temp_p value: \
                      expected a number between -273.17 and 327.66"
                .to_owned(),
            name: TEMP.to_owned(),
        }
    );
    assert_eq!(value_of(&f.table, TEMP), DpValue::Number(20.0));
}

#[test]
fn out_of_range_value_fails_with_fault_11() {
    let f = fixture();
    let fault = f.table.write(admin(SWITCH_IN, "100.5 1")).unwrap_err();
    assert_eq!(fault.code, WriteFault::FORMAT);
    assert_eq!(value_of(&f.table, SWITCH_IN), switch(0.0, 0));
}

// ---- LonFormat variants ----

#[test]
fn presets_on_and_off_write_the_switch_values() {
    let f = fixture();
    let on = admin(SWITCH_IN, "ON").with_lon_format("UCPTvalueDef");
    let outcome = f.table.write_at(on, later(1)).unwrap();
    assert_eq!(outcome.datapoint().value, switch(100.0, 1));
    assert_eq!(outcome.datapoint().preset_name(), Some("ON"));
    let off = admin(SWITCH_IN, "OFF").with_lon_format("UCPTvalueDef");
    let outcome = f.table.write_at(off, later(2)).unwrap();
    assert_eq!(outcome.datapoint().value, switch(0.0, 0));
    assert_eq!(outcome.datapoint().preset_name(), Some("OFF"));
}

#[test]
fn unknown_preset_fails_with_fault_11_naming_the_presets() {
    let f = fixture();
    let req = admin(SWITCH_IN, "DIM").with_lon_format("UCPTvalueDef");
    assert_eq!(
        f.table.write(req).unwrap_err(),
        WriteFault {
            code: 11,
            message: "Value cannot be formatted: no preset \"DIM\" for SNVT_switch \
                      (presets: OFF, ON)"
                .to_owned(),
            name: SWITCH_IN.to_owned(),
        }
    );
    let req = admin(STAMP, "NOW").with_lon_format("UCPTvalueDef");
    assert_eq!(
        f.table.write(req).unwrap_err().message,
        "Value cannot be formatted: no preset \"NOW\" for SNVT_time_stamp (presets: none)"
    );
}

#[test]
fn full_and_short_format_descriptions_of_the_own_type_are_accepted() {
    let f = fixture();
    let req = admin(SWITCH_IN, "50.0 1").with_lon_format("#0000000000000000[0].SNVT_switch");
    f.table.write(req).unwrap();
    assert_eq!(value_of(&f.table, SWITCH_IN), switch(50.0, 1));
    let req = admin(SWITCH_IN, "25.5 1").with_lon_format("SNVT_switch");
    f.table.write(req).unwrap();
    assert_eq!(value_of(&f.table, SWITCH_IN), switch(25.5, 1));
}

#[test]
fn lon_format_of_another_type_fails_with_fault_11() {
    let f = fixture();
    let req = admin(TEMP, "68.0").with_lon_format("#0000000000000000[0].SNVT_temp_f#US");
    assert_eq!(
        f.table.write(req).unwrap_err(),
        WriteFault {
            code: 11,
            message: "Value cannot be formatted: LonFormat \
                      \"#0000000000000000[0].SNVT_temp_f#US\" does not match the point's type \
                      SNVT_temp_p"
                .to_owned(),
            name: TEMP.to_owned(),
        }
    );
}

#[test]
fn raw_hex_is_decoded_with_the_point_type() {
    let f = fixture();
    let req = admin(SWITCH_IN, "C801").with_lon_format("RAW_HEX");
    f.table.write(req).unwrap();
    assert_eq!(value_of(&f.table, SWITCH_IN), switch(100.0, 1));
    let bad = admin(SWITCH_IN, "C8").with_lon_format("RAW_HEX");
    assert_eq!(f.table.write(bad).unwrap_err().code, WriteFault::FORMAT);
}

#[test]
fn field_formats_replace_one_structure_field() {
    let f = fixture();
    f.table.write(admin(SWITCH_IN, "40.0 1")).unwrap();
    let req = admin(SWITCH_IN, "75.5").with_lon_format("#0000000000000000[0].SNVT_switch.value");
    f.table.write(req).unwrap();
    assert_eq!(value_of(&f.table, SWITCH_IN), switch(75.5, 1));
    let req = admin(SWITCH_IN, "0").with_lon_format("SNVT_switch.state");
    f.table.write(req).unwrap();
    assert_eq!(value_of(&f.table, SWITCH_IN), switch(75.5, 0));
    let req = admin(STAMP, "2010").with_lon_format("SNVT_time_stamp.year");
    f.table.write(req).unwrap();
    assert_eq!(f.table.read(STAMP).unwrap().text(), "2010-04-04T12:57:41");
}

#[test]
fn unknown_field_fails_with_fault_16_and_bad_field_value_with_fault_11() {
    let f = fixture();
    let req = admin(SWITCH_IN, "1").with_lon_format("SNVT_switch.level");
    assert_eq!(
        f.table.write(req).unwrap_err(),
        WriteFault {
            code: 16,
            message: "Field name not found: SNVT_switch has no field \"level\"".to_owned(),
            name: SWITCH_IN.to_owned(),
        }
    );
    let req = admin(SWITCH_IN, "2").with_lon_format("SNVT_switch.state");
    assert_eq!(f.table.write(req).unwrap_err().code, WriteFault::FORMAT);
    let req = admin(STAMP, "1T1").with_lon_format("SNVT_time_stamp.month");
    assert_eq!(f.table.write(req).unwrap_err().code, WriteFault::FORMAT);
    assert_eq!(value_of(&f.table, SWITCH_IN), switch(0.0, 0));
}

// ---- priority ----

#[test]
fn lower_priority_number_wins_and_higher_number_is_then_ignored() {
    let f = fixture();
    f.table
        .write_at(admin(SWITCH_IN, "100.0 1").with_priority(100), later(1))
        .unwrap();
    let outcome = f
        .table
        .write_at(soap(SWITCH_IN, "0.0 0").with_priority(200), later(2))
        .unwrap();
    let current = f.table.read(SWITCH_IN).unwrap();
    assert_eq!(current.value, switch(100.0, 1));
    assert_eq!(current.priority, 100);
    assert_eq!(current.last_update, later(1));
    assert_eq!(
        outcome,
        WriteOutcome::IgnoredPriority {
            current,
            requested: 200
        }
    );
    assert!(!outcome.is_applied());
}

#[test]
fn write_without_priority_uses_255_and_is_ignored_under_a_held_priority() {
    let f = fixture();
    f.table
        .write(admin(SWITCH_IN, "100.0 1").with_priority(254))
        .unwrap();
    let outcome = f.table.write(admin(SWITCH_IN, "0.0 0")).unwrap();
    assert_eq!(
        outcome,
        WriteOutcome::IgnoredPriority {
            current: f.table.read(SWITCH_IN).unwrap(),
            requested: 255
        }
    );
}

#[test]
fn equal_and_lower_priority_numbers_apply() {
    let f = fixture();
    let w = |text: &str, p: u8| f.table.write(admin(SWITCH_IN, text).with_priority(p));
    assert!(w("10.0 1", 100).unwrap().is_applied());
    assert!(w("20.0 1", 100).unwrap().is_applied());
    assert!(w("30.0 1", 0).unwrap().is_applied());
    let dp = f.table.read(SWITCH_IN).unwrap();
    assert_eq!((dp.value, dp.priority), (switch(30.0, 1), 0));
}

#[test]
fn reset_priority_restores_255_so_default_writes_apply_again() {
    let f = fixture();
    f.table
        .write(admin(SWITCH_IN, "100.0 1").with_priority(100))
        .unwrap();
    let dp = f.table.reset_priority(SWITCH_IN, 50).unwrap();
    assert_eq!(dp.priority, 255);
    assert_eq!(dp.value, switch(100.0, 1));
    assert!(
        f.table
            .write(admin(SWITCH_IN, "0.0 0"))
            .unwrap()
            .is_applied()
    );
    assert_eq!(value_of(&f.table, SWITCH_IN), switch(0.0, 0));
}

#[test]
fn reset_priority_with_a_lower_priority_fails_with_fault_12() {
    let f = fixture();
    f.table
        .write(admin(SWITCH_IN, "100.0 1").with_priority(100))
        .unwrap();
    assert_eq!(
        f.table.reset_priority(SWITCH_IN, 235).unwrap_err(),
        WriteFault {
            code: 12,
            message: "Command failed: priority 235 is lower than the current priority 100"
                .to_owned(),
            name: SWITCH_IN.to_owned(),
        }
    );
    assert_eq!(f.table.read(SWITCH_IN).unwrap().priority, 100);
    assert_eq!(
        f.table.reset_priority("Net/LON/nope", 0).unwrap_err().code,
        WriteFault::NOT_FOUND
    );
}

// ---- persistence ----

#[test]
fn written_values_persist_across_reopen_and_win_over_the_initial_value() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open_db(dir.path());
        let table = Table::open(&db, configs(), t0()).unwrap();
        table
            .write_at(admin(SWITCH_IN, "100.0 1").with_priority(7), later(1))
            .unwrap();
        table
            .write_at(admin(SWITCH_IN, "50.0 1").with_priority(7), later(2))
            .unwrap();
        table.write_at(admin(TEMP, "22.25"), later(3)).unwrap();
        table.flush().unwrap();
    }
    let db = open_db(dir.path());
    let table = Table::open(&db, configs(), later(100)).unwrap();
    let dp = table.read(SWITCH_IN).unwrap();
    assert_eq!(dp.value, switch(50.0, 1));
    assert_eq!(dp.last_update, later(2));
    // A restart is a power-up: the priority starts again at 255 (PR p.56).
    assert_eq!(dp.priority, 255);
    assert_eq!(value_of(&table, TEMP), DpValue::Number(22.25));
    let untouched = table.read(SWITCH_OUT).unwrap();
    assert_eq!(untouched.value, switch(0.0, 0));
    assert_eq!(untouched.last_update, later(100));
}

#[test]
fn write_inserts_the_documented_record_without_flushing() {
    let f = fixture();
    f.table
        .write_at(admin(SWITCH_IN, "100.0 1").with_priority(9), later(1))
        .unwrap();
    let tree = f.db.open_tree(TREE_NAME).unwrap();
    let stored = tree.get(SWITCH_IN.as_bytes()).unwrap().unwrap();
    assert_eq!(&stored[..], b"1\tSNVT_switch\t9\t1207678494599\t100.0 1");
}

#[test]
fn persisted_value_of_a_point_no_longer_configured_is_ignored_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let gone = "Net/LON/iLON App/VirtFb/nvoGone";
    {
        let db = open_db(dir.path());
        let mut cfg = configs();
        cfg.push(DatapointConfig {
            name: gone.to_owned(),
            dp_type: DpType::Switch,
            direction: Direction::Out,
            initial: "0.0 0".to_owned(),
        });
        let table = Table::open(&db, cfg, t0()).unwrap();
        table.write_at(admin(gone, "100.0 1"), later(1)).unwrap();
        table.flush().unwrap();
    }
    let db = open_db(dir.path());
    let table = Table::open(&db, configs(), later(5)).unwrap();
    assert_eq!(table.read(gone), None);
    assert!(!table.names().contains(&gone.to_owned()));
    let tree = db.open_tree(TREE_NAME).unwrap();
    assert_eq!(
        tree.get(gone.as_bytes()).unwrap().as_deref(),
        Some(&b"1\tSNVT_switch\t255\t1207678494599\t100.0 1"[..])
    );
}

#[test]
fn persisted_value_of_another_type_or_undecodable_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let tree = db.open_tree(TREE_NAME).unwrap();
    tree.insert(TEMP.as_bytes(), &b"1\tSNVT_temp\t255\t0\t21.0"[..])
        .unwrap();
    tree.insert(SWITCH_IN.as_bytes(), &b"garbage"[..]).unwrap();
    tree.insert(
        SWITCH_OUT.as_bytes(),
        &b"1\tSNVT_switch\t255\t0\t300.0 1"[..],
    )
    .unwrap();
    let table = Table::open(&db, configs(), t0()).unwrap();
    assert_eq!(value_of(&table, TEMP), DpValue::Number(20.0));
    assert_eq!(value_of(&table, SWITCH_IN), switch(0.0, 0));
    assert_eq!(value_of(&table, SWITCH_OUT), switch(0.0, 0));
}

// ---- open ----

#[test]
fn open_rejects_duplicate_names_bad_initial_values_and_a_mistyped_clock() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let mut dup = configs();
    dup.push(configs().remove(0));
    let e = Table::open(&db, dup, t0()).unwrap_err();
    assert!(
        matches!(&e, TableError::Duplicate { name } if name == SWITCH_IN),
        "{e:?}"
    );

    let mut bad = configs();
    bad[2].initial = "warm".to_owned();
    let e = Table::open(&db, bad, t0()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("initial value of datapoint {TEMP:?} is invalid")
    );
    assert_eq!(
        std::error::Error::source(&e).map(ToString::to_string),
        Some(
            "\"warm\" is not a valid SNVT_temp_p value: expected a number between -273.17 \
             and 327.66"
                .to_owned()
        )
    );

    let mut clock = configs();
    clock.push(DatapointConfig {
        name: RTC_NAME.to_owned(),
        dp_type: DpType::Switch,
        direction: Direction::Out,
        initial: "0.0 0".to_owned(),
    });
    let e = Table::open(&db, clock, t0()).unwrap_err();
    assert!(
        matches!(&e, TableError::ClockType { name, found } if name == RTC_NAME && found == "SNVT_switch"),
        "{e:?}"
    );
}

#[test]
fn list_and_names_are_sorted_and_include_the_clock() {
    let f = fixture();
    let names = f.table.names();
    assert_eq!(
        names,
        vec![
            SWITCH_OUT.to_owned(),
            SWITCH_IN.to_owned(),
            RTC_NAME.to_owned(),
            STAMP.to_owned(),
            TEMP.to_owned(),
        ]
    );
    let listed: Vec<String> = f.table.list().into_iter().map(|dp| dp.name).collect();
    assert_eq!(listed, names);
}

// ---- clock ----

#[test]
fn clock_point_exists_without_configuration_and_starts_at_open_time() {
    let f = fixture();
    let rtc = f.table.read(RTC_NAME).unwrap();
    assert_eq!(rtc.dp_type, DpType::TimeStamp);
    assert_eq!(rtc.direction, Direction::Out);
    assert_eq!(rtc.text(), "2008-04-08T18:14:53");
    assert_eq!(rtc.priority, 255);
}

#[test]
fn tick_clock_updates_the_clock_point_and_publishes_a_clock_event() {
    let f = fixture();
    let mut rx = f.table.subscribe();
    let outcome = f.table.tick_clock(later(7)).unwrap();
    assert!(outcome.is_applied());
    let rtc = f.table.read(RTC_NAME).unwrap();
    assert_eq!(rtc.text(), "2008-04-08T18:15:00");
    assert_eq!(rtc.priority, 0);
    assert_eq!(rtc.last_update, later(7));
    assert_eq!(
        rx.try_recv().unwrap(),
        ChangeEvent {
            name: RTC_NAME.to_owned(),
            value: rtc.value.clone(),
            text: "2008-04-08T18:15:00".to_owned(),
            priority: 0,
            point_status: PointStatus::NoCondition,
            at: later(7),
            source: UpdateSource::Clock,
        }
    );
}

#[test]
fn tick_clock_applies_over_any_held_priority() {
    let f = fixture();
    f.table
        .write(admin(RTC_NAME, "2000-01-01T00:00:00").with_priority(0))
        .unwrap();
    assert!(f.table.tick_clock(later(1)).unwrap().is_applied());
    assert_eq!(
        f.table.read(RTC_NAME).unwrap().text(),
        "2008-04-08T18:14:54"
    );
}

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

// ---- direction ----

#[test]
fn direction_does_not_block_writes() {
    let f = fixture();
    for name in [SWITCH_IN, SWITCH_OUT] {
        let outcome = f.table.write(soap(name, "100.0 1")).unwrap();
        assert!(outcome.is_applied(), "{name}");
        assert_eq!(value_of(&f.table, name), switch(100.0, 1));
    }
    assert_eq!(f.table.read(SWITCH_OUT).unwrap().direction, Direction::Out);
}

#[test]
fn direction_parses_configuration_names() {
    assert_eq!("in".parse(), Ok(Direction::In));
    assert_eq!("out".parse(), Ok(Direction::Out));
    assert_eq!("in_out".parse(), Ok(Direction::InOut));
    assert_eq!(
        "inout".parse::<Direction>(),
        Err(DirectionError("inout".to_owned()))
    );
    assert_eq!(Direction::Out.annotation(), "Dp_Out");
    assert_eq!(Direction::default(), Direction::InOut);
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
