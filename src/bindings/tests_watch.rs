//! Tests of the watcher's fall-back to polling when the directory cannot be watched (issue 8:
//! the inotify instance limit, simulated by a watch set-up that fails), against a real
//! directory.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::watch::start;
use super::*;

use super::tests::{DEADLINE, DEBOUNCE, fires, stays_quiet};

const INTERVAL: Duration = Duration::from_millis(200);

/// What notify reports when the user's inotify instances are used up.
fn out_of_instances(dir: &Path) -> WatchError {
    WatchError::Watch {
        dir: dir.to_owned(),
        source: notify::Error::io(std::io::Error::from_raw_os_error(libc::EMFILE)),
    }
}

fn never(dir: &Path, _: Duration) -> Result<super::watch::Active, WatchError> {
    Err(out_of_instances(dir))
}

#[tokio::test]
async fn a_directory_that_cannot_be_watched_is_polled_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("x.toml"), "").unwrap();
    let mut w = DirWatch::with(d, DEBOUNCE, INTERVAL, never).unwrap();
    let status = w.status();
    let WatchStatus::Polling { reason } = &status else {
        panic!("not polling: {status:?}");
    };
    assert!(
        reason.contains("cannot watch the binding directory"),
        "{reason}"
    );
    assert!(reason.contains("os error 24"), "{reason}");
    assert_eq!(*w.status_receiver().borrow(), status);
    assert_eq!(
        serde_json::to_value(&status).unwrap(),
        serde_json::json!({ "mode": "polling", "reason": reason })
    );

    assert!(stays_quiet(&mut w).await, "a change was reported");
    std::fs::write(d.join("x.toml"), "# edited\n").unwrap();
    assert!(fires(&mut w).await, "no change reported after the write");
    assert!(stays_quiet(&mut w).await, "a second change was reported");
    std::fs::write(d.join("y.toml"), "").unwrap();
    assert!(fires(&mut w).await, "no change reported for a new file");
    std::fs::remove_file(d.join("x.toml")).unwrap();
    assert!(fires(&mut w).await, "no change reported for a delete");
    // Editor churn is not a change.
    std::fs::write(d.join(".y.toml.swp"), "swap").unwrap();
    std::fs::write(d.join("y.toml~"), "backup").unwrap();
    assert!(
        stays_quiet(&mut w).await,
        "a change was reported for ignored files"
    );
    assert!(matches!(w.status(), WatchStatus::Polling { .. }));
}

#[tokio::test]
async fn polling_goes_back_to_watching_as_soon_as_it_can() {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    fn twice_then_works(
        dir: &Path,
        debounce: Duration,
    ) -> Result<super::watch::Active, WatchError> {
        if CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
            Err(out_of_instances(dir))
        } else {
            start(dir, debounce)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut w = DirWatch::with(d, DEBOUNCE, INTERVAL, twice_then_works).unwrap();
    assert!(matches!(w.status(), WatchStatus::Polling { .. }));
    let mut status = w.status_receiver();
    // Resolves once when watching again: files may have changed meanwhile.
    assert!(fires(&mut w).await, "not watched again");
    assert_eq!(w.status(), WatchStatus::Watching);
    assert!(status.has_changed().unwrap());
    assert_eq!(*status.borrow_and_update(), WatchStatus::Watching);
    std::fs::write(d.join("x.toml"), "").unwrap();
    assert!(fires(&mut w).await, "no change reported while watching");
}

#[test]
fn a_watched_directory_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let w = DirWatch::new(dir.path(), DEBOUNCE).unwrap();
    assert_eq!(w.status(), WatchStatus::Watching);
    assert_eq!(
        serde_json::to_value(w.status()).unwrap(),
        serde_json::json!({ "mode": "watching" })
    );
}

#[tokio::test]
async fn a_removed_directory_is_polled_until_it_can_be_watched_again() {
    let parent = tempfile::tempdir().unwrap();
    let d = parent.path().join("bindings");
    std::fs::create_dir(&d).unwrap();
    let mut w = DirWatch::with(&d, DEBOUNCE, INTERVAL, start).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
    assert!(fires(&mut w).await, "no change reported for the removal");
    let status = w.status();
    let WatchStatus::Polling { reason } = &status else {
        panic!("not polling: {status:?}");
    };
    assert!(reason.contains("the watch was lost"), "{reason}");
    // Gone and still gone: no change to report.
    assert!(stays_quiet(&mut w).await, "a change was reported");
    std::fs::create_dir(&d).unwrap();
    assert!(fires(&mut w).await, "the directory was not watched again");
    assert_eq!(w.status(), WatchStatus::Watching);
}

// ---------------------------------------------------------------------------------------------
// Reloader
// ---------------------------------------------------------------------------------------------

fn empty() -> BindingSet {
    BindingSet {
        hosts: Default::default(),
        connections: Vec::new(),
        files: Vec::new(),
    }
}

/// Runs `test` on a single-threaded runtime on its own thread, failing after `DEADLINE`: a
/// load done on the event loop would block its only thread, and this catches it.
fn on_one_thread<F>(test: impl FnOnce() -> F + Send + 'static)
where
    F: std::future::Future<Output = ()>,
{
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(test());
        let _ = done_tx.send(());
    });
    match done_rx.recv_timeout(DEADLINE * 2) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("the event loop stalled"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("the test panicked"),
    }
}

#[test]
fn a_slow_reload_never_stalls_the_event_loop_and_survives_cancellation() {
    on_one_thread(|| async {
        let dir = tempfile::tempdir().unwrap();
        let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = std::sync::Mutex::new(release_rx);
        let loads = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = loads.clone();
        let mut reloader = Reloader::new(DirWatch::new(dir.path(), DEBOUNCE).unwrap(), move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = started_tx.send(());
            // Blocks like a huge directory would, until the test lets it finish.
            let rx = release_rx
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = rx.recv_timeout(DEADLINE * 4);
            Ok(empty())
        });
        assert_eq!(reloader.status(), WatchStatus::Watching);
        std::fs::write(dir.path().join("x.toml"), "").unwrap();

        let mut next = Box::pin(reloader.next());
        tokio::select! {
            _ = &mut next => panic!("a reload finished before its load"),
            started = started.recv() => assert!(started.is_some()),
        }
        // The load is blocked; the loop still serves (a timer here, SOAP in the agent).
        for _ in 0..5 {
            tokio::select! {
                _ = &mut next => panic!("a reload finished before its load"),
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        // Cancelled mid-load (another select! branch won): the load is not lost.
        drop(next);
        release.send(()).unwrap();
        let set = tokio::time::timeout(DEADLINE, reloader.next()).await;
        assert_eq!(
            set.expect("the load in progress was lost").unwrap(),
            empty()
        );
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn a_reload_reports_a_fifo_as_an_error_without_blocking() {
    on_one_thread(|| async {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_owned();
        let mut reloader = Reloader::new(DirWatch::new(&d, DEBOUNCE).unwrap(), move || {
            let own: crate::xmpp::jid::Jid = "08-00-00-1a-7c-62@localhost".parse().unwrap();
            let locals = BTreeSet::new();
            load_dir(
                &d,
                &Context {
                    own_jid: &own,
                    local_names: &locals,
                },
            )
        });
        super::tests_files::mkfifo(&dir.path().join("fifo.toml"));
        let errors = tokio::time::timeout(DEADLINE, reloader.next())
            .await
            .expect("no reload")
            .unwrap_err()
            .to_string();
        assert!(
            errors.contains("fifo.toml: cannot read the binding file: it is a FIFO"),
            "{errors}"
        );
    });
}
