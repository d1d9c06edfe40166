//! Issue 9: a peer webbinder's Write with `prev` (SPEC §5 "Several Writes in flight"): gaps
//! refused whole, duplicates skipped, the older form still served, and the compact answer read
//! back by the sender's reader.

use super::tests::{SWITCH, TEMP, call, now, service_with_db};
use super::*;
use crate::soap::{
    LonValue, ResponseBody, Seq, SeqGap, WriteAnswer, build_write_request, parse_response,
    read_write_answer,
};
use crate::store::Store;
use crate::xmpp::xml::Limits;

const SENDER: &str = "pidgin@localhost";

struct Peer {
    svc: Service,
    store: Store,
    history: tokio::sync::broadcast::Receiver<crate::datapoints::ChangeEvent>,
    _dir: tempfile::TempDir,
}

impl Peer {
    fn new() -> Peer {
        Peer::with_max_stanza_size(crate::config::DEFAULT_MAX_STANZA_SIZE)
    }

    fn with_max_stanza_size(limit: usize) -> Peer {
        let (svc, db, dir) = service_with_db();
        let store = Store::open(&db).unwrap();
        let svc = svc.with_dedupe(store.clone()).with_max_stanza_size(limit);
        let history = svc.table().subscribe();
        Peer {
            svc,
            store,
            history,
            _dir: dir,
        }
    }

    /// The values applied since the last call, in order.
    fn applied(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(ev) = self.history.try_recv() {
            out.push(ev.text);
        }
        out
    }

    fn applied_seq(&self, epoch: u64) -> Option<u64> {
        self.store.applied_seq(SENDER, epoch).unwrap()
    }

    /// Sends `items` (target, value) numbered from `first`; returns whether the table or the
    /// applied seq changed, and the answer as the sender reads it.
    fn send(&self, seq: Seq, items: &[(&str, &str)]) -> (bool, WriteAnswer) {
        let (h, answer) = self.send_raw(seq, items);
        let answer = read_write_answer(&answer, items.len(), seq.first).unwrap();
        (h.wrote, answer)
    }

    fn send_raw(&self, seq: Seq, items: &[(&str, &str)]) -> (Handled, Element) {
        let props = MessageProperties {
            seq: Some(seq),
            ..MessageProperties::default()
        };
        let items: Vec<WriteItem> = items
            .iter()
            .map(|(name, v)| WriteItem::new(*name, LonValue::new(*v, "")))
            .collect();
        let env = build_write_request(&props, &items).unwrap();
        let h = self.svc.handle(&env, &format!("{SENDER}/ilon"), now());
        // Through text, as the sender sees it.
        let back = Element::parse(&h.envelope.to_xml(), &Limits::default()).unwrap();
        (h, back)
    }
}

fn seq(first: u64, last: u64, prev: Option<u64>) -> Seq {
    Seq {
        epoch: 7,
        first,
        last,
        prev,
    }
}

fn delivered() -> WriteAnswer {
    WriteAnswer::Delivered {
        refused: Vec::new(),
    }
}

#[test]
fn a_batch_after_a_gap_is_refused_whole_with_a_typed_server_fault() {
    let mut peer = Peer::new();
    let (wrote, answer) = peer.send(
        seq(1, 3, Some(0)),
        &[(TEMP, "1.0"), (TEMP, "2.0"), (TEMP, "3.0")],
    );
    assert!(wrote);
    assert_eq!(answer, delivered());
    assert_eq!(peer.applied(), vec!["1.0", "2.0", "3.0"]);
    // 4..6 (prev 3) is lost or still in flight; 7..8 follows it.
    let (h, env) = peer.send_raw(seq(7, 8, Some(6)), &[(TEMP, "7.0"), (TEMP, "8.0")]);
    assert!(!h.wrote);
    let fault = match parse_response(&env).unwrap().body {
        ResponseBody::Fault(f) => f,
        other => panic!("expected a fault, got {other:?}"),
    };
    assert_eq!(fault.side(), Some(FaultSide::Server));
    assert!(
        fault
            .string
            .starts_with("seq gap: applied 3 from pidgin@localhost epoch 7, this batch follows 6"),
        "{}",
        fault.string
    );
    assert_eq!(
        fault.gap,
        Some(SeqGap {
            applied: 3,
            prev: 6
        })
    );
    assert_eq!(
        read_write_answer(&env, 2, 7).unwrap(),
        WriteAnswer::Gap {
            applied: 3,
            prev: 6
        }
    );
    assert_eq!(peer.applied(), Vec::<String>::new());
    assert_eq!(peer.applied_seq(7), Some(3));
    assert_eq!(peer.svc.table().read(TEMP).unwrap().text(), "3.0");
    // The sender resends from its oldest unacknowledged write: both batches apply in order.
    let (_, answer) = peer.send(
        seq(4, 6, Some(3)),
        &[(TEMP, "4.0"), (TEMP, "5.0"), (TEMP, "6.0")],
    );
    assert_eq!(answer, delivered());
    let (_, answer) = peer.send(seq(7, 8, Some(6)), &[(TEMP, "7.0"), (TEMP, "8.0")]);
    assert_eq!(answer, delivered());
    assert_eq!(peer.applied(), vec!["4.0", "5.0", "6.0", "7.0", "8.0"]);
    assert_eq!(peer.applied_seq(7), Some(8));
}

