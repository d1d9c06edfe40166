//! Tests of the SPEC §3 example and of a config as a whole: the documented defaults, and every
//! optional key given at once.

use super::*;

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
