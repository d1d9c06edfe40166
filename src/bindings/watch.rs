//! Watching the binding directory: one signal per quiet burst of changes (SPEC §4 hot reload).
//!
//! The watcher only signals; it never reads or parses a file (style guide §2.7). The caller
//! re-runs [`load_dir`](super::load_dir) and swaps the result in only when it is valid.
//!
//! Design: the directory is watched, not the files (notes/store-forward.md §4.2), so that
//! editors that save by writing a temporary file and renaming it over the original, or by
//! renaming the original away first (vim), are seen: every such step names a binding file in
//! the directory (or, for a Kubernetes ConfigMap volume, its `..data` link). Events that name
//! only ignored files (swap files, backups, dotfiles, see `is_binding_file_name`) and pure
//! accesses (our own reads open the files) are dropped in notify's callback. What remains
//! goes through a tokio channel to a trailing debounce. After each burst the directory watch
//! is renewed, and if the directory itself went away the watch is re-established as soon as
//! it exists again.
//!
//! When the directory cannot be watched (notify fails, e.g. the inotify instance limit, or the
//! watch is lost), it is polled instead: a fingerprint of the binding files every
//! [`POLL_INTERVAL`], compared by the pure `PollRule` (src/bindings/poll.rs), and each poll
//! tries to watch again. [`DirWatch::status`] says which, and why, for `/health`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::load::is_binding_file_name;
use super::poll::{Fingerprint, PollRule, fingerprint};

/// Signals buffered between notify's thread and [`DirWatch::changed`]. When it is full a
/// signal is already pending, so further ones carry no information and are dropped.
const CHANNEL_CAPACITY: usize = 64;

/// Why: a ConfigMap volume updates its files (links into `..data/`) by renaming a new
/// `..data` link into place; that rename is the only event, and its name is a dotfile.
const KUBERNETES_DATA_LINK: &str = "..data";

/// Why the binding directory cannot be watched.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The path exists but is not a directory.
    #[error("{}: the binding directory is not a directory", dir.display())]
    NotADirectory {
        /// The path given.
        dir: PathBuf,
    },
    /// notify could not set up the watch (missing directory, inotify limits, ...).
    #[error("{}: cannot watch the binding directory", dir.display())]
    Watch {
        /// The directory given.
        dir: PathBuf,
        /// What notify reported.
        #[source]
        source: notify::Error,
    },
}

/// Whether the binding directory is watched or polled, for `/health` (SPEC §7).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum WatchStatus {
    /// Changes are reported by the operating system (inotify).
    Watching,
    /// The directory is scanned every [`POLL_INTERVAL`]; `reason` says why it is not watched.
    Polling {
        /// Why the directory cannot be watched.
        reason: String,
    },
}

/// How often the directory is scanned while it cannot be watched; each scan also tries to
/// watch it again.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Sets up a watch; replaced in tests to simulate a host out of inotify instances.
type Starter = fn(&Path, Duration) -> Result<Active, WatchError>;

/// Watches one binding directory (not recursively) and reports changes to binding files.
///
/// When the directory cannot be watched (notify fails, e.g. the inotify instance limit), or
/// the watch is lost (the directory was removed), it is polled instead (see [`WatchStatus`])
/// until a watch can be set up again. Dropping it stops the watch.
#[derive(Debug)]
pub struct DirWatch {
    dir: PathBuf,
    debounce: Duration,
    poll_interval: Duration,
    mode: Mode,
    status: tokio::sync::watch::Sender<WatchStatus>,
    starter: Starter,
}

#[derive(Debug)]
enum Mode {
    Watching(Active),
    Polling(Polling),
}

#[derive(Debug)]
pub(super) struct Active {
    watcher: RecommendedWatcher,
    rx: mpsc::Receiver<()>,
    debounce: Debounce,
}

#[derive(Debug)]
struct Polling {
    rule: PollRule,
    /// A scan in progress on a blocking thread, kept across cancellations of `changed`.
    scan: Option<JoinHandle<Fingerprint>>,
}

