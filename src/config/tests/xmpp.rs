//! Tests of the `[xmpp]` account keys (user, domain, port, wait): how they are normalised and
//! where a bad value is reported.

use super::*;

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
fn an_over_long_jid_part_names_its_length() {
    let problem = check_jid_part(&"r".repeat(1024), "resource").unwrap_err();
    assert_eq!(
        problem.to_string(),
        "it is 1024 bytes long, over the limit of 1023"
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
