//! The agent configuration file, `webbinder.toml` (SPEC §3).
//!
//! This module owns the two phases of reading it (style guide §2.7): serde `Raw*` types that
//! accept exactly the documented keys (`deny_unknown_fields`), and a validation pass that turns
//! them into a [`Config`] whose fields cannot hold invalid values (a [`Jid`], a [`DpType`], a
//! loopback [`SocketAddr`], resolved paths). Validation collects **every** problem, each as
//! `FILE:LINE:COL: message` pointing at the offending key or value, so that `webbinder check`
//! and a rejected hot reload can show them all at once.
//!
//! [`parse_str`] is pure: it reads no file and no environment variable, so a password given by
//! `password_file` or `password_env` is left unresolved. [`load`] is the edge: it reads the
//! config file and the password source. Binding files (SPEC §4), the datapoint table itself and
//! watching for changes live elsewhere.

use std::collections::HashMap;
use std::env::VarError;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::datapoints::snvt::DpType;
use crate::datapoints::{DatapointConfig, Direction};
use crate::xmpp::jid::{Jid, JidError, normalize_user};
pub use crate::xmpp::proxy::ProxySetting;
use crate::xmpp::proxy::ProxyUrl;

mod servers;
use servers::Endpoint;

/// Default `xmpp.port`: the plain-HTTP BOSH port of both ejabberd and Prosody.
const DEFAULT_PORT: u16 = 5280;
/// Default `xmpp.bosh_path` (SPEC §3).
const DEFAULT_BOSH_PATH: &str = "/http-bind";
/// Default `xmpp.resource` (SPEC §3): what a SmartServer binds.
const DEFAULT_RESOURCE: &str = "ilon";
/// Default `xmpp.max_stanza_size`: ejabberd's stock limit (Prosody's c2s default is the same).
pub const DEFAULT_MAX_STANZA_SIZE: usize = 256 * 1024;
/// Smallest accepted `xmpp.max_stanza_size`: room for a full 100-item batch of small values.
const MIN_MAX_STANZA_SIZE: usize = 16 * 1024;
/// Default `xmpp.wait`: how long the connection manager may hold an idle BOSH request.
const DEFAULT_WAIT: Duration = Duration::from_secs(60);
/// Default `agent.bindings` (SPEC §3).
const DEFAULT_BINDINGS: &str = "bindings";
/// Default `agent.state` (SPEC §3).
const DEFAULT_STATE: &str = "state";
/// Default `agent.admin` (SPEC §3).
const DEFAULT_ADMIN: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9750);
/// Default `agent.iq_timeout`: the SOAP timeout of SPEC §4 (`connection_timeout` absent).
const DEFAULT_IQ_TIMEOUT: Duration = Duration::from_secs(120);
/// The `agent.admin` value that disables the admin endpoint.
const ADMIN_OFF: &str = "off";
/// The datapoint every agent has, whatever the config says (SPEC §3); configuring it is refused
/// so that its type and behaviour cannot be redefined by accident.
const CLOCK_DATAPOINT: &str = "Net/LON/iLON App/Real Time Clock/nvoRtTimeDate";

// ---------------------------------------------------------------------------------------------
// Validated model
// ---------------------------------------------------------------------------------------------

/// A validated agent configuration: what `run`, `check` and a hot reload work from.
///
/// Built only by [`parse_str`] and [`load`], so every field already passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The config file as given on the command line; error messages and logs name it.
    pub path: PathBuf,
    /// The directory relative paths in the file resolve against (SPEC §2); `.` when the path
    /// has no directory part.
    pub dir: PathBuf,
    /// The XMPP account and connection manager (`[xmpp]`).
    pub xmpp: XmppConfig,
    /// Local agent settings (`[agent]`).
    pub agent: AgentConfig,
    /// The emulated datapoint table (`[[datapoint]]`), in file order. The built-in real time
    /// clock is not listed here.
    pub datapoints: Vec<DatapointConfig>,
    warnings: Vec<ConfigWarning>,
}

impl Config {
    /// Things that are allowed but worth an operator's attention (for now: a literal
    /// `password` in the file), in file order; the caller decides how to log them.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }
}

