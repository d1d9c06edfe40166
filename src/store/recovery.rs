//! Failing safely and recovering from a failed commit (a full disk) without a restart.
//!
//! Why a re-open: once a write to disk fails, sled 0.34 keeps the error in its `Db` for good
//! (every later insert and flush returns it, even when space is back), while its in-memory
//! trees still hold what was never written. Only a new `Db` recovers, from what is on disk,
//! like after a crash. So when a commit fails the store:
//! 1. marks itself not writable (`Store::health` says why and since when); every operation
//!    then fails fast with [`StoreError::Unavailable`], and writes are refused;
//! 2. tells its users ([`StoreUser`], the datapoint table) to roll back what was not durable
//!    and to drop their sled handles;
//! 3. drops its own, then tries, every [`RECOVERY_INTERVAL`], to open the `Db` again with the
//!    opener given to [`Store::enable_recovery`] (this fails while any old handle is alive,
//!    thanks to sled's file lock, and while the disk is still full), reloads its state from
//!    disk as after a crash (seqs jump by the crash gap: writes that were sent but not
//!    durable keep their numbers), hands the new `Db` to its users and is writable again.
//!
//! Nothing that was not durable stays visible: the table rolls back, and queued writes that
//! were not flushed vanish with the old `Db` (none was acknowledged). What a peer already
//! received of them is the window every crash has (SPEC §6.5).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tracing::{error, info, warn};

use super::atomic::Atomic;
use super::error::StoreError;
use super::health::{Failure, describe};
use super::open::{Inner, Store};

#[cfg(test)]
mod tests;

/// How often a failed store tries to re-open.
pub const RECOVERY_INTERVAL: Duration = Duration::from_secs(1);

/// Bytes a re-open attempt first writes (and removes) next to the store, so that a full disk
/// costs a small file write per attempt, not a whole sled recovery.
pub const PROBE_BYTES: usize = 256 * 1024;

/// How to open the sled `Db` again: its directory (for the space probe) and the same
/// settings as at start.
pub(crate) struct Opener {
    dir: PathBuf,
    open: Box<dyn Fn() -> Result<sled::Db, sled::Error> + Send + Sync>,
}

/// Something else that keeps data in the store's sled `Db` (the datapoint table), told about
/// flushes, failures and re-opens so that it never shows what is not durable.
///
/// Called from the store's flush thread: keep the calls short, and never call back into the
/// store from them.
pub trait StoreUser: Send + Sync {
    /// A flush starts: everything written before this call is in it.
    fn flush_started(&self, generation: u64);
    /// That flush succeeded: what was written before it started is durable.
    fn flush_succeeded(&self, generation: u64);
    /// A flush failed: undo what is not durable, refuse writes, drop every sled handle.
    fn store_failed(&self);
    /// The `Db` was opened again: take new handles and reload from it.
    fn store_reopened(&self, db: &sled::Db) -> Result<(), ReloadError>;
    /// Called once by [`Store::attach`]: how to tell the store that sled failed for this user.
    fn attached(&self, reporter: FailureReporter) {
        let _ = reporter;
    }
}

/// Why a [`StoreUser`] could not reload from the re-opened `Db`: the user's own error type
/// (the datapoint table's), boxed because the store does not depend on its users.
pub type ReloadError = Box<dyn std::error::Error + Send + Sync>;

/// Lets a [`StoreUser`] report a sled error of its own (e.g. an insert refused because sled
/// failed in its background flush), so that the store fails (and `/health` says so) without
/// waiting for the next commit. Holds no strong reference to the store.
#[derive(Clone)]
pub struct FailureReporter {
    inner: Weak<Inner>,
}

impl FailureReporter {
    /// Hands a datapoint record (key = point name) to the store, which writes it with its
    /// next spill, atomically with the forwards enqueued before (`atomic.rs`): a value is
    /// never durable without them. Fails if the store is closed or not writable.
    pub fn stage_value(&self, name: &str, record: Vec<u8>) -> Result<(), StoreError> {
        let inner = self
            .inner
            .upgrade()
            .ok_or_else(|| StoreError::Unavailable {
                reason: "the store is closed".to_owned(),
            })?;
        Store { inner }.stage_value(name, record)
    }

    /// Opens an atomic section of the store (see [`Store::atomic`]); `None` if the store is
    /// closed. The table holds one across its observer and [`stage_value`](Self::stage_value),
    /// so that no spill separates a value from its forwards and their stamps.
    pub fn atomic(&self) -> Option<Atomic> {
        self.inner.upgrade().map(|inner| inner.atomic())
    }

    /// sled failed with `source` while the user was `action` on its `tree`. The store marks
    /// itself failed at once; the undo (which calls back into the users) runs on another
    /// thread, so this may be called under the user's own locks.
    pub fn report(&self, tree: &'static str, action: &str, source: sled::Error) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let cause = StoreError::Sled {
            tree,
            action: action.to_owned(),
            source,
        };
        if !inner.mark_failed(&cause) {
            return;
        }
        let undo = move || inner.undo_and_recover();
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(undo);
            }
            Err(_) => {
                if let Err(e) = std::thread::Builder::new()
                    .name("store-fail".to_owned())
                    .spawn(undo)
                {
                    warn!(error = %e, "cannot start the store's undo thread");
                }
            }
        }
    }
}

