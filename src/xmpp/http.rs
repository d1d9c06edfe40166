//! The HTTP client that carries BOSH: which certificates it trusts, and what
//! a failed TLS handshake means in words an operator can act on.
//!
//! Trust is the system's roots (and the webpki roots built in, for hosts
//! without a CA store) plus the anchors of `ca_file`, a site's own CA: adding
//! a private CA never removes public trust. A certificate that does not
//! verify is an error of the request like any transport error, so the
//! session is retried with backoff; nothing ever falls back to plain HTTP.
//!
//! Why typed: the verdict comes from the `rustls::Error` in the reqwest
//! error's source chain, not from its text, which changes between versions.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rustls::{CertificateError, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::proxy::ProxyPlan;
use super::session::{ClientConfig, ClientError};

/// Why the trust anchors of `ca_file` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaFileError {
    #[error("cannot read the CA file {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error("the CA file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("the CA file {} is not valid PEM: {detail}", path.display())]
    BadPem { path: PathBuf, detail: String },
    #[error("certificate {index} in the CA file {} cannot be a trust anchor: {detail}", path.display())]
    BadCertificate {
        path: PathBuf,
        /// 1-based position in the file.
        index: usize,
        detail: String,
    },
}

/// Reads the PEM certificates of `path` (other PEM sections, such as a key,
/// are skipped) and checks that each can serve as a trust anchor.
///
/// # Errors
///
/// [`CaFileError`], naming the file: unreadable, no certificate, broken PEM,
/// or a certificate that does not parse.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, CaFileError> {
    let bytes = std::fs::read(path).map_err(|e| CaFileError::Read {
        path: path.to_owned(),
        reason: match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_owned(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            _ => e.to_string(),
        },
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CaFileError::BadPem {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(CaFileError::NoCertificate {
            path: path.to_owned(),
        });
    }
    let mut store = RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        store
            .add(cert.clone())
            .map_err(|e| CaFileError::BadCertificate {
                path: path.to_owned(),
                index: i + 1,
                detail: e.to_string(),
            })?;
    }
    Ok(certs)
}

/// The reqwest client of one XMPP client: HTTP/1.1 only, no Nagle, system
/// roots plus `cfg.ca_file`; and the proxy plan it follows (the driver explains
/// a proxy's refusal with it).
pub(crate) fn http_client(cfg: &ClientConfig) -> Result<(reqwest::Client, ProxyPlan), ClientError> {
    let is_https = |u: &String| u.starts_with("https://");
    let any_https = cfg.urls.iter().any(is_https);
    // A list mixing both schemes keeps its http entries usable.
    let all_https = cfg.urls.iter().all(is_https);
    // The proxy is ours to choose (reqwest's own environment lookup off), so that the log
    // says what happens.
    let first = cfg.urls.first().cloned().unwrap_or_default();
    let plan = ProxyPlan::resolve(&cfg.proxy, |v| std::env::var(v).ok())
        .map_err(|source| ClientError::Proxy { url: first, source })?;
    for url in &cfg.urls {
        if let Ok(target) = reqwest::Url::parse(url) {
            tracing::info!(%url, "BOSH requests go {}", plan.route(&target));
        }
    }
    let mut builder = reqwest::Client::builder().no_proxy();
    if let Some(proxy) = plan.reqwest_proxy() {
        builder = builder.proxy(proxy);
    }
    let mut builder = builder
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(4)
        .connect_timeout(Duration::from_secs(10))
        // A redirect from https to http would be a silent downgrade.
        .https_only(all_https)
        // Reading the system store costs ~10 ms (50 ms in a debug build): only when used.
        .tls_built_in_native_certs(any_https);
    if let Some(path) = &cfg.ca_file {
        for der in read_ca_file(path)? {
            builder = builder.add_root_certificate(reqwest::Certificate::from_der(&der)?);
        }
    }
    Ok((builder.build()?, plan))
}

/// What was wrong with the server's certificate or handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsProblem {
    /// Not issued by a trusted CA (a private CA not in `ca_file`, self-signed).
    UnknownIssuer,
    /// Past its validity; `not_after` when rustls says.
    Expired { not_after: Option<SystemTime> },
    /// Not yet valid (a clock behind, or a certificate from the future).
    NotYetValid { not_before: Option<SystemTime> },
    /// Issued for other names than the one we connect to.
    WrongName {
        expected: Option<String>,
        presented: Vec<String>,
    },
    /// Anything else rustls refused (revoked, bad signature, protocol, ...).
    Other(String),
}

