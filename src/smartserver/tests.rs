use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::datapoints::{DatapointConfig, Direction, DpType, RTC_NAME};
use crate::soap::{ItemsResponse, ResponseBody, SoapError, SystemInfoForm, parse_response};
use crate::xmpp::stanza;
use crate::xmpp::xml::Limits;

pub(super) const SWITCH: &str = "Net/LON/iLON App/Digital Output 1/nviClaValue_1";
pub(super) const TEMP: &str = "Net/LON/iLON App/VirtFb/temp";

pub(crate) fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn service() -> (Service, tempfile::TempDir) {
    let (svc, _, dir) = service_with_db();
    (svc, dir)
}

pub(super) fn service_with_db() -> (Service, sled::Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().path(dir.path()).open().unwrap();
    let table = Table::open(&db, points(), now()).unwrap();
    (Service::new(table, identity()), db, dir)
}

/// The test site's datapoints: a switch and a temperature.
pub(super) fn points() -> Vec<DatapointConfig> {
    vec![
        DatapointConfig {
            name: SWITCH.into(),
            dp_type: DpType::Switch,
            direction: Direction::In,
            initial: "0.0 0".into(),
        },
        DatapointConfig {
            name: TEMP.into(),
            dp_type: DpType::Temp,
            direction: Direction::InOut,
            initial: "21.0".into(),
        },
    ]
}

/// The test site's MAC ID, started now.
pub(super) fn identity() -> Identity {
    Identity {
        mac: Some("08-00-00-1A-7C-62".parse().unwrap()),
        started: now(),
    }
}

fn envelope_of(iq: &str) -> Element {
    let iq = Element::parse(iq, &Limits::default()).unwrap();
    stanza::payload(&iq).unwrap().clone()
}

pub(super) fn call(svc: &Service, xml: &str) -> (Handled, ResponseBody) {
    let env = Element::parse(xml, &Limits::default()).unwrap();
    let h = svc.handle(&env, "pidgin@localhost/x", now());
    // Round trip through text, as a peer would see it.
    let text = h.envelope.to_xml();
    let back = Element::parse(&text, &Limits::default()).unwrap();
    let body = parse_response(&back).unwrap().body;
    (h, body)
}

pub(super) fn items(body: ResponseBody) -> ItemsResponse {
    match body {
        ResponseBody::Items(i) => i,
        other => panic!("expected items, got {other:?}"),
    }
}

pub(super) fn wrap(op: &str, inner: &str) -> String {
    format!(
        r#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Body><{op} xmlns="http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/"><iLonItem>{inner}</iLonItem></{op}></Body></Envelope>"#
    )
}

pub(super) fn write_item(name: &str, value: &str, fmt: &str, prio: Option<u8>) -> String {
    let p = prio
        .map(|p| format!("<UCPTpriority>{p}</UCPTpriority>"))
        .unwrap_or_default();
    format!(
        r#"<Item xsi:type="Dp_Data"><UCPTname>{name}</UCPTname><UCPTvalue LonFormat="{fmt}">{value}</UCPTvalue>{p}</Item>"#
    )
}

pub(super) fn value_of(item: &Element) -> String {
    item.children()
        .find(|c| c.name() == "UCPTvalue" && c.get_attr("LonFormat") != Some("UCPTvalueDef"))
        .map(Element::text_content)
        .unwrap()
}

