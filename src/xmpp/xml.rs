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

mod read;
mod write;

use write::{Scope, UNKNOWN_DEFAULT_NS, write_element};

/// The namespace bound to the `xml` prefix by the XML Namespaces spec.
pub const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

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

/// Namespaces nearly every element (or namespaced attribute: `xsi:type` on every SOAP item)
/// of a SOAP envelope, stanza or BOSH body is in, the most frequent first: an element or
/// attribute in one of them points at the static string instead of holding its own copy (one
/// allocation less per element read or built).
const SHARED_NS: &[&str] = &[
    "http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/",
    "",
    "http://schemas.xmlsoap.org/soap/envelope/",
    "jabber:client",
    "urn:webbinder:replication:1",
    "http://jabber.org/protocol/httpbind",
    "http://www.w3.org/2001/XMLSchema-instance",
    NS_XML,
];

fn shared_ns(ns: &str) -> Cow<'static, str> {
    match SHARED_NS.iter().find(|s| **s == ns) {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(ns.to_owned()),
    }
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

/// Limits on each child of a document's root (each stanza of a BOSH body).
///
/// Why per stanza: a body wraps stanzas from many senders; one hostile
/// stanza must cost only itself, never the body (and so the session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StanzaLimits {
    /// Largest stanza, in bytes of its XML text.
    pub max_bytes: usize,
    /// Deepest nesting inside a stanza (the stanza element is depth 1).
    pub max_depth: usize,
    /// Most attributes on one element (namespace declarations included).
    pub max_attrs: usize,
    /// Most elements in one stanza (it included).
    pub max_elements: usize,
}

impl Default for StanzaLimits {
    /// 16 MiB (the largest stanza our server scripts allow), 64 levels (a
    /// SOAP Write is 7 deep), 64 attributes, 200,000 elements (a 100-item
    /// Write has about 600).
    fn default() -> Self {
        StanzaLimits {
            max_bytes: 16 * 1024 * 1024,
            max_depth: 64,
            max_attrs: 64,
            max_elements: 200_000,
        }
    }
}

/// The limit a stanza went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    #[error("size over {limit} bytes")]
    Bytes { limit: usize },
    #[error("nesting depth over {limit} levels")]
    Depth { limit: usize },
    #[error("more than {limit} attributes on one element")]
    Attributes { limit: usize },
    #[error("more than {limit} elements")]
    Elements { limit: usize },
}

/// A child of the root left out for going over a [`StanzaLimits`] limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Its position among the root's element children, rejected ones included.
    pub index: usize,
    /// Its start tag only: name, namespace and the addressing attributes
    /// (`from`, `to`, `id`, `type`) short enough to echo in an error.
    pub head: Element,
    pub exceeded: Exceeded,
}

/// A parsed document whose root's children were held to [`StanzaLimits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The root, without the rejected children.
    pub root: Element,
    /// The rejected children, in document order.
    pub rejected: Vec<Rejected>,
}

/// An attribute with its resolved namespace (`None` for unprefixed ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub ns: Option<Cow<'static, str>>,
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
    ns: Cow<'static, str>,
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
            ns: shared_ns(ns),
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
                ns: ns.map(shared_ns),
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

    /// Concatenated text of the direct text children, borrowed when there is at most one
    /// (as the reader builds them: adjacent text is merged).
    pub fn text_ref(&self) -> Cow<'_, str> {
        let mut texts = self.children.iter().filter_map(|n| match n {
            Node::Text(t) => Some(t.as_str()),
            Node::Element(_) => None,
        });
        match (texts.next(), texts.next()) {
            (None, _) => Cow::Borrowed(""),
            (Some(t), None) => Cow::Borrowed(t),
            _ => Cow::Owned(self.text_content()),
        }
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
        read::parse(input, limits, None).map(|d| d.root)
    }

    /// Parses a document whose root wraps independent units (a BOSH `<body/>`
    /// and its stanzas): each child of the root is held to `stanza`, and one
    /// over a limit is left out of the tree and reported in
    /// [`Document::rejected`] instead of failing the whole document. Depth
    /// inside a child is counted from the child (`limits.max_depth` no longer
    /// applies there); malformed XML anywhere still fails the document.
    pub fn parse_document(
        input: &str,
        limits: &Limits,
        stanza: &StanzaLimits,
    ) -> Result<Document, XmlError> {
        read::parse(input, limits, Some(stanza))
    }

    /// Serialises with escaping; namespaces are declared where they change.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(256);
        write_element(self, &mut out, &mut Scope::new(""), &mut String::new(), &[]);
        out
    }

    /// Serialises to a fragment valid inside any parent: like [`Element::to_xml`],
    /// but an element in no namespace says `xmlns=""`, so a parent's default
    /// namespace cannot capture it (found by the round-trip property test).
    pub fn to_xml_fragment(&self) -> String {
        let mut out = String::with_capacity(256);
        let mut scope = Scope::new(UNKNOWN_DEFAULT_NS);
        write_element(self, &mut out, &mut scope, &mut String::new(), &[]);
        out
    }

    /// Serialises this (childless) element around `fragments`, each of which
    /// must be the output of [`Element::to_xml_fragment`]. Such output
    /// declares every namespace it uses, so it is valid in any parent: this
    /// lets a BOSH body carry stanzas serialised once, and retransmit
    /// identical bytes.
    pub fn to_xml_wrapping(&self, fragments: &[&str]) -> String {
        let len = fragments.iter().map(|f| f.len()).sum::<usize>();
        let mut out = String::with_capacity(256 + len);
        write_element(
            self,
            &mut out,
            &mut Scope::new(""),
            &mut String::new(),
            fragments,
        );
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

#[cfg(test)]
pub(crate) mod prop_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod write_tests;
