//! Hot reload off the event loop: the watcher's signal, then the load on a blocking thread.
//!
//! Why: loading runs the caller's event loop dry if it runs there (issue 8: a reload of
//! 20,000 connections blocked SOAP for 12 s while pings were still answered), and a binding
//! file that blocks (a FIFO) would stall it for ever. Here the caller only receives a set
//! that is already loaded and validated (or why not).

use std::path::Path;
use std::sync::Arc;

use tokio::task::JoinHandle;

use super::{BindingSet, DirWatch, WatchStatus};
use crate::config::{ConfigError, ConfigErrors};

type LoadFn = dyn Fn() -> Result<BindingSet, ConfigErrors> + Send + Sync;

/// Watches the binding directory and loads it, on a blocking thread, after each change.
pub struct Reloader {
    watch: DirWatch,
    load: Arc<LoadFn>,
    /// The load in progress, kept across cancellations of [`Reloader::next`].
    loading: Option<JoinHandle<Result<BindingSet, ConfigErrors>>>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("watch", &self.watch)
            .field("loading", &self.loading.is_some())
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// Reloads with `load` (which reads the directory: `agent::load_bindings`) after every
    /// change `watch` reports.
    pub fn new(
        watch: DirWatch,
        load: impl Fn() -> Result<BindingSet, ConfigErrors> + Send + Sync + 'static,
    ) -> Reloader {
        Reloader {
            watch,
            load: Arc::new(load),
            loading: None,
        }
    }

    /// Whether the directory is watched or polled, and why ([`DirWatch::status`]).
    pub fn status(&self) -> WatchStatus {
        self.watch.status()
    }

    /// The status as it changes ([`DirWatch::status_receiver`]), for `/health`.
    pub fn status_receiver(&self) -> tokio::sync::watch::Receiver<WatchStatus> {
        self.watch.status_receiver()
    }

    /// The directory watched.
    pub fn dir(&self) -> &Path {
        self.watch.dir()
    }

    /// Starts a load now, as if the directory had changed (SIGHUP); a load already running
    /// covers it.
    pub fn request(&mut self) {
        if self.loading.is_none() {
            let load = self.load.clone();
            self.loading = Some(tokio::task::spawn_blocking(move || load()));
        }
    }

    /// The next reload: waits for a change, then for its load on a blocking thread. Changes
    /// made during a load are seen by the next call.
    ///
    /// Cancel safe: a load in progress is kept and its result returned by the next call, so
    /// this can be used in `select!` next to the requests it must not delay.
    ///
    /// # Errors
    ///
    /// The problems of the binding files ([`ConfigErrors`]); the previous set stays in force.
    pub async fn next(&mut self) -> Result<BindingSet, ConfigErrors> {
        if self.loading.is_none() {
            self.watch.changed().await;
        }
        let load = &self.load;
        let loading = self.loading.get_or_insert_with(|| {
            let load = load.clone();
            tokio::task::spawn_blocking(move || load())
        });
        let result = loading.await;
        self.loading = None;
        result.unwrap_or_else(|e| {
            Err(ConfigErrors {
                errors: vec![ConfigError {
                    path: self.watch.dir().to_owned(),
                    position: None,
                    message: format!("loading the binding files failed: {e}"),
                }],
            })
        })
    }
}
