use super::*;

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

const SHA1_SERVER_FIRST: &str =
    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
const SHA256_SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

fn sha1_client() -> SaslClient {
    SaslClient::new(
        Mechanism::ScramSha1,
        "user",
        "pencil",
        "fyko+d2lbbFgONRv9qkxdawL",
    )
}

fn sha256_client() -> SaslClient {
    SaslClient::new(
        Mechanism::ScramSha256,
        "user",
        "pencil",
        "rOprNGfwEbeRWgbNEkqO",
    )
}

/// A SHA-1 client that has sent client-final for the RFC 5802 vector.
fn sha1_client_after_final() -> SaslClient {
    let mut client = sha1_client();
    client.initial_response();
    assert!(
        client
            .handle_challenge(SHA1_SERVER_FIRST.as_bytes())
            .is_ok()
    );
    client
}

#[test]
fn scram_sha1_matches_rfc5802_vector() {
    let mut client = sha1_client();
    assert_eq!(
        client.initial_response(),
        b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL".to_vec()
    );
    assert_eq!(
        client.handle_challenge(SHA1_SERVER_FIRST.as_bytes()),
        Ok(
            b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
                .to_vec()
        )
    );
    assert_eq!(
        client.handle_success(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="),
        Ok(())
    );
}

#[test]
fn scram_sha256_matches_rfc7677_vector() {
    let mut client = sha256_client();
    assert_eq!(
        client.initial_response(),
        b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO".to_vec()
    );
    assert_eq!(
            client.handle_challenge(SHA256_SERVER_FIRST.as_bytes()),
            Ok(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
                .to_vec())
        );
    assert_eq!(
        client.handle_success(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
        Ok(())
    );
}

#[test]
fn server_final_sent_as_challenge_is_verified_then_empty_success_accepted() {
    let mut client = sha1_client_after_final();
    assert_eq!(
        client.handle_challenge(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="),
        Ok(Vec::new())
    );
    assert_eq!(client.handle_success(b""), Ok(()));
}

#[test]
fn wrong_server_signature_is_rejected() {
    let mut client = sha1_client_after_final();
    assert_eq!(
        client.handle_success(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        Err(SaslError::ServerSignatureMismatch)
    );
}

#[test]
fn truncated_server_signature_is_rejected() {
    let mut client = sha1_client_after_final();
    assert_eq!(
        client.handle_success(b"v=rmF9pqV8S7suAoZWja4d"),
        Err(SaslError::ServerSignatureMismatch)
    );
}

#[test]
fn success_without_server_final_is_rejected() {
    let mut client = sha1_client_after_final();
    assert_eq!(
        client.handle_success(b""),
        Err(SaslError::Malformed {
            step: "server-final",
            detail: "success carried no server signature, so the server was not verified"
                .to_owned()
        })
    );
}

#[test]
fn server_error_in_server_final_becomes_server_error() {
    let mut client = sha1_client_after_final();
    assert_eq!(
        client.handle_success(b"e=invalid-proof"),
        Err(SaslError::ServerError {
            message: "invalid-proof".to_owned()
        })
    );
}

#[test]
fn server_signature_that_is_not_base64_is_malformed() {
    let mut client = sha1_client_after_final();
    assert!(matches!(
        client.handle_success(b"v=!!!"),
        Err(SaslError::Malformed {
            step: "server-final",
            ..
        })
    ));
}

#[test]
fn nonce_not_prefixed_by_ours_is_rejected() {
    let mut client = sha1_client();
    client.initial_response();
    assert_eq!(
        client.handle_challenge(
            b"r=XXXX+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
        ),
        Err(SaslError::NonceMismatch {
            client_nonce: "fyko+d2lbbFgONRv9qkxdawL".to_owned(),
            server_nonce: "XXXX+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j".to_owned(),
        })
    );
}

#[test]
fn nonce_without_server_part_is_rejected() {
    let mut client = sha1_client();
    client.initial_response();
    assert_eq!(
        client.handle_challenge(b"r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096"),
        Err(SaslError::NonceMismatch {
            client_nonce: "fyko+d2lbbFgONRv9qkxdawL".to_owned(),
            server_nonce: "fyko+d2lbbFgONRv9qkxdawL".to_owned(),
        })
    );
}

#[test]
fn server_first_with_attributes_out_of_order_is_malformed() {
    let mut client = sha1_client();
    client.initial_response();
    assert_eq!(
        client.handle_challenge(b"s=QSXCR+Q6sek8bf92,r=fyko+d2lbbFgONRv9qkxdawL3rfc,i=4096"),
        Err(SaslError::Malformed {
            step: "server-first",
            detail: "expected r= but got \"s=QSXCR+Q6sek8bf92\" in \
                         \"s=QSXCR+Q6sek8bf92,r=fyko+d2lbbFgONRv9qkxdawL3rfc,i=4096\""
                .to_owned()
        })
    );
}

#[test]
fn server_first_missing_iteration_count_is_malformed() {
    let mut client = sha1_client();
    client.initial_response();
    assert_eq!(
        client.handle_challenge(b"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92"),
        Err(SaslError::Malformed {
            step: "server-first",
            detail: "expected i= but got \"\" in \
                         \"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92\""
                .to_owned()
        })
    );
}

#[test]
fn server_first_with_mandatory_extension_is_malformed() {
    let mut client = sha1_client();
    client.initial_response();
    assert_eq!(
        client.handle_challenge(b"m=ext,r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=1"),
        Err(SaslError::Malformed {
            step: "server-first",
            detail: "unsupported mandatory extension in \
                         \"m=ext,r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=1\""
                .to_owned()
        })
    );
}

#[test]
fn server_first_with_bad_salt_is_malformed() {
    let mut client = sha1_client();
    client.initial_response();
    assert!(matches!(
        client.handle_challenge(b"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=not base64!,i=4096"),
        Err(SaslError::Malformed {
            step: "server-first",
            ..
        })
    ));
}

#[test]
fn server_first_that_is_not_utf8_is_malformed() {
    let mut client = sha1_client();
    client.initial_response();
    assert!(matches!(
        client.handle_challenge(b"r=\xff\xfe"),
        Err(SaslError::Malformed {
            step: "server-first",
            ..
        })
    ));
}

#[test]
fn iteration_counts_outside_bounds_are_rejected() {
    for value in ["0", "-1", "10000001", "4096x", ""] {
        let mut client = sha1_client();
        client.initial_response();
        let challenge = format!("r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i={value}");
        assert_eq!(
            client.handle_challenge(challenge.as_bytes()),
            Err(SaslError::BadIterationCount {
                value: value.to_owned()
            }),
            "{value:?}"
        );
    }
}

#[test]
fn iteration_count_error_names_the_value_and_bounds() {
    let err = SaslError::BadIterationCount {
        value: "0".to_owned(),
    };
    assert_eq!(
        err.to_string(),
        "scram server-first iteration count \"0\" is not between 1 and 10000000"
    );
}

#[test]
fn server_first_extensions_after_iteration_count_are_ignored() {
    let mut client = sha1_client();
    client.initial_response();
    assert!(
        client
            .handle_challenge(b"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=1,x=y")
            .is_ok()
    );
}

#[test]
fn scram_username_escapes_equals_and_comma() {
    let mut client = SaslClient::new(Mechanism::ScramSha256, "a=b,c", "pw", "nonce");
    assert_eq!(
        client.initial_response(),
        b"n,,n=a=3Db=2Cc,r=nonce".to_vec()
    );
}

#[test]
fn plain_initial_response_is_nul_user_nul_password() {
    let mut client = SaslClient::new(Mechanism::Plain, "alice", "s3cr=t,", "ignored");
    assert_eq!(client.mechanism(), Mechanism::Plain);
    assert_eq!(client.initial_response(), b"\0alice\0s3cr=t,".to_vec());
    assert_eq!(client.handle_success(b""), Ok(()));
}

#[test]
fn plain_rejects_a_challenge() {
    let mut client = SaslClient::new(Mechanism::Plain, "alice", "pw", "");
    client.initial_response();
    assert_eq!(
        client.handle_challenge(b"anything"),
        Err(SaslError::UnexpectedStep {
            step: "challenge",
            state: "awaiting plain success"
        })
    );
}

#[test]
fn challenge_before_initial_response_is_unexpected() {
    let mut client = sha1_client();
    assert_eq!(
        client.handle_challenge(SHA1_SERVER_FIRST.as_bytes()),
        Err(SaslError::UnexpectedStep {
            step: "challenge",
            state: "no initial response was sent"
        })
    );
}

#[test]
fn success_before_server_first_is_unexpected() {
    let mut client = sha1_client();
    client.initial_response();
    assert_eq!(
        client.handle_success(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="),
        Err(SaslError::UnexpectedStep {
            step: "success",
            state: "awaiting scram server-first"
        })
    );
}

#[test]
fn steps_after_a_failure_are_unexpected() {
    let mut client = sha1_client_after_final();
    assert_eq!(
        client.handle_success(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        Err(SaslError::ServerSignatureMismatch)
    );
    assert_eq!(
        client.handle_success(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="),
        Err(SaslError::UnexpectedStep {
            step: "success",
            state: "the exchange has already failed"
        })
    );
}

#[test]
fn debug_output_hides_the_password() {
    let client = SaslClient::new(Mechanism::Plain, "alice", "hunter2", "n");
    let debug = format!("{client:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("alice"), "{debug}");
}

#[test]
fn mechanism_names_are_the_iana_names() {
    assert_eq!(Mechanism::ScramSha256.name(), "SCRAM-SHA-256");
    assert_eq!(Mechanism::ScramSha1.name(), "SCRAM-SHA-1");
    assert_eq!(Mechanism::Plain.name(), "PLAIN");
}

#[test]
fn choose_prefers_sha256_then_sha1_then_plain() {
    let all = strings(&["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"]);
    assert_eq!(choose(&all, true), Ok(Mechanism::ScramSha256));
    assert_eq!(choose(&all, false), Ok(Mechanism::ScramSha256));
    let older = strings(&["PLAIN", "SCRAM-SHA-1"]);
    assert_eq!(choose(&older, true), Ok(Mechanism::ScramSha1));
    assert_eq!(choose(&older, false), Ok(Mechanism::ScramSha1));
    assert_eq!(
        choose(&strings(&["X-OAUTH2", "PLAIN"]), true),
        Ok(Mechanism::Plain)
    );
}

#[test]
fn choose_ignores_case_and_whitespace_in_offers() {
    assert_eq!(
        choose(&strings(&[" scram-sha-1\n"]), false),
        Ok(Mechanism::ScramSha1)
    );
}

#[test]
fn choose_refuses_plain_unless_allowed() {
    assert_eq!(
        choose(&strings(&["PLAIN"]), false),
        Err(SaslError::NoUsableMechanism {
            offered: strings(&["PLAIN"]),
            plain_allowed: false
        })
    );
}

#[test]
fn ejabberd_plain_only_offer_explains_how_to_allow_plain() {
    // ejabberd with external/LDAP auth offers no SCRAM.
    let err = choose(&strings(&["PLAIN", "X-OAUTH2"]), false).err();
    assert_eq!(
        err.map(|e| e.to_string()),
        Some(
            "server offers only [PLAIN, X-OAUTH2]; PLAIN is refused without TLS: \
                 use tls = true or set allow_plain = true in [xmpp]"
                .to_owned()
        )
    );
}

#[test]
fn prosody_empty_offer_explains_tls_or_consider_bosh_secure() {
    let err = choose(&[], false).err();
    assert_eq!(
        err.map(|e| e.to_string()),
        Some(
            "server offered no SASL mechanism (Prosody does this over plain HTTP): \
                 use tls = true, or set consider_bosh_secure = true on the server"
                .to_owned()
        )
    );
}

#[test]
fn unsupported_offer_explains_what_webbinder_supports() {
    let err = choose(&strings(&["DIGEST-MD5", "X-FOO"]), true).err();
    assert_eq!(
        err.map(|e| e.to_string()),
        Some(
            "server offers only [DIGEST-MD5, X-FOO]; webbinder supports SCRAM-SHA-256, \
                 SCRAM-SHA-1 and PLAIN: enable one of them on the server"
                .to_owned()
        )
    );
}

#[test]
fn random_nonce_is_32_printable_chars_without_comma_and_differs() {
    let a = random_nonce();
    let b = random_nonce();
    assert_eq!(a.len(), 32);
    assert!(a.bytes().all(|c| c.is_ascii_graphic() && c != b','), "{a}");
    assert_ne!(a, b);
}
