//! Tests of how problems are reported: `FILE:LINE:COL` positions counted in characters, every
//! error at once, and the messages of serde and TOML errors.

use super::*;

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
