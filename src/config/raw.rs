//! Phase 1 of reading `webbinder.toml`: the serde types that accept exactly the documented
//! keys, kept apart from validation so the file's shape is visible in one place.

use serde::Deserialize;
use toml::Spanned;

// Why: required keys and checked values are `Option<Spanned<_>>` rather than plain fields or
// humantime-serde durations, so that a missing key or a bad value becomes a collected
// validation error with a position instead of the first and only serde error.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawConfig {
    pub(super) xmpp: Option<Spanned<RawXmpp>>,
    pub(super) agent: Option<RawAgent>,
    #[serde(default)]
    pub(super) datapoint: Vec<Spanned<RawDatapoint>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawXmpp {
    pub(super) server: Option<Spanned<String>>,
    pub(super) port: Option<Spanned<i64>>,
    pub(super) bosh_path: Option<Spanned<String>>,
    pub(super) tls: Option<Spanned<bool>>,
    pub(super) domain: Option<Spanned<String>>,
    pub(super) user: Option<Spanned<String>>,
    pub(super) password_file: Option<Spanned<String>>,
    pub(super) password_env: Option<Spanned<String>>,
    pub(super) password: Option<Spanned<String>>,
    pub(super) resource: Option<Spanned<String>>,
    pub(super) allow_plain: Option<bool>,
    pub(super) ca_file: Option<Spanned<String>>,
    pub(super) wait: Option<Spanned<String>>,
    pub(super) max_stanza_size: Option<Spanned<i64>>,
    pub(super) servers: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) proxy: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawAgent {
    pub(super) bindings: Option<Spanned<String>>,
    pub(super) state: Option<Spanned<String>>,
    pub(super) admin: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) allow: Vec<Spanned<String>>,
    pub(super) iq_timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawDatapoint {
    pub(super) name: Option<Spanned<String>>,
    #[serde(rename = "type")]
    pub(super) dp_type: Option<Spanned<String>>,
    pub(super) value: Option<Spanned<String>>,
    pub(super) direction: Option<Spanned<String>>,
}
