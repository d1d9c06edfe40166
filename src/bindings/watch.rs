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

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;

use super::load::is_binding_file_name;

/// Signals buffered between notify's thread and [`DirWatch::changed`]. When it is full a
/// signal is already pending, so further ones carry no information and are dropped.
const CHANNEL_CAPACITY: usize = 64;

/// Why: a ConfigMap volume updates its files (links into `..data/`) by renaming a new
/// `..data` link into place; that rename is the only event, and its name is a dotfile.
const KUBERNETES_DATA_LINK: &str = "..data";

/// How often to try to watch the directory again after the watch was lost (the directory
/// was removed, or notify's thread stopped).
const REWATCH_INTERVAL: Duration = Duration::from_secs(2);

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

/// Watches one binding directory (not recursively) and reports changes to binding files.
///
/// Dropping it stops the watch.
#[derive(Debug)]
pub struct DirWatch {
    dir: PathBuf,
    debounce: Duration,
    /// `None` while the watch is lost and being re-established.
    active: Option<Active>,
}

#[derive(Debug)]
struct Active {
    watcher: RecommendedWatcher,
    rx: mpsc::Receiver<()>,
    debounce: Debounce,
}

impl DirWatch {
    /// Starts watching `dir`; [`DirWatch::changed`] then resolves after changes that have been
    /// quiet for `debounce`.
    ///
    /// # Errors
    ///
    /// [`WatchError::NotADirectory`] if `dir` is a file, [`WatchError::Watch`] if it does not
    /// exist or notify cannot watch it.
    pub fn new(dir: &Path, debounce: Duration) -> Result<DirWatch, WatchError> {
        let active = start(dir, debounce)?;
        tracing::debug!(dir = %dir.display(), ?debounce, "watching the binding directory");
        Ok(DirWatch {
            dir: dir.to_owned(),
            debounce,
            active: Some(active),
        })
    }

    /// The directory watched, as given.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Resolves once after a burst of relevant changes has been quiet for `debounce`.
    ///
    /// Relevant: a binding file (a name the loader would read) was created, written, renamed
    /// to or from, or removed, or the directory itself changed. Also resolves once when a lost
    /// watch (the directory was removed) could be set up again, since files may have changed
    /// meanwhile.
    ///
    /// Cancel safe: a burst in progress is remembered, so this can be used in `select!`.
    pub async fn changed(&mut self) {
        loop {
            match &mut self.active {
                Some(active) => {
                    if active.next_burst().await {
                        self.renew();
                        return;
                    }
                    tracing::warn!(
                        dir = %self.dir.display(),
                        "binding directory watcher stopped; setting it up again"
                    );
                    self.active = None;
                }
                None => {
                    tokio::time::sleep(REWATCH_INTERVAL).await;
                    match start(&self.dir, self.debounce) {
                        Ok(active) => {
                            tracing::info!(
                                dir = %self.dir.display(),
                                "watching the binding directory again"
                            );
                            self.active = Some(active);
                            return;
                        }
                        Err(error) => {
                            tracing::debug!(%error, "binding directory still cannot be watched");
                        }
                    }
                }
            }
        }
    }

    /// Re-adds the watch after a burst, so that a directory replaced by another one is
    /// watched under its new inode (vector does the same); a directory that is gone makes the
    /// watch lost until it comes back.
    fn renew(&mut self) {
        let Some(active) = &mut self.active else {
            return;
        };
        if let Err(error) = active.watcher.watch(&self.dir, RecursiveMode::NonRecursive) {
            tracing::warn!(
                dir = %self.dir.display(),
                %error,
                "binding directory cannot be watched; retrying until it exists"
            );
            self.active = None;
        }
    }
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
fn start(dir: &Path, debounce: Duration) -> Result<Active, WatchError> {
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
