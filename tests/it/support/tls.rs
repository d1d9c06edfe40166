//! HTTPS connection managers: a private CA and its server certificates made
//! per test by scripts/tls-ca.sh, and servers that serve BOSH over HTTPS with
//! one of them (besides their plain HTTP port).

use std::path::PathBuf;

use super::{Kind, Server, blocking, free_port, run_script};

/// The certificate a server presents (scripts/tls-ca.sh names them so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cert {
    /// For 127.0.0.1 and localhost, issued by the test CA.
    Valid,
    /// Same names and CA, valid 2020-01-01 .. 2021-01-01 only.
    Expired,
    /// Issued by the test CA for wrong.example only.
    WrongName,
    /// For 127.0.0.1 and localhost, issued by a CA nobody trusts.
    Untrusted,
}

impl Cert {
    pub fn name(self) -> &'static str {
        match self {
            Cert::Valid => "valid",
            Cert::Expired => "expired",
            Cert::WrongName => "wrongname",
            Cert::Untrusted => "untrusted",
        }
    }
}

/// A private CA with its server certificates, in a temporary directory.
pub struct TestCa {
    pub dir: tempfile::TempDir,
}

impl TestCa {
    pub fn new() -> TestCa {
        let dir = tempfile::Builder::new()
            .prefix("wb-ca-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path().to_string_lossy().into_owned();
        blocking(|| run_script("tls-ca.sh", &[&d], &[]));
        TestCa { dir }
    }

    /// The CA certificate (PEM) an agent's `ca_file` names.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn cert(&self, cert: Cert) -> PathBuf {
        self.dir.path().join(format!("{}.pem", cert.name()))
    }

    pub fn key(&self, cert: Cert) -> PathBuf {
        self.dir.path().join(format!("{}.key", cert.name()))
    }
}

impl Server {
    /// A server that also serves BOSH over HTTPS, presenting `cert` of `ca`.
    pub fn start_tls(kind: Kind, ca: &TestCa, cert: Cert) -> Server {
        let (c, k) = (ca.cert(cert), ca.key(cert));
        let port = free_port().to_string();
        Server::start_with(
            kind,
            &[
                ("TLS_CERT", &c.to_string_lossy()),
                ("TLS_KEY", &k.to_string_lossy()),
                ("HTTPS_PORT", &port),
            ],
        )
    }

    /// The HTTPS port, for a server started with [`Server::start_tls`].
    pub fn https_port(&self) -> u16 {
        self.env
            .get("HTTPS_PORT")
            .and_then(|p| p.parse().ok())
            .expect("a server started with start_tls")
    }

    pub fn bosh_https_url(&self) -> String {
        format!("https://127.0.0.1:{}/http-bind", self.https_port())
    }
}
