//! Requests: the operations this agent serves (`Read`, `Write`, `List`, `Get`, `InvokeCmd`,
//! `SystemService_Read_Info`) as typed values, parsed from an envelope with any prefixes
//! (`parse_request`) and built back into one (`build_request`, and the outgoing WebBinder
//! Write of notes/ilon-soap.md §6.2 with our `seq` header, `build_write_request`). No I/O.

use std::fmt;

use super::envelope::{MessageProperties, build_envelope, open_envelope};
use super::error::SoapError;
use super::items::{DP_DATA, DP_RESET_PRIO_INVOKE, LonValue, point_status_element};
use super::ns;
use super::select::Selection;
use super::system::SystemInfoQuery;
use super::xml_util::{
    child_local, child_text, children_local, format_bool, msg, parse_bool, quote, truncate,
};
use crate::xmpp::xml::Element;

/// Most items one request may carry, whatever the operation (Read, Write, List, Get,
/// InvokeCmd, and the types of a `SystemService_Read_Info`): "You should not attempt to write
/// to more than 100 data points with a single call" (PR p.47, p.52, p.56). It also bounds
/// every answer's item count, so answers stay below the server's stanza limit.
pub const MAX_ITEMS: usize = 100;

/// The operations served, by their body element name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// `Read`: current values (`Dp_Data`).
    Read,
    /// `Write`: new values, presets, priorities.
    Write,
    /// `List`: names of items matching an xSelect.
    List,
    /// `Get`: configurations (`Dp_Cfg`).
    Get,
    /// `InvokeCmd`: `Dp_ResetPrio_Invoke`.
    InvokeCmd,
    /// `SystemService_Read_Info`: `SI_TIME`, `SI_NETWORK`, `SI_RTR`.
    SystemServiceReadInfo,
}

impl OpKind {
    /// The request element name.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Read => "Read",
            OpKind::Write => "Write",
            OpKind::List => "List",
            OpKind::Get => "Get",
            OpKind::InvokeCmd => "InvokeCmd",
            OpKind::SystemServiceReadInfo => "SystemService_Read_Info",
        }
    }

    /// The response element name, `<Op>Response` (PR p.18).
    pub fn response_name(self) -> &'static str {
        match self {
            OpKind::Read => "ReadResponse",
            OpKind::Write => "WriteResponse",
            OpKind::List => "ListResponse",
            OpKind::Get => "GetResponse",
            OpKind::InvokeCmd => "InvokeCmdResponse",
            OpKind::SystemServiceReadInfo => "SystemService_Read_InfoResponse",
        }
    }

    fn from_name(name: &str) -> Option<OpKind> {
        [
            OpKind::Read,
            OpKind::Write,
            OpKind::List,
            OpKind::Get,
            OpKind::InvokeCmd,
            OpKind::SystemServiceReadInfo,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One parsed request: header properties and the operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The `messageProperties` header (empty for most client requests) and our `seq`.
    pub header: MessageProperties,
    /// What is asked.
    pub op: Op,
}

/// An operation with its typed content.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Read these items' values.
    Read(Vec<ItemRef>),
    /// Write these values.
    Write(Vec<WriteItem>),
    /// List the items matching a query.
    List(ListQuery),
    /// Get these items' configurations.
    Get(Vec<ItemRef>),
    /// Invoke commands (priority resets) on these items.
    InvokeCmd(Vec<InvokeItem>),
    /// Read system information.
    SystemInfo(SystemInfoQuery),
}

impl Op {
    /// Which operation this is.
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Read(_) => OpKind::Read,
            Op::Write(_) => OpKind::Write,
            Op::List(_) => OpKind::List,
            Op::Get(_) => OpKind::Get,
            Op::InvokeCmd(_) => OpKind::InvokeCmd,
            Op::SystemInfo(_) => OpKind::SystemServiceReadInfo,
        }
    }
}

