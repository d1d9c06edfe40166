//! The tokio driver of the per-host delivery machine (`delivery.rs`): one task per host (and
//! one for the internal queue) that carries out the machine's actions (store reads sized by
//! `sizing.rs`, Writes over XMPP, settling, stuck marks, the host's status) and feeds back
//! their results, our session's ups and downs, presences, reloads and purges. Several Writes
//! are in flight at once: each is queued on the session in order (`iq_start`) and awaited as
//! its own task, so answers come back in any order; the machine settles them in order.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use super::answer::{DeliveryError, read_answer};
use super::delivery::{Action, BatchId, DeliveryConfig, Fetched, HostDelivery, HostState, Outcome};
use super::losses::MAX_LOSSES;
use super::sizing::{Fit, Sizer};
use super::{HostStatus, LOCAL_QUEUE, Replicator, lock};
use crate::bindings::{DEFAULT_SOAP_TIMEOUT, Host};
use crate::datapoints::clock::iso8601_utc;
use crate::datapoints::{UpdateSource, WriteRequest};
use crate::soap::{LonValue, MAX_ITEMS, MessageProperties, Seq, WriteItem, build_write_request};
use crate::store::{PurgeSummary, QueuedWrite, StoreError, Stuck, StuckKind};
use crate::xmpp::jid::Jid;
use crate::xmpp::session::{Client, IqError, Link};
use crate::xmpp::stanza::IqType;
use crate::xmpp::xml::Element;

/// What the rest of the engine tells a host's sender (besides "the queue grew", a `Notify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HostEvent {
    /// Our XMPP session was (re-)established (SPEC §6.4: retry at once).
    SessionUp,
    /// The host's presence.
    Presence(bool),
    /// The bindings changed (the host may be gone, back, or have new settings).
    Reload,
    /// An operator purged writes of this queue.
    Purged,
}

/// A Write in flight: what its answer needs.
struct InFlight {
    first: u64,
    last: u64,
    items: usize,
}

/// The state of one host's sender task besides the machine.
struct Driver {
    r: Replicator,
    name: String,
    local: bool,
    m: HostDelivery,
    sizer: Option<(Jid, Sizer)>,
    /// Writes read from the queue and not yet settled (for the Write's items, dead-letter
    /// logs and the latency histogram).
    known: BTreeMap<u64, QueuedWrite>,
    batches: HashMap<BatchId, InFlight>,
    answers: JoinSet<(BatchId, Result<Element, IqError>)>,
    /// The head last reported too large (its seq), for the stuck mark's kind.
    too_large: Option<u64>,
    /// The seq of a stuck mark in the store.
    marked: Option<u64>,
}