#[test]
fn a_first_batch_whose_prev_was_never_applied_is_a_gap() {
    let mut peer = Peer::new();
    let (wrote, answer) = peer.send(seq(6, 6, Some(5)), &[(TEMP, "6.0")]);
    assert!(!wrote);
    assert_eq!(
        answer,
        WriteAnswer::Gap {
            applied: 0,
            prev: 5
        }
    );
    assert_eq!(peer.applied(), Vec::<String>::new());
    assert_eq!(peer.applied_seq(7), None);
}

#[test]
fn duplicates_are_skipped_and_answered_as_before() {
    let mut peer = Peer::new();
    peer.send(
        seq(1, 3, Some(0)),
        &[(TEMP, "1.0"), (TEMP, "2.0"), (TEMP, "3.0")],
    );
    peer.applied();
    // The same batch again (its answer was lost): answered, nothing applied; the answer still
    // waits for the commit (the first apply may not be durable yet).
    let (wrote, answer) = peer.send(
        seq(1, 3, Some(0)),
        &[(TEMP, "1.0"), (TEMP, "2.0"), (TEMP, "3.0")],
    );
    assert!(wrote);
    assert_eq!(answer, delivered());
    // A re-batched retry overlapping what was applied: only 4 and 5 are new.
    let (wrote, answer) = peer.send(
        seq(2, 5, Some(1)),
        &[(TEMP, "2.0"), (TEMP, "3.0"), (TEMP, "4.0"), (TEMP, "5.0")],
    );
    assert!(wrote);
    assert_eq!(answer, delivered());
    assert_eq!(peer.applied(), vec!["4.0", "5.0"]);
    assert_eq!(peer.applied_seq(7), Some(5));
}

#[test]
fn a_seq_without_prev_is_served_as_before() {
    let mut peer = Peer::new();
    peer.send(seq(1, 2, None), &[(TEMP, "1.0"), (TEMP, "2.0")]);
    // An older sender knows no prev: a jump is applied (no gap can be told).
    let (wrote, answer) = peer.send(seq(10, 10, None), &[(TEMP, "10.0")]);
    assert!(wrote);
    assert_eq!(answer, delivered());
    peer.send(seq(9, 10, None), &[(TEMP, "9.0"), (TEMP, "10.0")]);
    assert_eq!(peer.applied(), vec!["1.0", "2.0", "10.0"]);
    assert_eq!(peer.applied_seq(7), Some(10));
}

