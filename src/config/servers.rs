//! `xmpp.servers` (SPEC §3): several BOSH connection managers, as URLs tried in order
//! (failover, [`crate::xmpp::failover`]). When given it replaces `server`, `port`, `bosh_path`
//! and `tls` (SPEC §3); those keys given as well are ignored, with a warning each.

use std::ops::Range;

use reqwest::Url;
use toml::Spanned;

use super::{RawXmpp, Validator};

/// Where the connection managers are: the first one's parts (for the fields that describe
/// one server) and every URL in order.
pub(super) struct Endpoint {
    pub(super) server: String,
    pub(super) port: u16,
    pub(super) bosh_path: String,
    pub(super) tls: bool,
    pub(super) servers: Vec<String>,
}

impl Validator<'_> {
    /// `servers`: at least one entry, each an `http(s)://host[:port]/path` URL, no entry twice,
    /// and none of the keys it replaces.
    pub(super) fn servers(
        &mut self,
        raw: &RawXmpp,
        list: &Spanned<Vec<Spanned<String>>>,
    ) -> Option<Endpoint> {
        let line = self.pos(&list.span()).line;
        let mut replaced: [(&str, Option<Range<usize>>); 4] = [
            ("server", raw.server.as_ref().map(Spanned::span)),
            ("port", raw.port.as_ref().map(Spanned::span)),
            ("bosh_path", raw.bosh_path.as_ref().map(Spanned::span)),
            ("tls", raw.tls.as_ref().map(Spanned::span)),
        ];
        // In file order, as errors are.
        replaced.sort_by_key(|(_, span)| span.as_ref().map(|s| s.start));
        let mut ok = true;
        for (key, span) in replaced {
            if let Some(span) = span {
                self.warning(
                    &span,
                    format!(
                        "xmpp.{key} is ignored: xmpp.servers (line {line}) replaces it (each URL \
                         gives the scheme, host, port and path)"
                    ),
                );
            }
        }
        if list.get_ref().is_empty() {
            self.error(
                &list.span(),
                "xmpp.servers is empty: list at least one BOSH URL such as \
                 \"http://127.0.0.1:5280/http-bind\", or give server instead"
                    .to_owned(),
            );
            return None;
        }
        let mut urls: Vec<(Url, usize)> = Vec::new();
        for entry in list.get_ref() {
            let Some(url) = self.server_url(entry) else {
                ok = false;
                continue;
            };
            let here = self.pos(&entry.span()).line;
            if let Some((_, first)) = urls.iter().find(|(u, _)| *u == url) {
                self.error(
                    &entry.span(),
                    format!("xmpp.servers lists {url} twice (first on line {first})"),
                );
                ok = false;
                continue;
            }
            urls.push((url, here));
        }
        let first = &urls.first()?.0;
        if !ok {
            return None;
        }
        let host = first.host_str()?;
        Some(Endpoint {
            // Stored without brackets, as `server` is: `bosh_url` adds them back.
            server: host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host)
                .to_owned(),
            port: first.port_or_known_default()?,
            bosh_path: first.path().to_owned(),
            tls: first.scheme() == "https",
            servers: urls.iter().map(|(u, _)| u.as_str().to_owned()).collect(),
        })
    }

    /// One `servers` entry, parsed and checked; `None` after an error naming it.
    fn server_url(&mut self, entry: &Spanned<String>) -> Option<Url> {
        let text = entry.get_ref();
        let problem = match Url::parse(text) {
            Err(e) => format!("is not a URL: {e}"),
            Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                "must start with http:// or https://".to_owned()
            }
            Ok(url) if url.host_str().is_none_or(str::is_empty) => "has no host".to_owned(),
            Ok(url) if !url.username().is_empty() || url.password().is_some() => {
                "must not hold a user name or password (the account is xmpp.user)".to_owned()
            }
            Ok(url) if url.query().is_some() || url.fragment().is_some() => {
                "must not have a query (?) or fragment (#)".to_owned()
            }
            Ok(url) if url.path() == "/" => format!(
                "has no path: add the BOSH path, e.g. \"{}http-bind\"",
                url.as_str()
            ),
            Ok(url) => return Some(url),
        };
        self.error(
            &entry.span(),
            format!("xmpp.servers entry {text:?} {problem}"),
        );
        None
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, parse_str};

    const ORIGIN: &str = "/etc/webbinder/webbinder.toml";

    /// `[xmpp]` without a server: what a test appends starts on line 5.
    const ACCOUNT: &str = "[xmpp]\n\
                           domain = \"localhost\"\n\
                           user = \"08-00-00-1A-7C-62\"\n\
                           password_env = \"WB_PASSWORD\"\n";

    fn parse(src: &str) -> Config {
        parse_str(src, Path::new(ORIGIN)).unwrap()
    }

    fn errors(src: &str) -> String {
        parse_str(src, Path::new(ORIGIN)).unwrap_err().to_string()
    }

    #[test]
    fn servers_are_kept_in_order_and_describe_the_first() {
        let config = parse(&format!(
            "{ACCOUNT}servers = [\"https://XMPP1.example.net:5443/bosh\", \"http://[::1]:5280/http-bind\", \"https://xmpp3.example.net/bosh\"]\n"
        ));
        let x = &config.xmpp;
        assert_eq!(
            x.servers,
            [
                "https://xmpp1.example.net:5443/bosh",
                "http://[::1]:5280/http-bind",
                "https://xmpp3.example.net/bosh",
            ]
        );
        assert_eq!(x.bosh_url(), "https://xmpp1.example.net:5443/bosh");
        assert_eq!(
            (x.server.as_str(), x.port, x.bosh_path.as_str(), x.tls),
            ("xmpp1.example.net", 5443, "/bosh", true)
        );
        let v6 = parse(&format!("{ACCOUNT}servers = [\"http://[::1]:5280/b\"]\n"));
        assert_eq!((v6.xmpp.server.as_str(), v6.xmpp.tls), ("::1", false));
        assert_eq!(v6.xmpp.bosh_url(), "http://[::1]:5280/b");
    }

    #[test]
    fn without_servers_the_one_url_comes_from_server_port_path_and_tls() {
        let config = parse(&format!(
            "{ACCOUNT}server = \"xmpp.example.org\"\nport = 5443\nbosh_path = \"/bosh\"\ntls = true\n"
        ));
        assert_eq!(config.xmpp.servers, ["https://xmpp.example.org:5443/bosh"]);
    }

    #[test]
    fn servers_replaces_the_single_server_keys_with_a_warning() {
        let src = format!(
            "{ACCOUNT}server = \"a\"\ntls = true\nservers = [\"http://b:5280/http-bind\"]\nport = 1\n"
        );
        let config = parse(&src);
        assert_eq!(config.xmpp.servers, ["http://b:5280/http-bind"]);
        assert_eq!((config.xmpp.server.as_str(), config.xmpp.tls), ("b", false));
        let warnings: Vec<String> = config.warnings().iter().map(|w| w.to_string()).collect();
        assert_eq!(
            warnings,
            [
                format!(
                    "{ORIGIN}:5:10: xmpp.server is ignored: xmpp.servers (line 7) replaces it (each URL gives the scheme, host, port and path)"
                ),
                format!(
                    "{ORIGIN}:6:7: xmpp.tls is ignored: xmpp.servers (line 7) replaces it (each URL gives the scheme, host, port and path)"
                ),
                format!(
                    "{ORIGIN}:8:8: xmpp.port is ignored: xmpp.servers (line 7) replaces it (each URL gives the scheme, host, port and path)"
                ),
            ]
        );
    }

    #[test]
    fn each_bad_entry_is_named_with_its_position() {
        let src = format!(
            "{ACCOUNT}servers = [\n  \"http://ok:5280/http-bind\",\n  \"xmpp.example.net\",\n  \"ftp://h/x\",\n  \"http://h:5280\",\n  \"http://u:p@h/x\",\n  \"http://h/x?a=1\",\n  \"http://ok:5280/http-bind\",\n]\n"
        );
        assert_eq!(
            errors(&src),
            format!(
                "{ORIGIN}:7:3: xmpp.servers entry \"xmpp.example.net\" is not a URL: relative URL without a base\n\
                 {ORIGIN}:8:3: xmpp.servers entry \"ftp://h/x\" must start with http:// or https://\n\
                 {ORIGIN}:9:3: xmpp.servers entry \"http://h:5280\" has no path: add the BOSH path, e.g. \"http://h:5280/http-bind\"\n\
                 {ORIGIN}:10:3: xmpp.servers entry \"http://u:p@h/x\" must not hold a user name or password (the account is xmpp.user)\n\
                 {ORIGIN}:11:3: xmpp.servers entry \"http://h/x?a=1\" must not have a query (?) or fragment (#)\n\
                 {ORIGIN}:12:3: xmpp.servers lists http://ok:5280/http-bind twice (first on line 6)"
            )
        );
    }

    #[test]
    fn an_empty_list_or_no_server_at_all_is_an_error() {
        assert_eq!(
            errors(&format!("{ACCOUNT}servers = []\n")),
            format!(
                "{ORIGIN}:5:11: xmpp.servers is empty: list at least one BOSH URL such as \"http://127.0.0.1:5280/http-bind\", or give server instead"
            )
        );
        assert_eq!(
            errors(ACCOUNT),
            format!("{ORIGIN}:1:1: [xmpp] is missing the required key `server`")
        );
    }
}
