//! Unit tests of the BOSH rules with a virtual clock and canned `<body/>`s: the shared
//! [`Harness`] and canned bodies live here, the tests in one child module per theme.

use super::*;
use crate::xmpp::xml::Limits;

mod creation;
mod cuts;
mod expect_send;
mod failures;
mod pacing;
mod stanza_limits;
mod termination;

const HB: &str = "xmlns='http://jabber.org/protocol/httpbind'";

/// The creation response of ejabberd 23.01 (notes/bosh-xmpp.md §1.3).
fn ejabberd_created() -> String {
    format!(
        "<body {HB} xmlns:xmpp='urn:xmpp:xbosh' xmlns:stream='http://etherx.jabber.org/streams' \
         sid='abc' wait='60' ver='1.11' polling='2' inactivity='30' hold='1' \
         xmpp:restartlogic='true' requests='2' secure='true' maxpause='120' from='localhost'>\
         <stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
         <mechanism>PLAIN</mechanism><mechanism>SCRAM-SHA-1</mechanism></mechanisms>\
         </stream:features></body>"
    )
}

fn empty() -> String {
    format!("<body {HB}/>")
}

fn with_payload(p: &str) -> String {
    format!("<body {HB}>{p}</body>")
}

fn msg(n: u32) -> Element {
    Element::new(ns::CLIENT, "message").attr("id", n.to_string())
}

struct Harness {
    m: BoshSession,
    now: Instant,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            m: BoshSession::new(BoshConfig::new("localhost"), 1000),
            now: Instant::now(),
        }
    }

    /// Created and idle: rid 1000 answered, rid 1001 is the held empty poll.
    fn open() -> Harness {
        let mut h = Harness::new();
        let r = h.pump();
        assert_eq!(r.len(), 1);
        h.respond(1000, &ejabberd_created());
        h.events();
        h.advance(Duration::from_millis(30));
        let r = h.pump();
        assert_eq!(rids(&r), vec![1001]);
        h
    }

    fn pump(&mut self) -> Vec<HttpRequest> {
        let mut v = Vec::new();
        while let Some(r) = self.m.poll_request(self.now) {
            v.push(r);
        }
        v
    }

    fn respond(&mut self, rid: u64, body: &str) {
        self.m
            .handle_response(self.now, Rid(rid), Ok(body.to_owned()));
    }

    fn fail(&mut self, rid: u64, f: HttpFailure) {
        self.m.handle_response(self.now, Rid(rid), Err(f));
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.m.handle_timeout(self.now);
    }

    fn advance_to_timeout(&mut self) {
        let t = self.m.poll_timeout().expect("a timer is armed");
        assert!(t >= self.now);
        self.now = t;
        self.m.handle_timeout(self.now);
    }

    fn events(&mut self) -> Vec<BoshEvent> {
        let mut v = Vec::new();
        while let Some(e) = self.m.poll_event() {
            v.push(e);
        }
        v
    }
}

fn rids(r: &[HttpRequest]) -> Vec<u64> {
    r.iter().map(|r| r.rid.0).collect()
}

fn body_of(r: &HttpRequest) -> Element {
    Element::parse(&r.body, &Limits::default()).expect("our own body parses")
}

fn payload_ids(events: &[BoshEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            BoshEvent::Payload(p) => p.get_attr("id").map(str::to_owned),
            _ => None,
        })
        .collect()
}
