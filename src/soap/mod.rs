//! The typed SOAP codec of the i.LON SmartServer v4.0 interface as this agent speaks it over
//! XMPP: requests parsed from envelopes with any prefixes, responses and the outgoing
//! WebBinder Write built only through `Element`, and SOAP faults for what cannot be parsed.
//! Pure: no I/O, no clock (callers pass time stamps in).

mod envelope;
mod error;
mod fault;
mod items;
pub mod ns;
mod ops;
mod response;
mod select;
mod system;
mod write_answer;
mod xml_util;

#[cfg(test)]
pub(crate) mod tests;

pub use envelope::{
    Admission, FaultSide, MessageProperties, Seq, SeqGap, SoapFault, build_envelope, open_envelope,
};
pub use error::SoapError;
pub use fault::{Fault, FaultCode, ItemFault, Severity};
pub use items::{
    DP_CFG, DP_DATA, DP_RESET_PRIO_INVOKE, DpCfg, DpData, ItemEcho, ListEntry, LonValue,
    POINT_STATUS_FORMAT, PRESET_FORMAT, UnitDef, ValueDef,
};
pub use ops::{
    InvokeItem, ItemRef, ItemRefName, ListQuery, MAX_ITEMS, Op, OpKind, Request, WriteItem,
    build_operation, build_request, build_write_request, parse_operation, parse_request,
};
pub use response::{
    GetResponse, GlobalFaultResponse, InvokeCmdResponse, ItemReply, ItemStatus, ItemsResponse,
    ListResponse, ReadResponse, Reply, Response, ResponseBody, SoapBody, WriteResponse,
    parse_items_response, parse_response,
};
pub use select::{Cmp, Field, Predicate, SelectError, Selectable, Selection, Term, Value};
pub use system::{
    NetworkInfo, RtrInfo, SystemInfoForm, SystemInfoQuery, SystemInfoResponse, SystemInfoSection,
    SystemInfoType, TimeInfo,
};
pub use write_answer::{CompactWriteResponse, WriteAnswer, read_write_answer};
