//! Property tests (issue 8 fuzzing) of SOAP request parsing: arbitrary text inside and
//! instead of an envelope, and structured-random envelopes for every operation, never panic;
//! item caps hold; error answers stay small. Bounded: `PROPTEST_CASES` cases (default 256),
//! inputs of a few hundred items at most, each case under a time guard.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use crate::soap::*;
use crate::xmpp::xml::{Element, Limits};

pub(crate) use crate::fuzzing::config;

/// Hang guard: parsing one envelope takes milliseconds; over two seconds is a hang.
pub(crate) fn quick<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{what} took {:?}",
        start.elapsed()
    );
    out
}

/// The operations with item lists.
const ITEM_OPS: [&str; 5] = ["Read", "Write", "List", "Get", "InvokeCmd"];

fn op_name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => proptest::sample::select(ITEM_OPS.to_vec()).prop_map(str::to_owned),
        2 => Just("SystemService_Read_Info".to_owned()),
        1 => proptest::sample::select(vec!["Set", "Delete", "Clear", "read", "X"]).prop_map(str::to_owned),
        1 => "[A-Za-z]{4100,6000}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9 /_.\\[\\]-]{0,40}",
        "\\PC{0,40}",
        Just("Net/LON/iLON App/Digital Output 1/nviClaValue_1".to_owned()),
        Just("Net/LON/iLON App/VirtFb/temp".to_owned()),
        Just(String::new()),
    ]
}

fn item_type() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        Just("Dp_Data".to_owned()),
        Just("Dp_Cfg".to_owned()),
        Just("Dp_ResetPrio_Invoke".to_owned()),
        Just("ilon:Dp_Data".to_owned()),
        "[A-Za-z_:]{0,12}",
    ])
}

fn lon_format() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        Just("#0000000000000000[0].SNVT_switch".to_owned()),
        Just("SNVT_switch.value".to_owned()),
        Just("SNVT_switch.state".to_owned()),
        Just("UCPTvalueDef".to_owned()),
        Just("RAW_HEX".to_owned()),
        Just("SNVT_temp".to_owned()),
        "[A-Za-z_#.\\[\\]0-9]{0,30}",
    ])
}

fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("100.0 1".to_owned()),
        Just("ON".to_owned()),
        Just("21.0".to_owned()),
        "[-0-9. ]{0,12}",
        "[0-9A-F]{0,40}",
        "\\PC{0,40}",
    ]
}

fn number_text() -> impl Strategy<Value = String> {
    prop_oneof!["[0-9]{1,4}", "-?[0-9.e]{0,8}", "\\PC{0,8}"]
}

prop_compose! {
    fn item()(
        name in proptest::option::of(text()),
        ty in item_type(),
        values in proptest::collection::vec((value_text(), lon_format()), 0..3),
        priority in proptest::option::of(number_text()),
        max_age in proptest::option::of(number_text()),
        propagate in proptest::option::of(prop_oneof![Just("0".to_owned()), Just("1".to_owned()), number_text()]),
        status in proptest::option::of(text()),
    ) -> Element {
        let mut el = Element::new(ns::ILON, "Item");
        if let Some(t) = ty {
            el = el.attr_ns(ns::XSI, "type", t);
        }
        if let Some(n) = name {
            el = el.text_child("UCPTname", n);
        }
        for (text, fmt) in values {
            let mut v = Element::new(ns::ILON, "UCPTvalue").text(text);
            if let Some(f) = fmt {
                v = v.attr("LonFormat", f);
            }
            el = el.child(v);
        }
        for (tag, v) in [("UCPTpriority", priority), ("UCPTmaxAge", max_age), ("UCPTpropagate", propagate), ("UCPTpointStatus", status)] {
            if let Some(v) = v {
                el = el.text_child(tag, v);
            }
        }
        el
    }
}

fn select() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        Just(r#"//Item[@xsi:type="Dp_Cfg"]"#.to_owned()),
        Just(r#"//Item[@xsi:type="Dp_Cfg"][starts-with(UCPTname,"Net/LON")]"#.to_owned()),
        Just(r#"//Item[contains(UCPTaliasName,"nvi")][position()<50]"#.to_owned()),
        "[/@\\[\\]()\"=<>a-zA-Z_:,. -]{0,60}",
    ])
}

/// The `SystemService_Read_Info` content: inline types or the escaped `<Data>` string.
fn system_info() -> impl Strategy<Value = Element> {
    let types = proptest::collection::vec(
        prop_oneof![
            Just("SI_TIME".to_owned()),
            Just("SI_NETWORK".to_owned()),
            Just("SI_RTR".to_owned()),
            "\\PC{0,12}"
        ],
        0..120,
    );
    (types, any::<bool>()).prop_map(|(types, inline)| {
        let mut doc = Element::new(if inline { ns::ILON } else { "" }, "iLONSystemService");
        for t in types {
            doc = doc.text_child("UCPTsystemInfoType", t);
        }
        let op = Element::new(ns::ILON, "SystemService_Read_Info");
        if inline {
            op.child(doc)
        } else {
            op.text_child("Data", doc.to_xml())
        }
    })
}

