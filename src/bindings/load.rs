//! Reading and validating binding files: serde `Raw*` types (phase 1) and a validation pass
//! over all files at once (phase 2) that collects every problem as `FILE:LINE:COL: message`.
//!
//! [`parse_files`] is pure; [`load_dir`] only lists and reads the directory, then calls the
//! same validation.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::position::LineIndex;
use super::read::{io_reason, read_binding_file};
use super::{
    BindingSet, Connection, Context, DEFAULT_PRIORITY, DEFAULT_RESOURCE, DEFAULT_RETRY_TIME,
    DEFAULT_WINDOW, Delivery, FileSummary, Format, Host, MAX_FILE_BYTES, MAX_WINDOW,
};
use crate::config::{ConfigError, ConfigErrors, Position, syntax_error};
use crate::xmpp::jid::{Jid, MacId};

// ---------------------------------------------------------------------------------------------
// Raw serde types (phase 1)
// ---------------------------------------------------------------------------------------------

// Why: as in `config.rs`, checked values are `Option<Spanned<_>>` so that a missing key or a
// bad value becomes a collected, positioned validation error rather than the first and only
// serde error.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawFile {
    #[serde(default)]
    host: Vec<Spanned<RawHost>>,
    #[serde(default)]
    connection: Vec<Spanned<RawConnection>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawHost {
    name: Option<Spanned<String>>,
    mac_id: Option<Spanned<String>>,
    domain: Option<Spanned<String>>,
    resource: Option<Spanned<String>>,
    retry_time: Option<Spanned<String>>,
    connection_timeout: Option<Spanned<String>>,
    format: Option<Spanned<String>>,
    window: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawConnection {
    source: Option<Spanned<String>>,
    host: Option<Spanned<String>>,
    target: Option<Spanned<String>>,
    priority: Option<Spanned<i64>>,
    delivery: Option<Spanned<String>>,
    send_on_delta: Option<Spanned<f64>>,
    min_send_time: Option<Spanned<String>>,
    max_send_time: Option<Spanned<String>>,
}

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

/// Whether a directory entry named `name` is a binding file: it ends in `.toml` and is not a
/// dotfile (`.x.toml.swp`, `.#x.toml`), an editor backup (`x.toml~`), swap (`*.swp`, `*.swx`),
/// autosave (`#x.toml#`) or temporary file (`*.tmp`).
///
/// The loader reads exactly these files and the watcher reacts to exactly these names, so
/// that editor churn neither loads nor triggers anything.
pub(crate) fn is_binding_file_name(name: &str) -> bool {
    let ignored = name.starts_with('.')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".tmp")
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'));
    !ignored && name.len() > ".toml".len() && name.ends_with(".toml")
}

/// Loads every binding file of `dir` (not recursive, sorted by name) and validates them as a
/// whole.
///
/// Only names that [`is_binding_file_name`] accepts are read; directories are skipped. An
/// empty directory is a valid, empty set.
///
/// # Errors
///
/// [`ConfigErrors`]: the directory cannot be listed (naming it), a file cannot be read, or
/// everything [`parse_files`] reports; all of them at once.
pub fn load_dir(dir: &Path, ctx: &Context<'_>) -> Result<BindingSet, ConfigErrors> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        single(
            dir,
            format!("cannot read the binding directory: {}", io_reason(&e)),
        )
    })?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            single(
                dir,
                format!("cannot read the binding directory: {}", io_reason(&e)),
            )
        })?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            tracing::debug!(dir = %dir.display(), name = ?name, "skipping a non-UTF-8 file name");
            continue;
        };
        if !is_binding_file_name(name) {
            continue;
        }
        let path = entry.path();
        // `metadata` follows symlinks, so a link to a file counts as a file.
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => continue,
            // A dangling link or a file removed since the listing: reading it reports it.
            _ => paths.push(path),
        }
    }
    paths.sort();

    let texts: Vec<(PathBuf, Result<String, String>)> = paths
        .into_iter()
        .map(|path| {
            let text = read_binding_file(&path, MAX_FILE_BYTES)
                .map_err(|why| format!("cannot read the binding file: {why}"));
            (path, text)
        })
        .collect();
    let inputs: Vec<Input<'_>> = texts
        .iter()
        .map(|(path, text)| Input {
            path,
            text: text.as_deref().map_err(String::as_str),
        })
        .collect();
    let set = validate(&inputs, ctx)?;
    tracing::debug!(
        dir = %dir.display(),
        files = set.files.len(),
        hosts = set.hosts.len(),
        connections = set.connections.len(),
        "binding files loaded"
    );
    Ok(set)
}

