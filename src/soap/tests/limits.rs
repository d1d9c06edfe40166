//! Item caps (issue 8, item 3): every operation with an item list refuses more than
//! [`MAX_ITEMS`] items while parsing, and the refusal is a global fault of the operation.

use super::{child, xml};
use crate::soap::*;

const ILON: &str = "http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/";

fn envelope(body: &str) -> String {
    format!(
        "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/' \
         xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'><s:Body>{body}</s:Body></s:Envelope>"
    )
}

fn items_op(op: &str, n: usize) -> String {
    let items: String = (0..n)
        .map(|i| format!("<Item><UCPTname>p{i}</UCPTname><UCPTvalue>1</UCPTvalue></Item>"))
        .collect();
    envelope(&format!(
        "<{op} xmlns='{ILON}'><iLonItem>{items}</iLonItem></{op}>"
    ))
}

fn parse(text: &str) -> Result<Request, SoapError> {
    parse_request(&xml(text))
}

#[test]
fn read_list_get_write_and_invoke_accept_100_items() {
    for op in ["Read", "List", "Get", "Write", "InvokeCmd"] {
        assert!(parse(&items_op(op, MAX_ITEMS)).is_ok(), "{op}");
    }
}

#[test]
fn a_read_of_101_items_is_refused_while_parsing() {
    assert_eq!(
        parse(&items_op("Read", 101)),
        Err(SoapError::TooManyItems {
            op: OpKind::Read,
            count: 101,
            limit: 100,
        })
    );
}

#[test]
fn a_list_of_101_items_is_refused_while_parsing() {
    assert_eq!(
        parse(&items_op("List", 101)),
        Err(SoapError::TooManyItems {
            op: OpKind::List,
            count: 101,
            limit: 100,
        })
    );
}

#[test]
fn every_operation_with_items_refuses_700() {
    for (op, kind) in [
        ("Read", OpKind::Read),
        ("List", OpKind::List),
        ("Get", OpKind::Get),
        ("Write", OpKind::Write),
        ("InvokeCmd", OpKind::InvokeCmd),
    ] {
        assert_eq!(
            parse(&items_op(op, 700)),
            Err(SoapError::TooManyItems {
                op: kind,
                count: 700,
                limit: 100,
            }),
            "{op}"
        );
    }
}

#[test]
fn the_cap_is_checked_before_items_are_read() {
    // Item 150 has no name: the cap, not the missing name, is reported.
    let mut items: String = (0..200)
        .map(|i| format!("<Item><UCPTname>p{i}</UCPTname></Item>"))
        .collect();
    items.push_str("<Item/>");
    let text = envelope(&format!(
        "<Read xmlns='{ILON}'><iLonItem><Item/>{items}</iLonItem></Read>"
    ));
    assert!(matches!(
        parse(&text),
        Err(SoapError::TooManyItems { count: 202, .. })
    ));
}

#[test]
fn system_info_with_101_types_is_refused() {
    let types: String = (0..101)
        .map(|_| "<UCPTsystemInfoType>SI_TIME</UCPTsystemInfoType>")
        .collect();
    let text = envelope(&format!(
        "<SystemService_Read_Info xmlns='{ILON}'><iLONSystemService>{types}</iLONSystemService></SystemService_Read_Info>"
    ));
    assert_eq!(
        parse(&text),
        Err(SoapError::TooManyItems {
            op: OpKind::SystemServiceReadInfo,
            count: 101,
            limit: 100,
        })
    );
}

#[test]
fn too_many_items_is_answered_with_a_soap_fault_naming_count_and_limit() {
    let err = parse(&items_op("Read", 700)).unwrap_err();
    let env = err.to_response(&MessageProperties::default());
    let fault = child(child(&env, "Body"), "Fault");
    assert_eq!(child(fault, "faultcode").text_content(), "SOAP-ENV:Client");
    let text = child(fault, "faultstring").text_content();
    assert!(text.contains("700 items") && text.contains("100"), "{text}");
}

#[test]
fn write_items_keep_their_xsi_type() {
    let text = envelope(&format!(
        "<Write xmlns='{ILON}'><iLonItem>\
         <Item xsi:type='Dp_Cfg'><UCPTname>a</UCPTname><UCPTvalue>1</UCPTvalue></Item>\
         <Item><UCPTname>b</UCPTname><UCPTvalue>1</UCPTvalue></Item>\
         <Item xsi:type='m:Dp_Data' xmlns:m='{ILON}'><UCPTname>c</UCPTname><UCPTvalue>1</UCPTvalue></Item>\
         <Item xsi:type='Bogus'><UCPTname>d</UCPTname><UCPTvalue>1</UCPTvalue></Item>\
         </iLonItem></Write>"
    ));
    let Op::Write(items) = parse(&text).unwrap().op else {
        panic!("not a write")
    };
    assert_eq!(items[0].item_type.as_deref(), Some("Dp_Cfg"));
    assert_eq!(items[1].item_type, None);
    assert_eq!(items[2].item_type, None, "Dp_Data with a prefix is Dp_Data");
    assert_eq!(items[3].item_type.as_deref(), Some("Bogus"));
}

#[test]
fn an_unknown_operation_with_a_huge_name_and_namespace_gets_a_small_fault() {
    let name = "Op".repeat(20_000);
    let ns = format!("urn:{}", "n".repeat(100_000));
    let text = envelope(&format!("<{name} xmlns='{ns}'/>"));
    let err = parse(&text).unwrap_err();
    let len = err
        .to_response(&MessageProperties::default())
        .to_xml()
        .len();
    assert!(len < 4096, "{len} bytes");
}
