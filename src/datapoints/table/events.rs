//! Publishing applied updates: the [`ChangeEvent`]s, the synchronous observer and the broadcast
//! channel.
//!
//! Why separate: it is what the table tells the rest of the agent (replication, the admin
//! endpoint), apart from how it applies and stores a write; `write_at` only calls
//! `notify_observer` and sends on the channel.

use std::sync::PoisonError;
use std::time::SystemTime;

use tokio::sync::broadcast;
use tracing::warn;

use super::{Table, WriteFault};
use crate::datapoints::snvt::DpValue;
use crate::datapoints::status::PointStatus;

/// Capacity of the broadcast channel of [`ChangeEvent`]s.
///
/// Why: a receiver that falls further behind gets `RecvError::Lagged`; consumers that must see
/// every update (the durable replication queue) use [`Table::set_observer`] instead.
pub const EVENT_CAPACITY: usize = 4096;

/// Who made an update; carried in [`ChangeEvent`] so consumers can tell, e.g., a replicated
/// write from a local one, and logged.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UpdateSource {
    /// A SOAP `Write` from an allowed XMPP sender.
    Soap {
        /// The sender's JID as stamped by the server.
        from: String,
    },
    /// `webbinder dp write` or `PUT /datapoints/{name}`.
    Admin,
    /// The agent's clock ticking the Real Time Clock point.
    Clock,
    /// A Web connection write from a peer webbinder (or an internal connection).
    Replication {
        /// The sending peer's JID (or the source datapoint, for an internal connection).
        from: String,
    },
    /// The value the table was opened with; never sent by [`Table::write`] callers normally.
    Initial,
}

/// One applied update of a datapoint, published to the observer and the broadcast channel in
/// the order the updates were applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    /// The datapoint's name.
    pub name: String,
    /// The new value.
    pub value: DpValue,
    /// The new value in the type's text form (what a WebBinder Write carries).
    pub text: String,
    /// The priority of the write.
    pub priority: u8,
    /// The point status after the write.
    pub point_status: PointStatus,
    /// When the update was applied (the point's new `last_update`).
    pub at: SystemTime,
    /// Who made it.
    pub source: UpdateSource,
}

/// A synchronous observer of updates (see [`Table::set_observer`]).
pub type Observer = Box<dyn Fn(&ChangeEvent) -> Result<(), ObserverError> + Send + Sync>;

/// Why an observer refused an update (the observer's own error type, e.g. replication's).
pub type ObserverError = Box<dyn std::error::Error + Send + Sync>;

impl Table {
    /// A receiver of every applied update from now on, in apply order.
    ///
    /// Best effort: a receiver more than [`EVENT_CAPACITY`] events behind lags and loses events;
    /// use [`Table::set_observer`] for what must not be lost.
    pub fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.inner.events.subscribe()
    }

    /// Installs (replacing any previous one) the synchronous observer of updates.
    ///
    /// It is called for every update that is about to be applied, under the table's lock and
    /// before the value changes, is persisted or is published. If it returns `Err`, the write
    /// fails with fault 12 and the point is left unchanged; this is how the replication layer
    /// enqueues durably before a write is acknowledged (SPEC §6.1). It must be quick and must
    /// not call back into this table (that would deadlock).
    pub fn set_observer(&self, observer: Observer) {
        let mut slot = self
            .inner
            .observer
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *slot = Some(observer);
    }

    /// Removes the observer, if any.
    pub fn clear_observer(&self) {
        let mut slot = self
            .inner
            .observer
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *slot = None;
    }

    pub(super) fn notify_observer(&self, event: &ChangeEvent) -> Result<(), WriteFault> {
        let observer = self
            .inner
            .observer
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(observer) = observer.as_ref() else {
            return Ok(());
        };
        observer(event).map_err(|e| {
            // Why: the fault message is all the writer sees, so it names the causes too.
            let mut text = e.to_string();
            let mut cause = e.source();
            while let Some(c) = cause {
                text = format!("{text}: {c}");
                cause = c.source();
            }
            warn!(name = %event.name, error = %text, "update refused by observer; datapoint unchanged");
            WriteFault::command_failed(&event.name, format!("update not recorded: {text}"))
        })
    }
}
