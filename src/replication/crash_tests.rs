//! A kill at any moment never makes the start-up resync send an older value after a newer one
//! (the soak's `3021, 3022, 3021`): an update's queue entries and its last-enqueued stamp are
//! durable together with its datapoint value, whoever spills the store's buffer meanwhile.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use super::*;
use crate::datapoints::{DatapointConfig, Direction, UpdateSource, WriteRequest};
use crate::xmpp::jid::Jid;

const SRC: &str = "Net/LON/src";
const HOST: &str = "site-b";

/// An agent as `agent::run` wires it (the table attached to the store), with one Web
/// connection from [`SRC`] to a remote host; no sender runs, so the queue only grows.
struct Agent {
    db: sled::Db,
    store: Store,
    table: Table,
    r: Replicator,
}

impl Agent {
    fn open(dir: &Path) -> Agent {
        let db = open_db(dir);
        let config = DatapointConfig {
            name: SRC.into(),
            dp_type: DpType::Temp,
            direction: Direction::InOut,
            initial: "0.0".into(),
        };
        let table = Table::open(&db, vec![config], SystemTime::now()).unwrap();
        let store = Store::open(&db).unwrap();
        store.attach(Arc::new(table.clone()));
        let own: Jid = "a@localhost/ilon".parse().unwrap();
        let names: BTreeSet<String> = table.names().into_iter().collect();
        let ctx = crate::bindings::Context {
            own_jid: &own,
            local_names: &names,
        };
        let text = format!(
            "[[host]]\nname = \"{HOST}\"\nmac_id = \"00-D0-71-02-1B-1C\"\n\
             domain = \"localhost\"\n\n\
             [[connection]]\nsource = \"{SRC}\"\nhost = \"{HOST}\"\ntarget = \"Net/LON/dst\"\n"
        );
        let set = crate::bindings::parse_files(&[(PathBuf::from("b.toml"), text)], &ctx).unwrap();
        let r = Replicator::new(store.clone(), table.clone(), None, set, 262_144);
        // What `start` does first: bring the connection in step with the table.
        r.resync();
        Agent {
            db,
            store,
            table,
            r,
        }
    }

    fn write(&self, value: &str) {
        self.table
            .write(WriteRequest::new(SRC, value, UpdateSource::Admin))
            .unwrap();
    }

    /// A SIGKILL: no clean close; sled keeps what it was given, the store's buffer is lost.
    fn kill(self, dir: &Path) -> Agent {
        self.table.clear_observer();
        self.store.simulate_crash();
        drop(self.r);
        drop(self.table);
        drop(self.db);
        Agent::open(dir)
    }

    /// The values queued for the host, in queue order (across the seq gap of a crash).
    fn queued(&self) -> Vec<String> {
        let mut values = Vec::new();
        let mut after = None;
        loop {
            let run = self.store.peek_run(HOST, after, 1000).unwrap();
            let Some(&(last, _)) = run.last() else {
                return values;
            };
            values.extend(run.into_iter().map(|(_, w)| w.value));
            after = Some(last);
        }
    }
}

/// `store::tests::open_db`: a killed `Db`'s file lock may outlive its drop for a moment.
fn open_db(dir: &Path) -> sled::Db {
    let deadline = Instant::now() + Duration::from_secs(10);
    let config = sled::Config::new().path(dir).cache_capacity(8 << 20);
    loop {
        match config.open() {
            Ok(db) => return db,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::yield_now();
            }
            Err(e) => panic!("cannot open sled at {}: {e}", dir.display()),
        }
    }
}

/// The soak's `3021, 3022, 3021`: the sender's commit ran while the table wrote 22.0, after
/// the observer had enqueued it and before the value was staged. The queue entry and the
/// connection's last-enqueued stamp reached disk without the value; after the kill the table
/// said 21.0, the stamp 22.0, and the start-up resync enqueued 21.0 after 22.0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_between_enqueue_and_value_never_makes_resync_resend_an_older_value() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::open(dir.path());
    a.write("21.0");
    a.store.flush().unwrap();

    // The sender's commit, from another thread, exactly between the observer and the value.
    let armed = Arc::new(AtomicBool::new(true));
    let commit = Arc::new(std::sync::Mutex::new(None));
    {
        let (r, store, armed, commit) =
            (a.r.clone(), a.store.clone(), armed.clone(), commit.clone());
        a.table.set_observer(Box::new(move |ev| {
            r.on_update(ev).map_err(ObserverError::from)?;
            if armed.swap(false, Ordering::SeqCst) {
                let flusher = store.clone();
                let t = std::thread::spawn(move || flusher.flush());
                // Either the commit ran through (it cut the update), or it waits for the
                // update to end; both are decided before the value is staged.
                let deadline = Instant::now() + Duration::from_secs(10);
                while !t.is_finished() && store.inner.gate.waiting() == 0 {
                    assert!(
                        Instant::now() < deadline,
                        "the commit neither ran nor waited"
                    );
                    std::thread::yield_now();
                }
                *commit.lock().unwrap() = Some(t);
            }
            Ok(())
        }));
    }
    a.write("22.0");
    let t = commit.lock().unwrap().take().expect("the observer ran");
    t.join().unwrap().unwrap();

    let a = a.kill(dir.path());
    assert_eq!(
        a.queued(),
        ["0.0", "21.0", "22.0"],
        "the resync after the kill sent an older value after a newer one"
    );
    assert_eq!(
        a.table.read(SRC).unwrap().text(),
        "22.0",
        "the committed update is durable whole"
    );
}
