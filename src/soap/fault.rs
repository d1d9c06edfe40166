//! i.LON application-layer faults: the `<fault>` element that travels inside a normal
//! response, on one `<Item>` or globally under `<iLonItem>`, with its numeric i.LON code
//! (notes/ilon-soap.md §4.1-4.2, Programmer's Reference p.21-22).
//!
//! A SOAP-layer `Fault` (an envelope that cannot be parsed) is a different thing and lives
//! in `envelope.rs`. No I/O.

use std::fmt;

use super::xml_util::{child_local, msg, text_of};
use crate::xmpp::xml::{Element, NS_XML};

/// The language tag the SmartServer puts on every `faultstring` (PR p.21).
const FAULT_LANG: &str = "en-US";

/// The i.LON error code of a `<faultcode>` (PR p.22, list tail from the i.LON 100 guide).
///
/// Typed so that the datapoint table picks a meaning, not a number; [`FaultCode::Other`]
/// keeps any code a peer sends that is not in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultCode {
    /// 0: no error.
    NoError,
    /// 1: unknown message call.
    UnknownMessageCall,
    /// 2: parameter error (a value of the wrong type, e.g. `UCPTpriority` = `abc`).
    ParameterError,
    /// 3: XML / parser error; the SmartServer also uses it for an invalid xSelect.
    XmlParserError,
    /// 4: a required tag is missing.
    TagMissing,
    /// 5: `<UCPTname>` missing.
    NameMissing,
    /// 6: `<UCPTname>` not found ("Instance doesn't exist").
    NameNotFound,
    /// 7: `<UCPTname>` invalid.
    NameInvalid,
    /// 8: cannot create.
    CannotCreate,
    /// 9: cannot delete.
    CannotDelete,
    /// 10: cannot set.
    CannotSet,
    /// 11: format error, the value cannot be formatted.
    FormatError,
    /// 12: command failed; also "priority too low" for a priority reset.
    CommandFailed,
    /// 13: the data point has not the given index.
    IndexNotFound,
    /// 14: data point name not found.
    DataPointNotFound,
    /// 15: no data.
    NoData,
    /// 16: field name not found.
    FieldNotFound,
    /// Any other numeric code, kept as sent.
    Other(u32),
}

impl FaultCode {
    /// The number written in `<faultcode>`.
    pub fn code(self) -> u32 {
        match self {
            FaultCode::NoError => 0,
            FaultCode::UnknownMessageCall => 1,
            FaultCode::ParameterError => 2,
            FaultCode::XmlParserError => 3,
            FaultCode::TagMissing => 4,
            FaultCode::NameMissing => 5,
            FaultCode::NameNotFound => 6,
            FaultCode::NameInvalid => 7,
            FaultCode::CannotCreate => 8,
            FaultCode::CannotDelete => 9,
            FaultCode::CannotSet => 10,
            FaultCode::FormatError => 11,
            FaultCode::CommandFailed => 12,
            FaultCode::IndexNotFound => 13,
            FaultCode::DataPointNotFound => 14,
            FaultCode::NoData => 15,
            FaultCode::FieldNotFound => 16,
            FaultCode::Other(n) => n,
        }
    }

    /// The code for a number read from a peer's `<faultcode>`.
    pub fn from_code(n: u32) -> FaultCode {
        match n {
            0 => FaultCode::NoError,
            1 => FaultCode::UnknownMessageCall,
            2 => FaultCode::ParameterError,
            3 => FaultCode::XmlParserError,
            4 => FaultCode::TagMissing,
            5 => FaultCode::NameMissing,
            6 => FaultCode::NameNotFound,
            7 => FaultCode::NameInvalid,
            8 => FaultCode::CannotCreate,
            9 => FaultCode::CannotDelete,
            10 => FaultCode::CannotSet,
            11 => FaultCode::FormatError,
            12 => FaultCode::CommandFailed,
            13 => FaultCode::IndexNotFound,
            14 => FaultCode::DataPointNotFound,
            15 => FaultCode::NoData,
            16 => FaultCode::FieldNotFound,
            n => FaultCode::Other(n),
        }
    }
}

impl fmt::Display for FaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// `faultType` of a `<faultcode>`: an error rejects the item, a warning applied it anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// `_error`: the item was rejected. The only kind that makes a WebBinder write permanent
    /// dead letter (SPEC §6.3).
    Error,
    /// `_warning`: the item was applied but is not valid; processing went on.
    Warning,
}

impl Severity {
    /// The `faultType` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "_error",
            Severity::Warning => "_warning",
        }
    }
}