impl TlsProblem {
    /// Finds the rustls error in `err`'s source chain. `io::Error` hides its
    /// inner error from `source()` (and hyper-rustls nests two of them), so
    /// it is looked into explicitly.
    pub fn find(err: &(dyn StdError + 'static)) -> Option<TlsProblem> {
        let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
        while let Some(e) = cur {
            if let Some(r) = e.downcast_ref::<rustls::Error>() {
                return Some(TlsProblem::from_rustls(r));
            }
            cur = match e
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(inner) => Some(inner as &(dyn StdError + 'static)),
                None => e.source(),
            };
        }
        None
    }

    /// Classifies one rustls error.
    pub fn from_rustls(err: &rustls::Error) -> TlsProblem {
        let rustls::Error::InvalidCertificate(c) = err else {
            return TlsProblem::Other(err.to_string());
        };
        match c {
            CertificateError::UnknownIssuer => TlsProblem::UnknownIssuer,
            CertificateError::Expired => TlsProblem::Expired { not_after: None },
            CertificateError::ExpiredContext { not_after, .. } => TlsProblem::Expired {
                not_after: Some(system_time(not_after.as_secs())),
            },
            CertificateError::NotValidYet => TlsProblem::NotYetValid { not_before: None },
            CertificateError::NotValidYetContext { not_before, .. } => TlsProblem::NotYetValid {
                not_before: Some(system_time(not_before.as_secs())),
            },
            CertificateError::NotValidForName => TlsProblem::WrongName {
                expected: None,
                presented: Vec::new(),
            },
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => TlsProblem::WrongName {
                expected: Some(server_name(expected)),
                presented: presented.clone(),
            },
            other => {
                TlsProblem::Other(rustls::Error::InvalidCertificate(other.clone()).to_string())
            }
        }
    }

    /// The operator's message for a connection to `url`, naming its host and port.
    pub fn describe(&self, url: &str) -> String {
        let server = authority(url);
        match self {
            TlsProblem::UnknownIssuer => format!(
                "TLS: the certificate of {server} is issued by an unknown CA \
                 (set xmpp.ca_file to the site's CA certificate, PEM)"
            ),
            TlsProblem::Expired { not_after } => format!(
                "TLS: the certificate of {server} is expired{}",
                not_after
                    .map(|t| format!(" (valid until {})", humantime::format_rfc3339_seconds(t)))
                    .unwrap_or_default()
            ),
            TlsProblem::NotYetValid { not_before } => format!(
                "TLS: the certificate of {server} is not valid yet{} (is the clock right?)",
                not_before
                    .map(|t| format!(" (valid from {})", humantime::format_rfc3339_seconds(t)))
                    .unwrap_or_default()
            ),
            TlsProblem::WrongName {
                expected,
                presented,
            } => format!(
                "TLS: the certificate of {server} is not valid for the name {}{}",
                expected.as_deref().unwrap_or(host_of(&server)),
                if presented.is_empty() {
                    String::new()
                } else {
                    let names: Vec<&str> = presented.iter().map(|n| plain_name(n)).collect();
                    format!(" (it is for {})", names.join(", "))
                }
            ),
            TlsProblem::Other(detail) => format!("TLS: handshake with {server} failed: {detail}"),
        }
    }
}

/// The operator's message when `err`, a failed request to `url`, is a TLS
/// failure; `None` for any other transport error.
pub(crate) fn tls_failure(url: &str, err: &(dyn StdError + 'static)) -> Option<String> {
    TlsProblem::find(err).map(|p| p.describe(url))
}

fn system_time(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn server_name(name: &rustls_pki_types::ServerName<'_>) -> String {
    match name {
        rustls_pki_types::ServerName::DnsName(d) => d.as_ref().to_owned(),
        rustls_pki_types::ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

/// `wrong.example` from webpki's `DnsName("wrong.example")`, `::1` from
/// `IpAddress(::1)`; anything else as it is.
fn plain_name(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|r| r.strip_suffix("\")"))
        .or_else(|| {
            presented
                .strip_prefix("IpAddress(")
                .and_then(|r| r.strip_suffix(')'))
        })
        .unwrap_or(presented)
}

/// `host:port` of an `http(s)://` URL (the whole URL if it has no scheme).
fn authority(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    rest[..end].to_owned()
}

/// The host part of `host:port` or `[v6]:port`.
fn host_of(authority: &str) -> &str {
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

#[cfg(test)]
mod tests;
