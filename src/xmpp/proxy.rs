//! Which HTTP proxy (if any) carries the BOSH requests to a connection manager.
//!
//! The decision is made here, once, from the `[xmpp] proxy` setting and a snapshot of the
//! environment, and the same [`ProxyPlan`] both routes reqwest's requests (through
//! [`reqwest::Proxy::custom`], with reqwest's own environment lookup switched off) and
//! writes the start-up log line, so that what is logged is what happens.
//!
//! Environment rules (those of curl and of reqwest 0.12's default, which we replace):
//! `https://` targets use `HTTPS_PROXY`, else `ALL_PROXY`; `http://` targets use
//! `HTTP_PROXY`, else `ALL_PROXY`; each upper-case name before its lower-case form, an empty
//! value counting as unset. `NO_PROXY` (or `no_proxy`) lists hosts reached directly:
//! comma-separated domains (a domain matches itself and its subdomains, a leading dot is
//! optional), IP addresses, CIDR networks, or `*` for every host. Loopback is *not* bypassed
//! unless listed (as with curl and reqwest): a proxy on a corporate host may be the only way
//! out even to a name that resolves locally. Unlike reqwest, which silently ignores an
//! unparseable variable and goes direct, a malformed value is an error naming the variable.

use std::net::IpAddr;

use reqwest::Url;

/// The `[xmpp] proxy` setting (SPEC §3). Its `Debug` hides credentials in the URL.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum ProxySetting {
    /// No `proxy` key: the usual environment variables decide.
    #[default]
    FromEnv,
    /// `proxy = "none"`: always direct, whatever the environment says.
    Direct,
    /// `proxy = "http://host:port"`: every request goes through it (CONNECT for `https://`).
    Url(String),
}

impl std::fmt::Debug for ProxySetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxySetting::FromEnv => f.write_str("FromEnv"),
            ProxySetting::Direct => f.write_str("Direct"),
            ProxySetting::Url(u) => f.debug_tuple("Url").field(&redact_text(u)).finish(),
        }
    }
}

/// A proxy URL that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("proxy {shown:?} is not a proxy URL: {why}")]
    Invalid { shown: String, why: String },
    #[error("environment variable {var}: {source}")]
    Env {
        var: &'static str,
        #[source]
        source: Box<ProxyError>,
    },
}

/// A validated `http(s)://[user:pass@]host:port` proxy.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl(Url);

impl ProxyUrl {
    /// Parses a proxy URL. `http://` and `https://` only (reqwest is built without SOCKS);
    /// a host and an explicit port are required, and nothing after them but `/`.
    pub fn parse(text: &str) -> Result<ProxyUrl, ProxyError> {
        let invalid = |why: &str| ProxyError::Invalid {
            shown: redact_text(text),
            why: why.to_owned(),
        };
        let url = Url::parse(text.trim()).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http:// or https://"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        if url.port().is_none() {
            return Err(invalid("no port (e.g. http://proxy.example.net:3128)"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("a proxy URL has no path, query or fragment"));
        }
        Ok(ProxyUrl(url))
    }

    /// The URL with its credentials, for reqwest only.
    fn secret_url(&self) -> Url {
        self.0.clone()
    }

    fn has_credentials(&self) -> bool {
        !self.0.username().is_empty() || self.0.password().is_some()
    }
}

impl std::fmt::Display for ProxyUrl {
    /// Never shows a password or user name: `http://***@host:port`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let u = &self.0;
        let auth = if u.username().is_empty() && u.password().is_none() {
            ""
        } else {
            "***@"
        };
        let host = u.host_str().unwrap_or_default();
        match u.port() {
            Some(p) => write!(f, "{}://{auth}{host}:{p}", u.scheme()),
            None => write!(f, "{}://{auth}{host}", u.scheme()),
        }
    }
}

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

/// `text` with anything between `://` and the last `@` of the authority hidden.
fn redact_text(text: &str) -> String {
    let (scheme, rest) = text.split_once("://").unwrap_or(("", text));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) if scheme.is_empty() => format!("***{}", &rest[at..]),
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => text.to_owned(),
    }
}

/// Where the proxy of a route came from, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Config,
    Env(&'static str),
}

/// The outcome for one target URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Via {
        proxy: ProxyUrl,
        source: Source,
    },
    /// Direct, and why (for the log).
    Direct(&'static str),
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Route::Via {
                proxy,
                source: Source::Config,
            } => write!(f, "through proxy {proxy} (xmpp.proxy)"),
            Route::Via {
                proxy,
                source: Source::Env(var),
            } => write!(f, "through proxy {proxy} (from {var})"),
            Route::Direct(why) => write!(f, "direct ({why})"),
        }
    }
}

impl Route {
    /// The operator's explanation of an HTTP `status` that the proxy of this route answered
    /// instead of the connection manager because it wants credentials, or `None` when the
    /// status is not that. 407 is the proxy's own code; 401 counts too behind a proxy
    /// (tinyproxy answers wrong credentials so; a BOSH connection manager never asks for
    /// HTTP authentication).
    pub fn auth_refusal(&self, status: u16) -> Option<String> {
        let Route::Via { proxy, source } = self else {
            return None;
        };
        let what = match status {
            407 => "407 Proxy Authentication Required",
            401 => "401 Unauthorized",
            _ => return None,
        };
        let from = source.setting();
        Some(if proxy.has_credentials() {
            format!(
                "the proxy {proxy} refused our credentials ({what}): check the user and password in {from}"
            )
        } else {
            format!(
                "the proxy {proxy} wants credentials ({what}): give them in {from} as http://user:password@host:port"
            )
        })
    }

