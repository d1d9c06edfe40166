//! The SOAP 1.1 frame: `Envelope`, `Header` (the i.LON `messageProperties` block and our
//! `seq` block), `Body`, and the SOAP-layer `Fault`. Opening an envelope accepts any
//! prefixes; building one uses the SmartServer's own (`SOAP-ENV:`, `p:`), PR p.19 and p.31.
//! No I/O.

use super::error::SoapError;
use super::ns;
use super::xml_util::{child_local, quote, text_of, truncate};
use crate::xmpp::xml::Element;

/// The `messageProperties` header (PR p.20): who sent the message and when, plus our
/// optional replication `seq` block (SPEC §5).
///
/// Every field is optional because requests from client applications carry an empty
/// header or none (the seed's examples send `<messageProperties/>`); responses and outgoing
/// WebBinder writes fill at least `time_stamp` and `unique_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageProperties {
    /// `UCPTtimeStamp`: when the message was sent, ISO 8601 local time with offset.
    pub time_stamp: Option<String>,
    /// `UCPTuniqueId`: the sender's 12-hex-digit Neuron-ID-like identifier.
    pub unique_id: Option<String>,
    /// `UCPTipAddress`: the IP of the interface used.
    pub ip_address: Option<String>,
    /// `UCPTport`: the sender's HTTP port.
    pub port: Option<u16>,
    /// `UCPTlastUpdate`: last configuration change (UTC `...Z` in the examples).
    pub last_update: Option<String>,
    /// `UCPTprocessingTime`: milliseconds between request and response.
    pub processing_time: Option<u64>,
    /// Our `<seq xmlns="urn:webbinder:replication:1" epoch first last/>` block.
    pub seq: Option<Seq>,
}

/// The replication sequence block of SPEC §5: the items of a Write are the sender's queued
/// writes for this host numbered `first..=last` in order (gaps only where `latest` delivery
/// coalesced values); `epoch` changes only when the sender's store is recreated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seq {
    /// The sender's store epoch.
    pub epoch: u64,
    /// Sequence number of the first item.
    pub first: u64,
    /// Sequence number of the last item (`>= first`).
    pub last: u64,
    /// `last` of the batch sent before this one to this host in this epoch (0: none, or not
    /// known since the sender started); absent from older senders (SPEC §5 "Several Writes in
    /// flight").
    pub prev: Option<u64>,
}

/// What a receiver does with a batch, given the highest seq it applied from that sender and
/// epoch (the SPEC §5 rule, shared by the SmartServer service and the simulation tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Apply the items after the first `skip` (those were applied before: answer them as
    /// successes without applying them again), then record `applied` as the new highest.
    Apply { skip: usize, applied: u64 },
    /// The batch before this one was not applied: apply nothing, answer a retryable fault.
    Gap { applied: u64, prev: u64 },
}

impl Seq {
    /// `<seq xmlns="urn:webbinder:replication:1" epoch=".." first=".." last=".." prev=".."/>`.
    pub(crate) fn to_element(self) -> Element {
        let el = Element::new(ns::REPLICATION, "seq")
            .attr("epoch", self.epoch.to_string())
            .attr("first", self.first.to_string())
            .attr("last", self.last.to_string());
        match self.prev {
            Some(p) => el.attr("prev", p.to_string()),
            None => el,
        }
    }

    /// Refuses a block that does not number exactly `items` items: a batch is a run of
    /// consecutive queued writes, and the receiver numbers item `i` as `first + i`, so a gap
    /// would make it skip (or record as applied) writes it never saw.
    pub fn check_items(&self, items: usize) -> Result<(), SoapError> {
        let span = self
            .last
            .checked_sub(self.first)
            .map(|d| d.saturating_add(1));
        if span == Some(items as u64) {
            return Ok(());
        }
        Err(SoapError::SeqMismatch {
            first: self.first,
            last: self.last,
            items,
        })
    }

    /// The receiver's rule for this batch of `items` items (numbered `first + i`), when the
    /// highest seq applied from its sender and epoch is `applied` (`None`: nothing yet).
    pub fn admit(&self, applied: Option<u64>, items: usize) -> Admission {
        let a = applied.unwrap_or(0);
        if let Some(prev) = self.prev
            && prev > a
        {
            return Admission::Gap { applied: a, prev };
        }
        let skip = match applied {
            Some(a) if a >= self.first => {
                usize::try_from(a - self.first + 1).map_or(items, |n| n.min(items))
            }
            _ => 0,
        };
        Admission::Apply {
            skip,
            applied: applied.map_or(self.last, |a| a.max(self.last)),
        }
    }

    fn from_element(el: &Element) -> Result<Seq, SoapError> {
        let num = |name: &str| -> Result<u64, SoapError> {
            let v = el.get_attr(name).ok_or_else(|| SoapError::BadHeader {
                detail: format!("seq has no {name} attribute"),
            })?;
            v.trim().parse::<u64>().map_err(|_| SoapError::BadHeader {
                detail: format!("seq {name} {} is not an unsigned integer", quote(v)),
            })
        };
        let seq = Seq {
            epoch: num("epoch")?,
            first: num("first")?,
            last: num("last")?,
            prev: el.get_attr("prev").map(|_| num("prev")).transpose()?,
        };
        if seq.first > seq.last {
            return Err(SoapError::BadHeader {
                detail: format!("seq first {} is after last {}", seq.first, seq.last),
            });
        }
        Ok(seq)
    }
}

