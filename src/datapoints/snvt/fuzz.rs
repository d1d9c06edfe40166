//! Property tests (issue 8 fuzzing): every valid value of every supported type round-trips
//! through its text and its LON bytes, arbitrary text and bytes never panic, and whatever
//! parses is canonical after one format. Bounded: `PROPTEST_CASES` cases (default 256) per
//! property, each input a few kilobytes at most, each case under a time guard.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;

use crate::fuzzing::config;

/// Hang guard: one case of these pure functions takes microseconds; a second means a hang.
fn quick<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{what} took {:?}",
        start.elapsed()
    );
    out
}

fn types() -> Vec<DpType> {
    vec![
        DpType::Switch,
        DpType::TempP,
        DpType::Temp,
        DpType::LevPercent,
        DpType::TimeStamp,
        DpType::HvacMode,
        DpType::from_name("SNVT_count"),
    ]
}

/// A valid value of each supported type, built from its wire steps as the parser does.
fn valid_value() -> impl Strategy<Value = (DpType, DpValue)> {
    let modes: Vec<HvacMode> = HvacMode::all().collect();
    prop_oneof![
        (0i64..=200, -1i8..=1).prop_map(|(s, state)| (
            DpType::Switch,
            DpValue::Switch {
                value: SWITCH_LEVEL.value_of(s),
                state
            }
        )),
        (TEMP_P.min..=TEMP_P.max)
            .prop_map(|s| (DpType::TempP, DpValue::Number(TEMP_P.value_of(s)))),
        (TEMP.min..=TEMP.max).prop_map(|s| (DpType::Temp, DpValue::Number(TEMP.value_of(s)))),
        (LEV_PERCENT.min..=LEV_PERCENT.max)
            .prop_map(|s| (DpType::LevPercent, DpValue::Number(LEV_PERCENT.value_of(s)))),
        (
            -1i16..=3000,
            0u8..=12,
            0u8..=31,
            0u8..=23,
            0u8..=59,
            0u8..=59
        )
            .prop_map(|(year, month, day, hour, minute, second)| (
                DpType::TimeStamp,
                DpValue::TimeStamp {
                    year,
                    month,
                    day,
                    hour,
                    minute,
                    second
                }
            )),
        proptest::sample::select(modes).prop_map(|m| (DpType::HvacMode, DpValue::HvacMode(m))),
        proptest::collection::vec(any::<u8>(), 1..=MAX_RAW_VALUE_BYTES)
            .prop_map(|b| (DpType::from_name("SNVT_count"), DpValue::Raw(b))),
    ]
}

/// Text that looks like values: digits, signs, dots, separators, hex and mode names.
fn value_like_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[-+0-9. ]{0,24}",
        "[0-9]{1,5}-[0-9]{1,3}-[0-9]{1,3}[T ][0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}",
        "[0-9A-Fa-f ]{0,80}",
        "HVAC_[A-Z_]{0,12}",
        "\\PC{0,64}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_valid_value_round_trips_through_text_and_bytes((ty, v) in valid_value()) {
        let text = quick("format", || ty.format(&v));
        prop_assert!(text.len() <= MAX_VALUE_TEXT_BYTES, "{text}");
        prop_assert_eq!(quick("parse", || ty.parse(&text)), Ok(v.clone()));
        let bytes = ty.encode(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(ty.decode(&bytes), Ok(v));
    }

    #[test]
    fn arbitrary_text_never_panics_and_what_parses_is_canonical(text in value_like_text()) {
        for ty in types() {
            if let Ok(v) = quick("parse", || ty.parse(&text)) {
                let canonical = ty.format(&v);
                prop_assert_eq!(ty.parse(&canonical), Ok(v), "{:?} via {:?}", text, canonical);
                prop_assert_eq!(ty.format(&ty.parse(&canonical).unwrap()), canonical);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_what_decodes_encodes_back(
        bytes in proptest::collection::vec(any::<u8>(), 0..=300)
    ) {
        for ty in types() {
            if let Ok(v) = quick("decode", || ty.decode(&bytes)) {
                prop_assert_eq!(ty.encode(&v), Ok(bytes.clone()), "{:?}", ty);
            }
        }
    }

    #[test]
    fn long_text_is_refused_quickly(len in MAX_VALUE_TEXT_BYTES + 1..200_000usize, fill in "[0-9A-F ]") {
        let text = fill.repeat(len);
        for ty in types() {
            prop_assert!(quick("parse long", || ty.parse(&text)).is_err());
        }
    }
}
