//! The SmartServer emulation: the SOAP service over the datapoint table, which turns one parsed
//! SOAP request into its response envelope (SPEC §5, notes/ilon-soap.md §3, §7), and `dispatch`,
//! which decides what to do with each incoming stanza.
//!
//! Synchronous and I/O-free apart from the table's own (unflushed) sled inserts: the caller
//! makes the result durable (group commit) before it sends the answer of a request that wrote.

use std::borrow::Cow;
use std::time::SystemTime;

use tracing::{debug, warn};

pub use self::budget::ANSWER_WRAPPER_RESERVE;
use self::budget::{Budget, ENVELOPE_BYTES, FAULT_ITEM_BYTES, VALUE_SLACK, escaped_len, quote};
use crate::config::DEFAULT_MAX_STANZA_SIZE;
use crate::datapoints::clock::iso8601_utc;
use crate::datapoints::snvt::MAX_VALUE_TEXT_BYTES;
use crate::datapoints::{
    Datapoint, Direction, Table, UpdateSource, WriteFault, WriteOutcome, WriteRequest,
};
use crate::soap::{
    DP_RESET_PRIO_INVOKE, DpCfg, DpData, Fault, FaultCode, FaultSide, Field, GetResponse,
    InvokeCmdResponse, InvokeItem, ItemEcho, ItemFault, ItemRef, ItemReply, ListEntry, ListQuery,
    ListResponse, LonValue, MessageProperties, NetworkInfo, Op, ReadResponse, Reply, Request,
    RtrInfo, Selectable, SoapBody, SoapFault, SystemInfoQuery, SystemInfoResponse,
    SystemInfoSection, SystemInfoType, TimeInfo, UnitDef, ValueDef, WriteItem, WriteResponse,
    parse_request,
};
use crate::store::Store;
use crate::xmpp::jid::MacId;
use crate::xmpp::xml::Element;

/// Who this agent is, as its responses and `SystemService_Read_Info` report it.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The site's MAC ID (the XMPP user name), if the user name is one.
    pub mac: Option<MacId>,
    /// When the agent started: `UCPTlastUpdate` of the header (after a reboot it is the reboot
    /// time, notes §2).
    pub started: SystemTime,
}

impl Identity {
    /// `UCPTuniqueId`: 12 hex digits, as a SmartServer's Neuron ID is written.
    fn unique_id(&self) -> Option<String> {
        self.mac
            .map(|m| m.to_string().replace('-', "").to_uppercase())
    }
}

/// What one request did, besides its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    /// The response envelope (or SOAP `Fault` envelope).
    pub envelope: Element,
    /// Whether the table was changed, so the answer must wait for a durable commit.
    pub wrote: bool,
}

/// The SOAP service of one agent.
#[derive(Clone)]
pub struct Service {
    table: Table,
    identity: Identity,
    /// Where the highest applied `seq` per sender and epoch is kept (SPEC §5); without it,
    /// `seq` headers are ignored.
    dedupe: Option<Store>,
    /// `xmpp.max_stanza_size`: no answer is sent that would make a larger stanza.
    max_stanza_size: usize,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// A service answering from `table`.
    pub fn new(table: Table, identity: Identity) -> Service {
        Service {
            table,
            identity,
            dedupe: None,
            max_stanza_size: DEFAULT_MAX_STANZA_SIZE,
        }
    }

    /// The same service answering within `max_stanza_size` (`xmpp.max_stanza_size`, bytes):
    /// an answer envelope may have at most [`Service::max_answer_bytes`], and a larger one is
    /// replaced by a SOAP `Fault` naming its size and the limit.
    pub fn with_max_stanza_size(mut self, max_stanza_size: usize) -> Service {
        self.max_stanza_size = max_stanza_size;
        self
    }

    /// The largest answer envelope sent to a requester with a short JID and iq id:
    /// `max_stanza_size` less [`ANSWER_WRAPPER_RESERVE`] (the iq's `to` and `id` are counted
    /// too, per request).
    pub fn max_answer_bytes(&self) -> usize {
        self.max_stanza_size.saturating_sub(ANSWER_WRAPPER_RESERVE)
    }

