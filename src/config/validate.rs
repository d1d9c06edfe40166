//! Phase 2 of reading `webbinder.toml`: checks the raw serde types and builds the validated
//! model, collecting every problem with its position instead of stopping at the first.

use std::env::VarError;
use std::net::{Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::error::{ConfigError, ConfigWarning, Position};
use super::raw::{RawAgent, RawXmpp};
use super::servers::Endpoint;
use super::{
    ADMIN_OFF, AgentConfig, DEFAULT_ADMIN, DEFAULT_BINDINGS, DEFAULT_BOSH_PATH, DEFAULT_IQ_TIMEOUT,
    DEFAULT_MAX_STANZA_SIZE, DEFAULT_PORT, DEFAULT_RESOURCE, DEFAULT_STATE, DEFAULT_WAIT,
    EnvLookup, MIN_MAX_STANZA_SIZE, PasswordSource, ProxySetting, Secret, XmppConfig,
    check_jid_part, io_reason, url_of,
};
use crate::xmpp::jid::{Jid, normalize_user};
use crate::xmpp::proxy::ProxyUrl;

pub(super) struct Validator<'a> {
    pub(super) src: &'a str,
    pub(super) path: &'a Path,
    pub(super) dir: &'a Path,
    /// `Some` when called from [`load`]: the password source is read (the file directly, the
    /// variable through this lookup); `None` keeps validation pure ([`parse_str`]).
    ///
    /// [`load`]: super::load
    /// [`parse_str`]: super::parse_str
    pub(super) env: Option<EnvLookup<'a>>,
    pub(super) errors: Vec<ConfigError>,
    pub(super) warnings: Vec<ConfigWarning>,
}

