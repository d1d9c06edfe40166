//! Per-operation request tests: parse (any prefixes), build, and build → parse round trips,
//! including the outgoing WebBinder Write with its `seq` header.

use super::{child, xml};
use crate::soap::*;

const ILON: &str = "http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/";

/// An envelope with prefixes `s:` and `m:` around `body` (which may use `m:` and `xsi:`).
fn envelope(header: &str, body: &str) -> String {
    format!(
        "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/' \
         xmlns:m='{ILON}' xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'>\
         <s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    )
}

fn parse(header: &str, body: &str) -> Result<Request, SoapError> {
    parse_request(&xml(&envelope(header, body)))
}

fn op(body: &str) -> Op {
    parse("", body).unwrap().op
}

fn round_trip(props: &MessageProperties, op: &Op) {
    let env = build_request(props, op).unwrap();
    let back = parse_request(&xml(&env.to_xml())).unwrap();
    assert_eq!(back.header, *props);
    assert_eq!(back.op, *op);
}

fn full_props() -> MessageProperties {
    MessageProperties {
        time_stamp: Some("2026-01-02T03:04:05.678+01:00".into()),
        unique_id: Some("0800001A7C62".into()),
        ip_address: Some("127.0.0.1".into()),
        port: Some(5280),
        last_update: Some("2026-01-02T02:00:00Z".into()),
        processing_time: Some(3),
        seq: Some(Seq {
            epoch: 1_767_312_000_123,
            first: 41,
            last: 43,
            prev: None,
        }),
    }
}

#[test]
fn read_items_parse_with_type_and_max_age_whatever_the_prefixes() {
    let got = op("<m:Read><m:iLonItem>\
         <m:Item xsi:type='Dp_Data'><m:UCPTname> A/b c </m:UCPTname><m:UCPTmaxAge>2.5</m:UCPTmaxAge></m:Item>\
         <Item><UCPTname>X</UCPTname></Item></m:iLonItem></m:Read>");
    assert_eq!(
        got,
        Op::Read(vec![
            ItemRef {
                name: "A/b c".into(),
                item_type: Some("Dp_Data".into()),
                max_age: Some(2.5),
            },
            ItemRef::new("X"),
        ])
    );
}

#[test]
fn read_round_trips_through_build_request() {
    round_trip(
        &MessageProperties::default(),
        &Op::Read(vec![
            ItemRef {
                name: "Net/LON/iLON App/Real Time Clock/nvoRtTimeDate".into(),
                item_type: Some("Dp_Data".into()),
                max_age: Some(0.0),
            },
            ItemRef::new("Net/LON/iLON App/Digital Output 1/nviClaValue_1"),
        ]),
    );
}

#[test]
fn read_with_a_type_only_xselect_gives_the_items_that_type() {
    let got = op(
        "<m:Read><m:iLonItem><m:xSelect>//Item[@xsi:type=\"Dp_Data\"]</m:xSelect>\
         <m:Item><m:UCPTname>A</m:UCPTname></m:Item></m:iLonItem></m:Read>",
    );
    assert_eq!(
        got,
        Op::Read(vec![ItemRef {
            name: "A".into(),
            item_type: Some("Dp_Data".into()),
            max_age: None,
        }])
    );
}

#[test]
fn read_by_selection_is_refused_as_unsupported_select() {
    let err = parse(
        "",
        "<m:Read><m:iLonItem><m:xSelect>//Item[starts-with(UCPTname,\"Net\")]</m:xSelect></m:iLonItem></m:Read>",
    )
    .unwrap_err();
    assert_eq!(
        err,
        SoapError::UnsupportedSelect {
            op: OpKind::Read,
            select: "//Item[starts-with(UCPTname,\"Net\")]".into(),
            detail: "Read supports only //Item[@xsi:type=\"T\"] alongside explicit items".into(),
        }
    );
}

#[test]
fn write_item_keeps_every_value_status_priority_and_propagate() {
    let got = op(
        "<m:Write><m:iLonItem><m:UCPTfaultCount>0</m:UCPTfaultCount><m:Item xsi:type='Dp_Data'>\
         <m:UCPTname>P</m:UCPTname>\
         <m:UCPTvalue LonFormat='SNVT_switch.value'>50.0</m:UCPTvalue>\
         <m:UCPTvalue LonFormat='UCPTvalueDef'>ON</m:UCPTvalue>\
         <m:UCPTpointStatus LonFormat='UCPTpointStatus'>AL_OFFLINE</m:UCPTpointStatus>\
         <m:UCPTpriority> 12 </m:UCPTpriority><m:UCPTpropagate>0</m:UCPTpropagate>\
         </m:Item></m:iLonItem></m:Write>",
    );
    let Op::Write(items) = got else {
        panic!("not a write")
    };
    assert_eq!(
        items,
        vec![WriteItem {
            name: "P".into(),
            values: vec![
                LonValue::new("50.0", "SNVT_switch.value"),
                LonValue::preset("ON")
            ],
            point_status: Some("AL_OFFLINE".into()),
            priority: Some(12),
            propagate: Some(false),
            item_type: None,
        }]
    );
    assert_eq!(items[0].preset(), Some("ON"));
    assert_eq!(
        items[0].formatted(),
        Some(&LonValue::new("50.0", "SNVT_switch.value"))
    );
}

fn write_items(n: usize) -> Vec<WriteItem> {
    (0..n)
        .map(|i| {
            let mut w = WriteItem::new(
                format!("Net/LON/site b/Digital Output {i}/nviClaValue_1"),
                LonValue::new("100.0 1", "#0000000000000000[0].SNVT_switch")
                    .with_unit("value, state"),
            );
            w.point_status = Some("AL_NO_CONDITION".into());
            w.priority = Some(255);
            w
        })
        .collect()
}

#[test]
fn write_round_trips_with_full_header_and_seq() {
    round_trip(&full_props(), &Op::Write(write_items(3)));
}

#[test]
fn webbinder_write_puts_seq_after_message_properties_in_the_header() {
    let props = MessageProperties {
        time_stamp: Some("2026-01-02T03:04:05.678+01:00".into()),
        unique_id: Some("0800001A7C62".into()),
        seq: Some(Seq {
            epoch: 9,
            first: 5,
            last: 5,
            prev: None,
        }),
        ..MessageProperties::default()
    };
    let item = WriteItem {
        name: "T".into(),
        values: vec![LonValue::new("0.0 0", "#0000000000000000[0].SNVT_switch")],
        point_status: Some("AL_NO_CONDITION".into()),
        priority: Some(255),
        propagate: None,
        item_type: None,
    };
    let env = build_write_request(&props, &[item]).unwrap();
    assert_eq!(
        env.to_xml(),
        concat!(
            "<SOAP-ENV:Envelope xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ",
            "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" ",
            "xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" ",
            "SOAP-ENV:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\">",
            "<SOAP-ENV:Header><p:messageProperties xmlns:p=\"http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/\">",
            "<p:UCPTtimeStamp>2026-01-02T03:04:05.678+01:00</p:UCPTtimeStamp>",
            "<p:UCPTuniqueId>0800001A7C62</p:UCPTuniqueId></p:messageProperties>",
            "<seq xmlns=\"urn:webbinder:replication:1\" epoch=\"9\" first=\"5\" last=\"5\"/>",
            "</SOAP-ENV:Header><SOAP-ENV:Body>",
            "<Write xmlns=\"http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/\"><iLonItem>",
            "<UCPTfaultCount>0</UCPTfaultCount><Item xsi:type=\"Dp_Data\"><UCPTname>T</UCPTname>",
            "<UCPTvalue LonFormat=\"#0000000000000000[0].SNVT_switch\">0.0 0</UCPTvalue>",
            "<UCPTpointStatus LonFormat=\"UCPTpointStatus\">AL_NO_CONDITION</UCPTpointStatus>",
            "<UCPTpriority>255</UCPTpriority></Item></iLonItem></Write>",
            "</SOAP-ENV:Body></SOAP-ENV:Envelope>"
        )
    );
}

#[test]
fn webbinder_write_accepts_100_items_and_refuses_101() {
    let props = MessageProperties::default();
    let env = build_write_request(&props, &write_items(100)).unwrap();
    let Op::Write(items) = parse_request(&env).unwrap().op else {
        panic!("not a write")
    };
    assert_eq!(items.len(), 100);
    assert_eq!(
        build_write_request(&props, &write_items(101)),
        Err(SoapError::TooManyItems {
            op: OpKind::Write,
            count: 101,
            limit: 100,
        })
    );
}

#[test]
fn webbinder_write_refuses_a_seq_that_does_not_number_its_items_exactly() {
    let mut props = MessageProperties {
        seq: Some(Seq {
            epoch: 1,
            first: 10,
            last: 12,
            prev: None,
        }),
        ..MessageProperties::default()
    };
    let env = build_write_request(&props, &write_items(3)).unwrap();
    assert!(parse_request(&env).is_ok());
    props.seq = Some(Seq {
        epoch: 1,
        first: 10,
        last: 19,
        prev: None,
    });
    assert_eq!(
        build_write_request(&props, &write_items(3)),
        Err(SoapError::SeqMismatch {
            first: 10,
            last: 19,
            items: 3,
        })
    );
    // The receiver refuses the same, whoever built it: item i is numbered first + i.
    let gapped = env.to_xml().replace(r#"last="12""#, r#"last="19""#);
    assert_eq!(
        parse_request(&super::xml(&gapped)),
        Err(SoapError::SeqMismatch {
            first: 10,
            last: 19,
            items: 3,
        })
    );
    props.seq = Some(Seq {
        epoch: 1,
        first: 10,
        last: 11,
        prev: None,
    });
    assert_eq!(
        build_write_request(&props, &write_items(3)),
        Err(SoapError::SeqMismatch {
            first: 10,
            last: 11,
            items: 3,
        })
    );
    props.seq = Some(Seq {
        epoch: 1,
        first: 12,
        last: 11,
        prev: None,
    });
    assert_eq!(
        build_write_request(&props, &write_items(1)),
        Err(SoapError::SeqMismatch {
            first: 12,
            last: 11,
            items: 1,
        })
    );
}

#[test]
fn webbinder_write_refuses_an_empty_batch_and_an_empty_name() {
    let props = MessageProperties::default();
    assert_eq!(
        build_write_request(&props, &[]),
        Err(SoapError::Malformed {
            op: OpKind::Write,
            detail: "a Write needs at least one item".into(),
        })
    );
    let mut items = write_items(2);
    items[1].name = " ".into();
    assert_eq!(
        build_write_request(&props, &items),
        Err(SoapError::MissingName {
            op: OpKind::Write,
            index: 2,
        })
    );
}

#[test]
fn seq_is_also_accepted_inside_message_properties() {
    let req = parse(
        "<m:messageProperties><m:UCPTuniqueId>0800001A7C62</m:UCPTuniqueId>\
         <r:seq xmlns:r='urn:webbinder:replication:1' epoch='3' first='7' last='9'/></m:messageProperties>",
        "<m:Read><m:iLonItem/></m:Read>",
    )
    .unwrap();
    assert_eq!(
        req.header,
        MessageProperties {
            unique_id: Some("0800001A7C62".into()),
            seq: Some(Seq {
                epoch: 3,
                first: 7,
                last: 9,
                prev: None,
            }),
            ..MessageProperties::default()
        }
    );
}

#[test]
fn malformed_seq_and_header_numbers_are_bad_headers() {
    let body = "<m:Read><m:iLonItem/></m:Read>";
    let seq = |attrs: &str| format!("<seq xmlns='urn:webbinder:replication:1' {attrs}/>");
    assert_eq!(
        parse(&seq("epoch='1' first='5' last='4'"), body),
        Err(SoapError::BadHeader {
            detail: "seq first 5 is after last 4".into()
        })
    );
    assert_eq!(
        parse(&seq("epoch='x' first='5' last='6'"), body),
        Err(SoapError::BadHeader {
            detail: "seq epoch \"x\" is not an unsigned integer".into()
        })
    );
    assert_eq!(
        parse(&seq("epoch='1' last='6'"), body),
        Err(SoapError::BadHeader {
            detail: "seq has no first attribute".into()
        })
    );
    assert_eq!(
        parse(
            "<m:messageProperties><m:UCPTport>70000</m:UCPTport></m:messageProperties>",
            body
        ),
        Err(SoapError::BadHeader {
            detail: "UCPTport \"70000\" is not a number in range".into()
        })
    );
}

#[test]
fn list_by_plain_items_parses_names_and_types() {
    assert_eq!(
        op(
            "<m:List><m:iLonItem><m:Item xsi:type='Dp_Cfg'><m:UCPTname>A</m:UCPTname></m:Item>\
            <m:Item><m:UCPTname>B</m:UCPTname></m:Item></m:iLonItem></m:List>"
        ),
        Op::List(ListQuery::Items(vec![
            ItemRefName {
                name: "A".into(),
                item_type: Some("Dp_Cfg".into()),
            },
            ItemRefName {
                name: "B".into(),
                item_type: None,
            },
        ]))
    );
}

#[test]
fn list_without_xselect_or_items_selects_everything() {
    assert_eq!(
        op("<m:List><m:iLonItem/></m:List>"),
        Op::List(ListQuery::Select(Selection::default()))
    );
}

#[test]
fn list_selection_and_list_items_round_trip() {
    let sel = Selection::of_type("Dp_Cfg")
        .and(Term::Contains {
            field: Field::AliasName,
            needle: "nviClaValue".into(),
        })
        .and(Term::Position { op: Cmp::Lt, n: 50 });
    round_trip(
        &MessageProperties::default(),
        &Op::List(ListQuery::Select(sel)),
    );
    round_trip(
        &MessageProperties::default(),
        &Op::List(ListQuery::Items(vec![ItemRefName {
            name: "A".into(),
            item_type: Some("Dp_Cfg".into()),
        }])),
    );
}

#[test]
fn get_of_a_dp_ref_takes_the_type_from_the_xselect() {
    assert_eq!(
        op(
            "<m:Get><m:iLonItem><m:xSelect>//Item[@xsi:type=\"Dp_Ref\"]</m:xSelect>\
            <m:Item><m:UCPTname>S</m:UCPTname></m:Item></m:iLonItem></m:Get>"
        ),
        Op::Get(vec![ItemRef {
            name: "S".into(),
            item_type: Some("Dp_Ref".into()),
            max_age: None,
        }])
    );
}

#[test]
fn get_and_invoke_round_trip() {
    round_trip(
        &MessageProperties::default(),
        &Op::Get(vec![ItemRef {
            name: "Net/LON/iLON App/VirtFb/nviSwitch_3".into(),
            item_type: Some("Dp_Cfg".into()),
            max_age: None,
        }]),
    );
    round_trip(
        &full_props(),
        &Op::InvokeCmd(vec![InvokeItem {
            name: "Net/LON/iLON App/VirtFb/nvoSwitch".into(),
            item_type: Some("Dp_ResetPrio_Invoke".into()),
            priority: Some(235),
        }]),
    );
}

#[test]
fn invoke_items_default_to_the_priority_reset_type_when_built() {
    let body = build_operation(&Op::InvokeCmd(vec![InvokeItem {
        name: "N".into(),
        item_type: None,
        priority: None,
    }]))
    .unwrap();
    assert_eq!(
        body.to_xml(),
        "<InvokeCmd xmlns=\"http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/\"><iLonItem><Item xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"Dp_ResetPrio_Invoke\"><UCPTname>N</UCPTname></Item></iLonItem></InvokeCmd>"
    );
}

#[test]
fn system_info_with_several_types_round_trips_in_both_forms() {
    for form in [SystemInfoForm::DataString, SystemInfoForm::Inline] {
        let q = SystemInfoQuery {
            types: vec![
                SystemInfoType::Time,
                SystemInfoType::Network,
                SystemInfoType::Rtr,
                SystemInfoType::Other("SI_MAIL".into()),
            ],
            form,
        };
        round_trip(&MessageProperties::default(), &Op::SystemInfo(q));
    }
}

#[test]
fn system_info_data_string_request_is_built_as_escaped_text() {
    let body = build_operation(&Op::SystemInfo(SystemInfoQuery::new(
        SystemInfoType::Time,
        SystemInfoForm::DataString,
    )))
    .unwrap();
    assert_eq!(
        body.to_xml(),
        "<SystemService_Read_Info xmlns=\"http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/\"><Data>&lt;iLONSystemService&gt;&lt;UCPTsystemInfoType&gt;SI_TIME&lt;/UCPTsystemInfoType&gt;&lt;/iLONSystemService&gt;</Data></SystemService_Read_Info>"
    );
    assert_eq!(child(&body, "Data").ns(), ILON);
}
