//! `SoapError`: why an envelope could not be turned into a request (or a request built), and
//! the one place that maps each error to what goes back on the wire: a SOAP 1.1 `Fault`
//! envelope when the envelope itself is unusable, or an `<OpResponse>` carrying a global
//! i.LON `<fault>` when the operation is known but its content is not (notes/ilon-soap.md
//! §4, §10). No I/O.

use super::envelope::{MessageProperties, SoapFault};
use super::fault::{Fault, FaultCode};
use super::ops::OpKind;
use super::response::{GlobalFaultResponse, SoapBody};
use crate::xmpp::xml::Element;

/// Everything that can be wrong with an incoming SOAP envelope, or with a request we build.
///
/// Pure data (no I/O errors inside), comparable in tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoapError {
    /// The element is not a SOAP 1.1 `Envelope`; `found` is its `{namespace}name`.
    #[error("not a soap 1.1 envelope: the root element is {found}")]
    NotAnEnvelope { found: String },
    /// The envelope has no `Body`.
    #[error("soap envelope has no Body")]
    NoBody,
    /// The `Body` has no operation element.
    #[error("soap Body has no operation element")]
    EmptyBody,
    /// The operation element is not one this agent serves; `ns` is its namespace.
    #[error("unknown operation {name} (namespace {ns:?})")]
    UnknownOperation { name: String, ns: String },
    /// A served operation whose content is wrong (a non-numeric priority, an unreadable
    /// `<Data>` string, ...).
    #[error("malformed {op} request: {detail}")]
    Malformed { op: OpKind, detail: String },
    /// Item `index` (1-based) of the operation has no (or an empty) `UCPTname`.
    #[error("{op} item {index} has no UCPTname")]
    MissingName { op: OpKind, index: usize },
    /// An `xSelect` outside the subset of SPEC §5; `select` is the expression (cut short
    /// if huge).
    #[error("unsupported xSelect in {op}: {detail} in {select:?}")]
    UnsupportedSelect {
        op: OpKind,
        select: String,
        detail: String,
    },
    /// The `messageProperties` header or our `seq` block is malformed.
    #[error("malformed soap header: {detail}")]
    BadHeader { detail: String },
    /// More items than one call may carry (100, the SmartServer limit, PR p.47); answered
    /// with a SOAP `Fault` (no item processed).
    #[error("{op} with {count} items exceeds the limit of {limit} items")]
    TooManyItems {
        op: OpKind,
        count: usize,
        limit: usize,
    },
    /// A `seq` range that cannot number the items it is sent with.
    #[error("seq {first}..{last} cannot number {items} items")]
    SeqMismatch { first: u64, last: u64, items: usize },
    /// A response from a peer that we cannot read; `op` is the response element's name.
    #[error("malformed {op}: {detail}")]
    MalformedResponse { op: String, detail: String },
}

impl SoapError {
    /// The SOAP 1.1 `Fault` envelope answering an envelope that could not be parsed:
    /// `faultcode` `SOAP-ENV:Client` (the sender's message is at fault) and a `faultstring`
    /// naming what was wrong.
    pub fn to_fault(&self) -> Element {
        SoapFault::client(self.to_string(), None).to_envelope()
    }

    /// What to answer for this error: for a known operation with an `<iLonItem>` response
    /// (Read, Write, List, Get, InvokeCmd), that response with `UCPTfaultCount` 1 and a
    /// global `<fault>` (no item processed, PR p.21); otherwise [`SoapError::to_fault`].
    pub fn to_response(&self, props: &MessageProperties) -> Element {
        match self.global_fault() {
            Some(resp) => resp.to_envelope(props),
            None => self.to_fault(),
        }
    }

    /// The global-fault response for errors inside a known operation, if this is one.
    pub fn global_fault(&self) -> Option<GlobalFaultResponse> {
        let (op, fault) = match self {
            SoapError::Malformed { op, detail } => (
                *op,
                Fault::error(
                    FaultCode::ParameterError,
                    format!("Parameter error: {detail}"),
                ),
            ),
            SoapError::MissingName { op, index } => (
                *op,
                Fault::error(
                    FaultCode::NameMissing,
                    format!("UCPTname missing in item {index}"),
                ),
            ),
            SoapError::UnsupportedSelect { op, detail, .. } => (
                *op,
                Fault::error(
                    FaultCode::XmlParserError,
                    format!("invalid xSelect expression: {detail}"),
                ),
            ),
            _ => return None,
        };
        if op == OpKind::SystemServiceReadInfo {
            return None;
        }
        Some(GlobalFaultResponse { op, fault })
    }
}
