//! The writer: an [`Element`] tree to escaped XML text, declaring namespaces
//! where they change. Kept apart from the tree, as the reader is, because its
//! namespace-scope bookkeeping is a concern of its own.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::{Element, NS_XML, Node};

/// Prefixes we prefer when we must declare a namespace for an attribute.
pub(super) const KNOWN_PREFIXES: &[(&str, &str)] = &[
    ("urn:xmpp:xbosh", "xmpp"),
    ("http://www.w3.org/2001/XMLSchema-instance", "xsi"),
    ("http://www.w3.org/2001/XMLSchema", "xsd"),
    ("http://etherx.jabber.org/streams", "stream"),
];

/// A default namespace no element has: whatever the element's namespace
/// (even none), it gets declared.
pub(super) const UNKNOWN_DEFAULT_NS: &str = "\u{0}unknown";

/// Namespace bindings in force while writing, borrowed from the tree being written: an
/// element pushes its bindings on entry and takes them off on exit, so writing costs no copy
/// of the scope per element (the hot path of every Write and its answer).
pub(super) struct Scope<'a> {
    default_ns: &'a str,
    prefixes: Vec<(Cow<'a, str>, &'a str)>,
}

impl<'a> Scope<'a> {
    pub(super) fn new(default_ns: &'a str) -> Scope<'a> {
        Scope {
            default_ns,
            prefixes: Vec::new(),
        }
    }

    fn lookup(&self, prefix: &str) -> Option<&'a str> {
        self.prefixes
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| *u)
    }

    fn prefix_for(&self, uri: &str) -> Option<&Cow<'a, str>> {
        self.prefixes
            .iter()
            .rev()
            .find(|(p, u)| *u == uri && self.lookup(p) == Some(uri))
            .map(|(p, _)| p)
    }
}

/// Escapes text (`attr == false`) or an attribute value (`attr == true`),
/// replacing characters XML 1.0 cannot carry. In attribute values, quotes and
/// whitespace controls are escaped too, so they survive value normalisation.
/// Runs of characters that need nothing are copied whole.
fn escape_into(out: &mut String, s: &str, attr: bool) {
    let bytes = s.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        // ASCII specials and controls, and 0xEF, the lead byte of U+FFFE and U+FFFF: all
        // lead bytes, so `i` is a char boundary whenever one is seen.
        if !matches!(bytes[i], b'&' | b'<' | b'>' | b'"' | b'\'' | 0xEF | 0..0x20) {
            i += 1;
            continue;
        }
        out.push_str(&s[start..i]);
        let Some(c) = s[i..].chars().next() else {
            break;
        };
        escape_char(out, c, attr);
        i += c.len_utf8();
        start = i;
    }
    out.push_str(&s[start..]);
}

fn escape_char(out: &mut String, c: char, attr: bool) {
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

/// Writes `el` (and `fragments` after its children); `attrs` is scratch space for the
/// attributes, which go after the namespace declarations they may add.
pub(super) fn write_element<'a>(
    el: &'a Element,
    out: &mut String,
    scope: &mut Scope<'a>,
    attrs: &mut String,
    fragments: &[&str],
) {
    let mark = scope.prefixes.len();
    let outer_default = scope.default_ns;
    // Where, among the prefixes this element declares, `xmlns="..."` goes.
    let mut default_at = None;
    for (p, u) in &el.decls {
        if scope.lookup(p) != Some(u.as_str()) {
            scope.prefixes.push((Cow::Borrowed(p), u));
        }
    }
    out.push('<');
    match &el.prefix {
        Some(p) if !el.ns.is_empty() => {
            if scope.lookup(p) != Some(&*el.ns) {
                scope.prefixes.push((Cow::Borrowed(p), &el.ns));
            }
            out.push_str(p);
            out.push(':');
        }
        _ => {
            if scope.default_ns != el.ns {
                scope.default_ns = &el.ns;
                default_at = Some(scope.prefixes.len() - mark);
            }
        }
    }
    out.push_str(&el.name);
    attrs.clear();
    let mut generated = 0usize;
    for a in &el.attrs {
        attrs.push(' ');
        if let Some(ns) = &a.ns {
            if ns == NS_XML {
                attrs.push_str("xml:");
            } else {
                match scope.prefix_for(ns) {
                    Some(p) => attrs.push_str(p),
                    None => {
                        let wanted = KNOWN_PREFIXES
                            .iter()
                            .find(|(u, _)| u == ns)
                            .map(|(_, p)| *p);
                        let p = match wanted {
                            Some(p) if scope.lookup(p).is_none() => Cow::Borrowed(p),
                            _ => loop {
                                let p = format!("ns{generated}");
                                generated += 1;
                                if scope.lookup(&p).is_none() {
                                    break Cow::Owned(p);
                                }
                            },
                        };
                        attrs.push_str(&p);
                        scope.prefixes.push((p, ns));
                    }
                }
                attrs.push(':');
            }
        }
        attrs.push_str(&a.name);
        attrs.push_str("=\"");
        escape_into(attrs, &a.value, true);
        attrs.push('"');
    }
    let declared = scope.prefixes.len() - mark;
    for i in 0..=declared {
        if default_at == Some(i) {
            out.push_str(" xmlns=\"");
            escape_into(out, scope.default_ns, true);
            out.push('"');
        }
        if let Some((p, u)) = scope.prefixes.get(mark + i).filter(|_| i < declared) {
            out.push_str(" xmlns:");
            out.push_str(p);
            out.push_str("=\"");
            escape_into(out, u, true);
            out.push('"');
        }
    }
    out.push_str(attrs);
    if el.children.is_empty() && fragments.is_empty() {
        out.push_str("/>");
    } else {
        out.push('>');
        for n in &el.children {
            match n {
                Node::Element(c) => write_element(c, out, scope, attrs, &[]),
                Node::Text(t) => escape_into(out, t, false),
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
    scope.prefixes.truncate(mark);
    scope.default_ns = outer_default;
}
