//! XMPP over BOSH (XEP-0124 + XEP-0206): addressing, XML, SASL, the BOSH
//! session machine, and the client session with its tokio driver.

pub mod bosh;
pub mod failover;
pub mod http;
pub mod jid;
pub mod ns;
pub mod proxy;
pub mod reconnect;
pub mod sasl;
pub mod session;
pub mod stanza;
pub mod stream;
pub mod xml;
