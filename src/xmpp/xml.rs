//! One owned element tree for XMPP stanzas, BOSH bodies and SOAP envelopes.
//!
//! Parsing goes through quick-xml's namespace-aware reader: every element and
//! attribute carries its resolved namespace, whatever prefix the sender used.
//! Hostile input is refused up front: a DOCTYPE (and so any entity
//! declaration), entity references other than the five predefined ones and
//! character references, processing instructions, documents over a size
//! limit and nesting over a depth limit. Serialisation always escapes text and
//! attribute values, so no caller ever builds XML by concatenating strings.
//!
//! This module performs no I/O.

use std::borrow::Cow;
use std::fmt::Write as _;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// The namespace bound to the `xml` prefix by the XML Namespaces spec.
pub const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// Prefixes we prefer when we must declare a namespace for an attribute.
const KNOWN_PREFIXES: &[(&str, &str)] = &[
    ("urn:xmpp:xbosh", "xmpp"),
    ("http://www.w3.org/2001/XMLSchema-instance", "xsi"),
    ("http://www.w3.org/2001/XMLSchema", "xsd"),
    ("http://etherx.jabber.org/streams", "stream"),
];

/// Why a document was refused. `offset` is the byte position in the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("malformed xml at byte {offset}: {detail}")]
    Syntax { offset: u64, detail: String },
    #[error("xml with a DOCTYPE is refused (byte {offset}): entity declarations are not allowed")]
    Doctype { offset: u64 },
    #[error(
        "xml entity reference &{name}; is refused (byte {offset}): only the predefined entities are allowed"
    )]
    Entity { name: String, offset: u64 },
    #[error("xml processing instruction is refused (byte {offset})")]
    ProcessingInstruction { offset: u64 },
    #[error("xml document of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("xml nesting exceeds the limit of {limit} levels (byte {offset})")]
    TooDeep { limit: usize, offset: u64 },
    #[error("xml prefix {prefix:?} is not declared (byte {offset})")]
    UnknownPrefix { prefix: String, offset: u64 },
    #[error("xml document has no root element")]
    NoRoot,
    #[error("xml document has content after its root element (byte {offset})")]
    TrailingContent { offset: u64 },
}

/// Hard limits applied while parsing untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted document, in bytes.
    pub max_bytes: usize,
    /// Deepest accepted element nesting (the root is depth 1).
    pub max_depth: usize,
}

impl Default for Limits {
    /// 16 MiB and 64 levels: a BOSH body of 100 SOAP writes is far below both.
    fn default() -> Self {
        Limits {
            max_bytes: 16 * 1024 * 1024,
            max_depth: 64,
        }
    }
}

/// An attribute with its resolved namespace (`None` for unprefixed ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub ns: Option<String>,
    pub name: String,
    pub value: String,
}

/// A child of an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
}

/// An XML element: local name, namespace, attributes and children.
///
/// The optional `prefix` is only a wish for serialisation (so a SOAP reply can
/// say `soap:Envelope` like the SmartServer does); equality of meaning is by
/// namespace and local name, so `==` ignores prefixes and declarations.
#[derive(Debug, Clone)]
pub struct Element {
    name: String,
    ns: String,
    prefix: Option<String>,
    attrs: Vec<Attr>,
    decls: Vec<(String, String)>,
    children: Vec<Node>,
}