impl DirWatch {
    /// Starts watching `dir`; [`DirWatch::changed`] then resolves after changes that have been
    /// quiet for `debounce`. If notify cannot watch it (other than because it is missing),
    /// polls it instead and logs why once.
    ///
    /// # Errors
    ///
    /// [`WatchError::NotADirectory`] if `dir` is a file, [`WatchError::Watch`] if it does not
    /// exist.
    pub fn new(dir: &Path, debounce: Duration) -> Result<DirWatch, WatchError> {
        DirWatch::with(dir, debounce, POLL_INTERVAL, start)
    }

    /// [`DirWatch::new`] with a poll interval and a way to set up the watch of its own.
    pub(super) fn with(
        dir: &Path,
        debounce: Duration,
        poll_interval: Duration,
        starter: Starter,
    ) -> Result<DirWatch, WatchError> {
        let (status, _) = tokio::sync::watch::channel(WatchStatus::Watching);
        let mut watch = DirWatch {
            dir: dir.to_owned(),
            debounce,
            poll_interval,
            // Replaced below.
            mode: Mode::Polling(Polling {
                rule: PollRule::new(Instant::now(), poll_interval, debounce, None),
                scan: None,
            }),
            status,
            starter,
        };
        match starter(dir, debounce) {
            Ok(active) => {
                tracing::debug!(dir = %dir.display(), ?debounce, "watching the binding directory");
                watch.mode = Mode::Watching(active);
            }
            Err(e @ WatchError::NotADirectory { .. }) => return Err(e),
            Err(WatchError::Watch { source, .. })
                if matches!(source.kind, notify::ErrorKind::PathNotFound) =>
            {
                return Err(WatchError::Watch {
                    dir: dir.to_owned(),
                    source,
                });
            }
            Err(error) => {
                // The state now is what the caller has just loaded (or is about to).
                let known = fingerprint(dir);
                watch.poll(error_chain(&error), Some(known));
            }
        }
        Ok(watch)
    }

    /// The directory watched, as given.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the directory is watched or polled, and why.
    pub fn status(&self) -> WatchStatus {
        self.status.borrow().clone()
    }

    /// The status as it changes, for a task that does not own the `DirWatch` (`/health`).
    pub fn status_receiver(&self) -> tokio::sync::watch::Receiver<WatchStatus> {
        self.status.subscribe()
    }

    /// Resolves once after a burst of relevant changes has been quiet for `debounce`.
    ///
    /// Relevant: a binding file (a name the loader would read) was created, written, renamed
    /// to or from, or removed, or the directory itself changed. Also resolves once when a lost
    /// watch (the directory was removed) could be set up again, since files may have changed
    /// meanwhile. While polling, resolves once a changed scan was confirmed `debounce` later.
    ///
    /// Cancel safe: a burst in progress is remembered, so this can be used in `select!`.
    pub async fn changed(&mut self) {
        loop {
            match &mut self.mode {
                Mode::Watching(active) => {
                    if active.next_burst().await {
                        self.renew();
                        return;
                    }
                    // Events may have been missed: the first scan counts as a change.
                    self.poll("the watcher stopped".to_owned(), None);
                }
                Mode::Polling(polling) => {
                    if polling.scan.is_none() {
                        tokio::time::sleep_until(polling.rule.poll_timeout()).await;
                        // Due: first try to watch again, then scan.
                        match (self.starter)(&self.dir, self.debounce) {
                            Ok(active) => {
                                tracing::info!(
                                    dir = %self.dir.display(),
                                    "watching the binding directory again"
                                );
                                self.mode = Mode::Watching(active);
                                self.status.send_replace(WatchStatus::Watching);
                                return;
                            }
                            Err(error) => {
                                tracing::debug!(%error, "binding directory still cannot be watched");
                            }
                        }
                        let dir = self.dir.clone();
                        polling.scan = Some(tokio::task::spawn_blocking(move || fingerprint(&dir)));
                    }
                    let Some(scan) = &mut polling.scan else {
                        continue;
                    };
                    let result = scan.await;
                    polling.scan = None;
                    let scanned =
                        result.unwrap_or(Fingerprint::Unreadable(std::io::ErrorKind::Other));
                    if polling.rule.handle_scan(Instant::now(), scanned) {
                        return;
                    }
                }
            }
        }
    }