    /// The same service applying each peer's `seq` at most once, as recorded in `store`.
    pub fn with_dedupe(mut self, store: Store) -> Service {
        self.dedupe = Some(store);
        self
    }

    /// `UCPTuniqueId` of our messages.
    pub fn unique_id(&self) -> Option<String> {
        self.identity.unique_id()
    }

    /// The table served.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Answers one envelope from `from` (the sender's full JID as stamped by the server),
    /// for an iq whose `id` is short; see [`Service::handle_iq`].
    pub fn handle(&self, envelope: &Element, from: &str, now: SystemTime) -> Handled {
        self.handle_iq(envelope, from, "", now)
    }

    /// Answers one envelope carried by the iq `id` from `from`. The answer iq stays within
    /// `max_stanza_size`: the envelope may have [`Service::max_answer_bytes`] less the escaped
    /// `from` and `id`; a larger one becomes a SOAP `Fault` naming its size and the limit, and
    /// a Write whose answer could not fit is refused before any item is applied. A Write
    /// carrying `<seq>` (a peer webbinder's, with [`Service::with_dedupe`]) gets the compact
    /// answer (SPEC §5 "Several Writes in flight"); every other request the full one.
    pub fn handle_iq(&self, envelope: &Element, from: &str, id: &str, now: SystemTime) -> Handled {
        let props = self.header(now);
        let budget = Budget::new(self.max_stanza_size, from, id);
        let request = match parse_request(envelope) {
            Ok(r) => r,
            Err(e) => {
                debug!(error = %e, "unusable soap request");
                return Handled {
                    envelope: e.to_response(&props),
                    wrote: false,
                };
            }
        };
        let kind = request.op.kind();
        let (reply, wrote) = match self.answer(request, from, now, &budget) {
            Ok(r) => r,
            Err(fault) => {
                return Handled {
                    envelope: fault.to_envelope(),
                    wrote: false,
                };
            }
        };
        let mut props = props;
        props.processing_time = Some(
            SystemTime::now()
                .duration_since(now)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        );
        let envelope = reply.to_envelope(&props);
        let size = envelope.to_xml().len();
        if size > budget.limit() {
            let fault = budget.too_large(kind.response_name(), size, false);
            warn!(%from, size, limit = budget.limit(), wrote, "answer too large for the server; answered with a fault");
            return Handled {
                envelope: fault.to_envelope(),
                wrote,
            };
        }
        Handled { envelope, wrote }
    }

    fn header(&self, now: SystemTime) -> MessageProperties {
        MessageProperties {
            time_stamp: Some(iso8601_utc(now)),
            unique_id: self.identity.unique_id(),
            last_update: Some(iso8601_utc(self.identity.started)),
            ..MessageProperties::default()
        }
    }

    fn answer(
        &self,
        request: Request,
        from: &str,
        now: SystemTime,
        budget: &Budget,
    ) -> Result<(Reply, bool), SoapFault> {
        Ok(match request.op {
            Op::Read(items) => (Reply::Read(self.read(&items)), false),
            Op::Write(items) => {
                let replicated = request.header.seq.zip(self.dedupe.as_ref());
                let bound = match replicated {
                    Some(_) => replicated::compact_answer_bound(&items),
                    None => self.write_answer_bound(&items),
                };
                if bound > budget.limit() {
                    warn!(%from, bound, limit = budget.limit(), "write refused: its answer could not fit");
                    let side = if request.header.seq.is_some() {
                        FaultSide::Server
                    } else {
                        FaultSide::Client
                    };
                    return Err(budget.too_large_as(side, "WriteResponse", bound, true));
                }
                if let Some((seq, store)) = replicated {
                    let (r, wrote) = self.replicated_write(store, seq, &items, from, now)?;
                    return Ok((Reply::CompactWrite(r), wrote));
                }
                let source = UpdateSource::Soap {
                    from: from.to_owned(),
                };
                let r = self.write(&items, &source, now);
                let wrote = r.items.iter().any(|i| matches!(i, ItemReply::Ok(_)));
                (Reply::Write(r), wrote)
            }
            Op::List(query) => (Reply::List(self.list(&query, budget)?), false),
            Op::Get(items) => (Reply::Get(self.get(&items)), false),
            Op::InvokeCmd(items) => {
                let r = self.invoke(&items);
                let wrote = r.items.iter().any(|i| matches!(i, ItemReply::Ok(_)));
                (Reply::InvokeCmd(r), wrote)
            }
            Op::SystemInfo(query) => (Reply::SystemInfo(self.system_info(&query, now)), false),
        })
    }

