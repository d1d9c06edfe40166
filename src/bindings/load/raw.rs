//! Phase 1 of reading a binding file: the serde types that accept exactly the documented
//! keys, kept apart from validation so the file's shape is visible in one place.

use serde::Deserialize;
use toml::Spanned;

// Why: as in `config/raw.rs`, checked values are `Option<Spanned<_>>` so that a missing key or a
// bad value becomes a collected, positioned validation error rather than the first and only
// serde error.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawFile {
    #[serde(default)]
    pub(super) host: Vec<Spanned<RawHost>>,
    #[serde(default)]
    pub(super) connection: Vec<Spanned<RawConnection>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawHost {
    pub(super) name: Option<Spanned<String>>,
    pub(super) mac_id: Option<Spanned<String>>,
    pub(super) domain: Option<Spanned<String>>,
    pub(super) resource: Option<Spanned<String>>,
    pub(super) retry_time: Option<Spanned<String>>,
    pub(super) connection_timeout: Option<Spanned<String>>,
    pub(super) format: Option<Spanned<String>>,
    pub(super) window: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawConnection {
    pub(super) source: Option<Spanned<String>>,
    pub(super) host: Option<Spanned<String>>,
    pub(super) target: Option<Spanned<String>>,
    pub(super) priority: Option<Spanned<i64>>,
    pub(super) delivery: Option<Spanned<String>>,
    pub(super) send_on_delta: Option<Spanned<f64>>,
    pub(super) min_send_time: Option<Spanned<String>>,
    pub(super) max_send_time: Option<Spanned<String>>,
}
