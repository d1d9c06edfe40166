//! The receiver side: the highest seq applied per (sender, epoch) (SPEC §5 de-duplication).

use super::TREE_APPLIED;
use super::codec;
use super::error::StoreError;
use super::keys;
use super::open::Store;

impl Store {
    /// The highest seq applied from `sender` (a bare JID as stamped by the server) in its
    /// store epoch `epoch`; `None` if nothing was applied yet.
    pub fn applied_seq(&self, sender: &str, epoch: u64) -> Result<Option<u64>, StoreError> {
        let key = keys::applied(sender, epoch)?;
        let Some(bytes) = self
            .inner
            .applied()?
            .get(&key)
            .map_err(|source| StoreError::Sled {
                tree: TREE_APPLIED,
                action: format!("read the applied seq of {sender:?} epoch {epoch}"),
                source,
            })?
        else {
            return Ok(None);
        };
        codec::decode_u64(&bytes, "applied seq")
            .map(Some)
            .map_err(|source| StoreError::Corrupt {
                tree: TREE_APPLIED,
                key: format!("applied seq of {sender:?} epoch {epoch}"),
                source,
            })
    }

    /// Sets the highest seq applied from (`sender`, `epoch`). Not flushed: write the applied
    /// datapoint values first, then this, then [`commit`](Store::commit), so that a crash
    /// can re-apply a write (harmless) but never skip one.
    pub fn set_applied_seq(&self, sender: &str, epoch: u64, seq: u64) -> Result<(), StoreError> {
        let key = keys::applied(sender, epoch)?;
        self.inner
            .applied()?
            .insert(key, &codec::encode_u64(seq))
            .map(|_| ())
            .map_err(|source| StoreError::Sled {
                tree: TREE_APPLIED,
                action: format!("write the applied seq of {sender:?} epoch {epoch}"),
                source,
            })
    }
}

impl Store {
    /// TEMP stub.
    pub fn atomic(&self) {}
}
