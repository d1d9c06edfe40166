use super::error::MAX_QUOTED_CHARS;
use super::*;

fn switch(value: f64, state: i8) -> DpValue {
    DpValue::Switch { value, state }
}

fn stamp(year: i16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> DpValue {
    DpValue::TimeStamp {
        year,
        month,
        day,
        hour,
        minute,
        second,
    }
}

fn err(ty: &DpType, text: &str, reason: &str) -> ValueError {
    ValueError {
        type_name: ty.name().to_owned(),
        text: text.to_owned(),
        reason: reason.to_owned(),
    }
}

fn canonical(ty: &DpType, text: &str) -> String {
    match ty.parse(text) {
        Ok(v) => ty.format(&v),
        Err(e) => format!("error: {e}"),
    }
}

const TEMP_P_RANGE: &str = "expected a number between -273.17 and 327.66";
const TEMP_RANGE: &str = "expected a number between -274.0 and 6279.5";
const LEV_RANGE: &str = "expected a number between -163.840 and 163.830";
const SWITCH_LEVEL_REASON: &str = "expected a level between 0.0 and 100.0 followed by a state";
const SWITCH_STATE_REASON: &str = "expected a state of -1, 0 or 1 after the level";
const SWITCH_SHAPE: &str = "expected a level and a state separated by a space, e.g. \"100.0 1\"";
const STAMP_SHAPE: &str = "expected a time stamp like 2008-04-04T12:57:41";
const HEX_SHAPE: &str = "expected hex bytes (pairs of 0-9, A-F), e.g. 00C8";

// ---- names and formats ----

#[test]
fn from_name_recognises_every_supported_short_name() {
    let names = [
        ("SNVT_switch", DpType::Switch),
        ("SNVT_temp_p", DpType::TempP),
        ("SNVT_temp", DpType::Temp),
        ("SNVT_lev_percent", DpType::LevPercent),
        ("SNVT_time_stamp", DpType::TimeStamp),
        ("SNVT_hvac_mode", DpType::HvacMode),
    ];
    for (name, ty) in names {
        assert_eq!(DpType::from_name(name), ty);
        assert_eq!(ty.name(), name);
    }
}

#[test]
fn from_name_accepts_full_format_description_and_si_suffix() {
    assert_eq!(
        DpType::from_name("#0000000000000000[0].SNVT_switch"),
        DpType::Switch
    );
    assert_eq!(
        DpType::from_name("#0000000000000000[0].SNVT_temp_p#SI"),
        DpType::TempP
    );
}

#[test]
fn from_name_keeps_unknown_field_and_us_formats_as_raw() {
    for name in [
        "SNVT_count",
        "snvt_switch",
        "SNVT_switch.value",
        "#0000000000000000[0].SNVT_temp_f#US",
        "",
    ] {
        assert_eq!(
            DpType::from_name(name),
            DpType::Raw {
                name: name.to_owned()
            }
        );
    }
    assert_eq!(DpType::from_name("SNVT_count").name(), "SNVT_count");
}

#[test]
fn lon_format_is_the_standard_description_as_in_the_read_example() {
    assert_eq!(
        DpType::Switch.lon_format(),
        "#0000000000000000[0].SNVT_switch"
    );
    assert_eq!(DpType::Temp.lon_format(), "#0000000000000000[0].SNVT_temp");
    assert_eq!(
        DpType::HvacMode.lon_format(),
        "#0000000000000000[0].SNVT_hvac_mode"
    );
    assert_eq!(
        DpType::TimeStamp.lon_format(),
        "#0000000000000000[0].SNVT_time_stamp"
    );
}

#[test]
fn raw_type_has_raw_hex_lon_format_but_keeps_its_description() {
    let ty = DpType::from_name("SNVT_count");
    assert_eq!(ty.lon_format(), "RAW_HEX");
    assert_eq!(ty.format_description(), "#0000000000000000[0].SNVT_count");
    assert_eq!(
        DpType::from_name("#8000010128000000[4].UFPTrealTimeClock").format_description(),
        "#8000010128000000[4].UFPTrealTimeClock"
    );
    assert_eq!(DpType::from_name("RAW_HEX").format_description(), "RAW_HEX");
}

#[test]
fn units_match_the_read_examples() {
    assert_eq!(DpType::Switch.unit(), Some("value, state"));
    assert_eq!(DpType::Temp.unit(), Some("°C"));
    assert_eq!(DpType::TempP.unit(), Some("°C"));
    assert_eq!(DpType::LevPercent.unit(), Some("% of full level"));
    assert_eq!(DpType::HvacMode.unit(), Some("HVAC mode names"));
    assert_eq!(DpType::from_name("SNVT_count").unit(), None);
}

// ---- SNVT_switch ----

#[test]
fn switch_parses_the_guide_values() {
    // PR p.31 WebBinder Write and p.32 WriteResponse.
    assert_eq!(DpType::Switch.parse("0.0 0"), Ok(switch(0.0, 0)));
    assert_eq!(DpType::Switch.parse("100.0 1"), Ok(switch(100.0, 1)));
    // i100PR p.50: UCPTdefOutput of an output switch.
    assert_eq!(DpType::Switch.parse("0.0 -1"), Ok(switch(0.0, -1)));
}

#[test]
fn switch_formats_one_decimal_and_integer_state() {
    assert_eq!(DpType::Switch.format(&switch(100.0, 1)), "100.0 1");
    assert_eq!(DpType::Switch.format(&switch(0.0, 0)), "0.0 0");
    assert_eq!(DpType::Switch.format(&switch(50.5, -1)), "50.5 -1");
    assert_eq!(DpType::Switch.format(&switch(33.3, 1)), "33.5 1");
}

#[test]
fn switch_text_is_canonicalised_with_trimming_and_rounding_to_half_percent() {
    assert_eq!(canonical(&DpType::Switch, "  100 1\t"), "100.0 1");
    assert_eq!(canonical(&DpType::Switch, "50   1"), "50.0 1");
    assert_eq!(canonical(&DpType::Switch, "33.3 1"), "33.5 1");
    assert_eq!(canonical(&DpType::Switch, "33.2 1"), "33.0 1");
    assert_eq!(canonical(&DpType::Switch, "+0.25 0"), "0.5 0");
}

#[test]
fn switch_round_trips_every_level_and_state() {
    for level in 0..=200_i64 {
        for state in [-1_i8, 0, 1] {
            let v = switch(level as f64 / 2.0, state);
            let text = DpType::Switch.format(&v);
            assert_eq!(DpType::Switch.parse(&text), Ok(v.clone()), "{text}");
        }
    }
}

#[test]
fn switch_accepts_level_bounds_and_rejects_just_outside() {
    assert_eq!(DpType::Switch.parse("0.0 0"), Ok(switch(0.0, 0)));
    assert_eq!(DpType::Switch.parse("100.0 1"), Ok(switch(100.0, 1)));
    for text in ["100.5 1", "-0.5 0", "255 1"] {
        assert_eq!(
            DpType::Switch.parse(text),
            Err(err(&DpType::Switch, text, SWITCH_LEVEL_REASON))
        );
    }
}

#[test]
fn switch_rejects_states_other_than_minus_one_zero_one() {
    for text in ["50.0 2", "50.0 -2", "50.0 1.0", "50.0 on", "50.0 +1"] {
        assert_eq!(
            DpType::Switch.parse(text),
            Err(err(&DpType::Switch, text, SWITCH_STATE_REASON))
        );
    }
}

#[test]
fn switch_rejects_missing_or_extra_fields() {
    for text in ["100.0", "", "ON", "100.0 1 1"] {
        assert_eq!(
            DpType::Switch.parse(text),
            Err(err(&DpType::Switch, text, SWITCH_SHAPE))
        );
    }
}

#[test]
fn switch_default_presets_are_off_then_on() {
    assert_eq!(
        DpType::Switch.default_presets(),
        vec![
            ("OFF".to_owned(), switch(0.0, 0)),
            ("ON".to_owned(), switch(100.0, 1)),
        ]
    );
}

// ---- SNVT_temp_p ----

#[test]
fn temp_p_formats_two_decimals() {
    assert_eq!(DpType::TempP.format(&DpValue::Number(21.0)), "21.00");
    assert_eq!(DpType::TempP.format(&DpValue::Number(-0.5)), "-0.50");
    assert_eq!(canonical(&DpType::TempP, " 21 "), "21.00");
    assert_eq!(canonical(&DpType::TempP, "21.005"), "21.01");
    assert_eq!(canonical(&DpType::TempP, "-0.004"), "0.00");
}

#[test]
fn temp_p_accepts_bounds_and_rejects_just_outside() {
    assert_eq!(DpType::TempP.parse("-273.17"), Ok(DpValue::Number(-273.17)));
    assert_eq!(DpType::TempP.parse("327.66"), Ok(DpValue::Number(327.66)));
    for text in ["-273.18", "327.67", "1000"] {
        assert_eq!(
            DpType::TempP.parse(text),
            Err(err(&DpType::TempP, text, TEMP_P_RANGE))
        );
    }
}

#[test]
fn temp_p_rejects_garbage_with_the_documented_message() {
    let e = DpType::TempP.parse("abc").unwrap_err();
    assert_eq!(
        e.to_string(),
        "\"abc\" is not a valid SNVT_temp_p value: expected a number between -273.17 and 327.66"
    );
    for text in [
        "NaN", "inf", "-inf", "1e2", "", "12,5", "--1", "+", ".", "-", "1.2.3", "0x10",
    ] {
        assert_eq!(
            DpType::TempP.parse(text),
            Err(err(&DpType::TempP, text, TEMP_P_RANGE)),
            "{text:?}"
        );
    }
}

#[test]
fn temp_p_round_trips_every_valid_step() {
    for steps in TEMP_P.min..=TEMP_P.max {
        let v = DpValue::Number(TEMP_P.value_of(steps));
        let text = DpType::TempP.format(&v);
        assert_eq!(DpType::TempP.parse(&text), Ok(v.clone()), "{text}");
    }
}

#[test]
fn temp_types_have_occupancy_presets() {
    let expected = vec![
        ("OCCUPIED".to_owned(), DpValue::Number(21.0)),
        ("UNOCCUPIED".to_owned(), DpValue::Number(16.0)),
        ("STANDBY".to_owned(), DpValue::Number(19.0)),
    ];
    assert_eq!(DpType::TempP.default_presets(), expected);
    assert_eq!(DpType::Temp.default_presets(), expected);
}

// ---- SNVT_temp ----

#[test]
fn temp_parses_the_read_example_value() {
    // PR p.54: <UCPTvalue LonFormat="#0000000000000000[0].SNVT_temp" Unit="°C">21.0</UCPTvalue>
    assert_eq!(DpType::Temp.parse("21.0"), Ok(DpValue::Number(21.0)));
    assert_eq!(DpType::Temp.format(&DpValue::Number(21.0)), "21.0");
}

#[test]
fn temp_rounds_half_away_from_zero_to_tenths() {
    assert_eq!(canonical(&DpType::Temp, "21.04"), "21.0");
    assert_eq!(canonical(&DpType::Temp, "21.05"), "21.1");
    assert_eq!(canonical(&DpType::Temp, "-21.05"), "-21.1");
}

#[test]
fn temp_accepts_bounds_and_rejects_just_outside() {
    assert_eq!(DpType::Temp.parse("-274.0"), Ok(DpValue::Number(-274.0)));
    assert_eq!(DpType::Temp.parse("6279.5"), Ok(DpValue::Number(6279.5)));
    for text in ["-274.1", "6279.6"] {
        assert_eq!(
            DpType::Temp.parse(text),
            Err(err(&DpType::Temp, text, TEMP_RANGE))
        );
    }
}

#[test]
fn temp_round_trips_every_wire_value() {
    for wire in 0..=u16::MAX {
        let v = DpType::Temp.decode(&wire.to_be_bytes());
        let Ok(v) = v else {
            panic!("wire {wire} rejected: {v:?}");
        };
        let text = DpType::Temp.format(&v);
        assert_eq!(DpType::Temp.parse(&text), Ok(v.clone()), "{text}");
        assert_eq!(DpType::Temp.encode(&v), Ok(wire.to_be_bytes().to_vec()));
    }
}

// ---- SNVT_lev_percent ----

#[test]
fn lev_percent_formats_three_decimals_and_rounds_to_half_thousandths() {
    assert_eq!(DpType::LevPercent.format(&DpValue::Number(50.0)), "50.000");
    assert_eq!(canonical(&DpType::LevPercent, "12.3456"), "12.345");
    assert_eq!(canonical(&DpType::LevPercent, "12.3475"), "12.350");
    assert_eq!(canonical(&DpType::LevPercent, "12.3474"), "12.345");
}

#[test]
fn lev_percent_accepts_bounds_and_rejects_just_outside() {
    assert_eq!(
        DpType::LevPercent.parse("-163.84"),
        Ok(DpValue::Number(-163.84))
    );
    assert_eq!(
        DpType::LevPercent.parse("163.83"),
        Ok(DpValue::Number(163.83))
    );
    for text in ["-163.845", "163.835"] {
        assert_eq!(
            DpType::LevPercent.parse(text),
            Err(err(&DpType::LevPercent, text, LEV_RANGE))
        );
    }
}

#[test]
fn lev_percent_round_trips_every_valid_step() {
    for steps in LEV_PERCENT.min..=LEV_PERCENT.max {
        let v = DpValue::Number(LEV_PERCENT.value_of(steps));
        let text = DpType::LevPercent.format(&v);
        assert_eq!(DpType::LevPercent.parse(&text), Ok(v.clone()), "{text}");
    }
}

// ---- SNVT_time_stamp ----

#[test]
fn time_stamp_round_trips_the_system_time_example() {
    // PR p.305: <UCPTsystemTime>2008-04-04T12:57:41</UCPTsystemTime>
    let v = stamp(2008, 4, 4, 12, 57, 41);
    assert_eq!(
        DpType::TimeStamp.parse("2008-04-04T12:57:41"),
        Ok(v.clone())
    );
    assert_eq!(DpType::TimeStamp.format(&v), "2008-04-04T12:57:41");
}

#[test]
fn time_stamp_accepts_space_separator_and_unpadded_fields() {
    assert_eq!(
        canonical(&DpType::TimeStamp, " 2008-04-04 12:57:41 "),
        "2008-04-04T12:57:41"
    );
    assert_eq!(
        canonical(&DpType::TimeStamp, "8-4-4T1:2:3"),
        "0008-04-04T01:02:03"
    );
}

#[test]
fn time_stamp_accepts_unspecified_and_null_fields() {
    assert_eq!(
        DpType::TimeStamp.parse("0000-00-00T00:00:00"),
        Ok(stamp(0, 0, 0, 0, 0, 0))
    );
    let null = stamp(-1, 0, 0, 0, 0, 0);
    assert_eq!(DpType::TimeStamp.format(&null), "-001-00-00T00:00:00");
    assert_eq!(
        DpType::TimeStamp.parse("-001-00-00T00:00:00"),
        Ok(null.clone())
    );
    assert_eq!(DpType::TimeStamp.parse("-1-00-00T00:00:00"), Ok(null));
}

#[test]
fn time_stamp_accepts_field_maxima() {
    assert_eq!(
        DpType::TimeStamp.parse("3000-12-31T23:59:59"),
        Ok(stamp(3000, 12, 31, 23, 59, 59))
    );
}

#[test]
fn time_stamp_rejects_each_field_just_outside_its_range() {
    let cases = [
        ("3001-01-01T00:00:00", "year 3001 is outside -1..=3000"),
        ("-002-01-01T00:00:00", "year -2 is outside -1..=3000"),
        ("2008-13-01T00:00:00", "month 13 is outside 0..=12"),
        ("2008-01-32T00:00:00", "day 32 is outside 0..=31"),
        ("2008-01-01T24:00:00", "hour 24 is outside 0..=23"),
        ("2008-01-01T00:60:00", "minute 60 is outside 0..=59"),
        ("2008-01-01T00:00:60", "second 60 is outside 0..=59"),
    ];
    for (text, reason) in cases {
        assert_eq!(
            DpType::TimeStamp.parse(text),
            Err(err(&DpType::TimeStamp, text, reason))
        );
    }
}

#[test]
fn time_stamp_rejects_other_shapes() {
    for text in [
        "2008-04-04",
        "2008-04-04T12:57",
        "2008-04-04T12:57:41Z",
        "2008-04-04T12:57:41.116",
        "2008-04-04T12:57:41-07:00",
        "2008/04/04 12:57:41",
        "20080-04-04T12:57:41",
        "2008-004-04T12:57:41",
        "2008-04-04T+1:57:41",
        "",
    ] {
        assert_eq!(
            DpType::TimeStamp.parse(text),
            Err(err(&DpType::TimeStamp, text, STAMP_SHAPE)),
            "{text:?}"
        );
    }
}

// ---- SNVT_hvac_mode ----

#[test]
fn hvac_mode_parses_the_real_device_value() {
    // ikegam ilonss.c: <UCPTvalue LonFormat="#0000000000000000[0].SNVT_hvac_mode" ...>HVAC_AUTO</UCPTvalue>
    let v = DpType::HvacMode.parse("HVAC_AUTO");
    assert_eq!(v, Ok(DpValue::HvacMode(HvacMode::Auto)));
    assert_eq!(
        DpType::HvacMode.format(&DpValue::HvacMode(HvacMode::Auto)),
        "HVAC_AUTO"
    );
}

#[test]
fn hvac_mode_round_trips_every_name_and_code() {
    let mut count = 0;
    for mode in HvacMode::all() {
        let v = DpValue::HvacMode(mode);
        assert_eq!(DpType::HvacMode.parse(mode.name()), Ok(v.clone()));
        assert_eq!(HvacMode::from_code(mode.code()), Some(mode));
        assert_eq!(
            DpType::HvacMode.encode(&v),
            Ok(vec![mode.code().to_be_bytes()[0]])
        );
        count += 1;
    }
    assert_eq!(count, 22);
    assert_eq!(HvacMode::Nul.code(), -1);
    assert_eq!(HvacMode::NoLoad.code(), 20);
    assert_eq!(HvacMode::MorningWarmup.name(), "HVAC_MRNG_WRMUP");
}

#[test]
fn hvac_mode_rejects_wrong_case_and_codes() {
    for text in ["hvac_auto", "3", "AUTO", ""] {
        let e = DpType::HvacMode.parse(text).unwrap_err();
        assert_eq!(e.text, text);
        assert!(
            e.reason
                .starts_with("expected one of HVAC_NUL, HVAC_AUTO, HVAC_HEAT,"),
            "{}",
            e.reason
        );
        assert!(
            e.reason.ends_with("HVAC_HVC_LOAD, HVAC_NO_LOAD"),
            "{}",
            e.reason
        );
    }
    assert_eq!(DpType::HvacMode.default_presets(), vec![]);
}

// ---- raw types ----

#[test]
fn raw_parses_hex_in_any_case_and_formats_upper_case() {
    let ty = DpType::from_name("SNVT_count");
    assert_eq!(ty.parse("00c8"), Ok(DpValue::Raw(vec![0x00, 0xC8])));
    assert_eq!(ty.parse(" 00 C8 "), Ok(DpValue::Raw(vec![0x00, 0xC8])));
    assert_eq!(
        ty.parse("0a0B 0c"),
        Ok(DpValue::Raw(vec![0x0A, 0x0B, 0x0C]))
    );
    assert_eq!(ty.format(&DpValue::Raw(vec![0x00, 0xC8, 0xff])), "00C8FF");
    assert_eq!(ty.default_presets(), vec![]);
}

#[test]
fn raw_rejects_odd_length_non_hex_and_empty_text() {
    let ty = DpType::from_name("SNVT_count");
    for text in ["0", "00C", "0 0", "0g", "xx", "", "0x00"] {
        assert_eq!(ty.parse(text), Err(err(&ty, text, HEX_SHAPE)), "{text:?}");
    }
}

// ---- raw encoding ----

#[test]
fn encode_gives_big_endian_lon_bytes() {
    let cases: [(DpType, DpValue, Vec<u8>); 7] = [
        (DpType::Switch, switch(100.0, 1), vec![0xC8, 0x01]),
        (DpType::Switch, switch(0.0, -1), vec![0x00, 0xFF]),
        (DpType::TempP, DpValue::Number(21.0), vec![0x08, 0x34]),
        (DpType::TempP, DpValue::Number(-273.17), vec![0x95, 0x4B]),
        (DpType::Temp, DpValue::Number(21.0), vec![0x0B, 0x86]),
        (DpType::LevPercent, DpValue::Number(50.0), vec![0x27, 0x10]),
        (
            DpType::TimeStamp,
            stamp(2008, 4, 4, 12, 57, 41),
            vec![0x07, 0xD8, 4, 4, 12, 57, 41],
        ),
    ];
    for (ty, v, bytes) in cases {
        assert_eq!(ty.encode(&v), Ok(bytes.clone()), "{v:?}");
        assert_eq!(ty.decode(&bytes), Ok(v));
    }
}

#[test]
fn encode_rejects_values_of_another_shape_or_out_of_range() {
    assert_eq!(
        DpType::Switch.encode(&DpValue::Number(3.0)),
        Err(err(&DpType::Switch, "3", SWITCH_SHAPE))
    );
    assert_eq!(
        DpType::TempP.encode(&DpValue::Number(400.0)),
        Err(err(&DpType::TempP, "400.00", TEMP_P_RANGE))
    );
    assert_eq!(
        DpType::TempP.encode(&DpValue::Number(f64::NAN)),
        Err(err(&DpType::TempP, "NaN", TEMP_P_RANGE))
    );
}

#[test]
fn decode_rejects_wrong_length_invalid_markers_and_unknown_codes() {
    assert_eq!(
        DpType::Switch.decode(&[0xC8]),
        Err(err(&DpType::Switch, "C8", "expected 2 bytes, got 1"))
    );
    assert_eq!(
        DpType::TempP.decode(&[0x7F, 0xFF]),
        Err(err(&DpType::TempP, "327.67", TEMP_P_RANGE))
    );
    assert_eq!(
        DpType::LevPercent.decode(&[0x7F, 0xFF]),
        Err(err(&DpType::LevPercent, "163.835", LEV_RANGE))
    );
    assert_eq!(
        DpType::Switch.decode(&[0xC9, 0x01]),
        Err(err(&DpType::Switch, "100.5 1", SWITCH_LEVEL_REASON))
    );
    assert_eq!(
        DpType::Switch.decode(&[0x00, 0x02]),
        Err(err(&DpType::Switch, "0.0 2", SWITCH_STATE_REASON))
    );
    assert_eq!(
        DpType::HvacMode.decode(&[21]),
        Err(err(&DpType::HvacMode, "15", "unknown HVAC mode code 21"))
    );
    assert_eq!(
        DpType::TimeStamp.decode(&[0x07, 0xD8, 13, 1, 0, 0, 0]),
        Err(err(
            &DpType::TimeStamp,
            "2008-13-01T00:00:00",
            "month 13 is outside 0..=12"
        ))
    );
}

#[test]
fn raw_hex_text_converts_to_a_typed_value_through_decode() {
    // A Write with LonFormat="RAW_HEX" to a switch point.
    let raw = DpType::from_name("RAW_HEX");
    let Ok(DpValue::Raw(bytes)) = raw.parse("C801") else {
        panic!("hex not parsed");
    };
    assert_eq!(DpType::Switch.decode(&bytes), Ok(switch(100.0, 1)));
    assert_eq!(raw.decode(&[]), Err(err(&raw, "", HEX_SHAPE)));
}

// ---- distance ----

#[test]
fn distance_of_numbers_is_the_absolute_difference() {
    assert_eq!(
        DpValue::Number(21.5).distance(&DpValue::Number(20.0)),
        Some(1.5)
    );
    assert_eq!(
        DpValue::Number(-1.0).distance(&DpValue::Number(1.0)),
        Some(2.0)
    );
}

#[test]
fn distance_of_switches_is_the_level_difference_unless_the_state_changes() {
    assert_eq!(switch(50.0, 1).distance(&switch(60.5, 1)), Some(10.5));
    assert_eq!(
        switch(0.0, 0).distance(&switch(0.0, 1)),
        Some(f64::INFINITY)
    );
}

#[test]
fn distance_is_none_for_non_numeric_and_mismatched_values() {
    let t = stamp(2008, 4, 4, 12, 57, 41);
    assert_eq!(t.distance(&t), None);
    let h = DpValue::HvacMode(HvacMode::Heat);
    assert_eq!(h.distance(&h), None);
    assert_eq!(DpValue::Raw(vec![1]).distance(&DpValue::Raw(vec![2])), None);
    assert_eq!(DpValue::Number(1.0).distance(&switch(1.0, 1)), None);
}

// ---- errors ----

#[test]
fn error_quotes_trimmed_text_and_cuts_long_input() {
    let e = DpType::Temp.parse("  hot \n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "\"hot\" is not a valid SNVT_temp value: expected a number between -274.0 and 6279.5"
    );
    let long = "9".repeat(100);
    let e = DpType::Temp.parse(&long).unwrap_err();
    assert_eq!(e.text, format!("{}…", "9".repeat(64)));
}

#[test]
fn format_of_a_mismatched_value_uses_the_generic_text() {
    assert_eq!(DpType::TempP.format(&switch(1.0, 1)), "1.0 1");
    assert_eq!(DpType::Switch.format(&DpValue::Number(21.0)), "21");
    assert_eq!(DpType::TempP.format(&DpValue::Number(f64::INFINITY)), "inf");
}

// ---- length limits (issue 8, item 1) ----

#[test]
fn a_200_kb_raw_value_is_refused() {
    let ty = DpType::from_name("SNVT_count");
    let text = "AB".repeat(100_000);
    let e = ty.parse(&text).unwrap_err();
    assert!(e.reason.contains("1024"), "{e}");
    assert!(e.text.chars().count() <= MAX_QUOTED_CHARS + 1, "{e}");
}

#[test]
fn a_raw_value_over_the_lontalk_limit_is_refused_and_at_the_limit_accepted() {
    let ty = DpType::from_name("SNVT_count");
    let at = "0F".repeat(MAX_RAW_VALUE_BYTES);
    assert_eq!(
        ty.parse(&at),
        Ok(DpValue::Raw(vec![0x0F; MAX_RAW_VALUE_BYTES]))
    );
    let over = "0F".repeat(MAX_RAW_VALUE_BYTES + 1);
    let e = ty.parse(&over).unwrap_err();
    assert!(e.reason.contains("228"), "{e}");
    assert!(ty.decode(&[0u8; MAX_RAW_VALUE_BYTES + 1]).is_err());
}

#[test]
fn a_raw_value_over_the_limit_names_both_lengths_when_parsed_and_decoded() {
    let ty = DpType::from_name("SNVT_count");
    let expected = "229 bytes, more than the 228 bytes of the largest LonTalk network variable";
    let e = ty.parse(&"0F".repeat(229)).unwrap_err();
    assert_eq!(e.reason, expected);
    let e = ty.decode(&[0u8; 229]).unwrap_err();
    assert_eq!(e.reason, expected);
}

#[test]
fn a_value_text_over_1024_bytes_is_refused_for_every_type_even_if_mostly_blank() {
    let padded = format!("{}21.0", " ".repeat(MAX_VALUE_TEXT_BYTES));
    for ty in [
        DpType::Switch,
        DpType::TempP,
        DpType::Temp,
        DpType::LevPercent,
        DpType::TimeStamp,
        DpType::HvacMode,
        DpType::from_name("SNVT_count"),
    ] {
        let e = ty.parse(&padded).unwrap_err();
        assert!(e.reason.contains("longer than 1024 bytes"), "{ty:?}: {e}");
    }
    // Whitespace within the limit is still trimmed.
    assert_eq!(
        DpType::Temp.parse(&format!("{}21.0", " ".repeat(100))),
        Ok(DpValue::Number(21.0))
    );
}
