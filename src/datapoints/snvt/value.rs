//! The value model: a parsed, validated datapoint value, its send-on-delta distance and its
//! type-independent text. Separate from the type catalogue, which decides how values are read.

use std::fmt;

use super::HvacMode;
use super::raw_hex::hex_text;

/// A datapoint value that has been parsed and validated for its [`DpType`].
///
/// Numbers are held already rounded to their type's resolution, so two values that print the
/// same compare equal.
///
/// [`DpType`]: super::DpType
#[derive(Debug, Clone, PartialEq)]
pub enum DpValue {
    /// An `SNVT_switch` value.
    Switch {
        /// Level in percent of full level, 0.0..=100.0 in 0.5 steps.
        value: f64,
        /// -1 (invalid / NUL), 0 (off) or 1 (on).
        state: i8,
    },
    /// A scalar: `SNVT_temp_p`, `SNVT_temp` or `SNVT_lev_percent`.
    Number(f64),
    /// An `SNVT_time_stamp` value; 0 in a field means "not specified", year -1 is the NUL date.
    TimeStamp {
        /// -1..=3000.
        year: i16,
        /// 0..=12.
        month: u8,
        /// 0..=31.
        day: u8,
        /// 0..=23.
        hour: u8,
        /// 0..=59.
        minute: u8,
        /// 0..=59.
        second: u8,
    },
    /// An `SNVT_hvac_mode` value.
    HvacMode(HvacMode),
    /// The bytes of a value of a type this module does not interpret.
    Raw(Vec<u8>),
}

impl DpValue {
    /// How far apart two values are, for send-on-delta (UG22 p.263).
    ///
    /// Numbers: the absolute difference. Switches: the level difference, or infinity when the
    /// state differs (so any state change passes any delta). `None` for time stamps, HVAC
    /// modes, raw bytes and values of different shapes: compare those with `==`.
    pub fn distance(&self, other: &DpValue) -> Option<f64> {
        match (self, other) {
            (DpValue::Number(a), DpValue::Number(b)) => Some((a - b).abs()),
            (
                DpValue::Switch {
                    value: a,
                    state: sa,
                },
                DpValue::Switch {
                    value: b,
                    state: sb,
                },
            ) => Some(if sa == sb {
                (a - b).abs()
            } else {
                f64::INFINITY
            }),
            _ => None,
        }
    }
}

/// A type-independent rendering: the canonical text for switches, time stamps, HVAC modes and
/// raw bytes, and the shortest text for numbers (`21` rather than `21.0`); use
/// [`DpType::format`] for the SmartServer's text.
///
/// [`DpType::format`]: super::DpType::format
impl fmt::Display for DpValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DpValue::Switch { value, state } => write!(f, "{value:.1} {state}"),
            DpValue::Number(n) => write!(f, "{n}"),
            DpValue::TimeStamp {
                year,
                month,
                day,
                hour,
                minute,
                second,
            } => write!(
                f,
                "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"
            ),
            DpValue::HvacMode(mode) => f.write_str(mode.name()),
            DpValue::Raw(bytes) => f.write_str(&hex_text(bytes)),
        }
    }
}
