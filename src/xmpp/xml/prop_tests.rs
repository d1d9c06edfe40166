//! Property tests (fuzzing) of the XML reader: arbitrary and structured
//! random input never panics, limits hold on whatever is accepted, and
//! serialised trees read back equal. Bounded: `PROPTEST_CASES` (default 256)
//! cases per property, and a wall-clock guard against hangs.

use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use super::*;

pub(crate) use crate::fuzzing::config;

/// Runs `f` on its own thread and fails if it takes longer than `limit`
/// (per 256 cases): a hang in the code under test fails the test instead of
/// stalling CI.
pub(crate) fn with_deadline(limit: Duration, f: impl FnOnce() + Send + 'static) {
    let limit = limit * config().cases.div_ceil(256).max(1);
    let (tx, rx) = mpsc::channel();
    let h = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => {}
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = h.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("property test still running after {limit:?}: a hang")
        }
    }
}

fn run<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(config());
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

fn depth(e: &Element) -> usize {
    1 + e.children().map(depth).max().unwrap_or(0)
}

fn count(e: &Element) -> usize {
    1 + e.children().map(count).sum::<usize>()
}

fn max_attrs(e: &Element) -> usize {
    e.children()
        .map(max_attrs)
        .max()
        .unwrap_or(0)
        .max(e.attrs.len() + e.decls.len())
}

/// Text made mostly of XML's special characters and markup fragments.
fn xmlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<".to_owned()),
        Just(">".to_owned()),
        Just("/".to_owned()),
        Just("&".to_owned()),
        Just(";".to_owned()),
        Just("=".to_owned()),
        Just("'".to_owned()),
        Just("\"".to_owned()),
        Just("<a>".to_owned()),
        Just("</a>".to_owned()),
        Just("<b x='1'/>".to_owned()),
        Just("<p:c xmlns:p='urn:p'>".to_owned()),
        Just("</p:c>".to_owned()),
        Just("&amp;".to_owned()),
        Just("&#x41;".to_owned()),
        Just("&#0;".to_owned()),
        Just("&lol;".to_owned()),
        Just("<!--c-->".to_owned()),
        Just("<![CDATA[x]]>".to_owned()),
        Just("<?pi x?>".to_owned()),
        Just("<!DOCTYPE a>".to_owned()),
        Just("xmlns='urn:x'".to_owned()),
        Just(" ".to_owned()),
        "[a-z]{1,3}",
        any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

#[test]
fn arbitrary_input_never_panics() {
    with_deadline(Duration::from_secs(120), || {
        let limits = Limits {
            max_bytes: 4096,
            max_depth: 8,
        };
        let stanza = StanzaLimits {
            max_bytes: 64,
            max_depth: 3,
            max_attrs: 2,
            max_elements: 5,
        };
        run(prop_oneof![any::<String>(), xmlish()], |s| {
            let _ = Element::parse(&s, &limits);
            let _ = Element::parse_document(&s, &limits, &stanza);
            let wrapped = format!("<body xmlns='urn:b'>{s}</body>");
            let _ = Element::parse_document(&wrapped, &limits, &stanza);
            Ok(())
        });
    });
}

#[test]
fn accepted_documents_respect_the_limits() {
    with_deadline(Duration::from_secs(120), || {
        let strategy = (
            xmlish(),
            1usize..6,
            1usize..6,
            0usize..4,
            1usize..8,
            8usize..200,
        );
        run(
            strategy,
            |(s, max_depth, st_depth, st_attrs, st_elems, st_bytes)| {
                let limits = Limits {
                    max_bytes: 2048,
                    max_depth,
                };
                if let Ok(e) = Element::parse(&s, &limits) {
                    prop_assert!(depth(&e) <= max_depth);
                    prop_assert!(s.len() <= limits.max_bytes);
                }
                let stanza = StanzaLimits {
                    max_bytes: st_bytes,
                    max_depth: st_depth,
                    max_attrs: st_attrs,
                    max_elements: st_elems,
                };
                let wrapped = format!("<body>{s}</body>");
                if let Ok(d) = Element::parse_document(&wrapped, &limits, &stanza) {
                    for c in d.root.children() {
                        prop_assert!(depth(c) <= st_depth, "{}", c.to_xml());
                        prop_assert!(count(c) <= st_elems, "{}", c.to_xml());
                        prop_assert!(max_attrs(c) <= st_attrs, "{}", c.to_xml());
                    }
                    let kept = d.root.children().count();
                    let mut last = None;
                    for r in &d.rejected {
                        prop_assert!(r.index < kept + d.rejected.len());
                        prop_assert!(last.is_none_or(|l| l < r.index), "indexes rise");
                        prop_assert!(r.head.nodes().is_empty());
                        last = Some(r.index);
                    }
                }
                Ok(())
            },
        );
    });
}

// ------------------------------------------------- structured random trees ---

