use std::fmt;

use rustls_pki_types::{ServerName, UnixTime};

use super::*;

/// A CA certificate made by scripts/tls-ca.sh (only parsed here, never used to verify).
const CA_PEM: &str = include_str!("test-ca.pem");

const URL: &str = "https://127.0.0.1:5443/http-bind";

/// Wraps an error the way hyper-util does: its own message, the cause as `source()`.
#[derive(Debug)]
struct Outer(std::io::Error);

impl fmt::Display for Outer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("client error (Connect)")
    }
}

impl StdError for Outer {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

fn wrapped(e: CertificateError) -> Outer {
    // As reqwest 0.12 reports it: hyper-util's error around io::Error(Other) around
    // tokio-rustls's io::Error(InvalidData) around the rustls::Error.
    Outer(std::io::Error::other(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        rustls::Error::InvalidCertificate(e),
    )))
}

fn problem(e: CertificateError) -> Option<TlsProblem> {
    TlsProblem::find(&wrapped(e))
}

#[test]
fn the_rustls_error_is_found_inside_an_io_error_in_the_chain() {
    assert_eq!(
        problem(CertificateError::UnknownIssuer),
        Some(TlsProblem::UnknownIssuer)
    );
    let bare = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
    assert_eq!(TlsProblem::find(&bare), Some(TlsProblem::UnknownIssuer));
}

#[test]
fn other_transport_errors_are_not_tls_problems() {
    let refused = Outer(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "connection refused",
    ));
    assert_eq!(TlsProblem::find(&refused), None);
    assert_eq!(tls_failure(URL, &refused), None);
}

#[test]
fn an_unknown_issuer_asks_for_ca_file() {
    assert_eq!(
        tls_failure(URL, &wrapped(CertificateError::UnknownIssuer)).as_deref(),
        Some(
            "TLS: the certificate of 127.0.0.1:5443 is issued by an unknown CA \
             (set xmpp.ca_file to the site's CA certificate, PEM)"
        )
    );
}

#[test]
fn an_expired_certificate_says_until_when() {
    let p = problem(CertificateError::ExpiredContext {
        time: UnixTime::since_unix_epoch(Duration::from_secs(1_800_000_000)),
        not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_609_459_200)),
    })
    .unwrap();
    assert_eq!(
        p.describe(URL),
        "TLS: the certificate of 127.0.0.1:5443 is expired (valid until 2021-01-01T00:00:00Z)"
    );
    assert_eq!(
        problem(CertificateError::Expired).unwrap().describe(URL),
        "TLS: the certificate of 127.0.0.1:5443 is expired"
    );
}

#[test]
fn a_certificate_not_valid_yet_hints_at_the_clock() {
    let p = problem(CertificateError::NotValidYet).unwrap();
    assert_eq!(
        p.describe(URL),
        "TLS: the certificate of 127.0.0.1:5443 is not valid yet (is the clock right?)"
    );
}

#[test]
fn a_wrong_name_says_which_name_and_what_the_certificate_is_for() {
    let expected = ServerName::try_from("127.0.0.1").unwrap().to_owned();
    let p = problem(CertificateError::NotValidForNameContext {
        expected,
        presented: vec![
            "DnsName(\"wrong.example\")".to_owned(),
            "IpAddress(10.0.0.1)".to_owned(),
            "DirectoryName".to_owned(),
        ],
    })
    .unwrap();
    assert_eq!(
        p,
        TlsProblem::WrongName {
            expected: Some("127.0.0.1".to_owned()),
            presented: vec![
                "DnsName(\"wrong.example\")".to_owned(),
                "IpAddress(10.0.0.1)".to_owned(),
                "DirectoryName".to_owned(),
            ],
        }
    );
    assert_eq!(
        p.describe(URL),
        "TLS: the certificate of 127.0.0.1:5443 is not valid for the name 127.0.0.1 \
         (it is for wrong.example, 10.0.0.1, DirectoryName)"
    );
    // Without context the host comes from the URL.
    assert_eq!(
        problem(CertificateError::NotValidForName)
            .unwrap()
            .describe("https://[::1]:5443/bosh"),
        "TLS: the certificate of [::1]:5443 is not valid for the name ::1"
    );
    assert_eq!(
        problem(CertificateError::NotValidForName)
            .unwrap()
            .describe("https://xmpp.example.net:5443/bosh"),
        "TLS: the certificate of xmpp.example.net:5443 is not valid for the name xmpp.example.net"
    );
}

