//! Binary encodings of the store's records (pure: no sled, no clock).
//!
//! Every record starts with a layout version byte ([`VERSION`]); integers are big-endian,
//! times are signed milliseconds since the Unix epoch, strings are a u32 byte length followed
//! by UTF-8. Decoding never panics: truncation, an unknown version, bad UTF-8, bad flags or
//! trailing bytes give a [`DecodeError`] naming the record kind and the byte offset or field.
//!
//! ```text
//! write  (a queued datapoint write)
//!   u8 version | u8 flags (bit0: lon_format present, bit1: coalescing "latest" entry)
//!   | u8 priority | i64 enqueued_at | str connection | str target | str value | [str lon_format]
//! chunk  (the value of a `Q` key: several consecutive queued writes of one host)
//!   u8 version | u32 count | u64 last_seq | count x (u64 seq | u32 len | write[len])
//! host   u8 version | u64 next_seq | u64 depth | u64 acked_upto | u64 delivered | u64 failed
//!        | u8 flags (bit0: last_success, bit1: last_error) | [i64 last_success]
//!        | [i64 error_at | str error]
//! stamp  (last enqueued / acknowledged value of a connection)  u8 version | i64 at | str value
//! dead   u8 version | i64 at | str reason | write (to the end)
//! u64    (epoch, latest index, applied seq)  u8 version | u64
//! session  u8 version | u8 open (1 while a process has the store open) | u64 floor
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::types::QueuedWrite;

mod chunk;
mod host;
mod write;

pub(crate) use chunk::{Chunk, ChunkWriter};
pub(crate) use host::HostRecord;
pub(crate) use write::{decode_write, decode_write_ref, encode_write};

/// The layout version written by this build for every record kind.
pub(crate) const VERSION: u8 = 1;

/// A stored record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The record ends before a field is complete.
    #[error("{record} record is truncated at byte {offset}")]
    Truncated {
        /// The record kind.
        record: &'static str,
        /// Where the missing field starts.
        offset: usize,
    },
    /// A layout version this build does not know.
    #[error("{record} record has layout version {found}, expected {VERSION}")]
    Version {
        /// The record kind.
        record: &'static str,
        /// The version byte found.
        found: u8,
    },
    /// A string field is not UTF-8.
    #[error("{record} record field {field} is not UTF-8")]
    Utf8 {
        /// The record kind.
        record: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A field holds a value no encoder writes.
    #[error("{record} record field {field} has the invalid value {value}")]
    Invalid {
        /// The record kind.
        record: &'static str,
        /// The field.
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// Bytes remain after the last field.
    #[error("{record} record has {extra} trailing bytes")]
    Trailing {
        /// The record kind.
        record: &'static str,
        /// How many bytes remain.
        extra: usize,
    },
}

/// Converts a time to signed milliseconds since the Unix epoch (saturating).
pub(crate) fn to_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// Converts signed milliseconds since the Unix epoch back to a time (saturating).
pub(crate) fn from_ms(ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH.checked_add(d).unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH.checked_sub(d).unwrap_or(UNIX_EPOCH)
    }
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    // Why: a string of 4 GiB cannot be a datapoint value; saturating keeps encoding infallible
    // and the decoder then reports the record as truncated instead of misreading it.
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// A bounds-checked reader over one record.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    record: &'static str,
}

impl<'a> Reader<'a> {
    /// Starts reading and checks the version byte.
    fn new(bytes: &'a [u8], record: &'static str) -> Result<Reader<'a>, DecodeError> {
        let mut r = Reader {
            bytes,
            pos: 0,
            record,
        };
        let found = r.u8()?;
        if found != VERSION {
            return Err(DecodeError::Version { record, found });
        }
        Ok(r)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(DecodeError::Truncated {
                record: self.record,
                offset: self.pos,
            })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        let len = self.u32()?;
        usize::try_from(len).map_err(|_| DecodeError::Truncated {
            record: self.record,
            offset: self.pos,
        })
    }

    fn str(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let len = self.len()?;
        let bytes = self.take(len)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s),
            Err(_) => Err(DecodeError::Utf8 {
                record: self.record,
                field,
            }),
        }
    }

    fn flags(&mut self, known: u8) -> Result<u8, DecodeError> {
        let flags = self.u8()?;
        if flags & !known != 0 {
            return Err(DecodeError::Invalid {
                record: self.record,
                field: "flags",
                value: u64::from(flags),
            });
        }
        Ok(flags)
    }

    fn rest(&mut self) -> &'a [u8] {
        let s = &self.bytes[self.pos..];
        self.pos = self.bytes.len();
        s
    }

    fn end(self) -> Result<(), DecodeError> {
        match self.bytes.len() - self.pos {
            0 => Ok(()),
            extra => Err(DecodeError::Trailing {
                record: self.record,
                extra,
            }),
        }
    }
}

