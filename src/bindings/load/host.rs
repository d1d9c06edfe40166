//! Validation of one `[[host]]` table, and of the hosts of all files together (one name and
//! one jid per peer).

use std::collections::HashMap;
use std::path::PathBuf;

use toml::Spanned;

use super::super::{
    DEFAULT_RESOURCE, DEFAULT_RETRY_TIME, DEFAULT_WINDOW, Format, Host, MAX_WINDOW,
};
use super::raw::RawHost;
use super::validate::{Origin, Parsed, Seen, Validator};
use crate::config::ConfigError;
use crate::xmpp::jid::{Jid, MacId};

impl Validator<'_> {
    pub(super) fn host(
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
    pub(super) fn duplicate_jids(&mut self, hosts: &HashMap<String, Seen>) {
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
}
