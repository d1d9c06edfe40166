//! The byte budget of one answer: what the server's stanza limit leaves for the answer
//! envelope, and the SOAP `Fault` sent instead of an answer that would not fit (SPEC §5 Sizes).

use crate::soap::SoapFault;

/// Bytes kept free below `xmpp.max_stanza_size` for what wraps an answer envelope on the
/// wire: the BOSH `<body>` (about 200 bytes) and the `<iq type='result'>` with its `to` and
/// `from` JIDs (up to 3,071 bytes each, RFC 7622). A long request `id` is counted on top.
pub const ANSWER_WRAPPER_RESERVE: usize = 8 * 1024;

/// Request `id` bytes that fit in [`ANSWER_WRAPPER_RESERVE`]; a longer id is counted.
pub(super) const ID_SLACK: usize = 256;
/// Bytes of a Write answer's item besides its name and values: annotation, times, status,
/// priority, and a fault string (whose quotes of the input are cut to 64 characters).
pub(super) const WRITE_ITEM_MARGIN: usize = 1024;
/// Bytes of an answer envelope besides its items: header, body and `iLonItem`.
pub(super) const ENVELOPE_MARGIN: usize = 2048;

/// How many bytes one answer may have, and the fault that says so.
pub(super) struct Budget {
    pub(super) max_stanza_size: usize,
    /// Escaped bytes of the request `id` beyond [`ID_SLACK`], echoed in the answer iq.
    pub(super) id_bytes: usize,
}

impl Budget {
    pub(super) fn limit(&self) -> usize {
        self.max_stanza_size
            .saturating_sub(ANSWER_WRAPPER_RESERVE)
            .saturating_sub(self.id_bytes)
    }

    /// `SOAP-ENV:Client` (the same request fails again): the answer's size and the limit.
    pub(super) fn too_large(&self, response: &str, size: usize, at_least: bool) -> SoapFault {
        let id = if self.id_bytes > 0 {
            format!(" and {} for the request's long iq id", self.id_bytes)
        } else {
            String::new()
        };
        SoapFault::client(
            format!(
                "answer too large: the {response} would be {}{size} bytes, more than the limit of {} bytes (xmpp.max_stanza_size {} less {ANSWER_WRAPPER_RESERVE} for the iq and BOSH wrappers{id}); ask for fewer or smaller items",
                if at_least { "at least " } else { "" },
                self.limit(),
                self.max_stanza_size,
            ),
            None,
        )
    }
}

/// Bytes of `s` once escaped in XML text or an attribute value (an upper bound).
pub(super) fn escaped_len(s: &str) -> usize {
    s.bytes()
        .map(|b| match b {
            b'&' => 5,
            b'<' | b'>' => 4,
            b'"' | b'\'' => 6,
            b'\t' | b'\n' | b'\r' => 5,
            _ => 1,
        })
        .sum()
}

/// `s` quoted for a fault string, cut to 64 characters.
pub(super) fn quote(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut:?}...")
    }
}
