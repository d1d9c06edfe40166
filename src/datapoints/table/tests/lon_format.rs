//! The `LonFormat` variants of a write: presets, format descriptions, raw hex and field
//! formats, each with its faults.

use super::*;

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
