//! Tests of the three password sources (file, environment, literal): how `load` resolves them,
//! how a missing or conflicting source is reported, and that the secret never shows.

use super::*;

#[test]
fn spec_example_loads_with_the_password_file_next_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("webbinder.toml");
    std::fs::write(&path, SPEC_EXAMPLE).unwrap();
    std::fs::write(dir.path().join("secret"), "s3cret\n").unwrap();
    let config = load(&path).unwrap();
    assert_eq!(config.xmpp.password.expose(), "s3cret");
    assert_eq!(
        config.xmpp.password_source,
        PasswordSource::File(dir.path().join("secret"))
    );
    assert_eq!(config.agent.bindings_dir, dir.path().join("bindings"));
    assert_eq!(config.agent.state_dir, dir.path().join("state"));
    assert_eq!(config.warnings(), &[]);
}

#[test]
fn password_file_is_relative_to_the_config_directory() {
    let src = XMPP.replace(
        "password_env = \"WB_PASSWORD\"",
        "password_file = \"keys/pw\"",
    );
    let config = parse(&src);
    assert_eq!(
        config.xmpp.password_source,
        PasswordSource::File(PathBuf::from("/etc/webbinder/keys/pw"))
    );
}

#[test]
fn load_strips_trailing_newlines_from_the_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("webbinder.toml");
    let src = XMPP.replace("password_env = \"WB_PASSWORD\"", "password_file = \"pw\"");
    std::fs::write(&path, src).unwrap();
    std::fs::write(dir.path().join("pw"), "top secret\r\n").unwrap();
    let config = load(&path).unwrap();
    assert_eq!(config.xmpp.password.expose(), "top secret");
}

#[test]
fn load_with_missing_password_file_names_the_file_and_the_config_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("webbinder.toml");
    let src = XMPP.replace("password_env = \"WB_PASSWORD\"", "password_file = \"pw\"");
    std::fs::write(&path, src).unwrap();
    let err = load(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}:5:17: cannot read xmpp.password_file {}: no such file",
            path.display(),
            dir.path().join("pw").display()
        )
    );
}

#[test]
fn load_with_empty_password_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("webbinder.toml");
    let src = XMPP.replace("password_env = \"WB_PASSWORD\"", "password_file = \"pw\"");
    std::fs::write(&path, src).unwrap();
    std::fs::write(dir.path().join("pw"), "\n").unwrap();
    let err = load(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}:5:17: xmpp.password_file {} is empty",
            path.display(),
            dir.path().join("pw").display()
        )
    );
}

#[test]
fn load_reads_the_password_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("webbinder.toml");
    std::fs::write(&path, XMPP).unwrap();
    let env = |name: &str| {
        if name == "WB_PASSWORD" {
            Ok("from env".to_owned())
        } else {
            Err(VarError::NotPresent)
        }
    };
    let config = load_with_env(&path, &env).unwrap();
    assert_eq!(config.xmpp.password.expose(), "from env");
    assert_eq!(
        config.xmpp.password_source,
        PasswordSource::Env("WB_PASSWORD".to_owned())
    );
}

#[test]
fn load_with_unset_password_variable_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("webbinder.toml");
    let src = XMPP.replace("WB_PASSWORD", "WEBBINDER_TEST_UNSET_7F3A9C");
    std::fs::write(&path, src).unwrap();
    // The real environment: nothing sets this name.
    let err = load(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}:5:16: xmpp.password_env: environment variable WEBBINDER_TEST_UNSET_7F3A9C is not set",
            path.display()
        )
    );
}

#[test]
fn load_reports_password_problems_together_with_other_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("webbinder.toml");
    std::fs::write(&path, format!("{XMPP}port = 0\n")).unwrap();
    let err = load_with_env(&path, &no_env).unwrap_err().to_string();
    let p = path.display();
    assert_eq!(
        err,
        format!(
            "{p}:5:16: xmpp.password_env: environment variable WB_PASSWORD is not set\n\
                 {p}:6:8: xmpp.port 0 is outside 1..=65535"
        )
    );
}

#[test]
fn literal_password_is_accepted_with_a_warning() {
    let src = XMPP.replace("password_env = \"WB_PASSWORD\"", "password = \"hunter2\"");
    let config = parse(&src);
    assert_eq!(config.xmpp.password.expose(), "hunter2");
    assert_eq!(config.xmpp.password_source, PasswordSource::Literal);
    let warnings: Vec<String> = config.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [format!(
            "{ORIGIN}:5:12: xmpp.password holds the password in clear text; \
                 prefer password_file or password_env"
        )]
    );
}

#[test]
fn secret_debug_never_shows_the_password() {
    let src = XMPP.replace("password_env = \"WB_PASSWORD\"", "password = \"hunter2\"");
    let config = parse(&src);
    assert_eq!(format!("{:?}", config.xmpp.password), "***");
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[test]
fn missing_password_source_is_reported_at_the_xmpp_table() {
    let src = XMPP.replace("password_env = \"WB_PASSWORD\"\n", "");
    assert_eq!(
        errors(&src),
        format!(
            "{ORIGIN}:1:1: [xmpp] needs a password source: one of password_file, \
                 password_env or password"
        )
    );
}

#[test]
fn second_password_source_is_reported_as_a_conflict() {
    let src = format!("{XMPP}password = \"x\"\n");
    assert_eq!(
        errors(&src),
        format!(
            "{ORIGIN}:6:12: xmpp.password conflicts with xmpp.password_env (line 5): \
                 give exactly one of password_file, password_env or password"
        )
    );
}
