//! Issue 8: item caps, the answer size limit, value length limits and `xsi:type` checks, as
//! the service answers them.

use std::time::SystemTime;

use super::budget::FAULT_ITEM_BYTES;
use super::tests::{SWITCH, TEMP, call, items, now, service_with_db, value_of, wrap, write_item};
use super::*;
use crate::config::DEFAULT_MAX_STANZA_SIZE;
use crate::datapoints::{DatapointConfig, Direction, DpType};
use crate::soap::{FaultCode, ResponseBody};
use crate::xmpp::xml::Limits;

const RAW: &str = "Net/LON/iLON App/VirtFb/raw";

/// A service over `n` raw points named with `name_len`-byte names, plus [`RAW`].
fn wide_service(n: usize, name_len: usize) -> (Service, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().path(dir.path()).open().unwrap();
    let mut points: Vec<DatapointConfig> = (0..n)
        .map(|i| DatapointConfig {
            name: format!("Net/LON/{i:05}/{}", "x".repeat(name_len.saturating_sub(16))),
            dp_type: DpType::from_name("SNVT_count"),
            direction: Direction::Out,
            initial: "0000".into(),
        })
        .collect();
    points.push(DatapointConfig {
        name: RAW.into(),
        dp_type: DpType::from_name("SNVT_count"),
        direction: Direction::InOut,
        initial: "0000".into(),
    });
    let table = Table::open(&db, points, now()).unwrap();
    let identity = Identity {
        mac: Some("08-00-00-1A-7C-62".parse().unwrap()),
        started: now(),
    };
    (Service::new(table, identity), dir)
}

/// The generated points of [`wide_service`].
fn wide_names(svc: &Service) -> Vec<String> {
    let mut names = svc.table().names();
    names.retain(|n| n.starts_with("Net/LON/0"));
    names
}

fn soap_fault(body: ResponseBody) -> crate::soap::SoapFault {
    match body {
        ResponseBody::Fault(f) => f,
        other => panic!("expected a SOAP fault, got {other:?}"),
    }
}

fn read_items(names: impl Iterator<Item = String>) -> String {
    names
        .map(|n| format!("<Item><UCPTname>{n}</UCPTname></Item>"))
        .collect()
}

#[test]
fn a_read_of_700_items_gets_a_fault_and_no_items() {
    let (svc, _db, _d) = service_with_db();
    let (h, body) = call(
        &svc,
        &wrap("Read", &read_items((0..700).map(|_| SWITCH.to_owned()))),
    );
    assert!(!h.wrote);
    let f = soap_fault(body);
    assert!(
        f.string.contains("700 items") && f.string.contains("100"),
        "{f:?}"
    );
}

#[test]
fn a_read_of_100_items_of_the_longest_values_fits_the_default_limit() {
    let (svc, _d) = wide_service(100, 200);
    let longest = "AB".repeat(crate::datapoints::snvt::MAX_RAW_VALUE_BYTES);
    let names = wide_names(&svc);
    for n in &names {
        svc.table()
            .write_at(
                WriteRequest::new(n.clone(), longest.clone(), UpdateSource::Admin),
                now(),
            )
            .unwrap();
    }
    let (_, body) = call(
        &svc,
        &wrap("Read", &read_items(names.iter().take(100).cloned())),
    );
    let r = items(body);
    assert_eq!((r.fault_count, r.items.len()), (0, 100));
}

#[test]
fn an_answer_larger_than_the_limit_is_a_soap_fault_naming_size_and_limit() {
    // 2,000 points with 300-byte names: a List of all is about 1 MB.
    let (svc, _d) = wide_service(2000, 300);
    let (h, body) = call(&svc, &wrap("List", ""));
    assert!(!h.wrote);
    assert!(h.envelope.to_xml().len() < 2048);
    let f = soap_fault(body);
    let wrapper = ANSWER_WRAPPER_RESERVE + "pidgin@localhost/x".len();
    let limit = (DEFAULT_MAX_STANZA_SIZE - wrapper).to_string();
    assert!(f.string.contains("ListResponse"), "{f:?}");
    assert!(f.string.contains(&limit), "names the limit {limit}: {f:?}");
    assert!(f.string.contains("bytes"), "{f:?}");
}