    fn read(&self, items: &[ItemRef]) -> ReadResponse {
        ReadResponse {
            items: items
                .iter()
                .map(|i| match self.table.read(&i.name) {
                    Some(dp) => ItemReply::Ok(dp_data(&dp)),
                    None => ItemReply::Fault(ItemFault::unknown_name(&i.name)),
                })
                .collect(),
        }
    }

    /// Applies each item in order with the Data Server's rules; a fault stops only its item.
    pub fn write(
        &self,
        items: &[WriteItem],
        source: &UpdateSource,
        now: SystemTime,
    ) -> WriteResponse {
        WriteResponse {
            items: items
                .iter()
                .map(|item| match self.write_item(item, source, now) {
                    Ok(outcome) => ItemReply::Ok(dp_data(outcome.datapoint())),
                    Err(f) => ItemReply::Fault(item_fault(f)),
                })
                .collect(),
        }
    }

    /// An upper bound of the Write answer's size, known before anything is applied. Per item,
    /// the larger of: the point's current `Dp_Data` item with its value text replaced by the
    /// longest text asked for (a canonical value is at most a few bytes longer than the text it
    /// was parsed from; one over the length limit is refused, never echoed), and a fault item
    /// (the name plus [`FAULT_ITEM_BYTES`]).
    fn write_answer_bound(&self, items: &[WriteItem]) -> usize {
        let per_item = items.iter().map(|item| {
            let asked = item
                .values
                .iter()
                .map(|v| escaped_len(&v.text).min(MAX_VALUE_TEXT_BYTES))
                .max()
                .unwrap_or(0);
            let applied = self.table.read(&item.name).map_or(0, |dp| {
                let current = dp_data(&dp).to_item().to_xml().len();
                current.saturating_sub(escaped_len(&dp.text())) + asked + VALUE_SLACK
            });
            applied.max(escaped_len(&item.name) + FAULT_ITEM_BYTES)
        });
        per_item.fold(ENVELOPE_BYTES, usize::saturating_add)
    }

    /// One item: the preset wins unless it is invalid, then the formatted value (PR p.442).
    /// An item whose `xsi:type` is not `Dp_Data` is refused (fault 2) and not applied.
    fn write_item(
        &self,
        item: &WriteItem,
        source: &UpdateSource,
        now: SystemTime,
    ) -> Result<WriteOutcome, WriteFault> {
        if let Some(ty) = &item.item_type {
            return Err(WriteFault {
                code: FaultCode::ParameterError.code(),
                message: format!(
                    "Parameter error: a Write item must be Dp_Data, not xsi:type {}",
                    quote(ty)
                ),
                name: item.name.clone(),
            });
        }
        let request = |v: &LonValue| WriteRequest {
            name: item.name.clone(),
            value_text: v.text.clone(),
            lon_format: v.lon_format.clone(),
            priority: item.priority,
            source: source.clone(),
        };
        let formatted = item.formatted();
        if let Some(preset) = item.values.iter().find(|v| v.is_preset()) {
            match self.table.write_at(request(preset), now) {
                Ok(o) => return Ok(o),
                Err(f) if f.code == WriteFault::FORMAT && formatted.is_some() => {}
                Err(f) => return Err(f),
            }
        }
        match formatted {
            Some(v) => self.table.write_at(request(v), now),
            None => Err(WriteFault {
                code: WriteFault::FORMAT,
                message: "Value cannot be formatted: the item has no <UCPTvalue>".to_owned(),
                name: item.name.clone(),
            }),
        }
    }

