//! The per-host sender: drains a queue in order, in batches sized by items and bytes
//! (`sizing.rs`), one Write in flight; a head that cannot be delivered (too large, or costing
//! the session again and again: `losses.rs`) makes only its own queue stuck (SPEC §6.7).

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Notify;
use tracing::{debug, error, info, warn};

use super::losses::{AfterLoss, LossGuard};
use super::sizing::{Fit, Sizer};
use super::{HostStatus, LOCAL_QUEUE, Replicator, lock};
use crate::bindings::Host;
use crate::datapoints::clock::iso8601_utc;
use crate::datapoints::{UpdateSource, WriteRequest};
use crate::soap::{
    LonValue, MAX_ITEMS, MessageProperties, Seq, WriteAnswer, WriteItem, build_write_request,
    read_write_answer,
};
use crate::store::{PurgeSummary, QueuedWrite, StoreError, Stuck, StuckKind};
use crate::xmpp::jid::Jid;
use crate::xmpp::session::IqError;
use crate::xmpp::stanza::IqType;

impl Replicator {
    fn session_online(&self) -> bool {
        self.inner
            .client
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|c| matches!(*c.link().borrow(), crate::xmpp::session::Link::Online(_)))
    }

    fn set_status(&self, host: &str, f: impl FnOnce(&mut HostStatus)) {
        if let Some(h) = lock(&self.inner.hosts).get_mut(host) {
            f(&mut h.status);
        }
    }

    /// Drains one host's queue for as long as the agent runs.
    pub(super) async fn sender(&self, name: String, work: Arc<Notify>, retry_now: Arc<Notify>) {
        let mut guard = LossGuard::new(MAX_ITEMS);
        let mut sizer: Option<(Jid, Sizer)> = None;
        // A write that cost the session in an earlier run gets a fresh chance (an operator
        // restarts after fixing the server); a size verdict is re-evaluated below.
        if let Ok(Some(s)) = self.inner.store.stuck(&name) {
            if s.kind == StuckKind::SessionLosses {
                info!(seq = s.seq, reason = %s.reason, "retrying a write that cost the session in an earlier run");
                let _ = self.inner.store.clear_stuck(&name);
            } else {
                warn!(seq = s.seq, reason = %s.reason, "queue stuck since an earlier run");
            }
        }
        loop {
            let host = if name == LOCAL_QUEUE {
                None
            } else {
                match self.bindings().hosts.get(&name) {
                    Some(h) => Some(h.clone()),
                    // Removed by a reload: its queue is kept until the host comes back.
                    None => {
                        retry_now.notified().await;
                        continue;
                    }
                }
            };
            let cap = if host.is_some() {
                guard.cap(Instant::now())
            } else {
                MAX_ITEMS
            };
            let mut run = match self.inner.store.peek_run(&name, None, cap) {
                Ok(r) => r,
                Err(e) => {
                    warn!(error = %e, "cannot read the queue");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let Some(head) = run.first().map(|(seq, _)| *seq) else {
                tokio::select! {
                    () = work.notified() => {}
                    () = retry_now.notified() => {}
                }
                continue;
            };
            if let Some(h) = &host {
                let sizer = match &sizer {
                    Some((jid, s)) if *jid == h.jid => s,
                    _ => {
                        let unique_id = self.inner.unique_id.clone();
                        let s =
                            Sizer::new(self.inner.max_stanza_size, &h.jid, unique_id.as_deref());
                        &sizer.insert((h.jid.clone(), s)).1
                    }
                };
                let stuck = self.inner.store.stuck(&name).ok().flatten();
                let verdict = match sizer.fit(&run, cap) {
                    Fit::Take(n) => {
                        run.truncate(n);
                        None
                    }
                    Fit::HeadTooLarge { size } => Some((StuckKind::TooLarge, size)),
                };
                match (stuck, verdict) {
                    // The head it was about is gone (purged), or now fits (limit raised).
                    (Some(s), None) if s.seq != head || s.kind == StuckKind::TooLarge => {
                        info!(seq = s.seq, "queue no longer stuck");
                        let _ = self.inner.store.clear_stuck(&name);
                    }
                    (Some(s), _) if s.seq == head => {
                        self.wait_stuck(&name, &s.reason, &work, &retry_now).await;
                        continue;
                    }
                    (_, Some((kind, size))) => {
                        let reason = stuck_reason(h, &run[0], kind, size, sizer.limit(), 0);
                        self.declare_stuck(&name, head, kind, &reason);
                        continue;
                    }
                    (_, None) => {}
                }
            }
            // Only durable entries leave: a sequence number a peer has seen must never be
            // reused after a crash.
            if let Err(e) = self.inner.store.commit().await {
                warn!(error = %e, "commit before sending failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            if host.is_some() && !self.session_online() {
                // Not an error of the host: wait for our session (its coming online wakes us).
                tokio::select! {
                    () = retry_now.notified() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            let outcome = match &host {
                None => self.deliver_locally(&run).await,
                Some(h) => self.deliver_remote(h, &run).await,
            };
            let bytes = sizer
                .as_ref()
                .map_or(0, |(_, s)| s.batch_size(run.iter().map(|(_, w)| w)));
            let (reason, session_lost) = match &outcome {
                Ok(()) => {
                    guard.delivered(bytes);
                    self.set_status(&name, |s| {
                        s.online = Some(true);
                    });
                    continue;
                }
                Err(e) => (
                    e.to_string(),
                    matches!(e, DeliveryError::SessionLost { .. }),
                ),
            };
            if let (true, Some(h)) = (session_lost, &host) {
                match guard.lost(head, run.len(), bytes, Instant::now()) {
                    AfterLoss::Retry { cap } => {
                        warn!(%reason, items = run.len(), next_cap = cap, "session lost with a batch in flight; sending smaller batches");
                    }
                    AfterLoss::Stuck { seq, losses } => {
                        let reason = stuck_reason(
                            h,
                            &run[0],
                            StuckKind::SessionLosses,
                            bytes,
                            self.inner.max_stanza_size,
                            losses,
                        );
                        self.declare_stuck(&name, seq, StuckKind::SessionLosses, &reason);
                        continue;
                    }
                }
            } else {
                warn!(%reason, items = run.len(), "delivery failed; will retry");
            }
            let _ = self.inner.store.record_error(&name, &reason);
            self.set_status(&name, |s| {
                s.online = Some(false);
                s.last_error = Some(reason);
            });
            let retry = host
                .as_ref()
                .map_or(Duration::from_secs(1), |h| h.retry_time);
            tokio::select! {
                () = tokio::time::sleep(retry) => {}
                () = retry_now.notified() => {}
            }
        }
    }

    /// Persists a stuck verdict about the head write `seq` and says so once, loudly.
    fn declare_stuck(&self, name: &str, seq: u64, kind: StuckKind, reason: &str) {
        error!(seq, %reason, "queue stuck: its head write is not sent again until purged");
        let mark = Stuck {
            seq,
            kind,
            reason: reason.to_owned(),
            since: SystemTime::now(),
        };
        if let Err(e) = self.inner.store.mark_stuck(name, &mark) {
            warn!(error = %e, "cannot record the stuck mark");
        }
        let _ = self.inner.store.record_error(name, reason);
        self.set_status(name, |s| {
            s.online = Some(false);
            s.last_error = Some(reason.to_owned());
        });
    }

    /// Waits, without sending, until something may have changed the stuck head (a purge
    /// wakes `retry_now`, an enqueue `work`).
    async fn wait_stuck(&self, name: &str, reason: &str, work: &Notify, retry_now: &Notify) {
        self.set_status(name, |s| {
            s.online = Some(false);
            s.last_error = Some(reason.to_owned());
        });
        tokio::select! {
            () = work.notified() => {}
            () = retry_now.notified() => {}
        }
    }

    /// Drops queued writes of `host` on an operator's decision (SPEC §6.7; see
    /// [`Store::purge_writes`]), and lets its sender look at the new head at once.
    pub fn purge(
        &self,
        host: &str,
        connection: Option<&str>,
        upto: Option<u64>,
    ) -> Result<PurgeSummary, StoreError> {
        let done = self.inner.store.purge_writes(host, connection, upto)?;
        if let Some(h) = lock(&self.inner.hosts).get(host) {
            h.retry_now.notify_one();
        }
        Ok(done)
    }

    /// Finishes a delivered batch: dead-letters refused items, acknowledges the rest.
    fn settle(&self, queue: &str, run: &[(u64, QueuedWrite)], refused: &[(usize, String)]) {
        for (i, reason) in refused {
            if let Some((seq, w)) = run.get(*i) {
                warn!(seq, target = %w.target, %reason, "write refused by the peer; dead-lettered");
                if let Err(e) = self.inner.store.dead_letter(queue, *seq, reason) {
                    warn!(error = %e, "cannot dead-letter");
                }
            }
        }
        let Some((last, _)) = run.last() else { return };
        if let Err(e) = self.inner.store.ack(queue, *last) {
            warn!(error = %e, "cannot acknowledge delivered writes");
        }
        let now = SystemTime::now();
        let mut lat = lock(&self.inner.latency);
        for (_, w) in run {
            let secs = now
                .duration_since(w.enqueued_at)
                .map_or(0.0, |d| d.as_secs_f64());
            lat.observe(secs);
        }
    }

    /// Internal connections are written straight into the datapoint table, as any update.
    async fn deliver_locally(&self, run: &[(u64, QueuedWrite)]) -> Result<(), DeliveryError> {
        let source = UpdateSource::Replication {
            from: LOCAL_QUEUE.to_owned(),
        };
        let now = SystemTime::now();
        let refused: Vec<(usize, String)> = run
            .iter()
            .enumerate()
            .filter_map(|(i, (_, w))| {
                let request = WriteRequest {
                    name: w.target.clone(),
                    value_text: w.value.clone(),
                    lon_format: w.lon_format.clone(),
                    priority: Some(w.priority),
                    source: source.clone(),
                };
                self.inner
                    .table
                    .write_at(request, now)
                    .err()
                    .map(|f| (i, f.message))
            })
            .collect();
        self.inner
            .store
            .commit()
            .await
            .map_err(|e| DeliveryError::Failed(format!("commit: {e}")))?;
        self.settle(LOCAL_QUEUE, run, &refused);
        Ok(())
    }

    async fn deliver_remote(
        &self,
        host: &Host,
        run: &[(u64, QueuedWrite)],
    ) -> Result<(), DeliveryError> {
        let failed = DeliveryError::Failed;
        let client = self
            .inner
            .client
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| failed("not started".to_owned()))?;
        let (first, last) = match (run.first(), run.last()) {
            (Some((f, _)), Some((l, _))) => (*f, *l),
            _ => return Ok(()),
        };
        let props = MessageProperties {
            time_stamp: Some(iso8601_utc(SystemTime::now())),
            unique_id: self.inner.unique_id.clone(),
            seq: Some(Seq {
                epoch: self.inner.store.epoch(),
                first,
                last,
                prev: None,
            }),
            ..MessageProperties::default()
        };
        let items: Vec<WriteItem> = run.iter().map(|(_, w)| write_item(w)).collect();
        let env = build_write_request(&props, &items).map_err(|e| failed(e.to_string()))?;
        debug!(first, last, to = %host.jid, "sending Write");
        let answer = client
            .iq_within(IqType::Set, Some(&host.jid), env, host.timeout())
            .await
            .map_err(|e| match e {
                IqError::Stanza { error, .. } => failed(format!("{} answered {}", host.jid, error)),
                IqError::SessionLost { .. } => DeliveryError::SessionLost {
                    jid: host.jid.to_string(),
                    first,
                    last,
                },
                other => failed(format!("{}: {other}", host.jid)),
            })?;
        let payload = crate::xmpp::stanza::payload(&answer)
            .ok_or_else(|| failed(format!("{} answered without a SOAP envelope", host.jid)))?;
        let refused = match read_write_answer(payload, run.len(), first)
            .map_err(|e| failed(format!("unreadable answer: {e}")))?
        {
            WriteAnswer::Delivered { refused } => refused,
            // The peer's own trouble (e.g. its store), or a batch before this one missing:
            // retry later (one batch in flight: the retry resends from the oldest write).
            WriteAnswer::Retry(why) => {
                return Err(failed(format!("{} answered a SOAP fault: {why}", host.jid)));
            }
            WriteAnswer::Gap { applied, prev } => {
                return Err(failed(format!(
                    "{} has applied up to seq {applied}, short of {prev}",
                    host.jid
                )));
            }
            // The whole request refused (a peer that cannot parse it): permanent for every item.
            WriteAnswer::Refused(why) => (0..run.len())
                .map(|i| (i, format!("SOAP fault: {why}")))
                .collect(),
        };
        self.settle(&host.name, run, &refused);
        Ok(())
    }
}

/// Why a delivery attempt failed.
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
    /// Anything else (no answer, an iq error, a fault): retried after the host's retry time.
    #[error("{0}")]
    Failed(String),
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
            "{what} (about {size} bytes, xmpp.max_stanza_size = {limit}) cost the XMPP session {losses} times in a row when sent alone (does the server accept less?): not sent again; {purge}, or restart the agent to retry"
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
