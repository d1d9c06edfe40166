//! Opening and closing the store: trees, epoch, and the clean-shutdown marker.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use tracing::{info, warn};

use super::atomic::Gate;
use super::codec::{self, HostRecord};
use super::commit::Commits;
use super::error::StoreError;
use super::health::{Condition, Stalls};
use super::keys::{self, EPOCH_KEY, SESSION_KEY};
use super::recovery::{Opener, StoreUser};
use super::state::State;
use super::{TREE_APPLIED, TREE_QUEUE, TREE_VALUES};

/// Seq numbers skipped for every host when the previous process did not close the store.
///
/// Why: the delivery task may send a write before the commit that makes it durable. If the
/// process then dies, sled may lose the write and the counter that numbered it, and without
/// this gap the next process would give the same number to another write, which a receiving
/// webbinder would then skip as a duplicate (SPEC §5). No process hands out 2^24 seqs between
/// two of sled's background flushes (every 500 ms by default), and 2^64 / 2^24 leaves room
/// for 2^40 crashes.
pub const SEQ_GAP_AFTER_CRASH: u64 = 1 << 24;

/// The durable replication store: per-host queues of outgoing writes, their counters, the
/// per-connection bookkeeping, the dead-letter list and the receiver's de-duplication table.
///
/// A cheap handle (an `Arc` inside); clones share one store. Open it once per sled `Db` and
/// clone it: two `Store`s opened on the same `Db` would keep separate counters.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("epoch", &self.inner.epoch)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    /// The sled handles; `None` while the store is failed (see `recovery.rs`).
    trees: RwLock<Option<Trees>>,
    pub(crate) epoch: u64,
    pub(crate) state: Mutex<State>,
    pub(crate) commits: Commits,
    /// Keeps spills out of open atomic sections (`atomic.rs`).
    pub(crate) gate: Gate,
    pub(crate) stalls: Stalls,
    condition: Mutex<Condition>,
    users: Mutex<Vec<Arc<dyn StoreUser>>>,
    opener: Mutex<Option<Opener>>,
    /// Test hook: skip the clean close on drop, as if the process had been killed.
    #[cfg(test)]
    pub(crate) crashed: std::sync::atomic::AtomicBool,
    /// Test hook: the next flush fails as on a full disk.
    #[cfg(test)]
    pub(crate) fail_next_flush: std::sync::atomic::AtomicBool,
    /// Test hook: every flush first sleeps this many milliseconds (a stall).
    #[cfg(test)]
    pub(crate) flush_delay_ms: std::sync::atomic::AtomicU64,
}

