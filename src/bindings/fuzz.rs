//! Property tests (bounded fuzzing) of binding-file loading: arbitrary text and structured
//! random binding sets never panic, and every error names `FILE:LINE:COL` or `FILE`.

/// Cases per property: `PROPTEST_CASES` if set, else 256 (bounded for CI).
pub(super) fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}
