//! Typed builders and readers for the three XMPP stanzas (RFC 6120 §8) and
//! stanza errors, so no stanza is ever assembled from strings.
//!
//! This module performs no I/O.

use super::jid::Jid;
use super::ns;
use super::xml::{Element, Rejected};

/// The `type` of an `<iq/>` (RFC 6120 §8.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IqType {
    Get,
    Set,
    Result,
    Error,
}

impl IqType {
    pub fn as_str(self) -> &'static str {
        match self {
            IqType::Get => "get",
            IqType::Set => "set",
            IqType::Result => "result",
            IqType::Error => "error",
        }
    }

    /// The type of an `<iq/>` element, if it is one with a valid type.
    pub fn of(el: &Element) -> Option<IqType> {
        if !el.is(ns::CLIENT, "iq") {
            return None;
        }
        match el.get_attr("type")? {
            "get" => Some(IqType::Get),
            "set" => Some(IqType::Set),
            "result" => Some(IqType::Result),
            "error" => Some(IqType::Error),
            _ => None,
        }
    }
}

/// An `<iq/>` with an optional addressee and payload.
pub fn iq(kind: IqType, id: &str, to: Option<&Jid>, payload: Option<Element>) -> Element {
    let mut e = Element::new(ns::CLIENT, "iq")
        .attr("type", kind.as_str())
        .attr("id", id);
    if let Some(to) = to {
        e.set_attr("to", to.to_string());
    }
    if let Some(p) = payload {
        e.push(p);
    }
    e
}

/// The `result` answering `request`: same id, addressed back to its sender.
pub fn iq_result(request: &Element, payload: Option<Element>) -> Element {
    let mut e = Element::new(ns::CLIENT, "iq")
        .attr("type", "result")
        .attr("id", request.get_attr("id").unwrap_or_default());
    if let Some(from) = request.get_attr("from") {
        e.set_attr("to", from);
    }
    if let Some(p) = payload {
        e.push(p);
    }
    e
}

/// The `error` answering `request` (RFC 6120 §8.3).
pub fn iq_error(request: &Element, error: &StanzaError) -> Element {
    let mut e = Element::new(ns::CLIENT, "iq")
        .attr("type", "error")
        .attr("id", request.get_attr("id").unwrap_or_default());
    if let Some(from) = request.get_attr("from") {
        e.set_attr("to", from);
    }
    e.push(error.to_element());
    e
}

/// The answer owed to a stanza dropped for a parser limit: an iq request
/// (get/set) with an id gets a `policy-violation` error addressed back from
/// its start tag; anything else (an answer, a message, a presence) gets
/// none, so a hostile sender cannot make us bounce traffic.
pub fn refusal(r: &Rejected) -> Option<Element> {
    let head = &r.head;
    if !matches!(IqType::of(head), Some(IqType::Get | IqType::Set)) {
        return None;
    }
    head.get_attr("id")?;
    let text = format!("stanza dropped: {}", r.exceeded);
    Some(iq_error(head, &StanzaError::policy_violation(&text)))
}

/// A `<presence/>`, e.g. `subscribe`/`subscribed` (RFC 6121 §3) or initial presence.
pub fn presence(kind: Option<&str>, to: Option<&Jid>) -> Element {
    let mut e = Element::new(ns::CLIENT, "presence");
    if let Some(k) = kind {
        e.set_attr("type", k);
    }
    if let Some(to) = to {
        e.set_attr("to", to.to_string());
    }
    e
}

/// A `<message type='chat'>` with a body.
pub fn chat(to: &Jid, body: &str) -> Element {
    Element::new(ns::CLIENT, "message")
        .attr("type", "chat")
        .attr("to", to.to_string())
        .child(Element::new(ns::CLIENT, "body").text(body))
}

/// The sender of a stanza, if it has a valid `from`.
pub fn from(el: &Element) -> Option<Jid> {
    el.get_attr("from").and_then(|f| f.parse().ok())
}

/// The first element child of a stanza (an IQ's payload).
pub fn payload(el: &Element) -> Option<&Element> {
    el.children().find(|c| !c.is(ns::CLIENT, "error"))
}

/// A stanza error (RFC 6120 §8.3): its type, defined condition and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaError {
    pub kind: String,
    pub condition: String,
    pub text: Option<String>,
}

impl std::fmt::Display for StanzaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.condition)?;
        if let Some(t) = &self.text {
            write!(f, " ({t})")?;
        }
        Ok(())
    }
}

impl StanzaError {
    pub fn new(kind: &str, condition: &str, text: Option<&str>) -> StanzaError {
        StanzaError {
            kind: kind.to_owned(),
            condition: condition.to_owned(),
            text: text.map(str::to_owned),
        }
    }

    pub fn forbidden(text: &str) -> StanzaError {
        StanzaError::new("auth", "forbidden", Some(text))
    }