/// Parses and validates binding files given as `(path, text)`, in the order given, as one
/// namespace.
///
/// Pure: reads nothing. `path` is only used to name the file in errors and in the model.
///
/// # Errors
///
/// [`ConfigErrors`] with every problem found, in file order and, within a file, in position
/// order. A TOML syntax or type error stops that file at its first error, but the other files
/// are still validated.
pub fn parse_files(
    files: &[(PathBuf, String)],
    ctx: &Context<'_>,
) -> Result<BindingSet, ConfigErrors> {
    let inputs: Vec<Input<'_>> = files
        .iter()
        .map(|(path, text)| Input {
            path,
            text: Ok(text),
        })
        .collect();
    validate(&inputs, ctx)
}

fn single(path: &Path, message: String) -> ConfigErrors {
    ConfigErrors {
        errors: vec![ConfigError {
            path: path.to_owned(),
            position: None,
            message,
        }],
    }
}

// ---------------------------------------------------------------------------------------------
// Validation (phase 2)
// ---------------------------------------------------------------------------------------------

/// One file to validate: its text, or why it could not be read.
struct Input<'a> {
    path: &'a Path,
    text: Result<&'a str, &'a str>,
}

/// One file that parsed as TOML.
struct Parsed<'a> {
    /// Index in the input order, for sorting errors by file.
    index: usize,
    path: &'a Path,
    /// Positions in the file's text.
    lines: LineIndex<'a>,
    raw: RawFile,
}

/// Where something was defined, to name the first definition in a duplicate error.
#[derive(Clone, Copy)]
struct Origin {
    index: usize,
    position: Position,
}

/// A host name seen so far: where it was defined and, if every field was valid, the host.
struct Seen {
    origin: Origin,
    host: Option<Host>,
}

struct Validator<'a> {
    inputs: &'a [Input<'a>],
    ctx: &'a Context<'a>,
    own_bare: Jid,
    /// `(input index, error)`, sorted at the end.
    errors: Vec<(usize, ConfigError)>,
}

