//! The per-item faults of a Write or priority reset, with the i.LON fault codes
//! (notes/ilon-soap.md §4.2) and the i.LON fault strings.
//!
//! Pure data: the SOAP layer turns a [`WriteFault`] into a `<fault>` element of the item.

use std::fmt;

/// A per-item Write fault with an i.LON fault code (notes/ilon-soap.md §4.2), answered inside
/// the WriteResponse as `<fault><faultcode faultType="_error">code</faultcode>...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault {code} writing {name:?}: {message}")]
pub struct WriteFault {
    /// The i.LON fault code, one of the `WriteFault::*` constants.
    pub code: u32,
    /// The `faultstring`: the i.LON text, then details where useful.
    pub message: String,
    /// The datapoint the item named.
    pub name: String,
}

impl WriteFault {
    /// 6: `<UCPTname>` not found; faultstring "Instance doesn't exist" (PR p.21-22).
    pub const NOT_FOUND: u32 = 6;
    /// 11: Format Error, "Value cannot be formatted" (i100PR).
    pub const FORMAT: u32 = 11;
    /// 12: Command failed (PR p.58 uses it for a refused priority reset); also a local failure
    /// (observer or persistence) that left the point unchanged.
    pub const COMMAND_FAILED: u32 = 12;
    /// 16: Field name not found (i100PR), for `LonFormat="<type>.<field>"` with an unknown field.
    pub const FIELD_NOT_FOUND: u32 = 16;

    pub(crate) fn not_found(name: &str) -> Self {
        WriteFault {
            code: Self::NOT_FOUND,
            message: "Instance doesn't exist".to_owned(),
            name: name.to_owned(),
        }
    }

    pub(crate) fn format(name: &str, detail: impl fmt::Display) -> Self {
        WriteFault {
            code: Self::FORMAT,
            message: format!("Value cannot be formatted: {detail}"),
            name: name.to_owned(),
        }
    }

    pub(crate) fn command_failed(name: &str, detail: impl fmt::Display) -> Self {
        WriteFault {
            code: Self::COMMAND_FAILED,
            message: format!("Command failed: {detail}"),
            name: name.to_owned(),
        }
    }

    pub(crate) fn field_not_found(name: &str, detail: impl fmt::Display) -> Self {
        WriteFault {
            code: Self::FIELD_NOT_FOUND,
            message: format!("Field name not found: {detail}"),
            name: name.to_owned(),
        }
    }
}