    /// The List answer; stops building as soon as its items alone exceed the budget.
    fn list(&self, query: &ListQuery, budget: &Budget) -> Result<ListResponse, SoapFault> {
        let points = self.table.list();
        let items: Vec<ListEntry> = match query {
            ListQuery::Select(selection) => {
                let points: Vec<Point<'_>> = points.iter().map(Point).collect();
                selection
                    .select(&points)
                    .into_iter()
                    .map(|p| list_entry(p.0))
                    .collect()
            }
            ListQuery::Items(names) => names
                .iter()
                .filter_map(|n| points.iter().find(|p| p.name == n.name))
                .map(list_entry)
                .collect(),
        };
        let mut size = 0usize;
        for entry in &items {
            size = size.saturating_add(entry.to_item().to_xml().len());
            if size > budget.limit() {
                return Err(budget.too_large("ListResponse", size, true));
            }
        }
        Ok(ListResponse {
            current_config: Some("4.0".to_owned()),
            items,
        })
    }

    fn get(&self, items: &[ItemRef]) -> GetResponse {
        GetResponse {
            items: items
                .iter()
                .map(|i| match self.table.read(&i.name) {
                    Some(dp) => ItemReply::Ok(dp_cfg(&dp)),
                    None => ItemReply::Fault(ItemFault::unknown_name(&i.name)),
                })
                .collect(),
        }
    }

    fn invoke(&self, items: &[InvokeItem]) -> InvokeCmdResponse {
        InvokeCmdResponse {
            items: items
                .iter()
                .map(|i| {
                    let ty = i.item_type.as_deref().unwrap_or(DP_RESET_PRIO_INVOKE);
                    if ty != DP_RESET_PRIO_INVOKE {
                        return ItemReply::Fault(ItemFault::unsupported(
                            &i.name,
                            &format!("command {ty}"),
                        ));
                    }
                    match self
                        .table
                        .reset_priority(&i.name, i.priority.unwrap_or(255))
                    {
                        Ok(_) => ItemReply::Ok(ItemEcho {
                            name: i.name.clone(),
                        }),
                        Err(f) => ItemReply::Fault(item_fault(f)),
                    }
                })
                .collect(),
        }
    }

    fn system_info(&self, query: &SystemInfoQuery, now: SystemTime) -> SystemInfoResponse {
        let sections = query
            .types
            .iter()
            .map(|t| match t {
                SystemInfoType::Time => SystemInfoSection::Time(TimeInfo {
                    time_server1: Some("0.0.0.0".to_owned()),
                    time_server2: Some("0.0.0.0".to_owned()),
                    time_last_synched: None,
                    // Local RTC time without an offset (PR p.305); the agent keeps UTC.
                    system_time: Some(iso8601_utc(now)[..19].to_owned()),
                    time_zone: Some("(GMT+0000) UTC:0:0".to_owned()),
                }),
                SystemInfoType::Network => SystemInfoSection::Network(NetworkInfo {
                    ip_address: Some("127.0.0.1".to_owned()),
                    subnet_mask: Some("255.0.0.0".to_owned()),
                    gateway: Some("0.0.0.0".to_owned()),
                    dns_server1: Some("0.0.0.0".to_owned()),
                    dns_server2: Some("0.0.0.0".to_owned()),
                    host_name: Some("webbinder".to_owned()),
                    mac_id: self.identity.mac.map(|m| m.to_string().to_uppercase()),
                }),
                // This agent is no IP-852 router: the settings of an unconfigured one.
                SystemInfoType::Rtr => SystemInfoSection::Rtr(RtrInfo {
                    local_ip_address: Some("0.0.0.0".to_owned()),
                    local_port: Some("1628".to_owned()),
                    config_server_ip_address: Some("0.0.0.0".to_owned()),
                    config_server_port: Some("1629".to_owned()),
                }),
                other => SystemInfoSection::Unsupported(other.as_str().to_owned()),
            })
            .collect();
        SystemInfoResponse {
            form: query.form,
            sections,
        }
    }
}