impl Store {
    /// Registers a user of the same `Db`; see [`StoreUser`].
    pub fn attach(&self, user: Arc<dyn StoreUser>) {
        user.attached(FailureReporter {
            inner: Arc::downgrade(&self.inner),
        });
        self.inner.users_mut().push(user);
    }

    /// Lets the store recover by itself after a failed commit, by opening its `Db` again with
    /// `open`. For that, nobody else may keep a handle (`Db` or `Tree`) of it: open the store
    /// and its users, then drop the `Db`.
    pub fn enable_recovery(
        &self,
        dir: impl Into<PathBuf>,
        open: impl Fn() -> Result<sled::Db, sled::Error> + Send + Sync + 'static,
    ) {
        *self.inner.opener() = Some(Opener {
            dir: dir.into(),
            open: Box::new(open),
        });
        if !self.is_writable() {
            spawn_recovery(&self.inner);
        }
    }
}

impl Inner {
    /// A commit failed with `cause`: stop writing, make users roll back, drop the `Db`'s
    /// handles and start recovering. Does nothing if the store is failed already.
    pub(crate) fn fail(self: &Arc<Inner>, cause: &StoreError) {
        if self.mark_failed(cause) {
            self.undo_and_recover();
        }
    }

    /// Records the failure (health shows it at once); false if the store was failed already.
    fn mark_failed(&self, cause: &StoreError) -> bool {
        {
            let mut condition = self.condition_mut();
            if condition.failure.is_some() {
                return false;
            }
            condition.failure = Some(Failure {
                error: describe(cause),
                since: SystemTime::now(),
            });
        }
        error!(
            error = %describe(cause),
            "store is not writable: writes are refused until it can be re-opened"
        );
        true
    }

    fn undo_and_recover(self: &Arc<Inner>) {
        for user in self.users().iter() {
            user.store_failed();
        }
        self.release();
        spawn_recovery(self);
    }

    /// One attempt to re-open; on success the store is writable again.
    fn try_recover(self: &Arc<Inner>) -> Result<(), StoreError> {
        let db = {
            let opener = self.opener();
            let Some(opener) = opener.as_ref() else {
                return Err(StoreError::Unavailable {
                    reason: "no way to re-open the store was given".to_owned(),
                });
            };
            probe_space(&opener.dir)?;
            (opener.open)().map_err(|source| StoreError::Reopen { source })?
        };
        let (trees, state) = self.reload(&db)?;
        for user in self.users().iter() {
            if let Err(e) = user.store_reopened(&db) {
                for user in self.users().iter() {
                    user.store_failed();
                }
                // The user's message alone, as it words it (its sources are not appended).
                return Err(StoreError::Unavailable {
                    reason: e.to_string(),
                });
            }
        }
        self.install(trees, state);
        let since = {
            let mut condition = self.condition_mut();
            condition.recoveries += 1;
            condition.failure.take().map(|f| f.since)
        };
        let down = since
            .and_then(|s| s.elapsed().ok())
            .map(|d| humantime::format_duration(super::stall::round(d)).to_string())
            .unwrap_or_default();
        info!(down = %down, "store re-opened: writable again");
        Ok(())
    }
}

/// Writes, fsyncs and removes [`PROBE_BYTES`] in `dir`: whether there is room to write again.
fn probe_space(dir: &Path) -> Result<(), StoreError> {
    let path = dir.join(".webbinder-space-probe");
    let written = std::fs::File::create(&path).and_then(|mut f| {
        f.write_all(&vec![0; PROBE_BYTES])?;
        f.sync_all()
    });
    let removed = std::fs::remove_file(&path);
    written
        .and(removed)
        .map_err(|source| StoreError::NoSpace { path, source })
}

/// Starts the recovery loop on the current tokio runtime, if there is one and an opener was
/// given (the CLI has neither: it reports the error and exits).
fn spawn_recovery(inner: &Arc<Inner>) {
    if inner.opener().is_none() {
        return;
    }
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(inner);
    handle.spawn(recover(weak));
}

async fn recover(weak: Weak<Inner>) {
    let mut attempts = 0_u64;
    loop {
        tokio::time::sleep(RECOVERY_INTERVAL).await;
        let Some(inner) = weak.upgrade() else { return };
        if inner.condition().failure.is_none() {
            return;
        }
        attempts += 1;
        let attempt = Arc::clone(&inner);
        drop(inner);
        match tokio::task::spawn_blocking(move || attempt.try_recover()).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => {
                // Why: once a minute is enough to show it is still trying.
                if attempts % 60 == 1 {
                    warn!(error = %describe(&e), attempts, "store cannot be re-opened yet");
                }
            }
            Err(e) => warn!(error = %e, "store re-open attempt did not run"),
        }
    }
}
