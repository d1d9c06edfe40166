//! Byte sizing of outgoing Write batches (SPEC §5 "Sizes"): a batch is bounded by items (100)
//! and by bytes, so that the iq carrying it, inside its BOSH body, stays below the server's
//! maximum stanza size (ejabberd answers a larger body with HTTP 403 and voids the session).
//!
//! Why measured, not hard-coded: the fixed part (envelope, header, `seq`, iq) and the cost of
//! one item are measured once per host by serialising real elements, so a change in the SOAP
//! builders cannot silently make the estimate too small. Only the variable strings of each
//! queued write are estimated, as an upper bound of their escaped length. Pure: no I/O.

use crate::datapoints::clock::iso8601_utc;
use crate::soap::{LonValue, MessageProperties, Seq, WriteItem, build_write_request};
use crate::store::QueuedWrite;
use crate::xmpp::jid::Jid;
use crate::xmpp::stanza::{self, IqType};

/// Bytes kept free for the BOSH `<body>` wrapper around the iq (namespace, `rid`, `sid`).
pub const BODY_ALLOWANCE: usize = 512;
/// Further slack for what the measurement cannot see (a longer time stamp, a server counting
/// slightly differently).
pub const SAFETY_MARGIN: usize = 1024;
/// What a receiving agent's answer adds to an item besides its name and value (its current
/// `Dp_Data`: status, priority, format, time stamps, plus its 128-byte slack), bounded above.
const ANSWER_ITEM_OVERHEAD: usize = 768;
/// A receiving agent's bound for a fault item, besides the name (`service::budget`).
const ANSWER_FAULT_ITEM: usize = 1024;
/// A receiving agent's fixed answer allowance: envelope (2 KiB), iq and BOSH wrappers (1 KiB),
/// and room for the iq's `to` and `id`.
const ANSWER_FIXED: usize = 2048 + 1024 + 512;

/// Upper bound of the bytes `s` takes once escaped as XML text or an attribute value (see
/// `xmpp::xml::write::escape_into`).
pub fn escaped_len(s: &str) -> usize {
    s.chars()
        .map(|c| match c {
            '&' | '\t' | '\n' | '\r' => 5,
            '<' | '>' => 4,
            '"' | '\'' => 6,
            // Replaced by U+FFFD.
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => 3,
            c => c.len_utf8(),
        })
        .sum()
}

/// What fits in the next batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fit {
    /// Send the first `n` writes of the run (`n >= 1`).
    Take(usize),
    /// The head write alone needs `size` bytes as a stanza, over the limit: it can never be
    /// sent with this limit.
    HeadTooLarge {
        /// Estimated stanza size with the head write alone, bytes.
        size: usize,
    },
}

/// Sizes batches for one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sizer {
    limit: usize,
    /// Bytes of a batch besides its items, allowances included.
    fixed: usize,
    /// Bytes of one item whose target, value and format are empty.
    per_item: usize,
}

/// Serialised size of the iq carrying a Write of `items` to `to`, with the widest header
/// values we send.
fn measure(to: &Jid, unique_id: Option<&str>, items: &[WriteItem]) -> usize {
    let props = MessageProperties {
        time_stamp: Some(iso8601_utc(std::time::SystemTime::now())),
        unique_id: unique_id.map(str::to_owned),
        // The widest numbers, numbering the items exactly (as the receiver requires).
        seq: Some(Seq {
            epoch: u64::MAX,
            first: u64::MAX - (items.len().max(1) as u64 - 1),
            last: u64::MAX,
            prev: Some(u64::MAX),
        }),
        ..MessageProperties::default()
    };
    let Ok(env) = build_write_request(&props, items) else {
        return 0;
    };
    stanza::iq(IqType::Set, "wb18446744073709551615", Some(to), Some(env))
        .to_xml()
        .len()
}

fn probe() -> WriteItem {
    let mut item = WriteItem::new(
        "n",
        LonValue {
            text: "v".to_owned(),
            lon_format: Some("f".to_owned()),
            unit: None,
        },
    );
    item.priority = Some(255);
    item
}