const NAMESPACES: &[&str] = &[
    "",
    "jabber:client",
    "urn:x",
    "http://www.w3.org/2001/XMLSchema-instance",
    "urn:xmpp:xbosh",
];

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_.-]{0,6}"
}

/// Text XML can carry and read back as is (no control characters, which
/// serialisation replaces; never empty).
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            any::<char>().prop_filter("xml char", |c| {
                ((*c as u32) >= 0x20 || matches!(c, '\t' | '\n' | '\r'))
                    && !matches!(c, '\u{FFFE}' | '\u{FFFF}')
            }),
            prop::sample::select(vec!['<', '>', '&', '\'', '"', ']', '\r', '\n', '\t']),
        ],
        1..12,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn attr_ns() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        1 => prop::sample::select(&NAMESPACES[1..]).prop_map(|s| Some(s.to_owned())),
        1 => Just(Some(NS_XML.to_owned())),
    ]
}

pub(super) fn leaf() -> impl Strategy<Value = Element> {
    (
        prop::sample::select(NAMESPACES),
        name(),
        prop::option::of(prop::sample::select(vec!["p", "soap", "xsi", "ns0"])),
        proptest::collection::vec((attr_ns(), name(), text()), 0..4),
    )
        .prop_map(|(ns, n, prefix, attrs)| {
            let mut e = Element::new(ns, &n);
            if let Some(p) = prefix
                && !ns.is_empty()
            {
                e = e.with_prefix(p);
            }
            for (ans, an, v) in attrs {
                e.set_attr_ns(ans.as_deref(), &an, v);
            }
            e
        })
}

pub(super) fn tree() -> impl Strategy<Value = Element> {
    leaf().prop_recursive(6, 48, 5, |inner| {
        (
            leaf(),
            proptest::collection::vec(
                prop_oneof![inner.prop_map(Node::Element), text().prop_map(Node::Text)],
                0..5,
            ),
        )
            .prop_map(|(mut e, kids)| {
                for k in kids {
                    // Adjacent texts read back as one: merge them up front.
                    match (e.children.last_mut(), k) {
                        (Some(Node::Text(t)), Node::Text(more)) => t.push_str(&more),
                        (_, k) => e.children.push(k),
                    }
                }
                e
            })
    })
}

#[test]
fn serialised_trees_read_back_equal() {
    with_deadline(Duration::from_secs(120), || {
        run(tree(), |e| {
            let s = e.to_xml();
            let back = Element::parse(&s, &Limits::default());
            prop_assert_eq!(back.as_ref(), Ok(&e), "{}", s);
            // And as stanzas of a body, carried as fragments.
            let body = Element::new("http://jabber.org/protocol/httpbind", "body");
            let frag = e.to_xml_fragment();
            let wrapped = body.to_xml_wrapping(&[&frag, &frag]);
            let d = Element::parse_document(&wrapped, &Limits::default(), &StanzaLimits::default());
            let d = d.map_err(|err| TestCaseError::fail(format!("{err}: {wrapped}")))?;
            prop_assert!(d.rejected.is_empty());
            prop_assert_eq!(d.root.children().collect::<Vec<_>>(), vec![&e, &e]);
            Ok(())
        });
    });
}

#[test]
fn stanzas_over_the_depth_limit_are_exactly_the_rejected_ones() {
    with_deadline(Duration::from_secs(120), || {
        let strategy = (proptest::collection::vec(1usize..12, 0..8), 1usize..8);
        run(strategy, |(depths, max_depth)| {
            let mut s = String::from("<body xmlns='urn:b'>");
            for (i, d) in depths.iter().enumerate() {
                s.push_str(&format!("<m xmlns='jabber:client' id='{i}'>"));
                s.push_str(&"<x>".repeat(d - 1));
                s.push_str(&"</x>".repeat(d - 1));
                s.push_str("</m>");
            }
            s.push_str("</body>");
            let stanza = StanzaLimits {
                max_depth,
                ..StanzaLimits::default()
            };
            let d = Element::parse_document(&s, &Limits::default(), &stanza)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let want_rejected: Vec<usize> = (0..depths.len())
                .filter(|i| depths[*i] > max_depth)
                .collect();
            let got: Vec<usize> = d.rejected.iter().map(|r| r.index).collect();
            prop_assert_eq!(&got, &want_rejected);
            let ids: Vec<String> = d
                .root
                .children()
                .filter_map(|c| c.get_attr("id").map(str::to_owned))
                .collect();
            let want_kept: Vec<String> = (0..depths.len())
                .filter(|i| depths[*i] <= max_depth)
                .map(|i| i.to_string())
                .collect();
            prop_assert_eq!(ids, want_kept);
            for r in &d.rejected {
                let id = r.index.to_string();
                prop_assert_eq!(r.head.get_attr("id"), Some(id.as_str()));
            }
            Ok(())
        });
    });
}
