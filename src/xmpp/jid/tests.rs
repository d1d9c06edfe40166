//! Unit tests of JID and MAC-ID parsing, validation and normalisation.
use super::*;

fn jid(s: &str) -> Jid {
    match s.parse() {
        Ok(j) => j,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

#[test]
fn full_jid_splits_into_node_domain_and_resource() {
    let j = jid("alice@example.com/phone");
    assert_eq!(j.node(), Some("alice"));
    assert_eq!(j.domain(), "example.com");
    assert_eq!(j.resource(), Some("phone"));
    assert!(!j.is_bare());
}

#[test]
fn domain_only_jid_has_no_node_or_resource() {
    let j = jid("example.com");
    assert_eq!(j.node(), None);
    assert_eq!(j.domain(), "example.com");
    assert_eq!(j.resource(), None);
    assert!(j.is_bare());
}

#[test]
fn resource_starts_after_the_first_slash_and_may_hold_at_and_slash() {
    let j = jid("a@b/c@d/e");
    assert_eq!(j.node(), Some("a"));
    assert_eq!(j.domain(), "b");
    assert_eq!(j.resource(), Some("c@d/e"));
}

#[test]
fn at_sign_only_in_resource_means_no_node() {
    let j = jid("example.com/x@y");
    assert_eq!(j.node(), None);
    assert_eq!(j.domain(), "example.com");
    assert_eq!(j.resource(), Some("x@y"));
}

#[test]
fn node_and_domain_are_lower_cased_and_resource_kept() {
    let j = jid("ÄLice@Example.COM/PhOnE");
    assert_eq!(j.node(), Some("älice"));
    assert_eq!(j.domain(), "example.com");
    assert_eq!(j.resource(), Some("PhOnE"));
    assert_eq!(j, jid("älice@example.com/PhOnE"));
    assert_ne!(j, jid("älice@example.com/phone"));
}

#[test]
fn one_trailing_dot_is_removed_from_the_domain() {
    assert_eq!(jid("a@example.com.").domain(), "example.com");
    assert_eq!(jid("a@example.com."), jid("a@example.com"));
}

#[test]
fn display_round_trips() {
    for s in [
        "a@b.c/r",
        "b.c",
        "a@b.c",
        "b.c/r/s",
        "08-00-00-1a-7c-62@b/x",
    ] {
        assert_eq!(jid(s).to_string(), s);
        assert_eq!(jid(&jid(s).to_string()), jid(s));
    }
}

#[test]
fn display_shows_the_normalised_form() {
    assert_eq!(
        jid("Bob@Example.ORG./Desk").to_string(),
        "bob@example.org/Desk"
    );
}

#[test]
fn new_normalises_like_parse() {
    let j = Jid::new(Some("Bob"), "Example.org.", Some("Desk"));
    assert_eq!(j, Ok(jid("bob@example.org/Desk")));
    assert_eq!(Jid::new(None, "example.org", None), Ok(jid("example.org")));
}

#[test]
fn bare_drops_the_resource() {
    let j = jid("a@b/r");
    assert_eq!(j.bare(), jid("a@b"));
    assert!(j.bare().is_bare());
    assert_eq!(jid("a@b").bare(), jid("a@b"));
}

#[test]
fn with_resource_replaces_or_adds_the_resource() {
    assert_eq!(jid("a@b").with_resource("R"), Ok(jid("a@b/R")));
    assert_eq!(jid("a@b/old").with_resource("new"), Ok(jid("a@b/new")));
}

#[test]
fn with_resource_rejects_an_empty_resource() {
    assert_eq!(
        jid("a@b").with_resource(""),
        Err(JidError::EmptyPart {
            input: "a@b/".into(),
            part: "resource"
        })
    );
}

#[test]
fn empty_resource_is_rejected() {
    assert_eq!(
        "a@b/".parse::<Jid>(),
        Err(JidError::EmptyPart {
            input: "a@b/".into(),
            part: "resource"
        })
    );
}

#[test]
fn empty_node_is_rejected() {
    assert_eq!(
        "@b".parse::<Jid>(),
        Err(JidError::EmptyPart {
            input: "@b".into(),
            part: "node"
        })
    );
}

#[test]
fn empty_domain_is_rejected() {
    for s in ["", "a@", "a@/r", "/r", "a@."] {
        assert_eq!(
            s.parse::<Jid>(),
            Err(JidError::EmptyPart {
                input: s.into(),
                part: "domain"
            }),
            "{s:?}"
        );
    }
}

#[test]
fn each_forbidden_node_character_is_rejected() {
    for ch in ['"', '&', '\'', ':', '<', '>', ' ', '\t', '\u{7f}', '\u{a0}'] {
        let input = format!("a{ch}b@example.com");
        assert_eq!(
            input.parse::<Jid>(),
            Err(JidError::ForbiddenChar {
                input: input.clone(),
                part: "node",
                ch
            }),
            "{ch:?}"
        );
    }
}

#[test]
fn slash_and_at_in_node_are_rejected_by_new() {
    for ch in ['/', '@'] {
        let node = format!("a{ch}b");
        assert_eq!(
            Jid::new(Some(&node), "example.com", None),
            Err(JidError::ForbiddenChar {
                input: format!("{node}@example.com"),
                part: "node",
                ch
            })
        );
    }
}

#[test]
fn second_at_sign_lands_in_the_domain_and_is_rejected() {
    assert_eq!(
        "a@b@c".parse::<Jid>(),
        Err(JidError::ForbiddenChar {
            input: "a@b@c".into(),
            part: "domain",
            ch: '@'
        })
    );
}

#[test]
fn whitespace_in_domain_is_rejected() {
    assert_eq!(
        "a@exa mple.com".parse::<Jid>(),
        Err(JidError::ForbiddenChar {
            input: "a@exa mple.com".into(),
            part: "domain",
            ch: ' '
        })
    );
}

#[test]
fn slash_in_domain_is_rejected_by_new() {
    assert_eq!(
        Jid::new(None, "a/b", None),
        Err(JidError::ForbiddenChar {
            input: "a/b".into(),
            part: "domain",
            ch: '/'
        })
    );
}

#[test]
fn control_character_in_resource_is_rejected() {
    assert_eq!(
        "a@b/x\ny".parse::<Jid>(),
        Err(JidError::ForbiddenChar {
            input: "a@b/x\ny".into(),
            part: "resource",
            ch: '\n'
        })
    );
}

#[test]
fn parts_of_1023_bytes_are_accepted_and_1024_rejected() {
    let ok = "n".repeat(1023);
    assert!(format!("{ok}@{ok}/{ok}").parse::<Jid>().is_ok());
    let long = "x".repeat(1024);
    for (input, part) in [
        (format!("{long}@b/r"), "node"),
        (format!("a@{long}/r"), "domain"),
        (format!("a@b/{long}"), "resource"),
    ] {
        assert_eq!(
            input.parse::<Jid>(),
            Err(JidError::PartTooLong {
                input: input.clone(),
                part,
                len: 1024
            })
        );
    }
}

#[test]
fn jid_error_messages_name_the_jid_and_part() {
    let err = "a@b/".parse::<Jid>().err();
    assert_eq!(
        err.map(|e| e.to_string()),
        Some("jid \"a@b/\" has an empty resource".to_owned())
    );
    let err = "a b@c".parse::<Jid>().err();
    assert_eq!(
        err.map(|e| e.to_string()),
        Some("jid \"a b@c\" has forbidden character ' ' in its node".to_owned())
    );
}

#[test]
fn mac_id_accepts_hyphens_colons_and_bare_in_any_case() {
    let want = MacId([0x08, 0x00, 0x00, 0x1a, 0x7c, 0x62]);
    for s in [
        "08-00-00-1A-7C-62",
        "08-00-00-1a-7c-62",
        "0800001a7c62",
        "0800001A7C62",
        "08:00:00:1a:7c:62",
        "08:00:00:1A:7c:62",
    ] {
        assert_eq!(s.parse::<MacId>(), Ok(want), "{s:?}");
    }
}

#[test]
fn mac_id_displays_lower_case_hyphenated() {
    assert_eq!(
        "08:00:00:1A:7C:62".parse::<MacId>().map(|m| m.to_string()),
        Ok("08-00-00-1a-7c-62".to_owned())
    );
}

#[test]
fn malformed_mac_ids_are_rejected() {
    for s in [
        "",
        "08-00-00-1a-7c",
        "08-00-00-1a-7c-6",
        "08-00-00-1a-7c-622",
        "08-00:00-1a-7c-62",
        "08.00.00.1a.7c.62",
        "0800001a7c6g",
        "+800001a7c62",
        "08-00-00-1a-7c-6\u{e9}",
        " 0800001a7c62",
        "0800-001a-7c62",
    ] {
        assert_eq!(
            s.parse::<MacId>(),
            Err(JidError::BadMacId { input: s.into() }),
            "{s:?}"
        );
    }
}

#[test]
fn mac_id_jid_uses_the_canonical_form_as_node() {
    let mac = MacId([0x08, 0x00, 0x00, 0x1a, 0x7c, 0x62]);
    assert_eq!(
        mac.jid("Example.com", Some("dev")),
        Ok(jid("08-00-00-1a-7c-62@example.com/dev"))
    );
    assert_eq!(
        mac.jid("", None),
        Err(JidError::EmptyPart {
            input: "08-00-00-1a-7c-62@".into(),
            part: "domain"
        })
    );
}

#[test]
fn normalize_user_canonicalises_mac_ids_and_lower_cases_others() {
    assert_eq!(normalize_user("0800001A7C62"), "08-00-00-1a-7c-62");
    assert_eq!(normalize_user("08:00:00:1a:7c:62"), "08-00-00-1a-7c-62");
    assert_eq!(normalize_user("08-00-00-1A-7C-62"), "08-00-00-1a-7c-62");
    assert_eq!(normalize_user("Alice"), "alice");
    assert_eq!(normalize_user("0800001A7C6"), "0800001a7c6");
}
