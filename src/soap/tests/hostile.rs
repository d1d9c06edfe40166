//! Hostile and malformed input: refused with the exact error, never a panic, and values
//! with markup survive a build → parse round trip escaped.

use super::xml;
use crate::soap::*;
use crate::xmpp::xml::{Element, Limits, XmlError};

const SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const ILON: &str = "http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/";

fn body(op: &str) -> String {
    format!("<Envelope xmlns='{SOAP}'><Body>{op}</Body></Envelope>")
}

fn parse(op: &str) -> Result<Request, SoapError> {
    parse_request(&xml(&body(op)))
}

#[test]
fn a_doctype_in_an_envelope_is_refused_by_the_parser() {
    let bomb = format!(
        "<?xml version='1.0'?><!DOCTYPE e [<!ENTITY a 'aaaaaaaa'><!ENTITY b '&a;&a;&a;&a;'>]>{}",
        body(&format!(
            "<Read xmlns='{ILON}'><iLonItem><Item><UCPTname>&b;</UCPTname></Item></iLonItem></Read>"
        ))
    );
    assert!(matches!(
        Element::parse(&bomb, &Limits::default()),
        Err(XmlError::Doctype { .. })
    ));
}

#[test]
fn a_doctype_inside_the_escaped_data_string_is_refused_too() {
    let err = parse(&format!(
        "<SystemService_Read_Info xmlns='{ILON}'><Data>&lt;!DOCTYPE x [&lt;!ENTITY a 'b'&gt;]&gt;&lt;iLONSystemService/&gt;</Data></SystemService_Read_Info>"
    ))
    .unwrap_err();
    assert_eq!(
        err,
        SoapError::Malformed {
            op: OpKind::SystemServiceReadInfo,
            detail: "<Data> string is not xml: xml with a DOCTYPE is refused (byte 0): entity declarations are not allowed".into(),
        }
    );
}

#[test]
fn an_undeclared_entity_inside_the_data_string_is_refused() {
    let err = parse(&format!(
        "<SystemService_Read_Info xmlns='{ILON}'><Data>&lt;iLONSystemService&gt;&amp;x;&lt;/iLONSystemService&gt;</Data></SystemService_Read_Info>"
    ))
    .unwrap_err();
    assert_eq!(
        err,
        SoapError::Malformed {
            op: OpKind::SystemServiceReadInfo,
            detail: "<Data> string is not xml: xml entity reference &x; is refused (byte 19): only the predefined entities are allowed".into(),
        }
    );
}

#[test]
fn a_data_string_with_another_root_or_no_type_is_malformed() {
    assert_eq!(
        parse(&format!(
            "<SystemService_Read_Info xmlns='{ILON}'><Data>&lt;evil/&gt;</Data></SystemService_Read_Info>"
        )),
        Err(SoapError::Malformed {
            op: OpKind::SystemServiceReadInfo,
            detail: "<Data> string holds \"evil\" instead of iLONSystemService".into(),
        })
    );
    assert_eq!(
        parse(&format!(
            "<SystemService_Read_Info xmlns='{ILON}'><iLONSystemService/></SystemService_Read_Info>"
        )),
        Err(SoapError::Malformed {
            op: OpKind::SystemServiceReadInfo,
            detail: "no UCPTsystemInfoType".into(),
        })
    );
    assert_eq!(
        parse(&format!("<SystemService_Read_Info xmlns='{ILON}'/>")),
        Err(SoapError::Malformed {
            op: OpKind::SystemServiceReadInfo,
            detail: "neither a <Data> string nor an <iLONSystemService> element".into(),
        })
    );
}

#[test]
fn an_unknown_operation_is_named_with_its_namespace() {
    assert_eq!(
        parse(&format!("<Set xmlns='{ILON}'><iLonItem/></Set>")),
        Err(SoapError::UnknownOperation {
            name: "Set".into(),
            ns: ILON.into(),
        })
    );
    assert_eq!(
        parse("<Read xmlns='urn:not-ilon'><iLonItem/></Read>"),
        Err(SoapError::UnknownOperation {
            name: "Read".into(),
            ns: "urn:not-ilon".into(),
        })
    );
}

#[test]
fn a_root_that_is_not_a_soap_1_1_envelope_is_not_an_envelope() {
    assert_eq!(
        parse_request(&xml("<iq xmlns='jabber:client' type='set'/>")),
        Err(SoapError::NotAnEnvelope {
            found: "{jabber:client}iq".into(),
        })
    );
    assert_eq!(
        parse_request(&xml(
            "<Envelope xmlns='http://www.w3.org/2003/05/soap-envelope'><Body/></Envelope>"
        )),
        Err(SoapError::NotAnEnvelope {
            found: "{http://www.w3.org/2003/05/soap-envelope}Envelope".into(),
        })
    );
    assert_eq!(
        parse_request(&xml("<Envelope/>")),
        Err(SoapError::NotAnEnvelope {
            found: "Envelope".into(),
        })
    );
}

#[test]
fn an_envelope_without_body_or_operation_is_refused() {
    assert_eq!(
        parse_request(&xml(&format!(
            "<Envelope xmlns='{SOAP}'><Header/></Envelope>"
        ))),
        Err(SoapError::NoBody)
    );
    assert_eq!(parse(" "), Err(SoapError::EmptyBody));
    assert_eq!(
        parse(&format!("<Read xmlns='{ILON}'/>")),
        Err(SoapError::Malformed {
            op: OpKind::Read,
            detail: "no iLonItem".into(),
        })
    );
}