/// An item named in a Read, Get or List request.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRef {
    /// `UCPTname`.
    pub name: String,
    /// `xsi:type` of the `<Item>` (`Dp_Data`, `Dp_Cfg`, ...), or the type of a
    /// `//Item[@xsi:type="T"]` xSelect sent alongside the items.
    pub item_type: Option<String>,
    /// `UCPTmaxAge` in seconds: poll if the cached value is older (PR p.55); absent means
    /// any cached value will do.
    pub max_age: Option<f64>,
}

impl ItemRef {
    /// A reference by name only.
    pub fn new(name: impl Into<String>) -> ItemRef {
        ItemRef {
            name: name.into(),
            item_type: None,
            max_age: None,
        }
    }
}

/// One item of a Write: the target, its value(s), and optionally status and priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteItem {
    /// `UCPTname` of the datapoint written.
    pub name: String,
    /// The `UCPTvalue` elements: a formatted value (`LonFormat` full or short such as
    /// `SNVT_switch.value`), and/or a preset (`LonFormat="UCPTvalueDef"`), which wins when
    /// valid (PR p.442).
    pub values: Vec<LonValue>,
    /// `UCPTpointStatus`, e.g. `AL_NO_CONDITION`.
    pub point_status: Option<String>,
    /// `UCPTpriority`; absent means 255.
    pub priority: Option<u8>,
    /// `UCPTpropagate`: `false` updates the Data Server only (PR p.57); absent means `true`.
    pub propagate: Option<bool>,
    /// `xsi:type` of the `<Item>` when it is not `Dp_Data` (with any prefix): `None` for
    /// `Dp_Data` and for no type at all (most client requests). The service refuses an item
    /// that has one. Built items always say `Dp_Data`.
    pub item_type: Option<String>,
}

impl WriteItem {
    /// An item writing one formatted value.
    pub fn new(name: impl Into<String>, value: LonValue) -> WriteItem {
        WriteItem {
            name: name.into(),
            values: vec![value],
            point_status: None,
            priority: None,
            propagate: None,
            item_type: None,
        }
    }

    /// The preset name, if one of the values is a preset.
    pub fn preset(&self) -> Option<&str> {
        self.values
            .iter()
            .find(|v| v.is_preset())
            .map(|v| v.text.as_str())
    }

    /// The first value that is not a preset.
    pub fn formatted(&self) -> Option<&LonValue> {
        self.values.iter().find(|v| !v.is_preset())
    }

    fn to_item(&self) -> Element {
        let mut el = msg("Item")
            .attr_ns(ns::XSI, "type", DP_DATA)
            .text_child("UCPTname", self.name.clone());
        for v in &self.values {
            el = el.child(v.to_element("UCPTvalue"));
        }
        if let Some(s) = &self.point_status {
            el = el.child(point_status_element(s));
        }
        if let Some(p) = self.priority {
            el = el.text_child("UCPTpriority", p.to_string());
        }
        if let Some(p) = self.propagate {
            el = el.text_child("UCPTpropagate", format_bool(p));
        }
        el
    }
}

/// One item of an InvokeCmd: a `Dp_ResetPrio_Invoke` (PR p.58) resets the datapoint's
/// priority to 255 if `priority` is at least the current one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeItem {
    /// `UCPTname`.
    pub name: String,
    /// `xsi:type`, `Dp_ResetPrio_Invoke` for the one command served.
    pub item_type: Option<String>,
    /// `UCPTpriority` of the caller.
    pub priority: Option<u8>,
}

/// What a List asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListQuery {
    /// An `xSelect` (a List without xSelect and items selects everything).
    Select(Selection),
    /// Plain `<Item>`s by name (with the type of a `//Item[@xsi:type="T"]` xSelect, if sent).
    Items(Vec<ItemRefName>),
}

/// A List item reference: name and optional `xsi:type` (no `maxAge` in List).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRefName {
    /// `UCPTname`.
    pub name: String,
    /// `xsi:type`.
    pub item_type: Option<String>,
}

/// Parses an envelope (any prefixes) into a [`Request`]. A Write whose `seq` does not number
/// its items exactly is refused (`SeqMismatch`, answered with a `Client` fault): nothing of it
/// may be applied.
pub fn parse_request(env: &Element) -> Result<Request, SoapError> {
    let (header, body) = open_envelope(env)?;
    let op = parse_operation(body)?;
    if let (Some(seq), Op::Write(items)) = (header.seq, &op) {
        seq.check_items(items.len())?;
    }
    Ok(Request { header, op })
}

