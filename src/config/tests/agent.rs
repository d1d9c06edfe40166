//! Tests of the `[agent]` keys: the admin endpoint, the `allow` list, and the binding and state
//! directories resolved against the config file's directory.

use super::*;

#[test]
fn admin_off_disables_the_endpoint() {
    let config = parse(&format!("{XMPP}[agent]\nadmin = \"off\"\n"));
    assert_eq!(config.agent.admin, None);
}

#[test]
fn relative_paths_resolve_against_the_config_directory() {
    let src =
        format!("{XMPP}[agent]\nbindings = \"conf/bindings\"\nstate = \"/var/lib/webbinder\"\n");
    let config = parse_str(&src, Path::new("sites/a/webbinder.toml")).unwrap();
    assert_eq!(config.dir, PathBuf::from("sites/a"));
    assert_eq!(
        config.agent.bindings_dir,
        PathBuf::from("sites/a/conf/bindings")
    );
    assert_eq!(config.agent.state_dir, PathBuf::from("/var/lib/webbinder"));
}

#[test]
fn config_path_without_directory_resolves_against_the_current_directory() {
    let config = parse_str(XMPP, Path::new("webbinder.toml")).unwrap();
    assert_eq!(config.dir, PathBuf::from("."));
    assert_eq!(config.agent.bindings_dir, PathBuf::from("./bindings"));
    assert_eq!(config.agent.state_dir, PathBuf::from("./state"));
}

#[test]
fn bad_allow_jids_are_reported_at_each_entry() {
    let src = format!(
        "{XMPP}[agent]\nallow = [\"ok@localhost\", \"a b@x\", \"pidgin@localhost/home\"]\n"
    );
    assert_eq!(
        errors(&src),
        format!(
            "{ORIGIN}:7:26: agent.allow entry is invalid: jid \"a b@x\" has forbidden character ' ' in its node\n\
                 {ORIGIN}:7:35: agent.allow entry \"pidgin@localhost/home\" must be a bare jid (without /resource)"
        )
    );
}

#[test]
fn non_loopback_admin_address_is_refused() {
    assert_eq!(
        errors(&format!("{XMPP}[agent]\nadmin = \"0.0.0.0:9750\"\n")),
        format!(
            "{ORIGIN}:7:9: agent.admin 0.0.0.0:9750 is not a loopback address: the admin \
                 endpoint has no authentication, so it listens on 127.0.0.1 or [::1] only"
        )
    );
    assert_eq!(
        errors(&format!("{XMPP}[agent]\nadmin = \"localhost\"\n")),
        format!(
            "{ORIGIN}:7:9: agent.admin \"localhost\" is not an address such as \
                 \"127.0.0.1:9750\" or \"off\""
        )
    );
}
