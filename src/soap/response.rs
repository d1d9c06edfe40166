//! Responses: typed answers the datapoint table fills in (`ReadResponse`, `WriteResponse`,
//! `ListResponse`, `GetResponse`, `InvokeCmdResponse`, a global-fault answer, and the system
//! information answer), each built into the SmartServer's `<OpResponse><iLonItem>` shape
//! with `UCPTfaultCount` first and per-item `<fault>`s (notes/ilon-soap.md §3-4, §10); and
//! `parse_response`, which reads a peer's answer far enough to tell which items failed
//! (SPEC §6.3). No I/O.

use super::envelope::{
    MessageProperties, SoapFault, build_envelope, open_envelope, qualified_name,
};
use super::error::SoapError;
use super::fault::{Fault, ItemFault, Severity};
use super::items::{DpCfg, DpData, ItemEcho, ListEntry};
use super::ns;
use super::ops::OpKind;
use super::system::SystemInfoResponse;
use super::write_answer::CompactWriteResponse;
use super::xml_util::{child_local, child_text, children_local, msg, quote};
use crate::xmpp::xml::Element;

/// Anything that can be the content of a response `Body`.
pub trait SoapBody {
    /// The `<OpResponse>` element.
    fn to_body(&self) -> Element;

    /// The whole response envelope, with `props` as its `messageProperties` header.
    fn to_envelope(&self, props: &MessageProperties) -> Element {
        build_envelope(props, self.to_body())
    }
}

/// One item of an answer: the item's data, or the fault that stopped it.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemReply<T> {
    /// The item succeeded.
    Ok(T),
    /// The item failed (or warned): `<Item><fault/><UCPTname/></Item>`.
    Fault(ItemFault),
}

/// The conversion every item payload has to its `<Item>` element.
trait ToItem {
    fn to_item(&self) -> Element;
}

impl ToItem for DpData {
    fn to_item(&self) -> Element {
        DpData::to_item(self)
    }
}

impl ToItem for DpCfg {
    fn to_item(&self) -> Element {
        DpCfg::to_item(self)
    }
}

impl ToItem for ItemEcho {
    fn to_item(&self) -> Element {
        ItemEcho::to_item(self)
    }
}

/// `<name><iLonItem><UCPTfaultCount>n</UCPTfaultCount>{extra}{items}</iLonItem></name>`.
fn items_body<T: ToItem>(name: &str, extra: Vec<Element>, items: &[ItemReply<T>]) -> Element {
    let faults = items
        .iter()
        .filter(|i| matches!(i, ItemReply::Fault(_)))
        .count();
    let mut ilon_item = msg("iLonItem").text_child("UCPTfaultCount", faults.to_string());
    for e in extra {
        ilon_item = ilon_item.child(e);
    }
    for i in items {
        ilon_item = ilon_item.child(match i {
            ItemReply::Ok(t) => t.to_item(),
            ItemReply::Fault(f) => f.to_item(),
        });
    }
    msg(name).child(ilon_item)
}

/// The answer to a Read: one `Dp_Data` (or fault) per requested item, in request order.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadResponse {
    /// The items.
    pub items: Vec<ItemReply<DpData>>,
}

impl SoapBody for ReadResponse {
    fn to_body(&self) -> Element {
        items_body(OpKind::Read.response_name(), Vec::new(), &self.items)
    }
}

/// The answer to a Write: each item echoed with its new value (the Data Server's view,
/// PR p.32), or its fault (6 unknown name, 11 format error, 12 priority too low, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct WriteResponse {
    /// The items, in request order.
    pub items: Vec<ItemReply<DpData>>,
}

impl SoapBody for WriteResponse {
    fn to_body(&self) -> Element {
        items_body(OpKind::Write.response_name(), Vec::new(), &self.items)
    }
}

/// The answer to a Get: one `Dp_Cfg` (or fault) per requested item.
#[derive(Debug, Clone, PartialEq)]
pub struct GetResponse {
    /// The items.
    pub items: Vec<ItemReply<DpCfg>>,
}

impl SoapBody for GetResponse {
    fn to_body(&self) -> Element {
        items_body(OpKind::Get.response_name(), Vec::new(), &self.items)
    }
}

/// The answer to an InvokeCmd: each item's name echoed, or its fault (12 when the given
/// priority is too low to reset, PR p.58).
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeCmdResponse {
    /// The items.
    pub items: Vec<ItemReply<ItemEcho>>,
}

impl SoapBody for InvokeCmdResponse {
    fn to_body(&self) -> Element {
        items_body(OpKind::InvokeCmd.response_name(), Vec::new(), &self.items)
    }
}

/// The answer to a List: the matching items' identity fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ListResponse {
    /// `UCPTcurrentConfig`, if the table reports one (PR p.218 shows `4.0`).
    pub current_config: Option<String>,
    /// The matching items (a List has no per-item faults).
    pub items: Vec<ListEntry>,
}

impl SoapBody for ListResponse {
    fn to_body(&self) -> Element {
        let mut ilon_item = msg("iLonItem").text_child("UCPTfaultCount", "0");
        if let Some(c) = &self.current_config {
            ilon_item = ilon_item.text_child("UCPTcurrentConfig", c.clone());
        }
        for i in &self.items {
            ilon_item = ilon_item.child(i.to_item());
        }
        msg(OpKind::List.response_name()).child(ilon_item)
    }
}

/// An answer in which no item was processed: `UCPTfaultCount` 1 and one `<fault>` under
/// `<iLonItem>` (PR p.21 Example 3), e.g. for an invalid xSelect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalFaultResponse {
    /// The operation answered.
    pub op: OpKind,
    /// The fault.
    pub fault: Fault,
}

