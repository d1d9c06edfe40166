//! Tests of the `[[datapoint]]` table: initial values per type, direction, and the names and
//! types it refuses.

use super::*;

#[test]
fn datapoint_without_value_starts_at_its_types_neutral_value() {
    let mut src = XMPP.to_owned();
    for ty in [
        "SNVT_switch",
        "SNVT_temp_p",
        "SNVT_temp",
        "SNVT_lev_percent",
        "SNVT_time_stamp",
        "SNVT_hvac_mode",
    ] {
        src.push_str(&format!(
            "[[datapoint]]\nname = \"dp/{ty}\"\ntype = \"{ty}\"\n"
        ));
    }
    let initial: Vec<(String, String, Direction)> = parse(&src)
        .datapoints
        .into_iter()
        .map(|dp| (dp.dp_type.name().to_owned(), dp.initial, dp.direction))
        .collect();
    let expected = [
        ("SNVT_switch", "0.0 0"),
        ("SNVT_temp_p", "0.00"),
        ("SNVT_temp", "0.0"),
        ("SNVT_lev_percent", "0.000"),
        ("SNVT_time_stamp", "0000-00-00T00:00:00"),
        ("SNVT_hvac_mode", "HVAC_AUTO"),
    ]
    .map(|(t, v)| (t.to_owned(), v.to_owned(), Direction::InOut));
    assert_eq!(initial, expected);
}

#[test]
fn datapoint_value_is_kept_in_canonical_form() {
    let src = format!(
        "{XMPP}[[datapoint]]\nname = \"t\"\ntype = \"SNVT_temp_p\"\nvalue = \" 21 \"\ndirection = \"out\"\n\
             [[datapoint]]\nname = \"r\"\ntype = \"SNVT_count\"\nvalue = \"00c8\"\n"
    );
    let dps = parse(&src).datapoints;
    assert_eq!(
        dps,
        [
            DatapointConfig {
                name: "t".to_owned(),
                dp_type: DpType::TempP,
                direction: Direction::Out,
                initial: "21.00".to_owned(),
            },
            DatapointConfig {
                name: "r".to_owned(),
                dp_type: DpType::Raw {
                    name: "SNVT_count".to_owned()
                },
                direction: Direction::InOut,
                initial: "00C8".to_owned(),
            },
        ]
    );
}

#[test]
fn duplicate_datapoint_names_name_both_lines() {
    let src = format!(
        "{XMPP}[[datapoint]]\nname = \"a/b\"\ntype = \"SNVT_temp\"\n\
             [[datapoint]]\nname = \"a/b\"\ntype = \"SNVT_switch\"\n"
    );
    assert_eq!(
        errors(&src),
        format!("{ORIGIN}:10:8: duplicate datapoint name \"a/b\" (first defined at line 7)")
    );
}

#[test]
fn unknown_direction_is_reported_at_the_value() {
    let src =
        format!("{XMPP}[[datapoint]]\nname = \"a\"\ntype = \"SNVT_temp\"\ndirection = \"both\"\n");
    assert_eq!(
        errors(&src),
        format!("{ORIGIN}:9:13: datapoint direction \"both\" is not one of in, out, in_out")
    );
}

#[test]
fn initial_value_that_does_not_fit_the_type_quotes_the_value_error() {
    let src =
        format!("{XMPP}[[datapoint]]\nname = \"a\"\ntype = \"SNVT_switch\"\nvalue = \"100.0 7\"\n");
    assert_eq!(
        errors(&src),
        format!(
            "{ORIGIN}:9:9: invalid datapoint value: \"100.0 7\" is not a valid SNVT_switch \
                 value: expected a state of -1, 0 or 1 after the level"
        )
    );
}

#[test]
fn raw_type_without_value_is_refused() {
    let src = format!("{XMPP}[[datapoint]]\nname = \"a\"\ntype = \"SNVT_count\"\n");
    assert_eq!(
        errors(&src),
        format!(
            "{ORIGIN}:8:8: datapoint type \"SNVT_count\" needs a value: webbinder keeps this \
                 type as raw hex bytes and cannot guess its size"
        )
    );
}

#[test]
fn built_in_clock_datapoint_cannot_be_configured() {
    let src =
        format!("{XMPP}[[datapoint]]\nname = \"{CLOCK_DATAPOINT}\"\ntype = \"SNVT_time_stamp\"\n");
    assert_eq!(
        errors(&src),
        format!(
            "{ORIGIN}:7:8: datapoint \"{CLOCK_DATAPOINT}\" is built in (the agent's real \
                 time clock) and cannot be configured"
        )
    );
}