/// Parses the operation element of a `Body` (`<Read>`, `<ilon:Write>`, ...).
pub fn parse_operation(el: &Element) -> Result<Op, SoapError> {
    let kind = match OpKind::from_name(el.name()) {
        Some(k) if el.ns() == ns::ILON => k,
        _ => {
            return Err(SoapError::UnknownOperation {
                name: truncate(el.name()),
                ns: truncate(el.ns()),
            });
        }
    };
    if kind == OpKind::SystemServiceReadInfo {
        return SystemInfoQuery::from_operation(el).map(Op::SystemInfo);
    }
    let ilon_item = child_local(el, "iLonItem").ok_or_else(|| SoapError::Malformed {
        op: kind,
        detail: "no iLonItem".to_owned(),
    })?;
    let select = match child_text(ilon_item, "xSelect") {
        Some(s) => Some((
            Selection::parse(&s).map_err(|e| SoapError::UnsupportedSelect {
                op: kind,
                select: truncate(&s),
                detail: e.to_string(),
            })?,
            s,
        )),
        None => None,
    };
    let items = capped_items(kind, ilon_item)?;
    // An xSelect next to explicit items may only name their type (the Dp_Ref Get form,
    // PR p.62); a List may use any supported xSelect on its own.
    let default_type = match &select {
        None => None,
        Some((sel, _)) if kind == OpKind::List && items.is_empty() => {
            return Ok(Op::List(ListQuery::Select(sel.clone())));
        }
        Some((sel, text)) => match (sel.only_type(), items.is_empty()) {
            (Some(t), false) => Some(t.to_owned()),
            _ => {
                return Err(SoapError::UnsupportedSelect {
                    op: kind,
                    select: truncate(text),
                    detail: format!(
                        "{kind} supports only //Item[@xsi:type=\"T\"] alongside explicit items"
                    ),
                });
            }
        },
    };
    let mut ctx = ItemCtx {
        kind,
        index: 0,
        name: String::new(),
        default_type,
    };
    match kind {
        OpKind::Read | OpKind::Get => items
            .iter()
            .map(|it| ctx.next(it).and_then(|c| c.item_ref(it)))
            .collect::<Result<_, _>>()
            .map(|v| {
                if kind == OpKind::Read {
                    Op::Read(v)
                } else {
                    Op::Get(v)
                }
            }),
        OpKind::Write => items
            .iter()
            .map(|it| ctx.next(it).and_then(|c| c.write_item(it)))
            .collect::<Result<_, _>>()
            .map(Op::Write),
        OpKind::InvokeCmd => items
            .iter()
            .map(|it| ctx.next(it).and_then(|c| c.invoke_item(it)))
            .collect::<Result<_, _>>()
            .map(Op::InvokeCmd),
        OpKind::List if items.is_empty() => Ok(Op::List(ListQuery::Select(Selection::default()))),
        // (SystemService_Read_Info was answered above.)
        OpKind::List | OpKind::SystemServiceReadInfo => items
            .iter()
            .map(|it| {
                let c = ctx.next(it)?;
                Ok(ItemRefName {
                    name: c.name.clone(),
                    item_type: c.item_type(it),
                })
            })
            .collect::<Result<_, _>>()
            .map(|v| Op::List(ListQuery::Items(v))),
    }
}

/// The `<Item>`s of an operation, refused beyond [`MAX_ITEMS`] before any is read: at most
/// `MAX_ITEMS + 1` are collected, the rest only counted (for the fault), so a request with
/// 40,000 items costs no more than one with 101.
fn capped_items(kind: OpKind, ilon_item: &Element) -> Result<Vec<&Element>, SoapError> {
    let items: Vec<&Element> = children_local(ilon_item, "Item")
        .take(MAX_ITEMS + 1)
        .collect();
    if items.len() > MAX_ITEMS {
        return Err(SoapError::TooManyItems {
            op: kind,
            count: children_local(ilon_item, "Item").count(),
            limit: MAX_ITEMS,
        });
    }
    Ok(items)
}