#[test]
fn the_limit_follows_max_stanza_size() {
    // 100 points with 300-byte names: a List is about 40 kB; fine at 256 KiB, not at 32 KiB.
    let (svc, _d) = wide_service(100, 300);
    let (_, body) = call(&svc, &wrap("List", ""));
    assert_eq!(
        items(body).items.len(),
        102,
        "100 points, RAW and the clock"
    );
    let svc = svc.with_max_stanza_size(32 * 1024);
    let (_, body) = call(&svc, &wrap("List", ""));
    let f = soap_fault(body);
    let wrapper = ANSWER_WRAPPER_RESERVE + "pidgin@localhost/x".len();
    assert!(
        f.string.contains(&(32 * 1024 - wrapper).to_string()),
        "{f:?}"
    );
}

#[test]
fn a_long_iq_id_and_sender_leave_less_room() {
    let (svc, _d) = wide_service(100, 300);
    let svc = svc.with_max_stanza_size(48 * 1024);
    let env = Element::parse(&wrap("List", ""), &Limits::default()).unwrap();
    let from = "pidgin@localhost/x";
    let fits = svc.handle_iq(&env, from, "1", now());
    assert!(fits.envelope.to_xml().contains("ListResponse"));
    let id = "&".repeat(2_000);
    let refused = svc.handle_iq(&env, from, &id, now());
    let text = refused.envelope.to_xml();
    assert!(text.contains("Fault"), "{text}");
}

#[test]
fn a_write_whose_answer_cannot_fit_is_refused_before_anything_is_applied() {
    let (svc, _d) = wide_service(100, 300);
    let svc = svc.with_max_stanza_size(32 * 1024);
    let value = "CD".repeat(crate::datapoints::snvt::MAX_RAW_VALUE_BYTES);
    let names = wide_names(&svc);
    let body: String = names
        .iter()
        .take(100)
        .map(|n| write_item(n, &value, "RAW_HEX", None))
        .collect();
    let (h, resp) = call(&svc, &wrap("Write", &body));
    assert!(!h.wrote);
    let f = soap_fault(resp);
    assert!(f.string.contains("WriteResponse"), "{f:?}");
    for n in names.iter().take(100) {
        assert_eq!(svc.table().read(n).unwrap().text(), "0000", "{n} untouched");
    }
}

#[test]
fn a_200_kb_raw_value_is_refused_with_fault_11_and_not_applied() {
    let (svc, _d) = wide_service(0, 0);
    let value = "AB".repeat(100_000);
    let (h, body) = call(
        &svc,
        &wrap("Write", &write_item(RAW, &value, "RAW_HEX", None)),
    );
    assert!(!h.wrote);
    let w = items(body);
    assert_eq!(w.fault_count, 1);
    let f = w.items[0].fault.clone().unwrap();
    assert_eq!(f.code, FaultCode::FormatError);
    assert!(f.message.len() < 400, "a short fault string: {}", f.message);
    assert_eq!(svc.table().read(RAW).unwrap().text(), "0000");
}

#[test]
fn a_1_mib_value_in_one_item_gets_fault_11_not_a_size_fault() {
    let (svc, _db, _d) = service_with_db();
    let value = "1".repeat(1024 * 1024);
    let (_, body) = call(&svc, &wrap("Write", &write_item(TEMP, &value, "", None)));
    let w = items(body);
    assert_eq!(
        w.items[0].fault.clone().unwrap().code,
        FaultCode::FormatError
    );
}