/// The `[xmpp]` section: how to reach the BOSH connection manager and which account to use.
///
/// `user`, `domain` and `resource` are validated together; [`XmppConfig::jid`] is their
/// full JID.
///
/// `server`, `port`, `bosh_path` and `tls` describe the first connection manager; with
/// `servers` in the file they are taken from its first URL.
#[derive(Debug, Clone, PartialEq)]
pub struct XmppConfig {
    /// Host name or IP address of the BOSH connection manager, as written.
    pub server: String,
    /// TCP port of the connection manager (default 5280).
    pub port: u16,
    /// HTTP path of the BOSH endpoint, starting with `/` (default `/http-bind`).
    pub bosh_path: String,
    /// Whether to use `https://` (certificates verified); default false.
    pub tls: bool,
    /// The BOSH URLs of the connection managers, in the order to try them (failover): the
    /// `servers` list, or the one URL built from `server`/`port`/`bosh_path`/`tls`. Never empty.
    pub servers: Vec<String>,
    /// The XMPP domain, lower-cased as nodeprep does.
    pub domain: String,
    /// The account's node: a MAC ID in canonical form (`08-00-00-1a-7c-62`), any other name
    /// lower-cased, so that it equals what the server and peers see.
    pub user: String,
    /// The resource to bind (default `ilon`), case kept.
    pub resource: String,
    /// The account password. After [`load`] always the real password; after [`parse_str`]
    /// only for a literal `password` and empty for a file or environment source, which
    /// [`parse_str`] does not read.
    pub password: Secret,
    /// Where the password comes from, so that messages can name the source.
    pub password_source: PasswordSource,
    /// Whether SASL PLAIN may be used without TLS (default false).
    pub allow_plain: bool,
    /// PEM trust anchors added to the system roots (a site's own CA), resolved against
    /// [`Config::dir`]; [`load`] checks that it holds at least one usable certificate.
    pub ca_file: Option<PathBuf>,
    /// BOSH `wait`: the longest the connection manager holds an idle request (default 60 s),
    /// a whole number of seconds.
    pub wait: Duration,
    /// The connection manager's largest accepted stanza in bytes (default 256 KiB, ejabberd's
    /// stock `max_stanza_size`). Outgoing batches and answers are sized below it (SPEC §5).
    pub max_stanza_size: usize,
    /// The HTTP proxy: `proxy = "http://host:port"`, `"none"` (direct), or absent (the
    /// environment's `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`).
    pub proxy: ProxySetting,
    jid: Jid,
    password_pos: Position,
}

impl XmppConfig {
    /// The (first) BOSH endpoint, `http(s)://server:port/bosh_path` (SPEC §5), with an IPv6
    /// address in brackets.
    pub fn bosh_url(&self) -> String {
        self.servers
            .first()
            .cloned()
            .unwrap_or_else(|| url_of(self.tls, &self.server, self.port, &self.bosh_path))
    }

    /// The agent's own full JID, `user@domain/resource`, as the server binds it.
    pub fn jid(&self) -> Jid {
        self.jid.clone()
    }
}

/// `http(s)://server:port/bosh_path`, with an IPv6 address in brackets.
fn url_of(tls: bool, server: &str, port: u16, bosh_path: &str) -> String {
    let scheme = if tls { "https" } else { "http" };
    let host = if server.parse::<Ipv6Addr>().is_ok() {
        format!("[{server}]")
    } else {
        server.to_owned()
    };
    format!("{scheme}://{host}:{port}{bosh_path}")
}

/// The `[agent]` section: local directories, the admin endpoint and who may send requests.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// Directory of binding files (default `bindings`), resolved against [`Config::dir`].
    pub bindings_dir: PathBuf,
    /// State store directory (default `state`), resolved against [`Config::dir`].
    pub state_dir: PathBuf,
    /// Admin endpoint address (default `127.0.0.1:9750`), always a loopback address because
    /// the endpoint has no authentication; `None` when configured as `"off"`.
    pub admin: Option<SocketAddr>,
    /// Bare JIDs allowed to send SOAP requests besides the configured hosts, normalised.
    pub allow: Vec<Jid>,
    /// How long to wait for the answer to an outgoing SOAP request when a host sets no
    /// `connection_timeout` (default 120 s).
    pub iq_timeout: Duration,
}

/// Where the account password is read from (SPEC §3: exactly one source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// `password_file`: this file (resolved against [`Config::dir`]), trailing newlines ignored.
    File(PathBuf),
    /// `password_env`: this environment variable.
    Env(String),
    /// `password`: written in the config file itself (allowed, but warned about).
    Literal,
}

