//! Polling the binding directory when it cannot be watched (issue 8: the inotify instance
//! limit is hit at about 126 agents on one host): a cheap fingerprint of the binding files
//! (names, sizes, modification times, inodes), compared by a pure rule.

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::load::is_binding_file_name;

/// What the loader would read, as cheaply as it can be seen: one `stat` per binding file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fingerprint {
    /// The directory cannot be listed (missing, not a directory, no permission): why.
    Unreadable(std::io::ErrorKind),
    /// Binding files by name, sorted.
    Files(Vec<(OsString, Option<Stat>)>),
}

/// What can change when a file is written or replaced; `None` in [`Fingerprint::Files`] when
/// it cannot be seen (a dangling link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stat {
    len: u64,
    modified: Option<SystemTime>,
    /// Inode and change time: a rename over a file of the same size and time still shows.
    ino: u64,
    ctime: (i64, i64),
}

/// Takes the fingerprint of `dir`, following symlinks (a Kubernetes ConfigMap volume links
/// every file into a directory that is swapped as a whole).
pub(super) fn fingerprint(dir: &Path) -> Fingerprint {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return Fingerprint::Unreadable(e.kind()),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => return Fingerprint::Unreadable(e.kind()),
        };
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_binding_file_name) {
            continue;
        }
        let stat = std::fs::metadata(entry.path()).ok().map(|meta| stat(&meta));
        files.push((name, stat));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Fingerprint::Files(files)
}

#[cfg(unix)]
fn stat(meta: &std::fs::Metadata) -> Stat {
    use std::os::unix::fs::MetadataExt;
    Stat {
        len: meta.len(),
        modified: meta.modified().ok(),
        ino: meta.ino(),
        ctime: (meta.ctime(), meta.ctime_nsec()),
    }
}

#[cfg(not(unix))]
fn stat(meta: &std::fs::Metadata) -> Stat {
    Stat {
        len: meta.len(),
        modified: meta.modified().ok(),
        ino: 0,
        ctime: (0, 0),
    }
}

/// When to scan and whether a scan is a change, as a pure state machine: time and scans come
/// in as arguments.
///
/// A difference is reported only once a scan `quiet` later sees the same fingerprint again,
/// so that a file being written is not loaded half-way (the same role as the watcher's
/// debounce).
#[derive(Debug, Clone)]
pub(super) struct PollRule {
    interval: Duration,
    quiet: Duration,
    next: Instant,
    /// The last fingerprint seen; `None` when unknown, which makes the first scan a change.
    last: Option<Fingerprint>,
    /// A difference was seen and is waiting to be confirmed by an equal scan.
    settling: bool,
}

impl PollRule {
    /// Polls every `interval` from `now`; `last` is the state already known to the caller
    /// (`None`: unknown, so the first scan reports a change).
    pub(super) fn new(
        now: Instant,
        interval: Duration,
        quiet: Duration,
        last: Option<Fingerprint>,
    ) -> PollRule {
        PollRule {
            interval,
            quiet,
            next: now + interval,
            last,
            settling: false,
        }
    }

    /// When to scan next.
    pub(super) fn poll_timeout(&self) -> Instant {
        self.next
    }