#[test]
fn a_seq_that_does_not_number_the_items_is_refused_before_anything_is_applied() {
    let mut peer = Peer::new();
    let props = MessageProperties {
        seq: Some(seq(1, 3, Some(0))),
        ..MessageProperties::default()
    };
    let items = vec![WriteItem::new(TEMP, LonValue::new("1.0", "")); 3];
    let env = build_write_request(&props, &items).unwrap();
    // A gapped range: item i would be numbered first + i, so it cannot be numbered at all.
    let text = env.to_xml().replace(r#"last="3""#, r#"last="5""#);
    let (h, body) = call(&peer.svc, &text);
    assert!(!h.wrote);
    match body {
        ResponseBody::Fault(f) => {
            assert_eq!(f.side(), Some(FaultSide::Client));
            assert_eq!(f.string, "seq 1..5 cannot number 3 items");
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    assert_eq!(peer.applied(), Vec::<String>::new());
    assert_eq!(peer.applied_seq(7), None);
}

#[test]
fn the_compact_answer_names_each_faulted_item_by_its_seq() {
    let mut peer = Peer::new();
    let batch = [
        (TEMP, "1.0"),
        ("Net/LON/nowhere", "1.0"),
        (TEMP, "not a temperature"),
        (TEMP, "4.0"),
        (SWITCH, "100.0 1"),
    ];
    let (h, env) = peer.send_raw(seq(11, 15, Some(0)), &batch);
    assert!(h.wrote);
    // Only the two faulted items travel, each with its seq number; the echoed seq marks it.
    let text = env.to_xml();
    assert_eq!(text.matches("<UCPTname>").count(), 2, "{text}");
    assert!(
        text.contains(r#"wb:seq="12""#) && text.contains(r#"wb:seq="13""#),
        "{text}"
    );
    match read_write_answer(&env, batch.len(), 11).unwrap() {
        WriteAnswer::Delivered { refused } => {
            let at: Vec<usize> = refused.iter().map(|(i, _)| *i).collect();
            assert_eq!(at, vec![1, 2]);
            assert!(refused[0].1.starts_with("fault 6:"), "{refused:?}");
            assert!(refused[1].1.starts_with("fault 11:"), "{refused:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(peer.applied(), vec!["1.0", "4.0", "100.0 1"]);
    // Replayed, the unknown target is still reported (the table still lacks it).
    let (_, answer) = peer.send(seq(11, 15, Some(0)), &batch);
    assert_eq!(
        answer,
        WriteAnswer::Delivered {
            refused: vec![(1, "fault 6: Instance doesn't exist".into())]
        }
    );
}

#[test]
fn a_write_with_seq_to_a_service_without_dedupe_gets_the_full_answer() {
    let (svc, _db, _dir) = service_with_db();
    let props = MessageProperties {
        seq: Some(seq(1, 2, Some(0))),
        ..MessageProperties::default()
    };
    let items = vec![WriteItem::new(TEMP, LonValue::new("1.0", "")); 2];
    let env = build_write_request(&props, &items).unwrap();
    let h = svc.handle(&env, "pidgin@localhost/x", now());
    match parse_response(&h.envelope).unwrap().body {
        ResponseBody::Items(i) => assert_eq!(i.items.len(), 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(read_write_answer(&h.envelope, 2, 1).unwrap(), delivered());
}

#[test]
fn the_compact_bound_holds_for_a_full_batch_of_faults() {
    let peer = Peer::new();
    let names: Vec<String> = (0..100)
        .map(|i| format!("Net/LON/missing & <{i:03}>/{}", "\"".repeat(40)))
        .collect();
    let value = "\"quoted\" & <long> value ".repeat(20);
    // Missing targets (fault 6, long escaped names) and values that cannot be formatted
    // (fault 11, quoting the value).
    let items: Vec<(&str, &str)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (if i % 2 == 0 { n.as_str() } else { TEMP }, value.as_str()))
        .collect();
    let (_, env) = peer.send_raw(seq(1, 100, Some(0)), &items);
    let items: Vec<WriteItem> = items
        .iter()
        .map(|(n, v)| WriteItem::new(*n, LonValue::new(*v, "")))
        .collect();
    let bound = replicated::compact_answer_bound(&items);
    let size = env.to_xml().len();
    assert!(size <= bound, "{size} > {bound}");
    match read_write_answer(&env, 100, 1).unwrap() {
        WriteAnswer::Delivered { refused } => assert_eq!(refused.len(), 100),
        other => panic!("{other:?}"),
    }
}

/// The answer to the bench's batch (100 every-change updates of one SNVT_temp target), full
/// and compact. `cargo test --lib answer_sizes -- --nocapture` prints the figures.
#[test]
fn answer_sizes_of_a_100_item_batch() {
    let values: Vec<String> = (0..100).map(|i| format!("{}.5", i + 10)).collect();
    let batch: Vec<(&str, &str)> = values.iter().map(|v| (TEMP, v.as_str())).collect();
    let props = MessageProperties {
        seq: Some(seq(1, 100, Some(0))),
        ..MessageProperties::default()
    };
    let items: Vec<WriteItem> = batch
        .iter()
        .map(|(n, v)| WriteItem::new(*n, LonValue::new(*v, "")))
        .collect();
    let request = build_write_request(&props, &items).unwrap().to_xml().len();
    // Before: a service answering every item (as every webbinder did).
    let (full_svc, _db, _dir) = service_with_db();
    let env = build_write_request(&props, &items).unwrap();
    let full = full_svc
        .handle(&env, "pidgin@localhost/x", now())
        .envelope
        .to_xml()
        .len();
    let peer = Peer::new();
    let (_, answer) = peer.send_raw(seq(1, 100, Some(0)), &batch);
    let compact = answer.to_xml().len();
    println!(
        "100-item Write: request {request} bytes; answer full {full} bytes, compact {compact} bytes"
    );
    assert!(full > 30_000, "{full}");
    assert!(compact < 1_000, "{compact}");
}

/// [`FAULT_ITEM_BYTES`] also bounds a compact answer's item (with its 20-digit `wb:seq`), and
/// [`ENVELOPE_BYTES`] its envelope with the echoed `<seq>` of 20-digit numbers: the compact
/// bound is never above the full one, which the sender's batch sizing assumes.
#[test]
fn compact_fault_items_and_envelope_stay_within_the_full_bounds() {
    use super::budget::{ENVELOPE_BYTES, FAULT_ITEM_BYTES, escaped_len};
    let peer = Peer::new();
    let nasty = "\"".repeat(2000);
    let nasty_attr = "&quot;".repeat(2000);
    let cases = [
        (SWITCH, ""),
        (TEMP, ""),
        (SWITCH, "UCPTvalueDef"),
        (SWITCH, "SNVT_switch.value"),
        (SWITCH, "SNVT_switch.nofield"),
        (TEMP, &*nasty_attr),
        (crate::datapoints::RTC_NAME, ""),
    ];
    let items: Vec<WriteItem> = cases
        .iter()
        .map(|(name, fmt)| WriteItem::new(*name, LonValue::new(nasty.clone(), *fmt)))
        .collect();
    let first = u64::MAX - 10;
    let big = Seq {
        epoch: u64::MAX,
        first,
        last: first + items.len() as u64 - 1,
        prev: Some(first - 1),
    };
    let props = MessageProperties {
        seq: Some(big),
        ..MessageProperties::default()
    };
    // A receiver that applied up to first - 1 in that epoch.
    peer.store
        .set_applied_seq(SENDER, u64::MAX, first - 1)
        .unwrap();
    let env = build_write_request(&props, &items).unwrap();
    let h = peer.svc.handle(&env, &format!("{SENDER}/ilon"), now());
    let answer = Element::parse(&h.envelope.to_xml(), &Limits::default()).unwrap();
    let resp = match parse_response(&answer).unwrap().body {
        ResponseBody::Items(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(resp.items.len(), cases.len());
    let mut envelope = answer.to_xml().len();
    for ((name, fmt), it) in cases.iter().zip(&resp.items) {
        let len = it.item.to_xml().len();
        assert!(
            len <= escaped_len(name) + FAULT_ITEM_BYTES,
            "{name} {fmt:.20}: {len}"
        );
        envelope -= len;
    }
    assert!(envelope <= ENVELOPE_BYTES, "{envelope}");
    assert!(answer.to_xml().len() <= replicated::compact_answer_bound(&items));
}

#[test]
fn a_batch_whose_compact_answer_could_not_fit_is_retried_not_applied() {
    let mut peer = Peer::with_max_stanza_size(32 * 1024);
    let batch = vec![(TEMP, "1.0"); 100];
    let (wrote, answer) = peer.send(seq(1, 100, Some(0)), &batch);
    assert!(!wrote);
    match answer {
        WriteAnswer::Retry(why) => assert!(why.starts_with("answer too large"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(peer.applied(), Vec::<String>::new());
    assert_eq!(peer.applied_seq(7), None);
    // 20 such items fit (20 x 1,052 bytes + 2 KiB).
    let (_, answer) = peer.send(seq(1, 20, Some(0)), &batch[..20]);
    assert_eq!(answer, delivered());
}
