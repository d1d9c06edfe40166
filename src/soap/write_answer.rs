//! The answer to a replicated Write (SPEC §5 "Several Writes in flight"): the compact form a
//! webbinder sends to a Write carrying `<seq>` (the fault count and only the faulted items,
//! each marked with its seq number, so a batch naming one target several times is still read
//! unambiguously), and the sender's reader of any Write answer: compact, SmartServer-style
//! (per-item faults by position, from foreign SmartServers and older webbinders), or a SOAP
//! `Fault`. Echoing every item made a 100-item answer cost more than the request in all three
//! processes (BENCHMARKS.md); the compact one is a few hundred bytes. No I/O.

use super::envelope::{
    FaultSide, MessageProperties, Seq, SoapFault, build_envelope, open_envelope, qualified_name,
};
use super::error::SoapError;
use super::fault::{Fault, ItemFault, Severity};
use super::ns;
use super::ops::OpKind;
use super::response::{SoapBody, parse_items_response};
use super::xml_util::msg;
use crate::xmpp::xml::Element;

/// The prefix of the `seq` attribute on a compact answer's items.
const PREFIX: &str = "wb";

/// The compact answer to a Write carrying `<seq>`: `UCPTfaultCount` and the faulted items
/// only, each with `wb:seq`, the seq number of the request item it answers. The request's
/// `<seq>` block is echoed in the header: it marks the answer as compact (an answer without
/// items then means every item succeeded) and names the batch answered.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactWriteResponse {
    /// The request's `<seq>`.
    pub seq: Seq,
    /// The faulted items (errors and warnings) with their seq numbers, in request order.
    pub faults: Vec<(u64, ItemFault)>,
}

impl SoapBody for CompactWriteResponse {
    fn to_body(&self) -> Element {
        let mut ilon_item =
            msg("iLonItem").text_child("UCPTfaultCount", self.faults.len().to_string());
        for (n, f) in &self.faults {
            ilon_item = ilon_item.child(f.to_item().attr_ns(ns::REPLICATION, "seq", n.to_string()));
        }
        let body = msg(OpKind::Write.response_name());
        let body = if self.faults.is_empty() {
            body
        } else {
            body.declare(PREFIX, ns::REPLICATION)
        };
        body.child(ilon_item)
    }

    fn to_envelope(&self, props: &MessageProperties) -> Element {
        let props = MessageProperties {
            seq: Some(self.seq),
            ..props.clone()
        };
        build_envelope(&props, self.to_body())
    }
}

/// What a peer's answer to one of our Writes means for the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteAnswer {
    /// Every item was applied (or skipped as a duplicate) except those refused: request index
    /// (0-based) and why. A refusal is permanent (SPEC §6.3).
    Delivered { refused: Vec<(usize, String)> },
    /// Nothing applied: the receiver has applied up to `applied`, short of the batch's `prev`
    /// (a batch before it was lost or is still in flight); resend from the oldest
    /// unacknowledged write.
    Gap { applied: u64, prev: u64 },
    /// Nothing applied for now (a `Server` fault: the peer's store, its answer budget): retry
    /// after the host's retry time.
    Retry(String),
    /// The whole request refused (a `Client` fault, or a global i.LON fault): permanent for
    /// every item.
    Refused(String),
}

/// Reads the answer `payload` (the SOAP envelope of the `iq result`) to a Write of `items`
/// items whose first is numbered `first`. Accepts the compact form (recognised by the echoed
/// `<seq>` header block) and the SmartServer form (one `<Item>` per request item, in order).
/// An answer that cannot be matched to the request item by item is an error, never a success.
pub fn read_write_answer(
    payload: &Element,
    items: usize,
    first: u64,
) -> Result<WriteAnswer, SoapError> {
    let (header, body) = open_envelope(payload)?;
    if body.is(ns::SOAP_ENV, "Fault") {
        let f = SoapFault::from_element(body);
        return Ok(match (f.side(), f.gap) {
            (Some(FaultSide::Client), _) => WriteAnswer::Refused(f.string),
            (_, Some(g)) => WriteAnswer::Gap {
                applied: g.applied,
                prev: g.prev,
            },
            (Some(FaultSide::Server), None) => WriteAnswer::Retry(f.string),
            (None, None) => WriteAnswer::Refused(format!("{} ({})", f.string, f.code)),
        });
    }
    let bad = |detail: String| SoapError::MalformedResponse {
        op: qualified_name(body),
        detail,
    };
    if body.name() != OpKind::Write.response_name() {
        return Err(bad("not a WriteResponse".to_owned()));
    }
    let resp = parse_items_response(body)?;
    if let Some(f) = &resp.global_fault {
        return Ok(WriteAnswer::Refused(reason(f)));
    }
    let Some(seq) = header.seq else {
        if resp.items.len() != items {
            return Err(bad(format!(
                "{} items answer a Write of {items}",
                resp.items.len()
            )));
        }
        let refused = resp.items.iter().enumerate().filter(|(_, i)| i.is_error());
        return Ok(WriteAnswer::Delivered {
            refused: refused
                .map(|(i, it)| (i, it.fault.as_ref().map_or_else(String::new, reason)))
                .collect(),
        });
    };
    let last = (items as u64)
        .checked_sub(1)
        .and_then(|n| first.checked_add(n));
    if seq.first != first || Some(seq.last) != last {
        return Err(bad(format!(
            "the answer is for seq {}..{}, the Write was {first}..{}",
            seq.first,
            seq.last,
            last.map_or_else(|| "(none)".to_owned(), |l| l.to_string())
        )));
    }
    if resp.fault_count as usize != resp.items.len() {
        return Err(bad(format!(
            "UCPTfaultCount {} but {} faulted items",
            resp.fault_count,
            resp.items.len()
        )));
    }
    let mut refused = Vec::new();
    let mut after: Option<usize> = None;
    for it in &resp.items {
        let at = it.item.get_attr_ns(Some(ns::REPLICATION), "seq");
        let index = at
            .and_then(|s| s.trim().parse::<u64>().ok())
            .and_then(|n| n.checked_sub(first))
            .and_then(|i| usize::try_from(i).ok())
            .filter(|&i| i < items && after.is_none_or(|a| i > a))
            .ok_or_else(|| {
                bad(format!(
                    "item {:?} has seq {:?}, not a new one of {first}..{}",
                    it.name,
                    at.unwrap_or("(none)"),
                    seq.last
                ))
            })?;
        after = Some(index);
        let Some(f) = &it.fault else {
            return Err(bad(format!("item {:?} is listed without a fault", it.name)));
        };
        if f.severity == Severity::Error {
            refused.push((index, reason(f)));
        }
    }
    Ok(WriteAnswer::Delivered { refused })
}

fn reason(f: &Fault) -> String {
    format!("fault {}: {}", f.code.code(), f.message)
}