    /// Switches to polling, logging why once; `known` is the state already seen, if any.
    fn poll(&mut self, reason: String, known: Option<Fingerprint>) {
        tracing::warn!(
            dir = %self.dir.display(),
            interval = %humantime::format_duration(self.poll_interval),
            %reason,
            "binding directory cannot be watched; polling it instead"
        );
        self.mode = Mode::Polling(Polling {
            rule: PollRule::new(Instant::now(), self.poll_interval, self.debounce, known),
            scan: None,
        });
        self.status.send_replace(WatchStatus::Polling { reason });
    }

    /// Re-adds the watch after a burst, so that a directory replaced by another one is
    /// watched under its new inode (vector does the same); a directory that is gone makes the
    /// watch lost: it is polled until it can be watched again.
    fn renew(&mut self) {
        let Mode::Watching(active) = &mut self.mode else {
            return;
        };
        if let Err(error) = active.watcher.watch(&self.dir, RecursiveMode::NonRecursive) {
            // The burst is being reported: the caller loads what is there now or later.
            let known = fingerprint(&self.dir);
            self.poll(format!("the watch was lost: {error}"), Some(known));
        }
    }
}

/// An error and its sources, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

impl Active {
    /// Waits for the end of the next burst: `true` when it was quiet for the debounce time,
    /// `false` when notify's thread stopped without any pending change.
    async fn next_burst(&mut self) -> bool {
        loop {
            let received = match self.debounce.poll_timeout() {
                None => self.rx.recv().await,
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {
                            if self.debounce.handle_timeout(Instant::now()) {
                                return true;
                            }
                            continue;
                        }
                        received = self.rx.recv() => received,
                    }
                }
            };
            match received {
                Some(()) => self.debounce.handle_signal(Instant::now()),
                // The sender lives in notify's callback: it is gone only if notify's thread is.
                None => return self.debounce.handle_closed(),
            }
        }
    }
}

/// Creates a watcher on `dir` whose callback forwards relevant events to a fresh channel.
pub(super) fn start(dir: &Path, debounce: Duration) -> Result<Active, WatchError> {
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(WatchError::NotADirectory {
                dir: dir.to_owned(),
            });
        }
        // A missing directory is reported by notify below, with its own error kind.
        _ => {}
    }
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let watched = dir.to_owned();
    let handler = move |event: notify::Result<Event>| {
        let relevant = match &event {
            Ok(event) => is_relevant(&watched, event),
            Err(error) => {
                // Something was missed: rescanning is the safe answer.
                tracing::warn!(%error, "binding directory watcher reported an error");
                true
            }
        };
        tracing::trace!(?event, relevant, "binding directory event");
        if relevant {
            match tx.try_send(()) {
                // Full: a signal is already pending, which is all this one would say.
                Ok(()) | Err(TrySendError::Full(())) => {}
                // Closed: the `DirWatch` is being dropped.
                Err(TrySendError::Closed(())) => {}
            }
        }
    };
    let watch_error = |source| WatchError::Watch {
        dir: dir.to_owned(),
        source,
    };
    let mut watcher = notify::recommended_watcher(handler).map_err(watch_error)?;
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(watch_error)?;
    Ok(Active {
        watcher,
        rx,
        debounce: Debounce::new(debounce),
    })
}

/// Whether `event` in the watched directory `dir` may change what the loader reads.
fn is_relevant(dir: &Path, event: &Event) -> bool {
    if event.need_rescan() {
        return true;
    }
    match event.kind {
        // A file closed after writing is the end of a write; any other access (open, read,
        // close after reading: our own loads) changes nothing.
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
        EventKind::Access(_) => return false,
        _ => {}
    }
    if event.paths.is_empty() {
        // An event without paths says something changed, not where.
        return true;
    }
    event.paths.iter().any(|path| is_relevant_path(dir, path))
}

/// A binding file of the directory, the directory itself (removed, moved, replaced), or the
/// link a Kubernetes ConfigMap volume swaps to publish new files.
fn is_relevant_path(dir: &Path, path: &Path) -> bool {
    if path == dir {
        return true;
    }
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name == KUBERNETES_DATA_LINK || is_binding_file_name(name))
}

