//! Shared bounds of the property tests (test builds only): every fuzz target runs
//! `PROPTEST_CASES` cases (default 256, so CI stays bounded) and keeps no regression files (a
//! failure found becomes a named test instead).

use proptest::test_runner::Config;

/// Cases per property: `PROPTEST_CASES`, else 256.
pub(crate) fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// [`cases`] cases, no failure persistence.
pub(crate) fn config() -> Config {
    Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    }
}
