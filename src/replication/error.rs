//! The enqueue side's error type: why an update could not be put in a host's queue (the table
//! then refuses the update, SPEC §6.1).

use crate::datapoints::ValueError;
use crate::store::StoreError;

/// An update could not be enqueued for a connection.
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    /// The store refused the write (disk full or failing).
    #[error("cannot queue the write for {queue}")]
    Enqueue {
        /// The queue (host name, or the internal queue).
        queue: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// A connection's source is not a datapoint of this agent.
    #[error("source {name} is not a datapoint")]
    UnknownSource {
        /// The source named by the connection.
        name: String,
    },
    /// A value could not be encoded as raw bytes (`format = "raw"`).
    #[error("cannot encode the value of {name} as raw bytes")]
    Encode {
        /// The source datapoint.
        name: String,
        /// Why the value has no raw form.
        #[source]
        source: ValueError,
    },
}
