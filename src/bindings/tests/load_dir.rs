//! Tests of `load_dir` against real temp directories: which file names count as binding files
//! and how read failures are named.

use super::*;
use crate::bindings::load::is_binding_file_name;

#[test]
fn binding_file_names_exclude_editor_and_temporary_files() {
    for name in ["a.toml", "site-b.toml", "#a.toml", "a#.toml", "x.y.toml"] {
        assert!(is_binding_file_name(name), "{name}");
    }
    for name in [
        ".toml",
        ".a.toml",
        ".a.toml.swp",
        ".#a.toml",
        "a.toml~",
        "#a.toml#",
        "a.toml.swp",
        "a.toml.swx",
        "a.toml.tmp",
        "a.tmp",
        "4913",
        "a.TOML",
        "a.toml.bak",
        "README",
    ] {
        assert!(!is_binding_file_name(name), "{name}");
    }
}

#[test]
fn load_dir_reads_only_binding_files_in_sorted_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("b.toml"), HOST_B).unwrap();
    let conn =
        format!("[[connection]]\nsource = \"{DI1}\"\nhost = \"site-b\"\ntarget = \"{DO1}\"\n");
    std::fs::write(d.join("a.toml"), &conn).unwrap();
    // Ignored: each would be an error if it were read.
    for ignored in [
        ".a.toml.swp",
        ".hidden.toml",
        "a.toml~",
        "#a.toml#",
        "a.toml.tmp",
        "a.toml.swx",
        "notes.txt",
        "4913",
    ] {
        std::fs::write(d.join(ignored), "not [ toml").unwrap();
    }
    std::fs::create_dir(d.join("sub.toml")).unwrap();
    std::fs::write(d.join("sub.toml").join("c.toml"), "not [ toml").unwrap();

    let set = load(d).unwrap();
    let files: Vec<(PathBuf, usize, usize)> = set
        .files
        .iter()
        .map(|f| (f.path.clone(), f.hosts, f.connections))
        .collect();
    assert_eq!(files, [(d.join("a.toml"), 0, 1), (d.join("b.toml"), 1, 0)]);
    assert_eq!(set.connections[0].file, d.join("a.toml"));
    assert_eq!(set.hosts["site-b"].file, d.join("b.toml"));
}

#[test]
fn load_dir_of_an_empty_directory_is_an_empty_set() {
    let dir = tempfile::tempdir().unwrap();
    let set = load(dir.path()).unwrap();
    assert_eq!(
        set,
        BindingSet {
            hosts: Default::default(),
            connections: Vec::new(),
            files: Vec::new(),
        }
    );
}

#[test]
fn load_dir_of_a_missing_directory_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("bindings");
    let err = load(&missing).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: cannot read the binding directory: no such file or directory",
            missing.display()
        )
    );
    assert_eq!(err.errors()[0].position, None);
}

#[test]
fn load_dir_of_a_file_says_it_is_not_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bindings");
    std::fs::write(&file, "").unwrap();
    assert_eq!(
        load(&file).unwrap_err().to_string(),
        format!(
            "{}: cannot read the binding directory: not a directory",
            file.display()
        )
    );
}

#[test]
fn load_dir_reports_every_file_with_its_real_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.toml"), HOST_B).unwrap();
    std::fs::write(d.join("b.toml"), HOST_B).unwrap();
    std::fs::write(d.join("c.toml"), [0xff, 0xfe, b'\n']).unwrap();
    let (a, b, c) = (
        d.join("a.toml").display().to_string(),
        d.join("b.toml").display().to_string(),
        d.join("c.toml").display().to_string(),
    );
    assert_eq!(
        load(d).unwrap_err().to_string(),
        format!(
            "{b}:2:8: duplicate host name \"site-b\" (first defined at {a}:2:8)\n\
             {c}: cannot read the binding file: it is not valid UTF-8"
        )
    );
}
