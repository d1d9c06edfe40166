//! Login scripted with canned bodies; SCRAM values from RFC 5802 §5.

use std::time::Duration;

use super::*;
use crate::xmpp::bosh::BoshConfig;
use crate::xmpp::xml::Limits;

const HB: &str = "xmlns='http://jabber.org/protocol/httpbind'";
const NONCE: &str = "fyko+d2lbbFgONRv9qkxdawL";

fn cfg() -> StreamConfig {
    StreamConfig {
        bosh: BoshConfig::new("localhost"),
        user: "user".into(),
        password: Secret("pencil".into()),
        resource: "ilon".into(),
        plain_allowed: false,
        fetch_roster: true,
        initial_presence: true,
    }
}

struct H {
    s: XmppStream,
    now: Instant,
    rid: u64,
}

impl H {
    fn new(cfg: StreamConfig) -> H {
        H {
            s: XmppStream::new(cfg, 100, NONCE.into()),
            now: Instant::now(),
            rid: 100,
        }
    }

    /// Sends what is due (after a pause long enough for every BOSH timer)
    /// and returns the request bodies.
    fn step(&mut self) -> Vec<Element> {
        self.now += Duration::from_millis(10);
        let mut v = Vec::new();
        while let Some(r) = self.s.poll_request(self.now) {
            self.rid = r.rid.0;
            v.push(Element::parse(&r.body, &Limits::default()).unwrap());
        }
        v
    }

    fn answer(&mut self, rid: u64, inner: &str) {
        let body = format!(
            "<body {HB} xmlns:stream='http://etherx.jabber.org/streams' sid='s1' requests='2'>{inner}</body>"
        );
        self.s.handle_response(self.now, Rid(rid), Ok(body));
    }

    fn events(&mut self) -> Vec<StreamEvent> {
        let mut v = Vec::new();
        while let Some(e) = self.s.poll_event() {
            v.push(e);
        }
        v
    }
}

fn b64(s: &str) -> String {
    BASE64.encode(s.as_bytes())
}

const FEATURES: &str = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
    <mechanism>PLAIN</mechanism><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>";

fn first_child(bodies: &[Element]) -> Element {
    bodies
        .iter()
        .find_map(|b| b.children().next().cloned())
        .expect("a request with a payload")
}

