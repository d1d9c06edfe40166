//! Tests of `DirWatch` against a real temp directory: what fires, what stays quiet, and a
//! directory removed and created again.

use super::*;

fn watched_dir_with_one_file() -> (tempfile::TempDir, DirWatch) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.toml"), HOST_B).unwrap();
    let w = DirWatch::new(dir.path(), DEBOUNCE).unwrap();
    assert_eq!(w.dir(), dir.path());
    (dir, w)
}

#[tokio::test]
async fn dir_watch_fires_after_an_atomic_rename_over_a_binding_file() {
    let (dir, mut w) = watched_dir_with_one_file();
    let tmp = dir.path().join("x.toml.tmp");
    std::fs::write(&tmp, format!("{HOST_B}retry_time = \"5s\"\n")).unwrap();
    std::fs::rename(&tmp, dir.path().join("x.toml")).unwrap();
    assert!(fires(&mut w).await, "no change reported after the rename");
    // One burst, one signal.
    assert!(stays_quiet(&mut w).await, "a second change was reported");
}

#[tokio::test]
async fn dir_watch_fires_after_a_plain_write() {
    let (dir, mut w) = watched_dir_with_one_file();
    std::fs::write(dir.path().join("x.toml"), "").unwrap();
    assert!(fires(&mut w).await, "no change reported after the write");
}

#[tokio::test]
async fn dir_watch_fires_after_a_new_file_and_after_a_delete() {
    let (dir, mut w) = watched_dir_with_one_file();
    std::fs::write(dir.path().join("y.toml"), "").unwrap();
    assert!(fires(&mut w).await, "no change reported for a new file");
    std::fs::remove_file(dir.path().join("x.toml")).unwrap();
    assert!(fires(&mut w).await, "no change reported for a delete");
}

#[tokio::test]
async fn dir_watch_ignores_swap_files_and_its_own_reads() {
    let (dir, mut w) = watched_dir_with_one_file();
    let swp = dir.path().join(".x.toml.swp");
    std::fs::write(&swp, "swap").unwrap();
    std::fs::write(&swp, "swap again").unwrap();
    std::fs::remove_file(&swp).unwrap();
    // Reading the directory opens every file: that must not look like a change.
    load(dir.path()).unwrap();
    assert!(stays_quiet(&mut w).await, "a change was reported");
    // Still watching.
    std::fs::write(dir.path().join("x.toml"), "").unwrap();
    assert!(fires(&mut w).await, "no change reported after the write");
}

#[tokio::test]
async fn dir_watch_follows_a_directory_that_is_removed_and_created_again() {
    let parent = tempfile::tempdir().unwrap();
    let d = parent.path().join("bindings");
    std::fs::create_dir(&d).unwrap();
    let mut w = DirWatch::new(&d, DEBOUNCE).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
    assert!(fires(&mut w).await, "no change reported for the removal");
    std::fs::create_dir(&d).unwrap();
    // Resolves once the watch is set up again, after at most one retry interval.
    assert!(fires(&mut w).await, "the directory was not watched again");
    std::fs::write(d.join("x.toml"), "").unwrap();
    assert!(
        fires(&mut w).await,
        "no change reported in the new directory"
    );
}

#[test]
fn dir_watch_of_a_missing_directory_or_a_file_is_an_error() {
    let parent = tempfile::tempdir().unwrap();
    let missing = parent.path().join("nope");
    match DirWatch::new(&missing, DEBOUNCE) {
        Err(WatchError::Watch { dir, source }) => {
            assert_eq!(dir, missing);
            assert!(
                matches!(source.kind, notify::ErrorKind::PathNotFound),
                "{source:?}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let file = parent.path().join("file");
    std::fs::write(&file, "").unwrap();
    let err = DirWatch::new(&file, DEBOUNCE).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the binding directory is not a directory",
            file.display()
        )
    );
}