impl MessageProperties {
    /// The `p:messageProperties` element, fields in the order of PR p.31. The `seq` block is
    /// not part of it: it is a sibling header block (see [`build_envelope`]).
    pub(crate) fn to_element(&self) -> Element {
        let p = ns::MESSAGE_PROPERTIES_PREFIX;
        let mut el = Element::new(ns::ILON, "messageProperties").with_prefix(p);
        let fields: [(&str, Option<String>); 6] = [
            ("UCPTtimeStamp", self.time_stamp.clone()),
            ("UCPTuniqueId", self.unique_id.clone()),
            ("UCPTipAddress", self.ip_address.clone()),
            ("UCPTport", self.port.map(|v| v.to_string())),
            ("UCPTlastUpdate", self.last_update.clone()),
            (
                "UCPTprocessingTime",
                self.processing_time.map(|v| v.to_string()),
            ),
        ];
        for (name, value) in fields {
            if let Some(v) = value {
                el = el.text_child(name, v);
            }
        }
        el
    }

    /// Reads the `Header` element (any prefixes). The `seq` block is accepted as a header
    /// block of its own (where we send it) or inside `messageProperties`.
    fn from_header(header: &Element) -> Result<MessageProperties, SoapError> {
        let mut props = MessageProperties::default();
        let mut seq_el = header.get_child(ns::REPLICATION, "seq");
        if let Some(mp) = child_local(header, "messageProperties") {
            for c in mp.children() {
                let text = || text_of(c);
                match c.name() {
                    "UCPTtimeStamp" => props.time_stamp = Some(text()),
                    "UCPTuniqueId" => props.unique_id = Some(text()),
                    "UCPTipAddress" => props.ip_address = Some(text()),
                    "UCPTlastUpdate" => props.last_update = Some(text()),
                    "UCPTport" => props.port = Some(parse_header_num(c.name(), &text())?),
                    "UCPTprocessingTime" => {
                        props.processing_time = Some(parse_header_num(c.name(), &text())?)
                    }
                    "seq" if c.ns() == ns::REPLICATION => seq_el = seq_el.or(Some(c)),
                    _ => {}
                }
            }
        }
        props.seq = seq_el.map(Seq::from_element).transpose()?;
        Ok(props)
    }
}

fn parse_header_num<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, SoapError> {
    text.parse::<T>().map_err(|_| SoapError::BadHeader {
        detail: format!("{name} {} is not a number in range", quote(text)),
    })
}

/// `{namespace}name` of an element, for error messages.
pub(crate) fn qualified_name(el: &Element) -> String {
    if el.ns().is_empty() {
        el.name().to_owned()
    } else {
        format!("{{{}}}{}", el.ns(), el.name())
    }
}

/// Checks that `env` is a SOAP 1.1 `Envelope` (any prefix) and returns its header
/// properties and the first element of its `Body` (the operation, or a `Fault`).
pub fn open_envelope(env: &Element) -> Result<(MessageProperties, &Element), SoapError> {
    if !env.is(ns::SOAP_ENV, "Envelope") {
        return Err(SoapError::NotAnEnvelope {
            found: truncate(&qualified_name(env)),
        });
    }
    let props = match env.get_child(ns::SOAP_ENV, "Header") {
        Some(h) => MessageProperties::from_header(h)?,
        None => MessageProperties::default(),
    };
    let body = env
        .get_child(ns::SOAP_ENV, "Body")
        .ok_or(SoapError::NoBody)?;
    let op = body.children().next().ok_or(SoapError::EmptyBody)?;
    Ok((props, op))
}

/// The bare `SOAP-ENV:Envelope` with `encodingStyle` and the `xsi`/`xsd` declarations of
/// PR p.19.
fn envelope_shell() -> Element {
    Element::new(ns::SOAP_ENV, "Envelope")
        .with_prefix(ns::SOAP_ENV_PREFIX)
        .declare("xsi", ns::XSI)
        .declare("xsd", ns::XSD)
        .attr_ns(ns::SOAP_ENV, "encodingStyle", ns::SOAP_ENCODING)
}

fn soap(name: &str) -> Element {
    Element::new(ns::SOAP_ENV, name).with_prefix(ns::SOAP_ENV_PREFIX)
}

/// A complete envelope: `Header` with `messageProperties` (always present, as in the seed's
/// requests and every SmartServer response) and, when set, our `seq` block after it; then
/// `Body` holding `body`.
pub fn build_envelope(props: &MessageProperties, body: Element) -> Element {
    let mut header = soap("Header").child(props.to_element());
    if let Some(seq) = props.seq {
        header = header.child(seq.to_element());
    }
    envelope_shell()
        .child(header)
        .child(soap("Body").child(body))
}

