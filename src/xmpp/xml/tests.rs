//! Unit tests of the XML reader and writer.
use super::*;

fn p(s: &str) -> Result<Element, XmlError> {
    Element::parse(s, &Limits::default())
}

#[test]
fn parse_resolves_namespaces_whatever_the_prefix() {
    let a = p("<s:Envelope xmlns:s='urn:x'><s:Body><Read xmlns='urn:m'/></s:Body></s:Envelope>")
        .unwrap();
    let b = p("<Envelope xmlns='urn:x'><Body><m:Read xmlns:m='urn:m'/></Body></Envelope>").unwrap();
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
    assert!(matches!(p("<x:a/>"), Err(XmlError::UnknownPrefix { prefix, .. }) if prefix == "x"));
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
    let frag = st.to_xml_fragment();
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

// ------------------------------------------------------- per-stanza limits ---

const BODY: &str = "<body xmlns='http://jabber.org/protocol/httpbind'>";

fn small() -> StanzaLimits {
    StanzaLimits {
        max_bytes: 200,
        max_depth: 3,
        max_attrs: 4,
        max_elements: 6,
    }
}

fn doc(inner: &str) -> Result<Document, XmlError> {
    Element::parse_document(
        &format!("{BODY}{inner}</body>"),
        &Limits::default(),
        &small(),
    )
}

fn kept_ids(d: &Document) -> Vec<&str> {
    d.root.children().filter_map(|c| c.get_attr("id")).collect()
}

#[test]
fn a_stanza_over_a_limit_is_left_out_and_the_others_are_kept() {
    let d = doc("<message xmlns='jabber:client' id='1'/>\
         <iq xmlns='jabber:client' id='2' type='set' from='evil@d/x'><a><b><c><d/></c></b></a></iq>\
         <message xmlns='jabber:client' id='3'><a><b/></a></message>")
    .unwrap();
    assert_eq!(kept_ids(&d), vec!["1", "3"]);
    assert_eq!(d.rejected.len(), 1);
    let r = &d.rejected[0];
    assert_eq!(r.index, 1);
    assert_eq!(r.exceeded, Exceeded::Depth { limit: 3 });
    assert!(r.head.is("jabber:client", "iq"));
    assert_eq!(r.head.get_attr("id"), Some("2"));
    assert_eq!(r.head.get_attr("from"), Some("evil@d/x"));
    assert_eq!(r.head.get_attr("type"), Some("set"));
    assert_eq!(r.head.nodes().len(), 0, "the head has no children");
}

#[test]
fn depth_counts_from_the_stanza_not_from_the_body() {
    // Three levels inside the body are fine with max_depth 3.
    let d = doc("<m xmlns='j' id='1'><a><b/></a></m>").unwrap();
    assert_eq!(kept_ids(&d), vec!["1"]);
    assert!(d.rejected.is_empty());
    // The same stanza 100 levels deep: only the stanza goes, whatever the body's limit.
    let deep = format!(
        "<m xmlns='j' id='2'>{}{}</m>",
        "<a>".repeat(100),
        "</a>".repeat(100)
    );
    let d = doc(&format!("{deep}<m xmlns='j' id='3'/>")).unwrap();
    assert_eq!(kept_ids(&d), vec!["3"]);
    assert_eq!(d.rejected[0].exceeded, Exceeded::Depth { limit: 3 });
}

#[test]
fn size_attribute_and_element_limits_apply_per_stanza() {
    let big = format!("<m xmlns='j' id='b'>{}</m>", "x".repeat(300));
    let attrs = "<m xmlns='j' id='a' a='1' b='2' c='3' d='4'/>";
    let many = format!("<m xmlns='j' id='e'>{}</m>", "<i/>".repeat(6));
    let huge_tag = format!("<m xmlns='j' id='t' x='{}'/>", "y".repeat(300));
    let d = doc(&format!(
        "{big}<m xmlns='j' id='1'/>{attrs}{many}{huge_tag}<m xmlns='j' id='2'/>"
    ))
    .unwrap();
    assert_eq!(kept_ids(&d), vec!["1", "2"]);
    let got: Vec<(usize, Exceeded, Option<&str>)> = d
        .rejected
        .iter()
        .map(|r| (r.index, r.exceeded, r.head.get_attr("id")))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, Exceeded::Bytes { limit: 200 }, Some("b")),
            (2, Exceeded::Attributes { limit: 4 }, Some("a")),
            (3, Exceeded::Elements { limit: 6 }, Some("e")),
            (4, Exceeded::Bytes { limit: 200 }, Some("t")),
        ]
    );
}

