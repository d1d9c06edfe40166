//! What the machine reports to its owner, and why a session ended: the
//! owner's side of the call contract, apart from the rules that produce it.

use crate::xmpp::xml::{Element, Rejected};

use super::wire::{HttpFailure, SessionParams};

/// Why a BOSH session ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Termination {
    /// Our own `type='terminate'` completed (XEP-0124 §13).
    #[error("session closed")]
    Closed,
    /// The connection manager sent `type='terminate'` (XEP-0124 §17.2).
    #[error("connection manager ended the session: {condition}{}", detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Condition {
        condition: String,
        detail: Option<String>,
    },
    /// HTTP 400/403/404: the session is void (XEP-0124 §17.1).
    #[error("connection manager answered HTTP {status}{}", match status { 403 => " (request too large or forbidden)", 404 => " (unknown session or wrong BOSH path)", _ => "" })]
    HttpStatus { status: u16 },
    /// The session creation request itself failed: nothing to retransmit into.
    #[error("cannot reach the connection manager: {failure}")]
    Unreachable { failure: HttpFailure },
    /// A request kept failing past the retry budget (XEP-0124 §14.3).
    #[error("request rid {rid} failed {attempts} times, last: {last}")]
    GaveUp {
        rid: u64,
        attempts: u32,
        last: HttpFailure,
    },
    /// An older request was never answered although a newer one was sent
    /// long ago (ejabberd 23.01's parked-request bug, notes E10).
    #[error("connection manager stopped answering: rid {rid} unanswered while rid {newer} is out")]
    Stalled { rid: u64, newer: u64 },
    /// The connection manager's answer made no sense (e.g. no `sid`).
    #[error("invalid response from the connection manager: {detail}")]
    Protocol { detail: String },
}

/// What the machine reports to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoshEvent {
    /// The session creation response arrived.
    Created(SessionParams),
    /// A payload element, delivered strictly in rid order (XEP-0124 §14.2).
    Payload(Element),
    /// A payload dropped for going over a stanza limit, in its place in
    /// the order; the rest of its body is delivered as usual.
    Rejected(Rejected),
    /// The session is over; no further requests will be produced.
    Terminated(Termination),
}
