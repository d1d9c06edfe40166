//! Validation of one `[[connection]]` table against every host, and of its key being unique
//! across all files.

use std::collections::HashMap;

use toml::Spanned;

use super::super::{Connection, DEFAULT_PRIORITY, Delivery, Host};
use super::raw::RawConnection;
use super::validate::{Origin, Parsed, Seen, Validator};

impl Validator<'_> {
    pub(super) fn connection(
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
