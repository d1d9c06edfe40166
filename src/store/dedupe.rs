//! The receiver side: the highest seq applied per (sender, epoch) (SPEC §5 de-duplication).

use super::TREE_APPLIED;
use super::atomic::Side;
use super::codec;
use super::error::StoreError;
use super::keys;
use super::open::Store;

impl Store {
    /// The highest seq applied from `sender` (a bare JID as stamped by the server) in its
    /// store epoch `epoch`; `None` if nothing was applied yet.
    pub fn applied_seq(&self, sender: &str, epoch: u64) -> Result<Option<u64>, StoreError> {
        let key = keys::applied(sender, epoch)?;
        let applied = self.inner.applied()?;
        let st = self.inner.lock();
        let stored;
        let bytes = match st.staged(Side::Applied, &key) {
            Some(bytes) => bytes,
            None => {
                let Some(b) = applied.get(&key).map_err(|source| StoreError::Sled {
                    tree: TREE_APPLIED,
                    action: format!("read the applied seq of {sender:?} epoch {epoch}"),
                    source,
                })?
                else {
                    return Ok(None);
                };
                stored = b;
                &stored[..]
            }
        };
        codec::decode_u64(bytes, "applied seq")
            .map(Some)
            .map_err(|source| StoreError::Corrupt {
                tree: TREE_APPLIED,
                key: format!("applied seq of {sender:?} epoch {epoch}"),
                source,
            })
    }

    /// Sets the highest seq applied from (`sender`, `epoch`), staged in the store's buffer:
    /// it reaches sled in the same atomic spill as the values and forwards of the batch
    /// (apply the batch and call this in one [`atomic`](Store::atomic) section), and is
    /// durable after the next [`commit`](Store::commit). So a crash keeps the batch's
    /// effects whole or drops them whole: A's resend is then skipped or applied, never
    /// split (issue 9).
    pub fn set_applied_seq(&self, sender: &str, epoch: u64, seq: u64) -> Result<(), StoreError> {
        let key = keys::applied(sender, epoch)?;
        self.inner.applied()?;
        self.inner
            .lock()
            .stage(Side::Applied, key, codec::encode_u64(seq).to_vec());
        Ok(())
    }

    /// Stages a datapoint record (the table's tree, key = point name) for the next spill, so
    /// that it is never durable without the forwards enqueued before it (`atomic.rs`).
    pub(crate) fn stage_value(&self, name: &str, record: Vec<u8>) -> Result<(), StoreError> {
        self.inner.trees()?;
        self.inner
            .lock()
            .stage(Side::Values, name.as_bytes().to_vec(), record);
        Ok(())
    }
}
