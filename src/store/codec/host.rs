//! The `host` record: the persisted counters of one host, with their own invariant check
//! (`acked_upto < next_seq`) on decoding.

use super::{DecodeError, Reader, VERSION, put_str};

const HOST_HAS_SUCCESS: u8 = 0b01;
const HOST_HAS_ERROR: u8 = 0b10;

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
