//! The reader: quick-xml events to an [`Element`] tree, refusing what the
//! module documentation lists, and (for a BOSH body) holding each child of
//! the root to [`StanzaLimits`], skipping one that goes over without
//! building it.

use std::borrow::Cow;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::{
    Attr, Document, Element, Exceeded, Limits, NS_XML, Node, Rejected, StanzaLimits, XmlError,
    shared_ns,
};

/// Attributes kept in a rejected stanza's head, to address an error back.
const HEAD_ATTRS: &[&str] = &["from", "to", "id", "type"];
/// Longest head attribute value kept (a JID is at most 3071 bytes).
const HEAD_VALUE_MAX: usize = 3072;

fn syntax(offset: u64, e: impl std::fmt::Display) -> XmlError {
    XmlError::Syntax {
        offset,
        detail: e.to_string(),
    }
}

fn resolve_ns(res: ResolveResult<'_>, offset: u64) -> Result<Option<&str>, XmlError> {
    match res {
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Bound(ns) => Ok(Some(ns.into_inner())),
        ResolveResult::Unknown(p) => Err(XmlError::UnknownPrefix { prefix: p, offset }),
    }
}

fn open_element(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    offset: u64,
) -> Result<Element, XmlError> {
    let (res, local) = reader.resolver().resolve_element(start.name());
    let ns = match res {
        ResolveResult::Unbound => Cow::Borrowed(""),
        ResolveResult::Bound(ns) => shared_ns(ns.into_inner()),
        ResolveResult::Unknown(p) => return Err(XmlError::UnknownPrefix { prefix: p, offset }),
    };
    let mut el = Element {
        name: local.into_inner().to_owned(),
        ns,
        prefix: None,
        attrs: Vec::new(),
        decls: Vec::new(),
        children: Vec::new(),
    };
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
            Some(Cow::Borrowed(NS_XML))
        } else {
            resolve_ns(res, offset)?.map(shared_ns)
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
    Ok(el)
}

/// A start tag read leniently for a rejected stanza's head: whatever cannot
/// be resolved is left out rather than failing the document.
fn head_from_start(reader: &NsReader<&[u8]>, start: &BytesStart<'_>) -> Element {
    let (res, local) = reader.resolver().resolve_element(start.name());
    let ns = match res {
        ResolveResult::Bound(ns) => ns.into_inner().to_owned(),
        _ => String::new(),
    };
    let mut el = Element::new(&ns, local.into_inner());
    for a in start.attributes().flatten() {
        if a.key.prefix().is_some() {
            continue;
        }
        let name = a.key.local_name().into_inner().to_owned();
        if let Ok(v) = a.normalized_value(XmlVersion::Implicit1_0) {
            keep_head_attr(&mut el, &name, &v);
        }
    }
    el
}

/// The head of a stanza already (partly) built.
fn head_of(el: &Element) -> Element {
    let mut h = Element::new(&el.ns, &el.name);
    for a in el.attrs.iter().filter(|a| a.ns.is_none()) {
        keep_head_attr(&mut h, &a.name, &a.value);
    }
    h
}