impl Replicator {
    fn client(&self) -> Option<Arc<Client>> {
        self.inner
            .client
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_status(&self, host: &str, f: impl FnOnce(&mut HostStatus)) {
        if let Some(h) = lock(&self.inner.hosts).get_mut(host) {
            f(&mut h.status);
        }
    }

    /// Drains one host's queue for as long as the agent runs (until its event channel closes).
    pub(super) async fn sender(
        &self,
        name: String,
        work: Arc<Notify>,
        mut events: mpsc::UnboundedReceiver<HostEvent>,
    ) {
        let mut d = Driver::new(self.clone(), name);
        let mut link = if d.local {
            None
        } else {
            self.client().map(|c| c.link())
        };
        if !d.local {
            let up = link
                .as_mut()
                .is_some_and(|l| online(&l.borrow_and_update()));
            d.m.handle_session(Instant::now(), up);
        }
        loop {
            d.run().await;
            let deadline = d.m.poll_timeout();
            tokio::select! {
                () = work.notified() => d.m.handle_queued(Instant::now()),
                ev = events.recv() => {
                    let Some(ev) = ev else { return };
                    d.handle_event(ev);
                }
                Some(done) = d.answers.join_next(), if !d.answers.is_empty() => {
                    // A panicked or cancelled wait: the machine's own deadline fails the batch.
                    if let Ok((id, result)) = done {
                        let outcome = d.outcome(id, result);
                        d.m.handle_answer(Instant::now(), id, outcome);
                    }
                }
                up = link_changed(&mut link) => match up {
                    Some(up) => d.m.handle_session(Instant::now(), up),
                    None => link = None,
                },
                () = sleep_until(deadline), if deadline.is_some() => {
                    d.m.handle_timeout(Instant::now());
                }
            }
        }
    }

    /// Drops queued writes of `host` on an operator's decision (SPEC §6.7; see
    /// [`Store::purge_writes`](crate::store::Store::purge_writes)), and lets its sender look
    /// at the new head at once.
    pub fn purge(
        &self,
        host: &str,
        connection: Option<&str>,
        upto: Option<u64>,
    ) -> Result<PurgeSummary, StoreError> {
        let done = self.inner.store.purge_writes(host, connection, upto)?;
        if let Some(h) = lock(&self.inner.hosts).get(host) {
            let _ = h.events.send(HostEvent::Purged);
        }
        Ok(done)
    }

    /// The machine's settings for queue `name` (`None`: a host no longer bound).
    fn delivery_config(&self, name: &str) -> Option<DeliveryConfig> {
        if name == LOCAL_QUEUE {
            return Some(one_at_a_time(false));
        }
        let set = self.bindings();
        let h = set.hosts.get(name)?;
        Some(DeliveryConfig {
            window: h.window.max(1),
            retry_time: h.retry_time,
            timeout: h.timeout(),
            max_items: MAX_ITEMS,
            remote: true,
        })
    }
}

/// Settings of the internal queue (`remote` false), and placeholders for a host not bound.
fn one_at_a_time(remote: bool) -> DeliveryConfig {
    DeliveryConfig {
        window: 1,
        retry_time: Duration::from_secs(1),
        timeout: DEFAULT_SOAP_TIMEOUT,
        max_items: MAX_ITEMS,
        remote,
    }
}

fn online(link: &Link) -> bool {
    matches!(link, Link::Online(_))
}

/// The session's next change (up or down); `None` when the client is gone; never ready
/// without a client.
async fn link_changed(link: &mut Option<watch::Receiver<Link>>) -> Option<bool> {
    let Some(rx) = link else {
        return std::future::pending().await;
    };
    rx.changed().await.ok()?;
    Some(online(&rx.borrow_and_update()))
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

impl Driver {
    fn new(r: Replicator, name: String) -> Driver {
        let now = Instant::now();
        let local = name == LOCAL_QUEUE;
        let cfg = r.delivery_config(&name);
        // A host no longer bound starts removed; its settings come with the reload that
        // brings it back.
        let mut m = HostDelivery::new(cfg.clone().unwrap_or_else(|| one_at_a_time(true)), now);
        if cfg.is_none() {
            m.handle_reload(now, None);
        }
        // A write that cost the session in an earlier run gets a fresh chance (an operator
        // restarts after fixing the server); a size verdict is re-evaluated by the next read.
        let mut marked = None;
        if let Ok(Some(s)) = r.inner.store.stuck(&name) {
            if s.kind == StuckKind::SessionLosses {
                info!(seq = s.seq, reason = %s.reason, "retrying a write that cost the session in an earlier run");
                let _ = r.inner.store.clear_stuck(&name);
            } else {
                warn!(seq = s.seq, reason = %s.reason, "queue stuck since an earlier run");
                marked = Some(s.seq);
            }
        }
        Driver {
            r,
            name,
            local,
            m,
            sizer: None,
            known: BTreeMap::new(),
            batches: HashMap::new(),
            answers: JoinSet::new(),
            too_large: None,
            marked,
        }
    }

    fn host(&self) -> Option<Host> {
        self.r.bindings().hosts.get(&self.name).cloned()
    }

    fn handle_event(&mut self, ev: HostEvent) {
        let now = Instant::now();
        match ev {
            HostEvent::SessionUp => self.m.handle_session(now, true),
            HostEvent::Presence(available) => self.m.handle_presence(now, available),
            HostEvent::Reload => {
                let cfg = self.r.delivery_config(&self.name);
                self.m.handle_reload(now, cfg);
            }
            HostEvent::Purged => {
                self.known.clear();
                self.m.handle_purged(now);
            }
        }
    }

    /// Carries out the machine's actions until it has none.
    async fn run(&mut self) {
        while let Some(a) = self.m.poll_action() {
            match a {
                Action::Fetch { after, max } => {
                    let f = self.fetch(after, max).await;
                    self.m.handle_fetched(Instant::now(), f);
                }
                Action::Send {
                    id,
                    first,
                    last,
                    prev,
                    items,
                } => self.send(id, first, last, prev, items).await,
                Action::Settle { upto, refused } => self.settle(upto, &refused),
                Action::Status(s) => self.status(s),
            }
        }
    }

    async fn fetch(&mut self, after: Option<u64>, max: usize) -> Fetched {
        let mut run = loop {
            match self.r.inner.store.peek_run(&self.name, after, max) {
                Ok(r) => break r,
                Err(e) => {
                    warn!(error = %e, "cannot read the queue");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let Some(host) = self.host().filter(|_| !self.local) else {
            let seqs = run.iter().map(|(s, _)| *s).collect();
            self.known.extend(run);
            return Fetched::Run(seqs);
        };
        let sizer = self.sizer(&host);
        let bytes = match sizer.fit(&run, max) {
            Fit::Take(n) => {
                run.truncate(n);
                sizer.batch_size(run.iter().map(|(_, w)| w))
            }
            Fit::HeadTooLarge { size } => {
                let Some(head) = run.first() else {
                    return Fetched::Run(Vec::new());
                };
                let reason = stuck_reason(&host, head, StuckKind::TooLarge, size, sizer.limit(), 0);
                self.too_large = Some(head.0);
                return Fetched::HeadTooLarge {
                    seq: head.0,
                    reason,
                };
            }
        };
        let seqs = run.iter().map(|(s, _)| *s).collect();
        self.known.extend(run);
        Fetched::Sized { seqs, bytes }
    }

    fn sizer(&mut self, host: &Host) -> Sizer {
        match &self.sizer {
            Some((jid, s)) if *jid == host.jid => s.clone(),
            _ => {
                let unique_id = self.r.inner.unique_id.as_deref();
                let s = Sizer::new(self.r.inner.max_stanza_size, &host.jid, unique_id);
                self.sizer = Some((host.jid.clone(), s.clone()));
                s
            }
        }
    }

    async fn send(&mut self, id: BatchId, first: u64, last: u64, prev: u64, items: usize) {
        if self.local {
            let outcome = match self.deliver_locally(first, last).await {
                Ok(refused) => Outcome::Delivered { refused },
                Err(e) => e.outcome(),
            };
            self.m.handle_answer(Instant::now(), id, outcome);
            return;
        }
        // Only durable entries leave: a sequence number a peer has seen must never be reused
        // after a crash.
        let sent = match self.r.inner.store.commit().await {
            Err(e) => Err(DeliveryError::Store(e)),
            Ok(()) => self.start_write(id, first, last, prev),
        };
        match sent {
            Ok(()) => {
                self.batches.insert(id, InFlight { first, last, items });
            }
            Err(e) => self.m.handle_answer(Instant::now(), id, e.outcome()),
        }
    }

    /// Queues the Write of `first..=last` on our session; its answer comes back through
    /// `answers`.
    fn start_write(
        &mut self,
        id: BatchId,
        first: u64,
        last: u64,
        prev: u64,
    ) -> Result<(), DeliveryError> {
        let (Some(host), Some(client)) = (self.host(), self.r.client()) else {
            return Err(DeliveryError::NotConnected);
        };
        let props = MessageProperties {
            time_stamp: Some(iso8601_utc(SystemTime::now())),
            unique_id: self.r.inner.unique_id.clone(),
            seq: Some(Seq {
                epoch: self.r.inner.store.epoch(),
                first,
                last,
                prev: Some(prev),
            }),
            ..MessageProperties::default()
        };
        let items: Vec<WriteItem> = self
            .known
            .range(first..=last)
            .map(|(_, w)| write_item(w))
            .collect();
        let env = build_write_request(&props, &items).map_err(DeliveryError::Build)?;
        debug!(first, last, prev, to = %host.jid, "sending Write");
        let handle = client
            .iq_start(IqType::Set, Some(&host.jid), env)
            .map_err(|e| DeliveryError::from_iq(e, &host.jid.to_string(), first, last))?;
        let within = host.timeout();
        self.answers
            .spawn(async move { (id, handle.wait(within).await) });
        Ok(())
    }

    /// What the answer (or failure) of batch `id` means for the machine.
    fn outcome(&mut self, id: BatchId, result: Result<Element, IqError>) -> Outcome {
        let Some(b) = self.batches.remove(&id) else {
            return Outcome::Failed("an answer to an unknown Write".to_owned());
        };
        let jid = self
            .host()
            .map_or_else(|| self.name.clone(), |h| h.jid.to_string());
        let read = result
            .map_err(|e| DeliveryError::from_iq(e, &jid, b.first, b.last))
            .and_then(|answer| read_answer(&answer, &jid, b.items, b.first));
        match read {
            Ok(refused) => Outcome::Delivered { refused },
            Err(e) => e.outcome(),
        }
    }

    /// Finishes delivered writes: dead-letters refused ones, acknowledges the rest.
    fn settle(&mut self, upto: u64, refused: &[(u64, String)]) {
        let store = &self.r.inner.store;
        for (seq, reason) in refused {
            let target = self
                .known
                .get(seq)
                .map(|w| w.target.as_str())
                .unwrap_or("?");
            warn!(seq, %target, %reason, "write refused by the peer; dead-lettered");
            if let Err(e) = store.dead_letter(&self.name, *seq, reason) {
                warn!(error = %e, "cannot dead-letter");
            }
        }
        if let Err(e) = store.ack(&self.name, upto) {
            warn!(error = %e, "cannot acknowledge delivered writes");
        }
        let rest = self.known.split_off(&(upto.saturating_add(1)));
        let done = std::mem::replace(&mut self.known, rest);
        let now = SystemTime::now();
        {
            let mut lat = lock(&self.r.inner.latency);
            for w in done.values() {
                let secs = now
                    .duration_since(w.enqueued_at)
                    .map_or(0.0, |d| d.as_secs_f64());
                lat.observe(secs);
            }
        }
        self.r.set_status(&self.name, |s| s.online = Some(true));
    }

    fn status(&mut self, s: HostState) {
        let store = self.r.inner.store.clone();
        match &s {
            HostState::Stuck { seq, reason } => self.declare_stuck(*seq, reason),
            HostState::BackingOff { reason, .. } => {
                warn!(%reason, "delivery failed; will retry");
                let _ = store.record_error(&self.name, reason);
                self.r.set_status(&self.name, |st| {
                    st.online = Some(false);
                    st.last_error = Some(reason.clone());
                });
            }
            HostState::Removed => {
                info!("host no longer in the bindings; its queue is kept until it comes back");
            }
            HostState::WaitingSession => debug!("waiting for our XMPP session"),
            HostState::Idle | HostState::Sending { .. } => {}
        }
        // The head a stuck mark was about was sent, purged, or now fits.
        if matches!(
            s,
            HostState::Idle | HostState::Sending { .. } | HostState::BackingOff { .. }
        ) && let Some(seq) = self.marked.take()
        {
            info!(seq, "queue no longer stuck");
            let _ = store.clear_stuck(&self.name);
        }
    }

    /// Persists a stuck verdict about the head write `seq` and says so once, loudly.
    fn declare_stuck(&mut self, seq: u64, reason: &str) {
        let kind = if self.too_large == Some(seq) {
            StuckKind::TooLarge
        } else {
            StuckKind::SessionLosses
        };
        let reason = match (kind, self.host(), self.known.get(&seq).cloned()) {
            (StuckKind::SessionLosses, Some(h), Some(w)) => {
                let sizer = self.sizer(&h);
                let size = sizer.batch_size([&w]);
                stuck_reason(&h, &(seq, w), kind, size, sizer.limit(), MAX_LOSSES)
            }
            _ => reason.to_owned(),
        };
        error!(seq, %reason, "queue stuck at its head write");
        let mark = Stuck {
            seq,
            kind,
            reason: reason.clone(),
            since: SystemTime::now(),
        };
        let store = &self.r.inner.store;
        if let Err(e) = store.mark_stuck(&self.name, &mark) {
            warn!(error = %e, "cannot record the stuck mark");
        }
        self.marked = Some(seq);
        let _ = store.record_error(&self.name, &reason);
        self.r.set_status(&self.name, |s| {
            s.online = Some(false);
            s.last_error = Some(reason);
        });
    }

    /// Internal connections are written straight into the datapoint table, as any update;
    /// returns the refused ones (index, reason).
    /// Internal connections: the queued writes `first..=last` go straight into the datapoint
    /// table, as any update; one commit makes the applied values and their queue entries
    /// durable together (the refused ones are dead-lettered by the settle).
    async fn deliver_locally(
        &self,
        first: u64,
        last: u64,
    ) -> Result<Vec<(usize, String)>, DeliveryError> {
        let source = UpdateSource::Replication {
            from: LOCAL_QUEUE.to_owned(),
        };
        let now = SystemTime::now();
        let refused: Vec<(usize, String)> = self
            .known
            .range(first..=last)
            .enumerate()
            .filter_map(|(i, (_, w))| {
                let request = WriteRequest {
                    name: w.target.clone(),
                    value_text: w.value.clone(),
                    lon_format: w.lon_format.clone(),
                    priority: Some(w.priority),
                    source: source.clone(),
                };
                self.r
                    .inner
                    .table
                    .write_at(request, now)
                    .err()
                    .map(|f| (i, f.message))
            })
            .collect();
        self.r.inner.store.commit().await?;
        Ok(refused)
    }
}

/// The explanation of a stuck queue: names the write, its size and the limit.
fn stuck_reason(
    host: &Host,
    w: &(u64, QueuedWrite),
    kind: StuckKind,
    size: usize,
    limit: usize,
    losses: u32,
) -> String {
    let (seq, w) = w;
    let what = format!(
        "write seq {seq} of connection {:?} (target {:?}, {} value bytes)",
        w.connection,
        w.target,
        w.value.len()
    );
    let purge = format!("drop it with `webbinder purge {}`", host.name);
    match kind {
        StuckKind::TooLarge => format!(
            "{what} needs about {size} bytes as one stanza, over xmpp.max_stanza_size = {limit}: it can never be sent; {purge} or raise the limit"
        ),
        StuckKind::SessionLosses => format!(
            "{what} (about {size} bytes, xmpp.max_stanza_size = {limit}) cost the XMPP session {losses} times in a row when sent alone (does the server accept less?): it is sent again alone after a pause that doubles each time (5 min up to 1 h); {purge}"
        ),
    }
}

pub(crate) fn write_item(w: &QueuedWrite) -> WriteItem {
    let mut item = WriteItem::new(
        w.target.clone(),
        LonValue {
            text: w.value.clone(),
            lon_format: w.lon_format.clone(),
            unit: None,
        },
    );
    item.priority = Some(w.priority);
    item
}