/// The bound of [`FAULT_ITEM_BYTES`] holds for long fault strings: a value (or format) of
/// quotes, escaped twice in the fault string.
#[test]
fn fault_items_stay_within_their_bound() {
    let (svc, _db, _d) = service_with_db();
    let nasty = "\"".repeat(2000);
    let nasty_attr = "&quot;".repeat(2000);
    for (name, fmt) in [
        (SWITCH, ""),
        (TEMP, ""),
        (SWITCH, "UCPTvalueDef"),
        (SWITCH, "SNVT_switch.value"),
        (SWITCH, "SNVT_switch.nofield"),
        (TEMP, &*nasty_attr),
        (crate::datapoints::RTC_NAME, ""),
    ] {
        let (_, body) = call(&svc, &wrap("Write", &write_item(name, &nasty, fmt, None)));
        let w = items(body);
        let len = w.items[0].item.to_xml().len();
        assert!(
            len <= escaped_len(name) + FAULT_ITEM_BYTES,
            "{name} {fmt:.20}: {len}"
        );
    }
}

#[test]
fn a_huge_preset_name_gets_a_short_fault() {
    let (svc, _db, _d) = service_with_db();
    let name = "N".repeat(200_000);
    let (_, body) = call(
        &svc,
        &wrap("Write", &write_item(SWITCH, &name, "UCPTvalueDef", None)),
    );
    let w = items(body);
    let f = w.items[0].fault.clone().unwrap();
    assert_eq!(f.code, FaultCode::FormatError);
    assert!(f.message.len() < 400, "{}", f.message.len());
}

#[test]
fn a_write_item_of_the_wrong_xsi_type_is_refused_and_not_applied() {
    let (svc, _db, _d) = service_with_db();
    let items_xml = format!(
        r#"<Item xsi:type="Dp_Cfg"><UCPTname>{SWITCH}</UCPTname><UCPTvalue LonFormat="UCPTvalueDef">ON</UCPTvalue></Item>{}<Item xsi:type="Whatever"><UCPTname>{TEMP}</UCPTname><UCPTvalue>30.0</UCPTvalue></Item>"#,
        write_item(TEMP, "25.0", "#0000000000000000[0].SNVT_temp", None)
    );
    let (h, body) = call(&svc, &wrap("Write", &items_xml));
    assert!(h.wrote, "the good item was applied");
    let w = items(body);
    assert_eq!(w.fault_count, 2);
    for i in [0, 2] {
        let f = w.items[i].fault.clone().unwrap();
        assert_eq!(f.code, FaultCode::ParameterError, "{f:?}");
        assert!(f.message.contains("Dp_Data"), "{f:?}");
    }
    assert_eq!(value_of(&w.items[1].item), "25.0");
    assert_eq!(svc.table().read(SWITCH).unwrap().text(), "0.0 0");
    assert_eq!(svc.table().read(TEMP).unwrap().text(), "25.0");
}

#[test]
fn dp_data_with_a_prefix_is_accepted() {
    let (svc, _db, _d) = service_with_db();
    let item = format!(
        r#"<Item xmlns:m="http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/" xsi:type="m:Dp_Data"><UCPTname>{TEMP}</UCPTname><UCPTvalue>26.0</UCPTvalue></Item>"#
    );
    let (_, body) = call(&svc, &wrap("Write", &item));
    assert_eq!(items(body).fault_count, 0);
    assert_eq!(svc.table().read(TEMP).unwrap().text(), "26.0");
}

#[test]
fn processing_time_is_never_negative() {
    let (svc, _db, _d) = service_with_db();
    let env = Element::parse(&wrap("List", ""), &Limits::default()).unwrap();
    let later = SystemTime::now() + std::time::Duration::from_secs(3600);
    assert!(
        svc.handle(&env, "a@b/c", later)
            .envelope
            .to_xml()
            .contains("ListResponse")
    );
}

#[test]
fn a_full_batch_of_the_longest_values_is_applied_at_the_default_limit() {
    let (svc, _d) = wide_service(100, 300);
    let value = "EF".repeat(crate::datapoints::snvt::MAX_RAW_VALUE_BYTES);
    let body: String = wide_names(&svc)
        .iter()
        .map(|n| write_item(n, &value, "RAW_HEX", None))
        .collect();
    let (h, resp) = call(&svc, &wrap("Write", &body));
    assert!(h.wrote);
    let w = items(resp);
    assert_eq!((w.fault_count, w.items.len()), (0, 100));
    assert!(h.envelope.to_xml().len() <= svc.max_answer_bytes());
}
