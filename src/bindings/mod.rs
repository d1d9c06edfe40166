//! Binding files (SPEC §4): which local datapoint feeds which datapoint on which peer.
//!
//! This module owns the validated binding model ([`BindingSet`], [`Host`], [`Connection`]),
//! loading and validating a whole binding directory at once ([`load_dir`], and the pure
//! [`parse_files`] it is built on), noticing that the directory changed ([`DirWatch`], which
//! polls when it cannot watch), and reloading off the caller's event loop ([`Reloader`]).
//! Validation collects **every** problem as a [`ConfigError`](crate::config::ConfigError)
//! printed `FILE:LINE:COL: message`, so that `webbinder check` and a rejected hot reload show
//! them all at once. Loading is linear in the size of the files, reads only regular files of
//! at most [`MAX_FILE_BYTES`], and never blocks on a FIFO or device (issue 8).
//!
//! It does not decide what a reload changes (diffing two sets), deliver anything, or touch the
//! store: the caller swaps a loaded set in only when it is valid.

#[cfg(test)]
mod fuzz;
mod load;
mod poll;
mod position;
mod read;
mod reload;
mod watch;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_files;
#[cfg(test)]
mod tests_watch;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::xmpp::jid::Jid;

pub use load::{load_dir, parse_files};
pub use reload::Reloader;
pub use watch::{DirWatch, POLL_INTERVAL, WatchError, WatchStatus};

/// The largest binding file read, in bytes (4 MiB): far above any real directory's files
/// (20,000 connections take about 2 MiB), far below what would strain the agent's memory.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Default `retry_time` of a host (SPEC §4): wait this long before re-sending after a failure.
pub const DEFAULT_RETRY_TIME: Duration = Duration::from_secs(120);
/// Default `window` of a host (SPEC §5 "Several Writes in flight"): batches in flight at once.
pub const DEFAULT_WINDOW: usize = 4;
/// The largest `window` a host may set.
pub const MAX_WINDOW: usize = 64;
/// The SOAP timeout that applies when a host sets no `connection_timeout` (SPEC §4).
pub const DEFAULT_SOAP_TIMEOUT: Duration = Duration::from_secs(120);
/// Default `priority` of a connection (SPEC §4): the lowest LON priority.
pub const DEFAULT_PRIORITY: u8 = 255;
/// Default `resource` of a host (SPEC §4): what a SmartServer binds.
pub const DEFAULT_RESOURCE: &str = "ilon";

/// Every binding file of a directory, validated as a whole: one namespace of hosts and the
/// connections between datapoints.
///
/// Built only by [`load_dir`] and [`parse_files`], so every host name a connection names
/// exists, every source is a local datapoint, and no host or connection is defined twice.
#[derive(Debug, Clone, PartialEq)]
pub struct BindingSet {
    /// The `[[host]]` entries of all files, by name.
    pub hosts: BTreeMap<String, Host>,
    /// The `[[connection]]` entries of all files, in file order (files sorted by name).
    pub connections: Vec<Connection>,
    /// One summary per file loaded, in load order, for `webbinder check`.
    pub files: Vec<FileSummary>,
}

impl BindingSet {
    /// The host a connection sends to; `None` for an internal connection.
    pub fn host_of(&self, connection: &Connection) -> Option<&Host> {
        connection.host.as_ref().and_then(|h| self.hosts.get(h))
    }
}

/// A `[[host]]`: a remote SmartServer or webbinder agent, addressed by its JID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The local alias connections use (`name`).
    pub name: String,
    /// The peer's full JID, `<mac lowercase>@<domain>/<resource>` (SPEC §5 "Addressing").
    pub jid: Jid,
    /// How long to wait before re-sending after a failed Write (default 120 s, never zero).
    pub retry_time: Duration,
    /// `connection_timeout`: the longest to wait for a Write's response; `None` when absent
    /// ("Use Connection Timeout" unticked), see [`Host::timeout`].
    pub connection_timeout: Option<Duration>,
    /// How values are written to this host.
    pub format: Format,
    /// `window`: Write batches in flight at once (1..=64, default 4).
    pub window: usize,
    /// The binding file that defines this host.
    pub file: PathBuf,
    /// Whether the JID's bare part is this agent's own (see [`Host::is_local`]).
    local: bool,
}

