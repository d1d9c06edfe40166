//! Property tests (bounded fuzzing) of binding-file loading: arbitrary text and structured
//! random binding sets never panic; every error of [`parse_files`] names its file and a
//! `LINE:COL` inside it; a valid set is consistent.
//!
//! Bounded for CI by `PROPTEST_CASES` (default 256); a crash found here becomes a named
//! regression test in `tests.rs`.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use proptest::prelude::*;
use toml::{Table, Value};

use super::{BindingSet, Context, load_dir, parse_files};
use crate::config::ConfigErrors;
use crate::xmpp::jid::Jid;

pub(super) use crate::fuzzing::cases;

const LOCALS: [&str; 3] = ["Net/a/x", "Net/a/y", "Net/b/é z"];

fn run(files: &[(PathBuf, String)]) -> Result<BindingSet, ConfigErrors> {
    let own: Jid = "08-00-00-1a-7c-62@localhost/ilon".parse().unwrap();
    let locals: BTreeSet<String> = LOCALS.iter().map(|s| (*s).to_owned()).collect();
    parse_files(
        files,
        &Context {
            own_jid: &own,
            local_names: &locals,
        },
    )
}

/// Every error names one of `files` and a position inside that file's text.
fn check_errors(files: &[(PathBuf, String)], errors: &ConfigErrors) -> Result<(), TestCaseError> {
    prop_assert!(!errors.errors().is_empty());
    for e in errors.errors() {
        let text = files.iter().find(|(p, _)| *p == e.path).map(|(_, t)| t);
        prop_assert!(text.is_some(), "error names an unknown file: {e}");
        let text = text.map_or("", String::as_str);
        let Some(pos) = e.position else {
            return Err(TestCaseError::fail(format!("error without LINE:COL: {e}")));
        };
        let lines: Vec<&str> = text.split('\n').collect();
        prop_assert!(
            pos.line >= 1 && pos.line <= lines.len(),
            "line outside the file: {e}"
        );
        let line_chars = lines.get(pos.line - 1).map_or(0, |l| l.chars().count());
        prop_assert!(
            pos.col >= 1 && pos.col <= line_chars + 1,
            "col outside its line: {e}"
        );
        let shown = e.to_string();
        let prefix = format!("{}:{}:{}: ", e.path.display(), pos.line, pos.col);
        prop_assert!(shown.starts_with(&prefix), "{shown}");
    }
    Ok(())
}

/// A valid set refers only to what it defines and has unique keys.
fn check_set(set: &BindingSet) -> Result<(), TestCaseError> {
    let mut keys = HashSet::new();
    for c in &set.connections {
        prop_assert!(keys.insert(&c.key), "duplicate key {}", c.key);
        if let Some(h) = &c.host {
            prop_assert!(set.hosts.contains_key(h), "unknown host {h}");
        }
        prop_assert!(LOCALS.contains(&c.source.as_str()));
    }
    Ok(())
}

/// TOML-looking text: fragments of binding files, keys, values and junk, in any order.
fn tomlish() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("[[host]]\n".to_owned()),
        Just("[[connection]]\n".to_owned()),
        Just("[host]\n".to_owned()),
        "[a-z_]{1,12} = \"[^\"\\\\\n]{0,20}\"\n",
        "(name|mac_id|domain|resource|retry_time|connection_timeout|format) = \"[ -~é]{0,24}\"\n",
        "(source|host|target|delivery|min_send_time|max_send_time) = \"[ -~é]{0,24}\"\n",
        "(priority|send_on_delta) = (-?[0-9]{1,20}|nan|inf|-inf|[0-9]\\.[0-9]e[0-9]{1,3})\n",
        "[ -~\n\té\u{1F600}]{0,30}",
        Just("\n".to_owned()),
    ];
    prop::collection::vec(fragment, 0..40).prop_map(|parts| parts.concat())
}

fn files_of(texts: Vec<String>) -> Vec<(PathBuf, String)> {
    texts
        .into_iter()
        .enumerate()
        .map(|(i, t)| (PathBuf::from(format!("/b/{i}.toml")), t))
        .collect()
}

/// A value that is valid 19 times in 20: `good`, else `bad`.
fn mostly(
    good: impl Strategy<Value = String> + 'static,
    bad: impl Strategy<Value = String> + 'static,
) -> impl Strategy<Value = String> {
    prop_oneof![19 => good.boxed(), 1 => bad.boxed()]
}

/// An optional key, absent half the time.
fn maybe<T: std::fmt::Debug>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Option<T>> {
    prop::option::of(s)
}

/// The `i`th `[[host]]`: valid (its own name and MAC) 19 times in 20 per key.
fn host(i: usize) -> impl Strategy<Value = Table> {
    (
        mostly(Just(format!("site-{i}")), "site-[0-3]|bad name|"),
        mostly(
            Just(format!("00-D0-71-02-1B-{i:02X}")),
            "08-00-00-1a-7c-62|[0-9a-f:]{0,14}",
        ),
        maybe(mostly("localhost|other\\.example", "x y|")),
        maybe(mostly(Just("ilon".to_owned()), "r/x|")),
        maybe(mostly("[1-9][0-9]{0,2}(s|ms|m)", "0s|[0-9]x")),
        maybe(mostly("[1-9][0-9]?s", "0s|soon")),
        maybe(mostly("datapoint|raw", "hex")),
    )
        .prop_map(|(name, mac, domain, resource, retry, timeout, format)| {
            let mut t = Table::new();
            t.insert("name".to_owned(), Value::String(name));
            t.insert("mac_id".to_owned(), Value::String(mac));
            for (k, v) in [
                ("domain", domain),
                ("resource", resource),
                ("retry_time", retry),
                ("connection_timeout", timeout),
                ("format", format),
            ] {
                if let Some(v) = v {
                    t.insert(k.to_owned(), Value::String(v));
                }
            }
            t
        })
}