impl Element {
    /// A new element `name` in namespace `ns` (`""` for no namespace).
    pub fn new(ns: &str, name: &str) -> Element {
        Element {
            name: name.to_owned(),
            ns: ns.to_owned(),
            prefix: None,
            attrs: Vec::new(),
            decls: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Builder: serialise this element with `prefix:` instead of a default namespace.
    pub fn with_prefix(mut self, prefix: &str) -> Element {
        self.prefix = Some(prefix.to_owned());
        self
    }

    /// Builder: declare `xmlns:prefix="uri"` here (for QName-valued attributes like `xsi:type`).
    pub fn declare(mut self, prefix: &str, uri: &str) -> Element {
        self.decls.push((prefix.to_owned(), uri.to_owned()));
        self
    }

    /// Builder: set an unqualified attribute.
    pub fn attr(mut self, name: &str, value: impl Into<String>) -> Element {
        self.set_attr(name, value);
        self
    }

    /// Builder: set a namespaced attribute (e.g. `xmpp:restart`).
    pub fn attr_ns(mut self, ns: &str, name: &str, value: impl Into<String>) -> Element {
        self.set_attr_ns(Some(ns), name, value);
        self
    }

    /// Builder: append a child element.
    pub fn child(mut self, child: Element) -> Element {
        self.children.push(Node::Element(child));
        self
    }

    /// Builder: append text.
    pub fn text(mut self, text: impl Into<String>) -> Element {
        self.children.push(Node::Text(text.into()));
        self
    }

    /// Builder: a child `<name>text</name>` in this element's namespace and prefix.
    pub fn text_child(self, name: &str, text: impl Into<String>) -> Element {
        let mut c = Element::new(&self.ns, name).text(text);
        c.prefix = self.prefix.clone();
        self.child(c)
    }

    pub fn set_attr(&mut self, name: &str, value: impl Into<String>) {
        self.set_attr_ns(None, name, value);
    }

    pub fn set_attr_ns(&mut self, ns: Option<&str>, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .attrs
            .iter_mut()
            .find(|a| a.ns.as_deref() == ns && a.name == name)
        {
            Some(a) => a.value = value,
            None => self.attrs.push(Attr {
                ns: ns.map(str::to_owned),
                name: name.to_owned(),
                value,
            }),
        }
    }

    pub fn remove_attr(&mut self, name: &str) {
        self.attrs.retain(|a| !(a.ns.is_none() && a.name == name));
    }

    pub fn push(&mut self, child: Element) {
        self.children.push(Node::Element(child));
    }

    pub fn push_text(&mut self, text: impl Into<String>) {
        self.children.push(Node::Text(text.into()));
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn ns(&self) -> &str {
        &self.ns
    }

    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// True if this element is `name` in namespace `ns`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.name == name && self.ns == ns
    }

    /// The value of the unqualified attribute `name`.
    pub fn get_attr(&self, name: &str) -> Option<&str> {
        self.get_attr_ns(None, name)
    }

    /// The value of attribute `name` in namespace `ns` (`None`: unqualified).
    pub fn get_attr_ns(&self, ns: Option<&str>, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.as_deref() == ns && a.name == name)
            .map(|a| a.value.as_str())
    }

    pub fn attrs(&self) -> &[Attr] {
        &self.attrs
    }

    pub fn nodes(&self) -> &[Node] {
        &self.children
    }

    /// Child elements, in document order.
    pub fn children(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// Consumes the element, giving its child elements.
    pub fn into_children(self) -> impl Iterator<Item = Element> {
        self.children.into_iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child `name` in namespace `ns`.
    pub fn get_child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children().find(|c| c.is(ns, name))
    }

    /// The first child with local name `name`, whatever its namespace.
    pub fn get_child_local(&self, name: &str) -> Option<&Element> {
        self.children().find(|c| c.name == name)
    }

    /// Concatenated text of the direct text children.
    pub fn text_content(&self) -> String {
        let mut s = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                s.push_str(t);
            }
        }
        s
    }

    /// Parses one document (an optional XML declaration and one root element).
    pub fn parse(input: &str, limits: &Limits) -> Result<Element, XmlError> {
        parse(input, limits)
    }

    /// Serialises with escaping; namespaces are declared where they change.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(256);
        let mut scope = Scope::default();
        write_element(self, &mut out, &mut scope, &[]);
        out
    }

    /// Serialises this (childless) element around `fragments`, each of which
    /// must be the output of [`Element::to_xml`]. Such output declares every
    /// namespace it uses, so it is valid in any parent: this lets a BOSH body
    /// carry stanzas serialised once, and retransmit identical bytes.
    pub fn to_xml_wrapping(&self, fragments: &[&str]) -> String {
        let len = fragments.iter().map(|f| f.len()).sum::<usize>();
        let mut out = String::with_capacity(256 + len);
        let mut scope = Scope::default();
        write_element(self, &mut out, &mut scope, fragments);
        out
    }
}

impl PartialEq for Element {
    fn eq(&self, other: &Element) -> bool {
        self.name == other.name
            && self.ns == other.ns
            && self.attrs == other.attrs
            && self.children == other.children
    }
}

impl Eq for Element {}

impl std::fmt::Display for Element {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_xml())
    }
}

// ---------------------------------------------------------------- parsing ---