/// A password, kept out of logs: its `Debug` prints `***` and it has no `Display`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password so that it cannot be logged by accident.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The password itself, for the one place that needs it (SASL).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

// ---------------------------------------------------------------------------------------------
// Errors and warnings
// ---------------------------------------------------------------------------------------------

/// A 1-based line and column (in characters) in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub col: usize,
}

impl Position {
    /// The position of byte `offset` in `src` (clamped to the end of `src`).
    pub(crate) fn of(src: &str, offset: usize) -> Position {
        let mut pos = Position { line: 1, col: 1 };
        for (i, c) in src.char_indices() {
            if i >= offset {
                break;
            }
            if c == '\n' {
                pos.line += 1;
                pos.col = 1;
            } else {
                pos.col += 1;
            }
        }
        pos
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One problem with a config file, printed as `FILE:LINE:COL: message` (or `FILE: message`
/// when there is no position, e.g. the file cannot be read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The config file, as given.
    pub path: PathBuf,
    /// Where in the file; `None` for problems with the file as a whole.
    pub position: Option<Position>,
    /// What is wrong, lowercase, naming the key.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(pos) => write!(f, "{}:{pos}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Every problem found in a config file, in file order; `Display` prints one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    pub(crate) errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// The individual problems, in file order.
    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }

    fn single(path: &Path, position: Option<Position>, message: String) -> ConfigErrors {
        ConfigErrors {
            errors: vec![ConfigError {
                path: path.to_owned(),
                position,
                message,
            }],
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Something allowed in a config file but worth an operator's attention, printed as
/// `FILE:LINE:COL: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The config file, as given.
    pub path: PathBuf,
    /// Where in the file.
    pub position: Position,
    /// What to look at, lowercase.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}",
            self.path.display(),
            self.position,
            self.message
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Raw serde types (phase 1)
// ---------------------------------------------------------------------------------------------

// Why: required keys and checked values are `Option<Spanned<_>>` rather than plain fields or
// humantime-serde durations, so that a missing key or a bad value becomes a collected
// validation error with a position instead of the first and only serde error.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawConfig {
    xmpp: Option<Spanned<RawXmpp>>,
    agent: Option<RawAgent>,
    #[serde(default)]
    datapoint: Vec<Spanned<RawDatapoint>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawXmpp {
    server: Option<Spanned<String>>,
    port: Option<Spanned<i64>>,
    bosh_path: Option<Spanned<String>>,
    tls: Option<Spanned<bool>>,
    domain: Option<Spanned<String>>,
    user: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    password: Option<Spanned<String>>,
    resource: Option<Spanned<String>>,
    allow_plain: Option<bool>,
    ca_file: Option<Spanned<String>>,
    wait: Option<Spanned<String>>,
    max_stanza_size: Option<Spanned<i64>>,
    servers: Option<Spanned<Vec<Spanned<String>>>>,
    proxy: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawAgent {
    bindings: Option<Spanned<String>>,
    state: Option<Spanned<String>>,
    admin: Option<Spanned<String>>,
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    iq_timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawDatapoint {
    name: Option<Spanned<String>>,
    #[serde(rename = "type")]
    dp_type: Option<Spanned<String>>,
    value: Option<Spanned<String>>,
    direction: Option<Spanned<String>>,
}

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

/// Parses and validates a config text, reporting every problem against `origin`.
///
/// Pure: reads no file and no environment variable. Relative paths resolve against
/// `origin`'s directory; a `password_file` or `password_env` is recorded in
/// [`XmppConfig::password_source`] but not read (use [`load`] for that).
///
/// # Errors
///
/// [`ConfigErrors`] with a TOML syntax or type error (the first one only, as the parser stops
/// there), or with every validation problem found.
/// Checks one JID part (`node`, `resource`, anything else: domain) on its own: its normalised
/// form, or why it is invalid in words an operator understands (config and binding files).
pub(crate) fn check_jid_part(text: &str, part: &str) -> Result<Option<String>, String> {
    let checked = match part {
        "node" => Jid::new(Some(text), "localhost", None).map(|j| j.node().map(str::to_owned)),
        "resource" => {
            Jid::new(None, "localhost", Some(text)).map(|j| j.resource().map(str::to_owned))
        }
        _ => Jid::new(None, text, None).map(|j| Some(j.domain().to_owned())),
    };
    checked.map_err(|e| match e {
        JidError::EmptyPart { .. } => "it is empty".to_owned(),
        JidError::PartTooLong { len, .. } => {
            format!("it is {len} bytes long, over the limit of 1023")
        }
        JidError::ForbiddenChar { ch, .. } => format!("it contains the forbidden character {ch:?}"),
        other => other.to_string(),
    })
}

pub fn parse_str(src: &str, origin: &Path) -> Result<Config, ConfigErrors> {
    parse_inner(src, origin, None)
}

/// Reads, parses and validates the config file at `path`, and reads its password source.
///
/// `password_file` is read relative to the file's directory with trailing newlines ignored;
/// `password_env` is read from the environment. Problems with the password source are
/// reported together with every other problem in the file.
///
/// # Errors
///
/// [`ConfigErrors`]: the file cannot be read (naming the path), or everything
/// [`parse_str`] reports, plus a password source that cannot be read.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with_env(path, &|name| std::env::var(name))
}

/// [`load`] with the environment lookup injected, so tests need not mutate the process
/// environment.
fn load_with_env(
    path: &Path,
    env: &dyn Fn(&str) -> Result<String, VarError>,
) -> Result<Config, ConfigErrors> {
    let src = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors::single(
            path,
            None,
            format!("cannot read the config file: {}", io_reason(&e)),
        )
    })?;
    let config = parse_inner(&src, path, Some(env))?;
    tracing::debug!(
        path = %path.display(),
        datapoints = config.datapoints.len(),
        warnings = config.warnings.len(),
        "config loaded"
    );
    Ok(config)
}

/// A short, stable description of an I/O failure for a message.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

type EnvLookup<'a> = &'a dyn Fn(&str) -> Result<String, VarError>;

fn parse_inner(src: &str, path: &Path, env: Option<EnvLookup<'_>>) -> Result<Config, ConfigErrors> {
    let raw: RawConfig = toml::from_str(src).map_err(|e| syntax_error(src, path, e))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut v = Validator {
        src,
        path,
        dir: &dir,
        env,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let xmpp = v.xmpp(raw.xmpp);
    let agent = v.agent(raw.agent);
    let datapoints = v.datapoints(raw.datapoint);
    let (mut errors, warnings) = (v.errors, v.warnings);
    match (xmpp, agent) {
        (Some(xmpp), Some(agent)) if errors.is_empty() => Ok(Config {
            path: path.to_owned(),
            dir,
            xmpp,
            agent,
            datapoints,
            warnings,
        }),
        _ => {
            // Stable: problems at one position keep the order they were found in.
            errors.sort_by_key(|e| e.position);
            Err(ConfigErrors { errors })
        }
    }
}

/// Turns a TOML parse or serde error into one positioned error, naming the key path that
/// toml tracks (`xmpp.port: invalid type: ...`).
pub(crate) fn syntax_error(src: &str, path: &Path, mut e: toml::de::Error) -> ConfigErrors {
    let position = Position::of(src, e.span().map_or(0, |s| s.start));
    let mut message = e.message().to_owned();
    if message == "duplicate key"
        && let Some(key) = e.span().and_then(|s| src.get(s))
    {
        message = format!("duplicate key `{key}`");
    }
    // The key path is only exposed through Display, as a trailing "in `a.b`" line when the
    // error carries no input.
    e.set_input(None);
    let shown = e.to_string();
    if let Some(keys) = shown
        .strip_prefix(e.message())
        .and_then(|rest| rest.trim_end().strip_prefix("\nin `"))
        .and_then(|rest| rest.strip_suffix('`'))
    {
        message = format!("{keys}: {message}");
    }
    ConfigErrors::single(path, Some(position), message)
}

// ---------------------------------------------------------------------------------------------
// Validation (phase 2)
// ---------------------------------------------------------------------------------------------

struct Validator<'a> {
    src: &'a str,
    path: &'a Path,
    dir: &'a Path,
    /// `Some` when called from [`load`]: the password source is read (the file directly, the
    /// variable through this lookup); `None` keeps validation pure ([`parse_str`]).
    env: Option<EnvLookup<'a>>,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigWarning>,
}

impl Validator<'_> {
    fn pos(&self, span: &Range<usize>) -> Position {
        Position::of(self.src, span.start)
    }

    fn error(&mut self, span: &Range<usize>, message: String) {
        let position = Some(self.pos(span));
        self.errors.push(ConfigError {
            path: self.path.to_owned(),
            position,
            message,
        });
    }

    fn warning(&mut self, span: &Range<usize>, message: String) {
        let position = self.pos(span);
        self.warnings.push(ConfigWarning {
            path: self.path.to_owned(),
            position,
            message,
        });
    }

    /// A required key, or an error at the table header naming it.
    fn required<'s>(
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

    fn xmpp(&mut self, raw: Option<Spanned<RawXmpp>>) -> Option<XmppConfig> {
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

    fn agent(&mut self, raw: Option<RawAgent>) -> Option<AgentConfig> {
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

    fn datapoints(&mut self, raw: Vec<Spanned<RawDatapoint>>) -> Vec<DatapointConfig> {
        let mut out = Vec::with_capacity(raw.len());
        let mut seen: HashMap<String, Position> = HashMap::new();
        for dp in raw {
            let header = dp.span();
            let dp = dp.into_inner();
            let name = self
                .required(&dp.name, "[[datapoint]]", &header, "name")
                .and_then(|n| self.datapoint_name(n, &mut seen));
            let dp_type = self
                .required(&dp.dp_type, "[[datapoint]]", &header, "type")
                .and_then(|t| {
                    if t.get_ref().trim().is_empty() {
                        self.error(&t.span(), "datapoint type is empty".to_owned());
                        None
                    } else {
                        Some((DpType::from_name(t.get_ref()), t.span()))
                    }
                });
            let direction = match &dp.direction {
                None => Some(Direction::InOut),
                Some(d) => d.get_ref().parse::<Direction>().ok().or_else(|| {
                    self.error(
                        &d.span(),
                        format!(
                            "datapoint direction {:?} is not one of in, out, in_out",
                            d.get_ref()
                        ),
                    );
                    None
                }),
            };
            let initial = dp_type
                .as_ref()
                .and_then(|(ty, type_span)| self.initial(ty, type_span, dp.value.as_ref()));
            if let (Some(name), Some((dp_type, _)), Some(direction), Some(initial)) =
                (name, dp_type, direction, initial)
            {
                out.push(DatapointConfig {
                    name,
                    dp_type,
                    direction,
                    initial,
                });
            }
        }
        out
    }

    fn datapoint_name(
        &mut self,
        n: &Spanned<String>,
        seen: &mut HashMap<String, Position>,
    ) -> Option<String> {
        let name = n.get_ref();
        let pos = self.pos(&n.span());
        if name.trim().is_empty() {
            self.error(&n.span(), "datapoint name is empty".to_owned());
            None
        } else if let Some(c) = name.chars().find(|c| c.is_control()) {
            self.error(
                &n.span(),
                format!("datapoint name {name:?} contains the control character {c:?}"),
            );
            None
        } else if name == CLOCK_DATAPOINT {
            self.error(
                &n.span(),
                format!(
                    "datapoint {name:?} is built in (the agent's real time clock) and cannot be \
                     configured"
                ),
            );
            None
        } else if let Some(first) = seen.get(name) {
            let first_line = first.line;
            self.error(
                &n.span(),
                format!("duplicate datapoint name {name:?} (first defined at line {first_line})"),
            );
            None
        } else {
            seen.insert(name.clone(), pos);
            Some(name.clone())
        }
    }

    /// The canonical initial value: the parsed `value`, or the type's default (see
    /// [`DatapointConfig::initial`]).
    fn initial(
        &mut self,
        ty: &DpType,
        type_span: &Range<usize>,
        value: Option<&Spanned<String>>,
    ) -> Option<String> {
        let (text, span) = match value {
            Some(v) => (v.get_ref().as_str(), v.span()),
            None => {
                let default = match ty {
                    DpType::Switch => "0.0 0",
                    DpType::TempP | DpType::Temp | DpType::LevPercent => "0",
                    DpType::TimeStamp => "0000-00-00T00:00:00",
                    DpType::HvacMode => "HVAC_AUTO",
                    DpType::Raw { name } => {
                        self.error(
                            type_span,
                            format!(
                                "datapoint type {name:?} needs a value: webbinder keeps this type \
                                 as raw hex bytes and cannot guess its size"
                            ),
                        );
                        return None;
                    }
                };
                (default, type_span.clone())
            }
        };
        match ty.parse(text) {
            Ok(v) => Some(ty.format(&v)),
            Err(e) => {
                self.error(&span, format!("invalid datapoint value: {e}"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
