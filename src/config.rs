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
mod tests {
    use super::*;

    const ORIGIN: &str = "/etc/webbinder/webbinder.toml";

    /// A minimal valid `[xmpp]` table: five lines, so that what a test appends starts on line 6.
    const XMPP: &str = "[xmpp]\n\
                        server = \"127.0.0.1\"\n\
                        domain = \"localhost\"\n\
                        user = \"08-00-00-1A-7C-62\"\n\
                        password_env = \"WB_PASSWORD\"\n";

    fn parse(src: &str) -> Config {
        parse_str(src, Path::new(ORIGIN)).unwrap()
    }

    fn errors(src: &str) -> String {
        parse_str(src, Path::new(ORIGIN)).unwrap_err().to_string()
    }

    fn no_env(_: &str) -> Result<String, VarError> {
        Err(VarError::NotPresent)
    }

    /// SPEC §3, verbatim.
    const SPEC_EXAMPLE: &str = r#"[xmpp]                      # the SmartServer "Setup - Message" page
server = "127.0.0.1"        # XMPP server / BOSH connection manager host ("IP or Hostname")
port = 5280                 # "Message Port"
bosh_path = "/http-bind"    # "BOSH Path"
tls = false                 # https:// to the connection manager; certificates verified
domain = "localhost"        # "Message Domain"
user = "08-00-00-1A-7C-62"  # "User Name": this site's MAC ID
password_file = "secret"    # trailing newline ignored; or password_env = "VAR"; a literal `password` is allowed but warned about
resource = "ilon"           # default "ilon"

[agent]
bindings = "bindings"       # directory of *.toml binding files, watched and hot-reloaded
state = "state"             # sled directory
admin = "127.0.0.1:9750"    # admin/metrics HTTP endpoint; loopback only unless stated; "off" disables
allow = ["pidgin@localhost"]  # bare JIDs (besides every configured host) allowed to send SOAP requests

[[datapoint]]               # the local emulated LON datapoint table
name = "Net/LON/iLON App/Digital Output 1/nviClaValue_1"
type = "SNVT_switch"        # SNVT_switch, SNVT_temp_p, SNVT_lev_percent, SNVT_temp, SNVT_time_stamp, ...
value = "0.0 0"             # initial value in the type's formatted text form
direction = "in"            # in | out | in_out (default in_out)
"#;

    #[test]
    fn spec_example_parses_with_exact_values() {
        let config = parse(SPEC_EXAMPLE);
        let expected = Config {
            path: PathBuf::from(ORIGIN),
            dir: PathBuf::from("/etc/webbinder"),
            xmpp: XmppConfig {
                server: "127.0.0.1".to_owned(),
                port: 5280,
                bosh_path: "/http-bind".to_owned(),
                tls: false,
                servers: vec!["http://127.0.0.1:5280/http-bind".to_owned()],
                domain: "localhost".to_owned(),
                user: "08-00-00-1a-7c-62".to_owned(),
                resource: "ilon".to_owned(),
                password: Secret::default(),
                password_source: PasswordSource::File(PathBuf::from("/etc/webbinder/secret")),
                allow_plain: false,
                ca_file: None,
                wait: Duration::from_secs(60),
                max_stanza_size: 262_144,
                proxy: ProxySetting::FromEnv,
                jid: "08-00-00-1a-7c-62@localhost/ilon".parse().unwrap(),
                password_pos: Position { line: 8, col: 17 },
            },
            agent: AgentConfig {
                bindings_dir: PathBuf::from("/etc/webbinder/bindings"),
                state_dir: PathBuf::from("/etc/webbinder/state"),
                admin: Some("127.0.0.1:9750".parse().unwrap()),
                allow: vec!["pidgin@localhost".parse().unwrap()],
                iq_timeout: Duration::from_secs(120),
            },
            datapoints: vec![DatapointConfig {
                name: "Net/LON/iLON App/Digital Output 1/nviClaValue_1".to_owned(),
                dp_type: DpType::Switch,
                direction: Direction::In,
                initial: "0.0 0".to_owned(),
            }],
            warnings: Vec::new(),
        };
        assert_eq!(config, expected);
        assert_eq!(config.xmpp.bosh_url(), "http://127.0.0.1:5280/http-bind");
        assert_eq!(
            config.xmpp.jid().to_string(),
            "08-00-00-1a-7c-62@localhost/ilon"
        );
    }

