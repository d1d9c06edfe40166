//! The local datapoint table: the emulated SmartServer Data Server (SPEC §3, §5 Write rules).
//!
//! This module owns the datapoints of one agent, their current value, priority and point
//! status, the Write rules of the Data Server (unknown name, format, presets, field formats,
//! priority, `Dp_ResetPrio_Invoke`), the persistence of written values in the sled tree
//! [`TREE_NAME`], and the publication of every applied update as a [`ChangeEvent`] (to a
//! synchronous observer first, then on a broadcast channel).
//!
//! It does **not** parse SOAP, format `UCPTlastUpdate` or decide what is sent where: the SOAP
//! layer maps requests to [`WriteRequest`]s and [`WriteFault`]s to `<fault>` items, and the
//! replication layer consumes the events. It never flushes sled by itself: callers group
//! commits (the store's `commit`) before they acknowledge. Attached to the store as a
//! `StoreUser`, it undoes writes whose commit failed and reloads when the store re-opens
//! (`table/pending.rs`), so a value that is not on disk is never shown for long: only between
//! the write and its commit, as with any write.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::SystemTime;

use tokio::sync::broadcast;
use tracing::{debug, info, warn};

use super::clock::{self, RTC_NAME};
pub use super::fault::WriteFault;
use super::lon_format::resolve_value;
use super::record::Record;
use super::snvt::{DpType, DpValue, ValueError};
use super::status::PointStatus;
use crate::store::FailureReporter;

mod events;
mod pending;
mod persistence;
#[cfg(test)]
mod tests;

pub use events::{ChangeEvent, EVENT_CAPACITY, Observer, ObserverError, UpdateSource};
use pending::Pending;
use persistence::restore;

/// The sled tree that holds the last written value of every datapoint (layout in `record.rs`).
pub const TREE_NAME: &str = crate::store::TREE_VALUES;

/// The priority of a write that names none, and of a point nobody has written (PR p.57).
pub const DEFAULT_PRIORITY: u8 = 255;

/// The highest priority (numerically lowest); the clock writes with it so it always applies.
pub const HIGHEST_PRIORITY: u8 = 0;

/// The direction of a datapoint (`UCPTdirection`, `UCPTannotation`).
///
/// Informational only, as in the Data Server: any point may be written, and may be the source
/// or target of a Web connection (SPEC §4, §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// An input (`nvi...`), `Dp_In`.
    In,
    /// An output (`nvo...`), `Dp_Out`.
    Out,
    /// Both, `Dp_In_Out` (the configuration default, SPEC §3).
    #[default]
    InOut,
}

impl Direction {
    /// The name used in `webbinder.toml` (`in`, `out`, `in_out`).
    pub fn config_name(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::InOut => "in_out",
        }
    }

    /// The first part of `UCPTannotation` (`Dp_In`, `Dp_Out`, `Dp_In_Out`; PR p.32, p.54).
    pub fn annotation(self) -> &'static str {
        match self {
            Direction::In => "Dp_In",
            Direction::Out => "Dp_Out",
            Direction::InOut => "Dp_In_Out",
        }
    }
}

/// A direction name that is not `in`, `out` or `in_out`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown direction {0:?}: expected in, out or in_out")]
pub struct DirectionError(pub String);

impl FromStr for Direction {
    type Err = DirectionError;

    /// Parses the configuration names `in`, `out` and `in_out`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "in" => Ok(Direction::In),
            "out" => Ok(Direction::Out),
            "in_out" => Ok(Direction::InOut),
            _ => Err(DirectionError(s.to_owned())),
        }
    }
}

/// One `[[datapoint]]` of the configuration, as the config loader produces it.
#[derive(Debug, Clone, PartialEq)]
pub struct DatapointConfig {
    /// Full name, e.g. `Net/LON/iLON App/Digital Output 1/nviClaValue_1`.
    pub name: String,
    /// The value type.
    pub dp_type: DpType,
    /// Informational direction.
    pub direction: Direction,
    /// Initial value in the type's text form; a persisted written value wins over it.
    pub initial: String,
}

