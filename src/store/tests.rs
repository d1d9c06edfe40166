//! Tests of the replication store against real sled databases in temporary directories.
//! The shared fixture and helpers live here, the tests in one child module per theme.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;

mod coalescing;
mod corruption;
mod group_commit;
mod hosts;
mod model;
mod numbering;
mod queue;

/// Opens sled as the agent does, polling with a deadline: a just-dropped `Db` may hold
/// sled's file lock for a moment while its flusher thread exits.
pub(super) fn open_db(path: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let config = sled::Config::new().path(path).cache_capacity(8 << 20);
    loop {
        match config.open() {
            Ok(db) => return db,
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                std::thread::yield_now();
            }
            Err(e) => panic!("cannot open sled at {}: {e}", path.display()),
        }
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    db: Option<sled::Db>,
    store: Option<Store>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = open_db(dir.path());
        let store = Store::open(&db).unwrap();
        Fixture {
            dir,
            db: Some(db),
            store: Some(store),
        }
    }

    fn store(&self) -> &Store {
        self.store.as_ref().unwrap()
    }

    fn tree(&self) -> sled::Tree {
        self.db.as_ref().unwrap().open_tree(TREE_QUEUE).unwrap()
    }

    /// Closes the store and the database cleanly and opens both again.
    fn reopen(&mut self) {
        self.store = None;
        self.db = None;
        let db = open_db(self.dir.path());
        self.store = Some(Store::open(&db).unwrap());
        self.db = Some(db);
    }

    /// Drops the store as a killed process would (no clean close), then reopens.
    fn crash_and_reopen(&mut self) {
        self.store.take().unwrap().simulate_crash();
        self.db = None;
        let db = open_db(self.dir.path());
        self.store = Some(Store::open(&db).unwrap());
        self.db = Some(db);
    }
}

fn t(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
}

fn write(connection: &str, target: &str, value: &str) -> QueuedWrite {
    QueuedWrite {
        connection: connection.to_owned(),
        target: target.to_owned(),
        value: value.to_owned(),
        lon_format: None,
        priority: 255,
        enqueued_at: t(0),
    }
}

fn seqs(run: &[(u64, QueuedWrite)]) -> Vec<u64> {
    run.iter().map(|(s, _)| *s).collect()
}

fn values(run: &[(u64, QueuedWrite)]) -> Vec<&str> {
    run.iter().map(|(_, w)| w.value.as_str()).collect()
}
