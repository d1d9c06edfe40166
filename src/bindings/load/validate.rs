//! Phase 2 of reading binding files: the pass over all files at once that collects every
//! problem with its position; the checks of one `[[host]]` and one `[[connection]]` live in
//! their own modules and share the helpers here.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::super::position::LineIndex;
use super::super::read::ReadError;
use super::super::{BindingSet, Context, FileSummary, Host};
use super::raw::RawFile;
use crate::config::{ConfigError, ConfigErrors, Position, syntax_error};
use crate::xmpp::jid::Jid;

/// One file to validate: its text, or why it could not be read.
pub(super) struct Input<'a> {
    pub(super) path: &'a Path,
    pub(super) text: Result<&'a str, &'a ReadError>,
}

/// One file that parsed as TOML.
pub(super) struct Parsed<'a> {
    /// Index in the input order, for sorting errors by file.
    pub(super) index: usize,
    pub(super) path: &'a Path,
    /// Positions in the file's text.
    pub(super) lines: LineIndex<'a>,
    pub(super) raw: RawFile,
}

/// Where something was defined, to name the first definition in a duplicate error.
#[derive(Clone, Copy)]
pub(super) struct Origin {
    pub(super) index: usize,
    pub(super) position: Position,
}

/// A host name seen so far: where it was defined and, if every field was valid, the host.
pub(super) struct Seen {
    pub(super) origin: Origin,
    pub(super) host: Option<Host>,
}

pub(super) struct Validator<'a> {
    pub(super) inputs: &'a [Input<'a>],
    pub(super) ctx: &'a Context<'a>,
    pub(super) own_bare: Jid,
    /// `(input index, error)`, sorted at the end.
    pub(super) errors: Vec<(usize, ConfigError)>,
}

pub(super) fn validate(
    inputs: &[Input<'_>],
    ctx: &Context<'_>,
) -> Result<BindingSet, ConfigErrors> {
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
            Err(why) => {
                complete = false;
                v.errors.push((
                    index,
                    ConfigError {
                        path: input.path.to_owned(),
                        position: None,
                        message: format!("cannot read the binding file: {why}"),
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
    pub(super) fn error(&mut self, file: &Parsed<'_>, span: &Range<usize>, message: String) {
        self.errors.push((
            file.index,
            ConfigError {
                path: file.path.to_owned(),
                position: Some(file.lines.position(span.start)),
                message,
            },
        ));
    }

    pub(super) fn origin(&self, file: &Parsed<'_>, span: &Range<usize>) -> Origin {
        Origin {
            index: file.index,
            position: file.lines.position(span.start),
        }
    }

    /// `FILE:LINE:COL` of an earlier definition, for "first defined at" messages.
    pub(super) fn describe(&self, origin: Origin) -> String {
        let path = self
            .inputs
            .get(origin.index)
            .map_or_else(|| "?".to_owned(), |input| input.path.display().to_string());
        format!("{path}:{}", origin.position)
    }

    /// A required key, or an error at the table header naming it.
    pub(super) fn required<'s, T>(
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
    pub(super) fn duration(
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
    pub(super) fn name(
        &mut self,
        file: &Parsed<'_>,
        value: &Spanned<String>,
        key: &str,
    ) -> Option<String> {
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
}