    /// The operator's explanation of a CONNECT (https through the proxy) that the proxy of this
    /// route refused, from the text of the error reqwest gave for `target`; `None` when the
    /// text is not that. Why text and not a type: hyper-util 0.1 keeps its `TunnelError`
    /// private, so its message is all there is; it keeps the status only for 407.
    pub fn tunnel_refusal(&self, target: &Url, error: &str) -> Option<String> {
        let Route::Via { proxy, source } = self else {
            return None;
        };
        if error.contains("tunnel error: proxy authorization required") {
            return self.auth_refusal(407);
        }
        if !error.contains("tunnel error: unsuccessful") {
            return None;
        }
        let host = target.host_str().unwrap_or_default();
        let port = target.port_or_known_default().unwrap_or(443);
        Some(format!(
            "the proxy {proxy} refused to open a tunnel (CONNECT) to {host}:{port}: check the user and password in {} (a wrong one can be refused so) and that the proxy allows CONNECT to port {port}",
            source.setting()
        ))
    }
}

impl Source {
    /// Where the operator sets this proxy.
    fn setting(&self) -> &'static str {
        match self {
            Source::Config => "xmpp.proxy",
            Source::Env(var) => var,
        }
    }
}

/// The proxy decision, resolved once from the setting and the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyPlan {
    Direct,
    All(ProxyUrl),
    Env {
        http: Option<(ProxyUrl, &'static str)>,
        https: Option<(ProxyUrl, &'static str)>,
        no_proxy: NoProxy,
    },
}

impl ProxyPlan {
    /// Resolves `setting`; `env` looks a variable up (`std::env::var(..).ok()` in production).
    pub fn resolve(
        setting: &ProxySetting,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ProxyPlan, ProxyError> {
        match setting {
            ProxySetting::Direct => Ok(ProxyPlan::Direct),
            ProxySetting::Url(u) => ProxyUrl::parse(u).map(ProxyPlan::All),
            ProxySetting::FromEnv => {
                let first = |names: &[&'static str]| {
                    names
                        .iter()
                        .find_map(|n| env(n).filter(|v| !v.trim().is_empty()).map(|v| (*n, v)))
                };
                let parse = |found: Option<(&'static str, String)>| {
                    found
                        .map(|(var, v)| {
                            // Like curl: a value without a scheme means http://.
                            let v = if v.contains("://") {
                                v
                            } else {
                                format!("http://{}", v.trim())
                            };
                            ProxyUrl::parse(&v)
                                .map(|p| (p, var))
                                .map_err(|e| ProxyError::Env {
                                    var,
                                    source: Box::new(e),
                                })
                        })
                        .transpose()
                };
                let all = parse(first(&["ALL_PROXY", "all_proxy"]))?;
                let http = parse(first(&["HTTP_PROXY", "http_proxy"]))?.or(all.clone());
                let https = parse(first(&["HTTPS_PROXY", "https_proxy"]))?.or(all);
                let no_proxy = NoProxy::parse(
                    &first(&["NO_PROXY", "no_proxy"])
                        .map(|(_, v)| v)
                        .unwrap_or_default(),
                );
                Ok(ProxyPlan::Env {
                    http,
                    https,
                    no_proxy,
                })
            }
        }
    }

    /// How a request to `target` goes.
    pub fn route(&self, target: &Url) -> Route {
        match self {
            ProxyPlan::Direct => Route::Direct("xmpp.proxy = \"none\""),
            ProxyPlan::All(p) => Route::Via {
                proxy: p.clone(),
                source: Source::Config,
            },
            ProxyPlan::Env {
                http,
                https,
                no_proxy,
            } => {
                let chosen = match target.scheme() {
                    "https" => https,
                    _ => http,
                };
                let Some((proxy, var)) = chosen else {
                    return Route::Direct("no proxy configured or in the environment");
                };
                if target.host_str().is_some_and(|h| no_proxy.matches(h)) {
                    return Route::Direct("host listed in NO_PROXY");
                }
                Route::Via {
                    proxy: proxy.clone(),
                    source: Source::Env(var),
                }
            }
        }
    }

    /// The proxy for reqwest (its own environment lookup must be off: `.no_proxy()`), or
    /// `None` when every request goes direct.
    pub fn reqwest_proxy(&self) -> Option<reqwest::Proxy> {
        if *self == ProxyPlan::Direct {
            return None;
        }
        let plan = self.clone();
        Some(reqwest::Proxy::custom(move |url| match plan.route(url) {
            Route::Via { proxy, .. } => Some(proxy.secret_url()),
            Route::Direct(_) => None,
        }))
    }
}

/// A parsed `NO_PROXY` list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NoProxy {
    all: bool,
    domains: Vec<String>,
    nets: Vec<(IpAddr, u8)>,
}

impl NoProxy {
    pub fn parse(list: &str) -> NoProxy {
        let mut np = NoProxy::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                np.all = true;
            } else if let Some(net) = parse_net(entry) {
                np.nets.push(net);
            } else {
                let d = entry.trim_start_matches('.').to_ascii_lowercase();
                if !d.is_empty() {
                    np.domains.push(d);
                }
            }
        }
        np
    }

    /// Whether `host` (a name, an IP, or a bracketed IPv6 as in URLs) is reached directly.
    pub fn matches(&self, host: &str) -> bool {
        if self.all {
            return true;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.nets.iter().any(|&(net, len)| in_net(ip, net, len));
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.domains.iter().any(|d| {
            host == *d
                || host
                    .strip_suffix(d.as_str())
                    .is_some_and(|head| head.ends_with('.'))
        })
    }
}

fn parse_net(entry: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match entry.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (entry, None),
    };
    let ip: IpAddr = addr
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((ip, len))
}

fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
