//! Tests of how the connection manager is reached: server and BOSH path, proxy, and the TLS CA
//! file, which `load` reads.

use super::*;

#[test]
fn ipv6_server_is_bracketed_in_the_bosh_url() {
    let bare = parse(&XMPP.replace("\"127.0.0.1\"", "\"::1\""));
    assert_eq!(bare.xmpp.bosh_url(), "http://[::1]:5280/http-bind");
    let bracketed = parse(&XMPP.replace("\"127.0.0.1\"", "\"[::1]\""));
    assert_eq!(bracketed.xmpp.server, "::1");
    assert_eq!(bracketed.xmpp.bosh_url(), "http://[::1]:5280/http-bind");
}

#[test]
fn proxy_setting_absent_none_or_url_and_malformed_names_the_position() {
    assert_eq!(parse(XMPP).xmpp.proxy, ProxySetting::FromEnv);
    let none = parse(&format!("{XMPP}proxy = \"none\"\n"));
    assert_eq!(none.xmpp.proxy, ProxySetting::Direct);
    let url = parse(&format!("{XMPP}proxy = \"http://proxy:3128\"\n"));
    assert_eq!(
        url.xmpp.proxy,
        ProxySetting::Url("http://proxy:3128".into())
    );
    let e = errors(&format!("{XMPP}proxy = \"socks5://u:pw@proxy:1080\"\n"));
    assert!(e.contains(&format!("{ORIGIN}:6:9: xmpp.proxy: ")), "{e}");
    assert!(
        e.contains("http:// or https://") && !e.contains("pw@"),
        "{e}"
    );
    let e = errors(&format!("{XMPP}proxy = \"http://proxy\"\n"));
    assert!(e.contains(":6:9: ") && e.contains("no port"), "{e}");
}

#[test]
fn ca_file_is_relative_to_the_config_directory_and_optional() {
    assert_eq!(parse(XMPP).xmpp.ca_file, None);
    let config = parse(&format!("{XMPP}ca_file = \"certs/site-ca.pem\"\n"));
    assert_eq!(
        config.xmpp.ca_file,
        Some(PathBuf::from("/etc/webbinder/certs/site-ca.pem"))
    );
}

#[test]
fn load_reads_the_ca_file_and_names_it_when_unusable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("webbinder.toml");
    let src = XMPP.replace("password_env = \"WB_PASSWORD\"", "password = \"x\"");
    std::fs::write(&path, format!("{src}ca_file = \"ca.pem\"\n")).unwrap();
    let ca = dir.path().join("ca.pem");
    let err = load(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}:6:11: xmpp.ca_file: cannot read the CA file {}: no such file",
            path.display(),
            ca.display()
        )
    );
    std::fs::write(&ca, "not a certificate\n").unwrap();
    let err = load(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}:6:11: xmpp.ca_file: the CA file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display(),
            ca.display()
        )
    );
    std::fs::write(&ca, include_str!("../../xmpp/http/test-ca.pem")).unwrap();
    assert_eq!(load(&path).unwrap().xmpp.ca_file, Some(ca));
}

#[test]
fn invalid_server_and_bosh_path_are_reported_at_the_value() {
    let src = XMPP.replace("\"127.0.0.1\"", "\"http://x\"") + "bosh_path = \"http-bind\"\n";
    assert_eq!(
        errors(&src),
        format!(
            "{ORIGIN}:2:10: xmpp.server \"http://x\" is not a host name or IP address\n\
                 {ORIGIN}:6:13: xmpp.bosh_path \"http-bind\" must start with '/'"
        )
    );
}
