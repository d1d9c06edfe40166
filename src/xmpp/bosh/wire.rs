//! The vocabulary of the HTTP exchanges: request ids, the requests to send,
//! how one failed, and what a `<body/>` from the connection manager says.
//! Apart from the machine because the driver speaks it too.

use std::sync::Arc;
use std::time::Duration;

use crate::xmpp::ns;
use crate::xmpp::xml::Element;

/// Largest rid a client may ever use (XEP-0124 §14.1: 2^53 - 1).
pub const MAX_RID: u64 = (1 << 53) - 1;

/// A BOSH request id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rid(pub u64);

/// Session parameters announced by the connection manager (XEP-0124 §7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionParams {
    pub sid: String,
    pub wait: Duration,
    /// Simultaneous requests allowed (absent: we assume 2).
    pub requests: u32,
    pub hold: u32,
    pub inactivity: Option<Duration>,
    pub polling: Option<Duration>,
    pub maxpause: Option<Duration>,
    pub ver: Option<String>,
    pub from: Option<String>,
}

/// How an HTTP exchange failed, as far as the machine needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpFailure {
    /// Connection reset, a truncated body, an unparseable answer.
    Transport(String),
    /// No connection to the server (or proxy): refused, DNS, connect timeout, TLS handshake.
    /// The request never reached a server that could hold it.
    Connect(String),
    /// No response within the request's timeout.
    Timeout,
    /// A non-200 HTTP status.
    Status(u16),
}

impl std::fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpFailure::Transport(e) => write!(f, "transport error: {e}"),
            HttpFailure::Connect(e) => write!(f, "cannot connect: {e}"),
            HttpFailure::Timeout => f.write_str("no response before the request timeout"),
            HttpFailure::Status(s) => write!(f, "HTTP status {s}"),
        }
    }
}

/// An HTTP POST to perform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub rid: Rid,
    /// The exact bytes; a retransmission carries the same ones (XEP-0124 §14.3).
    pub body: Arc<str>,
    /// Give up on the exchange after this long (`wait` + margin).
    pub timeout: Duration,
    /// 0 for the first transmission.
    pub attempt: u32,
}

fn secs(body: &Element, name: &str) -> Option<Duration> {
    body.get_attr(name)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Why a session creation response opens no session: its `Display` is the detail of
/// [`Termination::Protocol`](super::Termination::Protocol).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ParamsError {
    /// No `sid` attribute, or an empty one.
    #[error("session creation response has no sid")]
    NoSid,
}

pub(super) fn parse_params(
    body: &Element,
    asked_wait: Duration,
) -> Result<SessionParams, ParamsError> {
    let sid = body
        .get_attr("sid")
        .filter(|s| !s.is_empty())
        .ok_or(ParamsError::NoSid)?;
    Ok(SessionParams {
        sid: sid.to_owned(),
        wait: secs(body, "wait").unwrap_or(asked_wait).min(asked_wait),
        // Absent `requests`: XEP-0124 §11 allows any number; we use 2, like
        // every server in practice (hold + 1), and never more.
        requests: body
            .get_attr("requests")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(2)
            .clamp(1, 2),
        hold: body
            .get_attr("hold")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(1),
        inactivity: secs(body, "inactivity"),
        polling: secs(body, "polling"),
        maxpause: secs(body, "maxpause"),
        ver: body.get_attr("ver").map(str::to_owned),
        from: body.get_attr("from").map(str::to_owned),
    })
}

/// The terminal condition of a body, with detail from a wrapped stream error.
pub(super) fn terminal_condition(body: &Element) -> (String, Option<String>) {
    let condition = body
        .get_attr("condition")
        .unwrap_or("undefined-condition")
        .to_owned();
    let detail = body
        .get_child(ns::STREAM, "error")
        .and_then(|e| {
            e.children()
                .find(|c| c.ns() == ns::STREAMS_ERRORS && c.name() != "text")
        })
        .map(|c| c.name().to_owned())
        .or_else(|| {
            body.get_child_local("uri")
                .map(|u| format!("see {}", u.text_content()))
        });
    (condition, detail)
}