#[test]
fn anything_else_rustls_refuses_is_named_with_the_server() {
    let p = problem(CertificateError::Revoked).unwrap();
    assert!(matches!(p, TlsProblem::Other(_)));
    let text = p.describe(URL);
    assert!(
        text.starts_with("TLS: handshake with 127.0.0.1:5443 failed: ") && text.contains("Revoked"),
        "{text}"
    );
    let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
    assert!(matches!(
        TlsProblem::find(&alert),
        Some(TlsProblem::Other(_))
    ));
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn ca_file_reads_every_certificate_and_skips_other_sections() {
    let dir = tempfile::tempdir().unwrap();
    let key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIE5v\n-----END PRIVATE KEY-----\n";
    let p = write(&dir, "ca.pem", &format!("comment\n{CA_PEM}{key}{CA_PEM}"));
    assert_eq!(read_ca_file(&p).unwrap().len(), 2);
}

#[test]
fn ca_file_problems_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pem");
    assert_eq!(
        read_ca_file(&missing).unwrap_err().to_string(),
        format!(
            "cannot read the CA file {}: no such file",
            missing.display()
        )
    );
    let empty = write(&dir, "empty.pem", "just text\n");
    assert_eq!(
        read_ca_file(&empty).unwrap_err().to_string(),
        format!(
            "the CA file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            empty.display()
        )
    );
    let broken = write(
        &dir,
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\nnot base64 !!!\n-----END CERTIFICATE-----\n",
    );
    let e = read_ca_file(&broken).unwrap_err();
    assert!(
        matches!(&e, CaFileError::BadPem { path, .. } if *path == broken),
        "{e:?}"
    );
    let garbage = write(
        &dir,
        "garbage.pem",
        "-----BEGIN CERTIFICATE-----\nAAECAwQ=\n-----END CERTIFICATE-----\n",
    );
    let e = read_ca_file(&garbage).unwrap_err();
    assert!(
        matches!(&e, CaFileError::BadCertificate { path, index: 1, .. } if *path == garbage),
        "{e:?}"
    );
}

fn client_config(url: &str, ca_file: Option<PathBuf>) -> ClientConfig {
    use super::super::bosh::BoshConfig;
    use super::super::stream::{Secret, StreamConfig};
    ClientConfig {
        urls: vec![url.to_owned()],
        ca_file,
        stream: StreamConfig {
            bosh: BoshConfig::new("localhost"),
            user: "u".to_owned(),
            password: Secret("p".to_owned()),
            resource: "r".to_owned(),
            plain_allowed: false,
            fetch_roster: false,
            initial_presence: false,
        },
        iq_timeout: Duration::from_secs(1),
        reconnect_min: Duration::from_secs(1),
        reconnect_max: Duration::from_secs(1),
        retry_first_connect: false,
        proxy: super::super::proxy::ProxySetting::Direct,
    }
}

#[test]
fn the_http_client_builds_with_and_without_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = write(&dir, "ca.pem", CA_PEM);
    assert!(http_client(&client_config(URL, None)).is_ok());
    assert!(http_client(&client_config(URL, Some(ca))).is_ok());
    let missing = dir.path().join("missing.pem");
    match http_client(&client_config(URL, Some(missing.clone()))) {
        Err(ClientError::CaFile(CaFileError::Read { path, .. })) => assert_eq!(path, missing),
        other => panic!("{other:?}"),
    }
}