/// A snapshot of one datapoint: what Read, List, Get and the admin endpoint show.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    /// Full name (`UCPTname`).
    pub name: String,
    /// The value type.
    pub dp_type: DpType,
    /// Informational direction.
    pub direction: Direction,
    /// The current value.
    pub value: DpValue,
    /// The priority of the last applied write: 0 highest, 255 default / none (PR p.57).
    pub priority: u8,
    /// `UCPTpointStatus`.
    pub point_status: PointStatus,
    /// When the value was last updated (or the table was opened, for a never-written point).
    pub last_update: SystemTime,
    /// The presets (`ValueDef`s) in `UCPTindex` order, so a Read can name the preset the value
    /// equals and a Write can use `LonFormat="UCPTvalueDef"`.
    pub presets: Vec<(String, DpValue)>,
}

impl Datapoint {
    /// The value in the type's SmartServer text form, e.g. `100.0 1`.
    pub fn text(&self) -> String {
        self.dp_type.format(&self.value)
    }

    /// The name of the preset the value equals (the `UCPTvalueDef` value of a Read, PR p.54).
    pub fn preset_name(&self) -> Option<&str> {
        self.presets
            .iter()
            .find(|(_, v)| *v == self.value)
            .map(|(name, _)| name.as_str())
    }
}

/// One item of a Write: the SOAP layer and the admin endpoint build these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRequest {
    /// The datapoint to write (`UCPTname`).
    pub name: String,
    /// The `<UCPTvalue>` text: a value, a preset name or hex, depending on `lon_format`.
    pub value_text: String,
    /// The `LonFormat` attribute: `None` (or empty) means the point's own format;
    /// `UCPTvalueDef` a preset name; `RAW_HEX` hex bytes; `<type>` or the full format
    /// description of the point's type; `<type>.<field>` one field (SNVT_switch `value` /
    /// `state`, SNVT_time_stamp `year` .. `second`).
    pub lon_format: Option<String>,
    /// `UCPTpriority`; `None` means 255.
    pub priority: Option<u8>,
    /// Who writes.
    pub source: UpdateSource,
}

impl WriteRequest {
    /// A write of `value_text` in the point's own format at the default priority 255.
    pub fn new(
        name: impl Into<String>,
        value_text: impl Into<String>,
        source: UpdateSource,
    ) -> Self {
        WriteRequest {
            name: name.into(),
            value_text: value_text.into(),
            lon_format: None,
            priority: None,
            source,
        }
    }

    /// The same request with an explicit `UCPTpriority`.
    pub fn with_priority(mut self, priority: u8) -> Self {
        self.priority = Some(priority);
        self
    }

    /// The same request with a `LonFormat` attribute.
    pub fn with_lon_format(mut self, lon_format: impl Into<String>) -> Self {
        self.lon_format = Some(lon_format.into());
        self
    }
}

/// What a successful (fault-free) Write did; both variants carry the Data Server's view of the
/// point afterwards, which the WriteResponse echoes (PR p.32, p.58).
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    /// The value was applied, persisted (not yet flushed) and published.
    Applied(Datapoint),
    /// The write's priority number was greater than the point's current one, so it did not take
    /// effect (PR p.57). No fault: the response echoes the unchanged point, as the Data Server
    /// does; nothing was persisted or published.
    IgnoredPriority {
        /// The point, unchanged.
        current: Datapoint,
        /// The priority the write asked for.
        requested: u8,
    },
}

impl WriteOutcome {
    /// The point after the write (changed or not).
    pub fn datapoint(&self) -> &Datapoint {
        match self {
            WriteOutcome::Applied(dp) => dp,
            WriteOutcome::IgnoredPriority { current, .. } => current,
        }
    }

    /// Whether the value was applied.
    pub fn is_applied(&self) -> bool {
        matches!(self, WriteOutcome::Applied(_))
    }
}

