//! `webbinder send`: the client-application role (SPEC §2). Logs in with the agent's account
//! under a throw-away resource, sends one SOAP request in an `<iq type='set'>` and returns the
//! response envelope.

use std::path::PathBuf;
use std::time::Duration;

use crate::agent::client_config;
use crate::config::Config;
use crate::soap::{
    ItemRef, LonValue, MessageProperties, Op, SoapError, SystemInfoForm, SystemInfoQuery,
    SystemInfoType, WriteItem, build_request,
};
use crate::xmpp::jid::{Jid, JidError, MacId};
use crate::xmpp::session::{Client, ClientError, IqError, WaitOnlineError};
use crate::xmpp::stanza::{self, IqType};
use crate::xmpp::xml::{Element, Limits, XmlError};

/// What to send.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// An envelope file, sent as it is (after a well-formedness check).
    File(PathBuf),
    /// A Read of one datapoint.
    Read(String),
    /// A Write of one datapoint.
    Write {
        name: String,
        value: String,
        lon_format: Option<String>,
        priority: Option<u8>,
    },
    /// A `SystemService_Read_Info` of one type, e.g. `SI_TIME`.
    Info(String),
}

/// Why `send` failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("--to {input:?}: {source}")]
    BadTarget {
        input: String,
        #[source]
        source: JidError,
    },
    #[error("--write expects NAME=VALUE, got {0:?}")]
    BadWrite(String),
    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a well-formed XML envelope: {source}")]
    BadFile {
        path: PathBuf,
        #[source]
        source: XmlError,
    },
    #[error("cannot build the request: {0}")]
    Build(#[from] SoapError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot log in to {url}: {reason}")]
    Login {
        url: String,
        /// Not a `source`: the text already says it.
        reason: WaitOnlineError,
    },
    #[error("no answer from {to}: {source}")]
    Iq {
        to: String,
        #[source]
        source: IqError,
    },
    #[error("the answer from {to} carries no SOAP envelope")]
    EmptyAnswer { to: String },
}

/// Parses `NAME=VALUE` (split at the last `=`: datapoint names never contain one, and a
/// value may not either).
pub fn parse_write(arg: &str) -> Result<(String, String), SendError> {
    match arg.rsplit_once('=') {
        Some((n, v)) if !n.is_empty() => Ok((n.to_owned(), v.to_owned())),
        _ => Err(SendError::BadWrite(arg.to_owned())),
    }
}

/// The target JID: a full or bare JID, or just a MAC ID (then `<mac>@<own domain>/ilon`).
pub fn target(input: &str, own_domain: &str) -> Result<Jid, SendError> {
    let bad = |source| SendError::BadTarget {
        input: input.to_owned(),
        source,
    };
    if input.contains('@') {
        return input.parse().map_err(bad);
    }
    let mac: MacId = input.parse().map_err(bad)?;
    mac.jid(own_domain, Some("ilon")).map_err(bad)
}

/// The request envelope for `what`.
pub fn envelope(what: &What) -> Result<Element, SendError> {
    let op = match what {
        What::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| SendError::ReadFile {
                path: path.clone(),
                source,
            })?;
            return Element::parse(&text, &Limits::default()).map_err(|source| {
                SendError::BadFile {
                    path: path.clone(),
                    source,
                }
            });
        }
        What::Read(name) => Op::Read(vec![ItemRef::new(name.clone())]),
        What::Write {
            name,
            value,
            lon_format,
            priority,
        } => {
            let mut item = WriteItem::new(
                name.clone(),
                LonValue {
                    text: value.clone(),
                    lon_format: lon_format.clone(),
                    unit: None,
                },
            );
            item.priority = *priority;
            Op::Write(vec![item])
        }
        What::Info(ty) => Op::SystemInfo(SystemInfoQuery::new(
            SystemInfoType::from_name(ty),
            SystemInfoForm::Inline,
        )),
    };
    Ok(build_request(&MessageProperties::default(), &op)?)
}

/// Logs in as `config`'s account (resource `cli-<random>`), sends `envelope` to `to` and returns
/// the answer's envelope.
pub async fn send(
    config: &Config,
    to: &Jid,
    envelope: Element,
    timeout: Duration,
) -> Result<Element, SendError> {
    let resource = format!("cli-{:08x}", rand::random::<u32>());
    let (client, _events) = Client::start(client_config(config, &resource, false))?;
    let url = config.xmpp.servers.join(", ");
    client
        .wait_online(timeout)
        .await
        .map_err(|reason| SendError::Login { url, reason })?;
    let answer = client
        .iq_within(IqType::Set, Some(to), envelope, timeout)
        .await
        .map_err(|source| SendError::Iq {
            to: to.to_string(),
            source,
        });
    client.shutdown().await;
    let answer = answer?;
    stanza::payload(&answer)
        .cloned()
        .ok_or_else(|| SendError::EmptyAnswer { to: to.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_argument_splits_at_the_last_equals_sign() {
        assert_eq!(
            parse_write("Net/LON/a b/nvi=100.0 1").unwrap(),
            ("Net/LON/a b/nvi".to_owned(), "100.0 1".to_owned())
        );
        assert!(parse_write("novalue").is_err());
        assert!(parse_write("=1").is_err());
    }

    #[test]
    fn target_accepts_jids_and_bare_mac_ids() {
        assert_eq!(
            target("08:00:00:1A:7C:62", "localhost")
                .unwrap()
                .to_string(),
            "08-00-00-1a-7c-62@localhost/ilon"
        );
        assert_eq!(target("a@b/c", "x").unwrap().to_string(), "a@b/c");
        assert!(target("not a mac", "x").is_err());
    }

    #[test]
    fn built_envelopes_parse_back_as_the_operation() {
        let env = envelope(&What::Info("SI_TIME".into())).unwrap();
        let req = crate::soap::parse_request(&env).unwrap();
        assert!(matches!(req.op, Op::SystemInfo(_)));
        let env = envelope(&What::Write {
            name: "n".into(),
            value: "ON".into(),
            lon_format: Some("UCPTvalueDef".into()),
            priority: Some(10),
        })
        .unwrap();
        match crate::soap::parse_request(&env).unwrap().op {
            Op::Write(items) => {
                assert_eq!(items[0].priority, Some(10));
                assert_eq!(items[0].preset(), Some("ON"));
            }
            other => panic!("{other:?}"),
        }
    }
}