#[test]
fn every_seed_request_gets_a_well_formed_response() {
    let (svc, _d) = service();
    for (name, iq) in [
        (
            "SI_RTR",
            include_str!("../../tests/vectors/seed_step3_soap_over_xmpp_request_si_rtr.xml"),
        ),
        (
            "Read",
            include_str!("../../tests/vectors/seed_step3_soap_over_xmpp_response_1_read.xml"),
        ),
        (
            "SI_NETWORK",
            include_str!("../../tests/vectors/seed_step3_soap_over_xmpp_response_2_si_network.xml"),
        ),
        (
            "SI_TIME",
            include_str!("../../tests/vectors/seed_step5_7e_system_info_si_time_request.xml"),
        ),
    ] {
        let env = envelope_of(iq);
        let h = svc.handle(&env, "pidgin@localhost/x", now());
        assert!(!h.wrote, "{name}");
        let back = Element::parse(&h.envelope.to_xml(), &Limits::default()).unwrap();
        match parse_response(&back).unwrap().body {
            ResponseBody::Items(i) => {
                assert_eq!(i.fault_count, 0, "{name}");
                assert_eq!(i.items[0].name, RTC_NAME, "{name}");
            }
            ResponseBody::SystemInfo(si) => {
                assert_eq!(si.sections.len(), 1, "{name}");
                assert!(
                    !matches!(si.sections[0], SystemInfoSection::Unsupported(_)),
                    "{name}"
                );
                let want = if name == "SI_TIME" {
                    SystemInfoForm::Inline
                } else {
                    SystemInfoForm::DataString
                };
                assert_eq!(si.form, want, "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn si_network_reports_the_mac_id_and_si_time_the_clock() {
    let (svc, _d) = service();
    let env = envelope_of(include_str!(
        "../../tests/vectors/seed_step3_soap_over_xmpp_response_2_si_network.xml"
    ));
    let text = svc.handle(&env, "a@b/c", now()).envelope.to_xml();
    assert!(text.contains("08-00-00-1A-7C-62"), "{text}");
    let env = envelope_of(include_str!(
        "../../tests/vectors/seed_step5_7e_system_info_si_time_request.xml"
    ));
    let text = svc.handle(&env, "a@b/c", now()).envelope.to_xml();
    assert!(text.contains("2027-01-15T08:00:00"), "{text}");
}

#[test]
fn write_then_read_round_trips_and_echoes_the_new_value() {
    let (svc, _d) = service();
    let (h, body) = call(
        &svc,
        &wrap(
            "Write",
            &write_item(SWITCH, "100.0 1", "#0000000000000000[0].SNVT_switch", None),
        ),
    );
    assert!(h.wrote);
    let w = items(body);
    assert_eq!(w.fault_count, 0);
    assert_eq!(value_of(&w.items[0].item), "100.0 1");
    let (h, body) = call(
        &svc,
        &wrap(
            "Read",
            &format!("<Item><UCPTname>{SWITCH}</UCPTname></Item>"),
        ),
    );
    assert!(!h.wrote);
    let r = items(body);
    assert_eq!(value_of(&r.items[0].item), "100.0 1");
    let text = r.items[0].item.to_xml();
    assert!(text.contains(">ON<"), "preset named in the read: {text}");
    assert!(text.contains("AL_NO_CONDITION"), "{text}");
}

#[test]
fn presets_win_and_priority_rules_hold() {
    let (svc, _d) = service();
    // A preset, written at priority 100.
    let (_, body) = call(
        &svc,
        &wrap(
            "Write",
            &write_item(SWITCH, "ON", "UCPTvalueDef", Some(100)),
        ),
    );
    assert_eq!(items(body).fault_count, 0);
    assert_eq!(svc.table().read(SWITCH).unwrap().text(), "100.0 1");
    // A lower priority (bigger number) does not take effect: echo of the unchanged point.
    let (_, body) = call(
        &svc,
        &wrap(
            "Write",
            &write_item(SWITCH, "OFF", "UCPTvalueDef", Some(200)),
        ),
    );
    assert_eq!(svc.table().read(SWITCH).unwrap().text(), "100.0 1");
    assert_eq!(value_of(&items(body).items[0].item), "100.0 1");
    // A reset with a lower priority (bigger number) than the holder's is refused (fault 12).
    let reset = |p: u8| {
        wrap(
            "InvokeCmd",
            &format!(
                r#"<Item xsi:type="Dp_ResetPrio_Invoke"><UCPTname>{SWITCH}</UCPTname><UCPTpriority>{p}</UCPTpriority></Item>"#
            ),
        )
    };
    let (_, body) = call(&svc, &reset(150));
    let r = items(body);
    assert_eq!(r.fault_count, 1);
    assert_eq!(r.items[0].fault.as_ref().map(|f| f.code.code()), Some(12));
    let (_, body) = call(&svc, &reset(50));
    assert_eq!(items(body).fault_count, 0);
    assert_eq!(svc.table().read(SWITCH).unwrap().priority, 255);
    // Now the default priority writes again.
    call(
        &svc,
        &wrap("Write", &write_item(SWITCH, "OFF", "UCPTvalueDef", None)),
    );
    assert_eq!(svc.table().read(SWITCH).unwrap().text(), "0.0 0");
}

#[test]
fn unknown_name_is_fault_6_and_bad_value_fault_11_without_stopping_other_items() {
    let (svc, _d) = service();
    let inner = write_item("Net/LON/nope", "1", "", None)
        + &write_item(TEMP, "hot", "#0000000000000000[0].SNVT_temp", None)
        + &write_item(TEMP, "22.5", "#0000000000000000[0].SNVT_temp", None);
    let (h, body) = call(&svc, &wrap("Write", &inner));
    assert!(h.wrote);
    let w = items(body);
    assert_eq!(w.fault_count, 2);
    let codes: Vec<_> = w
        .items
        .iter()
        .map(|i| i.fault.as_ref().map(|f| f.code.code()))
        .collect();
    assert_eq!(codes, vec![Some(6), Some(11), None]);
    assert_eq!(svc.table().read(TEMP).unwrap().text(), "22.5");
    let (_, body) = call(
        &svc,
        &wrap("Read", "<Item><UCPTname>Net/LON/nope</UCPTname></Item>"),
    );
    assert_eq!(
        items(body).items[0].fault.as_ref().map(|f| f.code.code()),
        Some(6)
    );
}

#[test]
fn list_and_get_describe_the_table() {
    let (svc, _d) = service();
    let list = r#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><List xmlns="http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/"><iLonItem><xSelect>//Item[@xsi:type="Dp_Cfg"][starts-with(UCPTname,"Net/LON/iLON App/VirtFb")]</xSelect></iLonItem></List></Body></Envelope>"#;
    let (_, body) = call(&svc, list);
    let l = items(body);
    let names: Vec<_> = l.items.iter().map(|i| i.name.clone()).collect();
    assert_eq!(names, vec![TEMP.to_owned()]);
    let (_, body) = call(
        &svc,
        &wrap(
            "Get",
            &format!(r#"<Item xsi:type="Dp_Cfg"><UCPTname>{SWITCH}</UCPTname></Item>"#),
        ),
    );
    let g = items(body);
    let text = g.items[0].item.to_xml();
    assert!(text.contains("#0000000000000000[0].SNVT_switch"), "{text}");
    assert!(text.contains("DIR_IN"), "{text}");
}

#[test]
fn unparseable_envelopes_get_a_soap_fault_and_unknown_operations_too() {
    let (svc, _d) = service();
    let (_, body) = call(
        &svc,
        r#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><Frobnicate xmlns="urn:x"/></Body></Envelope>"#,
    );
    match body {
        ResponseBody::Fault(f) => assert!(f.string.contains("Frobnicate"), "{f:?}"),
        other => panic!("{other:?}"),
    }
    let err = SoapError::NoBody;
    let (_, body) = call(
        &svc,
        r#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"/>"#,
    );
    match body {
        ResponseBody::Fault(f) => assert_eq!(f.string, err.to_string()),
        other => panic!("{other:?}"),
    }
}

fn seq_write(epoch: u64, first: u64, last: u64, values: &[&str]) -> String {
    let items: String = values
        .iter()
        .map(|v| write_item(TEMP, v, "", None))
        .collect();
    format!(
        r#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Header><p:messageProperties xmlns:p="http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/"><seq xmlns="urn:webbinder:replication:1" epoch="{epoch}" first="{first}" last="{last}"/></p:messageProperties></Header><Body><Write xmlns="http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/"><iLonItem>{items}</iLonItem></Write></Body></Envelope>"#
    )
}

#[test]
fn a_peer_batch_is_applied_once_and_replays_only_answered() {
    let (svc, db, _d) = service_with_db();
    let store = crate::store::Store::open(&db).unwrap();
    let svc = svc.with_dedupe(store.clone());
    let history = svc.table().subscribe();
    let mut history = history;
    let (h, body) = call(&svc, &seq_write(7, 1, 3, &["1.0", "2.0", "3.0"]));
    assert!(h.wrote);
    assert_eq!(items(body).fault_count, 0);
    assert_eq!(store.applied_seq("pidgin@localhost", 7).unwrap(), Some(3));
    // The same batch again (its answer was lost): answered, nothing applied.
    let (_, body) = call(&svc, &seq_write(7, 1, 3, &["1.0", "2.0", "3.0"]));
    assert_eq!(items(body).fault_count, 0);
    // A re-batched retry overlapping what was applied: only 4 and 5 are new.
    call(&svc, &seq_write(7, 2, 5, &["2.0", "3.0", "4.0", "5.0"]));
    let mut applied = Vec::new();
    while let Ok(ev) = history.try_recv() {
        applied.push(ev.text);
    }
    assert_eq!(applied, vec!["1.0", "2.0", "3.0", "4.0", "5.0"]);
    assert_eq!(store.applied_seq("pidgin@localhost", 7).unwrap(), Some(5));
    // A replay of an old number in the same epoch is skipped...
    call(&svc, &seq_write(7, 1, 1, &["9.0"]));
    assert_eq!(svc.table().read(TEMP).unwrap().text(), "5.0");
    // ...but another epoch (the sender's store was recreated) starts afresh.
    call(&svc, &seq_write(8, 1, 1, &["9.0"]));
    assert_eq!(svc.table().read(TEMP).unwrap().text(), "9.0");
}
