//! Internal connections (no XMPP) exercise the whole enqueue -> queue -> deliver path, with the
//! send policies observed on the target's applied updates.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use super::*;
use crate::datapoints::{ChangeEvent, DatapointConfig, Direction, UpdateSource, WriteRequest};
use crate::xmpp::jid::Jid;

const SRC: &str = "Net/LON/src";
const DST: &str = "Net/LON/dst";

struct Rig {
    table: Table,
    _dir: tempfile::TempDir,
    events: tokio::sync::broadcast::Receiver<ChangeEvent>,
}

fn rig(connection_extra: &str) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().path(dir.path()).open().unwrap();
    let temp = |name: &str| DatapointConfig {
        name: name.into(),
        dp_type: DpType::Temp,
        direction: Direction::InOut,
        initial: "0.0".into(),
    };
    let table = Table::open(&db, vec![temp(SRC), temp(DST)], SystemTime::now()).unwrap();
    let events = table.subscribe();
    let store = Store::open(&db).unwrap();
    let own: Jid = "a@localhost/ilon".parse().unwrap();
    let names: BTreeSet<String> = table.names().into_iter().collect();
    let ctx = crate::bindings::Context {
        own_jid: &own,
        local_names: &names,
    };
    let text =
        format!("[[connection]]\nsource = \"{SRC}\"\ntarget = \"{DST}\"\n{connection_extra}\n");
    let set = crate::bindings::parse_files(&[(PathBuf::from("b.toml"), text)], &ctx).unwrap();
    let r = Replicator::new(store, table.clone(), None, set, 262_144);
    r.start(None);
    Rig {
        table,
        _dir: dir,
        events,
    }
}

fn write(t: &Table, v: &str) {
    t.write(WriteRequest::new(SRC, v, UpdateSource::Admin))
        .unwrap();
}

/// The values applied to the target until `until` appears (or 10 s pass).
async fn target_values(r: &mut Rig, until: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(100), r.events.recv()).await {
            Ok(Ok(ev)) if ev.name == DST => {
                seen.push(ev.text.clone());
                if ev.text == until {
                    return seen;
                }
            }
            _ => {}
        }
    }
    panic!("{until} never applied to the target; saw {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_connection_delivers_every_change_in_order() {
    let mut r = rig("");
    for v in ["1.0", "2.0", "2.0", "3.0"] {
        write(&r.table, v);
    }
    // The new connection first sends the current value; the unchanged 2.0 is not a change
    // (the Web connection default).
    assert_eq!(
        target_values(&mut r, "3.0").await,
        vec!["0.0", "1.0", "2.0", "3.0"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_delta_sends_unchanged_values_too() {
    let mut r = rig("send_on_delta = 0");
    for v in ["1.0", "1.0", "2.0"] {
        write(&r.table, v);
    }
    assert_eq!(
        target_values(&mut r, "2.0").await,
        vec!["0.0", "1.0", "1.0", "2.0"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_suppresses_small_moves() {
    let mut r = rig("send_on_delta = 1.0");
    for v in ["1.0", "1.5", "2.0", "2.4", "3.5"] {
        write(&r.table, v);
    }
    assert_eq!(
        target_values(&mut r, "3.5").await,
        vec!["0.0", "1.0", "2.0", "3.5"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_sends_the_newest_value_after_min_send_time() {
    // Taken before the replicator starts: `start` enqueues the start-up value, which can be
    // sent before `start` returns, so a `t0` taken after it (as a CI run saw) may be late.
    let t0 = Instant::now();
    let mut r = rig("min_send_time = \"400ms\"");
    assert_eq!(target_values(&mut r, "0.0").await, vec!["0.0"]);
    for v in ["1.0", "2.0", "3.0"] {
        write(&r.table, v);
    }
    // The start-up value went out, so 1.0 and 2.0 are held and superseded.
    assert_eq!(target_values(&mut r, "3.0").await, vec!["3.0"]);
    assert!(
        t0.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_drops_a_held_value_the_source_went_back_from() {
    // Fails on the code before the pure policy: the held 1.0 was sent at the deadline although
    // the source was back at 0.0, the value last sent.
    let mut r = rig("min_send_time = \"1s\"");
    assert_eq!(target_values(&mut r, "0.0").await, vec!["0.0"]);
    write(&r.table, "1.0");
    write(&r.table, "0.0");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    write(&r.table, "7.0");
    assert_eq!(target_values(&mut r, "7.0").await, vec!["7.0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_resends_the_current_value_every_max_send_time() {
    // Fails on the code before the policy task: a 1 s scan sent the heartbeats up to 1 s late.
    let mut r = rig("max_send_time = \"300ms\"");
    write(&r.table, "5.0");
    assert_eq!(target_values(&mut r, "5.0").await, vec!["0.0", "5.0"]);
    assert_eq!(target_values(&mut r, "5.0").await, vec!["5.0"]);
    let t0 = Instant::now();
    for _ in 0..3 {
        assert_eq!(target_values(&mut r, "5.0").await, vec!["5.0"]);
    }
    let three = t0.elapsed();
    assert!(
        three >= Duration::from_millis(800) && three < Duration::from_millis(2000),
        "three heartbeats of 300 ms took {three:?}"
    );
}
