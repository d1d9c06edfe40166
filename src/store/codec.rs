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

/// The layout version written by this build for every record kind.
pub(crate) const VERSION: u8 = 1;

const WRITE_HAS_LON_FORMAT: u8 = 0b01;
const WRITE_COALESCED: u8 = 0b10;
const HOST_HAS_SUCCESS: u8 = 0b01;
const HOST_HAS_ERROR: u8 = 0b10;

/// Bytes before the first entry of a chunk.
const CHUNK_HEADER: usize = 1 + 4 + 8;

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

/// Builds a `chunk` from entries in ascending seq order.
pub(crate) struct ChunkWriter {
    buf: Vec<u8>,
    count: u32,
    last: u64,
}

impl ChunkWriter {
    /// An empty chunk with room for about `bytes` of entries.
    pub(crate) fn with_capacity(bytes: usize) -> ChunkWriter {
        let mut buf = Vec::with_capacity(CHUNK_HEADER + bytes);
        buf.push(VERSION);
        buf.extend_from_slice(&[0; CHUNK_HEADER - 1]);
        ChunkWriter {
            buf,
            count: 0,
            last: 0,
        }
    }

    /// Appends an entry whose `write` encoding is `record`; seqs must ascend.
    pub(crate) fn push(&mut self, seq: u64, record: &[u8]) {
        self.buf.extend_from_slice(&seq.to_be_bytes());
        put_len(&mut self.buf, record.len());
        self.buf.extend_from_slice(record);
        self.count = self.count.saturating_add(1);
        self.last = seq;
    }

    /// The finished chunk bytes.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.buf[1..5].copy_from_slice(&self.count.to_be_bytes());
        self.buf[5..CHUNK_HEADER].copy_from_slice(&self.last.to_be_bytes());
        self.buf
    }
}

fn put_len(buf: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_be_bytes());
}

/// A decoded chunk header plus an iterator over its entries (no allocation per entry).
pub(crate) struct Chunk<'a> {
    /// The highest seq in the chunk.
    pub(crate) last_seq: u64,
    count: u32,
    reader: Reader<'a>,
}

impl<'a> Chunk<'a> {
    /// Reads a chunk header.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Chunk<'a>, DecodeError> {
        let mut reader = Reader::new(bytes, "queue chunk")?;
        let count = reader.u32()?;
        let last_seq = reader.u64()?;
        Ok(Chunk {
            last_seq,
            count,
            reader,
        })
    }

    /// The next `(seq, write record bytes)`, `None` after the last entry; checks that the
    /// entry count matches the bytes and that seqs ascend up to `last_seq`.
    pub(crate) fn next_entry(&mut self) -> Result<Option<(u64, &'a [u8])>, DecodeError> {
        if self.count == 0 {
            return match self.reader.bytes.len() - self.reader.pos {
                0 => Ok(None),
                extra => Err(DecodeError::Trailing {
                    record: self.reader.record,
                    extra,
                }),
            };
        }
        self.count -= 1;
        let seq = self.reader.u64()?;
        if seq > self.last_seq {
            return Err(DecodeError::Invalid {
                record: "queue chunk",
                field: "seq",
                value: seq,
            });
        }
        let len = self.reader.len()?;
        Ok(Some((seq, self.reader.take(len)?)))
    }
}

/// The persisted counters of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostRecord {
    /// The seq the next enqueue gets.
    pub(crate) next_seq: u64,
    /// Entries queued (enqueued, not yet acknowledged, dead-lettered, coalesced or purged).
    pub(crate) depth: u64,
    /// Every entry with a seq at or below this is gone, even if its chunk is still stored.
    pub(crate) acked_upto: u64,
    /// Entries acknowledged by the peer.
    pub(crate) delivered: u64,
    /// Entries moved to the dead-letter list.
    pub(crate) failed: u64,
    /// Time of the last acknowledgement, Unix ms.
    pub(crate) last_success: Option<i64>,
    /// Time (Unix ms) and text of the last error.
    pub(crate) last_error: Option<(i64, String)>,
}

impl HostRecord {
    /// The counters of a host never seen before; seqs start at `first_seq` (at least 1, so
    /// that 0 can mean "nothing applied" at a receiver).
    pub(crate) fn new(first_seq: u64) -> HostRecord {
        HostRecord {
            next_seq: first_seq.max(1),
            depth: 0,
            acked_upto: first_seq.max(1) - 1,
            delivered: 0,
            failed: 0,
            last_success: None,
            last_error: None,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(64);
        buf.push(VERSION);
        for n in [
            self.next_seq,
            self.depth,
            self.acked_upto,
            self.delivered,
            self.failed,
        ] {
            buf.extend_from_slice(&n.to_be_bytes());
        }
        let mut flags = 0;
        if self.last_success.is_some() {
            flags |= HOST_HAS_SUCCESS;
        }
        if self.last_error.is_some() {
            flags |= HOST_HAS_ERROR;
        }
        buf.push(flags);
        if let Some(t) = self.last_success {
            buf.extend_from_slice(&t.to_be_bytes());
        }
        if let Some((t, msg)) = &self.last_error {
            buf.extend_from_slice(&t.to_be_bytes());
            put_str(&mut buf, msg);
        }
        buf
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<HostRecord, DecodeError> {
        let mut r = Reader::new(bytes, "host")?;
        let next_seq = r.u64()?;
        let depth = r.u64()?;
        let acked_upto = r.u64()?;
        let delivered = r.u64()?;
        let failed = r.u64()?;
        let flags = r.flags(HOST_HAS_SUCCESS | HOST_HAS_ERROR)?;
        let last_success = if flags & HOST_HAS_SUCCESS != 0 {
            Some(r.i64()?)
        } else {
            None
        };
        let last_error = if flags & HOST_HAS_ERROR != 0 {
            Some((r.i64()?, r.str("last_error")?.to_owned()))
        } else {
            None
        };
        r.end()?;
        if acked_upto >= next_seq {
            return Err(DecodeError::Invalid {
                record: "host",
                field: "acked_upto",
                value: acked_upto,
            });
        }
        Ok(HostRecord {
            next_seq,
            depth,
            acked_upto,
            delivered,
            failed,
            last_success,
            last_error,
        })
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
