//! What the agent does with each incoming stanza (SPEC §5): SOAP requests
//! from allowed senders go to the SOAP service; everything else is answered
//! here: `forbidden` for senders not allowed, `bad-request` for a SOAP-namespace
//! payload that is not an Envelope, `service-unavailable` for other
//! namespaces, XEP-0199 ping and XEP-0030 disco#info for anyone, the
//! SmartServer's chat reply, and presence subscription approval.
//!
//! Pure: decides, never sends.

use crate::xmpp::jid::Jid;
use crate::xmpp::ns;
use crate::xmpp::stanza::{self, IqType, StanzaError};
use crate::xmpp::xml::Element;

/// SOAP 1.1 envelope namespace.
pub const NS_SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// What the SmartServer answers to any chat message.
pub const CHAT_REPLY: &str = "I like that statement.";

/// The decision for one stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<'a> {
    /// Hand the envelope (borrowed from the classified iq) to the SOAP service; answer with an
    /// iq result.
    Soap { envelope: &'a Element },
    /// Send these stanzas.
    Reply(Vec<Element>),
    /// Nothing to do.
    Ignore,
}

/// Decides what to do with `el`; `allowed` says whether a bare JID may use
/// SOAP, chat and subscriptions (configured hosts and `allow`).
pub fn classify<'a>(el: &'a Element, allowed: &dyn Fn(&Jid) -> bool) -> Action<'a> {
    let sender = stanza::from(el);
    let is_allowed = sender.as_ref().is_some_and(|j| allowed(&j.bare()));
    match el.name() {
        "iq" => classify_iq(el, is_allowed),
        "message" => {
            let chat = el.get_attr("type") == Some("chat");
            let has_body = el.get_child(ns::CLIENT, "body").is_some();
            match sender {
                Some(from) if chat && has_body && is_allowed => {
                    Action::Reply(vec![stanza::chat(&from, CHAT_REPLY)])
                }
                _ => Action::Ignore,
            }
        }
        "presence" => match (el.get_attr("type"), sender) {
            (Some("subscribe"), Some(from)) => {
                let answer = if is_allowed {
                    "subscribed"
                } else {
                    "unsubscribed"
                };
                Action::Reply(vec![stanza::presence(Some(answer), Some(&from.bare()))])
            }
            _ => Action::Ignore,
        },
        _ => Action::Ignore,
    }
}

fn classify_iq(el: &Element, is_allowed: bool) -> Action<'_> {
    let kind = IqType::of(el);
    if !matches!(kind, Some(IqType::Get | IqType::Set)) {
        return Action::Ignore; // results and errors belong to the session layer
    }
    let Some(payload) = stanza::payload(el) else {
        return error(
            el,
            StanzaError::bad_request("an iq request needs a payload"),
        );
    };
    if kind == Some(IqType::Get) && payload.is(ns::PING, "ping") {
        return Action::Reply(vec![stanza::iq_result(el, None)]);
    }
    if kind == Some(IqType::Get) && payload.is(ns::DISCO_INFO, "query") {
        return Action::Reply(vec![stanza::iq_result(el, Some(disco_info(payload)))]);
    }
    if payload.ns() == NS_SOAP_ENV {
        if !is_allowed {
            return error(
                el,
                StanzaError::forbidden("sender is neither a configured host nor in [agent] allow"),
            );
        }
        if kind != Some(IqType::Set) || payload.name() != "Envelope" {
            return error(
                el,
                StanzaError::bad_request("expected <iq type='set'> carrying a SOAP 1.1 Envelope"),
            );
        }
        return Action::Soap { envelope: payload };
    }
    error(el, StanzaError::service_unavailable())
}

fn error(el: &Element, e: StanzaError) -> Action<'static> {
    Action::Reply(vec![stanza::iq_error(el, &e)])
}

