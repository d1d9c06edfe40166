//! Writes that apply or fault: the round trip, the value text, the Write faults, and the
//! direction, which never blocks a write.

use super::*;

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
