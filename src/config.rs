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
//!
//! [`DpType`]: crate::datapoints::snvt::DpType

use std::env::VarError;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::datapoints::DatapointConfig;
use crate::xmpp::jid::{Jid, JidError};
pub use crate::xmpp::proxy::ProxySetting;

mod datapoint;
mod error;
mod raw;
mod servers;
mod validate;

pub use error::{ConfigError, ConfigErrors, ConfigWarning, Position};
use raw::{RawConfig, RawXmpp};
use validate::Validator;

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
// Entry points
// ---------------------------------------------------------------------------------------------

/// Why one JID part in a config or binding file is invalid: its `Display` is the reason in
/// `KEY "VALUE" is not a valid jid PART: ...`, which names the part, where [`JidError`] quotes
/// the whole JID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JidPartError {
    /// The part is empty.
    #[error("it is empty")]
    Empty,
    /// The part is longer than RFC 7622 allows.
    #[error("it is {len} bytes long, over the limit of 1023")]
    TooLong {
        /// Length after normalisation, in bytes.
        len: usize,
    },
    /// The part contains a character not allowed there.
    #[error("it contains the forbidden character {ch:?}")]
    ForbiddenChar {
        /// The first forbidden character found.
        ch: char,
    },
    /// Any other rejection, in [`JidError`]'s words.
    #[error(transparent)]
    Other(JidError),
}

/// Checks one JID part (`node`, `resource`, anything else: domain) on its own: its normalised
/// form, or why it is invalid in words an operator understands (config and binding files).
pub(crate) fn check_jid_part(text: &str, part: &str) -> Result<Option<String>, JidPartError> {
    let checked = match part {
        "node" => Jid::new(Some(text), "localhost", None).map(|j| j.node().map(str::to_owned)),
        "resource" => {
            Jid::new(None, "localhost", Some(text)).map(|j| j.resource().map(str::to_owned))
        }
        _ => Jid::new(None, text, None).map(|j| Some(j.domain().to_owned())),
    };
    checked.map_err(|e| match e {
        JidError::EmptyPart { .. } => JidPartError::Empty,
        JidError::PartTooLong { len, .. } => JidPartError::TooLong { len },
        JidError::ForbiddenChar { ch, .. } => JidPartError::ForbiddenChar { ch },
        other => JidPartError::Other(other),
    })
}

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

#[cfg(test)]
mod tests;
