//! Small helpers shared by the codec files: element constructors in the i.LON namespace and
//! tolerant, namespace-agnostic child lookup (clients send `iLonItem` and its children
//! unqualified as often as qualified, notes/ilon-soap.md §10). No I/O.

use super::ns;
use crate::xmpp::xml::Element;

/// Longest piece of peer input quoted in an error or a faultstring.
const MAX_QUOTED_CHARS: usize = 64;

/// A new element `name` in the i.LON message namespace.
pub(crate) fn msg(name: &str) -> Element {
    Element::new(ns::ILON, name)
}

/// The first child with local name `name`, whatever its namespace.
pub(crate) fn child_local<'a>(el: &'a Element, name: &str) -> Option<&'a Element> {
    el.get_child_local(name)
}

/// All children with local name `name`, whatever their namespace, in document order.
pub(crate) fn children_local<'a>(
    el: &'a Element,
    name: &'a str,
) -> impl Iterator<Item = &'a Element> + 'a {
    el.children().filter(move |c| c.name() == name)
}

/// The element's direct text, without surrounding whitespace (pretty-printed input).
pub(crate) fn text_of(el: &Element) -> String {
    el.text_ref().trim().to_owned()
}

/// The trimmed text of the first child `name`, if present.
pub(crate) fn child_text(el: &Element, name: &str) -> Option<String> {
    child_local(el, name).map(text_of)
}

/// `s` cut to a bounded length (marked with `...`) so hostile input cannot flood a message.
pub(crate) fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_QUOTED_CHARS {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(MAX_QUOTED_CHARS).collect();
        format!("{cut}...")
    }
}

/// `s` in quotes, cut to a bounded length so hostile input cannot flood a message.
pub(crate) fn quote(s: &str) -> String {
    if s.chars().count() <= MAX_QUOTED_CHARS {
        format!("{s:?}")
    } else {
        let cut: String = s.chars().take(MAX_QUOTED_CHARS).collect();
        format!("{cut:?}...")
    }
}

/// A decimal as the SmartServer prints times and deltas: at least one fractional digit
/// (`0.0`, `120.0`, `2.5`).
pub(crate) fn format_decimal(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// `0`/`1` as the SmartServer writes booleans such as `UCPThidden`.
pub(crate) fn format_bool(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

/// Reads a `0`/`1`/`true`/`false` flag.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}
