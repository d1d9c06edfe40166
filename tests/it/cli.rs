//! The `webbinder` binary as a user runs it.

use std::process::Command;

const CONFIG: &str = r#"[xmpp]
server = "127.0.0.1"
domain = "localhost"
user = "08-00-00-1A-7C-62"
password_file = "secret"

[agent]
allow = ["pidgin@localhost"]

[[datapoint]]
name = "Net/LON/iLON App/Digital Output 1/nviClaValue_1"
type = "SNVT_switch"
value = "0.0 0"
direction = "in"
"#;

fn run(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_webbinder"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run webbinder");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_accepts_a_valid_config_and_shows_the_normalised_jid() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("webbinder.toml"), CONFIG).unwrap();
    std::fs::write(d.path().join("secret"), "pw\n").unwrap();
    let (code, out, err) = run(d.path(), &["check"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("08-00-00-1a-7c-62@localhost/ilon"), "{out}");
    assert!(out.contains("http://127.0.0.1:5280/http-bind"), "{out}");
}

#[test]
fn check_reports_every_error_with_file_line_col_and_exits_1() {
    let d = tempfile::tempdir().unwrap();
    let bad = CONFIG
        .replace("value = \"0.0 0\"", "value = \"abc\"")
        .replace("direction = \"in\"", "direction = \"sideways\"");
    std::fs::write(d.path().join("site.toml"), bad).unwrap();
    std::fs::write(d.path().join("secret"), "pw\n").unwrap();
    let (code, _out, err) = run(d.path(), &["--config", "site.toml", "check"]);
    assert_eq!(code, 1);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with("site.toml:13:9: "), "{err}");
    assert!(
        lines[0].contains("\"abc\" is not a valid SNVT_switch value"),
        "{err}"
    );
    assert!(lines[1].starts_with("site.toml:14:13: "), "{err}");
}

#[test]
fn check_names_a_missing_config_file() {
    let d = tempfile::tempdir().unwrap();
    let (code, _out, err) = run(d.path(), &["--config", "nope.toml", "check"]);
    assert_eq!(code, 1);
    assert!(err.contains("nope.toml"), "{err}");
}

#[test]
fn bad_usage_exits_2() {
    let d = tempfile::tempdir().unwrap();
    let (code, _out, _err) = run(d.path(), &["frobnicate"]);
    assert_eq!(code, 2);
}
