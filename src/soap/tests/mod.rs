//! Tests of the SOAP codec: golden vectors from the seed guide and the notes, per-operation
//! parse/build/fault tests, round trips, and hostile input.

pub(crate) mod fuzz;
mod golden;
mod hostile;
mod limits;
mod requests;
mod responses;
mod write_answer;

use crate::xmpp::xml::{Element, Limits, Node};

/// Parses a test document.
pub(super) fn xml(s: &str) -> Element {
    Element::parse(s, &Limits::default()).unwrap()
}

/// The element rebuilt without prefixes, declarations and whitespace-only text, with text
/// trimmed: two documents with the same structure and values compare equal, and
/// `to_xml()` of the result gives a readable, deterministic diff.
pub(super) fn norm(e: &Element) -> Element {
    let mut out = Element::new(e.ns(), e.name());
    for a in e.attrs() {
        out = match &a.ns {
            Some(ns) => out.attr_ns(ns, &a.name, a.value.clone()),
            None => out.attr(&a.name, a.value.clone()),
        };
    }
    for n in e.nodes() {
        match n {
            Node::Element(c) => out = out.child(norm(c)),
            Node::Text(t) if !t.trim().is_empty() => out = out.text(t.trim()),
            Node::Text(_) => {}
        }
    }
    out
}

/// Asserts that two elements have the same structure and values.
pub(super) fn assert_same(actual: &Element, expected: &Element) {
    assert_eq!(norm(actual).to_xml(), norm(expected).to_xml());
}

/// The SOAP envelope inside a seed `<iq>` example.
pub(super) fn iq_payload(iq_text: &str) -> Element {
    let iq = xml(iq_text);
    assert_eq!(iq.name(), "iq");
    iq.children().next().unwrap().clone()
}

/// The first child with local name `name`.
pub(super) fn child<'a>(e: &'a Element, name: &str) -> &'a Element {
    e.get_child_local(name)
        .unwrap_or_else(|| panic!("no {name} in {}", e.to_xml()))
}