/// The `j`th `[[connection]]` to one of `hosts` hosts (or internal): valid 19 times in 20
/// per key.
fn connection(j: usize, hosts: usize) -> impl Strategy<Value = Table> {
    let local = || prop::sample::select(LOCALS.to_vec()).prop_map(str::to_owned);
    let host = if hosts == 0 {
        Just(None).boxed()
    } else {
        maybe((0..hosts).prop_map(|h| format!("site-{h}"))).boxed()
    };
    (
        mostly(local(), "[ -~]{0,8}"),
        host,
        mostly(
            Just(format!("Net/r/{j}")),
            prop_oneof![local(), Just(String::new())],
        ),
        maybe(prop_oneof![19 => 0i64..=255, 1 => -2i64..300]),
        maybe(mostly("every-change|latest", "all")),
        maybe(prop_oneof![
            19 => 0.0f64..10.0,
            1 => prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(-0.0), -1.0f64..0.0],
        ]),
        maybe(mostly("[0-9]{1,2}(s|ms)", "1h|x")),
        maybe(mostly("[1-9][0-9]?m", "0s|x")),
    )
        .prop_map(
            move |(source, host, target, priority, delivery, delta, min, max)| {
                let mut t = Table::new();
                t.insert("source".to_owned(), Value::String(source));
                let internal = host.is_none();
                if let Some(h) = host {
                    t.insert("host".to_owned(), Value::String(h));
                }
                // An internal connection's target must be another local datapoint.
                let target = if internal && target.starts_with("Net/r/") {
                    LOCALS[j % LOCALS.len()].to_owned()
                } else {
                    target
                };
                t.insert("target".to_owned(), Value::String(target));
                let s = |v: Option<String>| v.map(Value::String);
                for (k, v) in [
                    ("priority", priority.map(Value::Integer)),
                    ("delivery", s(delivery)),
                    ("send_on_delta", delta.map(Value::Float)),
                    ("min_send_time", s(min)),
                    ("max_send_time", s(max)),
                ] {
                    if let Some(v) = v {
                        t.insert(k.to_owned(), v);
                    }
                }
                t
            },
        )
}

/// Binding files with, between them, some hosts and connections, serialised by `toml`;
/// hosts and connections are dealt to files round-robin.
fn binding_files() -> impl Strategy<Value = Vec<String>> {
    (1usize..4, 0usize..4, 0usize..10).prop_flat_map(|(files, hosts, connections)| {
        let hosts: Vec<_> = (0..hosts).map(host).collect();
        let connections: Vec<_> = (0..connections)
            .map(|j| connection(j, hosts.len()))
            .collect();
        (hosts, connections).prop_map(move |(hosts, connections)| {
            let mut tables = vec![(Vec::new(), Vec::new()); files];
            for (i, h) in hosts.into_iter().enumerate() {
                tables[i % files].0.push(Value::Table(h));
            }
            for (j, c) in connections.into_iter().enumerate() {
                tables[j % files].1.push(Value::Table(c));
            }
            tables
                .into_iter()
                .map(|(hosts, connections)| {
                    let mut file = Table::new();
                    if !hosts.is_empty() {
                        file.insert("host".to_owned(), Value::Array(hosts));
                    }
                    if !connections.is_empty() {
                        file.insert("connection".to_owned(), Value::Array(connections));
                    }
                    toml::to_string(&file).unwrap_or_default()
                })
                .collect()
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_text_never_panics_and_errors_carry_file_line_col(
        texts in prop::collection::vec(prop_oneof![tomlish(), any::<String>()], 1..4),
    ) {
        let files = files_of(texts);
        match run(&files) {
            Ok(set) => check_set(&set)?,
            Err(errors) => check_errors(&files, &errors)?,
        }
    }

    #[test]
    fn random_binding_sets_never_panic_and_errors_carry_file_line_col(
        texts in binding_files(),
    ) {
        let files = files_of(texts);
        match run(&files) {
            Ok(set) => {
                check_set(&set)?;
                let defined: usize = set.files.iter().map(|f| f.connections).sum();
                prop_assert_eq!(defined, set.connections.len());
            }
            Err(errors) => check_errors(&files, &errors)?,
        }
    }
}

proptest! {
    // Each case writes files to disk: fewer of them.
    #![proptest_config(ProptestConfig::with_cases(cases().div_ceil(8)))]

    #[test]
    fn load_dir_of_arbitrary_bytes_never_panics_and_names_the_file(
        contents in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..4),
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut names = Vec::new();
        for (i, bytes) in contents.iter().enumerate() {
            let path = dir.path().join(format!("{i}.toml"));
            std::fs::write(&path, bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            names.push(path);
        }
        let own: Jid = "08-00-00-1a-7c-62@localhost".parse().unwrap();
        let locals = BTreeSet::new();
        let ctx = Context { own_jid: &own, local_names: &locals };
        if let Err(errors) = load_dir(dir.path(), &ctx) {
            for e in errors.errors() {
                prop_assert!(names.contains(&e.path), "{e}");
            }
        }
    }
}
