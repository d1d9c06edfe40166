//! The byte budget of one answer: what the server's stanza limit leaves for the answer
//! envelope, and the SOAP `Fault` sent instead of an answer that would not fit (SPEC §5 Sizes).

use crate::soap::{FaultSide, SoapFault};

/// Bytes kept free below `xmpp.max_stanza_size` for the markup around an answer envelope on
/// the wire: the BOSH `<body>` (about 200 bytes) and the `<iq type='result'>` element. The
/// iq's `to` (the requester's JID) and `id` are counted on top, as sent.
pub const ANSWER_WRAPPER_RESERVE: usize = 1024;

/// Bytes of a faulted Write answer item besides its name: the `<fault>` markup and a fault
/// string, whose quotes of the input are cut to 64 characters (a value of 64 quotes is about
/// 450 bytes once escaped; the longest reason, the list of HVAC modes, about 330).
pub(super) const FAULT_ITEM_BYTES: usize = 1024;
/// Bytes a canonical value text may have beyond the text it was parsed from (`1` becomes
/// `1.0`, a short time stamp gains its zero padding), plus a preset name.
pub(super) const VALUE_SLACK: usize = 128;
/// Bytes of an answer envelope besides its items: header, body and `iLonItem`.
pub(super) const ENVELOPE_BYTES: usize = 2048;

/// How many bytes one answer may have, and the fault that says so.
pub(super) struct Budget {
    max_stanza_size: usize,
    /// [`ANSWER_WRAPPER_RESERVE`] plus the escaped `to` and `id` of the answer iq.
    wrapper: usize,
}

impl Budget {
    /// The budget of the answer to the iq `id` from `to`.
    pub(super) fn new(max_stanza_size: usize, to: &str, id: &str) -> Budget {
        Budget {
            max_stanza_size,
            wrapper: ANSWER_WRAPPER_RESERVE
                .saturating_add(escaped_len(to))
                .saturating_add(escaped_len(id)),
        }
    }

    /// The largest answer envelope, in bytes.
    pub(super) fn limit(&self) -> usize {
        self.max_stanza_size.saturating_sub(self.wrapper)
    }

    /// `SOAP-ENV:Client` (the same request fails again): the answer's size and the limit.
    pub(super) fn too_large(&self, response: &str, size: usize, at_least: bool) -> SoapFault {
        self.too_large_as(FaultSide::Client, response, size, at_least)
    }

    /// The same, on `side`: a replicated Write gets `Server`, so that the sending agent keeps
    /// its writes queued and retries them (a `Client` fault would dead-letter every item).
    pub(super) fn too_large_as(
        &self,
        side: FaultSide,
        response: &str,
        size: usize,
        at_least: bool,
    ) -> SoapFault {
        SoapFault::new(
            side,
            format!(
                "answer too large: the {response} would be {}{size} bytes, more than the limit of {} bytes (xmpp.max_stanza_size {} less {} for the iq and BOSH wrappers); ask for fewer or smaller items",
                if at_least { "at least " } else { "" },
                self.limit(),
                self.max_stanza_size,
                self.wrapper,
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
