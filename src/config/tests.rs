use super::*;
use crate::datapoints::Direction;
use crate::datapoints::snvt::DpType;

const ORIGIN: &str = "/etc/webbinder/webbinder.toml";

/// A minimal valid `[xmpp]` table: five lines, so that what a test appends starts on line 6.
const XMPP: &str = "[xmpp]\n\
                        server = \"127.0.0.1\"\n\
                        domain = \"localhost\"\n\
                        user = \"08-00-00-1A-7C-62\"\n\
                        password_env = \"WB_PASSWORD\"\n";

fn parse(src: &str) -> Config {
    parse_str(src, Path::new(ORIGIN)).unwrap()
}

fn errors(src: &str) -> String {
    parse_str(src, Path::new(ORIGIN)).unwrap_err().to_string()
}

fn no_env(_: &str) -> Result<String, VarError> {
    Err(VarError::NotPresent)
}

/// SPEC §3, verbatim.
const SPEC_EXAMPLE: &str = r#"[xmpp]                      # the SmartServer "Setup - Message" page
server = "127.0.0.1"        # XMPP server / BOSH connection manager host ("IP or Hostname")
port = 5280                 # "Message Port"
bosh_path = "/http-bind"    # "BOSH Path"
tls = false                 # https:// to the connection manager; certificates verified
domain = "localhost"        # "Message Domain"
user = "08-00-00-1A-7C-62"  # "User Name": this site's MAC ID
password_file = "secret"    # trailing newline ignored; or password_env = "VAR"; a literal `password` is allowed but warned about
resource = "ilon"           # default "ilon"

[agent]
bindings = "bindings"       # directory of *.toml binding files, watched and hot-reloaded
state = "state"             # sled directory
admin = "127.0.0.1:9750"    # admin/metrics HTTP endpoint; loopback only unless stated; "off" disables
allow = ["pidgin@localhost"]  # bare JIDs (besides every configured host) allowed to send SOAP requests

[[datapoint]]               # the local emulated LON datapoint table
name = "Net/LON/iLON App/Digital Output 1/nviClaValue_1"
type = "SNVT_switch"        # SNVT_switch, SNVT_temp_p, SNVT_lev_percent, SNVT_temp, SNVT_time_stamp, ...
value = "0.0 0"             # initial value in the type's formatted text form
direction = "in"            # in | out | in_out (default in_out)
"#;

#[test]
fn spec_example_parses_with_exact_values() {
    let config = parse(SPEC_EXAMPLE);
    let expected = Config {
        path: PathBuf::from(ORIGIN),
        dir: PathBuf::from("/etc/webbinder"),
        xmpp: XmppConfig {
            server: "127.0.0.1".to_owned(),
            port: 5280,
            bosh_path: "/http-bind".to_owned(),
            tls: false,
            servers: vec!["http://127.0.0.1:5280/http-bind".to_owned()],
            domain: "localhost".to_owned(),
            user: "08-00-00-1a-7c-62".to_owned(),
            resource: "ilon".to_owned(),
            password: Secret::default(),
            password_source: PasswordSource::File(PathBuf::from("/etc/webbinder/secret")),
            allow_plain: false,
            ca_file: None,
            wait: Duration::from_secs(60),
            max_stanza_size: 262_144,
            proxy: ProxySetting::FromEnv,
            jid: "08-00-00-1a-7c-62@localhost/ilon".parse().unwrap(),
            password_pos: Position { line: 8, col: 17 },
        },
        agent: AgentConfig {
            bindings_dir: PathBuf::from("/etc/webbinder/bindings"),
            state_dir: PathBuf::from("/etc/webbinder/state"),
            admin: Some("127.0.0.1:9750".parse().unwrap()),
            allow: vec!["pidgin@localhost".parse().unwrap()],
            iq_timeout: Duration::from_secs(120),
        },
        datapoints: vec![DatapointConfig {
            name: "Net/LON/iLON App/Digital Output 1/nviClaValue_1".to_owned(),
            dp_type: DpType::Switch,
            direction: Direction::In,
            initial: "0.0 0".to_owned(),
        }],
        warnings: Vec::new(),
    };
    assert_eq!(config, expected);
    assert_eq!(config.xmpp.bosh_url(), "http://127.0.0.1:5280/http-bind");
    assert_eq!(
        config.xmpp.jid().to_string(),
        "08-00-00-1a-7c-62@localhost/ilon"
    );
}

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
fn minimal_config_gets_the_documented_defaults() {
    let config = parse(XMPP);
    assert_eq!(config.xmpp.port, 5280);
    assert_eq!(config.xmpp.bosh_path, "/http-bind");
    assert!(!config.xmpp.tls);
    assert_eq!(config.xmpp.resource, "ilon");
    assert!(!config.xmpp.allow_plain);
    assert_eq!(config.xmpp.wait, Duration::from_secs(60));
    assert_eq!(
        config.xmpp.password_source,
        PasswordSource::Env("WB_PASSWORD".to_owned())
    );
    assert_eq!(config.xmpp.password, Secret::default());
    assert_eq!(
        config.agent,
        AgentConfig {
            bindings_dir: PathBuf::from("/etc/webbinder/bindings"),
            state_dir: PathBuf::from("/etc/webbinder/state"),
            admin: Some(DEFAULT_ADMIN),
            allow: Vec::new(),
            iq_timeout: Duration::from_secs(120),
        }
    );
    assert_eq!(config.datapoints, Vec::new());
    assert_eq!(config.warnings(), &[]);
}

