//! When a Web connection sends (SPEC §4, notes/ilon-soap.md §6.4): the change test
//! (send-on-delta, by default "only if the value changed"), the min-send-time throttle and the
//! max-send-time heartbeat, per connection, plus the timers of all connections.
//!
//! Pure: no clock, no tasks. Time is passed in as `now`; deadlines come out as data.
//!
//! # Call contract of [`ConnPolicy`]
//! 1. An update of the source: [`ConnPolicy::handle_update`]. On [`Decision::Send`] enqueue it
//!    and, once enqueued, call [`ConnPolicy::sent`] (an update whose enqueue failed is refused,
//!    so the policy must not count it).
//! 2. Start in step (start-up, reload): [`ConnPolicy::handle_resync`] with the source's current
//!    value; `true`: enqueue it and call [`ConnPolicy::sent`].
//! 3. Settings changed by a reload: [`ConnPolicy::reconfigure`].
//! 4. After any of these, [`ConnPolicy::poll_timeout`] is the next deadline (put it in
//!    [`Timers`]); when it passes, call [`ConnPolicy::handle_timeout`] until it returns `None`,
//!    enqueueing each [`Fire`] (and calling `sent` for each one enqueued).

#[cfg(test)]
mod random_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::bindings::Connection;
use crate::datapoints::{ChangeEvent, DpValue};

/// What to do with one update of a connection's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Enqueue it now (then call [`ConnPolicy::sent`]).
    Send,
    /// Not a change worth sending.
    Skip,
    /// Held by the throttle until this instant; the newest held update then wins.
    Defer(Instant),
}

/// A send caused by a deadline rather than by an update.
#[derive(Debug, Clone, PartialEq)]
pub enum Fire {
    /// The newest update the throttle held back, still a change at its deadline.
    Deferred(ChangeEvent),
    /// Nothing was sent for `max_send_time`: the source's current value again.
    Heartbeat(ChangeEvent),
}

impl Fire {
    /// The update to enqueue.
    pub fn event(&self) -> &ChangeEvent {
        match self {
            Fire::Deferred(ev) | Fire::Heartbeat(ev) => ev,
        }
    }
}

/// A connection's send settings (the `[[connection]]` keys of SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Settings {
    /// `send_on_delta`: `None` any difference, `0` every update, `d` a move of at least `d`.
    pub send_on_delta: Option<f64>,
    /// `min_send_time`: at most one send per interval.
    pub min_send_time: Option<Duration>,
    /// `max_send_time`: re-send the current value after this long without a send.
    pub max_send_time: Option<Duration>,
}

impl From<&Connection> for Settings {
    fn from(c: &Connection) -> Self {
        Settings {
            send_on_delta: c.send_on_delta,
            min_send_time: c.min_send_time,
            max_send_time: c.max_send_time,
        }
    }
}

/// Whether `new` is a change worth sending after `last` (the value last enqueued).
///
/// `None` delta: any difference (the Web connection default, UG22 p.263); `0`: every update,
/// even an unchanged one; `d > 0`: a move of at least `d` (any state change of a switch, any
/// difference for types without a distance).
pub fn is_change(delta: Option<f64>, last: Option<&DpValue>, new: &DpValue) -> bool {
    let Some(last) = last else {
        return true;
    };
    match delta {
        None => last != new,
        Some(d) if d <= 0.0 => true,
        Some(d) => new.distance(last).map_or(last != new, |x| x >= d),
    }
}

