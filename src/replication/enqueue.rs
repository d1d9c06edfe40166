//! The enqueue side of Web connections (SPEC §4, §6.1): the table observer puts each update
//! in the queue of every host it feeds, as the connection's [`ConnPolicy`] decides; one policy
//! task sleeps until the earliest deadline of any connection (a throttled update, a heartbeat)
//! and sends exactly the due ones.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Instant, SystemTime};

use tracing::{debug, info, warn};

use super::policy::{ConnPolicy, Decision, Settings, Timers};
use super::{LOCAL_QUEUE, ReplicationError, Replicator, lock};
use crate::bindings::{BindingSet, Connection, Delivery, Format};
use crate::datapoints::snvt::RAW_HEX_LON_FORMAT;
use crate::datapoints::{ChangeEvent, Datapoint, DpValue, UpdateSource};
use crate::store::QueuedWrite;

/// Connections handled per hold of the `conns` lock (resync, due deadlines), so that local
/// writes (the observer) go on meanwhile.
const CHUNK: usize = 256;

/// The send policies of all connections, and their deadlines for the policy task.
#[derive(Default)]
pub(super) struct Conns {
    by_key: HashMap<String, ConnPolicy>,
    timers: Timers<String>,
    index: Index,
}

/// The connections of the set in force by key and by source, rebuilt when the set changes
/// (an update looks up its connections without scanning them all).
#[derive(Default)]
struct Index {
    /// The set indexed; `Weak` keeps its address from being reused while we compare with it.
    set: Weak<BindingSet>,
    by_key: HashMap<String, usize>,
    by_source: HashMap<String, Vec<usize>>,
}

impl Index {
    fn of(&mut self, set: &Arc<BindingSet>) -> &Index {
        if !std::ptr::eq(self.set.as_ptr(), Arc::as_ptr(set)) {
            let mut by_key = HashMap::with_capacity(set.connections.len());
            let mut by_source: HashMap<String, Vec<usize>> = HashMap::new();
            for (i, c) in set.connections.iter().enumerate() {
                by_key.insert(c.key.clone(), i);
                by_source.entry(c.source.clone()).or_default().push(i);
            }
            *self = Index {
                set: Arc::downgrade(set),
                by_key,
                by_source,
            };
        }
        self
    }

    /// The connections whose source is `source`, in set order.
    fn fed_by<'s>(
        &'s self,
        set: &'s BindingSet,
        source: &str,
    ) -> impl Iterator<Item = &'s Connection> {
        self.by_source
            .get(source)
            .into_iter()
            .flatten()
            .filter_map(|&i| set.connections.get(i))
    }

    fn connection<'s>(&self, set: &'s BindingSet, key: &str) -> Option<&'s Connection> {
        self.by_key.get(key).and_then(|&i| set.connections.get(i))
    }

    fn has(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }
}

impl Replicator {
    /// The table observer: enqueue for every connection of this source (under the table lock,
    /// so before the update is acknowledged: SPEC §6.1).
    pub(super) fn on_update(&self, ev: &ChangeEvent) -> Result<(), ReplicationError> {
        let set = self.bindings();
        let now = Instant::now();
        let mut conns = lock(&self.inner.conns);
        let Conns {
            by_key,
            timers,
            index,
        } = &mut *conns;
        let index = index.of(&set);
        let mut wake = false;
        let mut result = Ok(());
        for c in index.fed_by(&set, &ev.name) {
            let Some(st) = self.policy_of(by_key, c, now) else {
                continue;
            };
            let before = st.poll_timeout();
            let settings = Settings::from(c);
            if st.settings() != settings {
                st.reconfigure(settings);
            }
            if st.handle_update(now, ev) == Decision::Send {
                if let Err(e) = self.enqueue(c, &set, ev) {
                    result = Err(e);
                    break;
                }
                st.sent(now, ev);
            }
            let after = st.poll_timeout();
            if after != before {
                wake |= timers.set(&c.key, after);
            }
        }
        drop(conns);
        if wake {
            self.inner.policy_wake.notify_one();
        }
        result
    }

