//! Namespaces used on the wire, each named after the spec that defines it.

/// XEP-0124 §5: the BOSH `<body/>` wrapper.
pub const HTTPBIND: &str = "http://jabber.org/protocol/httpbind";
/// XEP-0206 §3: `xmpp:version`, `xmpp:restart`, `xmpp:restartlogic`.
pub const XBOSH: &str = "urn:xmpp:xbosh";
/// RFC 6120 §4.3: stream features and stream errors.
pub const STREAM: &str = "http://etherx.jabber.org/streams";
/// RFC 6120 §4.9.3: stream error conditions.
pub const STREAMS_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// RFC 6120 §6: SASL negotiation.
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// RFC 6120 §7: resource binding.
pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// RFC 3921 §3 (obsolete but still announced by some servers): session establishment.
pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// RFC 6120 §4.9: the client stanza namespace.
pub const CLIENT: &str = "jabber:client";
/// RFC 6120 §8.3.3: stanza error conditions.
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// RFC 6121 §2: the roster.
pub const ROSTER: &str = "jabber:iq:roster";
/// XEP-0199: XMPP ping.
pub const PING: &str = "urn:xmpp:ping";
/// XEP-0030: service discovery (info).
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