/// The send policy of one connection (see the module's call contract).
#[derive(Debug, Clone)]
pub struct ConnPolicy {
    settings: Settings,
    /// The value last enqueued (this run, or persisted by an earlier one): the change test's base.
    last_enqueued: Option<DpValue>,
    /// The last send of this run: the throttle's base; `Some` also means "in step".
    last_sent_at: Option<Instant>,
    /// The heartbeat's base: the last send or heartbeat attempt (of this run or, by the
    /// store's timestamp, an earlier one); `None`: longer ago than the clock reaches back.
    quiet_since: Option<Instant>,
    /// When the policy was created: a heartbeat already overdue then is due at once.
    created: Instant,
    /// The newest update held by the throttle.
    deferred: Option<ChangeEvent>,
    /// The source's newest update, kept only while a heartbeat is configured (it re-sends it).
    latest: Option<ChangeEvent>,
}

impl ConnPolicy {
    /// A connection seen first at `now`, whose last enqueued value (from the store) is
    /// `last_enqueued`, enqueued `quiet_for` ago (the heartbeat counts from then; from `now`
    /// when unknown), so that a restart neither skips nor repeats a heartbeat.
    pub fn new(
        now: Instant,
        settings: Settings,
        last_enqueued: Option<DpValue>,
        quiet_for: Option<Duration>,
    ) -> Self {
        ConnPolicy {
            settings,
            last_enqueued,
            last_sent_at: None,
            quiet_since: quiet_for.map_or(Some(now), |d| now.checked_sub(d)),
            created: now,
            deferred: None,
            latest: None,
        }
    }

    /// The settings in force.
    #[must_use]
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// The value last enqueued, if known.
    #[must_use]
    pub fn last_enqueued(&self) -> Option<&DpValue> {
        self.last_enqueued.as_ref()
    }

    /// New settings from a reload; deadlines follow them (a held update whose throttle was
    /// removed is due at once).
    pub fn reconfigure(&mut self, settings: Settings) {
        self.settings = settings;
        if settings.max_send_time.is_none() {
            self.latest = None;
        }
    }

    /// An update of the source at `now`.
    pub fn handle_update(&mut self, now: Instant, ev: &ChangeEvent) -> Decision {
        let decision = self.decide(now, ev);
        match decision {
            // Nothing changes until `sent`: an update whose enqueue fails is refused, so the
            // held update (the source's value then) and the heartbeat's value must stay.
            Decision::Send => {}
            Decision::Skip => {
                // The newest wins: back within the delta of the value last sent, a held
                // update past its deadline is superseded.
                self.deferred = None;
                self.remember(ev);
            }
            Decision::Defer(_) => {
                self.deferred = Some(ev.clone());
                self.remember(ev);
            }
        }
        decision
    }

    fn decide(&self, now: Instant, ev: &ChangeEvent) -> Decision {
        // A throttle window is open: the newest update wins, whether or not it is a change
        // (going back to the value last sent must cancel the held one). Past its deadline
        // (the timer is late) the held update is superseded and this one goes the usual way.
        if self.deferred.is_some() {
            let at = self.deferred_deadline();
            if now < at {
                return Decision::Defer(at);
            }
        }
        if !is_change(
            self.settings.send_on_delta,
            self.last_enqueued.as_ref(),
            &ev.value,
        ) {
            return Decision::Skip;
        }
        match (self.settings.min_send_time, self.last_sent_at) {
            (Some(min), Some(at)) if now < at + min => Decision::Defer(at + min),
            _ => Decision::Send,
        }
    }

    /// Keeps the source's newest value for the heartbeat, if there is one.
    fn remember(&mut self, ev: &ChangeEvent) {
        if self.settings.max_send_time.is_some() {
            self.latest = Some(ev.clone());
        }
    }

    /// Start in step: whether the source's current value `ev` must be enqueued because it is
    /// not what was last enqueued (a new connection, or a change held back when the agent
    /// stopped). A connection that sent during this run is kept in step by its updates.
    pub fn handle_resync(&mut self, ev: &ChangeEvent) -> bool {
        if self.settings.max_send_time.is_some() && self.latest.is_none() {
            self.latest = Some(ev.clone());
        }
        self.last_sent_at.is_none() && self.last_enqueued.as_ref() != Some(&ev.value)
    }

