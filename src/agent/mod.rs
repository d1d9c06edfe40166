//! The agent: what it does with stanzas from the XMPP session.

pub mod dispatch;