fn syntax(offset: u64, e: impl std::fmt::Display) -> XmlError {
    XmlError::Syntax {
        offset,
        detail: e.to_string(),
    }
}

fn resolve_ns(res: ResolveResult<'_>, offset: u64) -> Result<Option<String>, XmlError> {
    match res {
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Bound(ns) => Ok(Some(ns.into_inner().to_owned())),
        ResolveResult::Unknown(p) => Err(XmlError::UnknownPrefix { prefix: p, offset }),
    }
}

fn open_element(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    offset: u64,
) -> Result<Element, XmlError> {
    let (res, local) = reader.resolver().resolve_element(start.name());
    let ns = resolve_ns(res, offset)?.unwrap_or_default();
    let mut el = Element::new(&ns, local.into_inner());
    if let Some(p) = start.name().prefix() {
        el.prefix = Some(p.into_inner().to_owned());
    }
    for a in start.attributes() {
        let a = a.map_err(|e| syntax(offset, e))?;
        let key = a.key;
        if key.as_namespace_binding().is_some() {
            let prefix = match key.as_namespace_binding() {
                Some(quick_xml::name::PrefixDeclaration::Named(p)) => p.to_owned(),
                _ => continue,
            };
            let uri = a
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| syntax(offset, e))?;
            el.decls.push((prefix, uri.into_owned()));
            continue;
        }
        let (res, local) = reader.resolver().resolve_attribute(key);
        let ans = if key.prefix().is_some_and(|p| p.into_inner() == "xml") {
            Some(NS_XML.to_owned())
        } else {
            resolve_ns(res, offset)?
        };
        let value =
            a.normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| match e {
                    quick_xml::Error::Escape(
                        quick_xml::escape::EscapeError::UnrecognizedEntity(_, name),
                    ) => XmlError::Entity { name, offset },
                    other => syntax(offset, other),
                })?;
        el.attrs.push(Attr {
            ns: ans,
            name: local.into_inner().to_owned(),
            value: value.into_owned(),
        });
    }
    // Declarations were only needed for resolution while parsing; keep the
    // named ones so QName-valued attributes survive a round trip.
    Ok(el)
}

fn predefined_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

fn append_text(stack: &mut [Element], text: Cow<'_, str>) {
    if let Some(top) = stack.last_mut() {
        if let Some(Node::Text(t)) = top.children.last_mut() {
            t.push_str(&text);
        } else {
            top.children.push(Node::Text(text.into_owned()));
        }
    }
}

fn parse(input: &str, limits: &Limits) -> Result<Element, XmlError> {
    if input.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            size: input.len(),
            limit: limits.max_bytes,
        });
    }
    let mut reader = NsReader::from_str(input);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let offset = reader.buffer_position();
        let ev = reader.read_event().map_err(|e| syntax(offset, e))?;
        match ev {
            Event::Start(s) => {
                if root.is_some() {
                    return Err(XmlError::TrailingContent { offset });
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep {
                        limit: limits.max_depth,
                        offset,
                    });
                }
                let el = open_element(&reader, &s, offset)?;
                stack.push(el);
            }
            Event::Empty(s) => {
                if root.is_some() {
                    return Err(XmlError::TrailingContent { offset });
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep {
                        limit: limits.max_depth,
                        offset,
                    });
                }
                let el = open_element(&reader, &s, offset)?;
                match stack.last_mut() {
                    Some(top) => top.children.push(Node::Element(el)),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let Some(el) = stack.pop() else {
                    return Err(syntax(offset, "unexpected end tag"));
                };
                match stack.last_mut() {
                    Some(top) => top.children.push(Node::Element(el)),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                if stack.is_empty() {
                    if t.xml10_content().trim().is_empty() {
                        continue;
                    }
                    return Err(if root.is_some() {
                        XmlError::TrailingContent { offset }
                    } else {
                        syntax(offset, "text outside the root element")
                    });
                }
                append_text(&mut stack, t.xml10_content());
            }
            Event::CData(c) => {
                if stack.is_empty() {
                    return Err(syntax(offset, "CDATA outside the root element"));
                }
                let s = c.to_string();
                append_text(&mut stack, Cow::Owned(s));
            }
            Event::GeneralRef(r) => {
                let ch = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => c,
                        Ok(None) | Err(_) => {
                            return Err(syntax(offset, "invalid character reference"));
                        }
                    }
                } else {
                    let name = r.to_string();
                    match predefined_entity(&name) {
                        Some(c) => c,
                        None => return Err(XmlError::Entity { name, offset }),
                    }
                };
                if stack.is_empty() {
                    return Err(syntax(offset, "reference outside the root element"));
                }
                append_text(&mut stack, Cow::Owned(ch.to_string()));
            }
            Event::DocType(_) => return Err(XmlError::Doctype { offset }),
            Event::PI(_) => return Err(XmlError::ProcessingInstruction { offset }),
            Event::Decl(_) | Event::Comment(_) => {}
            Event::Eof => {
                if !stack.is_empty() {
                    return Err(syntax(offset, "unexpected end of document"));
                }
                return root.ok_or(XmlError::NoRoot);
            }
        }
    }
}