impl Validator<'_> {
    pub(super) fn pos(&self, span: &Range<usize>) -> Position {
        Position::of(self.src, span.start)
    }

    pub(super) fn error(&mut self, span: &Range<usize>, message: String) {
        let position = Some(self.pos(span));
        self.errors.push(ConfigError {
            path: self.path.to_owned(),
            position,
            message,
        });
    }

    pub(super) fn warning(&mut self, span: &Range<usize>, message: String) {
        let position = self.pos(span);
        self.warnings.push(ConfigWarning {
            path: self.path.to_owned(),
            position,
            message,
        });
    }

    /// A required key, or an error at the table header naming it.
    pub(super) fn required<'s>(
        &mut self,
        value: &'s Option<Spanned<String>>,
        table: &str,
        header: &Range<usize>,
        key: &str,
    ) -> Option<&'s Spanned<String>> {
        if value.is_none() {
            self.error(
                header,
                format!("{table} is missing the required key `{key}`"),
            );
        }
        value.as_ref()
    }

    /// A duration such as `"60s"`; `None` (after an error) if it does not parse or is zero.
    fn duration(&mut self, value: &Spanned<String>, key: &str) -> Option<Duration> {
        match humantime::parse_duration(value.get_ref()) {
            Ok(d) if d.is_zero() => {
                self.error(
                    &value.span(),
                    format!("{key} {:?} must be longer than zero", value.get_ref()),
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.error(
                    &value.span(),
                    format!(
                        "{key} {:?} is not a duration such as \"60s\" or \"2m\": {e}",
                        value.get_ref()
                    ),
                );
                None
            }
        }
    }

    pub(super) fn xmpp(&mut self, raw: Option<Spanned<RawXmpp>>) -> Option<XmppConfig> {
        let Some(raw) = raw else {
            self.error(
                &(0..0),
                "missing [xmpp] table: server, domain, user and a password source are required"
                    .to_owned(),
            );
            return None;
        };
        let header = raw.span();
        let raw = raw.into_inner();

        let endpoint = match &raw.servers {
            Some(list) => self.servers(&raw, list),
            None => self.endpoint(&raw, &header),
        };
        let domain = self
            .required(&raw.domain, "[xmpp]", &header, "domain")
            .and_then(|d| self.jid_part(d, d.get_ref(), "xmpp.domain", "domain"));
        let user = self
            .required(&raw.user, "[xmpp]", &header, "user")
            .and_then(|u| self.jid_part(u, &normalize_user(u.get_ref()), "xmpp.user", "node"));
        let resource = match &raw.resource {
            None => Some(DEFAULT_RESOURCE.to_owned()),
            Some(r) => self.jid_part(r, r.get_ref(), "xmpp.resource", "resource"),
        };
        let wait = match &raw.wait {
            None => Some(DEFAULT_WAIT),
            Some(w) => self.duration(w, "xmpp.wait").and_then(|d| {
                if d.subsec_nanos() == 0 {
                    Some(d)
                } else {
                    self.error(
                        &w.span(),
                        format!(
                            "xmpp.wait {:?} must be a whole number of seconds (BOSH `wait`)",
                            w.get_ref()
                        ),
                    );
                    None
                }
            }),
        };
        let max_stanza_size = match &raw.max_stanza_size {
            None => Some(DEFAULT_MAX_STANZA_SIZE),
            Some(m) => match usize::try_from(*m.get_ref()) {
                Ok(n) if n >= MIN_MAX_STANZA_SIZE => Some(n),
                _ => {
                    self.error(
                        &m.span(),
                        format!(
                            "xmpp.max_stanza_size {} must be at least {MIN_MAX_STANZA_SIZE} bytes",
                            m.get_ref()
                        ),
                    );
                    None
                }
            },
        };
        let password = self.password(&raw, &header);
        let proxy = match &raw.proxy {
            None => Some(ProxySetting::FromEnv),
            Some(p) if p.get_ref().trim() == "none" => Some(ProxySetting::Direct),
            Some(p) => match ProxyUrl::parse(p.get_ref()) {
                Ok(_) => Some(ProxySetting::Url(p.get_ref().trim().to_owned())),
                Err(e) => {
                    self.error(
                        &p.span(),
                        format!("xmpp.proxy: {e} (expected \"http://host:port\" or \"none\")"),
                    );
                    None
                }
            },
        };
        let ca_file = match &raw.ca_file {
            None => Some(None),
            Some(f) => self.ca_file(f).map(Some),
        };

        let (endpoint, domain, user, resource, wait, password) =
            (endpoint?, domain?, user?, resource?, wait?, password?);
        let max_stanza_size = max_stanza_size?;
        let proxy = proxy?;
        let ca_file = ca_file?;
        let jid = match Jid::new(Some(&user), &domain, Some(&resource)) {
            Ok(jid) => jid,
            Err(e) => {
                // Each part was checked alone above; this only fires if a combination fails.
                self.error(&header, format!("xmpp: the account's jid is invalid: {e}"));
                return None;
            }
        };
        let (password, password_source, password_pos) = password;
        Some(XmppConfig {
            server: endpoint.server,
            port: endpoint.port,
            bosh_path: endpoint.bosh_path,
            tls: endpoint.tls,
            servers: endpoint.servers,
            domain,
            user,
            resource,
            password,
            password_source,
            allow_plain: raw.allow_plain.unwrap_or(false),
            ca_file,
            wait,
            max_stanza_size,
            proxy,
            jid,
            password_pos,
        })
    }

    /// The one connection manager of `server`, `port`, `bosh_path` and `tls`.
    fn endpoint(&mut self, raw: &RawXmpp, header: &Range<usize>) -> Option<Endpoint> {
        let server = self
            .required(&raw.server, "[xmpp]", header, "server")
            .and_then(|s| self.server(s));
        let port = match &raw.port {
            None => Some(DEFAULT_PORT),
            Some(p) => match u16::try_from(*p.get_ref()) {
                Ok(port) if port != 0 => Some(port),
                _ => {
                    self.error(
                        &p.span(),
                        format!("xmpp.port {} is outside 1..=65535", p.get_ref()),
                    );
                    None
                }
            },
        };
        let bosh_path = match &raw.bosh_path {
            None => Some(DEFAULT_BOSH_PATH.to_owned()),
            Some(p) => self.bosh_path(p),
        };
        let (server, port, bosh_path) = (server?, port?, bosh_path?);
        let tls = raw.tls.as_ref().is_some_and(|t| *t.get_ref());
        Some(Endpoint {
            servers: vec![url_of(tls, &server, port, &bosh_path)],
            server,
            port,
            bosh_path,
            tls,
        })
    }

    fn server(&mut self, s: &Spanned<String>) -> Option<String> {
        let host = s.get_ref();
        let bracketed = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .filter(|h| h.parse::<Ipv6Addr>().is_ok());
        let plain_ok = !host.is_empty()
            && !host
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "/@?#[]".contains(c))
            && (!host.contains(':') || host.parse::<Ipv6Addr>().is_ok());
        if let Some(ipv6) = bracketed {
            // Stored without brackets: `bosh_url` adds them back.
            Some(ipv6.to_owned())
        } else if plain_ok {
            Some(host.clone())
        } else {
            self.error(
                &s.span(),
                format!("xmpp.server {host:?} is not a host name or IP address"),
            );
            None
        }
    }

    fn bosh_path(&mut self, p: &Spanned<String>) -> Option<String> {
        let path = p.get_ref();
        if !path.starts_with('/') {
            self.error(
                &p.span(),
                format!("xmpp.bosh_path {path:?} must start with '/'"),
            );
            None
        } else if path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
        {
            self.error(
                &p.span(),
                format!("xmpp.bosh_path {path:?} must be a plain URL path"),
            );
            None
        } else {
            Some(path.clone())
        }
    }

    /// Validates one part of the account JID on its own, so that the message names the key.
    ///
    /// `text` is what to check (for `user`: already normalised); messages quote the value as
    /// written.
    fn jid_part(
        &mut self,
        value: &Spanned<String>,
        text: &str,
        key: &str,
        part: &str,
    ) -> Option<String> {
        match check_jid_part(text, part) {
            Ok(normalized) => normalized,
            Err(problem) => {
                self.error(
                    &value.span(),
                    format!(
                        "{key} {:?} is not a valid jid {part}: {problem}",
                        value.get_ref()
                    ),
                );
                None
            }
        }
    }

    /// Exactly one password source; reads it when an environment lookup is given (`load`).
    fn password(
        &mut self,
        raw: &RawXmpp,
        header: &Range<usize>,
    ) -> Option<(Secret, PasswordSource, Position)> {
        let given: Vec<(&str, &Spanned<String>)> = [
            ("password_file", &raw.password_file),
            ("password_env", &raw.password_env),
            ("password", &raw.password),
        ]
        .into_iter()
        .filter_map(|(key, v)| v.as_ref().map(|v| (key, v)))
        .collect();
        let (key, value) = match given.as_slice() {
            [] => {
                self.error(
                    header,
                    "[xmpp] needs a password source: one of password_file, password_env or password"
                        .to_owned(),
                );
                return None;
            }
            [one] => *one,
            [(first_key, first), rest @ ..] => {
                let first_line = self.pos(&first.span()).line;
                for (key, v) in rest {
                    self.error(
                        &v.span(),
                        format!(
                            "xmpp.{key} conflicts with xmpp.{first_key} (line {first_line}): \
                             give exactly one of password_file, password_env or password"
                        ),
                    );
                }
                return None;
            }
        };
        let span = value.span();
        let pos = self.pos(&span);
        let text = value.get_ref();
        if text.is_empty() {
            self.error(&span, format!("xmpp.{key} is empty"));
            return None;
        }
        match key {
            "password_file" => {
                let file = self.dir.join(text);
                let secret = match self.env {
                    Some(_) => self.read_password_file(&file, &span)?,
                    None => Secret::default(),
                };
                Some((secret, PasswordSource::File(file), pos))
            }
            "password_env" => {
                let secret = match self.env {
                    Some(env) => self.read_password_env(env, text, &span)?,
                    None => Secret::default(),
                };
                Some((secret, PasswordSource::Env(text.clone()), pos))
            }
            _ => {
                self.warning(
                    &span,
                    "xmpp.password holds the password in clear text; \
                     prefer password_file or password_env"
                        .to_owned(),
                );
                Some((Secret::new(text.clone()), PasswordSource::Literal, pos))
            }
        }
    }

    /// `ca_file`, resolved against the config's directory; read and checked by [`load`].
    ///
    /// [`load`]: super::load
    fn ca_file(&mut self, value: &Spanned<String>) -> Option<PathBuf> {
        if value.get_ref().is_empty() {
            self.error(&value.span(), "xmpp.ca_file is empty".to_owned());
            return None;
        }
        let file = self.dir.join(value.get_ref());
        if self.env.is_some()
            && let Err(e) = crate::xmpp::http::read_ca_file(&file)
        {
            self.error(&value.span(), format!("xmpp.ca_file: {e}"));
            return None;
        }
        Some(file)
    }

    fn read_password_file(&mut self, file: &Path, span: &Range<usize>) -> Option<Secret> {
        match std::fs::read_to_string(file) {
            Ok(content) => {
                let password = content.trim_end_matches(['\r', '\n']);
                if password.is_empty() {
                    self.error(
                        span,
                        format!("xmpp.password_file {} is empty", file.display()),
                    );
                    None
                } else {
                    Some(Secret::new(password))
                }
            }
            Err(e) => {
                self.error(
                    span,
                    format!(
                        "cannot read xmpp.password_file {}: {}",
                        file.display(),
                        io_reason(&e)
                    ),
                );
                None
            }
        }
    }

    fn read_password_env(
        &mut self,
        env: EnvLookup<'_>,
        name: &str,
        span: &Range<usize>,
    ) -> Option<Secret> {
        let problem = match env(name) {
            Ok(value) if !value.is_empty() => return Some(Secret::new(value)),
            Ok(_) => "is empty",
            Err(VarError::NotPresent) => "is not set",
            Err(VarError::NotUnicode(_)) => "is not valid unicode",
        };
        self.error(
            span,
            format!("xmpp.password_env: environment variable {name} {problem}"),
        );
        None
    }

    pub(super) fn agent(&mut self, raw: Option<RawAgent>) -> Option<AgentConfig> {
        let raw = raw.unwrap_or(RawAgent {
            bindings: None,
            state: None,
            admin: None,
            allow: Vec::new(),
            iq_timeout: None,
        });
        let bindings_dir = self.dir_path(raw.bindings.as_ref(), "agent.bindings", DEFAULT_BINDINGS);
        let state_dir = self.dir_path(raw.state.as_ref(), "agent.state", DEFAULT_STATE);
        let admin = match &raw.admin {
            None => Some(Some(DEFAULT_ADMIN)),
            Some(a) => self.admin(a),
        };
        let mut allow = Some(Vec::with_capacity(raw.allow.len()));
        for entry in &raw.allow {
            let jid = self.allowed_jid(entry);
            allow = allow.zip(jid).map(|(mut list, jid)| {
                if !list.contains(&jid) {
                    list.push(jid);
                }
                list
            });
        }
        let iq_timeout = match &raw.iq_timeout {
            None => Some(DEFAULT_IQ_TIMEOUT),
            Some(t) => self.duration(t, "agent.iq_timeout"),
        };
        Some(AgentConfig {
            bindings_dir: bindings_dir?,
            state_dir: state_dir?,
            admin: admin?,
            allow: allow?,
            iq_timeout: iq_timeout?,
        })
    }

    fn dir_path(
        &mut self,
        value: Option<&Spanned<String>>,
        key: &str,
        default: &str,
    ) -> Option<PathBuf> {
        let text = value.map_or(default, |v| v.get_ref().as_str());
        if let Some(v) = value
            && text.is_empty()
        {
            self.error(&v.span(), format!("{key} is empty"));
            return None;
        }
        Some(self.dir.join(text))
    }

    fn admin(&mut self, a: &Spanned<String>) -> Option<Option<SocketAddr>> {
        let text = a.get_ref();
        if text == ADMIN_OFF {
            return Some(None);
        }
        match text.parse::<SocketAddr>() {
            Ok(addr) if addr.ip().is_loopback() => Some(Some(addr)),
            Ok(addr) => {
                self.error(
                    &a.span(),
                    format!(
                        "agent.admin {addr} is not a loopback address: the admin endpoint has \
                         no authentication, so it listens on 127.0.0.1 or [::1] only"
                    ),
                );
                None
            }
            Err(_) => {
                self.error(
                    &a.span(),
                    format!(
                        "agent.admin {text:?} is not an address such as \"127.0.0.1:9750\" or \"off\""
                    ),
                );
                None
            }
        }
    }

    fn allowed_jid(&mut self, entry: &Spanned<String>) -> Option<Jid> {
        match entry.get_ref().parse::<Jid>() {
            Ok(jid) if jid.is_bare() => Some(jid),
            Ok(_) => {
                self.error(
                    &entry.span(),
                    format!(
                        "agent.allow entry {:?} must be a bare jid (without /resource)",
                        entry.get_ref()
                    ),
                );
                None
            }
            Err(e) => {
                self.error(&entry.span(), format!("agent.allow entry is invalid: {e}"));
                None
            }
        }
    }
}