impl Sizer {
    /// A sizer for Writes to `to`, below `max_stanza_size` bytes.
    pub fn new(max_stanza_size: usize, to: &Jid, unique_id: Option<&str>) -> Sizer {
        let one = measure(to, unique_id, &[probe()]);
        let two = measure(to, unique_id, &[probe(), probe()]);
        // The probe's own strings ("n", "v", "f") are 3 bytes.
        let per_item = two.saturating_sub(one).saturating_sub(3);
        let fixed = one
            .saturating_sub(per_item + 3)
            .saturating_add(BODY_ALLOWANCE + SAFETY_MARGIN);
        Sizer {
            limit: max_stanza_size,
            fixed,
            per_item,
        }
    }

    /// The configured maximum stanza size, bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Upper bound of the bytes `w` adds to a batch.
    pub fn item_size(&self, w: &QueuedWrite) -> usize {
        self.per_item
            + escaped_len(&w.target)
            + escaped_len(&w.value)
            + w.lon_format.as_deref().map_or(0, escaped_len)
    }

    /// What `w` may cost in the batch or in the receiving agent's answer to it, whichever is
    /// larger: a receiver refuses a Write whose answer could outgrow its limit, so a batch must
    /// fit both ways.
    fn budget_item(&self, w: &QueuedWrite) -> usize {
        let answer = escaped_len(&w.target)
            + (escaped_len(&w.value) + ANSWER_ITEM_OVERHEAD).max(ANSWER_FAULT_ITEM);
        self.item_size(w).max(answer)
    }