    /// A scan taken at `now`: `true` exactly once per change, when it has been stable.
    pub(super) fn handle_scan(&mut self, now: Instant, scan: Fingerprint) -> bool {
        if self.last.as_ref() != Some(&scan) {
            self.last = Some(scan);
            self.settling = true;
            self.next = now + self.quiet;
            false
        } else {
            self.next = now + self.interval;
            std::mem::take(&mut self.settling)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn files(names: &[(&str, u64)]) -> Fingerprint {
        Fingerprint::Files(
            names
                .iter()
                .map(|(n, len)| {
                    let stat = Stat {
                        len: *len,
                        modified: None,
                        ino: 1,
                        ctime: (0, 0),
                    };
                    (OsString::from(n), Some(stat))
                })
                .collect(),
        )
    }

    #[test]
    fn an_unchanged_directory_is_scanned_every_interval_and_never_reported() {
        let t0 = Instant::now();
        let mut rule = PollRule::new(t0, 2000 * MS, 200 * MS, Some(files(&[("a.toml", 1)])));
        assert_eq!(rule.poll_timeout(), t0 + 2000 * MS);
        for i in 1..5u32 {
            let now = t0 + i * 2000 * MS;
            assert!(!rule.handle_scan(now, files(&[("a.toml", 1)])));
            assert_eq!(rule.poll_timeout(), now + 2000 * MS);
        }
    }

    #[test]
    fn a_change_is_reported_once_after_a_quiet_rescan_confirms_it() {
        let t0 = Instant::now();
        let mut rule = PollRule::new(t0, 2000 * MS, 200 * MS, Some(files(&[("a.toml", 1)])));
        let t1 = t0 + 2000 * MS;
        // Being written: seen, not yet reported; rescanned soon.
        assert!(!rule.handle_scan(t1, files(&[("a.toml", 5)])));
        assert_eq!(rule.poll_timeout(), t1 + 200 * MS);
        // Still growing: still not reported.
        assert!(!rule.handle_scan(t1 + 200 * MS, files(&[("a.toml", 9)])));
        assert_eq!(rule.poll_timeout(), t1 + 400 * MS);
        // Stable: reported once, then back to the interval.
        assert!(rule.handle_scan(t1 + 400 * MS, files(&[("a.toml", 9)])));
        assert_eq!(rule.poll_timeout(), t1 + 2400 * MS);
        assert!(!rule.handle_scan(t1 + 2400 * MS, files(&[("a.toml", 9)])));
    }

    #[test]
    fn removals_new_files_and_an_unreadable_directory_are_changes() {
        let t0 = Instant::now();
        let mut rule = PollRule::new(t0, 2000 * MS, 200 * MS, Some(files(&[("a.toml", 1)])));
        let mut now = t0;
        let mut settle = |rule: &mut PollRule, scan: Fingerprint| {
            now += 2000 * MS;
            let first = rule.handle_scan(now, scan.clone());
            now += 200 * MS;
            (first, rule.handle_scan(now, scan))
        };
        assert_eq!(
            settle(&mut rule, files(&[("a.toml", 1), ("b.toml", 1)])),
            (false, true)
        );
        assert_eq!(settle(&mut rule, files(&[("b.toml", 1)])), (false, true));
        let gone = Fingerprint::Unreadable(std::io::ErrorKind::NotFound);
        assert_eq!(settle(&mut rule, gone), (false, true));
        assert_eq!(settle(&mut rule, files(&[])), (false, true));
    }

    #[test]
    fn an_unknown_start_reports_the_first_stable_scan() {
        let t0 = Instant::now();
        let mut rule = PollRule::new(t0, 2000 * MS, 200 * MS, None);
        assert!(!rule.handle_scan(t0 + 2000 * MS, files(&[])));
        assert!(rule.handle_scan(t0 + 2200 * MS, files(&[])));
    }

    #[test]
    fn fingerprint_sees_binding_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let before = fingerprint(d);
        assert_eq!(before, Fingerprint::Files(Vec::new()));
        std::fs::write(d.join(".a.toml.swp"), "x").unwrap();
        std::fs::write(d.join("notes.txt"), "x").unwrap();
        assert_eq!(fingerprint(d), before);
        std::fs::write(d.join("a.toml"), "x").unwrap();
        let with_a = fingerprint(d);
        assert_ne!(with_a, before);
        std::fs::write(d.join("a.toml"), "xy").unwrap();
        assert_ne!(fingerprint(d), with_a);
        assert_eq!(
            fingerprint(&d.join("missing")),
            Fingerprint::Unreadable(std::io::ErrorKind::NotFound)
        );
    }
}