/// The SOAP 1.1 `faultcode` values we send (SOAP 1.1 §4.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultSide {
    /// `Client`: the message was wrong; resending it unchanged will fail again.
    Client,
    /// `Server`: we could not process a correct message (e.g. the store failed).
    Server,
}

/// A SOAP-layer `Fault` (SOAP 1.1 §4.4), sent for an envelope that cannot be processed and
/// read back from peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapFault {
    /// `faultcode` text as sent (`SOAP-ENV:Client`; the i.LON manual shows a bare number).
    pub code: String,
    /// `faultstring`: what was wrong.
    pub string: String,
    /// `detail` text, if any.
    pub detail: Option<String>,
    /// Our typed `<gap>` inside `detail`: a replicated Write refused because the batch
    /// before it was not applied (SPEC §5 "Several Writes in flight").
    pub gap: Option<SeqGap>,
}

/// `<gap xmlns="urn:webbinder:replication:1" applied=".." prev=".."/>`: the highest seq the
/// receiver applied from the sender and epoch, and the `prev` of the refused batch, so the
/// sender recognises the refusal without reading the `faultstring`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqGap {
    /// The highest seq applied (0: none).
    pub applied: u64,
    /// The refused batch's `prev`.
    pub prev: u64,
}

impl SeqGap {
    fn to_element(self) -> Element {
        Element::new(ns::REPLICATION, "gap")
            .attr("applied", self.applied.to_string())
            .attr("prev", self.prev.to_string())
    }

    /// `None` for a `gap` without both numbers: the fault is then only a retryable one.
    fn from_element(el: &Element) -> Option<SeqGap> {
        let num = |name: &str| el.get_attr(name)?.trim().parse::<u64>().ok();
        Some(SeqGap {
            applied: num("applied")?,
            prev: num("prev")?,
        })
    }
}

impl SoapFault {
    /// A fault of the given side, `faultcode` qualified with our `SOAP-ENV` prefix.
    pub fn new(side: FaultSide, string: impl Into<String>, detail: Option<String>) -> SoapFault {
        let side = match side {
            FaultSide::Client => "Client",
            FaultSide::Server => "Server",
        };
        SoapFault {
            code: format!("{}:{side}", ns::SOAP_ENV_PREFIX),
            string: string.into(),
            detail,
            gap: None,
        }
    }

    /// The `Server` fault refusing a replicated Write whose previous batch was not applied.
    pub fn gap(string: impl Into<String>, gap: SeqGap) -> SoapFault {
        SoapFault {
            gap: Some(gap),
            ..SoapFault::server(string, None)
        }
    }

    /// The side of `faultcode`, whatever its prefix (`Server.Busy` is a `Server` fault, SOAP
    /// 1.1 §4.4.1); `None` for a code that names neither (the i.LON manual shows numbers).
    pub fn side(&self) -> Option<FaultSide> {
        let local = self.code.rsplit(':').next().unwrap_or_default().trim();
        let class = local.split('.').next().unwrap_or_default();
        match class {
            "Server" => Some(FaultSide::Server),
            "Client" => Some(FaultSide::Client),
            _ => None,
        }
    }

    /// A `SOAP-ENV:Client` fault.
    pub fn client(string: impl Into<String>, detail: Option<String>) -> SoapFault {
        SoapFault::new(FaultSide::Client, string, detail)
    }

    /// A `SOAP-ENV:Server` fault.
    pub fn server(string: impl Into<String>, detail: Option<String>) -> SoapFault {
        SoapFault::new(FaultSide::Server, string, detail)
    }

    /// The whole fault envelope. `faultcode`, `faultstring` and `detail` are unqualified, as
    /// SOAP 1.1 §4.4 requires; the `SOAP-ENV` prefix of the code is bound by the envelope.
    pub fn to_envelope(&self) -> Element {
        let mut fault = soap("Fault")
            .child(Element::new("", "faultcode").text(self.code.clone()))
            .child(Element::new("", "faultstring").text(self.string.clone()));
        if self.detail.is_some() || self.gap.is_some() {
            let mut detail = Element::new("", "detail");
            if let Some(d) = &self.detail {
                detail = detail.text(d.clone());
            }
            if let Some(g) = self.gap {
                detail = detail.child(g.to_element());
            }
            fault = fault.child(detail);
        }
        envelope_shell().child(soap("Body").child(fault))
    }

    /// Reads a `Fault` element; its children are accepted qualified or not (the i.LON
    /// manual qualifies them, PR p.22).
    pub(crate) fn from_element(el: &Element) -> SoapFault {
        SoapFault {
            code: child_local(el, "faultcode")
                .map(text_of)
                .unwrap_or_default(),
            string: child_local(el, "faultstring")
                .map(text_of)
                .unwrap_or_default(),
            detail: child_local(el, "detail")
                .map(text_of)
                .filter(|d| !d.is_empty()),
            gap: child_local(el, "detail")
                .and_then(|d| d.get_child(ns::REPLICATION, "gap"))
                .and_then(SeqGap::from_element),
        }
    }
}
