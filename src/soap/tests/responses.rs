//! Per-operation response tests: exact shapes of what the builders emit, fault counting,
//! the error-to-wire mapping, and reading peers' answers back.

use super::{child, xml};
use crate::soap::*;

const ILON_XMLNS: &str = "xmlns=\"http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/\"";

fn props() -> MessageProperties {
    MessageProperties {
        time_stamp: Some("2026-01-02T03:04:05.678+01:00".into()),
        unique_id: Some("0800001A7C62".into()),
        ..MessageProperties::default()
    }
}

fn body_xml(b: &impl SoapBody) -> String {
    b.to_body().to_xml()
}

fn switch_data(name: &str) -> DpData {
    DpData {
        name: name.into(),
        values: vec![
            LonValue::new("100.0 1", "#0000000000000000[0].SNVT_switch"),
            LonValue::preset("ON"),
        ],
        point_status: Some("AL_NUL".into()),
        priority: Some(200),
        last_update: Some("2026-01-02T03:04:05.600+01:00".into()),
        ..DpData::default()
    }
}

#[test]
fn write_response_counts_item_faults_and_puts_each_fault_before_the_name() {
    let resp = WriteResponse {
        items: vec![
            ItemReply::Ok(switch_data("A")),
            ItemReply::Fault(ItemFault::unknown_name("Nope")),
            ItemReply::Fault(ItemFault::format_error("B", "\"x\" is not a SNVT_switch")),
        ],
    };
    let s = body_xml(&resp);
    assert!(s.starts_with(&format!(
        "<WriteResponse {ILON_XMLNS}><iLonItem><UCPTfaultCount>2</UCPTfaultCount>"
    )));
    assert!(s.contains(
        "<Item><fault><faultcode faultType=\"_error\">6</faultcode><faultstring xml:lang=\"en-US\">Instance doesn't exist</faultstring></fault><UCPTname>Nope</UCPTname></Item>"
    ));
    assert!(s.contains(
        "<Item><fault><faultcode faultType=\"_error\">11</faultcode><faultstring xml:lang=\"en-US\">Value cannot be formatted: \"x\" is not a SNVT_switch</faultstring></fault><UCPTname>B</UCPTname></Item>"
    ));
    let parsed = parse_items_response(&xml(&s)).unwrap();
    assert_eq!(parsed.fault_count, 2);
    assert_eq!(
        parsed
            .items
            .iter()
            .map(|i| (i.name.as_str(), i.is_error()))
            .collect::<Vec<_>>(),
        vec![("A", false), ("Nope", true), ("B", true)]
    );
    assert_eq!(
        DpData::from_item(&parsed.items[0].item).unwrap(),
        switch_data("A")
    );
}

#[test]
fn item_fault_constructors_carry_the_smartserver_codes_and_wording() {
    assert_eq!(
        ItemFault::priority_too_low("P", 200, 100),
        ItemFault {
            name: "P".into(),
            fault: Fault::error(
                FaultCode::CommandFailed,
                "Command failed: priority 200 is lower than the current priority 100"
            ),
        }
    );
    assert_eq!(
        ItemFault::tag_missing("P", "UCPTvalue").fault,
        Fault::error(FaultCode::TagMissing, "Tag missing: UCPTvalue")
    );
    assert_eq!(
        ItemFault::unsupported("P", "xsi:type Dp_Ref").fault,
        Fault::error(
            FaultCode::ParameterError,
            "Parameter error: xsi:type Dp_Ref is not supported"
        )
    );
    for n in 0..=17 {
        assert_eq!(FaultCode::from_code(n).code(), n);
    }
    assert_eq!(FaultCode::from_code(99), FaultCode::Other(99));
}

#[test]
fn a_warning_counts_as_a_fault_but_not_as_an_error() {
    let resp = InvokeCmdResponse {
        items: vec![ItemReply::Fault(ItemFault::new(
            "W",
            Fault::warning(FaultCode::TagMissing, "odd"),
        ))],
    };
    let parsed = parse_items_response(&xml(&body_xml(&resp))).unwrap();
    assert_eq!(parsed.fault_count, 1);
    assert_eq!(
        parsed.items[0].fault,
        Some(Fault::warning(FaultCode::TagMissing, "odd"))
    );
    assert!(!parsed.items[0].is_error());
    assert!(parsed.all_ok());
}

