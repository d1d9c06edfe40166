//! The `chunk` record, the value of a `Q` key: several consecutive queued writes of one host,
//! built and walked entry by entry without decoding the writes.

use super::{DecodeError, Reader, VERSION};

/// Bytes before the first entry of a chunk.
const CHUNK_HEADER: usize = 1 + 4 + 8;

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