/// Encodes a `stamp`: a value and when it happened.
pub(crate) fn encode_stamp(value: &str, at_ms: i64) -> Vec<u8> {
    let mut buf = Vec::with_capacity(13 + value.len());
    buf.push(VERSION);
    buf.extend_from_slice(&at_ms.to_be_bytes());
    put_str(&mut buf, value);
    buf
}

/// Decodes a `stamp`.
pub(crate) fn decode_stamp(bytes: &[u8]) -> Result<(String, SystemTime), DecodeError> {
    let mut r = Reader::new(bytes, "connection stamp")?;
    let at = from_ms(r.i64()?);
    let value = r.str("value")?;
    r.end()?;
    Ok((value.to_owned(), at))
}

/// Encodes a `dead` record around the entry's `write` bytes.
pub(crate) fn encode_dead(at_ms: i64, reason: &str, record: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(13 + reason.len() + record.len());
    buf.push(VERSION);
    buf.extend_from_slice(&at_ms.to_be_bytes());
    put_str(&mut buf, reason);
    buf.extend_from_slice(record);
    buf
}

/// Decodes a `dead` record into (time, reason, write).
pub(crate) fn decode_dead(bytes: &[u8]) -> Result<(SystemTime, String, QueuedWrite), DecodeError> {
    let mut r = Reader::new(bytes, "dead letter")?;
    let at = from_ms(r.i64()?);
    let reason = r.str("reason")?;
    let (write, _) = decode_write(r.rest())?;
    Ok((at, reason.to_owned(), write))
}

/// Encodes a `u64` record.
pub(crate) fn encode_u64(n: u64) -> [u8; 9] {
    let mut out = [VERSION; 9];
    out[1..].copy_from_slice(&n.to_be_bytes());
    out
}

/// Decodes a `u64` record of the given kind.
pub(crate) fn decode_u64(bytes: &[u8], record: &'static str) -> Result<u64, DecodeError> {
    let mut r = Reader::new(bytes, record)?;
    let n = r.u64()?;
    r.end()?;
    Ok(n)
}

/// Encodes a `session` record.
pub(crate) fn encode_session(open: bool, floor: u64) -> [u8; 10] {
    let mut out = [VERSION; 10];
    out[1] = u8::from(open);
    out[2..].copy_from_slice(&floor.to_be_bytes());
    out
}

