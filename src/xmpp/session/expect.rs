//! Which stanzas the application is about to send, so that the BOSH machine
//! keeps the empty poll's request for them (issue 9, item 5; `bosh.rs`
//! `expect_send`). Pure: the driver reports what it delivered and what it
//! sent, with `now`, and asks for the instant until which a send is expected.
//!
//! One per session (nothing is owed on the next). Every expectation ends: an answer when it is sent or `ANSWER_WITHIN`
//! after its request was delivered, a follow-up at the next send or
//! `FOLLOW_UP_WITHIN` after the answer that prompted it. Being wrong only
//! costs time (an idle poll leaves a few ms later), never a lost stanza.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::super::stanza::IqType;
use super::super::xml::Element;

/// How long an incoming iq request's answer is expected: the SmartServer
/// applies and commits a batch before it answers.
pub(super) const ANSWER_WITHIN: Duration = Duration::from_millis(40);
/// How long after an answer to one of our IQs a next send is expected: the
/// replication sender acknowledges, reads the queue and sends the next Write.
pub(super) const FOLLOW_UP_WITHIN: Duration = Duration::from_millis(20);
/// Requests awaiting an answer tracked at once; beyond that a flood of
/// requests is not worth holding the poll for.
const MAX_TRACKED: usize = 256;

/// Sends the application owes or is likely to make soon.
#[derive(Debug, Default)]
pub(super) struct Expected {
    /// Incoming iq requests handed to the application, keyed by their
    /// `from` and `id` (an answer's `to` and `id`): when the wait ends.
    answers: HashMap<(Option<String>, String), Instant>,
    follow_up: Option<Instant>,
}

impl Expected {
    /// An incoming stanza was handed to the application.
    pub(super) fn delivered(&mut self, now: Instant, el: &Element) {
        if !matches!(IqType::of(el), Some(IqType::Get | IqType::Set)) {
            return;
        }
        let Some(id) = el.get_attr("id") else { return };
        self.expire(now);
        if self.answers.len() < MAX_TRACKED {
            let key = (el.get_attr("from").map(str::to_owned), id.to_owned());
            self.answers.insert(key, now + ANSWER_WITHIN);
        }
    }

    /// One of our own IQs was answered: its caller may send next.
    pub(super) fn answered(&mut self, now: Instant) {
        self.follow_up = Some(now + FOLLOW_UP_WITHIN);
    }

    /// The application sent `el`: it settles its answer, if it is one, and
    /// any follow-up (the request it goes in is the one a poll would use).
    pub(super) fn sent(&mut self, el: &Element) {
        self.follow_up = None;
        if matches!(IqType::of(el), Some(IqType::Result | IqType::Error))
            && let Some(id) = el.get_attr("id")
        {
            let key = (el.get_attr("to").map(str::to_owned), id.to_owned());
            self.answers.remove(&key);
        }
    }

    /// Until when a send is expected, if at all; forgets what has expired.
    pub(super) fn until(&mut self, now: Instant) -> Option<Instant> {
        self.expire(now);
        self.answers.values().copied().max().max(self.follow_up)
    }

    fn expire(&mut self, now: Instant) {
        self.answers.retain(|_, until| *until > now);
        self.follow_up = self.follow_up.filter(|until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::ns;
    use super::super::super::stanza;
    use super::*;

    fn request(id: &str, from: &str) -> Element {
        Element::new(ns::CLIENT, "iq")
            .attr("type", "set")
            .attr("id", id)
            .attr("from", from)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn an_answer_is_expected_until_it_is_sent() {
        let (mut e, t0) = (Expected::default(), Instant::now());
        let a = request("w1", "a@d/x");
        let b = request("w1", "b@d/x");
        e.delivered(t0, &a);
        e.delivered(t0 + ms(3), &b);
        assert_eq!(e.until(t0 + ms(5)), Some(t0 + ms(3) + ANSWER_WITHIN));
        e.sent(&stanza::iq_result(&b, None));
        assert_eq!(
            e.until(t0 + ms(5)),
            Some(t0 + ANSWER_WITHIN),
            "a's still owed"
        );
        e.sent(&stanza::iq_error(
            &a,
            &stanza::StanzaError::service_unavailable(),
        ));
        assert_eq!(e.until(t0 + ms(5)), None);
    }

    #[test]
    fn an_answer_never_sent_stops_being_expected() {
        let (mut e, t0) = (Expected::default(), Instant::now());
        e.delivered(t0, &request("w1", "a@d/x"));
        assert!(e.until(t0 + ANSWER_WITHIN - ms(1)).is_some());
        assert_eq!(e.until(t0 + ANSWER_WITHIN), None);
        assert!(e.answers.is_empty(), "expired entries are forgotten");
    }

    #[test]
    fn answers_messages_and_other_sends_do_not_settle_an_answer() {
        let (mut e, t0) = (Expected::default(), Instant::now());
        e.delivered(t0, &Element::new(ns::CLIENT, "message").attr("id", "m"));
        e.delivered(t0, &stanza::iq_result(&request("r", "a@d/x"), None));
        assert_eq!(e.until(t0), None, "only iq get/set are owed an answer");
        e.delivered(t0, &request("w1", "a@d/x"));
        e.sent(&Element::new(ns::CLIENT, "message").attr("id", "w1"));
        e.sent(&stanza::iq_result(&request("w1", "c@d/x"), None));
        assert!(e.until(t0).is_some(), "wrong kind or addressee");
    }

    #[test]
    fn a_follow_up_is_expected_until_the_next_send_or_its_bound() {
        let (mut e, t0) = (Expected::default(), Instant::now());
        e.answered(t0);
        assert_eq!(e.until(t0 + ms(1)), Some(t0 + FOLLOW_UP_WITHIN));
        e.sent(&Element::new(ns::CLIENT, "message"));
        assert_eq!(e.until(t0 + ms(1)), None);
        e.answered(t0);
        assert_eq!(e.until(t0 + FOLLOW_UP_WITHIN), None);
    }

    #[test]
    fn a_flood_of_requests_is_tracked_only_up_to_a_bound() {
        let (mut e, t0) = (Expected::default(), Instant::now());
        for n in 0..10_000 {
            e.delivered(t0, &request(&n.to_string(), "a@d/x"));
        }
        assert_eq!(e.answers.len(), MAX_TRACKED);
        assert_eq!(e.until(t0 + ANSWER_WITHIN), None);
    }
}
