//! The `write` record, a queued datapoint write: the one record every other queue record
//! (chunk entries, dead letters) carries, so it has its own flags and a borrowing decoder.

use std::time::SystemTime;

use super::super::types::QueuedWrite;
use super::{DecodeError, Reader, VERSION, from_ms, put_str, to_ms};

const WRITE_HAS_LON_FORMAT: u8 = 0b01;
const WRITE_COALESCED: u8 = 0b10;

/// Appends the `write` encoding of `w` to `buf`.
pub(crate) fn encode_write(buf: &mut Vec<u8>, w: &QueuedWrite, coalesced: bool) {
    let mut flags = 0;
    if w.lon_format.is_some() {
        flags |= WRITE_HAS_LON_FORMAT;
    }
    if coalesced {
        flags |= WRITE_COALESCED;
    }
    buf.extend_from_slice(&[VERSION, flags, w.priority]);
    buf.extend_from_slice(&to_ms(w.enqueued_at).to_be_bytes());
    put_str(buf, &w.connection);
    put_str(buf, &w.target);
    put_str(buf, &w.value);
    if let Some(f) = &w.lon_format {
        put_str(buf, f);
    }
}

/// A `write` read in place: its strings borrow the record (acknowledging a batch needs only
/// the connection and value of each write, not copies of all its fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WriteRef<'a> {
    pub(crate) connection: &'a str,
    pub(crate) target: &'a str,
    pub(crate) value: &'a str,
    pub(crate) lon_format: Option<&'a str>,
    pub(crate) priority: u8,
    pub(crate) enqueued_at: SystemTime,
    /// Enqueued as a coalescing ("latest") entry.
    pub(crate) coalesced: bool,
}

impl WriteRef<'_> {
    pub(crate) fn to_owned(self) -> QueuedWrite {
        QueuedWrite {
            connection: self.connection.to_owned(),
            target: self.target.to_owned(),
            value: self.value.to_owned(),
            lon_format: self.lon_format.map(str::to_owned),
            priority: self.priority,
            enqueued_at: self.enqueued_at,
        }
    }
}

/// Decodes a `write` without copying its strings.
pub(crate) fn decode_write_ref(bytes: &[u8]) -> Result<WriteRef<'_>, DecodeError> {
    let mut r = Reader::new(bytes, "queued write")?;
    let flags = r.flags(WRITE_HAS_LON_FORMAT | WRITE_COALESCED)?;
    let priority = r.u8()?;
    let enqueued_at = from_ms(r.i64()?);
    let connection = r.str("connection")?;
    let target = r.str("target")?;
    let value = r.str("value")?;
    let lon_format = if flags & WRITE_HAS_LON_FORMAT != 0 {
        Some(r.str("lon_format")?)
    } else {
        None
    };
    r.end()?;
    Ok(WriteRef {
        connection,
        target,
        value,
        lon_format,
        priority,
        enqueued_at,
        coalesced: flags & WRITE_COALESCED != 0,
    })
}

/// Decodes a `write`; the flag says whether it was enqueued as a coalescing ("latest") entry.
pub(crate) fn decode_write(bytes: &[u8]) -> Result<(QueuedWrite, bool), DecodeError> {
    let w = decode_write_ref(bytes)?;
    Ok((w.to_owned(), w.coalesced))
}