/// Opening, loading or flushing the table failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The sled tree could not be opened.
    #[error("cannot open sled tree {tree:?} of the datapoint table")]
    OpenTree {
        /// The tree name.
        tree: &'static str,
        /// The sled error.
        #[source]
        source: sled::Error,
    },
    /// The sled tree could not be opened again after the store re-opened (`pending.rs`). Its
    /// message names the sled error itself: the store shows only this message.
    #[error("cannot open sled tree {tree:?}: {source}")]
    ReopenTree {
        /// The tree name.
        tree: &'static str,
        /// The sled error.
        #[source]
        source: sled::Error,
    },
    /// Reading a persisted value failed (I/O or corruption reported by sled).
    #[error("cannot load the persisted value of datapoint {name:?}")]
    Load {
        /// The datapoint.
        name: String,
        /// The sled error.
        #[source]
        source: sled::Error,
    },
    /// Two configured datapoints have the same name.
    #[error("datapoint {name:?} is configured twice")]
    Duplicate {
        /// The repeated name.
        name: String,
    },
    /// A configured initial value does not parse for its type.
    #[error("initial value of datapoint {name:?} is invalid")]
    InitialValue {
        /// The datapoint.
        name: String,
        /// Why the text was rejected.
        #[source]
        source: ValueError,
    },
    /// The configuration declares the Real Time Clock point with another type.
    #[error("datapoint {name:?} is the real time clock and must be SNVT_time_stamp, not {found}")]
    ClockType {
        /// The clock point's name.
        name: String,
        /// The configured type name.
        found: String,
    },
    /// Flushing sled to disk failed.
    #[error("cannot flush the datapoint table to disk")]
    Flush {
        /// The sled error.
        #[source]
        source: sled::Error,
    },
    /// The store is failed and re-opening (see `Store::health`).
    #[error("the datapoint table cannot write: the store is not writable")]
    Unavailable,
}

/// The datapoint table: a cheaply cloneable, thread-safe handle (all clones share one table).
///
/// Methods are synchronous and short (one mutex, one sled insert); call them from tokio tasks
/// directly. Writes are serialised, so events come out in the order values were applied.
#[derive(Clone)]
pub struct Table {
    inner: Arc<Inner>,
}

struct Inner {
    // Design: one lock over all points; a write holds it across the observer call, the sled
    // insert and the broadcast, so observer order = apply order = event order. A write takes
    // the store's atomic section before it.
    points: Mutex<BTreeMap<String, Datapoint>>,
    /// `None` while the store is failed and re-opening (see `pending.rs`).
    tree: RwLock<Option<sled::Tree>>,
    /// The last durable state of points written since (locked after `points`).
    pending: Mutex<Pending>,
    /// The store: writes values through it and hears when sled refuses one (set by
    /// `Store::attach`).
    reporter: RwLock<Option<FailureReporter>>,
    /// Test hook: the next sled insert fails as on a full disk.
    #[cfg(test)]
    fail_next_persist: std::sync::atomic::AtomicBool,
    events: broadcast::Sender<ChangeEvent>,
    observer: RwLock<Option<Observer>>,
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("points", &self.lock().len())
            .field("subscribers", &self.inner.events.receiver_count())
            .finish_non_exhaustive()
    }
}

impl Table {
    /// Builds the table from the configuration and the values persisted in `db`.
    ///
    /// Each configured point starts at its initial value, priority 255 and `now`; then a value
    /// persisted by an earlier run replaces it (SPEC §3: the last written value wins), with its
    /// `last_update`. The priority restarts at 255, as after a SmartServer power-up (PR p.56).
    /// A persisted record that cannot be decoded, was written for another type, or no longer
    /// parses is logged and ignored. Records of points no longer configured are left in sled.
    /// The Real Time Clock point ([`RTC_NAME`]) is added if missing and set to `now`.
    pub fn open(
        db: &sled::Db,
        configs: Vec<DatapointConfig>,
        now: SystemTime,
    ) -> Result<Table, TableError> {
        let tree = db
            .open_tree(TREE_NAME)
            .map_err(|source| TableError::OpenTree {
                tree: TREE_NAME,
                source,
            })?;
        let mut points = BTreeMap::new();
        for cfg in configs {
            if points.contains_key(&cfg.name) {
                return Err(TableError::Duplicate { name: cfg.name });
            }
            let value =
                cfg.dp_type
                    .parse(&cfg.initial)
                    .map_err(|source| TableError::InitialValue {
                        name: cfg.name.clone(),
                        source,
                    })?;
            let dp = new_point(cfg.name.clone(), cfg.dp_type, cfg.direction, value, now);
            points.insert(cfg.name, dp);
        }
        let mut restored = 0_usize;
        for dp in points.values_mut() {
            if dp.name != RTC_NAME && restore(&tree, dp)? {
                restored += 1;
            }
        }
        add_clock(&mut points, now)?;
        info!(
            points = points.len(),
            restored,
            tree = TREE_NAME,
            "datapoint table opened"
        );
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Ok(Table {
            inner: Arc::new(Inner {
                points: Mutex::new(points),
                tree: RwLock::new(Some(tree)),
                pending: Mutex::new(Pending::default()),
                reporter: RwLock::new(None),
                #[cfg(test)]
                fail_next_persist: std::sync::atomic::AtomicBool::new(false),
                events,
                observer: RwLock::new(None),
            }),
        })
    }

