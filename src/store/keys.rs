//! Key layout of the store's sled trees (pure: no sled here).
//!
//! Tree [`TREE_QUEUE`](super::TREE_QUEUE), one tag byte first so that every kind of record has
//! its own key range:
//!
//! | key | value (`codec.rs`) |
//! |---|---|
//! | `0x00 "epoch"` | the store's epoch |
//! | `0x00 "session"` | whether the last process closed the store cleanly |
//! | `'H' host` | the host's counters ([`HostRecord`](super::codec::HostRecord)) |
//! | `'Q' len16 host seq64` | a chunk of queued writes whose first seq is `seq` |
//! | `'D' len16 host seq64` | a dead letter |
//! | `'L' len16 host target` | seq of the queued "latest" write for (host, target) |
//! | `'S' host` | the host's stuck mark (`purge.rs`) |
//! | `'P' host` | how many of the host's writes were purged |
//! | `'E' connection` | the connection's last enqueued value |
//! | `'A' connection` | the connection's last acknowledged value |
//!
//! Tree [`TREE_APPLIED`](super::TREE_APPLIED): `len16 sender epoch64` -> highest applied seq.
//!
//! Why: integers are big-endian so that sled's byte order is numeric order (FIFO for chunks);
//! host names are length-prefixed (`len16`, big-endian u16) so that any host string, even one
//! containing NUL, gives an unambiguous prefix. Keys that end with a free-form string (`H`,
//! `L`, `E`, `A`) need no length because nothing follows the string.

use super::error::StoreError;

/// Key of the store's epoch.
pub(crate) const EPOCH_KEY: &[u8] = b"\x00epoch";
/// Key of the clean-shutdown marker.
pub(crate) const SESSION_KEY: &[u8] = b"\x00session";

const TAG_HOST: u8 = b'H';
const TAG_CHUNK: u8 = b'Q';
const TAG_DEAD: u8 = b'D';
const TAG_LATEST: u8 = b'L';
const TAG_ENQUEUED: u8 = b'E';
const TAG_ACKED: u8 = b'A';
const TAG_STUCK: u8 = b'S';
const TAG_PURGED: u8 = b'P';

/// Prefix of every host record key.
pub(crate) const HOST_PREFIX: &[u8] = &[TAG_HOST];
/// Prefix of every dead-letter key.
pub(crate) const DEAD_PREFIX: &[u8] = &[TAG_DEAD];
/// Prefix of every "last enqueued" connection key.
pub(crate) const ENQUEUED_PREFIX: &[u8] = &[TAG_ENQUEUED];
/// Prefix of every "last acknowledged" connection key.
pub(crate) const ACKED_PREFIX: &[u8] = &[TAG_ACKED];

/// The keys of one host, built once from a validated host name.
#[derive(Debug, Clone)]
pub(crate) struct HostKeys {
    /// `len16 host`, the part shared by the host's chunk, dead-letter and index keys.
    scoped: Vec<u8>,
    host: String,
}

impl HostKeys {
    /// Validates the host name's length (it must fit the 16-bit prefix).
    pub(crate) fn new(host: &str) -> Result<HostKeys, StoreError> {
        let len = u16::try_from(host.len()).map_err(|_| StoreError::NameTooLong {
            kind: "host",
            len: host.len(),
            max: usize::from(u16::MAX),
        })?;
        let mut scoped = Vec::with_capacity(2 + host.len());
        scoped.extend_from_slice(&len.to_be_bytes());
        scoped.extend_from_slice(host.as_bytes());
        Ok(HostKeys {
            scoped,
            host: host.to_owned(),
        })
    }

    /// The host name.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    fn tagged(&self, tag: u8, extra: &[u8]) -> Vec<u8> {
        let mut key = Vec::with_capacity(1 + self.scoped.len() + extra.len());
        key.push(tag);
        key.extend_from_slice(&self.scoped);
        key.extend_from_slice(extra);
        key
    }

    /// Key of the host's counters.
    pub(crate) fn record(&self) -> Vec<u8> {
        let mut key = Vec::with_capacity(1 + self.host.len());
        key.push(TAG_HOST);
        key.extend_from_slice(self.host.as_bytes());
        key
    }

    /// Key of the host's stuck mark.
    pub(crate) fn stuck(&self) -> Vec<u8> {
        tagged_str(TAG_STUCK, &self.host)
    }

    /// Key of the host's purged-writes counter.
    pub(crate) fn purged(&self) -> Vec<u8> {
        tagged_str(TAG_PURGED, &self.host)
    }

    /// Key of the chunk whose first entry has `seq`.
    pub(crate) fn chunk(&self, seq: u64) -> Vec<u8> {
        self.tagged(TAG_CHUNK, &seq.to_be_bytes())
    }

    /// Prefix shared by all of the host's chunk keys.
    pub(crate) fn chunk_prefix(&self) -> Vec<u8> {
        self.tagged(TAG_CHUNK, &[])
    }

    /// Key of the dead letter of the host's entry `seq`.
    pub(crate) fn dead(&self, seq: u64) -> Vec<u8> {
        self.tagged(TAG_DEAD, &seq.to_be_bytes())
    }

    /// Key of the coalescing index entry of (host, target).
    pub(crate) fn latest(&self, target: &str) -> Vec<u8> {
        self.tagged(TAG_LATEST, target.as_bytes())
    }

    /// Prefix shared by all of the host's coalescing index keys.
    pub(crate) fn latest_prefix(&self) -> Vec<u8> {
        self.tagged(TAG_LATEST, &[])
    }
}

