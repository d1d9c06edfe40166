//! Property test (issue 8 fuzzing): structured-random envelopes for every operation, handled
//! by a service over a real table, never panic and never get an answer larger than the
//! service's limit, at the default and at the smallest accepted `max_stanza_size`.

use std::sync::OnceLock;

use proptest::prelude::*;

use super::tests::{identity, now, points};
use super::*;
use crate::config::DEFAULT_MAX_STANZA_SIZE;
use crate::datapoints::{DatapointConfig, Direction, DpType};
use crate::soap::tests::fuzz::{config, envelope, quick};
use crate::xmpp::ns as stanza_ns;
use crate::xmpp::stanza;
use crate::xmpp::xml::Limits;

/// A BOSH `<body rid sid xmlns>` wrapper around the answer.
const BOSH_BODY_BYTES: usize = 200;

/// One table for all cases: the fuzzed writes change it, which only widens what is tried.
fn shared() -> &'static (Service, tempfile::TempDir) {
    static SERVICE: OnceLock<(Service, tempfile::TempDir)> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let mut points = points();
        // Enough long names that a List of all cannot fit 16 KiB.
        points.extend((0..200).map(|i| DatapointConfig {
            name: format!("Net/LON/{i:03}/{}", "n".repeat(120)),
            dp_type: DpType::from_name("SNVT_count"),
            direction: Direction::Out,
            initial: "00".into(),
        }));
        let table = Table::open(&db, points, now()).unwrap();
        (Service::new(table, identity()), dir)
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn answers_never_exceed_the_limit(
        text in envelope(),
        small in any::<bool>(),
        id in "[a-z0-9&<\"]{0,400}",
        resource in "[a-z0-9&<'\"]{1,300}",
    ) {
        let env = Element::parse(&text, &Limits::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let max = if small { 16 * 1024 } else { DEFAULT_MAX_STANZA_SIZE };
        let svc = shared().0.clone().with_max_stanza_size(max);
        let from = format!("pidgin@localhost/{resource}");
        let h = quick("handle_iq", || svc.handle_iq(&env, &from, &id, now()));
        // The answer iq as the agent sends it, plus a BOSH <body> wrapper.
        let request = Element::new(stanza_ns::CLIENT, "iq")
            .attr("type", "set")
            .attr("id", id.clone())
            .attr("from", from.clone());
        let iq = stanza::iq_result(&request, Some(h.envelope));
        let len = iq.to_xml().len() + BOSH_BODY_BYTES;
        prop_assert!(len <= max, "{len} > {max}");
    }
}