/// The store's sled trees (cheap handles), and the datapoint table's, which the store
/// writes staged values to (`atomic.rs`).
#[derive(Clone)]
pub(crate) struct Trees {
    pub(crate) tree: sled::Tree,
    pub(crate) applied: sled::Tree,
    pub(crate) values: sled::Tree,
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    /// Locks the in-memory state. A panic elsewhere while it was held does not make the store
    /// unusable: the state is only changed after sled accepted the matching batch.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        relock(&self.state)
    }

    /// The queue tree, or why the store cannot be used now.
    pub(crate) fn tree(&self) -> Result<sled::Tree, StoreError> {
        self.trees().map(|t| t.tree)
    }

    /// The de-duplication tree, or why the store cannot be used now.
    pub(crate) fn applied(&self) -> Result<sled::Tree, StoreError> {
        self.trees().map(|t| t.applied)
    }

    pub(crate) fn trees(&self) -> Result<Trees, StoreError> {
        let trees = self.trees.read().unwrap_or_else(PoisonError::into_inner);
        match trees.as_ref() {
            Some(t) => Ok(t.clone()),
            None => Err(StoreError::Unavailable {
                reason: self.condition().failure.map_or_else(
                    || "the store is closed".to_owned(),
                    |f| {
                        format!(
                            "since {}: {}",
                            humantime::format_rfc3339_seconds(f.since),
                            f.error
                        )
                    },
                ),
            }),
        }
    }

    /// Drops the sled handles (the store fails every operation until [`Inner::install`]).
    pub(crate) fn release(&self) {
        let old = self
            .trees
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(old);
    }

    /// Takes new sled handles and the state loaded with them.
    pub(crate) fn install(&self, trees: Trees, state: State) {
        *self.lock() = state;
        *self.trees.write().unwrap_or_else(PoisonError::into_inner) = Some(trees);
    }

    /// Loads the store from a re-opened `db` (as after a crash), checking it is the same one.
    pub(crate) fn reload(&self, db: &sled::Db) -> Result<(Trees, State), StoreError> {
        let loaded = load(db)?;
        if loaded.epoch != self.epoch {
            return Err(StoreError::Unavailable {
                reason: format!(
                    "the re-opened store has epoch {}, not {}: it is another store",
                    loaded.epoch, self.epoch
                ),
            });
        }
        Ok((loaded.trees, loaded.state))
    }

    pub(crate) fn condition(&self) -> Condition {
        let c = relock(&self.condition);
        Condition {
            failure: c.failure.clone(),
            recoveries: c.recoveries,
        }
    }

    pub(crate) fn condition_mut(&self) -> MutexGuard<'_, Condition> {
        relock(&self.condition)
    }

    pub(crate) fn users(&self) -> Vec<Arc<dyn StoreUser>> {
        relock(&self.users).clone()
    }

    pub(crate) fn users_mut(&self) -> MutexGuard<'_, Vec<Arc<dyn StoreUser>>> {
        relock(&self.users)
    }

    pub(crate) fn opener(&self) -> MutexGuard<'_, Option<Opener>> {
        relock(&self.opener)
    }

    /// Writes the buffer to sled and fsyncs.
    pub(crate) fn spill_and_flush(&self) -> Result<(), StoreError> {
        let trees = self.trees()?;
        #[cfg(test)]
        std::thread::sleep(std::time::Duration::from_millis(
            self.flush_delay_ms
                .load(std::sync::atomic::Ordering::SeqCst),
        ));
        #[cfg(test)]
        if self
            .fail_next_flush
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(StoreError::Flush {
                source: sled::Error::Io(std::io::Error::from_raw_os_error(28)),
            });
        }
        {
            let _quiet = self.gate.quiet();
            self.lock().spill(&trees)?;
        }
        trees
            .tree
            .flush()
            .map(|_| ())
            .map_err(|source| StoreError::Flush { source })
    }
}

impl Drop for Inner {
    /// Closes cleanly: writes the buffer, marks the session closed and flushes.
    fn drop(&mut self) {
        self.stalls.wake.notify_one();
        #[cfg(test)]
        if self.crashed.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let Some(trees) = self
            .trees
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Err(error) = state.spill(&trees) {
            warn!(%error, "cannot write buffered queue entries while closing the store");
            return;
        }
        let closed = codec::encode_session(false, state.floor);
        let tree = trees.tree;
        if let Err(error) = tree.insert(SESSION_KEY, &closed) {
            warn!(%error, "cannot mark the store closed");
            return;
        }
        if let Err(error) = tree.flush() {
            warn!(%error, "cannot flush the store while closing it");
        }
    }
}

fn open_tree(db: &sled::Db, tree: &'static str) -> Result<sled::Tree, StoreError> {
    db.open_tree(tree)
        .map_err(|source| StoreError::OpenTree { tree, source })
}

fn sled_err(action: &str) -> impl FnOnce(sled::Error) -> StoreError + '_ {
    move |source| StoreError::Sled {
        tree: TREE_QUEUE,
        action: action.to_owned(),
        source,
    }
}

fn corrupt(key: &[u8]) -> impl FnOnce(codec::DecodeError) -> StoreError + '_ {
    move |source| StoreError::Corrupt {
        tree: TREE_QUEUE,
        key: keys::describe(key),
        source,
    }
}

