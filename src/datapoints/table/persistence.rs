//! Persistence of written values in the sled tree [`TREE_NAME`]: staging or inserting a
//! written record, loading a persisted one at open, and flushing.
//!
//! Why separate: the Write rules decide what a point becomes; this is only how that reaches
//! disk (through the store when attached, so the store hears when sled fails).

use std::sync::PoisonError;

use tracing::{debug, warn};

use super::{Datapoint, TREE_NAME, Table, TableError, WriteFault};
use crate::datapoints::clock;
use crate::datapoints::record::Record;
use crate::store::FailureReporter;

impl Table {
    /// Flushes every write so far to disk (sled `flush`); returns the bytes written.
    /// Attached to a store, writes go through the store's buffer: use its `commit` instead.
    ///
    /// Writes only insert; callers group-commit with this before acknowledging (SPEC §6.1).
    /// Blocking: from async code, run it in `spawn_blocking`.
    pub fn flush(&self) -> Result<usize, TableError> {
        let Some(tree) = self.tree() else {
            return Err(TableError::Unavailable);
        };
        tree.flush().map_err(|source| TableError::Flush { source })
    }

    /// The sled tree, unless the store is failed.
    fn tree(&self) -> Option<sled::Tree> {
        self.inner
            .tree
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The store's reporter, if the table is attached to one.
    pub(super) fn reporter(&self) -> Option<FailureReporter> {
        self.inner
            .reporter
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn persist(
        &self,
        name: &str,
        record: &Record,
        reporter: Option<&FailureReporter>,
    ) -> Result<(), WriteFault> {
        let Some(tree) = self.tree() else {
            debug!(name, "store not writable; datapoint unchanged");
            return Err(WriteFault::command_failed(
                name,
                "the store is not writable (disk full or failing); the value is not recorded"
                    .to_owned(),
            ));
        };
        #[cfg(test)]
        if self
            .inner
            .fail_next_persist
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            let e = sled::Error::Io(std::io::Error::from_raw_os_error(28));
            return Err(self.refused(name, e));
        }
        match reporter {
            // Why: inserted into sled here, sled's background flusher could make the value
            // durable before the forwards the observer enqueued (issue 9).
            Some(store) => store.stage_value(name, record.encode()).map_err(|e| {
                warn!(name, error = %e, "cannot persist datapoint value; datapoint unchanged");
                WriteFault::command_failed(name, format!("cannot persist the value: {e}"))
            }),
            None => tree
                .insert(name.as_bytes(), record.encode())
                .map(|_| ())
                .map_err(|e| self.refused(name, e)),
        }
    }

    /// sled refused a write: it is failing, which the store must know at once.
    fn refused(&self, name: &str, e: sled::Error) -> WriteFault {
        warn!(name, error = %e, "cannot persist datapoint value; datapoint unchanged");
        let fault = WriteFault::command_failed(name, format!("cannot persist the value: {e}"));
        let reporter = self
            .inner
            .reporter
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = reporter.as_ref() {
            r.report(TREE_NAME, &format!("write datapoint {name:?}"), e);
        }
        fault
    }
}

/// Replaces `dp`'s value with the persisted one, if there is a usable one; returns whether it
/// did. Only a sled error is fatal; a bad record is logged and skipped.
pub(super) fn restore(tree: &sled::Tree, dp: &mut Datapoint) -> Result<bool, TableError> {
    let Some(bytes) = tree
        .get(dp.name.as_bytes())
        .map_err(|source| TableError::Load {
            name: dp.name.clone(),
            source,
        })?
    else {
        return Ok(false);
    };
    let record = match Record::decode(&bytes) {
        Ok(record) => record,
        Err(e) => {
            warn!(name = %dp.name, error = %e, "ignoring undecodable persisted value");
            return Ok(false);
        }
    };
    if record.type_name != dp.dp_type.name() {
        warn!(
            name = %dp.name,
            persisted = %record.type_name,
            configured = %dp.dp_type.name(),
            "ignoring persisted value of another type"
        );
        return Ok(false);
    }
    let value = match dp.dp_type.parse(&record.text) {
        Ok(value) => value,
        Err(e) => {
            warn!(name = %dp.name, error = %e, "ignoring persisted value that no longer parses");
            return Ok(false);
        }
    };
    dp.value = value;
    if let Some(at) = clock::from_unix_ms(record.unix_ms) {
        dp.last_update = at;
    }
    Ok(true)
}