    /// The bytes a batch of `writes` may take from the limit, both ways (see `fit`).
    pub fn budget<'a>(&self, writes: impl IntoIterator<Item = &'a QueuedWrite>) -> usize {
        self.fixed.max(ANSWER_FIXED)
            + writes
                .into_iter()
                .map(|w| self.budget_item(w))
                .sum::<usize>()
    }

    /// Upper bound of the stanza size (BOSH allowance and margin included) of a batch.
    pub fn batch_size<'a>(&self, writes: impl IntoIterator<Item = &'a QueuedWrite>) -> usize {
        self.fixed + writes.into_iter().map(|w| self.item_size(w)).sum::<usize>()
    }

    /// How many writes from the head of `run` (at most `max_items`) fit in one batch.
    pub fn fit(&self, run: &[(u64, QueuedWrite)], max_items: usize) -> Fit {
        let mut total = self.fixed.max(ANSWER_FIXED);
        for (i, (_, w)) in run.iter().take(max_items.max(1)).enumerate() {
            let size = self.budget_item(w);
            if total + size > self.limit {
                return if i == 0 {
                    Fit::HeadTooLarge { size: total + size }
                } else {
                    Fit::Take(i)
                };
            }
            total += size;
        }
        Fit::Take(run.len().min(max_items.max(1)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::soap::MAX_ITEMS;

    fn jid() -> Jid {
        "00-d0-71-02-1b-1c@localhost/ilon".parse().unwrap()
    }

    fn qw(target: &str, value: &str) -> QueuedWrite {
        QueuedWrite {
            connection: "c".into(),
            target: target.into(),
            value: value.into(),
            lon_format: Some("#0000000000000000[0].SNVT_temp".into()),
            priority: 255,
            enqueued_at: SystemTime::now(),
        }
    }

    /// The exact serialised iq of a batch, as the sender builds it.
    fn actual(writes: &[QueuedWrite]) -> usize {
        let items: Vec<WriteItem> = writes
            .iter()
            .map(crate::replication::sender::write_item)
            .collect();
        measure(&jid(), Some("080000123456"), &items)
    }

    const NASTY: &str = "a&b<c>d\"e'f\tg\nh\ri\u{1}j\u{FFFF}é€😀";

    #[test]
    fn escaped_len_bounds_the_real_escaping() {
        for s in ["", "plain", NASTY, "&&&&", "\"'\"'", "<<>>"] {
            let text = crate::xmpp::xml::Element::new("urn:x", "v")
                .attr("a", s)
                .text_child("t", s)
                .to_xml();
            let empty = crate::xmpp::xml::Element::new("urn:x", "v")
                .attr("a", "")
                .text_child("t", "")
                .to_xml();
            assert!(
                2 * escaped_len(s) >= text.len() - empty.len(),
                "{s:?}: {} < {}",
                2 * escaped_len(s),
                text.len() - empty.len()
            );
        }
        assert_eq!(escaped_len("abc"), 3);
        assert_eq!(escaped_len("&"), 5);
        assert_eq!(escaped_len("é"), 2);
    }

    #[test]
    fn the_estimate_is_an_upper_bound_and_close() {
        let s = Sizer::new(262_144, &jid(), Some("080000123456"));
        for (batch, plain) in [
            (vec![qw("Net/LON/x/temp", "21.0")], true),
            (
                (0..100)
                    .map(|i| qw("Net/LON/x/temp", &format!("{i}.0")))
                    .collect(),
                true,
            ),
            ((0..10).map(|_| qw(NASTY, NASTY)).collect::<Vec<_>>(), false),
            (vec![qw("t", &"AB".repeat(5_000))], true),
        ] {
            let estimate = s.batch_size(&batch);
            let real = actual(&batch);
            let body_and_margin = BODY_ALLOWANCE + SAFETY_MARGIN;
            assert!(estimate >= real + body_and_margin, "{estimate} < {real}");
            // Without characters to escape, only the widest header values separate them.
            let slack = estimate - real - body_and_margin;
            assert!(!plain || slack <= 64, "slack {slack}");
        }
    }

    #[test]
    fn batches_stop_before_the_byte_limit() {
        let limit = 32_768;
        let s = Sizer::new(limit, &jid(), None);
        // 200 writes of 1,000-character values: far fewer than 100 fit in 32 KiB (the answer
        // repeats each value, with the point's status, and must fit too).
        let run: Vec<(u64, QueuedWrite)> = (1..=200)
            .map(|i| (i, qw("Net/LON/x/blob", &"0A".repeat(500))))
            .collect();
        let Fit::Take(n) = s.fit(&run, MAX_ITEMS) else {
            panic!("the head fits")
        };
        assert!((10..100).contains(&n), "{n}");
        let writes: Vec<QueuedWrite> = run[..n].iter().map(|(_, w)| w.clone()).collect();
        assert!(s.batch_size(&writes) <= s.budget(&writes));
        assert!(s.budget(&writes) <= limit);
        assert!(actual(&writes) + BODY_ALLOWANCE <= limit);
        // One more would not have fitted.
        let more: Vec<QueuedWrite> = run[..=n].iter().map(|(_, w)| w.clone()).collect();
        assert!(s.budget(&more) > limit);
    }

    #[test]
    fn small_writes_are_bounded_by_items() {
        let s = Sizer::new(262_144, &jid(), None);
        let run: Vec<(u64, QueuedWrite)> = (1..=300).map(|i| (i, qw("t", "1.0"))).collect();
        assert_eq!(s.fit(&run, MAX_ITEMS), Fit::Take(100));
        assert_eq!(s.fit(&run, 7), Fit::Take(7));
        assert_eq!(s.fit(&run[..3], MAX_ITEMS), Fit::Take(3));
    }

    #[test]
    fn a_head_that_can_never_fit_is_reported_with_its_size() {
        let limit = 16_384;
        let s = Sizer::new(limit, &jid(), None);
        let run = vec![(5, qw("t", &"A".repeat(limit))), (6, qw("t", "1.0"))];
        match s.fit(&run, MAX_ITEMS) {
            Fit::HeadTooLarge { size } => assert!(size > limit, "{size}"),
            other => panic!("{other:?}"),
        }
        // Escaping counts: 4,000 '&' are 20,000 bytes on the wire.
        let run = vec![(1, qw("t", &"&".repeat(4_000)))];
        assert!(matches!(s.fit(&run, MAX_ITEMS), Fit::HeadTooLarge { .. }));
        // A big head that fits goes alone.
        let run = vec![
            (1, qw("t", &"A".repeat(12_000))),
            (2, qw("t", &"A".repeat(12_000))),
        ];
        assert_eq!(s.fit(&run, MAX_ITEMS), Fit::Take(1));
    }
}