fn keep_head_attr(h: &mut Element, name: &str, value: &str) {
    if HEAD_ATTRS.contains(&name) && value.len() <= HEAD_VALUE_MAX && h.get_attr(name).is_none() {
        h.set_attr(name, value);
    }
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

/// A stanza being skipped after it went over a limit.
struct Skip {
    /// Its elements still open.
    open: usize,
    rejected: Rejected,
}

/// The stanza being read (a child of the root), in document mode.
struct Current {
    start: u64,
    index: usize,
    elements: usize,
}

/// Parses `input`; with `stanza` limits, children of the root over a limit
/// are skipped and reported instead of failing the document.
pub(super) fn parse(
    input: &str,
    limits: &Limits,
    stanza: Option<&StanzaLimits>,
) -> Result<Document, XmlError> {
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
    let mut rejected: Vec<Rejected> = Vec::new();
    let mut skip: Option<Skip> = None;
    let mut current: Option<Current> = None;
    let mut children = 0usize;
    loop {
        let offset = reader.buffer_position();
        let ev = reader.read_event().map_err(|e| syntax(offset, e))?;
        let end = reader.buffer_position();
        if let Some(s) = skip.as_mut() {
            // Only well-formedness matters here (quick-xml checks end names).
            match ev {
                Event::Start(_) => s.open += 1,
                Event::End(_) => {
                    s.open = s.open.saturating_sub(1);
                    if s.open == 0
                        && let Some(s) = skip.take()
                    {
                        rejected.push(s.rejected);
                    }
                }
                Event::DocType(_) => return Err(XmlError::Doctype { offset }),
                Event::Eof => return Err(syntax(offset, "unexpected end of document")),
                _ => {}
            }
            continue;
        }
        match ev {
            Event::Start(ref s) | Event::Empty(ref s) => {
                if root.is_some() {
                    return Err(XmlError::TrailingContent { offset });
                }
                let is_start = matches!(ev, Event::Start(_));
                match stanza {
                    Some(lim) if !stack.is_empty() => {
                        if stack.len() == 1 {
                            current = Some(Current {
                                start: offset,
                                index: children,
                                elements: 0,
                            });
                            children += 1;
                        }
                        let Some(cur) = current.as_mut() else {
                            return Err(syntax(offset, "stanza state lost"));
                        };
                        cur.elements += 1;
                        let exceeded = if stack.len() > lim.max_depth {
                            Some(Exceeded::Depth {
                                limit: lim.max_depth,
                            })
                        } else if end - cur.start > lim.max_bytes as u64 {
                            Some(Exceeded::Bytes {
                                limit: lim.max_bytes,
                            })
                        } else if cur.elements > lim.max_elements {
                            Some(Exceeded::Elements {
                                limit: lim.max_elements,
                            })
                        } else if s.attributes().count() > lim.max_attrs {
                            Some(Exceeded::Attributes {
                                limit: lim.max_attrs,
                            })
                        } else {
                            None
                        };
                        if let Some(exceeded) = exceeded {
                            let head = match stack.get(1) {
                                Some(st) => head_of(st),
                                None => head_from_start(&reader, s),
                            };
                            // Elements of the stanza still open, this one included.
                            let open = stack.len() - 1 + usize::from(is_start);
                            stack.truncate(1);
                            let r = Rejected {
                                index: cur.index,
                                head,
                                exceeded,
                            };
                            current = None;
                            if open == 0 {
                                rejected.push(r);
                            } else {
                                skip = Some(Skip { open, rejected: r });
                            }
                            continue;
                        }
                    }
                    _ => {
                        if stack.len() >= limits.max_depth {
                            return Err(XmlError::TooDeep {
                                limit: limits.max_depth,
                                offset,
                            });
                        }
                    }
                }
                let el = open_element(&reader, s, offset)?;
                if is_start {
                    stack.push(el);
                } else {
                    if stack.len() == 1 {
                        current = None;
                    }
                    match stack.last_mut() {
                        Some(top) => top.children.push(Node::Element(el)),
                        None => root = Some(el),
                    }
                }
            }
            Event::End(_) => {
                let Some(el) = stack.pop() else {
                    return Err(syntax(offset, "unexpected end tag"));
                };
                if stack.len() == 1
                    && let Some(cur) = current.take()
                    && let Some(lim) = stanza
                    && end - cur.start > lim.max_bytes as u64
                {
                    rejected.push(Rejected {
                        index: cur.index,
                        head: head_of(&el),
                        exceeded: Exceeded::Bytes {
                            limit: lim.max_bytes,
                        },
                    });
                    continue;
                }
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
                if over_bytes(stanza, &mut stack, &mut current, &mut skip, end) {
                    continue;
                }
                append_text(&mut stack, t.xml10_content());
            }
            Event::CData(c) => {
                if stack.is_empty() {
                    return Err(syntax(offset, "CDATA outside the root element"));
                }
                if over_bytes(stanza, &mut stack, &mut current, &mut skip, end) {
                    continue;
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
                if over_bytes(stanza, &mut stack, &mut current, &mut skip, end) {
                    continue;
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
                return match root {
                    Some(root) => Ok(Document { root, rejected }),
                    None => Err(XmlError::NoRoot),
                };
            }
        }
    }
}

/// Text inside a stanza that took it over its byte limit: the stanza is
/// dropped and skipped to its end. True if so.
fn over_bytes(
    stanza: Option<&StanzaLimits>,
    stack: &mut Vec<Element>,
    current: &mut Option<Current>,
    skip: &mut Option<Skip>,
    end: u64,
) -> bool {
    let (Some(lim), Some(cur)) = (stanza, current.as_ref()) else {
        return false;
    };
    if stack.len() < 2 || end - cur.start <= lim.max_bytes as u64 {
        return false;
    }
    let head = head_of(&stack[1]);
    let open = stack.len() - 1;
    stack.truncate(1);
    *skip = Some(Skip {
        open,
        rejected: Rejected {
            index: cur.index,
            head,
            exceeded: Exceeded::Bytes {
                limit: lim.max_bytes,
            },
        },
    });
    *current = None;
    true
}