/// Decodes a `session` record into (open, floor).
pub(crate) fn decode_session(bytes: &[u8]) -> Result<(bool, u64), DecodeError> {
    let mut r = Reader::new(bytes, "session")?;
    let open = match r.u8()? {
        0 => false,
        1 => true,
        v => {
            return Err(DecodeError::Invalid {
                record: "session",
                field: "open",
                value: u64::from(v),
            });
        }
    };
    let floor = r.u64()?;
    r.end()?;
    Ok((open, floor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write() -> QueuedWrite {
        QueuedWrite {
            connection: "c1".to_owned(),
            target: "Net/LON/iLON App/Digital Output 1/nviClaValue_1".to_owned(),
            value: "100.0 1".to_owned(),
            lon_format: Some("UCPTvalueDef".to_owned()),
            priority: 7,
            enqueued_at: from_ms(1_207_678_493_599),
        }
    }

    #[test]
    fn write_round_trips_with_and_without_lon_format() {
        let mut buf = Vec::new();
        encode_write(&mut buf, &write(), true);
        assert_eq!(decode_write(&buf), Ok((write(), true)));
        let mut w = write();
        w.lon_format = None;
        w.enqueued_at = from_ms(-1500);
        let mut buf = Vec::new();
        encode_write(&mut buf, &w, false);
        assert_eq!(decode_write(&buf), Ok((w, false)));
    }

    #[test]
    fn truncated_write_is_rejected_at_every_length() {
        let mut buf = Vec::new();
        encode_write(&mut buf, &write(), false);
        for len in 0..buf.len() {
            assert!(
                matches!(
                    decode_write(&buf[..len]),
                    Err(DecodeError::Truncated {
                        record: "queued write",
                        ..
                    })
                ),
                "length {len}"
            );
        }
    }

    #[test]
    fn write_with_unknown_version_flags_or_bad_utf8_is_rejected() {
        let mut buf = Vec::new();
        encode_write(&mut buf, &write(), false);
        let mut v2 = buf.clone();
        v2[0] = 2;
        assert_eq!(
            decode_write(&v2),
            Err(DecodeError::Version {
                record: "queued write",
                found: 2
            })
        );
        let mut flags = buf.clone();
        flags[1] = 0x80;
        assert_eq!(
            decode_write(&flags),
            Err(DecodeError::Invalid {
                record: "queued write",
                field: "flags",
                value: 0x80
            })
        );
        let mut utf8 = buf.clone();
        utf8[1 + 1 + 1 + 8 + 4] = 0xFF; // first byte of the connection
        assert_eq!(
            decode_write(&utf8),
            Err(DecodeError::Utf8 {
                record: "queued write",
                field: "connection"
            })
        );
        let mut trailing = buf;
        trailing.push(0);
        assert_eq!(
            decode_write(&trailing),
            Err(DecodeError::Trailing {
                record: "queued write",
                extra: 1
            })
        );
    }

    #[test]
    fn chunk_round_trips_and_checks_its_count() {
        let mut rec = Vec::new();
        encode_write(&mut rec, &write(), false);
        let mut c = ChunkWriter::with_capacity(0);
        c.push(5, &rec);
        c.push(7, &rec);
        let bytes = c.finish();
        let mut chunk = Chunk::parse(&bytes).unwrap();
        assert_eq!(chunk.last_seq, 7);
        assert_eq!(chunk.next_entry(), Ok(Some((5, &rec[..]))));
        assert_eq!(chunk.next_entry(), Ok(Some((7, &rec[..]))));
        assert_eq!(chunk.next_entry(), Ok(None));

        let mut short = bytes.clone();
        short.truncate(bytes.len() - 3);
        let mut chunk = Chunk::parse(&short).unwrap();
        assert!(chunk.next_entry().unwrap().is_some());
        assert!(matches!(
            chunk.next_entry(),
            Err(DecodeError::Truncated {
                record: "queue chunk",
                ..
            })
        ));
    }

    #[test]
    fn host_record_round_trips_and_rejects_impossible_watermark() {
        let mut h = HostRecord::new(1);
        assert_eq!(HostRecord::decode(&h.encode()), Ok(h.clone()));
        h.last_success = Some(5);
        h.last_error = Some((-3, "recipient-unavailable".to_owned()));
        h.depth = 9;
        assert_eq!(HostRecord::decode(&h.encode()), Ok(h.clone()));
        h.acked_upto = h.next_seq;
        assert_eq!(
            HostRecord::decode(&h.encode()),
            Err(DecodeError::Invalid {
                record: "host",
                field: "acked_upto",
                value: 1
            })
        );
    }

    #[test]
    fn small_records_round_trip() {
        assert_eq!(
            decode_stamp(&encode_stamp("1.0 1", 42)),
            Ok(("1.0 1".to_owned(), from_ms(42)))
        );
        let mut rec = Vec::new();
        encode_write(&mut rec, &write(), true);
        assert_eq!(
            decode_dead(&encode_dead(9, "fault 6", &rec)),
            Ok((from_ms(9), "fault 6".to_owned(), write()))
        );
        assert_eq!(decode_u64(&encode_u64(u64::MAX), "epoch"), Ok(u64::MAX));
        assert_eq!(decode_session(&encode_session(true, 77)), Ok((true, 77)));
        let mut bad = encode_session(false, 1);
        bad[1] = 2;
        assert_eq!(
            decode_session(&bad),
            Err(DecodeError::Invalid {
                record: "session",
                field: "open",
                value: 2
            })
        );
    }

    #[test]
    fn times_convert_both_ways_including_before_1970() {
        for ms in [0, 1, -1, 1_207_678_493_599, -86_400_000] {
            assert_eq!(to_ms(from_ms(ms)), ms);
        }
    }
}