/// Per-item parsing state: which item we are on, for error messages.
struct ItemCtx {
    kind: OpKind,
    index: usize,
    name: String,
    default_type: Option<String>,
}

impl ItemCtx {
    fn next(&mut self, item: &Element) -> Result<&mut ItemCtx, SoapError> {
        self.index += 1;
        self.name = child_text(item, "UCPTname").unwrap_or_default();
        if self.name.is_empty() {
            return Err(SoapError::MissingName {
                op: self.kind,
                index: self.index,
            });
        }
        Ok(self)
    }

    fn malformed(&self, detail: String) -> SoapError {
        SoapError::Malformed {
            op: self.kind,
            detail: format!("item {} ({}): {detail}", self.index, quote(&self.name)),
        }
    }

    fn item_type(&self, item: &Element) -> Option<String> {
        item.get_attr_ns(Some(ns::XSI), "type")
            .map(str::to_owned)
            .or_else(|| self.default_type.clone())
    }

    fn priority(&self, item: &Element) -> Result<Option<u8>, SoapError> {
        child_text(item, "UCPTpriority")
            .map(|t| {
                t.parse::<u8>().map_err(|_| {
                    self.malformed(format!(
                        "UCPTpriority {} is not an integer 0..255",
                        quote(&t)
                    ))
                })
            })
            .transpose()
    }

    fn item_ref(&self, item: &Element) -> Result<ItemRef, SoapError> {
        let max_age = match child_text(item, "UCPTmaxAge") {
            None => None,
            Some(t) => match t.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => Some(v),
                _ => {
                    return Err(self.malformed(format!(
                        "UCPTmaxAge {} is not a number of seconds >= 0",
                        quote(&t)
                    )));
                }
            },
        };
        Ok(ItemRef {
            name: self.name.clone(),
            item_type: self.item_type(item),
            max_age,
        })
    }

    fn write_item(&self, item: &Element) -> Result<WriteItem, SoapError> {
        let propagate = match child_text(item, "UCPTpropagate") {
            None => None,
            Some(t) => Some(parse_bool(&t).ok_or_else(|| {
                self.malformed(format!("UCPTpropagate {} is not 0 or 1", quote(&t)))
            })?),
        };
        Ok(WriteItem {
            name: self.name.clone(),
            values: children_local(item, "UCPTvalue")
                .map(LonValue::from_element)
                .collect(),
            point_status: child_text(item, "UCPTpointStatus"),
            priority: self.priority(item)?,
            propagate,
            item_type: self.item_type(item).filter(|t| local_type(t) != DP_DATA),
        })
    }

    fn invoke_item(&self, item: &Element) -> Result<InvokeItem, SoapError> {
        Ok(InvokeItem {
            name: self.name.clone(),
            item_type: self.item_type(item),
            priority: self.priority(item)?,
        })
    }
}

/// The local part of an `xsi:type` QName (`ilon:Dp_Data` is `Dp_Data`).
pub(crate) fn local_type(t: &str) -> &str {
    let t = t.trim();
    t.rsplit_once(':').map_or(t, |(_, local)| local)
}

fn check_names<'a>(kind: OpKind, names: impl Iterator<Item = &'a str>) -> Result<usize, SoapError> {
    let mut count = 0;
    for (i, n) in names.enumerate() {
        if n.trim().is_empty() {
            return Err(SoapError::MissingName {
                op: kind,
                index: i + 1,
            });
        }
        count += 1;
    }
    if count > MAX_ITEMS {
        return Err(SoapError::TooManyItems {
            op: kind,
            count,
            limit: MAX_ITEMS,
        });
    }
    Ok(count)
}

fn ilon_item_of(op: &str, items: Vec<Element>) -> Element {
    let mut ilon_item = msg("iLonItem");
    for it in items {
        ilon_item = ilon_item.child(it);
    }
    msg(op).child(ilon_item)
}