#[test]
fn login_runs_scram_restart_bind_roster_and_presence() {
    let mut h = H::new(cfg());
    h.step();
    h.answer(100, FEATURES);
    let auth = first_child(&h.step());
    assert!(auth.is(ns::SASL, "auth"));
    assert_eq!(auth.get_attr("mechanism"), Some("SCRAM-SHA-1"));
    assert_eq!(
        auth.text_content(),
        b64("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL")
    );

    let challenge = b64("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096");
    h.answer(
        101,
        &format!("<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{challenge}</challenge>"),
    );
    let resp = first_child(&h.step());
    assert!(resp.is(ns::SASL, "response"));
    assert_eq!(
        resp.text_content(),
        b64("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=")
    );

    let fin = b64("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
    h.answer(
        h.rid,
        &format!("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{fin}</success>"),
    );
    let restart = h.step();
    assert_eq!(restart.len(), 1);
    assert_eq!(
        restart[0].get_attr_ns(Some(ns::XBOSH), "restart"),
        Some("true")
    );
    assert_eq!(restart[0].children().count(), 0);

    h.answer(
        h.rid,
        "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>\
         <session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session></stream:features>",
    );
    let bind = first_child(&h.step());
    assert_eq!(bind.get_attr("id"), Some(BIND_ID));
    let res = bind
        .get_child(ns::BIND, "bind")
        .and_then(|b| b.get_child(ns::BIND, "resource"))
        .map(Element::text_content);
    assert_eq!(res.as_deref(), Some("ilon"));

    h.answer(
        h.rid,
        "<iq xmlns='jabber:client' type='result' id='wb-bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <jid>User@localhost/ilon</jid></bind></iq>",
    );
    assert_eq!(
        h.events(),
        vec![StreamEvent::Online {
            jid: "user@localhost/ilon".parse().unwrap(),
            sid: "s1".into()
        }]
    );
    let out = h.step();
    let sent: Vec<String> = out
        .iter()
        .flat_map(|b| {
            b.children()
                .map(|c| c.name().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(sent, vec!["iq", "presence"]);
    assert!(h.s.is_online());
}

#[test]
fn wrong_password_ends_with_auth_failed_after_a_clean_terminate() {
    let mut h = H::new(cfg());
    h.step();
    h.answer(100, FEATURES);
    h.step();
    h.answer(
        101,
        "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/><text>bad</text></failure>",
    );
    let term = h.step();
    assert_eq!(
        term.last().and_then(|b| b.get_attr("type")),
        Some("terminate")
    );
    h.answer(h.rid, "");
    let ev = h.events();
    let err = StreamError::AuthFailed {
        user: "user".into(),
        mechanism: "SCRAM-SHA-1",
        condition: "not-authorized".into(),
        text: Some("bad".into()),
    };
    assert!(err.is_fatal());
    assert_eq!(ev, vec![StreamEvent::Ended(Err(err))]);
}

#[test]
fn server_with_only_plain_over_http_is_refused_with_advice() {
    let mut h = H::new(cfg());
    h.step();
    h.answer(
        100,
        "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
         <mechanism>PLAIN</mechanism></mechanisms></stream:features>",
    );
    h.step();
    h.answer(h.rid, "");
    let ev = h.events();
    let [StreamEvent::Ended(Err(e))] = ev.as_slice() else {
        panic!("expected one Ended(Err), got {ev:?}");
    };
    assert!(e.is_fatal());
    assert!(e.to_string().contains("allow_plain = true"), "{e}");
}

#[test]
fn plain_is_used_when_allowed_and_nothing_better_is_offered() {
    let mut c = cfg();
    c.plain_allowed = true;
    let mut h = H::new(c);
    h.step();
    h.answer(
        100,
        "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
         <mechanism>PLAIN</mechanism></mechanisms></stream:features>",
    );
    let auth = first_child(&h.step());
    assert_eq!(auth.get_attr("mechanism"), Some("PLAIN"));
    assert_eq!(auth.text_content(), BASE64.encode(b"\0user\0pencil"));
}

#[test]
fn stanzas_after_login_are_passed_on_and_close_sends_unavailable() {
    // PLAIN keeps the script short; SCRAM is covered above.
    let mut h = online();
    h.step();
    h.answer(
        h.rid,
        "<message xmlns='jabber:client' from='a@localhost/x' id='m1'><body>hi</body></message>",
    );
    let ev = h.events();
    assert!(matches!(&ev[..], [StreamEvent::Stanza(m)] if m.get_attr("id") == Some("m1")));
    h.s.close();
    let term = h.step();
    let t = term.last().unwrap();
    assert_eq!(t.get_attr("type"), Some("terminate"));
    let p = t.children().next().unwrap();
    assert_eq!(
        (p.name(), p.get_attr("type")),
        ("presence", Some("unavailable"))
    );
    h.answer(h.rid, "");
    assert_eq!(h.events(), vec![StreamEvent::Ended(Ok(()))]);
}

fn ended(events: &[StreamEvent]) -> Option<&StreamError> {
    events.iter().find_map(|e| match e {
        StreamEvent::Ended(Err(e)) => Some(e),
        _ => None,
    })
}

/// What ejabberd 23.01 and Prosody 0.12 both send to the session another
/// client replaced (seen in tests/it/hostile.rs).
#[test]
fn a_replaced_session_ends_with_a_conflict() {
    let mut h = H::new(cfg());
    h.step();
    h.answer(100, FEATURES);
    h.events();
    let body = format!(
        "<body {HB} xmlns:stream='http://etherx.jabber.org/streams' type='terminate' \
         condition='remote-stream-error'><stream:error><conflict \
         xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text \
         xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Replaced by new connection</text>\
         </stream:error></body>"
    );
    h.step();
    h.s.handle_response(h.now, Rid(h.rid), Ok(body));
    let ev = h.events();
    let e = ended(&ev).expect("the stream ended");
    assert!(e.is_conflict(), "{e}");
    assert!(!e.is_fatal());
    assert!(!e.is_refused_session());
}

#[test]
fn a_creation_refused_for_the_domain_names_it() {
    for (condition, fatal) in [
        ("improper-addressing", true),
        ("host-unknown", true),
        ("internal-server-error", false),
    ] {
        let mut h = H::new(cfg());
        h.step();
        let body = format!("<body {HB} type='terminate' condition='{condition}'/>");
        h.s.handle_response(h.now, Rid(100), Ok(body));
        let ev = h.events();
        let e = ended(&ev).expect("the stream ended");
        assert!(e.is_refused_session(), "{condition}: {e}");
        assert_eq!(e.is_fatal(), fatal, "{condition}");
        let msg = e.to_string();
        assert!(
            msg.contains("\"localhost\"") && msg.contains("check xmpp.domain"),
            "{msg}"
        );
        assert!(!e.is_conflict());
    }
    // The same condition once the session exists is an ordinary loss.
    let mut h = H::new(cfg());
    h.step();
    h.answer(100, FEATURES);
    h.events();
    h.step();
    let body = format!("<body {HB} type='terminate' condition='internal-server-error'/>");
    h.s.handle_response(h.now, Rid(h.rid), Ok(body));
    let ev = h.events();
    let e = ended(&ev).expect("the stream ended");
    assert!(!e.is_refused_session() && !e.is_fatal(), "{e}");
}

/// Logged in with PLAIN, no roster, no presence; the idle poll is not sent yet.
fn online() -> H {
    let mut c = cfg();
    c.plain_allowed = true;
    c.fetch_roster = false;
    c.initial_presence = false;
    let mut h = H::new(c);
    h.step();
    h.answer(100, "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
    h.step();
    h.answer(101, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    h.step();
    h.answer(
        h.rid,
        "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
    );
    h.step();
    h.answer(h.rid, "<iq xmlns='jabber:client' type='result' id='wb-bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>user@localhost/ilon</jid></bind></iq>");
    assert!(h.s.is_online());
    h.events();
    h
}

/// Issue 10 ("a hop stalled for 48.7 s with nothing logged"): when the request carrying a
/// stanza overtakes the idle poll on its way to ejabberd (E10), the stall timer finds it
/// after `stall_timeout`. The session must end then, not when some later response happens
/// to arrive (the held poll's, up to `wait` later): until it ends, stanzas sent into the
/// closed BOSH session vanish without a word.
#[test]
fn a_stall_found_by_the_timer_ends_the_session_at_once() {
    let mut h = online();
    assert_eq!(h.step().len(), 1, "the idle poll");
    h.now += Duration::from_millis(30);
    let to: crate::xmpp::jid::Jid = "a@localhost/x".parse().unwrap();
    h.s.send(&crate::xmpp::stanza::chat(&to, "w1"));
    assert_eq!(h.step().len(), 1, "the request with the stanza");
    h.now += cfg().bosh.stall_timeout + Duration::from_secs(1);
    h.s.handle_timeout(h.now);
    let ev = h.events();
    assert!(
        matches!(
            ended(&ev),
            Some(StreamError::Bosh(Termination::Stalled { .. }))
        ),
        "{ev:?}"
    );
    assert!(!h.s.is_online(), "a stalled session is not online");
}