#[test]
fn head_attributes_too_long_to_echo_are_dropped() {
    let id = "i".repeat(4000);
    let d = doc(&format!(
        "<m xmlns='j' id='{id}' from='a@b/c'>{}</m>",
        "<a>".repeat(5) + &"</a>".repeat(5)
    ));
    let limits = StanzaLimits {
        max_bytes: 100_000,
        ..small()
    };
    let d2 = Element::parse_document(
        &format!(
            "{BODY}<m xmlns='j' id='{id}' from='a@b/c'>{}</m></body>",
            "<a>".repeat(5) + &"</a>".repeat(5)
        ),
        &Limits::default(),
        &limits,
    )
    .unwrap();
    assert!(d.is_ok());
    assert_eq!(d2.rejected[0].head.get_attr("id"), None);
    assert_eq!(d2.rejected[0].head.get_attr("from"), Some("a@b/c"));
}

#[test]
fn malformed_xml_inside_a_skipped_stanza_still_fails_the_body() {
    let deep = format!("<m xmlns='j'>{}</b></m>", "<a>".repeat(10));
    assert!(matches!(doc(&deep), Err(XmlError::Syntax { .. })));
    let unclosed = format!("{BODY}<m xmlns='j'>{}", "<a>".repeat(10));
    assert!(matches!(
        Element::parse_document(&unclosed, &Limits::default(), &small()),
        Err(XmlError::Syntax { .. })
    ));
}

#[test]
fn the_body_byte_limit_still_applies_to_the_whole_body() {
    let limits = Limits {
        max_bytes: 64,
        max_depth: 64,
    };
    let text = format!("{BODY}<m xmlns='j'/><m xmlns='j'/></body>");
    assert!(matches!(
        Element::parse_document(&text, &limits, &small()),
        Err(XmlError::TooLarge { .. })
    ));
}

/// Found by `prop_tests::serialised_trees_read_back_equal`: `<a/>` in no
/// namespace, wrapped in a body, was read back in the body's namespace.
#[test]
fn regression_a_fragment_in_no_namespace_stays_in_no_namespace() {
    let st = Element::new("", "a");
    let frag = st.to_xml_fragment();
    assert_eq!(frag, "<a xmlns=\"\"/>");
    let body = Element::new("http://jabber.org/protocol/httpbind", "body");
    let back = p(&body.to_xml_wrapping(&[&frag])).unwrap();
    assert_eq!(back.children().collect::<Vec<_>>(), vec![&st]);
    // A stanza in jabber:client serialises as before.
    let m = Element::new("jabber:client", "message");
    assert_eq!(m.to_xml_fragment(), m.to_xml());
}

#[test]
fn text_ref_borrows_a_single_text_and_joins_several() {
    let one = Element::parse("<a>x &amp; y</a>", &Limits::default()).unwrap();
    assert!(matches!(one.text_ref(), Cow::Borrowed("x & y")));
    let split = Element::parse("<a>x<b>in</b>y</a>", &Limits::default()).unwrap();
    assert_eq!(split.text_ref(), "xy");
    assert_eq!(split.text_ref(), split.text_content());
    let none = Element::parse("<a><b/></a>", &Limits::default()).unwrap();
    assert_eq!(none.text_ref(), "");
}