    #[test]
    fn spec_example_loads_with_the_password_file_next_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("webbinder.toml");
        std::fs::write(&path, SPEC_EXAMPLE).unwrap();
        std::fs::write(dir.path().join("secret"), "s3cret\n").unwrap();
        let config = load(&path).unwrap();
        assert_eq!(config.xmpp.password.expose(), "s3cret");
        assert_eq!(
            config.xmpp.password_source,
            PasswordSource::File(dir.path().join("secret"))
        );
        assert_eq!(config.agent.bindings_dir, dir.path().join("bindings"));
        assert_eq!(config.agent.state_dir, dir.path().join("state"));
        assert_eq!(config.warnings(), &[]);
    }

    #[test]
    fn minimal_config_gets_the_documented_defaults() {
        let config = parse(XMPP);
        assert_eq!(config.xmpp.port, 5280);
        assert_eq!(config.xmpp.bosh_path, "/http-bind");
        assert!(!config.xmpp.tls);
        assert_eq!(config.xmpp.resource, "ilon");
        assert!(!config.xmpp.allow_plain);
        assert_eq!(config.xmpp.wait, Duration::from_secs(60));
        assert_eq!(
            config.xmpp.password_source,
            PasswordSource::Env("WB_PASSWORD".to_owned())
        );
        assert_eq!(config.xmpp.password, Secret::default());
        assert_eq!(
            config.agent,
            AgentConfig {
                bindings_dir: PathBuf::from("/etc/webbinder/bindings"),
                state_dir: PathBuf::from("/etc/webbinder/state"),
                admin: Some(DEFAULT_ADMIN),
                allow: Vec::new(),
                iq_timeout: Duration::from_secs(120),
            }
        );
        assert_eq!(config.datapoints, Vec::new());
        assert_eq!(config.warnings(), &[]);
    }

    #[test]
    fn every_optional_key_is_honoured_when_given() {
        let src = "[xmpp]\n\
                   server = \"xmpp.example.org\"\n\
                   port = 5443\n\
                   bosh_path = \"/bosh\"\n\
                   tls = true\n\
                   domain = \"Example.ORG\"\n\
                   user = \"Site-Office\"\n\
                   password_env = \"PW\"\n\
                   resource = \"Agent1\"\n\
                   allow_plain = true\n\
                   wait = \"2m\"\n\
                   [agent]\n\
                   admin = \"[::1]:9999\"\n\
                   iq_timeout = \"30s\"\n\
                   allow = [\"Pidgin@Localhost\", \"ops@example.org\", \"pidgin@localhost\"]\n";
        let config = parse(src);
        assert_eq!(config.xmpp.bosh_url(), "https://xmpp.example.org:5443/bosh");
        assert_eq!(config.xmpp.domain, "example.org");
        assert_eq!(config.xmpp.user, "site-office");
        assert_eq!(config.xmpp.resource, "Agent1");
        assert!(config.xmpp.allow_plain);
        assert_eq!(config.xmpp.wait, Duration::from_secs(120));
        assert_eq!(
            config.xmpp.jid().to_string(),
            "site-office@example.org/Agent1"
        );
        assert_eq!(config.agent.admin, Some("[::1]:9999".parse().unwrap()));
        assert_eq!(config.agent.iq_timeout, Duration::from_secs(30));
        let allow: Vec<String> = config.agent.allow.iter().map(Jid::to_string).collect();
        assert_eq!(allow, ["pidgin@localhost", "ops@example.org"]);
    }

    #[test]
    fn ipv6_server_is_bracketed_in_the_bosh_url() {
        let bare = parse(&XMPP.replace("\"127.0.0.1\"", "\"::1\""));
        assert_eq!(bare.xmpp.bosh_url(), "http://[::1]:5280/http-bind");
        let bracketed = parse(&XMPP.replace("\"127.0.0.1\"", "\"[::1]\""));
        assert_eq!(bracketed.xmpp.server, "::1");
        assert_eq!(bracketed.xmpp.bosh_url(), "http://[::1]:5280/http-bind");
    }

    #[test]
    fn proxy_setting_absent_none_or_url_and_malformed_names_the_position() {
        assert_eq!(parse(XMPP).xmpp.proxy, ProxySetting::FromEnv);
        let none = parse(&format!("{XMPP}proxy = \"none\"\n"));
        assert_eq!(none.xmpp.proxy, ProxySetting::Direct);
        let url = parse(&format!("{XMPP}proxy = \"http://proxy:3128\"\n"));
        assert_eq!(
            url.xmpp.proxy,
            ProxySetting::Url("http://proxy:3128".into())
        );
        let e = errors(&format!("{XMPP}proxy = \"socks5://u:pw@proxy:1080\"\n"));
        assert!(e.contains(&format!("{ORIGIN}:6:9: xmpp.proxy: ")), "{e}");
        assert!(
            e.contains("http:// or https://") && !e.contains("pw@"),
            "{e}"
        );
        let e = errors(&format!("{XMPP}proxy = \"http://proxy\"\n"));
        assert!(e.contains(":6:9: ") && e.contains("no port"), "{e}");
    }

    #[test]
    fn admin_off_disables_the_endpoint() {
        let config = parse(&format!("{XMPP}[agent]\nadmin = \"off\"\n"));
        assert_eq!(config.agent.admin, None);
    }

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
    fn relative_paths_resolve_against_the_config_directory() {
        let src = format!(
            "{XMPP}[agent]\nbindings = \"conf/bindings\"\nstate = \"/var/lib/webbinder\"\n"
        );
        let config = parse_str(&src, Path::new("sites/a/webbinder.toml")).unwrap();
        assert_eq!(config.dir, PathBuf::from("sites/a"));
        assert_eq!(
            config.agent.bindings_dir,
            PathBuf::from("sites/a/conf/bindings")
        );
        assert_eq!(config.agent.state_dir, PathBuf::from("/var/lib/webbinder"));
    }

    #[test]
    fn config_path_without_directory_resolves_against_the_current_directory() {
        let config = parse_str(XMPP, Path::new("webbinder.toml")).unwrap();
        assert_eq!(config.dir, PathBuf::from("."));
        assert_eq!(config.agent.bindings_dir, PathBuf::from("./bindings"));
        assert_eq!(config.agent.state_dir, PathBuf::from("./state"));
    }

    #[test]
    fn password_file_is_relative_to_the_config_directory() {
        let src = XMPP.replace(
            "password_env = \"WB_PASSWORD\"",
            "password_file = \"keys/pw\"",
        );
        let config = parse(&src);
        assert_eq!(
            config.xmpp.password_source,
            PasswordSource::File(PathBuf::from("/etc/webbinder/keys/pw"))
        );
    }

    #[test]
    fn datapoint_without_value_starts_at_its_types_neutral_value() {
        let mut src = XMPP.to_owned();
        for ty in [
            "SNVT_switch",
            "SNVT_temp_p",
            "SNVT_temp",
            "SNVT_lev_percent",
            "SNVT_time_stamp",
            "SNVT_hvac_mode",
        ] {
            src.push_str(&format!(
                "[[datapoint]]\nname = \"dp/{ty}\"\ntype = \"{ty}\"\n"
            ));
        }
        let initial: Vec<(String, String, Direction)> = parse(&src)
            .datapoints
            .into_iter()
            .map(|dp| (dp.dp_type.name().to_owned(), dp.initial, dp.direction))
            .collect();
        let expected = [
            ("SNVT_switch", "0.0 0"),
            ("SNVT_temp_p", "0.00"),
            ("SNVT_temp", "0.0"),
            ("SNVT_lev_percent", "0.000"),
            ("SNVT_time_stamp", "0000-00-00T00:00:00"),
            ("SNVT_hvac_mode", "HVAC_AUTO"),
        ]
        .map(|(t, v)| (t.to_owned(), v.to_owned(), Direction::InOut));
        assert_eq!(initial, expected);
    }

    #[test]
    fn datapoint_value_is_kept_in_canonical_form() {
        let src = format!(
            "{XMPP}[[datapoint]]\nname = \"t\"\ntype = \"SNVT_temp_p\"\nvalue = \" 21 \"\ndirection = \"out\"\n\
             [[datapoint]]\nname = \"r\"\ntype = \"SNVT_count\"\nvalue = \"00c8\"\n"
        );
        let dps = parse(&src).datapoints;
        assert_eq!(
            dps,
            [
                DatapointConfig {
                    name: "t".to_owned(),
                    dp_type: DpType::TempP,
                    direction: Direction::Out,
                    initial: "21.00".to_owned(),
                },
                DatapointConfig {
                    name: "r".to_owned(),
                    dp_type: DpType::Raw {
                        name: "SNVT_count".to_owned()
                    },
                    direction: Direction::InOut,
                    initial: "00C8".to_owned(),
                },
            ]
        );
    }

    #[test]
    fn ca_file_is_relative_to_the_config_directory_and_optional() {
        assert_eq!(parse(XMPP).xmpp.ca_file, None);
        let config = parse(&format!("{XMPP}ca_file = \"certs/site-ca.pem\"\n"));
        assert_eq!(
            config.xmpp.ca_file,
            Some(PathBuf::from("/etc/webbinder/certs/site-ca.pem"))
        );
    }

    #[test]
    fn load_reads_the_ca_file_and_names_it_when_unusable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("webbinder.toml");
        let src = XMPP.replace("password_env = \"WB_PASSWORD\"", "password = \"x\"");
        std::fs::write(&path, format!("{src}ca_file = \"ca.pem\"\n")).unwrap();
        let ca = dir.path().join("ca.pem");
        let err = load(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}:6:11: xmpp.ca_file: cannot read the CA file {}: no such file",
                path.display(),
                ca.display()
            )
        );
        std::fs::write(&ca, "not a certificate\n").unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}:6:11: xmpp.ca_file: the CA file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display(),
                ca.display()
            )
        );
        std::fs::write(&ca, include_str!("xmpp/http/test-ca.pem")).unwrap();
        assert_eq!(load(&path).unwrap().xmpp.ca_file, Some(ca));
    }

    #[test]
    fn load_strips_trailing_newlines_from_the_password_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("webbinder.toml");
        let src = XMPP.replace("password_env = \"WB_PASSWORD\"", "password_file = \"pw\"");
        std::fs::write(&path, src).unwrap();
        std::fs::write(dir.path().join("pw"), "top secret\r\n").unwrap();
        let config = load(&path).unwrap();
        assert_eq!(config.xmpp.password.expose(), "top secret");
    }

    #[test]
    fn load_with_missing_password_file_names_the_file_and_the_config_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("webbinder.toml");
        let src = XMPP.replace("password_env = \"WB_PASSWORD\"", "password_file = \"pw\"");
        std::fs::write(&path, src).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}:5:17: cannot read xmpp.password_file {}: no such file",
                path.display(),
                dir.path().join("pw").display()
            )
        );
    }

    #[test]
    fn load_with_empty_password_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("webbinder.toml");
        let src = XMPP.replace("password_env = \"WB_PASSWORD\"", "password_file = \"pw\"");
        std::fs::write(&path, src).unwrap();
        std::fs::write(dir.path().join("pw"), "\n").unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}:5:17: xmpp.password_file {} is empty",
                path.display(),
                dir.path().join("pw").display()
            )
        );
    }

    #[test]
    fn load_reads_the_password_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("webbinder.toml");
        std::fs::write(&path, XMPP).unwrap();
        let env = |name: &str| {
            if name == "WB_PASSWORD" {
                Ok("from env".to_owned())
            } else {
                Err(VarError::NotPresent)
            }
        };
        let config = load_with_env(&path, &env).unwrap();
        assert_eq!(config.xmpp.password.expose(), "from env");
        assert_eq!(
            config.xmpp.password_source,
            PasswordSource::Env("WB_PASSWORD".to_owned())
        );
    }

    #[test]
    fn load_with_unset_password_variable_names_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("webbinder.toml");
        let src = XMPP.replace("WB_PASSWORD", "WEBBINDER_TEST_UNSET_7F3A9C");
        std::fs::write(&path, src).unwrap();
        // The real environment: nothing sets this name.
        let err = load(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}:5:16: xmpp.password_env: environment variable WEBBINDER_TEST_UNSET_7F3A9C is not set",
                path.display()
            )
        );
    }

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
    fn load_reports_password_problems_together_with_other_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("webbinder.toml");
        std::fs::write(&path, format!("{XMPP}port = 0\n")).unwrap();
        let err = load_with_env(&path, &no_env).unwrap_err().to_string();
        let p = path.display();
        assert_eq!(
            err,
            format!(
                "{p}:5:16: xmpp.password_env: environment variable WB_PASSWORD is not set\n\
                 {p}:6:8: xmpp.port 0 is outside 1..=65535"
            )
        );
    }

    #[test]
    fn literal_password_is_accepted_with_a_warning() {
        let src = XMPP.replace("password_env = \"WB_PASSWORD\"", "password = \"hunter2\"");
        let config = parse(&src);
        assert_eq!(config.xmpp.password.expose(), "hunter2");
        assert_eq!(config.xmpp.password_source, PasswordSource::Literal);
        let warnings: Vec<String> = config.warnings().iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [format!(
                "{ORIGIN}:5:12: xmpp.password holds the password in clear text; \
                 prefer password_file or password_env"
            )]
        );
    }

    #[test]
    fn secret_debug_never_shows_the_password() {
        let src = XMPP.replace("password_env = \"WB_PASSWORD\"", "password = \"hunter2\"");
        let config = parse(&src);
        assert_eq!(format!("{:?}", config.xmpp.password), "***");
        assert!(!format!("{config:?}").contains("hunter2"));
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
    fn invalid_server_and_bosh_path_are_reported_at_the_value() {
        let src = XMPP.replace("\"127.0.0.1\"", "\"http://x\"") + "bosh_path = \"http-bind\"\n";
        assert_eq!(
            errors(&src),
            format!(
                "{ORIGIN}:2:10: xmpp.server \"http://x\" is not a host name or IP address\n\
                 {ORIGIN}:6:13: xmpp.bosh_path \"http-bind\" must start with '/'"
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

    #[test]
    fn bad_allow_jids_are_reported_at_each_entry() {
        let src = format!(
            "{XMPP}[agent]\nallow = [\"ok@localhost\", \"a b@x\", \"pidgin@localhost/home\"]\n"
        );
        assert_eq!(
            errors(&src),
            format!(
                "{ORIGIN}:7:26: agent.allow entry is invalid: jid \"a b@x\" has forbidden character ' ' in its node\n\
                 {ORIGIN}:7:35: agent.allow entry \"pidgin@localhost/home\" must be a bare jid (without /resource)"
            )
        );
    }

    #[test]
    fn non_loopback_admin_address_is_refused() {
        assert_eq!(
            errors(&format!("{XMPP}[agent]\nadmin = \"0.0.0.0:9750\"\n")),
            format!(
                "{ORIGIN}:7:9: agent.admin 0.0.0.0:9750 is not a loopback address: the admin \
                 endpoint has no authentication, so it listens on 127.0.0.1 or [::1] only"
            )
        );
        assert_eq!(
            errors(&format!("{XMPP}[agent]\nadmin = \"localhost\"\n")),
            format!(
                "{ORIGIN}:7:9: agent.admin \"localhost\" is not an address such as \
                 \"127.0.0.1:9750\" or \"off\""
            )
        );
    }

    #[test]
    fn missing_password_source_is_reported_at_the_xmpp_table() {
        let src = XMPP.replace("password_env = \"WB_PASSWORD\"\n", "");
        assert_eq!(
            errors(&src),
            format!(
                "{ORIGIN}:1:1: [xmpp] needs a password source: one of password_file, \
                 password_env or password"
            )
        );
    }

    #[test]
    fn second_password_source_is_reported_as_a_conflict() {
        let src = format!("{XMPP}password = \"x\"\n");
        assert_eq!(
            errors(&src),
            format!(
                "{ORIGIN}:6:12: xmpp.password conflicts with xmpp.password_env (line 5): \
                 give exactly one of password_file, password_env or password"
            )
        );
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
    fn duplicate_datapoint_names_name_both_lines() {
        let src = format!(
            "{XMPP}[[datapoint]]\nname = \"a/b\"\ntype = \"SNVT_temp\"\n\
             [[datapoint]]\nname = \"a/b\"\ntype = \"SNVT_switch\"\n"
        );
        assert_eq!(
            errors(&src),
            format!("{ORIGIN}:10:8: duplicate datapoint name \"a/b\" (first defined at line 7)")
        );
    }

    #[test]
    fn unknown_direction_is_reported_at_the_value() {
        let src = format!(
            "{XMPP}[[datapoint]]\nname = \"a\"\ntype = \"SNVT_temp\"\ndirection = \"both\"\n"
        );
        assert_eq!(
            errors(&src),
            format!("{ORIGIN}:9:13: datapoint direction \"both\" is not one of in, out, in_out")
        );
    }

    #[test]
    fn initial_value_that_does_not_fit_the_type_quotes_the_value_error() {
        let src = format!(
            "{XMPP}[[datapoint]]\nname = \"a\"\ntype = \"SNVT_switch\"\nvalue = \"100.0 7\"\n"
        );
        assert_eq!(
            errors(&src),
            format!(
                "{ORIGIN}:9:9: invalid datapoint value: \"100.0 7\" is not a valid SNVT_switch \
                 value: expected a state of -1, 0 or 1 after the level"
            )
        );
    }

    #[test]
    fn raw_type_without_value_is_refused() {
        let src = format!("{XMPP}[[datapoint]]\nname = \"a\"\ntype = \"SNVT_count\"\n");
        assert_eq!(
            errors(&src),
            format!(
                "{ORIGIN}:8:8: datapoint type \"SNVT_count\" needs a value: webbinder keeps this \
                 type as raw hex bytes and cannot guess its size"
            )
        );
    }

    #[test]
    fn built_in_clock_datapoint_cannot_be_configured() {
        let src = format!(
            "{XMPP}[[datapoint]]\nname = \"{CLOCK_DATAPOINT}\"\ntype = \"SNVT_time_stamp\"\n"
        );
        assert_eq!(
            errors(&src),
            format!(
                "{ORIGIN}:7:8: datapoint \"{CLOCK_DATAPOINT}\" is built in (the agent's real \
                 time clock) and cannot be configured"
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
}