impl Host {
    /// The longest to wait for the answer to a Write: `connection_timeout`, or the SOAP
    /// timeout of 120 s when the host sets none.
    pub fn timeout(&self) -> Duration {
        self.connection_timeout.unwrap_or(DEFAULT_SOAP_TIMEOUT)
    }

    /// Whether this host is this agent itself (its bare JID equals ours): connections to it
    /// are internal and travel no XMPP.
    pub fn is_local(&self) -> bool {
        self.local
    }
}

/// How a host wants values written (`format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// `datapoint`: the value formatted with the datapoint's type (the default).
    #[default]
    Datapoint,
    /// `raw`: the value's bytes in hex.
    Raw,
}

impl Format {
    /// The spelling used in binding files.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Datapoint => "datapoint",
            Format::Raw => "raw",
        }
    }

    pub(crate) fn from_config(s: &str) -> Option<Format> {
        match s {
            "datapoint" => Some(Format::Datapoint),
            "raw" => Some(Format::Raw),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which queued updates of a connection are delivered (`delivery`, SPEC §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Delivery {
    /// `every-change`: each update is delivered, in order (the default).
    #[default]
    EveryChange,
    /// `latest`: while waiting, only the newest value per target is kept.
    Latest,
}

impl Delivery {
    /// The spelling used in binding files.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::EveryChange => "every-change",
            Delivery::Latest => "latest",
        }
    }

    pub(crate) fn from_config(s: &str) -> Option<Delivery> {
        match s {
            "every-change" => Some(Delivery::EveryChange),
            "latest" => Some(Delivery::Latest),
            _ => None,
        }
    }
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `[[connection]]`: a Web connection from a local source datapoint to a target datapoint,
/// on a host or (internal connection) on this agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// Stable identity, `SOURCE -> HOST:TARGET`, with an empty `HOST` for an internal
    /// connection (`SOURCE -> :TARGET`); used as a durable store key, unique in a set.
    pub key: String,
    /// The local datapoint whose updates are sent.
    pub source: String,
    /// The host name the target lives on; `None` for an internal connection (no `host` key,
    /// or a host that [`Host::is_local`]), whose target is a datapoint of this agent.
    pub host: Option<String>,
    /// The datapoint written.
    pub target: String,
    /// LON priority of the writes, 0 (highest) to 255 (default).
    pub priority: u8,
    /// Every change in order, or only the latest value per target.
    pub delivery: Delivery,
    /// Send only when the value moved at least this much (never negative nor NaN); `None`
    /// sends whenever the value differs from the last one enqueued, `Some(0.0)` sends every
    /// update.
    pub send_on_delta: Option<f64>,
    /// Throttle: at most one send per interval (newest wins).
    pub min_send_time: Option<Duration>,
    /// Heartbeat: re-send the current value if nothing was sent for this long (never zero,
    /// never shorter than `min_send_time`).
    pub max_send_time: Option<Duration>,
    /// The binding file that defines this connection.
    pub file: PathBuf,
}

impl Connection {
    /// Whether the target is a datapoint of this agent (no XMPP involved).
    pub fn is_internal(&self) -> bool {
        self.host.is_none()
    }
}

/// What one binding file contributed, for `webbinder check`'s one line per file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    /// The file, as loaded.
    pub path: PathBuf,
    /// Number of `[[host]]` entries in it.
    pub hosts: usize,
    /// Number of `[[connection]]` entries in it.
    pub connections: usize,
}

/// What validation needs to know about this agent.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// This agent's JID, bare or full: the default `domain` of hosts, and which host is local.
    pub own_jid: &'a Jid,
    /// The names of this agent's datapoints (including the built-in real time clock): every
    /// source, and the target of every internal connection, must be one of them.
    pub local_names: &'a BTreeSet<String>,
}