prop_compose! {
    /// A structured-random operation element: real operation names, up to 130 items (past
    /// the cap), real and broken field values.
    pub(crate) fn operation()(
        name in op_name(),
        other_ns in proptest::bool::weighted(0.05),
        has_ilon_item in proptest::bool::weighted(0.95),
        select in select(),
        items in prop_oneof![
            3 => proptest::collection::vec(item(), 0..8),
            1 => proptest::collection::vec(item(), 95..130),
        ],
        sys in system_info(),
    ) -> Element {
        if name == "SystemService_Read_Info" && !other_ns {
            return sys;
        }
        let long_ns = format!("urn:{}", name.repeat(4));
        let op_ns = if other_ns { long_ns.as_str() } else { ns::ILON };
        let mut op = Element::new(op_ns, &name);
        if has_ilon_item {
            let mut ilon_item = Element::new(ns::ILON, "iLonItem");
            if let Some(s) = select {
                ilon_item = ilon_item.text_child("xSelect", s);
            }
            for it in items {
                ilon_item = ilon_item.child(it);
            }
            op = op.child(ilon_item);
        }
        op
    }
}

/// A whole envelope around a random operation, as text (so it goes through the XML reader).
pub(crate) fn envelope() -> impl Strategy<Value = String> {
    operation().prop_map(|op| {
        let env = Element::new(ns::SOAP_ENV, "Envelope")
            .with_prefix("e")
            .child(Element::new(ns::SOAP_ENV, "Header").with_prefix("e"))
            .child(
                Element::new(ns::SOAP_ENV, "Body")
                    .with_prefix("e")
                    .child(op),
            );
        env.to_xml()
    })
}

/// How many `<Item>`s an operation element carries.
fn item_count(env: &Element) -> usize {
    env.get_child_local("Body")
        .and_then(|b| b.children().next())
        .and_then(|op| op.get_child_local("iLonItem"))
        .map_or(0, |i| i.children().filter(|c| c.name() == "Item").count())
}

fn answer_is_small(e: &SoapError) -> Result<(), TestCaseError> {
    let len = e.to_response(&MessageProperties::default()).to_xml().len();
    prop_assert!(len < 4096, "error answer of {len} bytes for {e}");
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn structured_envelopes_never_panic_and_respect_the_cap(text in envelope()) {
        let env = Element::parse(&text, &Limits::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let count = item_count(&env);
        match quick("parse_request", || parse_request(&env)) {
            Ok(req) => {
                let n = match &req.op {
                    Op::Read(v) | Op::Get(v) => v.len(),
                    Op::Write(v) => v.len(),
                    Op::InvokeCmd(v) => v.len(),
                    Op::List(ListQuery::Items(v)) => v.len(),
                    Op::List(ListQuery::Select(_)) => 0,
                    Op::SystemInfo(q) => q.types.len(),
                };
                prop_assert!(n <= MAX_ITEMS);
                prop_assert!(count <= MAX_ITEMS, "{count} items accepted");
            }
            Err(e) => {
                if count > MAX_ITEMS {
                    prop_assert!(matches!(e, SoapError::TooManyItems { .. } | SoapError::UnknownOperation { .. } | SoapError::Malformed { .. } | SoapError::UnsupportedSelect { .. }), "{e}");
                }
                answer_is_small(&e)?;
            }
        }
    }

    #[test]
    fn arbitrary_text_in_an_operation_never_panics(op in op_name(), inner in "\\PC{0,400}") {
        let text = format!(
            "<e:Envelope xmlns:e='{}'><e:Body><{op} xmlns='{}'><iLonItem>{inner}</iLonItem></{op}></e:Body></e:Envelope>",
            ns::SOAP_ENV, ns::ILON
        );
        if let Ok(env) = Element::parse(&text, &Limits::default())
            && let Err(e) = quick("parse_request", || parse_request(&env))
        {
            answer_is_small(&e)?;
        }
    }

    #[test]
    fn arbitrary_documents_never_panic(text in prop_oneof!["\\PC{0,300}", "<[a-zA-Z:]{1,10}( [a-z:]{1,6}='[^'<&]{0,10}')*>\\PC{0,100}"]) {
        if let Ok(env) = Element::parse(&text, &Limits::default())
            && let Err(e) = quick("parse_request", || parse_request(&env))
        {
            answer_is_small(&e)?;
        }
    }
}