#[test]
fn invoke_response_echoes_names() {
    let resp = InvokeCmdResponse {
        items: vec![ItemReply::Ok(ItemEcho { name: "N".into() })],
    };
    assert_eq!(
        body_xml(&resp),
        format!(
            "<InvokeCmdResponse {ILON_XMLNS}><iLonItem><UCPTfaultCount>0</UCPTfaultCount><Item><UCPTname>N</UCPTname></Item></iLonItem></InvokeCmdResponse>"
        )
    );
}

#[test]
fn list_response_without_current_config_lists_identity_fields() {
    let resp = ListResponse {
        current_config: None,
        items: vec![ListEntry::datapoint("A", None)],
    };
    assert_eq!(
        body_xml(&resp),
        format!(
            "<ListResponse {ILON_XMLNS}><iLonItem><UCPTfaultCount>0</UCPTfaultCount><Item xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"Dp_Cfg\"><UCPTname>A</UCPTname><UCPThidden>0</UCPThidden></Item></iLonItem></ListResponse>"
        )
    );
}

#[test]
fn get_response_prints_times_with_a_decimal_and_presets_in_order() {
    let cfg = DpCfg {
        name: "A".into(),
        persist: Some(true),
        def_output: Some(LonValue::new("72.5", "#0000000000000000[0].SNVT_temp_f#US")),
        max_send_time: Some(120.0),
        min_send_time: Some(2.5),
        ..DpCfg::default()
    };
    let resp = GetResponse {
        items: vec![ItemReply::Ok(cfg.clone())],
    };
    let s = body_xml(&resp);
    assert!(s.contains(
        "<UCPTname>A</UCPTname><UCPTpersist>1</UCPTpersist><UCPTdefOutput LonFormat=\"#0000000000000000[0].SNVT_temp_f#US\">72.5</UCPTdefOutput><SCPTmaxSendTime>120.0</SCPTmaxSendTime><SCPTminSendTime>2.5</SCPTminSendTime></Item>"
    ));
    let parsed = parse_items_response(&xml(&s)).unwrap();
    assert_eq!(DpCfg::from_item(&parsed.items[0].item).unwrap(), cfg);
}

#[test]
fn reply_builds_the_same_envelope_as_the_response_it_wraps() {
    let read = ReadResponse {
        items: vec![ItemReply::Ok(switch_data("A"))],
    };
    assert_eq!(
        Reply::Read(read.clone()).to_envelope(&props()),
        read.to_envelope(&props())
    );
}

#[test]
fn our_responses_are_read_back_with_header_and_items() {
    let env = WriteResponse {
        items: vec![ItemReply::Ok(switch_data("A"))],
    }
    .to_envelope(&props());
    let resp = parse_response(&xml(&env.to_xml())).unwrap();
    assert_eq!(resp.header, props());
    let ResponseBody::Items(items) = resp.body else {
        panic!("not items")
    };
    assert_eq!(items.op, "WriteResponse");
    assert!(items.all_ok());
}

#[test]
fn a_missing_fault_count_is_counted_and_a_bad_one_refused() {
    let no_count = xml(&format!(
        "<WriteResponse {ILON_XMLNS}><iLonItem><Item><fault><faultcode faultType='_error'>6</faultcode></fault><UCPTname>A</UCPTname></Item></iLonItem></WriteResponse>"
    ));
    assert_eq!(parse_items_response(&no_count).unwrap().fault_count, 1);
    let bad = xml(&format!(
        "<WriteResponse {ILON_XMLNS}><iLonItem><UCPTfaultCount>many</UCPTfaultCount></iLonItem></WriteResponse>"
    ));
    assert_eq!(
        parse_items_response(&bad),
        Err(SoapError::MalformedResponse {
            op: "{http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/}WriteResponse"
                .into(),
            detail: "UCPTfaultCount \"many\" is not a number".into(),
        })
    );
    let not_response = xml(&format!("<Write {ILON_XMLNS}><iLonItem/></Write>"));
    assert_eq!(
        parse_items_response(&not_response),
        Err(SoapError::MalformedResponse {
            op: "{http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/}Write".into(),
            detail: "not a response element".into(),
        })
    );
}