    /// `ev` was enqueued at `now`.
    pub fn sent(&mut self, now: Instant, ev: &ChangeEvent) {
        self.last_enqueued = Some(ev.value.clone());
        self.last_sent_at = Some(now);
        self.quiet_since = Some(now);
        // What was sent is the source's newest value: any held update is superseded.
        self.deferred = None;
        self.remember(ev);
    }

    /// The next deadline: the held update's, or the heartbeat's.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let held = self.deferred.as_ref().map(|_| self.deferred_deadline());
        let beat = self.heartbeat_deadline();
        match (held, beat) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Deadlines that passed at `now`: one send to make, if any. Call again until `None`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Fire> {
        // (A held update that is no change any more is dropped.)
        if self.deferred.is_some()
            && self.deferred_deadline() <= now
            && let Some(ev) = self.deferred.take()
            && is_change(
                self.settings.send_on_delta,
                self.last_enqueued.as_ref(),
                &ev.value,
            )
        {
            return Some(Fire::Deferred(ev));
        }
        if self.heartbeat_deadline().is_some_and(|at| at <= now) {
            // Moves the deadline even if the enqueue fails (no busy loop on a failing store).
            self.quiet_since = Some(now);
            return self.latest.clone().map(Fire::Heartbeat);
        }
        None
    }

    /// When a held update is due: `min_send_time` after the last send; at once when the
    /// throttle was removed.
    fn deferred_deadline(&self) -> Instant {
        match (self.settings.min_send_time, self.last_sent_at) {
            (Some(min), Some(at)) => at + min,
            (_, at) => at.unwrap_or(self.created),
        }
    }

    fn heartbeat_deadline(&self) -> Option<Instant> {
        // Why the filter: a zero period (refused by the bindings) would be due forever.
        self.settings
            .max_send_time
            .filter(|max| !max.is_zero())
            .map(|max| self.quiet_since.map_or(self.created, |t| t + max))
    }
}

/// The deadlines of many keys (connections), earliest first: one timer task sleeps until
/// [`Timers::poll_timeout`] and takes exactly the due keys with [`Timers::poll_due`].
#[derive(Debug, Clone)]
pub struct Timers<K> {
    queue: BTreeSet<(Instant, K)>,
    at: HashMap<K, Instant>,
}

impl<K> Default for Timers<K> {
    fn default() -> Self {
        Timers {
            queue: BTreeSet::new(),
            at: HashMap::new(),
        }
    }
}

impl<K: Ord + Hash + Clone> Timers<K> {
    /// Sets (`Some`) or clears (`None`) the deadline of `key`, replacing the previous one.
    /// Returns whether the earliest deadline moved earlier (the sleeper must wake).
    pub fn set(&mut self, key: &K, deadline: Option<Instant>) -> bool {
        let old = self.at.get(key).copied();
        if old == deadline {
            return false;
        }
        if let Some(old) = old {
            self.queue.remove(&(old, key.clone()));
            self.at.remove(key);
        }
        let Some(at) = deadline else {
            return false;
        };
        let earlier = self.poll_timeout().is_none_or(|first| at < first);
        self.queue.insert((at, key.clone()));
        self.at.insert(key.clone(), at);
        earlier
    }

    /// The earliest deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.queue.first().map(|(at, _)| *at)
    }

    /// Removes and returns one key whose deadline is at or before `now`.
    pub fn poll_due(&mut self, now: Instant) -> Option<K> {
        if self.poll_timeout()? > now {
            return None;
        }
        let (_, key) = self.queue.pop_first()?;
        self.at.remove(&key);
        Some(key)
    }

    /// Forgets every key not kept by `keep` (connections removed by a reload).
    pub fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.queue.retain(|(_, k)| keep(k));
        self.at.retain(|k, _| keep(k));
    }

    /// Number of keys with a deadline.
    #[must_use]
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// Whether no key has a deadline.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }
}