    /// The policy of `c`, created on first use from what the store last saw enqueued.
    fn policy_of<'a>(
        &self,
        by_key: &'a mut HashMap<String, ConnPolicy>,
        c: &Connection,
        now: Instant,
    ) -> Option<&'a mut ConnPolicy> {
        // Why not `entry`: it would clone the key on every update.
        if !by_key.contains_key(&c.key) {
            let (last, quiet_for) = match self.persisted_last(c) {
                Some((value, at)) => {
                    // A timestamp ahead of the clock: as if just sent.
                    let ago = SystemTime::now().duration_since(at).unwrap_or_default();
                    (Some(value), Some(ago))
                }
                None => (None, None),
            };
            let p = ConnPolicy::new(now, Settings::from(c), last, quiet_for);
            by_key.insert(c.key.clone(), p);
        }
        by_key.get_mut(&c.key)
    }

    /// The value last enqueued for `c` (by any run) and when.
    fn persisted_last(&self, c: &Connection) -> Option<(DpValue, SystemTime)> {
        let rec = self.inner.store.connection(&c.key).ok()??;
        let (text, at) = rec.last_enqueued?;
        let value = self.inner.types.get(&c.source)?.parse(&text).ok()?;
        Some((value, at))
    }

    /// The policy task: sleeps until the earliest deadline of any connection (a held update,
    /// a heartbeat), sends exactly the due ones and commits them, since nobody else waits to.
    pub(super) async fn policy_timers(&self) {
        loop {
            let next = lock(&self.inner.conns).timers.poll_timeout();
            match next {
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at.into()) => {}
                        () = self.inner.policy_wake.notified() => {}
                    }
                }
                None => self.inner.policy_wake.notified().await,
            }
            if self.handle_timers(Instant::now())
                && let Err(e) = self.inner.store.commit().await
            {
                warn!(error = %e, "commit of throttled updates or heartbeats failed");
            }
        }
    }

    /// Enqueues what the deadlines passed at `now` call for; whether anything was enqueued.
    fn handle_timers(&self, now: Instant) -> bool {
        let set = self.bindings();
        let mut sent = false;
        loop {
            let mut conns = lock(&self.inner.conns);
            let Conns {
                by_key,
                timers,
                index,
            } = &mut *conns;
            let index = index.of(&set);
            let mut done = 0;
            while done < CHUNK
                && let Some(key) = timers.poll_due(now)
            {
                done += 1;
                let Some(c) = index.connection(&set, &key) else {
                    // Removed by a reload: its held update goes with it (it was never queued).
                    by_key.remove(&key);
                    continue;
                };
                let Some(st) = by_key.get_mut(&key) else {
                    continue;
                };
                while let Some(fire) = st.handle_timeout(now) {
                    let ev = fire.event();
                    match self.enqueue(c, &set, ev) {
                        Ok(()) => {
                            st.sent(now, ev);
                            sent = true;
                        }
                        Err(e) => warn!(connection = %key, error = %e, "timed send not enqueued"),
                    }
                }
                timers.set(&key, st.poll_timeout());
            }
            if done < CHUNK {
                return sent;
            }
        }
    }

    /// Puts one write for `c` into its host's queue (no flush: the caller commits).
    fn enqueue(
        &self,
        c: &Connection,
        set: &BindingSet,
        ev: &ChangeEvent,
    ) -> Result<(), ReplicationError> {
        let queue = queue_name(c);
        let raw = c
            .host
            .as_ref()
            .and_then(|h| set.hosts.get(h))
            .is_some_and(|h| h.format == Format::Raw);
        let dp_type =
            self.inner
                .types
                .get(&c.source)
                .ok_or_else(|| ReplicationError::UnknownSource {
                    name: c.source.clone(),
                })?;
        let (value, lon_format) = if raw {
            let bytes = dp_type
                .encode(&ev.value)
                .map_err(|source| ReplicationError::Encode {
                    name: c.source.clone(),
                    source,
                })?;
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
            .map_err(|source| ReplicationError::Enqueue {
                queue: queue.to_owned(),
                source,
            })?;
        if let Some(h) = lock(&self.inner.hosts).get(queue) {
            h.work.notify_one();
        }
        Ok(())
    }

    /// Brings every connection in step with the set in force: new settings, removed
    /// connections forgotten, and the current source value enqueued where the last enqueued
    /// value differs from it (new connections, or changes held back when the agent stopped).
    pub(super) fn resync(&self) {
        let set = self.bindings();
        // Read the table before taking `conns`: the observer takes them in the other order.
        let points = self.snapshot();
        {
            let mut conns = lock(&self.inner.conns);
            let Conns {
                by_key,
                timers,
                index,
            } = &mut *conns;
            let index = index.of(&set);
            by_key.retain(|k, _| index.has(k));
            timers.retain(|k| index.has(k));
        }
        let mut brought = 0usize;
        let mut wake = false;
        // `conns` is taken per chunk, so that local writes (the observer) go on meanwhile; each
        // connection is checked and enqueued under it, which is all the observer needs.
        for chunk in set.connections.chunks(CHUNK) {
            let now = Instant::now();
            let mut conns = lock(&self.inner.conns);
            let Conns { by_key, timers, .. } = &mut *conns;
            for c in chunk {
                let Some(st) = self.policy_of(by_key, c, now) else {
                    continue;
                };
                let before = st.poll_timeout();
                let settings = Settings::from(c);
                if st.settings() != settings {
                    st.reconfigure(settings);
                }
                if let Some(dp) = points.get(&c.source) {
                    let ev = current(dp, UpdateSource::Initial);
                    if st.handle_resync(&ev) {
                        match self.enqueue(c, &set, &ev) {
                            Ok(()) => {
                                st.sent(now, &ev);
                                brought += 1;
                                debug!(connection = %c.key, value = %ev.text, "connection brought in step");
                            }
                            Err(e) => {
                                warn!(connection = %c.key, error = %e, "cannot bring connection in step");
                            }
                        }
                    }
                }
                let after = st.poll_timeout();
                if after != before {
                    wake |= timers.set(&c.key, after);
                }
            }
        }
        if wake {
            self.inner.policy_wake.notify_one();
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
}

/// A datapoint's current value as an update, for sends not caused by a table write (a new
/// connection starting in step).
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