fn item_fault(f: WriteFault) -> ItemFault {
    ItemFault::new(
        f.name,
        Fault::error(FaultCode::from_code(f.code), f.message),
    )
}

/// The `Dp_Data` item of a Read or Write answer (PR p.54).
fn dp_data(dp: &Datapoint) -> DpData {
    let mut value = LonValue::new(dp.text(), dp.dp_type.lon_format());
    if let Some(unit) = dp.dp_type.unit() {
        value = value.with_unit(unit);
    }
    let mut values = vec![value];
    if let Some(preset) = dp.preset_name() {
        values.push(LonValue::preset(preset));
    }
    DpData {
        name: dp.name.clone(),
        annotation: Some(dp.direction.annotation().to_owned()),
        hidden: Some(false),
        alias_name: None,
        last_update: Some(iso8601_utc(dp.last_update)),
        values,
        point_status: Some(dp.point_status.name().to_owned()),
        priority: Some(dp.priority),
    }
}

/// The `Dp_Cfg` item of a Get answer (PR p.31).
fn dp_cfg(dp: &Datapoint) -> DpCfg {
    let fmt = dp.dp_type.lon_format();
    DpCfg {
        name: dp.name.clone(),
        annotation: Some(dp.direction.annotation().to_owned()),
        hidden: Some(false),
        alias_name: None,
        last_update: Some(iso8601_utc(dp.last_update)),
        description: None,
        format_description: Some(dp.dp_type.format_description()),
        length: dp.dp_type.encode(&dp.value).ok().map(|b| b.len() as u32),
        direction: Some(direction_name(dp).to_owned()),
        persist: Some(true),
        def_output: Some(LonValue::new(dp.text(), fmt.clone())),
        units: dp
            .dp_type
            .unit()
            .map(|u| UnitDef {
                field: String::new(),
                unit: u.to_owned(),
            })
            .into_iter()
            .collect(),
        base_type: None,
        max_fields: None,
        max_send_time: None,
        min_send_time: None,
        max_rcv_time: None,
        value_defs: dp
            .presets
            .iter()
            .enumerate()
            .map(|(i, (name, v))| ValueDef {
                index: i as u32,
                name: name.clone(),
                value: LonValue::new(dp.dp_type.format(v), fmt.clone()),
            })
            .collect(),
    }
}

/// `UCPTdirection` as the Get answer spells it (PR p.31: `DIR_IN`, `DIR_OUT`).
fn direction_name(dp: &Datapoint) -> &'static str {
    match dp.direction {
        Direction::In => "DIR_IN",
        Direction::Out => "DIR_OUT",
        Direction::InOut => "DIR_INOUT",
    }
}

fn list_entry(dp: &Datapoint) -> ListEntry {
    ListEntry::datapoint(dp.name.clone(), Some(dp.direction.annotation().to_owned()))
}

/// A datapoint seen by an xSelect: every datapoint is a `Dp_Cfg` (and a `Dp_Data`).
struct Point<'a>(&'a Datapoint);

impl Selectable for Point<'_> {
    fn is_type(&self, ty: &str) -> bool {
        matches!(ty, "Dp_Cfg" | "Dp_Data" | "LON_Dp_Cfg")
    }

    fn field(&self, field: &Field) -> Option<Cow<'_, str>> {
        let dp = self.0;
        match field {
            Field::Name => Some(Cow::Borrowed(&dp.name)),
            Field::Annotation => Some(Cow::Borrowed(dp.direction.annotation())),
            Field::FormatDescription => Some(Cow::Owned(dp.dp_type.format_description())),
            Field::LastUpdate => Some(Cow::Owned(iso8601_utc(dp.last_update))),
            _ => None,
        }
    }
}

mod budget;
pub mod dispatch;
#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod limit_tests;
mod replicated;
#[cfg(test)]
mod replicated_tests;
#[cfg(test)]
mod tests;
