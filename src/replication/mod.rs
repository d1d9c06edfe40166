//! Web connections at run time (SPEC §4, §6): every update of a source datapoint is put in
//! the durable queue of each host it feeds, synchronously, before the update is acknowledged;
//! one sender task per host drains its queue in order, in batches of up to 100 items and below
//! the server's maximum stanza size (`sizing.rs`), up to the host's `window` of SOAP `Write`s
//! (with our `seq` header) in flight at once; the rules are the pure machine of `delivery.rs`,
//! `sender.rs` is its tokio driver. A head write that cannot be delivered (too large, or
//! costing the session again and again: `losses.rs`) makes only its own queue stuck, shown by
//! `state`, until `purge` drops it (SPEC §6.7).
//!
//! Several batches in flight are safe only with the receiver's `prev` rule (SPEC §5): a
//! receiver skips any `seq` at or below the highest it applied, so a later batch must never be
//! applied before an earlier one that was lost (e.g. across the receiver's session restart).

mod answer;
#[cfg(test)]
mod crash_tests;
pub mod delivery;
mod enqueue;
mod error;
pub mod losses;
pub mod policy;
mod sender;
#[cfg(test)]
mod sim;
pub mod sizing;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use tokio::sync::{Notify, mpsc};
use tracing::{Instrument, info_span};

use crate::bindings::BindingSet;
use crate::datapoints::{DpType, ObserverError, Table};
use crate::store::Store;
use crate::xmpp::session::Client;

pub use answer::DeliveryError;
use enqueue::Conns;
pub use error::ReplicationError;
use sender::HostEvent;

/// The queue name of internal connections (targets on this agent); not a valid host alias
/// in practice since it cannot be written as a TOML bare key.
pub const LOCAL_QUEUE: &str = "(internal)";

/// Live per-host status, besides what the store keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostStatus {
    /// Whether the last delivery attempt succeeded (None: not tried yet in this run).
    pub online: Option<bool>,
    /// The presence last seen from the host's JID.
    pub presence: Option<bool>,
    /// The last error of this run.
    pub last_error: Option<String>,
}

/// Write latency histogram (enqueue to acknowledgement), Prometheus style.
#[derive(Debug, Default)]
pub struct Latency {
    /// Cumulative counts per bucket upper bound (`LATENCY_BUCKETS`), plus +Inf last.
    pub buckets: Vec<u64>,
    /// Sum of all observations, seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

/// Bucket upper bounds of [`Latency`], seconds.
pub const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0, 5.0];

impl Latency {
    fn observe(&mut self, secs: f64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; LATENCY_BUCKETS.len() + 1];
        }
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        for b in &mut self.buckets[i..] {
            *b += 1;
        }
        self.sum += secs;
        self.count += 1;
    }
}

struct HostRuntime {
    /// The queue grew.
    work: Arc<Notify>,
    /// Everything else its sender must know (`sender::HostEvent`).
    events: mpsc::UnboundedSender<HostEvent>,
    status: HostStatus,
}

struct Inner {
    store: Store,
    table: Table,
    /// Datapoint types by name: fixed for the agent's life, and readable from the table
    /// observer, which must not call back into the table.
    types: HashMap<String, DpType>,
    /// `UCPTuniqueId` stamped on our Writes (the SmartServer's identity).
    unique_id: Option<String>,
    bindings: RwLock<Arc<BindingSet>>,
    /// Serialises enqueue decisions (observer, throttle timers, heartbeats).
    conns: Mutex<Conns>,
    /// Wakes the policy task when a deadline earlier than the one it sleeps for was set.
    policy_wake: Notify,
    hosts: Mutex<HashMap<String, HostRuntime>>,
    latency: Mutex<Latency>,
    client: RwLock<Option<Arc<Client>>>,
    /// `xmpp.max_stanza_size`: outgoing batches are sized below it (SPEC §5 "Sizes").
    max_stanza_size: usize,
}