// ---------------------------------------------------------- serialisation ---

/// Namespace bindings in force while writing.
#[derive(Default, Clone)]
struct Scope {
    default_ns: String,
    prefixes: Vec<(String, String)>,
}

impl Scope {
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
fn escape_into(out: &mut String, s: &str, attr: bool) {
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

fn write_element(el: &Element, out: &mut String, parent: &mut Scope, fragments: &[&str]) {
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
            if scope.lookup(p) != Some(el.ns.as_str()) {
                scope.prefixes.push((p.clone(), el.ns.clone()));
                decls.push((Some(p.clone()), el.ns.clone()));
            }
            out.push_str(p);
            out.push(':');
        }
        _ => {
            if scope.default_ns != el.ns {
                scope.default_ns = el.ns.clone();
                decls.push((None, el.ns.clone()));
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
                        scope.prefixes.push((p.clone(), ns.clone()));
                        decls.push((Some(p.clone()), ns.clone()));
                        p
                    }
                };
                attr_text.push_str(&prefix);
                attr_text.push(':');
            }
        }
        attr_text.push_str(&a.name);
        attr_text.push_str("=\"");
        escape_into(&mut attr_text, &a.value, true);
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
        escape_into(out, u, true);
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
            Node::Element(c) => write_element(c, out, &mut scope, &[]),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Element, XmlError> {
        Element::parse(s, &Limits::default())
    }

    #[test]
    fn parse_resolves_namespaces_whatever_the_prefix() {
        let a =
            p("<s:Envelope xmlns:s='urn:x'><s:Body><Read xmlns='urn:m'/></s:Body></s:Envelope>")
                .unwrap();
        let b =
            p("<Envelope xmlns='urn:x'><Body><m:Read xmlns:m='urn:m'/></Body></Envelope>").unwrap();
        assert!(a.is("urn:x", "Envelope"));
        let read_a = a
            .get_child("urn:x", "Body")
            .unwrap()
            .get_child("urn:m", "Read");
        let read_b = b
            .get_child("urn:x", "Body")
            .unwrap()
            .get_child("urn:m", "Read");
        assert_eq!(read_a.map(Element::name), Some("Read"));
        assert_eq!(read_b.map(Element::name), Some("Read"));
    }

    #[test]
    fn parse_unescapes_text_and_attributes() {
        let e = p("<a x='1 &amp; 2 &lt; &#x33;'>&lt;b&gt; &amp; &#65;&quot;</a>").unwrap();
        assert_eq!(e.get_attr("x"), Some("1 & 2 < 3"));
        assert_eq!(e.text_content(), "<b> & A\"");
    }

    #[test]
    fn parse_reads_namespaced_attributes() {
        let e = p("<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0' xml:lang='en'/>").unwrap();
        assert_eq!(
            e.get_attr_ns(Some("urn:xmpp:xbosh"), "version"),
            Some("1.0")
        );
        assert_eq!(e.get_attr_ns(Some(NS_XML), "lang"), Some("en"));
        assert_eq!(e.get_attr("version"), None);
    }

    #[test]
    fn parse_rejects_doctype_with_entity_declaration() {
        let bomb = "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>]><a>&lol;</a>";
        assert!(matches!(p(bomb), Err(XmlError::Doctype { .. })));
    }

    #[test]
    fn parse_rejects_undeclared_entity() {
        assert_eq!(
            p("<a>&foo;</a>"),
            Err(XmlError::Entity {
                name: "foo".into(),
                offset: 3
            })
        );
        assert!(matches!(p("<a b='&foo;'/>"), Err(XmlError::Entity { name, .. }) if name == "foo"));
    }

    #[test]
    fn parse_rejects_processing_instruction() {
        assert!(matches!(
            p("<a><?php x ?></a>"),
            Err(XmlError::ProcessingInstruction { .. })
        ));
    }

    #[test]
    fn parse_rejects_oversized_document() {
        let limits = Limits {
            max_bytes: 10,
            max_depth: 4,
        };
        assert_eq!(
            Element::parse("<a>0123456789</a>", &limits),
            Err(XmlError::TooLarge {
                size: 17,
                limit: 10
            })
        );
    }

    #[test]
    fn parse_rejects_deep_nesting() {
        let limits = Limits {
            max_bytes: 1000,
            max_depth: 3,
        };
        assert!(Element::parse("<a><b><c/></b></a>", &limits).is_ok());
        assert!(matches!(
            Element::parse("<a><b><c><d/></c></b></a>", &limits),
            Err(XmlError::TooDeep { limit: 3, .. })
        ));
    }

    #[test]
    fn parse_rejects_malformed_and_unknown_prefix_and_trailing() {
        assert!(matches!(p("<a><b></a>"), Err(XmlError::Syntax { .. })));
        assert!(matches!(p("<a>"), Err(XmlError::Syntax { .. })));
        assert!(
            matches!(p("<x:a/>"), Err(XmlError::UnknownPrefix { prefix, .. }) if prefix == "x")
        );
        assert!(matches!(
            p("<a/><b/>"),
            Err(XmlError::TrailingContent { .. })
        ));
        assert_eq!(p("  "), Err(XmlError::NoRoot));
    }

    #[test]
    fn serialise_escapes_hostile_values() {
        let e = Element::new("jabber:client", "iq")
            .attr("id", "a'b\"c<&>")
            .child(Element::new("urn:x", "v").text("</v><evil/>&"));
        let s = e.to_xml();
        assert_eq!(
            s,
            "<iq xmlns=\"jabber:client\" id=\"a&apos;b&quot;c&lt;&amp;&gt;\"><v xmlns=\"urn:x\">&lt;/v&gt;&lt;evil/&gt;&amp;</v></iq>"
        );
        assert_eq!(p(&s).unwrap(), e);
    }

    #[test]
    fn serialise_declares_prefixes_once_and_round_trips() {
        let e = Element::new("urn:soap", "Envelope")
            .with_prefix("soap")
            .declare("xsi", "http://www.w3.org/2001/XMLSchema-instance")
            .child(Element::new("urn:soap", "Body").with_prefix("soap").child(
                Element::new("urn:m", "Item").attr_ns(
                    "http://www.w3.org/2001/XMLSchema-instance",
                    "type",
                    "Dp_Data",
                ),
            ));
        let s = e.to_xml();
        assert_eq!(
            s,
            "<soap:Envelope xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:soap=\"urn:soap\"><soap:Body><Item xmlns=\"urn:m\" xsi:type=\"Dp_Data\"/></soap:Body></soap:Envelope>"
        );
        assert_eq!(p(&s).unwrap(), e);
    }

    #[test]
    fn serialise_generates_prefix_for_attribute_namespace() {
        let e = Element::new("http://jabber.org/protocol/httpbind", "body")
            .attr_ns("urn:xmpp:xbosh", "restart", "true")
            .attr_ns(NS_XML, "lang", "en");
        assert_eq!(
            e.to_xml(),
            "<body xmlns=\"http://jabber.org/protocol/httpbind\" xmlns:xmpp=\"urn:xmpp:xbosh\" xmpp:restart=\"true\" xml:lang=\"en\"/>"
        );
    }

    #[test]
    fn serialised_fragments_stay_valid_inside_any_parent() {
        let st = Element::new("jabber:client", "message").text("hi");
        let frag = st.to_xml();
        let body = Element::new("http://jabber.org/protocol/httpbind", "body").attr("rid", "1");
        let s = body.to_xml_wrapping(&[&frag, &frag]);
        let back = p(&s).unwrap();
        assert_eq!(back.children().collect::<Vec<_>>(), vec![&st, &st]);
    }

    #[test]
    fn serialise_replaces_characters_xml_cannot_carry() {
        let e = Element::new("", "a").text("x\u{1}y");
        assert_eq!(e.to_xml(), "<a>x\u{FFFD}y</a>");
    }
}