fn validate(inputs: &[Input<'_>], ctx: &Context<'_>) -> Result<BindingSet, ConfigErrors> {
    let mut v = Validator {
        inputs,
        ctx,
        own_bare: ctx.own_jid.bare(),
        errors: Vec::new(),
    };

    // Step 1: every file on its own.
    let mut parsed = Vec::with_capacity(inputs.len());
    let mut complete = true;
    for (index, input) in inputs.iter().enumerate() {
        match input.text {
            Err(message) => {
                complete = false;
                v.errors.push((
                    index,
                    ConfigError {
                        path: input.path.to_owned(),
                        position: None,
                        message: message.to_owned(),
                    },
                ));
            }
            Ok(src) => match toml::from_str::<RawFile>(src) {
                Ok(raw) => parsed.push(Parsed {
                    index,
                    path: input.path,
                    lines: LineIndex::new(src),
                    raw,
                }),
                Err(e) => {
                    complete = false;
                    let errors = syntax_error(src, input.path, e).errors;
                    v.errors.extend(errors.into_iter().map(|e| (index, e)));
                }
            },
        }
    }

    // Step 2: hosts of all files, one namespace.
    let mut hosts: HashMap<String, Seen> = HashMap::new();
    let summaries: Vec<FileSummary> = parsed
        .iter()
        .map(|p| FileSummary {
            path: p.path.to_owned(),
            hosts: p.raw.host.len(),
            connections: p.raw.connection.len(),
        })
        .collect();
    for file in &parsed {
        for raw in &file.raw.host {
            v.host(file, raw, &mut hosts);
        }
    }
    v.duplicate_jids(&hosts);

    // Step 3: connections, checked against every host.
    let mut connections = Vec::new();
    let mut keys: HashMap<String, Origin> = HashMap::new();
    for file in &parsed {
        for raw in &file.raw.connection {
            if let Some(c) = v.connection(file, raw, &hosts, complete, &mut keys) {
                connections.push(c);
            }
        }
    }

    if v.errors.is_empty() {
        let hosts = hosts
            .into_iter()
            .filter_map(|(name, seen)| seen.host.map(|h| (name, h)))
            .collect();
        // No errors: every file parsed, so `summaries` has one entry per file, in input order.
        Ok(BindingSet {
            hosts,
            connections,
            files: summaries,
        })
    } else {
        let mut errors = v.errors;
        // Stable: problems at one position keep the order they were found in.
        errors.sort_by_key(|(index, e)| (*index, e.position));
        Err(ConfigErrors {
            errors: errors.into_iter().map(|(_, e)| e).collect(),
        })
    }
}

impl<'a> Validator<'a> {
    fn error(&mut self, file: &Parsed<'_>, span: &Range<usize>, message: String) {
        self.errors.push((
            file.index,
            ConfigError {
                path: file.path.to_owned(),
                position: Some(file.lines.position(span.start)),
                message,
            },
        ));
    }

    fn origin(&self, file: &Parsed<'_>, span: &Range<usize>) -> Origin {
        Origin {
            index: file.index,
            position: file.lines.position(span.start),
        }
    }

    /// `FILE:LINE:COL` of an earlier definition, for "first defined at" messages.
    fn describe(&self, origin: Origin) -> String {
        let path = self
            .inputs
            .get(origin.index)
            .map_or_else(|| "?".to_owned(), |input| input.path.display().to_string());
        format!("{path}:{}", origin.position)
    }

    /// A required key, or an error at the table header naming it.
    fn required<'s, T>(
        &mut self,
        file: &Parsed<'_>,
        value: &'s Option<Spanned<T>>,
        table: &str,
        header: &Range<usize>,
        key: &str,
    ) -> Option<&'s Spanned<T>> {
        if value.is_none() {
            self.error(
                file,
                header,
                format!("{table} is missing the required key `{key}`"),
            );
        }
        value.as_ref()
    }

    /// A duration such as `"120s"`; `None` (after an error) if it does not parse, or if it is
    /// zero and `zero_ok` is false.
    fn duration(
        &mut self,
        file: &Parsed<'_>,
        value: &Spanned<String>,
        key: &str,
        zero_ok: bool,
    ) -> Option<Duration> {
        match humantime::parse_duration(value.get_ref()) {
            Ok(d) if d.is_zero() && !zero_ok => {
                self.error(
                    file,
                    &value.span(),
                    format!("{key} {:?} must be longer than zero", value.get_ref()),
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.error(
                    file,
                    &value.span(),
                    format!(
                        "{key} {:?} is not a duration such as \"120s\" or \"5m\": {e}",
                        value.get_ref()
                    ),
                );
                None
            }
        }
    }

    /// A non-empty string without control characters (a datapoint name).
    fn name(&mut self, file: &Parsed<'_>, value: &Spanned<String>, key: &str) -> Option<String> {
        let text = value.get_ref();
        if text.trim().is_empty() {
            self.error(file, &value.span(), format!("{key} is empty"));
            None
        } else if let Some(c) = text.chars().find(|c| c.is_control()) {
            self.error(
                file,
                &value.span(),
                format!("{key} {text:?} contains the control character {c:?}"),
            );
            None
        } else {
            Some(text.clone())
        }
    }

    fn host(
        &mut self,
        file: &Parsed<'_>,
        raw: &Spanned<RawHost>,
        seen: &mut HashMap<String, Seen>,
    ) {
        let header = raw.span();
        let raw = raw.get_ref();

        let name = self
            .required(file, &raw.name, "[[host]]", &header, "name")
            .and_then(|n| self.host_name(file, n, seen));
        let mac = self
            .required(file, &raw.mac_id, "[[host]]", &header, "mac_id")
            .and_then(|m| match m.get_ref().parse::<MacId>() {
                Ok(mac) => Some(mac),
                Err(e) => {
                    self.error(file, &m.span(), format!("host.mac_id {e}"));
                    None
                }
            });
        let domain = match &raw.domain {
            None => Some(self.ctx.own_jid.domain().to_owned()),
            Some(d) => self.jid_part(file, d, "host.domain", "domain"),
        };
        let resource = match &raw.resource {
            None => Some(DEFAULT_RESOURCE.to_owned()),
            Some(r) => self.jid_part(file, r, "host.resource", "resource"),
        };
        let retry_time = match &raw.retry_time {
            None => Some(DEFAULT_RETRY_TIME),
            Some(t) => self.duration(file, t, "host.retry_time", false),
        };
        let connection_timeout = match &raw.connection_timeout {
            None => Some(None),
            Some(t) => self
                .duration(file, t, "host.connection_timeout", false)
                .map(Some),
        };
        let format = match &raw.format {
            None => Some(Format::Datapoint),
            Some(f) => Format::from_config(f.get_ref()).or_else(|| {
                self.error(
                    file,
                    &f.span(),
                    format!("host.format {:?} is not one of datapoint, raw", f.get_ref()),
                );
                None
            }),
        };

        let window = match &raw.window {
            None => Some(DEFAULT_WINDOW),
            Some(w) => usize::try_from(*w.get_ref())
                .ok()
                .filter(|w| (1..=MAX_WINDOW).contains(w))
                .or_else(|| {
                    self.error(
                        file,
                        &w.span(),
                        format!("host.window {} is outside 1..={MAX_WINDOW}", w.get_ref()),
                    );
                    None
                }),
        };

        let Some((name, origin)) = name else {
            return;
        };
        let host = match (
            mac,
            domain,
            resource,
            retry_time,
            connection_timeout,
            format,
            window,
        ) {
            (
                Some(mac),
                Some(domain),
                Some(resource),
                Some(retry_time),
                Some(connection_timeout),
                Some(format),
                Some(window),
            ) => match mac.jid(&domain, Some(&resource)) {
                Ok(jid) => Some(Host {
                    name: name.clone(),
                    local: jid.bare() == self.own_bare,
                    jid,
                    retry_time,
                    connection_timeout,
                    format,
                    window,
                    file: file.path.to_owned(),
                }),
                Err(e) => {
                    // Each part was checked alone above; this only fires if a combination fails.
                    self.error(
                        file,
                        &header,
                        format!("host {name:?}: the jid is invalid: {e}"),
                    );
                    None
                }
            },
            _ => None,
        };
        seen.insert(name, Seen { origin, host });
    }

    /// A host name: a short alias of letters, digits, `-`, `_` and `.`, not defined before.
    ///
    /// Why the character set: the name is part of every connection key (`SOURCE ->
    /// HOST:TARGET`), which must stay unambiguous.
    fn host_name(
        &mut self,
        file: &Parsed<'_>,
        n: &Spanned<String>,
        seen: &HashMap<String, Seen>,
    ) -> Option<(String, Origin)> {
        let name = n.get_ref();
        if name.is_empty() {
            self.error(file, &n.span(), "host.name is empty".to_owned());
            return None;
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            self.error(
                file,
                &n.span(),
                format!("host.name {name:?} may only contain letters, digits, '-', '_' and '.'"),
            );
            return None;
        }
        if let Some(first) = seen.get(name) {
            let first = self.describe(first.origin);
            self.error(
                file,
                &n.span(),
                format!("duplicate host name {name:?} (first defined at {first})"),
            );
            return None;
        }
        Some((name.clone(), self.origin(file, &n.span())))
    }

    /// Validates a host's `domain` or `resource` on its own, so that the message names the key.
    fn jid_part(
        &mut self,
        file: &Parsed<'_>,
        value: &Spanned<String>,
        key: &str,
        part: &str,
    ) -> Option<String> {
        let text = value.get_ref();
        match crate::config::check_jid_part(text, part) {
            Ok(normalized) => normalized,
            Err(problem) => {
                self.error(
                    file,
                    &value.span(),
                    format!("{key} {text:?} is not a valid jid {part}: {problem}"),
                );
                None
            }
        }
    }

    /// Two host names for one peer would give it two queues with independent sequence
    /// numbers, which the peer's de-duplication (SPEC §5 `seq`) would partly skip.
    fn duplicate_jids(&mut self, hosts: &HashMap<String, Seen>) {
        let mut by_origin: Vec<&Seen> = hosts.values().collect();
        by_origin.sort_by_key(|s| (s.origin.index, s.origin.position));
        let mut first: HashMap<&Jid, (&str, Origin)> = HashMap::new();
        let mut found = Vec::new();
        for seen in by_origin {
            let Some(host) = &seen.host else { continue };
            match first.get(&host.jid) {
                Some((name, origin)) => found.push((seen.origin, host, *name, *origin)),
                None => {
                    first.insert(&host.jid, (&host.name, seen.origin));
                }
            }
        }
        for (origin, host, first_name, first_origin) in found {
            let message = format!(
                "host {:?} has the same jid {} as host {first_name:?} (defined at {})",
                host.name,
                host.jid,
                self.describe(first_origin)
            );
            let path = self
                .inputs
                .get(origin.index)
                .map_or_else(PathBuf::new, |i| i.path.to_owned());
            self.errors.push((
                origin.index,
                ConfigError {
                    path,
                    position: Some(origin.position),
                    message,
                },
            ));
        }
    }

    fn connection(
        &mut self,
        file: &Parsed<'_>,
        raw: &Spanned<RawConnection>,
        hosts: &HashMap<String, Seen>,
        all_files_parsed: bool,
        keys: &mut HashMap<String, Origin>,
    ) -> Option<Connection> {
        let header = raw.span();
        let raw = raw.get_ref();

        let source = self
            .required(file, &raw.source, "[[connection]]", &header, "source")
            .and_then(|s| {
                let name = self.name(file, s, "connection.source")?;
                if self.ctx.local_names.contains(&name) {
                    Some(name)
                } else {
                    self.error(
                        file,
                        &s.span(),
                        format!("connection.source {name:?} is not a datapoint of this agent"),
                    );
                    None
                }
            });

        // `Some(Some(host))`: remote; `Some(None)`: internal; `None`: unknown after an error.
        let host: Option<Option<&Host>> = match &raw.host {
            None => Some(None),
            Some(h) => match hosts.get(h.get_ref()) {
                // A local host is this agent: the connection is internal.
                Some(Seen {
                    host: Some(host), ..
                }) => Some(Some(host).filter(|h| !h.is_local())),
                // Defined, but invalid: already reported at the host.
                Some(Seen { host: None, .. }) => None,
                None => {
                    // A file that did not parse may define it: say nothing until it does.
                    if all_files_parsed {
                        self.error(
                            file,
                            &h.span(),
                            format!(
                                "connection.host {:?} is not defined by any [[host]]",
                                h.get_ref()
                            ),
                        );
                    }
                    None
                }
            },
        };

        let target = self
            .required(file, &raw.target, "[[connection]]", &header, "target")
            .and_then(|t| {
                let name = self.name(file, t, "connection.target")?;
                match (&host, &raw.host) {
                    (Some(None), host_key) if !self.ctx.local_names.contains(&name) => {
                        let why = match host_key {
                            None => "the connection has no host".to_owned(),
                            Some(h) => format!("host {:?} is this agent", h.get_ref()),
                        };
                        self.error(
                            file,
                            &t.span(),
                            format!(
                                "connection.target {name:?} is not a datapoint of this agent \
                                 (the connection is internal: {why})"
                            ),
                        );
                        None
                    }
                    _ => Some((name, t.span())),
                }
            });

        let priority = match &raw.priority {
            None => Some(DEFAULT_PRIORITY),
            Some(p) => u8::try_from(*p.get_ref()).ok().or_else(|| {
                self.error(
                    file,
                    &p.span(),
                    format!("connection.priority {} is outside 0..=255", p.get_ref()),
                );
                None
            }),
        };
        let delivery = match &raw.delivery {
            None => Some(Delivery::EveryChange),
            Some(d) => Delivery::from_config(d.get_ref()).or_else(|| {
                self.error(
                    file,
                    &d.span(),
                    format!(
                        "connection.delivery {:?} is not one of every-change, latest",
                        d.get_ref()
                    ),
                );
                None
            }),
        };
        let send_on_delta = match &raw.send_on_delta {
            None => Some(None),
            Some(d) => {
                let delta = *d.get_ref();
                if delta.is_finite() && delta >= 0.0 {
                    // `-0.0` is written as `0.0`, so that keys and displays agree.
                    Some(Some(delta.abs()))
                } else {
                    self.error(
                        file,
                        &d.span(),
                        format!(
                            "connection.send_on_delta {delta} must be a finite number of 0 or more"
                        ),
                    );
                    None
                }
            }
        };
        let min_send_time = match &raw.min_send_time {
            None => Some(None),
            Some(t) => self
                .duration(file, t, "connection.min_send_time", true)
                .map(Some),
        };
        let max_send_time = match &raw.max_send_time {
            None => Some(None),
            Some(t) => self
                .duration(file, t, "connection.max_send_time", false)
                .map(Some),
        };
        if let (Some(Some(min)), Some(Some(max)), Some(min_raw), Some(max_raw)) = (
            min_send_time,
            max_send_time,
            &raw.min_send_time,
            &raw.max_send_time,
        ) && min > max
        {
            let max_line = file.lines.position(max_raw.span().start).line;
            self.error(
                file,
                &min_raw.span(),
                format!(
                    "connection.min_send_time {:?} is longer than max_send_time {:?} (line \
                     {max_line}): the heartbeat would be throttled away",
                    min_raw.get_ref(),
                    max_raw.get_ref()
                ),
            );
            return None;
        }

        let (source, host, (target, target_span)) = (source?, host?, target?);
        let host = host.map(|h| h.name.clone());
        if host.is_none() && source == target {
            self.error(
                file,
                &target_span,
                format!(
                    "connection.target {target:?} is its own source: an internal connection \
                     to itself would feed back forever"
                ),
            );
            return None;
        }
        let key = format!("{source} -> {}:{target}", host.as_deref().unwrap_or(""));
        if let Some(first) = keys.get(&key) {
            let first = self.describe(*first);
            self.error(
                file,
                &header,
                format!("connection {key:?} is defined twice (first defined at {first})"),
            );
            return None;
        }
        keys.insert(key.clone(), self.origin(file, &header));

        Some(Connection {
            key,
            source,
            host,
            target,
            priority: priority?,
            delivery: delivery?,
            send_on_delta: send_on_delta?,
            min_send_time: min_send_time?,
            max_send_time: max_send_time?,
            file: file.path.to_owned(),
        })
    }
}
