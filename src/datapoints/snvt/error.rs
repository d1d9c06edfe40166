//! The error of a value that does not fit its datapoint type (i.LON fault 11), and the typed
//! reasons the text parsers give for it. Separate because text parsing and the LON byte codec
//! both raise it.

use super::{HvacMode, MAX_RAW_VALUE_BYTES};

/// Longest piece of rejected input quoted in a [`ValueError`], so that a huge value cannot
/// flood a log line or a fault string.
pub(super) const MAX_QUOTED_CHARS: usize = 64;

/// A value text (or byte string) that does not fit its datapoint type.
///
/// Maps to i.LON fault 11 ("Format Error") in a Write response; the message names the type,
/// the rejected text and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a valid {type_name} value: {reason}")]
pub struct ValueError {
    /// The type name, e.g. `SNVT_temp_p`.
    pub type_name: String,
    /// The rejected text after trimming (hex for bytes), cut to 64 characters.
    pub text: String,
    /// What was expected instead.
    pub reason: String,
}

impl ValueError {
    pub(super) fn new(type_name: &str, text: &str, reason: String) -> Self {
        let text = if text.chars().count() > MAX_QUOTED_CHARS {
            let mut cut: String = text.chars().take(MAX_QUOTED_CHARS).collect();
            cut.push('…');
            cut
        } else {
            text.to_owned()
        };
        ValueError {
            type_name: type_name.to_owned(),
            text,
            reason,
        }
    }
}

/// Why a text does not fit its type: what the text parsers (`parse.rs`, `raw_hex.rs`) return.
/// Exists so they return a typed error; [`ValueError`] carries its text as its `reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum Reason {
    /// A scalar outside its type's range, or not a plain decimal.
    #[error("expected a number between {min} and {max}")]
    Number {
        /// The smallest valid value, as text with the type's decimals.
        min: String,
        /// The largest valid value, as text with the type's decimals.
        max: String,
    },
    /// An `SNVT_switch` text that is not two words.
    #[error("expected a level and a state separated by a space, e.g. \"100.0 1\"")]
    SwitchShape,
    /// An `SNVT_switch` level that is not a number in 0.0..=100.0.
    #[error("expected a level between 0.0 and 100.0 followed by a state")]
    SwitchLevel,
    /// An `SNVT_switch` state other than -1, 0 or 1.
    #[error("expected a state of -1, 0 or 1 after the level")]
    SwitchState,
    /// An `SNVT_time_stamp` text not of the form `2008-04-04T12:57:41`.
    #[error("expected a time stamp like 2008-04-04T12:57:41")]
    TimeStampShape,
    /// An `SNVT_time_stamp` field outside its range.
    #[error("{field} {value} is outside {min}..={max}")]
    TimeStampField {
        /// The field, e.g. `month`.
        field: &'static str,
        /// The value given.
        value: i64,
        /// The smallest valid value.
        min: i64,
        /// The largest valid value.
        max: i64,
    },
    /// A name that is not an `SNVT_hvac_mode` name.
    #[error("expected one of {}", hvac_mode_names())]
    HvacMode,
    /// Raw text that is not hex bytes.
    #[error("expected hex bytes (pairs of 0-9, A-F), e.g. 00C8")]
    Hex,
    /// A raw value over [`MAX_RAW_VALUE_BYTES`].
    #[error(
        "{len} bytes, more than the {MAX_RAW_VALUE_BYTES} bytes of the largest LonTalk network variable"
    )]
    RawTooLong {
        /// The value's length in bytes.
        len: usize,
    },
}

/// Every HVAC mode name in code order, comma separated.
fn hvac_mode_names() -> String {
    let names: Vec<&str> = HvacMode::all().map(HvacMode::name).collect();
    names.join(", ")
}