/// The replication engine of one agent (cheap to clone).
#[derive(Clone)]
pub struct Replicator {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Replicator {
    /// Builds the engine and installs it as the table's observer, so every update is enqueued
    /// before it is applied. Batches to hosts stay below `max_stanza_size` bytes.
    pub fn new(
        store: Store,
        table: Table,
        unique_id: Option<String>,
        bindings: BindingSet,
        max_stanza_size: usize,
    ) -> Replicator {
        let r = Replicator {
            inner: Arc::new(Inner {
                store,
                types: table
                    .list()
                    .into_iter()
                    .map(|d| (d.name, d.dp_type))
                    .collect(),
                table: table.clone(),
                unique_id,
                bindings: RwLock::new(Arc::new(bindings)),
                conns: Mutex::new(Conns::default()),
                policy_wake: Notify::new(),
                hosts: Mutex::new(HashMap::new()),
                latency: Mutex::new(Latency::default()),
                client: RwLock::new(None),
                max_stanza_size,
            }),
        };
        let weak = Arc::downgrade(&r.inner);
        table.set_observer(Box::new(move |ev| match weak.upgrade() {
            Some(inner) => Replicator { inner }
                .on_update(ev)
                .map_err(ObserverError::from),
            None => Ok(()),
        }));
        r
    }

    /// The datapoint table whose updates are replicated.
    pub fn table(&self) -> &Table {
        &self.inner.table
    }

    /// The store behind the queues.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The bindings in force.
    pub fn bindings(&self) -> Arc<BindingSet> {
        self.inner
            .bindings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Live status of every host with a sender.
    pub fn host_status(&self) -> HashMap<String, HostStatus> {
        lock(&self.inner.hosts)
            .iter()
            .map(|(k, v)| (k.clone(), v.status.clone()))
            .collect()
    }

    /// A snapshot of the write latency histogram.
    pub fn latency(&self) -> Latency {
        let l = lock(&self.inner.latency);
        Latency {
            buckets: l.buckets.clone(),
            sum: l.sum,
            count: l.count,
        }
    }

    /// Starts delivering over `client` (remote hosts; `None`: internal connections only).
    pub fn start(&self, client: Option<Arc<Client>>) {
        *self
            .inner
            .client
            .write()
            .unwrap_or_else(PoisonError::into_inner) = client;
        self.ensure_senders();
        self.resync();
        let me = self.clone();
        tokio::spawn(async move { me.policy_timers().await });
    }

    /// Swaps in a new, validated binding set; new connections start in step (SPEC §4).
    pub fn reload(&self, set: BindingSet) {
        *self
            .inner
            .bindings
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
        self.ensure_senders();
        // Off the event loop: 20,000 new connections are 20,000 enqueues (issue 8: a reload
        // never stalls serving).
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            me.resync();
            // Hosts may be gone, back (with waiting queues) or have new settings.
            for h in lock(&me.inner.hosts).values() {
                let _ = h.events.send(HostEvent::Reload);
            }
        });
    }

    /// Our XMPP session is (re-)established: retry every host at once (SPEC §6.4).
    pub fn on_session_online(&self) {
        for h in lock(&self.inner.hosts).values() {
            let _ = h.events.send(HostEvent::SessionUp);
        }
    }

    /// A presence from `bare_jid`: available triggers immediate delivery of its queue.
    pub fn on_presence(&self, bare_jid: &str, available: bool) {
        let set = self.bindings();
        let mut hosts = lock(&self.inner.hosts);
        for (name, host) in &set.hosts {
            if host.jid.bare().to_string() == bare_jid
                && let Some(h) = hosts.get_mut(name)
            {
                h.status.presence = Some(available);
                let _ = h.events.send(HostEvent::Presence(available));
            }
        }
    }

    /// Starts a sender for every host of the set (and the internal queue) lacking one.
    fn ensure_senders(&self) {
        let set = self.bindings();
        let mut names: Vec<String> = set.hosts.keys().cloned().collect();
        names.push(LOCAL_QUEUE.to_owned());
        let mut hosts = lock(&self.inner.hosts);
        for name in names {
            if hosts.contains_key(&name) {
                continue;
            }
            let (events, rx) = mpsc::unbounded_channel();
            let rt = HostRuntime {
                work: Arc::new(Notify::new()),
                events,
                status: HostStatus::default(),
            };
            let work = rt.work.clone();
            hosts.insert(name.clone(), rt);
            let me = self.clone();
            let span = info_span!("peer", host = %name);
            tokio::spawn(async move { me.sender(name, work, rx).await }.instrument(span));
        }
    }
}