#[test]
fn every_optional_key_is_honoured_when_given() {
    let src = "[xmpp]\n\
                   server = \"xmpp.example.org\"\n\
                   port = 5443\n\
                   bosh_path = \"/bosh\"\n\
                   tls = true\n\
                   domain = \"Example.ORG\"\n\
                   user = \"Site-Office\"\n\
                   password_env = \"PW\"\n\
                   resource = \"Agent1\"\n\
                   allow_plain = true\n\
                   wait = \"2m\"\n\
                   [agent]\n\
                   admin = \"[::1]:9999\"\n\
                   iq_timeout = \"30s\"\n\
                   allow = [\"Pidgin@Localhost\", \"ops@example.org\", \"pidgin@localhost\"]\n";
    let config = parse(src);
    assert_eq!(config.xmpp.bosh_url(), "https://xmpp.example.org:5443/bosh");
    assert_eq!(config.xmpp.domain, "example.org");
    assert_eq!(config.xmpp.user, "site-office");
    assert_eq!(config.xmpp.resource, "Agent1");
    assert!(config.xmpp.allow_plain);
    assert_eq!(config.xmpp.wait, Duration::from_secs(120));
    assert_eq!(
        config.xmpp.jid().to_string(),
        "site-office@example.org/Agent1"
    );
    assert_eq!(config.agent.admin, Some("[::1]:9999".parse().unwrap()));
    assert_eq!(config.agent.iq_timeout, Duration::from_secs(30));
    let allow: Vec<String> = config.agent.allow.iter().map(Jid::to_string).collect();
    assert_eq!(allow, ["pidgin@localhost", "ops@example.org"]);
}

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
fn admin_off_disables_the_endpoint() {
    let config = parse(&format!("{XMPP}[agent]\nadmin = \"off\"\n"));
    assert_eq!(config.agent.admin, None);
}

#[test]
fn mac_id_user_in_any_accepted_form_is_normalised() {
    for user in [
        "08-00-00-1A-7C-62",
        "0800001a7c62",
        "0800001A7C62",
        "08:00:00:1a:7c:62",
    ] {
        let config = parse(&XMPP.replace("08-00-00-1A-7C-62", user));
        assert_eq!(config.xmpp.user, "08-00-00-1a-7c-62", "user {user}");
        assert_eq!(
            config.xmpp.jid().to_string(),
            "08-00-00-1a-7c-62@localhost/ilon"
        );
    }
}

