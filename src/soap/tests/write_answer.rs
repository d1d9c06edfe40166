//! The compact Write answer and `read_write_answer` (SPEC §5 "Several Writes in flight"):
//! exact shape, both forms read back, faults, and answers that cannot be matched to the
//! request.

use super::xml;
use crate::soap::*;
use crate::xmpp::xml::Element;

fn props() -> MessageProperties {
    MessageProperties {
        time_stamp: Some("2026-01-02T03:04:05.678+01:00".into()),
        unique_id: Some("0800001A7C62".into()),
        ..MessageProperties::default()
    }
}

fn seq(first: u64, last: u64) -> Seq {
    Seq {
        epoch: 9,
        first,
        last,
        prev: Some(first - 1),
    }
}

/// Through text, as the sender receives it.
fn wire(env: &Element) -> Element {
    xml(&env.to_xml())
}

fn compact(first: u64, last: u64, faults: Vec<(u64, ItemFault)>) -> Element {
    let r = CompactWriteResponse {
        seq: seq(first, last),
        faults,
    };
    wire(&Reply::CompactWrite(r).to_envelope(&props()))
}

fn data(name: &str) -> DpData {
    DpData {
        name: name.into(),
        values: vec![LonValue::new("21.5", "#0000000000000000[0].SNVT_temp_p")],
        ..DpData::default()
    }
}

fn delivered(refused: Vec<(usize, &str)>) -> WriteAnswer {
    WriteAnswer::Delivered {
        refused: refused
            .into_iter()
            .map(|(i, s)| (i, s.to_owned()))
            .collect(),
    }
}

#[test]
fn the_compact_answer_has_the_fault_count_the_faulted_items_and_the_echoed_seq() {
    let env = compact(
        40,
        44,
        vec![
            (41, ItemFault::unknown_name("T")),
            (43, ItemFault::unknown_name("T")),
        ],
    );
    let text = env.to_xml();
    assert!(
        text.contains(
            r#"<seq xmlns="urn:webbinder:replication:1" epoch="9" first="40" last="44" prev="39"/>"#
        ),
        "{text}"
    );
    let body = &text[text.find("<WriteResponse").unwrap()..];
    assert_eq!(
        body,
        concat!(
            r#"<WriteResponse xmlns:wb="urn:webbinder:replication:1" xmlns="http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/">"#,
            "<iLonItem><UCPTfaultCount>2</UCPTfaultCount>",
            r#"<Item wb:seq="41"><fault><faultcode faultType="_error">6</faultcode><faultstring xml:lang="en-US">Instance doesn't exist</faultstring></fault><UCPTname>T</UCPTname></Item>"#,
            r#"<Item wb:seq="43"><fault><faultcode faultType="_error">6</faultcode><faultstring xml:lang="en-US">Instance doesn't exist</faultstring></fault><UCPTname>T</UCPTname></Item>"#,
            "</iLonItem></WriteResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>"
        )
    );
    // The same target twice in the batch: told apart by seq, not by name.
    assert_eq!(
        read_write_answer(&env, 5, 40).unwrap(),
        delivered(vec![
            (1, "fault 6: Instance doesn't exist"),
            (3, "fault 6: Instance doesn't exist")
        ])
    );
}

#[test]
fn a_compact_answer_without_items_delivers_every_item() {
    let env = compact(1, 100, Vec::new());
    assert!(!env.to_xml().contains("<Item"));
    assert_eq!(read_write_answer(&env, 100, 1).unwrap(), delivered(vec![]));
}

#[test]
fn a_compact_warning_is_delivered_not_refused() {
    let warned = ItemFault::new(
        "T",
        Fault::warning(FaultCode::FormatError, "clamped to the range"),
    );
    let env = compact(5, 6, vec![(6, warned)]);
    assert_eq!(read_write_answer(&env, 2, 5).unwrap(), delivered(vec![]));
}

#[test]
fn the_smartserver_form_is_read_by_position() {
    let resp = WriteResponse {
        items: vec![
            ItemReply::Ok(data("A")),
            ItemReply::Fault(ItemFault::unknown_name("Nope")),
            ItemReply::Fault(ItemFault::new(
                "A",
                Fault::warning(FaultCode::FormatError, "warned"),
            )),
            ItemReply::Ok(data("A")),
        ],
    };
    let env = wire(&resp.to_envelope(&props()));
    assert_eq!(
        read_write_answer(&env, 4, 70).unwrap(),
        delivered(vec![(1, "fault 6: Instance doesn't exist")])
    );
    // An answer that does not answer every item cannot be matched: never a success.
    assert!(matches!(
        read_write_answer(&env, 5, 70),
        Err(SoapError::MalformedResponse { .. })
    ));
    assert!(matches!(
        read_write_answer(&env, 3, 70),
        Err(SoapError::MalformedResponse { .. })
    ));
}

#[test]
fn a_global_fault_refuses_every_item() {
    let env = GlobalFaultResponse {
        op: OpKind::Write,
        fault: Fault::error(FaultCode::ParameterError, "Parameter error: bad"),
    }
    .to_envelope(&props());
    assert_eq!(
        read_write_answer(&wire(&env), 3, 1).unwrap(),
        WriteAnswer::Refused("fault 2: Parameter error: bad".into())
    );
}