/// A trailing debounce as a pure state machine: time comes in as an argument.
#[derive(Debug, Clone)]
struct Debounce {
    quiet: Duration,
    /// When the current burst ends if nothing else arrives; `None` when idle.
    deadline: Option<Instant>,
}

impl Debounce {
    fn new(quiet: Duration) -> Debounce {
        Debounce {
            quiet,
            deadline: None,
        }
    }

    /// A relevant change arrived at `now`: the burst goes on until `now + quiet`.
    fn handle_signal(&mut self, now: Instant) {
        self.deadline = Some(now + self.quiet);
    }

    /// The channel closed: `true` if a burst was pending (report it now), else `false`.
    fn handle_closed(&mut self) -> bool {
        self.deadline.take().is_some()
    }

    /// When to call [`Debounce::handle_timeout`]; `None` when idle.
    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// `true` exactly once per burst, at the first call at or after its deadline.
    fn handle_timeout(&mut self, now: Instant) -> bool {
        match self.deadline {
            Some(deadline) if now >= deadline => {
                self.deadline = None;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn debounce_fires_once_after_the_last_signal_of_a_burst() {
        let t0 = Instant::now();
        let mut d = Debounce::new(100 * MS);
        assert_eq!(d.poll_timeout(), None);
        d.handle_signal(t0);
        d.handle_signal(t0 + 60 * MS);
        d.handle_signal(t0 + 120 * MS);
        assert_eq!(d.poll_timeout(), Some(t0 + 220 * MS));
        assert!(!d.handle_timeout(t0 + 219 * MS));
        assert!(d.handle_timeout(t0 + 220 * MS));
        assert_eq!(d.poll_timeout(), None);
        assert!(!d.handle_timeout(t0 + 500 * MS));
    }

    #[test]
    fn debounce_closed_reports_only_a_pending_burst() {
        let t0 = Instant::now();
        let mut d = Debounce::new(100 * MS);
        assert!(!d.handle_closed());
        d.handle_signal(t0);
        assert!(d.handle_closed());
        assert_eq!(d.poll_timeout(), None);
    }

    fn event(kind: EventKind, paths: &[&Path]) -> Event {
        paths
            .iter()
            .fold(Event::new(kind), |e, p| e.add_path(p.to_path_buf()))
    }

    #[test]
    fn events_naming_only_ignored_files_or_accesses_are_not_relevant() {
        use notify::event::{CreateKind, ModifyKind, RemoveKind, RenameMode};
        let dir = Path::new("/b");
        let swp = dir.join(".x.toml.swp");
        let x = dir.join("x.toml");
        let tmp = dir.join("x.toml.tmp");
        let create = EventKind::Create(CreateKind::File);
        assert!(!is_relevant(dir, &event(create, &[&swp])));
        assert!(!is_relevant(dir, &event(create, &[&tmp])));
        assert!(!is_relevant(dir, &event(create, &[&dir.join("4913")])));
        assert!(is_relevant(dir, &event(create, &[&x])));
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        assert!(!is_relevant(dir, &event(open, &[&x])));
        let close_read = EventKind::Access(AccessKind::Close(AccessMode::Read));
        assert!(!is_relevant(dir, &event(close_read, &[&x])));
        let close_write = EventKind::Access(AccessKind::Close(AccessMode::Write));
        assert!(is_relevant(dir, &event(close_write, &[&x])));
        let rename = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        assert!(is_relevant(dir, &event(rename, &[&tmp, &x])));
        let removed = EventKind::Remove(RemoveKind::Folder);
        assert!(is_relevant(dir, &event(removed, &[dir])));
        assert!(is_relevant(dir, &event(EventKind::Other, &[])));
        let k8s_swap = event(rename, &[&dir.join("..data_tmp"), &dir.join("..data")]);
        assert!(is_relevant(dir, &k8s_swap));
        assert!(!is_relevant(
            dir,
            &event(create, &[&dir.join("..data_tmp")])
        ));
    }
}