/// XEP-0030 identity and features: reveals nothing about datapoints.
fn disco_info(query: &Element) -> Element {
    let mut q = Element::new(ns::DISCO_INFO, "query");
    if let Some(node) = query.get_attr("node") {
        q.set_attr("node", node);
    }
    q.push(
        Element::new(ns::DISCO_INFO, "identity")
            .attr("category", "client")
            .attr("type", "bot")
            .attr("name", "webbinder"),
    );
    for f in [ns::DISCO_INFO, ns::PING] {
        q.push(Element::new(ns::DISCO_INFO, "feature").attr("var", f));
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xmpp::xml::Limits;

    fn el(s: &str) -> Element {
        Element::parse(s, &Limits::default()).unwrap()
    }

    fn allowed(j: &Jid) -> bool {
        j.to_string() == "pidgin@localhost"
    }

    fn reply(a: Action) -> Element {
        match a {
            Action::Reply(mut v) if v.len() == 1 => v.remove(0),
            other => panic!("expected one reply, got {other:?}"),
        }
    }

    const ENV: &str = "<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'><soapenv:Body/></soapenv:Envelope>";

    #[test]
    fn soap_from_allowed_sender_goes_to_the_service() {
        let iq = el(&format!(
            "<iq xmlns='jabber:client' type='set' id='1' from='Pidgin@localhost/x'>{ENV}</iq>"
        ));
        match classify(&iq, &allowed) {
            Action::Soap { envelope, .. } => assert!(envelope.is(NS_SOAP_ENV, "Envelope")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn soap_from_other_sender_is_forbidden() {
        let iq = el(&format!(
            "<iq xmlns='jabber:client' type='set' id='1' from='evil@localhost/x'>{ENV}</iq>"
        ));
        let r = reply(classify(&iq, &allowed));
        assert_eq!(r.get_attr("to"), Some("evil@localhost/x"));
        assert_eq!(
            StanzaError::from_stanza(&r).map(|e| e.condition),
            Some("forbidden".into())
        );
    }

    #[test]
    fn soap_namespace_without_envelope_is_bad_request() {
        let iq = el(
            "<iq xmlns='jabber:client' type='set' id='1' from='pidgin@localhost/x'><Body xmlns='http://schemas.xmlsoap.org/soap/envelope/'/></iq>",
        );
        let r = reply(classify(&iq, &allowed));
        assert_eq!(
            StanzaError::from_stanza(&r).map(|e| e.condition),
            Some("bad-request".into())
        );
    }

    #[test]
    fn other_namespace_is_service_unavailable() {
        let iq = el(
            "<iq xmlns='jabber:client' type='get' id='1' from='pidgin@localhost/x'><query xmlns='jabber:iq:version'/></iq>",
        );
        let r = reply(classify(&iq, &allowed));
        assert_eq!(
            StanzaError::from_stanza(&r).map(|e| e.condition),
            Some("service-unavailable".into())
        );
    }

    #[test]
    fn ping_and_disco_are_answered_for_anyone() {
        let ping = el(
            "<iq xmlns='jabber:client' type='get' id='p' from='x@y/z'><ping xmlns='urn:xmpp:ping'/></iq>",
        );
        let r = reply(classify(&ping, &allowed));
        assert_eq!(
            (r.get_attr("type"), r.get_attr("id")),
            (Some("result"), Some("p"))
        );
        let disco = el(
            "<iq xmlns='jabber:client' type='get' id='d' from='x@y/z'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
        );
        let r = reply(classify(&disco, &allowed));
        let q = r.get_child(ns::DISCO_INFO, "query").unwrap();
        let features: Vec<_> = q.children().filter_map(|f| f.get_attr("var")).collect();
        assert_eq!(features, vec![ns::DISCO_INFO, ns::PING]);
    }

    #[test]
    fn chat_from_allowed_gets_the_smartserver_reply_and_others_nothing() {
        let m = el(
            "<message xmlns='jabber:client' type='chat' from='pidgin@localhost/x'><body>hi</body></message>",
        );
        let r = reply(classify(&m, &allowed));
        assert_eq!(r.get_attr("to"), Some("pidgin@localhost/x"));
        assert_eq!(
            r.get_child(ns::CLIENT, "body").map(Element::text_content),
            Some(CHAT_REPLY.into())
        );
        let m = el(
            "<message xmlns='jabber:client' type='chat' from='evil@localhost/x'><body>hi</body></message>",
        );
        assert_eq!(classify(&m, &allowed), Action::Ignore);
    }

    #[test]
    fn subscription_is_approved_only_for_allowed_senders() {
        let p = el("<presence xmlns='jabber:client' type='subscribe' from='pidgin@localhost'/>");
        assert_eq!(
            reply(classify(&p, &allowed)).get_attr("type"),
            Some("subscribed")
        );
        let p = el("<presence xmlns='jabber:client' type='subscribe' from='evil@localhost'/>");
        assert_eq!(
            reply(classify(&p, &allowed)).get_attr("type"),
            Some("unsubscribed")
        );
    }
}