impl SoapBody for GlobalFaultResponse {
    fn to_body(&self) -> Element {
        msg(self.op.response_name()).child(
            msg("iLonItem")
                .text_child("UCPTfaultCount", "1")
                .child(self.fault.to_element()),
        )
    }
}

impl SoapBody for SystemInfoResponse {
    fn to_body(&self) -> Element {
        self.body()
    }
}

/// Any answer the agent sends, so the dispatcher can return one type.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// To a Read.
    Read(ReadResponse),
    /// To a Write.
    Write(WriteResponse),
    /// To a List.
    List(ListResponse),
    /// To a Get.
    Get(GetResponse),
    /// To an InvokeCmd.
    InvokeCmd(InvokeCmdResponse),
    /// To a SystemService_Read_Info.
    SystemInfo(SystemInfoResponse),
    /// A global fault to any iLonItem operation.
    GlobalFault(GlobalFaultResponse),
    /// To a Write carrying `<seq>`, answered by a webbinder.
    CompactWrite(CompactWriteResponse),
}

impl SoapBody for Reply {
    fn to_body(&self) -> Element {
        match self {
            Reply::Read(r) => r.to_body(),
            Reply::Write(r) => r.to_body(),
            Reply::List(r) => r.to_body(),
            Reply::Get(r) => r.to_body(),
            Reply::InvokeCmd(r) => r.to_body(),
            Reply::SystemInfo(r) => r.to_body(),
            Reply::GlobalFault(r) => r.to_body(),
            Reply::CompactWrite(r) => r.to_body(),
        }
    }

    fn to_envelope(&self, props: &MessageProperties) -> Element {
        match self {
            Reply::CompactWrite(r) => r.to_envelope(props),
            other => build_envelope(props, other.to_body()),
        }
    }
}

/// A peer's answer as read by [`parse_response`].
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The peer's `messageProperties`.
    pub header: MessageProperties,
    /// What it answered.
    pub body: ResponseBody,
}

/// The body of a peer's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseBody {
    /// An `<OpResponse><iLonItem>` answer.
    Items(ItemsResponse),
    /// A `SystemService_Read_InfoResponse`.
    SystemInfo(SystemInfoResponse),
    /// A SOAP-layer `Fault`: the whole request was refused.
    Fault(SoapFault),
}

/// An `<iLonItem>` answer: its fault count, global fault, and each item's outcome in order.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemsResponse {
    /// The response element name, e.g. `WriteResponse`.
    pub op: String,
    /// `UCPTfaultCount` (counted from the faults when the peer left it out).
    pub fault_count: u32,
    /// A fault under `<iLonItem>`: no item was processed.
    pub global_fault: Option<Fault>,
    /// The items, in the order of the answer (the order of the request).
    pub items: Vec<ItemStatus>,
}

/// One answered item: its name, its fault if any, and the element for a closer look
/// ([`DpData::from_item`], [`DpCfg::from_item`], [`ListEntry::from_item`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemStatus {
    /// `UCPTname` (empty if the peer left it out).
    pub name: String,
    /// The item's `<fault>`.
    pub fault: Option<Fault>,
    /// The `<Item>` element.
    pub item: Element,
}

impl ItemStatus {
    /// True if the peer rejected the item (`faultType="_error"`): permanent for a
    /// WebBinder write (SPEC §6.3). A warning means it was applied.
    pub fn is_error(&self) -> bool {
        self.fault
            .as_ref()
            .is_some_and(|f| f.severity == Severity::Error)
    }
}

impl ItemsResponse {
    /// True if nothing failed: no global fault and no item with an `_error` fault.
    pub fn all_ok(&self) -> bool {
        self.global_fault.is_none() && !self.items.iter().any(ItemStatus::is_error)
    }
}

/// Reads a peer's response envelope (any prefixes): a SOAP `Fault`, a system information
/// answer, or an `<OpResponse><iLonItem>` answer.
pub fn parse_response(env: &Element) -> Result<Response, SoapError> {
    let (header, body) = open_envelope(env)?;
    let body = if body.is(ns::SOAP_ENV, "Fault") {
        ResponseBody::Fault(SoapFault::from_element(body))
    } else if body.name() == OpKind::SystemServiceReadInfo.response_name() {
        ResponseBody::SystemInfo(SystemInfoResponse::from_body(body)?)
    } else {
        ResponseBody::Items(parse_items_response(body)?)
    };
    Ok(Response { header, body })
}

/// Reads an `<OpResponse><iLonItem>` element.
pub fn parse_items_response(body: &Element) -> Result<ItemsResponse, SoapError> {
    let bad = |detail: String| SoapError::MalformedResponse {
        op: qualified_name(body),
        detail,
    };
    if !body.name().ends_with("Response") {
        return Err(bad("not a response element".to_owned()));
    }
    let ilon_item = child_local(body, "iLonItem").ok_or_else(|| bad("no iLonItem".to_owned()))?;
    let global_fault = child_local(ilon_item, "fault").map(Fault::from_element);
    let items: Vec<ItemStatus> = children_local(ilon_item, "Item")
        .map(|it| ItemStatus {
            name: child_text(it, "UCPTname").unwrap_or_default(),
            fault: child_local(it, "fault").map(Fault::from_element),
            item: it.clone(),
        })
        .collect();
    let counted =
        items.iter().filter(|i| i.fault.is_some()).count() + usize::from(global_fault.is_some());
    let fault_count = match child_text(ilon_item, "UCPTfaultCount") {
        Some(t) => t
            .parse::<u32>()
            .map_err(|_| bad(format!("UCPTfaultCount {} is not a number", quote(&t))))?,
        None => u32::try_from(counted).unwrap_or(u32::MAX),
    };
    Ok(ItemsResponse {
        op: body.name().to_owned(),
        fault_count,
        global_fault,
        items,
    })
}