#[test]
fn non_mac_user_is_lower_cased() {
    let config = parse(&XMPP.replace("08-00-00-1A-7C-62", "Site-B"));
    assert_eq!(config.xmpp.user, "site-b");
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
fn datapoint_without_value_starts_at_its_types_neutral_value() {
    let mut src = XMPP.to_owned();
    for ty in [
        "SNVT_switch",
        "SNVT_temp_p",
        "SNVT_temp",
        "SNVT_lev_percent",
        "SNVT_time_stamp",
        "SNVT_hvac_mode",
    ] {
        src.push_str(&format!(
            "[[datapoint]]\nname = \"dp/{ty}\"\ntype = \"{ty}\"\n"
        ));
    }
    let initial: Vec<(String, String, Direction)> = parse(&src)
        .datapoints
        .into_iter()
        .map(|dp| (dp.dp_type.name().to_owned(), dp.initial, dp.direction))
        .collect();
    let expected = [
        ("SNVT_switch", "0.0 0"),
        ("SNVT_temp_p", "0.00"),
        ("SNVT_temp", "0.0"),
        ("SNVT_lev_percent", "0.000"),
        ("SNVT_time_stamp", "0000-00-00T00:00:00"),
        ("SNVT_hvac_mode", "HVAC_AUTO"),
    ]
    .map(|(t, v)| (t.to_owned(), v.to_owned(), Direction::InOut));
    assert_eq!(initial, expected);
}

#[test]
fn datapoint_value_is_kept_in_canonical_form() {
    let src = format!(
        "{XMPP}[[datapoint]]\nname = \"t\"\ntype = \"SNVT_temp_p\"\nvalue = \" 21 \"\ndirection = \"out\"\n\
             [[datapoint]]\nname = \"r\"\ntype = \"SNVT_count\"\nvalue = \"00c8\"\n"
    );
    let dps = parse(&src).datapoints;
    assert_eq!(
        dps,
        [
            DatapointConfig {
                name: "t".to_owned(),
                dp_type: DpType::TempP,
                direction: Direction::Out,
                initial: "21.00".to_owned(),
            },
            DatapointConfig {
                name: "r".to_owned(),
                dp_type: DpType::Raw {
                    name: "SNVT_count".to_owned()
                },
                direction: Direction::InOut,
                initial: "00C8".to_owned(),
            },
        ]
    );
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
    std::fs::write(&ca, include_str!("../xmpp/http/test-ca.pem")).unwrap();
    assert_eq!(load(&path).unwrap().xmpp.ca_file, Some(ca));
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
fn load_of_a_missing_config_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let err = load_with_env(&path, &no_env).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: cannot read the config file: no such file",
            path.display()
        )
    );
    assert_eq!(err.errors()[0].position, None);
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
fn port_outside_range_is_reported_at_the_value() {
    assert_eq!(
        errors(&format!("{XMPP}port = 0\n")),
        format!("{ORIGIN}:6:8: xmpp.port 0 is outside 1..=65535")
    );
    assert_eq!(
        errors(&format!("{XMPP}port = 65536\n")),
        format!("{ORIGIN}:6:8: xmpp.port 65536 is outside 1..=65535")
    );
}

#[test]
fn invalid_domain_is_reported_at_the_value() {
    assert_eq!(
        errors(&XMPP.replace("\"localhost\"", "\"local host\"")),
        format!(
            "{ORIGIN}:3:10: xmpp.domain \"local host\" is not a valid jid domain: \
                 it contains the forbidden character ' '"
        )
    );
    assert_eq!(
        errors(&XMPP.replace("\"localhost\"", "\"\"")),
        format!("{ORIGIN}:3:10: xmpp.domain \"\" is not a valid jid domain: it is empty")
    );
}

