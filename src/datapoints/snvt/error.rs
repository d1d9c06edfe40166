//! The error of a value that does not fit its datapoint type (i.LON fault 11). Separate because
//! text parsing and the LON byte codec both raise it, and it depends on nothing else in `snvt`.

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
