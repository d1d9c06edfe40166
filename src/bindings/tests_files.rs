//! Tests of what `load_dir` reads (only regular files, within a size limit, never blocking)
//! and of loading time at scale (issue 8 item 4).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::*;
use crate::config::ConfigErrors;

const OWN: &str = "08-00-00-1a-7c-62@localhost/ilon";
const DI1: &str = "Net/LON/iLON App/Digital Input 1/nvoClsValue_1";

/// Generous: a loaded CI machine must not fail a correct loader; a hang never ends.
const DEADLINE: Duration = Duration::from_secs(20);

fn locals() -> BTreeSet<String> {
    [DI1.to_owned()].into_iter().collect()
}

/// Runs `load_dir` on a thread and gives up after `deadline`: a loader that blocks (a FIFO)
/// fails the test instead of hanging it. The thread is left behind if it hangs.
fn load_within(dir: &Path, deadline: Duration) -> Result<Result<BindingSet, ConfigErrors>, String> {
    let (tx, rx) = mpsc::channel();
    let dir = dir.to_owned();
    std::thread::spawn(move || {
        let own: Jid = OWN.parse().unwrap();
        let locals = locals();
        let ctx = Context {
            own_jid: &own,
            local_names: &locals,
        };
        let _ = tx.send(load_dir(&dir, &ctx));
    });
    rx.recv_timeout(deadline)
        .map_err(|_| format!("load_dir did not return within {deadline:?}"))
}

fn load_err(dir: &Path) -> String {
    match load_within(dir, DEADLINE) {
        Ok(Ok(set)) => panic!("unexpected success: {set:?}"),
        Ok(Err(e)) => e.to_string(),
        Err(hang) => panic!("{hang}"),
    }
}

const HOST: &str = "[[host]]\nname = \"site-b\"\nmac_id = \"00-D0-71-02-1B-1C\"\n";

pub(super) fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

#[test]
fn a_fifo_named_toml_is_an_error_naming_it_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), HOST).unwrap();
    let fifo = dir.path().join("fifo.toml");
    mkfifo(&fifo);
    assert_eq!(
        load_err(dir.path()),
        format!(
            "{}: cannot read the binding file: it is a FIFO, not a regular file",
            fifo.display()
        )
    );
    // Through a symlink too.
    std::fs::remove_file(&fifo).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    mkfifo(&elsewhere.path().join("pipe"));
    let link = dir.path().join("link.toml");
    std::os::unix::fs::symlink(elsewhere.path().join("pipe"), &link).unwrap();
    assert_eq!(
        load_err(dir.path()),
        format!(
            "{}: cannot read the binding file: it is a FIFO, not a regular file",
            link.display()
        )
    );
}

#[test]
fn a_symlink_to_dev_zero_is_an_error_naming_it_not_a_memory_leak() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    assert_eq!(
        load_err(dir.path()),
        format!(
            "{}: cannot read the binding file: it is a character device, not a regular file",
            link.display()
        )
    );
}

#[test]
fn a_file_over_the_size_limit_is_an_error_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let limit = usize::try_from(MAX_FILE_BYTES).unwrap();
    // Exactly at the limit: loaded (a comment, so it is valid TOML).
    let mut at_limit = String::from(HOST);
    at_limit.push('#');
    at_limit.push_str(&"x".repeat(limit - at_limit.len() - 1));
    at_limit.push('\n');
    assert_eq!(at_limit.len(), limit);
    std::fs::write(dir.path().join("a.toml"), &at_limit).unwrap();
    let set = load_within(dir.path(), DEADLINE).unwrap().unwrap();
    assert_eq!(set.hosts.len(), 1);
    // One byte more: refused, naming the file and the limit.
    at_limit.push('\n');
    std::fs::write(dir.path().join("a.toml"), &at_limit).unwrap();
    assert_eq!(
        load_err(dir.path()),
        format!(
            "{}: cannot read the binding file: it is larger than the limit of 4 MiB \
             (4194304 bytes)",
            dir.path().join("a.toml").display()
        )
    );
}

#[test]
fn a_symlink_to_a_regular_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("host"), HOST).unwrap();
    std::os::unix::fs::symlink(elsewhere.path().join("host"), dir.path().join("a.toml")).unwrap();
    let set = load_within(dir.path(), DEADLINE).unwrap().unwrap();
    assert_eq!(set.hosts.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Scale
// ---------------------------------------------------------------------------------------------

/// One binding file: a host and `n` connections, one source fanned out to `n` targets.
pub(super) fn many_connections(n: usize) -> String {
    let mut text = String::from(HOST);
    for i in 0..n {
        text.push_str(&format!(
            "\n[[connection]]\nsource = \"{DI1}\"\nhost = \"site-b\"\n\
             target = \"Net/LON/iLON App/Digital Output/nviValue_{i}\"\n"
        ));
    }
    text
}

fn parse_many(text: String) -> Result<BindingSet, ConfigErrors> {
    let own: Jid = OWN.parse().unwrap();
    let locals = locals();
    let ctx = Context {
        own_jid: &own,
        local_names: &locals,
    };
    parse_files(&[(PathBuf::from("a.toml"), text)], &ctx)
}

/// 20,000 connections once took 13 s (release) to check: the position of every connection
/// was found by scanning its file from the start. Ten times the connections must cost about
/// ten times the time, not a hundred: the bound is 30 times, with a floor for timer noise.
#[test]
fn loading_time_grows_linearly_with_the_number_of_connections() {
    let small = (0..3)
        .map(|_| {
            let text = many_connections(2_000);
            let start = Instant::now();
            let set = parse_many(text).unwrap();
            let took = start.elapsed();
            assert_eq!(set.connections.len(), 2_000);
            took
        })
        .min()
        .unwrap();
    let bound = (small * 30).max(Duration::from_secs(2));
    let text = many_connections(20_000);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let start = Instant::now();
        let n = parse_many(text).map(|set| set.connections.len());
        let _ = tx.send((n, start.elapsed()));
    });
    match rx.recv_timeout(bound) {
        Ok((n, large)) => {
            assert_eq!(n.unwrap(), 20_000);
            eprintln!("2,000 connections: {small:?}; 20,000: {large:?}");
        }
        Err(_) => panic!(
            "20,000 connections took longer than {bound:?} (30 times the {small:?} of 2,000)"
        ),
    }
}
