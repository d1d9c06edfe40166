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
pub mod delivery;
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
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, mpsc};
use tracing::{Instrument, debug, info, info_span, warn};

/// Connections checked per hold of the `conns` lock during a resync.
const RESYNC_CHUNK: usize = 256;

use crate::bindings::{BindingSet, Connection, Delivery, Format};
use crate::datapoints::snvt::RAW_HEX_LON_FORMAT;
use crate::datapoints::{ChangeEvent, Datapoint, DpType, DpValue, Table, UpdateSource};
use crate::store::{QueuedWrite, Store};
use crate::xmpp::session::Client;

pub use answer::DeliveryError;
use policy::Decision;
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

#[derive(Debug, Default)]
struct ConnState {
    last_enqueued: Option<DpValue>,
    last_sent_at: Option<Instant>,
    /// A change held back by the throttle; the newest wins.
    deferred: Option<ChangeEvent>,
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
    conns: Mutex<HashMap<String, ConnState>>,
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
                conns: Mutex::new(HashMap::new()),
                hosts: Mutex::new(HashMap::new()),
                latency: Mutex::new(Latency::default()),
                client: RwLock::new(None),
                max_stanza_size,
            }),
        };
        let weak = Arc::downgrade(&r.inner);
        table.set_observer(Box::new(move |ev| match weak.upgrade() {
            Some(inner) => Replicator { inner }.on_update(ev),
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
        tokio::spawn(async move { me.heartbeats().await });
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

    /// The table observer: enqueue for every connection of this source (under the table lock).
    fn on_update(&self, ev: &ChangeEvent) -> Result<(), String> {
        let set = self.bindings();
        let now = Instant::now();
        let mut conns = lock(&self.inner.conns);
        for c in set.connections.iter().filter(|c| c.source == ev.name) {
            let st = conns.entry(c.key.clone()).or_default();
            if st.last_enqueued.is_none() {
                st.last_enqueued = self.persisted_last(c);
            }
            match policy::decide(
                c.send_on_delta,
                c.min_send_time,
                st.last_enqueued.as_ref(),
                st.last_sent_at,
                &ev.value,
                now,
            ) {
                Decision::Skip => {}
                Decision::Send => {
                    self.enqueue(c, &set, ev)?;
                    st.last_enqueued = Some(ev.value.clone());
                    st.last_sent_at = Some(now);
                }
                Decision::Defer(at) => {
                    let first = st.deferred.is_none();
                    st.deferred = Some(ev.clone());
                    if first {
                        self.schedule_deferred(c.key.clone(), at);
                    }
                }
            }
        }
        Ok(())
    }

    fn persisted_last(&self, c: &Connection) -> Option<DpValue> {
        let rec = self.inner.store.connection(&c.key).ok()??;
        let (text, _) = rec.last_enqueued?;
        self.inner.types.get(&c.source)?.parse(&text).ok()
    }

    fn schedule_deferred(&self, key: String, at: Instant) {
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            me.enqueue_deferred(&key);
            // Make the deferred value durable on its own: nobody else is waiting to commit it.
            if let Err(e) = me.inner.store.commit().await {
                warn!(error = %e, "commit of a throttled update failed");
            }
        });
    }

    /// Enqueues the value a throttle held back, if it is still a change.
    fn enqueue_deferred(&self, key: &str) {
        let set = self.bindings();
        let Some(c) = set.connections.iter().find(|c| c.key == key) else {
            return;
        };
        let mut conns = lock(&self.inner.conns);
        let Some(st) = conns.get_mut(key) else {
            return;
        };
        let Some(ev) = st.deferred.take() else {
            return;
        };
        if !policy::is_change(c.send_on_delta, st.last_enqueued.as_ref(), &ev.value) {
            return;
        }
        match self.enqueue(c, &set, &ev) {
            Ok(()) => {
                st.last_enqueued = Some(ev.value.clone());
                st.last_sent_at = Some(Instant::now());
            }
            Err(e) => warn!(connection = %key, error = %e, "throttled update not enqueued"),
        }
    }

    /// Puts one write for `c` into its host's queue (no flush: the caller commits).
    fn enqueue(&self, c: &Connection, set: &BindingSet, ev: &ChangeEvent) -> Result<(), String> {
        let queue = queue_name(c);
        let raw = c
            .host
            .as_ref()
            .and_then(|h| set.hosts.get(h))
            .is_some_and(|h| h.format == Format::Raw);
        let dp_type = self
            .inner
            .types
            .get(&c.source)
            .ok_or_else(|| format!("source {} is not a datapoint", c.source))?;
        let (value, lon_format) = if raw {
            let bytes = dp_type.encode(&ev.value).map_err(|e| e.to_string())?;
            (hex(&bytes), RAW_HEX_LON_FORMAT.to_owned())
        } else {
            (ev.text.clone(), dp_type.lon_format())
        };
        let w = QueuedWrite {
            connection: c.key.clone(),
            target: c.target.clone(),
            value,
            lon_format: Some(lon_format),
            priority: c.priority,
            enqueued_at: SystemTime::now(),
        };
        self.inner
            .store
            .enqueue(queue, &w, c.delivery == Delivery::Latest)
            .map_err(|e| format!("cannot queue the write for {queue}: {e}"))?;
        if let Some(h) = lock(&self.inner.hosts).get(queue) {
            h.work.notify_one();
        }
        Ok(())
    }

    /// Enqueues the current source value of every connection whose last enqueued value differs
    /// from it (new connections, or changes held back when the agent stopped).
    fn resync(&self) {
        let set = self.bindings();
        // Read the table before taking `conns`: the observer takes them in the other order.
        let points = self.snapshot();
        let mut brought = 0usize;
        // `conns` is taken per chunk, so that local writes (the observer) go on meanwhile; each
        // connection is checked and enqueued under it, which is all the observer needs.
        for chunk in set.connections.chunks(RESYNC_CHUNK) {
            let mut conns = lock(&self.inner.conns);
            for c in chunk {
                let Some(dp) = points.get(&c.source) else {
                    continue;
                };
                let st = conns.entry(c.key.clone()).or_default();
                // Sent during this run: the observer keeps it in step (and the snapshot may be
                // older than what it sent).
                if st.last_sent_at.is_some() {
                    continue;
                }
                if st.last_enqueued.is_none() {
                    st.last_enqueued = self.persisted_last(c);
                }
                if st.last_enqueued.as_ref() == Some(&dp.value) {
                    continue;
                }
                let ev = current(dp, UpdateSource::Initial);
                match self.enqueue(c, &set, &ev) {
                    Ok(()) => {
                        st.last_enqueued = Some(dp.value.clone());
                        st.last_sent_at = Some(Instant::now());
                        brought += 1;
                        debug!(connection = %c.key, value = %ev.text, "connection brought in step");
                    }
                    Err(e) => {
                        warn!(connection = %c.key, error = %e, "cannot bring connection in step");
                    }
                }
            }
        }
        if brought > 0 {
            info!(connections = brought, "connections brought in step");
        }
        let store = self.inner.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.commit().await {
                warn!(error = %e, "commit after resync failed");
            }
        });
    }

    fn snapshot(&self) -> HashMap<String, Datapoint> {
        self.inner
            .table
            .list()
            .into_iter()
            .map(|d| (d.name.clone(), d))
            .collect()
    }

    /// Re-sends the current value of connections with a `max_send_time` that sent nothing
    /// for that long.
    async fn heartbeats(&self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let set = self.bindings();
            let now = Instant::now();
            let mut sent = false;
            if set.connections.iter().any(|c| c.max_send_time.is_some()) {
                let points = self.snapshot();
                let mut conns = lock(&self.inner.conns);
                for c in &set.connections {
                    let Some(max) = c.max_send_time else { continue };
                    let st = conns.entry(c.key.clone()).or_default();
                    if st.last_sent_at.is_some_and(|t| now < t + max) {
                        continue;
                    }
                    let Some(dp) = points.get(&c.source) else {
                        continue;
                    };
                    let ev = current(dp, UpdateSource::Clock);
                    if self.enqueue(c, &set, &ev).is_ok() {
                        st.last_enqueued = Some(dp.value.clone());
                        st.last_sent_at = Some(now);
                        sent = true;
                    }
                }
            }
            if sent && let Err(e) = self.inner.store.commit().await {
                warn!(error = %e, "commit of heartbeats failed");
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

/// A datapoint's current value as an update, for sends not caused by a table write (a new
/// connection starting in step, a heartbeat).
fn current(dp: &Datapoint, source: UpdateSource) -> ChangeEvent {
    ChangeEvent {
        name: dp.name.clone(),
        value: dp.value.clone(),
        text: dp.text(),
        priority: dp.priority,
        point_status: dp.point_status,
        at: dp.last_update,
        source,
    }
}

fn queue_name(c: &Connection) -> &str {
    c.host.as_deref().unwrap_or(LOCAL_QUEUE)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