#[test]
fn invalid_user_is_reported_at_the_value() {
    assert_eq!(
        errors(&XMPP.replace("08-00-00-1A-7C-62", "site@b")),
        format!(
            "{ORIGIN}:4:8: xmpp.user \"site@b\" is not a valid jid node: \
                 it contains the forbidden character '@'"
        )
    );
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

#[test]
fn bad_durations_are_reported_at_the_value() {
    let src = format!("{XMPP}wait = \"soon\"\n[agent]\niq_timeout = \"0s\"\n");
    assert_eq!(
        errors(&src),
        format!(
            "{ORIGIN}:6:8: xmpp.wait \"soon\" is not a duration such as \"60s\" or \"2m\": \
                 expected number at 0\n\
                 {ORIGIN}:8:14: agent.iq_timeout \"0s\" must be longer than zero"
        )
    );
    assert_eq!(
        errors(&format!("{XMPP}wait = \"1500ms\"\n")),
        format!(
            "{ORIGIN}:6:8: xmpp.wait \"1500ms\" must be a whole number of seconds (BOSH `wait`)"
        )
    );
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

#[test]
fn missing_required_keys_are_all_reported_at_the_table_header() {
    let src = "\n[xmpp]\npassword_env = \"X\"\n\n[[datapoint]]\nvalue = \"1\"\n";
    assert_eq!(
        errors(src),
        format!(
            "{ORIGIN}:2:1: [xmpp] is missing the required key `server`\n\
                 {ORIGIN}:2:1: [xmpp] is missing the required key `domain`\n\
                 {ORIGIN}:2:1: [xmpp] is missing the required key `user`\n\
                 {ORIGIN}:5:1: [[datapoint]] is missing the required key `name`\n\
                 {ORIGIN}:5:1: [[datapoint]] is missing the required key `type`"
        )
    );
}

#[test]
fn missing_xmpp_table_is_reported_at_the_start() {
    assert_eq!(
        errors("[agent]\nstate = \"s\"\n"),
        format!(
            "{ORIGIN}:1:1: missing [xmpp] table: server, domain, user and a password \
                 source are required"
        )
    );
}

#[test]
fn duplicate_datapoint_names_name_both_lines() {
    let src = format!(
        "{XMPP}[[datapoint]]\nname = \"a/b\"\ntype = \"SNVT_temp\"\n\
             [[datapoint]]\nname = \"a/b\"\ntype = \"SNVT_switch\"\n"
    );
    assert_eq!(
        errors(&src),
        format!("{ORIGIN}:10:8: duplicate datapoint name \"a/b\" (first defined at line 7)")
    );
}

#[test]
fn unknown_direction_is_reported_at_the_value() {
    let src =
        format!("{XMPP}[[datapoint]]\nname = \"a\"\ntype = \"SNVT_temp\"\ndirection = \"both\"\n");
    assert_eq!(
        errors(&src),
        format!("{ORIGIN}:9:13: datapoint direction \"both\" is not one of in, out, in_out")
    );
}

#[test]
fn initial_value_that_does_not_fit_the_type_quotes_the_value_error() {
    let src =
        format!("{XMPP}[[datapoint]]\nname = \"a\"\ntype = \"SNVT_switch\"\nvalue = \"100.0 7\"\n");
    assert_eq!(
        errors(&src),
        format!(
            "{ORIGIN}:9:9: invalid datapoint value: \"100.0 7\" is not a valid SNVT_switch \
                 value: expected a state of -1, 0 or 1 after the level"
        )
    );
}

#[test]
fn raw_type_without_value_is_refused() {
    let src = format!("{XMPP}[[datapoint]]\nname = \"a\"\ntype = \"SNVT_count\"\n");
    assert_eq!(
        errors(&src),
        format!(
            "{ORIGIN}:8:8: datapoint type \"SNVT_count\" needs a value: webbinder keeps this \
                 type as raw hex bytes and cannot guess its size"
        )
    );
}

#[test]
fn built_in_clock_datapoint_cannot_be_configured() {
    let src =
        format!("{XMPP}[[datapoint]]\nname = \"{CLOCK_DATAPOINT}\"\ntype = \"SNVT_time_stamp\"\n");
    assert_eq!(
        errors(&src),
        format!(
            "{ORIGIN}:7:8: datapoint \"{CLOCK_DATAPOINT}\" is built in (the agent's real \
                 time clock) and cannot be configured"
        )
    );
}

#[test]
fn several_errors_are_reported_together_in_file_order() {
    let src = "[xmpp]\n\
                   server = \"127.0.0.1\"\n\
                   port = 0\n\
                   domain = \"local host\"\n\
                   user = \"08-00-00-1A-7C-62\"\n\
                   password_file = \"pw\"\n\
                   password_env = \"PW\"\n\
                   [agent]\n\
                   admin = \"10.0.0.1:9750\"\n\
                   [[datapoint]]\n\
                   name = \"x\"\n\
                   type = \"SNVT_temp_p\"\n\
                   value = \"warm\"\n\
                   direction = \"sideways\"\n";
    let err = parse_str(src, Path::new(ORIGIN)).unwrap_err();
    assert_eq!(err.errors().len(), 6);
    assert_eq!(
        err.to_string(),
        format!(
            "{ORIGIN}:3:8: xmpp.port 0 is outside 1..=65535\n\
                 {ORIGIN}:4:10: xmpp.domain \"local host\" is not a valid jid domain: it contains the forbidden character ' '\n\
                 {ORIGIN}:7:16: xmpp.password_env conflicts with xmpp.password_file (line 6): give exactly one of password_file, password_env or password\n\
                 {ORIGIN}:9:9: agent.admin 10.0.0.1:9750 is not a loopback address: the admin endpoint has no authentication, so it listens on 127.0.0.1 or [::1] only\n\
                 {ORIGIN}:13:9: invalid datapoint value: \"warm\" is not a valid SNVT_temp_p value: expected a number between -273.17 and 327.66\n\
                 {ORIGIN}:14:13: datapoint direction \"sideways\" is not one of in, out, in_out"
        )
    );
}

#[test]
fn unknown_field_is_rejected_with_its_position() {
    assert_eq!(
        errors(&format!("{XMPP}pasword = \"x\"\n")),
        format!(
            "{ORIGIN}:6:1: xmpp: unknown field `pasword`, expected one of `server`, `port`, \
                 `bosh_path`, `tls`, `domain`, `user`, `password_file`, `password_env`, \
                 `password`, `resource`, `allow_plain`, `ca_file`, `wait`, `max_stanza_size`, \
                 `servers`, `proxy`"
        )
    );
    assert_eq!(
        errors(&format!("{XMPP}[agents]\n")),
        format!(
            "{ORIGIN}:6:2: unknown field `agents`, expected one of `xmpp`, `agent`, `datapoint`"
        )
    );
}

#[test]
fn wrong_value_type_is_rejected_with_its_position_and_key() {
    assert_eq!(
        errors(&format!("{XMPP}tls = \"yes\"\n")),
        format!("{ORIGIN}:6:7: xmpp.tls: invalid type: string \"yes\", expected a boolean")
    );
}

#[test]
fn toml_syntax_error_is_reported_with_its_position() {
    assert_eq!(
        errors("[xmpp]\nserver = \"127.0.0.1\nport = 5280\n"),
        format!("{ORIGIN}:2:20: invalid basic string, expected `\"`")
    );
}

#[test]
fn duplicate_key_is_reported_with_its_name() {
    assert_eq!(
        errors(&format!("{XMPP}server = \"other\"\n")),
        format!("{ORIGIN}:6:1: duplicate key `server`")
    );
}

#[test]
fn column_counts_characters_not_bytes() {
    let src = XMPP.replace("\"localhost\"", "\"é\"") + "port = 0\n";
    let err = parse_str(&src, Path::new(ORIGIN)).unwrap_err();
    let p = Position::of(&src, src.find("0\n").unwrap());
    assert_eq!(p, Position { line: 6, col: 8 });
    assert_eq!(err.errors()[0].position, Some(p));
    let line2 = "x = \"é\" y";
    assert_eq!(
        Position::of(line2, line2.find('y').unwrap()),
        Position { line: 1, col: 9 }
    );
}