    pub fn bad_request(text: &str) -> StanzaError {
        StanzaError::new("modify", "bad-request", Some(text))
    }

    pub fn service_unavailable() -> StanzaError {
        StanzaError::new("cancel", "service-unavailable", None)
    }

    /// RFC 6120 §8.3.3.12: the stanza broke a local policy (here a size or
    /// nesting limit); `modify` tells the sender a smaller one may pass.
    pub fn policy_violation(text: &str) -> StanzaError {
        StanzaError::new("modify", "policy-violation", Some(text))
    }

    /// Reads the `<error/>` child of an error stanza.
    pub fn from_stanza(el: &Element) -> Option<StanzaError> {
        let err = el
            .get_child(ns::CLIENT, "error")
            .or_else(|| el.get_child_local("error"))?;
        let condition = err
            .children()
            .find(|c| c.ns() == ns::STANZAS && c.name() != "text")
            .map_or("undefined-condition", Element::name);
        let text = err
            .get_child(ns::STANZAS, "text")
            .map(Element::text_content);
        Some(StanzaError {
            kind: err.get_attr("type").unwrap_or("cancel").to_owned(),
            condition: condition.to_owned(),
            text,
        })
    }

    pub fn to_element(&self) -> Element {
        let mut e = Element::new(ns::CLIENT, "error")
            .attr("type", self.kind.clone())
            .child(Element::new(ns::STANZAS, &self.condition));
        if let Some(t) = &self.text {
            e.push(Element::new(ns::STANZAS, "text").text(t.clone()));
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xmpp::xml::Limits;

    #[test]
    fn result_is_addressed_back_with_the_same_id() {
        let req = Element::parse(
            "<iq xmlns='jabber:client' type='set' id='a1' from='x@y/z' to='me@y/ilon'><q xmlns='urn:q'/></iq>",
            &Limits::default(),
        )
        .unwrap();
        let r = iq_result(&req, None);
        assert_eq!(r.get_attr("type"), Some("result"));
        assert_eq!(r.get_attr("id"), Some("a1"));
        assert_eq!(r.get_attr("to"), Some("x@y/z"));
        assert_eq!(r.get_attr("from"), None);
    }

    #[test]
    fn stanza_error_round_trips_through_xml() {
        let req = iq(IqType::Set, "q", None, None).attr("from", "a@b/c");
        let e = iq_error(&req, &StanzaError::forbidden("not allowed"));
        let back = Element::parse(&e.to_xml(), &Limits::default()).unwrap();
        assert_eq!(
            StanzaError::from_stanza(&back),
            Some(StanzaError::new("auth", "forbidden", Some("not allowed")))
        );
        assert_eq!(IqType::of(&back), Some(IqType::Error));
    }

    #[test]
    fn a_dropped_iq_request_is_refused_and_nothing_else_is_answered() {
        use crate::xmpp::xml::Exceeded;
        let head = |s: &str| Element::parse(s, &Limits::default()).unwrap();
        let rejected = |h: Element| Rejected {
            index: 0,
            head: h,
            exceeded: Exceeded::Depth { limit: 64 },
        };
        let r = rejected(head(
            "<iq xmlns='jabber:client' type='get' id='q1' from='evil@d/x' to='me@d/ilon'/>",
        ));
        let e = refusal(&r).expect("an iq get is answered");
        assert_eq!(IqType::of(&e), Some(IqType::Error));
        assert_eq!(e.get_attr("id"), Some("q1"));
        assert_eq!(e.get_attr("to"), Some("evil@d/x"));
        let err = StanzaError::from_stanza(&e).unwrap();
        assert_eq!(
            (err.kind.as_str(), err.condition.as_str()),
            ("modify", "policy-violation")
        );
        assert!(err.text.unwrap().contains("depth over 64"));
        for quiet in [
            "<iq xmlns='jabber:client' type='set' from='evil@d/x'/>",
            "<iq xmlns='jabber:client' type='result' id='a' from='evil@d/x'/>",
            "<iq xmlns='jabber:client' type='error' id='a' from='evil@d/x'/>",
            "<message xmlns='jabber:client' id='m' from='evil@d/x'/>",
            "<presence xmlns='jabber:client' id='p' from='evil@d/x'/>",
        ] {
            assert_eq!(refusal(&rejected(head(quiet))), None, "{quiet}");
        }
    }

    #[test]
    fn server_bounce_condition_is_read() {
        let bounce = Element::parse(
            "<iq xmlns='jabber:client' type='error' id='x' from='a@b/c'><error type='cancel'>\
             <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
            &Limits::default(),
        )
        .unwrap();
        let e = StanzaError::from_stanza(&bounce).unwrap();
        assert_eq!(e.condition, "service-unavailable");
        assert_eq!(e.kind, "cancel");
    }
}