#[test]
fn our_soap_fault_is_read_back() {
    let env = SoapError::NoBody.to_fault();
    assert_eq!(
        parse_response(&xml(&env.to_xml())).unwrap().body,
        ResponseBody::Fault(SoapFault {
            code: "SOAP-ENV:Client".into(),
            string: "soap envelope has no Body".into(),
            detail: None,
            gap: None,
        })
    );
    let server = SoapFault::server("store unavailable", Some("disk full".into())).to_envelope();
    let fault = child(child(&server, "Body"), "Fault");
    assert_eq!(
        fault.to_xml(),
        "<SOAP-ENV:Fault xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><faultcode>SOAP-ENV:Server</faultcode><faultstring>store unavailable</faultstring><detail>disk full</detail></SOAP-ENV:Fault>"
    );
}

#[test]
fn an_unsupported_system_info_type_is_answered_with_a_fault_section() {
    for form in [SystemInfoForm::DataString, SystemInfoForm::Inline] {
        let resp = SystemInfoResponse {
            form,
            sections: vec![
                SystemInfoSection::Time(TimeInfo {
                    system_time: Some("2026-01-02T03:04:05".into()),
                    ..TimeInfo::default()
                }),
                SystemInfoSection::Unsupported("SI_MAIL".into()),
            ],
        };
        let back = parse_response(&xml(&resp.to_envelope(&props()).to_xml())).unwrap();
        assert_eq!(back.body, ResponseBody::SystemInfo(resp));
    }
    let inline = SystemInfoResponse {
        form: SystemInfoForm::Inline,
        sections: vec![SystemInfoSection::Unsupported("SI_MAIL".into())],
    };
    assert!(body_xml(&inline).contains(
        "<iLONSystemService><fault><faultcode faultType=\"_error\">2</faultcode><faultstring xml:lang=\"en-US\">Parameter error: unsupported UCPTsystemInfoType SI_MAIL</faultstring></fault></iLONSystemService>"
    ));
}

#[test]
fn errors_inside_a_known_operation_become_a_global_fault_response() {
    let err = SoapError::Malformed {
        op: OpKind::Write,
        detail: "item 1 (\"A\"): UCPTpriority \"300\" is not an integer 0..255".into(),
    };
    let env = err.to_response(&props());
    let body = child(&env, "Body");
    assert_eq!(
        child(body, "WriteResponse").to_xml(),
        format!(
            "<WriteResponse {ILON_XMLNS}><iLonItem><UCPTfaultCount>1</UCPTfaultCount><fault><faultcode faultType=\"_error\">2</faultcode><faultstring xml:lang=\"en-US\">Parameter error: item 1 (\"A\"): UCPTpriority \"300\" is not an integer 0..255</faultstring></fault></iLonItem></WriteResponse>"
        )
    );
    assert_eq!(
        SoapError::MissingName {
            op: OpKind::Read,
            index: 3
        }
        .global_fault(),
        Some(GlobalFaultResponse {
            op: OpKind::Read,
            fault: Fault::error(FaultCode::NameMissing, "UCPTname missing in item 3"),
        })
    );
    assert_eq!(
        SoapError::UnsupportedSelect {
            op: OpKind::List,
            select: "//x".into(),
            detail: "at byte 0: expected \"//Item\"".into(),
        }
        .global_fault()
        .map(|g| g.fault),
        Some(Fault::error(
            FaultCode::XmlParserError,
            "invalid xSelect expression: at byte 0: expected \"//Item\""
        ))
    );
}

#[test]
fn envelope_level_errors_and_system_info_errors_become_soap_faults() {
    for err in [
        SoapError::NotAnEnvelope {
            found: "{jabber:client}iq".into(),
        },
        SoapError::NoBody,
        SoapError::EmptyBody,
        SoapError::UnknownOperation {
            name: "Set".into(),
            ns: "x".into(),
        },
        SoapError::Malformed {
            op: OpKind::SystemServiceReadInfo,
            detail: "d".into(),
        },
    ] {
        assert_eq!(err.global_fault(), None);
        assert_eq!(err.to_response(&props()), err.to_fault());
    }
    assert_eq!(
        SoapError::UnknownOperation {
            name: "Set".into(),
            ns: "urn:x".into()
        }
        .to_fault()
        .to_xml(),
        concat!(
            "<SOAP-ENV:Envelope xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ",
            "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" ",
            "xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" ",
            "SOAP-ENV:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\">",
            "<SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode>",
            "<faultstring>unknown operation Set (namespace \"urn:x\")</faultstring>",
            "</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
        )
    );
}