    /// A snapshot of one datapoint (Read, Get, `dp read`).
    pub fn read(&self, name: &str) -> Option<Datapoint> {
        self.lock().get(name).cloned()
    }

    /// Snapshots of all datapoints, sorted by name (List, `dp list`).
    pub fn list(&self) -> Vec<Datapoint> {
        self.lock().values().cloned().collect()
    }

    /// All datapoint names, sorted (binding validation, List filters).
    pub fn names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Applies one Write item now ([`Table::write_at`] with the current time).
    pub fn write(&self, req: WriteRequest) -> Result<WriteOutcome, WriteFault> {
        self.write_at(req, SystemTime::now())
    }

    /// Applies one Write item as of `now`, with the Data Server's rules (notes §3.7, §10):
    ///
    /// 1. unknown name: fault 6 "Instance doesn't exist";
    /// 2. the value is resolved per `lon_format` (own format, `UCPTvalueDef` preset, `RAW_HEX`,
    ///    `<type>.<field>`); a value that does not fit the type or an unknown preset: fault 11;
    ///    an unknown field: fault 16;
    /// 3. priority: applied only if the write's number is <= the point's current one, else
    ///    [`WriteOutcome::IgnoredPriority`] (no fault);
    /// 4. the observer runs (an `Err` gives fault 12, point unchanged);
    /// 5. the record is handed to the store, which writes it to sled with the forwards the
    ///    observer enqueued, atomically (inserted in sled directly when no store is attached;
    ///    not flushed either way; an error gives fault 12, point unchanged), the point gets
    ///    the value, priority and `now`, and the event is broadcast.
    ///
    /// Attached to a store, the write runs in one atomic section of it (`Store::atomic`,
    /// joining the caller's, e.g. a peer batch's), so no spill separates what the observer
    /// enqueued from the value: a crash keeps both or neither. The direction is not checked:
    /// any point may be written.
    pub fn write_at(&self, req: WriteRequest, now: SystemTime) -> Result<WriteOutcome, WriteFault> {
        let reporter = self.reporter();
        // Why: a spill between the observer's enqueue and the staged value made the forward
        // and the connection's last-enqueued stamp durable without the value; after a kill
        // the start-up resync sent the older value again after the newer one. Opened before
        // the points lock (the lock order of a peer batch, whose section this one joins).
        let _section = reporter.as_ref().and_then(FailureReporter::atomic);
        let mut points = self.lock();
        let Some(dp) = points.get_mut(&req.name) else {
            debug!(name = %req.name, source = ?req.source, "write to unknown datapoint");
            return Err(WriteFault::not_found(&req.name));
        };
        let value = resolve_value(dp, &req.value_text, req.lon_format.as_deref())?;
        let priority = req.priority.unwrap_or(DEFAULT_PRIORITY);
        if priority > dp.priority {
            debug!(
                name = %dp.name,
                requested = priority,
                current = dp.priority,
                source = ?req.source,
                "write ignored: priority lower than the current one"
            );
            return Ok(WriteOutcome::IgnoredPriority {
                current: dp.clone(),
                requested: priority,
            });
        }
        let text = dp.dp_type.format(&value);
        let event = ChangeEvent {
            name: dp.name.clone(),
            value: value.clone(),
            text: text.clone(),
            priority,
            point_status: dp.point_status,
            at: now,
            source: req.source,
        };
        self.notify_observer(&event)?;
        let record = Record {
            type_name: dp.dp_type.name().to_owned(),
            priority,
            unix_ms: clock::unix_ms(now),
            text,
        };
        self.persist(&dp.name, &record, reporter.as_ref())?;
        self.note_pending(dp);
        dp.value = value;
        dp.priority = priority;
        dp.last_update = now;
        let applied = dp.clone();
        debug!(name = %event.name, value = %event.text, priority, source = ?event.source, "datapoint updated");
        // Why: having no subscriber is not an error; what must not be lost uses the observer.
        let _receivers = self.inner.events.send(event).unwrap_or(0);
        Ok(WriteOutcome::Applied(applied))
    }