/// One `<fault>` element: severity, i.LON code and the human-readable `faultstring`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `faultType` of the `<faultcode>`.
    pub severity: Severity,
    /// The numeric i.LON code.
    pub code: FaultCode,
    /// The `<faultstring>` text.
    pub message: String,
}

impl Fault {
    /// An `_error` fault: what the datapoint table answers for a rejected item.
    pub fn error(code: FaultCode, message: impl Into<String>) -> Fault {
        Fault {
            severity: Severity::Error,
            code,
            message: message.into(),
        }
    }

    /// A `_warning` fault: the item was applied but is not valid.
    pub fn warning(code: FaultCode, message: impl Into<String>) -> Fault {
        Fault {
            severity: Severity::Warning,
            code,
            message: message.into(),
        }
    }

    /// `<fault><faultcode faultType=..>N</faultcode><faultstring xml:lang="en-US">..</faultstring></fault>`.
    pub(crate) fn to_element(&self) -> Element {
        msg("fault")
            .child(
                msg("faultcode")
                    .attr("faultType", self.severity.as_str())
                    .text(self.code.code().to_string()),
            )
            .child(
                msg("faultstring")
                    .attr_ns(NS_XML, "lang", FAULT_LANG)
                    .text(self.message.clone()),
            )
    }

    /// Reads a peer's `<fault>`; a missing or non-numeric code or an unknown `faultType`
    /// is read as an error with code 0 rather than refused, since the peer's intent (a
    /// fault) is clear.
    pub(crate) fn from_element(el: &Element) -> Fault {
        let code_el = child_local(el, "faultcode");
        let severity = match code_el.and_then(|c| c.get_attr("faultType")) {
            Some("_warning") => Severity::Warning,
            _ => Severity::Error,
        };
        let code = code_el
            .and_then(|c| text_of(c).parse::<u32>().ok())
            .map_or(FaultCode::NoError, FaultCode::from_code);
        let message = child_local(el, "faultstring")
            .map(text_of)
            .unwrap_or_default();
        Fault {
            severity,
            code,
            message,
        }
    }
}

/// A failed (or warned) item of a response: `<Item><fault>..</fault><UCPTname>..</UCPTname></Item>`.
///
/// The datapoint table builds these with the named constructors, which carry the
/// SmartServer's wording, so every caller answers the same fault the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFault {
    /// The `UCPTname` the request gave for the item.
    pub name: String,
    /// The fault itself.
    pub fault: Fault,
}

impl ItemFault {
    /// Any fault on an item.
    pub fn new(name: impl Into<String>, fault: Fault) -> ItemFault {
        ItemFault {
            name: name.into(),
            fault,
        }
    }

    /// Code 6: no datapoint of that name ("Instance doesn't exist", PR p.22).
    pub fn unknown_name(name: impl Into<String>) -> ItemFault {
        ItemFault::new(
            name,
            Fault::error(FaultCode::NameNotFound, "Instance doesn't exist"),
        )
    }

    /// Code 11: the value cannot be formatted for the datapoint's type; `detail` says why.
    pub fn format_error(name: impl Into<String>, detail: &str) -> ItemFault {
        ItemFault::new(
            name,
            Fault::error(
                FaultCode::FormatError,
                format!("Value cannot be formatted: {detail}"),
            ),
        )
    }

    /// Code 12: a write or priority reset whose priority number is above the current one.
    pub fn priority_too_low(name: impl Into<String>, given: u8, current: u8) -> ItemFault {
        ItemFault::new(
            name,
            Fault::error(
                FaultCode::CommandFailed,
                format!(
                    "Command failed: priority {given} is lower than the current priority {current}"
                ),
            ),
        )
    }

    /// Code 4: the item lacks a tag the operation needs (e.g. a Write item without `UCPTvalue`).
    pub fn tag_missing(name: impl Into<String>, tag: &str) -> ItemFault {
        ItemFault::new(
            name,
            Fault::error(FaultCode::TagMissing, format!("Tag missing: {tag}")),
        )
    }

    /// Code 2: the item is of a kind this emulation does not serve (e.g. a Get of a `Dp_Ref`).
    pub fn unsupported(name: impl Into<String>, what: &str) -> ItemFault {
        ItemFault::new(
            name,
            Fault::error(
                FaultCode::ParameterError,
                format!("Parameter error: {what} is not supported"),
            ),
        )
    }

    /// `<Item><fault/><UCPTname/></Item>`: the fault goes before the name (PR p.21).
    pub(crate) fn to_item(&self) -> Element {
        msg("Item")
            .child(self.fault.to_element())
            .text_child("UCPTname", self.name.clone())
    }
}