#[test]
fn soap_faults_are_a_gap_a_retry_or_a_refusal() {
    let gap = SoapFault::gap(
        "seq gap: applied 40 from a@b epoch 9, this batch follows 50",
        SeqGap {
            applied: 40,
            prev: 50,
        },
    );
    let text = gap.to_envelope().to_xml();
    assert!(
        text.contains(
            r#"<faultcode>SOAP-ENV:Server</faultcode><faultstring>seq gap: applied 40 from a@b epoch 9, this batch follows 50</faultstring><detail><gap xmlns="urn:webbinder:replication:1" applied="40" prev="50"/></detail>"#
        ),
        "{text}"
    );
    assert_eq!(
        read_write_answer(&wire(&gap.to_envelope()), 3, 51).unwrap(),
        WriteAnswer::Gap {
            applied: 40,
            prev: 50
        }
    );
    let server = SoapFault::server("store unavailable", Some("disk full".into()));
    assert_eq!(
        read_write_answer(&wire(&server.to_envelope()), 3, 1).unwrap(),
        WriteAnswer::Retry("store unavailable".into())
    );
    let client = SoapFault::client("seq 1..5 cannot number 3 items", None);
    assert_eq!(
        read_write_answer(&wire(&client.to_envelope()), 3, 1).unwrap(),
        WriteAnswer::Refused("seq 1..5 cannot number 3 items".into())
    );
}

#[test]
fn foreign_fault_codes_are_read_by_their_class() {
    let fault = |code: &str, detail: &str| {
        xml(&format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>{code}</faultcode><faultstring>why</faultstring>{detail}</s:Fault></s:Body></s:Envelope>"#
        ))
    };
    let read = |code: &str, detail: &str| read_write_answer(&fault(code, detail), 1, 1).unwrap();
    assert_eq!(read("s:Server.Busy", ""), WriteAnswer::Retry("why".into()));
    assert_eq!(read("Client", ""), WriteAnswer::Refused("why".into()));
    // The i.LON manual's bare number: refused, as before.
    assert_eq!(read("1", ""), WriteAnswer::Refused("why (1)".into()));
    // A gap element without its numbers is only a retryable fault.
    let half = r#"<detail><gap xmlns="urn:webbinder:replication:1" applied="4"/></detail>"#;
    assert_eq!(read("s:Server", half), WriteAnswer::Retry("why".into()));
}

#[test]
fn compact_answers_that_cannot_be_matched_to_the_request_are_errors() {
    let malformed = |env: &Element, items: usize, first: u64| {
        matches!(
            read_write_answer(env, items, first),
            Err(SoapError::MalformedResponse { .. })
        )
    };
    let one = vec![(41, ItemFault::unknown_name("T"))];
    // Another batch's answer.
    assert!(malformed(&compact(40, 44, Vec::new()), 5, 41));
    assert!(malformed(&compact(40, 44, Vec::new()), 4, 40));
    // An item outside the batch, twice the same item, out of order.
    assert!(malformed(
        &compact(40, 44, vec![(45, ItemFault::unknown_name("T"))]),
        5,
        40
    ));
    assert!(malformed(
        &compact(40, 44, vec![(39, ItemFault::unknown_name("T"))]),
        5,
        40
    ));
    let twice = vec![one[0].clone(), one[0].clone()];
    assert!(malformed(&compact(40, 44, twice), 5, 40));
    let swapped = vec![(43, ItemFault::unknown_name("T")), one[0].clone()];
    assert!(malformed(&compact(40, 44, swapped), 5, 40));
    // An item without its seq, a count that does not match the items, an item without a fault.
    let env = compact(40, 44, one).to_xml();
    assert!(malformed(&xml(&env.replace(r#" wb:seq="41""#, "")), 5, 40));
    let miscounted = env.replace(
        "<UCPTfaultCount>1</UCPTfaultCount>",
        "<UCPTfaultCount>2</UCPTfaultCount>",
    );
    assert!(malformed(&xml(&miscounted), 5, 40));
    let start = env.find("<fault>").unwrap();
    let end = env.find("</fault>").unwrap() + "</fault>".len();
    let faultless = format!("{}{}", &env[..start], &env[end..]);
    let faultless = faultless.replace(
        "<UCPTfaultCount>1</UCPTfaultCount>",
        "<UCPTfaultCount>0</UCPTfaultCount>",
    );
    assert!(malformed(&xml(&faultless), 5, 40));
}

#[test]
fn other_answers_are_errors() {
    let read = ReadResponse {
        items: vec![ItemReply::Ok(data("A"))],
    };
    assert!(matches!(
        read_write_answer(&wire(&read.to_envelope(&props())), 1, 1),
        Err(SoapError::MalformedResponse { .. })
    ));
    assert!(matches!(
        read_write_answer(&xml("<iq xmlns='jabber:client'/>"), 1, 1),
        Err(SoapError::NotAnEnvelope { .. })
    ));
    let no_ilon_item = xml(
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><WriteResponse xmlns="http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/"/></s:Body></s:Envelope>"#,
    );
    assert!(matches!(
        read_write_answer(&no_ilon_item, 1, 1),
        Err(SoapError::MalformedResponse { .. })
    ));
}
