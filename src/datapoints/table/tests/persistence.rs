//! What the table keeps in sled and starts from: the stored record, the values a reopen
//! restores or ignores, the configurations open refuses, and the names it lists.

use super::*;

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