#[test]
fn an_item_without_a_name_is_reported_by_its_position() {
    assert_eq!(
        parse(&format!(
            "<Write xmlns='{ILON}'><iLonItem><Item><UCPTname>A</UCPTname></Item><Item><UCPTname>  </UCPTname></Item></iLonItem></Write>"
        )),
        Err(SoapError::MissingName {
            op: OpKind::Write,
            index: 2,
        })
    );
    assert_eq!(
        parse(&format!(
            "<InvokeCmd xmlns='{ILON}'><iLonItem><Item/></iLonItem></InvokeCmd>"
        )),
        Err(SoapError::MissingName {
            op: OpKind::InvokeCmd,
            index: 1,
        })
    );
}

#[test]
fn values_of_the_wrong_type_are_malformed_with_item_and_value() {
    let write = |prio: &str| {
        parse(&format!(
            "<Write xmlns='{ILON}'><iLonItem><Item><UCPTname>A</UCPTname><UCPTpriority>{prio}</UCPTpriority></Item></iLonItem></Write>"
        ))
    };
    assert_eq!(
        write("300"),
        Err(SoapError::Malformed {
            op: OpKind::Write,
            detail: "item 1 (\"A\"): UCPTpriority \"300\" is not an integer 0..255".into(),
        })
    );
    assert_eq!(
        write("-1"),
        Err(SoapError::Malformed {
            op: OpKind::Write,
            detail: "item 1 (\"A\"): UCPTpriority \"-1\" is not an integer 0..255".into(),
        })
    );
    assert_eq!(
        parse(&format!(
            "<Write xmlns='{ILON}'><iLonItem><Item><UCPTname>A</UCPTname><UCPTpropagate>yes</UCPTpropagate></Item></iLonItem></Write>"
        )),
        Err(SoapError::Malformed {
            op: OpKind::Write,
            detail: "item 1 (\"A\"): UCPTpropagate \"yes\" is not 0 or 1".into(),
        })
    );
    for age in ["NaN", "-1", "inf", "soon"] {
        assert_eq!(
            parse(&format!(
                "<Read xmlns='{ILON}'><iLonItem><Item><UCPTname>A</UCPTname><UCPTmaxAge>{age}</UCPTmaxAge></Item></iLonItem></Read>"
            )),
            Err(SoapError::Malformed {
                op: OpKind::Read,
                detail: format!(
                    "item 1 (\"A\"): UCPTmaxAge \"{age}\" is not a number of seconds >= 0"
                ),
            })
        );
    }
}

#[test]
fn a_huge_value_is_quoted_cut_short_in_the_error() {
    let long = "9".repeat(10_000);
    let Err(SoapError::Malformed { detail, .. }) = parse(&format!(
        "<Write xmlns='{ILON}'><iLonItem><Item><UCPTname>A</UCPTname><UCPTpriority>{long}</UCPTpriority></Item></iLonItem></Write>"
    )) else {
        panic!("expected a malformed write");
    };
    assert_eq!(
        detail,
        format!(
            "item 1 (\"A\"): UCPTpriority \"{}\"... is not an integer 0..255",
            "9".repeat(64)
        )
    );
}

#[test]
fn an_xselect_outside_the_subset_is_unsupported() {
    let list = |sel: &str| {
        parse(&format!(
            "<List xmlns='{ILON}'><iLonItem><xSelect>{sel}</xSelect></iLonItem></List>"
        ))
    };
    assert_eq!(
        list("//Item[@xsi:type=\"Dp_Cfg\"] | //Item"),
        Err(SoapError::UnsupportedSelect {
            op: OpKind::List,
            select: "//Item[@xsi:type=\"Dp_Cfg\"] | //Item".into(),
            detail: "at byte 27: expected \"[\"".into(),
        })
    );
    assert_eq!(
        list("/Envelope"),
        Err(SoapError::UnsupportedSelect {
            op: OpKind::List,
            select: "/Envelope".into(),
            detail: "at byte 0: expected \"//Item\"".into(),
        })
    );
}

#[test]
fn markup_in_names_and_values_round_trips_escaped() {
    let nasty = "Net/</UCPTname><evil/>&amp;'\"]]>";
    let item = WriteItem {
        name: nasty.into(),
        values: vec![LonValue::new(nasty, nasty).with_unit(nasty)],
        point_status: Some(nasty.into()),
        priority: Some(0),
        propagate: Some(true),
        item_type: None,
    };
    let props = MessageProperties {
        time_stamp: Some(nasty.into()),
        unique_id: Some(nasty.into()),
        ..MessageProperties::default()
    };
    let text = build_write_request(&props, std::slice::from_ref(&item))
        .unwrap()
        .to_xml();
    assert!(!text.contains("<evil/>"));
    let back = parse_request(&xml(&text)).unwrap();
    assert_eq!(back.header, props);
    assert_eq!(back.op, Op::Write(vec![item]));
    // And inside the escaped <Data> string of a system info answer.
    let answer = SystemInfoResponse {
        form: SystemInfoForm::DataString,
        sections: vec![SystemInfoSection::Time(TimeInfo {
            time_zone: Some(nasty.into()),
            ..TimeInfo::default()
        })],
    };
    let env = xml(&answer.to_envelope(&props).to_xml());
    assert_eq!(
        parse_response(&env).unwrap().body,
        ResponseBody::SystemInfo(answer)
    );
}