impl Store {
    /// Opens the store's trees ([`TREE_QUEUE`], [`TREE_APPLIED`]) in `db`, creating the epoch
    /// on first use, and fsyncs once.
    ///
    /// If the previous process did not close the store (crash, SIGKILL), every host's next
    /// seq jumps by [`SEQ_GAP_AFTER_CRASH`] so that no seq that might have been sent is reused.
    pub fn open(db: &sled::Db) -> Result<Store, StoreError> {
        let Loaded {
            trees,
            epoch,
            state,
        } = load(db)?;
        Ok(Store {
            inner: Arc::new(Inner {
                trees: RwLock::new(Some(trees)),
                epoch,
                state: Mutex::new(state),
                commits: Commits::new(),
                gate: Gate::default(),
                stalls: Stalls::default(),
                condition: Mutex::new(Condition::default()),
                users: Mutex::new(Vec::new()),
                opener: Mutex::new(None),
                #[cfg(test)]
                crashed: std::sync::atomic::AtomicBool::new(false),
                #[cfg(test)]
                fail_next_flush: std::sync::atomic::AtomicBool::new(false),
                #[cfg(test)]
                flush_delay_ms: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// The store's epoch: a random non-zero number created with the store and stable across
    /// reopen; a receiver keys its de-duplication by it (SPEC §5 `seq epoch`).
    pub fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    /// Test hook: makes dropping this store behave like a killed process (no clean close).
    #[cfg(test)]
    pub(crate) fn simulate_crash(self) {
        self.inner
            .crashed
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// What [`load`] read from a `Db`.
struct Loaded {
    trees: Trees,
    epoch: u64,
    state: State,
}

/// Opens the trees, reads or creates the epoch, handles an unclean shutdown, marks the session
/// open and fsyncs (so a full disk shows here, not at the first commit).
fn load(db: &sled::Db) -> Result<Loaded, StoreError> {
    let tree = open_tree(db, TREE_QUEUE)?;
    let applied = open_tree(db, TREE_APPLIED)?;
    let values = open_tree(db, TREE_VALUES)?;
    let (epoch, created) = epoch(&tree)?;
    let session = match tree
        .get(SESSION_KEY)
        .map_err(sled_err("read the session marker"))?
    {
        Some(bytes) => Some(codec::decode_session(&bytes).map_err(corrupt(SESSION_KEY))?),
        None => None,
    };
    let (crashed, floor) = match session {
        Some((open, floor)) => (open, floor),
        // A store created by this call has never handed out a seq.
        None if created => (false, 1),
        None => (true, 1),
    };
    let mut state = State::new(floor);
    if crashed {
        state.floor = floor.saturating_add(SEQ_GAP_AFTER_CRASH);
        let hosts = renumber_after_crash(&tree)?;
        warn!(
            hosts,
            gap = SEQ_GAP_AFTER_CRASH,
            "store was not closed cleanly; skipping sequence numbers"
        );
    }
    tree.insert(SESSION_KEY, &codec::encode_session(true, state.floor))
        .map_err(sled_err("write the session marker"))?;
    tree.flush()
        .map_err(|source| StoreError::Flush { source })?;
    info!(epoch, created, crashed, "replication store opened");
    Ok(Loaded {
        trees: Trees {
            tree,
            applied,
            values,
        },
        epoch,
        state,
    })
}

/// Reads the epoch, creating it if absent; the flag says whether this call created it.
fn epoch(tree: &sled::Tree) -> Result<(u64, bool), StoreError> {
    loop {
        if let Some(bytes) = tree.get(EPOCH_KEY).map_err(sled_err("read the epoch"))? {
            let epoch = codec::decode_u64(&bytes, "epoch").map_err(corrupt(EPOCH_KEY))?;
            return Ok((epoch, false));
        }
        let mut epoch = 0;
        while epoch == 0 {
            epoch = rand::random::<u64>();
        }
        let created = tree
            .compare_and_swap(
                EPOCH_KEY,
                None::<&[u8]>,
                Some(&codec::encode_u64(epoch)[..]),
            )
            .map_err(sled_err("create the epoch"))?;
        if created.is_ok() {
            return Ok((epoch, true));
        }
        // Lost a race with another opener: read theirs.
    }
}

/// Moves every host's next seq forward by the crash gap; returns the number of hosts.
/// Bounded by the number of hosts, not the backlog.
fn renumber_after_crash(tree: &sled::Tree) -> Result<usize, StoreError> {
    let mut batch = sled::Batch::default();
    let mut hosts = 0;
    for item in tree.scan_prefix(keys::HOST_PREFIX) {
        let (key, bytes) = item.map_err(sled_err("list the hosts"))?;
        let mut rec = match HostRecord::decode(&bytes) {
            Ok(rec) => rec,
            Err(error) => {
                // Every later operation on this host reports the corruption.
                warn!(key = %keys::describe(&key), %error, "corrupted host record left as is");
                continue;
            }
        };
        rec.next_seq = rec.next_seq.saturating_add(SEQ_GAP_AFTER_CRASH);
        batch.insert(key, rec.encode());
        hosts += 1;
    }
    tree.apply_batch(batch)
        .map_err(sled_err("renumber the hosts after a crash"))?;
    Ok(hosts)
}