    /// `Dp_ResetPrio_Invoke` (PR p.58): sets the point's priority back to 255, provided the
    /// caller's `priority` number is <= the current one; otherwise fault 12. The value is
    /// unchanged and no event is published (it is not an update). Admin tools pass 0 to reset
    /// unconditionally; a SOAP item without `UCPTpriority` should pass 255, like Write.
    pub fn reset_priority(&self, name: &str, priority: u8) -> Result<Datapoint, WriteFault> {
        let mut points = self.lock();
        let Some(dp) = points.get_mut(name) else {
            return Err(WriteFault::not_found(name));
        };
        if priority > dp.priority {
            return Err(WriteFault::command_failed(
                name,
                format!(
                    "priority {priority} is lower than the current priority {}",
                    dp.priority
                ),
            ));
        }
        if dp.priority != DEFAULT_PRIORITY {
            let record = Record {
                type_name: dp.dp_type.name().to_owned(),
                priority: DEFAULT_PRIORITY,
                unix_ms: clock::unix_ms(dp.last_update),
                text: dp.text(),
            };
            self.persist(name, &record, self.reporter().as_ref())?;
            self.note_pending(dp);
            debug!(name, previous = dp.priority, "datapoint priority reset");
            dp.priority = DEFAULT_PRIORITY;
        }
        Ok(dp.clone())
    }

    /// Sets the Real Time Clock point to `now` (UTC, to the second) as an update from
    /// [`UpdateSource::Clock`] at [`HIGHEST_PRIORITY`], through [`Table::write_at`]: it always
    /// applies, is persisted and publishes an event. Call once a second.
    pub fn tick_clock(&self, now: SystemTime) -> Result<WriteOutcome, WriteFault> {
        let value = clock::utc_time_stamp(now).map_err(|e| WriteFault::format(RTC_NAME, e))?;
        let req = WriteRequest::new(
            RTC_NAME,
            DpType::TimeStamp.format(&value),
            UpdateSource::Clock,
        )
        .with_priority(HIGHEST_PRIORITY);
        self.write_at(req, now)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Datapoint>> {
        // Why: a panic under the lock (e.g. in an observer) happens before any point is
        // modified, so the map is consistent and can be used again.
        self.inner
            .points
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn new_point(
    name: String,
    dp_type: DpType,
    direction: Direction,
    value: DpValue,
    now: SystemTime,
) -> Datapoint {
    let presets = dp_type.default_presets();
    Datapoint {
        name,
        dp_type,
        direction,
        value,
        priority: DEFAULT_PRIORITY,
        point_status: PointStatus::default(),
        last_update: now,
        presets,
    }
}

/// Adds the Real Time Clock point if the configuration lacks it, and sets it to `now`.
fn add_clock(points: &mut BTreeMap<String, Datapoint>, now: SystemTime) -> Result<(), TableError> {
    let value = match clock::utc_time_stamp(now) {
        Ok(value) => Some(value),
        Err(e) => {
            warn!(error = %e, "the clock cannot be shown as SNVT_time_stamp");
            None
        }
    };
    if let Some(dp) = points.get_mut(RTC_NAME) {
        if dp.dp_type != DpType::TimeStamp {
            return Err(TableError::ClockType {
                name: RTC_NAME.to_owned(),
                found: dp.dp_type.name().to_owned(),
            });
        }
        if let Some(value) = value {
            dp.value = value;
        }
        return Ok(());
    }
    // Why: year 0 and zero fields mean "not specified" in SNVT_time_stamp.
    let value = value.unwrap_or(DpValue::TimeStamp {
        year: 0,
        month: 0,
        day: 0,
        hour: 0,
        minute: 0,
        second: 0,
    });
    let dp = new_point(
        RTC_NAME.to_owned(),
        DpType::TimeStamp,
        Direction::Out,
        value,
        now,
    );
    points.insert(RTC_NAME.to_owned(), dp);
    Ok(())
}