fn ref_item(name: &str, item_type: Option<&str>) -> Element {
    let mut el = msg("Item");
    if let Some(t) = item_type {
        el = el.attr_ns(ns::XSI, "type", t.to_owned());
    }
    el.text_child("UCPTname", name.to_owned())
}

/// The operation element of `op`, as a client sends it. Checks names and the item limit.
pub fn build_operation(op: &Op) -> Result<Element, SoapError> {
    let kind = op.kind();
    Ok(match op {
        Op::Read(items) | Op::Get(items) => {
            check_names(kind, items.iter().map(|i| i.name.as_str()))?;
            let items = items
                .iter()
                .map(|i| {
                    let mut el = ref_item(&i.name, i.item_type.as_deref());
                    if let Some(a) = i.max_age {
                        el = el.text_child("UCPTmaxAge", a.to_string());
                    }
                    el
                })
                .collect();
            ilon_item_of(kind.name(), items)
        }
        Op::Write(items) => build_operation_write(items)?,
        Op::List(ListQuery::Select(sel)) => {
            let text = sel.to_xselect().ok_or_else(|| SoapError::Malformed {
                op: kind,
                detail: "an xSelect string holds both quote characters".to_owned(),
            })?;
            msg(kind.name()).child(msg("iLonItem").text_child("xSelect", text))
        }
        Op::List(ListQuery::Items(items)) => {
            check_names(kind, items.iter().map(|i| i.name.as_str()))?;
            let items = items
                .iter()
                .map(|i| ref_item(&i.name, i.item_type.as_deref()))
                .collect();
            ilon_item_of(kind.name(), items)
        }
        Op::InvokeCmd(items) => {
            check_names(kind, items.iter().map(|i| i.name.as_str()))?;
            let items = items
                .iter()
                .map(|i| {
                    let ty = i.item_type.as_deref().unwrap_or(DP_RESET_PRIO_INVOKE);
                    let mut el = ref_item(&i.name, Some(ty));
                    if let Some(p) = i.priority {
                        el = el.text_child("UCPTpriority", p.to_string());
                    }
                    el
                })
                .collect();
            ilon_item_of(kind.name(), items)
        }
        Op::SystemInfo(q) => q.to_operation()?,
    })
}

/// A whole request envelope for `op` with `props` in its header (the `send` command, tests).
pub fn build_request(props: &MessageProperties, op: &Op) -> Result<Element, SoapError> {
    if let Op::Write(items) = op {
        return build_write_request(props, items);
    }
    Ok(build_envelope(props, build_operation(op)?))
}

/// The outgoing WebBinder Write (notes/ilon-soap.md §6.2, SPEC §5): `Dp_Data` items naming
/// the target datapoints, header `messageProperties` with the sender's `UCPTtimeStamp` and
/// `UCPTuniqueId`, and our `seq` block when `props.seq` is set.
///
/// Refuses an empty batch, more than [`MAX_ITEMS`] items, an empty name, and a `seq` range
/// that does not number the items exactly ([`Seq::check_items`](super::envelope::Seq::check_items)).
pub fn build_write_request(
    props: &MessageProperties,
    items: &[WriteItem],
) -> Result<Element, SoapError> {
    if items.len() > MAX_ITEMS {
        return Err(SoapError::TooManyItems {
            op: OpKind::Write,
            count: items.len(),
            limit: MAX_ITEMS,
        });
    }
    if let Some(seq) = props.seq {
        seq.check_items(items.len())?;
    }
    let body = build_operation_write(items)?;
    Ok(build_envelope(props, body))
}

fn build_operation_write(items: &[WriteItem]) -> Result<Element, SoapError> {
    let kind = OpKind::Write;
    if items.is_empty() {
        return Err(SoapError::Malformed {
            op: kind,
            detail: "a Write needs at least one item".to_owned(),
        });
    }
    check_names(kind, items.iter().map(|i| i.name.as_str()))?;
    // The SmartServer's own WebBinder Write carries UCPTfaultCount 0 (PR p.31).
    let mut ilon_item = msg("iLonItem").text_child("UCPTfaultCount", "0");
    for i in items {
        ilon_item = ilon_item.child(i.to_item());
    }
    Ok(msg(kind.name()).child(ilon_item))
}
