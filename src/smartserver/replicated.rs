//! A peer webbinder's Write (one carrying `<seq>`, SPEC §5): admitted by the receiver's rule
//! ([`Seq::admit`]), applied at most once per seq number, and answered compactly (only the
//! faulted items, [`CompactWriteResponse`]).

use std::time::SystemTime;

use tracing::{debug, warn};

use super::budget::{ENVELOPE_BYTES, FAULT_ITEM_BYTES, escaped_len};
use super::{Service, item_fault};
use crate::datapoints::UpdateSource;
use crate::soap::{Admission, CompactWriteResponse, ItemFault, Seq, SeqGap, SoapFault, WriteItem};
use crate::store::Store;

impl Service {
    /// Items are numbered `seq.first + i`. A batch whose `prev` was not applied yet is refused
    /// whole (a `Server` fault with a typed `<gap>`); otherwise those at or below the highest
    /// number applied for this sender and epoch were applied before and are only answered,
    /// the rest are applied and the new highest number recorded with them, in one atomic
    /// section of the store (made durable by the caller's commit before answering). Returns
    /// the answer and whether it must wait for the store's commit (always, once admitted).
    pub(super) fn replicated_write(
        &self,
        store: &Store,
        seq: Seq,
        items: &[WriteItem],
        from: &str,
        now: SystemTime,
    ) -> Result<(CompactWriteResponse, bool), SoapFault> {
        let sender = from.split('/').next().unwrap_or(from);
        let refuse = |what: &str, e: &dyn std::fmt::Display| {
            warn!(%sender, error = %e, "replicated write refused for now: cannot {what}");
            SoapFault::server(format!("cannot {what} of {sender}: {e}"), None)
        };
        // The values, the forwards they enqueue and the applied seq reach disk together or
        // not at all (issue 9): no spill cuts the batch.
        let _atomic = store.atomic();
        let before = store
            .applied_seq(sender, seq.epoch)
            .map_err(|e| refuse("read the applied seq", &e))?;
        let (skip, applied) = match seq.admit(before, items.len()) {
            Admission::Apply { skip, applied } => (skip, applied),
            Admission::Gap { applied, prev } => {
                debug!(%sender, epoch = seq.epoch, applied, prev, "batch after a gap refused");
                return Err(SoapFault::gap(
                    format!(
                        "seq gap: applied {applied} from {sender} epoch {}, this batch follows {prev}",
                        seq.epoch
                    ),
                    SeqGap { applied, prev },
                ));
            }
        };
        let source = UpdateSource::Replication {
            from: sender.to_owned(),
        };
        let mut faults = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let n = seq.first.saturating_add(i as u64);
            let fault = if i < skip {
                debug!(%sender, seq = n, "duplicate skipped");
                // Answered as the first time, as far as the table still tells.
                match self.table.read(&item.name) {
                    Some(_) => None,
                    None => Some(ItemFault::unknown_name(&item.name)),
                }
            } else {
                self.write_item(item, &source, now).err().map(item_fault)
            };
            if let Some(f) = fault {
                faults.push((n, f));
            }
        }
        if before != Some(applied) {
            store
                .set_applied_seq(sender, seq.epoch, applied)
                .map_err(|e| refuse("record the applied seq", &e))?;
        }
        // Even a batch of duplicates waits for the commit: its answer vouches for an earlier
        // apply that may not be durable yet (a resend racing its first delivery's commit).
        Ok((CompactWriteResponse { seq, faults }, true))
    }
}

/// An upper bound of the compact Write answer's size, known before anything is applied and
/// without reading the table: every item faulted (its name plus [`FAULT_ITEM_BYTES`], which
/// leaves room for its `wb:seq`), plus [`ENVELOPE_BYTES`] (which holds the echoed `<seq>`).
/// Never above the full answer's bound, which the sender's batch sizing assumes.
pub(super) fn compact_answer_bound(items: &[WriteItem]) -> usize {
    items
        .iter()
        .map(|item| escaped_len(&item.name).saturating_add(FAULT_ITEM_BYTES))
        .fold(ENVELOPE_BYTES, usize::saturating_add)
}