/// Key of a connection's "last enqueued" record.
pub(crate) fn enqueued(connection: &str) -> Vec<u8> {
    tagged_str(TAG_ENQUEUED, connection)
}

/// Key of a connection's "last acknowledged" record.
pub(crate) fn acked(connection: &str) -> Vec<u8> {
    tagged_str(TAG_ACKED, connection)
}

fn tagged_str(tag: u8, s: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + s.len());
    key.push(tag);
    key.extend_from_slice(s.as_bytes());
    key
}

/// The seq at the end of a chunk or dead-letter key whose prefix is `offset` bytes long.
pub(crate) fn seq_at(key: &[u8], offset: usize) -> Option<u64> {
    let bytes: [u8; 8] = key.get(offset..)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// Splits a `tag len16 host seq64` key (chunk or dead letter) into host and seq.
pub(crate) fn split_scoped_seq(key: &[u8]) -> Option<(&[u8], u64)> {
    let len = usize::from(u16::from_be_bytes(key.get(1..3)?.try_into().ok()?));
    let host = key.get(3..3 + len)?;
    Some((host, seq_at(key, 3 + len)?))
}

/// The free-form string after the tag byte of an `H`, `E` or `A` key.
pub(crate) fn tail(key: &[u8]) -> &[u8] {
    key.get(1..).unwrap_or_default()
}

/// Key of the highest applied seq of (sender, epoch) in the applied tree.
pub(crate) fn applied(sender: &str, epoch: u64) -> Result<Vec<u8>, StoreError> {
    let len = u16::try_from(sender.len()).map_err(|_| StoreError::NameTooLong {
        kind: "sender",
        len: sender.len(),
        max: usize::from(u16::MAX),
    })?;
    let mut key = Vec::with_capacity(2 + sender.len() + 8);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(sender.as_bytes());
    key.extend_from_slice(&epoch.to_be_bytes());
    Ok(key)
}

/// A human-readable name of a key of the queue tree, for error messages.
pub(crate) fn describe(key: &[u8]) -> String {
    let text = |b: &[u8]| format!("{:?}", String::from_utf8_lossy(b));
    match key.first() {
        Some(&TAG_HOST) => format!("counters of host {}", text(tail(key))),
        Some(&TAG_ENQUEUED) => format!("last enqueued value of connection {}", text(tail(key))),
        Some(&TAG_ACKED) => format!("last acknowledged value of connection {}", text(tail(key))),
        Some(&TAG_STUCK) => format!("stuck mark of host {}", text(tail(key))),
        Some(&TAG_PURGED) => format!("purged count of host {}", text(tail(key))),
        Some(&TAG_CHUNK) | Some(&TAG_DEAD) => match split_scoped_seq(key) {
            Some((host, seq)) if key[0] == TAG_CHUNK => {
                format!("queue chunk of host {} from seq {seq}", text(host))
            }
            Some((host, seq)) => format!("dead letter of host {} seq {seq}", text(host)),
            None => format!("malformed key {key:02x?}"),
        },
        Some(&TAG_LATEST) => {
            let len = key
                .get(1..3)
                .and_then(|b| b.try_into().ok())
                .map(|b| usize::from(u16::from_be_bytes(b)));
            match len.and_then(|len| Some((key.get(3..3 + len)?, key.get(3 + len..)?))) {
                Some((host, target)) => format!(
                    "latest-value index of host {} target {}",
                    text(host),
                    text(target)
                ),
                None => format!("malformed key {key:02x?}"),
            }
        }
        Some(0) => format!("store metadata {}", text(tail(key))),
        _ => format!("unknown key {key:02x?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_keys_sort_by_host_then_seq() {
        let a = HostKeys::new("site-a").unwrap();
        let b = HostKeys::new("site-b").unwrap();
        assert!(a.chunk(u64::MAX) < b.chunk(0));
        assert!(a.chunk(255) < a.chunk(256));
        assert_eq!(split_scoped_seq(&a.chunk(7)), Some((&b"site-a"[..], 7u64)));
        assert_eq!(split_scoped_seq(&a.dead(9)), Some((&b"site-a"[..], 9u64)));
    }

    #[test]
    fn host_prefix_is_unambiguous_even_with_nul_bytes() {
        let a = HostKeys::new("a").unwrap();
        let ab = HostKeys::new("a\0b").unwrap();
        assert!(!ab.chunk(1).starts_with(&a.chunk_prefix()));
        assert!(!a.chunk(1).starts_with(&ab.chunk_prefix()));
    }

    #[test]
    fn keys_describe_themselves() {
        let k = HostKeys::new("site-b").unwrap();
        assert_eq!(
            describe(&k.chunk(3)),
            "queue chunk of host \"site-b\" from seq 3"
        );
        assert_eq!(describe(&k.dead(4)), "dead letter of host \"site-b\" seq 4");
        assert_eq!(
            describe(&k.latest("T")),
            "latest-value index of host \"site-b\" target \"T\""
        );
        assert_eq!(describe(&k.record()), "counters of host \"site-b\"");
        assert_eq!(describe(&k.stuck()), "stuck mark of host \"site-b\"");
        assert_eq!(describe(&k.purged()), "purged count of host \"site-b\"");
        assert_eq!(
            describe(&enqueued("c1")),
            "last enqueued value of connection \"c1\""
        );
    }

    #[test]
    fn overlong_host_is_rejected() {
        let long = "x".repeat(70_000);
        assert!(matches!(
            HostKeys::new(&long),
            Err(StoreError::NameTooLong {
                kind: "host",
                len: 70_000,
                ..
            })
        ));
    }
}
