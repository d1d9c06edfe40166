//! What a peer's answer to one of our Writes means for the batch (SPEC §6.3, §6.4), and why a
//! delivery attempt failed. Pure: the driver hands in the iq's result, gets an
//! [`Outcome`] for the delivery machine.

use std::time::Duration;

use super::delivery::Outcome;
use crate::soap::{SoapError, WriteAnswer, read_write_answer};
use crate::store::StoreError;
use crate::xmpp::session::IqError;
use crate::xmpp::stanza::StanzaError;
use crate::xmpp::xml::Element;

/// Why a delivery attempt failed. Each is retried (after the host's `retry_time`, or at once
/// for a gap); permanent refusals are not errors but refused items (SPEC §6.3).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Our XMPP session ended with the Write in flight (e.g. the server refused its size).
    #[error("the XMPP session was lost with the Write of seq {first}..{last} to {jid} in flight")]
    SessionLost {
        /// The host's JID.
        jid: String,
        /// First seq of the batch.
        first: u64,
        /// Last seq of the batch.
        last: u64,
    },
    /// Our session is not up.
    #[error("not connected to the XMPP server")]
    NotConnected,
    /// No answer within the connection timeout.
    #[error("{jid} did not answer within {after:?}")]
    Timeout {
        /// The host's JID.
        jid: String,
        /// The timeout.
        after: Duration,
    },
    /// An `iq error` (`service-unavailable`, `recipient-unavailable`, ...).
    #[error("{jid} answered {error}")]
    Stanza {
        /// The host's JID.
        jid: String,
        /// The error.
        error: StanzaError,
    },
    /// An `iq result` without a SOAP envelope.
    #[error("{jid} answered without a SOAP envelope")]
    NoEnvelope {
        /// The host's JID.
        jid: String,
    },
    /// An answer we cannot read.
    #[error("unreadable answer from {jid}: {source}")]
    Unreadable {
        /// The host's JID.
        jid: String,
        /// Why.
        #[source]
        source: SoapError,
    },
    /// A `Server` fault: the peer's own trouble (its store, its answer budget), or a batch
    /// before this one it has not applied (`gap`).
    #[error("{jid} answered a SOAP fault: {string}")]
    ServerFault {
        /// The host's JID.
        jid: String,
        /// `faultstring`.
        string: String,
        /// The receiver applied nothing because a batch before this one is missing.
        gap: bool,
    },
    /// A Write answered with something else than a Write answer.
    #[error("{jid} answered a Write with system info")]
    Unexpected {
        /// The host's JID.
        jid: String,
    },
    /// The Write could not be built.
    #[error("cannot build the Write: {0}")]
    Build(#[source] SoapError),
    /// Our store failed (the commit before sending, or of a local delivery).
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl DeliveryError {
    /// What the delivery machine makes of it.
    pub fn outcome(&self) -> Outcome {
        match self {
            DeliveryError::SessionLost { .. } => Outcome::SessionLost(self.to_string()),
            DeliveryError::ServerFault { gap: true, .. } => Outcome::Gap,
            _ => Outcome::Failed(self.to_string()),
        }
    }

    /// From the iq layer's error about a Write of `first..=last` to `jid`.
    pub fn from_iq(e: IqError, jid: &str, first: u64, last: u64) -> DeliveryError {
        let jid = jid.to_owned();
        match e {
            IqError::Stanza { error, .. } => DeliveryError::Stanza { jid, error },
            IqError::SessionLost { .. } => DeliveryError::SessionLost { jid, first, last },
            IqError::Timeout { after, .. } => DeliveryError::Timeout { jid, after },
            IqError::NotConnected => DeliveryError::NotConnected,
        }
    }
}

/// Reads the iq answer to a Write of `items` items numbered from `first`, sent to `jid`: the
/// refused items (index in the batch, reason), or why nothing was delivered.
pub fn read_answer(
    answer: &Element,
    jid: &str,
    items: usize,
    first: u64,
) -> Result<Vec<(usize, String)>, DeliveryError> {
    let payload =
        crate::xmpp::stanza::payload(answer).ok_or_else(|| DeliveryError::NoEnvelope {
            jid: jid.to_owned(),
        })?;
    let answer =
        read_write_answer(payload, items, first).map_err(|source| DeliveryError::Unreadable {
            jid: jid.to_owned(),
            source,
        })?;
    match answer {
        WriteAnswer::Delivered { refused } => Ok(refused),
        WriteAnswer::Gap { applied, prev } => Err(DeliveryError::ServerFault {
            jid: jid.to_owned(),
            string: format!("seq gap: applied up to {applied}, this batch follows {prev}"),
            gap: true,
        }),
        WriteAnswer::Retry(string) => Err(DeliveryError::ServerFault {
            jid: jid.to_owned(),
            string,
            gap: false,
        }),
        // The whole request refused (a peer that cannot parse it): permanent for every item.
        WriteAnswer::Refused(why) => Ok((0..items)
            .map(|i| (i, format!("SOAP fault: {why}")))
            .collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::SoapFault;
    use crate::xmpp::stanza::{self, IqType};
    use crate::xmpp::xml::Limits;

    /// The iq result carrying `env`, as read off the wire.
    fn answer(env: Element) -> Element {
        let xml = stanza::iq(IqType::Result, "wb1", None, Some(env)).to_xml();
        Element::parse(&xml, &Limits::default()).unwrap()
    }

    #[test]
    fn server_faults_are_retried_gaps_resent_client_faults_refuse_every_item() {
        let jid = "b@localhost/ilon";
        let server = answer(SoapFault::server("store failed", None).to_envelope());
        let e = read_answer(&server, jid, 3, 1).unwrap_err();
        assert!(matches!(e.outcome(), Outcome::Failed(_)), "{e:?}");
        let gap = answer(
            SoapFault::gap(
                "seq gap: applied 3, this batch follows 6",
                crate::soap::SeqGap {
                    applied: 3,
                    prev: 6,
                },
            )
            .to_envelope(),
        );
        assert_eq!(
            read_answer(&gap, jid, 3, 1).unwrap_err().outcome(),
            Outcome::Gap
        );
        // The same text in a Client fault is no gap: the request is refused.
        let client = answer(SoapFault::client("seq gap? no: bad request", None).to_envelope());
        let refused = read_answer(&client, jid, 3, 1).unwrap();
        assert_eq!(
            refused.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        let lost = DeliveryError::from_iq(IqError::SessionLost { id: "x".into() }, jid, 1, 3);
        assert!(matches!(lost.outcome(), Outcome::SessionLost(_)));
    }
}
