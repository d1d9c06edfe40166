//! The persisted form of one datapoint's last written value: a small, stable, serde-free
//! encoding, independent of the in-memory types.
//!
//! Layout (version 1), stored in the sled tree `datapoints` under the key = the datapoint name
//! as UTF-8 bytes; the value is UTF-8 text with five fields separated by TAB (0x09):
//!
//! ```text
//! 1 <TAB> type name <TAB> priority <TAB> last update (Unix ms) <TAB> value text
//! e.g. (with <TAB> for the 0x09 byte):
//! 1<TAB>SNVT_switch<TAB>255<TAB>1207674893599<TAB>100.0 1
//! ```
//!
//! - `1` is the layout version; any other version is refused (and ignored by the loader).
//! - the type name is `DpType::name()`, so a point whose configured type changed does not pick
//!   up a value written for the old type;
//! - the priority is decimal 0..=255, the last update signed decimal milliseconds;
//! - the value text is the type's canonical text (`DpType::format`) and comes last, so it may
//!   contain anything but is never split.
//!
//! Pure: no sled here; `table.rs` reads and writes the bytes.

/// Layout version written by [`Record::encode`].
const VERSION: &str = "1";

/// One datapoint's persisted state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// `DpType::name()` of the point when the value was written.
    pub(crate) type_name: String,
    /// The priority of the write that set the value.
    pub(crate) priority: u8,
    /// When the value was written, in milliseconds since the Unix epoch.
    pub(crate) unix_ms: i64,
    /// The value in the type's canonical text form.
    pub(crate) text: String,
}

/// A stored record that cannot be decoded; the loader logs it and falls back to the
/// configured initial value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordError {
    /// The bytes are not UTF-8.
    #[error("record is not UTF-8")]
    NotUtf8,
    /// Fewer than five TAB-separated fields.
    #[error("record has {found} fields, expected 5")]
    Fields {
        /// How many fields there were.
        found: usize,
    },
    /// A layout version this build does not know.
    #[error("record layout version {0:?} is not supported (expected {VERSION})")]
    Version(String),
    /// The priority field is not 0..=255.
    #[error("record priority {0:?} is not a number 0..=255")]
    Priority(String),
    /// The time field is not a signed integer.
    #[error("record time {0:?} is not a number of milliseconds")]
    Time(String),
}

impl Record {
    /// The bytes stored in sled (see the module docs for the layout).
    pub(crate) fn encode(&self) -> Vec<u8> {
        format!(
            "{VERSION}\t{}\t{}\t{}\t{}",
            self.type_name, self.priority, self.unix_ms, self.text
        )
        .into_bytes()
    }

    /// Decodes bytes written by [`Record::encode`].
    pub(crate) fn decode(bytes: &[u8]) -> Result<Record, RecordError> {
        let text = std::str::from_utf8(bytes).map_err(|_| RecordError::NotUtf8)?;
        let fields: Vec<&str> = text.splitn(5, '\t').collect();
        let &[version, type_name, priority, unix_ms, value] = fields.as_slice() else {
            return Err(RecordError::Fields {
                found: fields.len(),
            });
        };
        if version != VERSION {
            return Err(RecordError::Version(version.to_owned()));
        }
        Ok(Record {
            type_name: type_name.to_owned(),
            priority: priority
                .parse()
                .map_err(|_| RecordError::Priority(priority.to_owned()))?,
            unix_ms: unix_ms
                .parse()
                .map_err(|_| RecordError::Time(unix_ms.to_owned()))?,
            text: value.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            type_name: "SNVT_switch".to_owned(),
            priority: 255,
            unix_ms: 1_207_674_893_599,
            text: "100.0 1".to_owned(),
        }
    }

    #[test]
    fn record_encodes_to_the_documented_layout() {
        assert_eq!(
            record().encode(),
            b"1\tSNVT_switch\t255\t1207674893599\t100.0 1".to_vec()
        );
    }

    #[test]
    fn record_round_trips_including_negative_times_and_tabs_in_the_value() {
        let mut r = record();
        r.unix_ms = -5;
        r.text = "a\tb".to_owned();
        assert_eq!(Record::decode(&r.encode()), Ok(r));
    }

    #[test]
    fn record_with_missing_fields_is_rejected() {
        assert_eq!(
            Record::decode(b"1\tSNVT_switch\t255"),
            Err(RecordError::Fields { found: 3 })
        );
    }

    #[test]
    fn record_with_unknown_version_is_rejected() {
        assert_eq!(
            Record::decode(b"2\tSNVT_switch\t255\t0\t0.0 0"),
            Err(RecordError::Version("2".to_owned()))
        );
    }

    #[test]
    fn record_with_bad_numbers_or_bytes_is_rejected() {
        assert_eq!(
            Record::decode(b"1\tSNVT_switch\t256\t0\t0.0 0"),
            Err(RecordError::Priority("256".to_owned()))
        );
        assert_eq!(
            Record::decode(b"1\tSNVT_switch\t1\tnow\t0.0 0"),
            Err(RecordError::Time("now".to_owned()))
        );
        assert_eq!(Record::decode(&[0xFF, 0xFE]), Err(RecordError::NotUtf8));
    }
}
