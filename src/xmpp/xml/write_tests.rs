//! The serialiser against the one it replaced (which copied its namespace scope for every
//! element and escaped char by char): byte for byte the same output for random trees with
//! prefixes, declarations, namespaced attributes and text that needs escaping.

use std::fmt::Write as _;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use super::prop_tests::{config, tree, with_deadline};
use super::write::KNOWN_PREFIXES;
use super::*;

fn old_to_xml(el: &Element, default_ns: &str, fragments: &[&str]) -> String {
    let mut out = String::new();
    let mut scope = OldScope {
        default_ns: default_ns.to_owned(),
        prefixes: Vec::new(),
    };
    old_write_element(el, &mut out, &mut scope, fragments);
    out
}

/// Any text, controls and U+FFFE/U+FFFF included (serialisation replaces those).
fn raw_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            any::<char>(),
            prop::sample::select(vec![
                '<', '>', '&', '\'', '"', '\r', '\n', '\t', '\u{1}', '\u{FFFE}', '\u{FFFF}', 'é'
            ]),
        ],
        0..16,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn decorated() -> impl Strategy<Value = Element> {
    (
        tree(),
        proptest::collection::vec(
            (
                prop::sample::select(vec!["p", "soap", "xsi", "ns0", "ns1"]),
                prop::sample::select(vec![
                    "urn:a",
                    "urn:b",
                    "http://www.w3.org/2001/XMLSchema-instance",
                ]),
            ),
            0..3,
        ),
        raw_text(),
        raw_text(),
    )
        .prop_map(|(mut e, decls, text, value)| {
            for (p, u) in decls {
                e = e.declare(p, u);
            }
            e.set_attr("raw", value);
            e.push_text(text);
            e
        })
}

#[test]
fn output_is_byte_for_byte_the_old_serialiser_s() {
    with_deadline(Duration::from_secs(120), || {
        let mut runner = TestRunner::new(config());
        let result = runner.run(&decorated(), |e| {
            prop_assert_eq!(e.to_xml(), old_to_xml(&e, "", &[]));
            prop_assert_eq!(e.to_xml_fragment(), old_to_xml(&e, UNKNOWN_DEFAULT_NS, &[]));
            let body = Element::new("http://jabber.org/protocol/httpbind", "body");
            let frag = e.to_xml_fragment();
            prop_assert_eq!(
                body.to_xml_wrapping(&[&frag, "<x/>"]),
                old_to_xml(&body, "", &[&frag, "<x/>"])
            );
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    });
}

/// Namespace bindings in force while writing (the serialiser before it stopped copying them).
#[derive(Default, Clone)]
struct OldScope {
    default_ns: String,
    prefixes: Vec<(String, String)>,
}

impl OldScope {
    fn lookup(&self, prefix: &str) -> Option<&str> {
        self.prefixes
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.as_str())
    }

    fn prefix_for(&self, uri: &str) -> Option<&str> {
        self.prefixes
            .iter()
            .rev()
            .find(|(p, u)| u == uri && self.lookup(p) == Some(uri))
            .map(|(p, _)| p.as_str())
    }
}

/// Escapes text (`attr == false`) or an attribute value (`attr == true`),
/// replacing characters XML 1.0 cannot carry. In attribute values, quotes and
/// whitespace controls are escaped too, so they survive value normalisation.
fn old_escape_into(out: &mut String, s: &str, attr: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\'' if attr => out.push_str("&apos;"),
            '\t' | '\n' if !attr => out.push(c),
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

fn old_write_element(el: &Element, out: &mut String, parent: &mut OldScope, fragments: &[&str]) {
    let mut scope = parent.clone();
    let mut decls: Vec<(Option<String>, String)> = Vec::new();
    for (p, u) in &el.decls {
        if scope.lookup(p) != Some(u.as_str()) {
            scope.prefixes.push((p.clone(), u.clone()));
            decls.push((Some(p.clone()), u.clone()));
        }
    }
    out.push('<');
    match &el.prefix {
        Some(p) if !el.ns.is_empty() => {
            if scope.lookup(p) != Some(&*el.ns) {
                scope.prefixes.push((p.clone(), el.ns.to_string()));
                decls.push((Some(p.clone()), el.ns.to_string()));
            }
            out.push_str(p);
            out.push(':');
        }
        _ => {
            if scope.default_ns != el.ns {
                scope.default_ns = el.ns.to_string();
                decls.push((None, el.ns.to_string()));
            }
        }
    }
    out.push_str(&el.name);
    let mut attr_text = String::new();
    let mut generated = 0usize;
    for a in &el.attrs {
        attr_text.push(' ');
        if let Some(ns) = &a.ns {
            if ns == NS_XML {
                attr_text.push_str("xml:");
            } else {
                let prefix = match scope.prefix_for(ns) {
                    Some(p) => p.to_owned(),
                    None => {
                        let wanted = KNOWN_PREFIXES
                            .iter()
                            .find(|(u, _)| u == ns)
                            .map(|(_, p)| (*p).to_owned());
                        let p = match wanted {
                            Some(p) if scope.lookup(&p).is_none() => p,
                            _ => loop {
                                let p = format!("ns{generated}");
                                generated += 1;
                                if scope.lookup(&p).is_none() {
                                    break p;
                                }
                            },
                        };
                        scope.prefixes.push((p.clone(), ns.to_string()));
                        decls.push((Some(p.clone()), ns.to_string()));
                        p
                    }
                };
                attr_text.push_str(&prefix);
                attr_text.push(':');
            }
        }
        attr_text.push_str(&a.name);
        attr_text.push_str("=\"");
        old_escape_into(&mut attr_text, &a.value, true);
        attr_text.push('"');
    }
    for (p, u) in &decls {
        match p {
            Some(p) => {
                out.push_str(" xmlns:");
                out.push_str(p);
            }
            None => out.push_str(" xmlns"),
        }
        out.push_str("=\"");
        old_escape_into(out, u, true);
        out.push('"');
    }
    out.push_str(&attr_text);
    if el.children.is_empty() && fragments.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for n in &el.children {
        match n {
            Node::Element(c) => old_write_element(c, out, &mut scope, &[]),
            Node::Text(t) => old_escape_into(out, t, false),
        }
    }
    for f in fragments {
        out.push_str(f);
    }
    out.push_str("</");
    if let Some(p) = &el.prefix
        && !el.ns.is_empty()
    {
        out.push_str(p);
        out.push(':');
    }
    out.push_str(&el.name);
    out.push('>');
}
