//! The agent: one site's stand-in SmartServer. `run` wires the state store, the datapoint
//! table, the XMPP session and the SOAP service together and answers stanzas until shutdown.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::time::MissedTickBehavior;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::admin::{self, Admin, ReloadStats};
use crate::bindings::{self, BindingSet, DirWatch, Reloader};
use crate::config::{Config, ConfigErrors};
use crate::datapoints::{RTC_NAME, Table, TableError};
use crate::replication::Replicator;
use crate::store::{Store, StoreError};
use crate::xmpp::bosh::BoshConfig;
use crate::xmpp::jid::Jid;
use crate::xmpp::ns;
use crate::xmpp::session::{Client, ClientConfig, ClientError, ClientEvent};
use crate::xmpp::stanza::{self, StanzaError};
use crate::xmpp::stream::{StreamConfig, StreamError};
use crate::xmpp::xml::Element;

use crate::smartserver::dispatch::{self, Action};
use crate::smartserver::{Identity, Service};

/// Why the agent could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The sled state store could not be opened (e.g. another agent holds its lock).
    #[error("cannot open the state store {path}: {source}")]
    OpenStore {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    /// The datapoint table could not be built from the config and the store.
    #[error("datapoint table: {0}")]
    Table(#[from] TableError),
    /// The XMPP client could not be created.
    #[error("xmpp client: {0}")]
    Client(#[from] ClientError),
    /// The session ended for a reason retrying cannot fix (wrong password, unknown host...).
    #[error("xmpp login as {jid} failed: {source}")]
    Login {
        jid: String,
        #[source]
        source: StreamError,
    },
    /// The replication store failed.
    #[error("state store: {0}")]
    Store(#[from] StoreError),
    /// The binding files are invalid at start-up (hot reloads keep the previous set instead).
    #[error("invalid binding files:\n{0}")]
    Bindings(ConfigErrors),
    /// The binding directory could not be created.
    #[error("cannot create the binding directory {path}: {source}")]
    BindingsDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The admin endpoint could not listen.
    #[error("admin endpoint {addr}: {source}")]
    Admin {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Opens the state store with a small page cache: memory must not grow with the backlog
/// (SPEC §9: 20 MB idle).
pub fn open_store(path: &std::path::Path) -> Result<sled::Db, AgentError> {
    sled_config(path)
        .open()
        .map_err(|source| AgentError::OpenStore {
            path: path.to_owned(),
            source,
        })
}

/// The sled settings of the state store (also used to re-open it after a failed commit).
fn sled_config(path: &std::path::Path) -> sled::Config {
    sled::Config::new()
        .path(path)
        .cache_capacity(8 * 1024 * 1024)
}

/// Most elements accepted in one incoming stanza: a 100-item request or answer has a few
/// thousand.
const MAX_STANZA_ELEMENTS: usize = 20_000;

/// The XMPP client settings of `config`'s account under `resource`.
pub fn client_config(config: &Config, resource: &str, as_agent: bool) -> ClientConfig {
    let x = &config.xmpp;
    let mut bosh = BoshConfig::new(&x.domain);
    bosh.wait = x.wait;
    // One BOSH body (wrapper included) must stay below the server's limit too (SPEC §5).
    bosh.max_body_bytes = x
        .max_stanza_size
        .saturating_sub(crate::replication::sizing::BODY_ALLOWANCE);
    // Nothing larger is expected in (peers size their stanzas by the same limit), and a
    // request's tree must stay small in memory whatever the server lets through (issue 8).
    bosh.stanza_limits.max_bytes = x.max_stanza_size;
    bosh.stanza_limits.max_elements = MAX_STANZA_ELEMENTS;
    ClientConfig {
        urls: x.servers.clone(),
        ca_file: x.ca_file.clone(),
        stream: StreamConfig {
            bosh,
            user: x.jid().node().unwrap_or_default().to_owned(),
            password: crate::xmpp::stream::Secret(x.password.expose().to_owned()),
            resource: resource.to_owned(),
            // Per server, PLAIN is also allowed over TLS (an https:// URL): the driver decides.
            plain_allowed: x.allow_plain,
            fetch_roster: as_agent,
            initial_presence: as_agent,
        },
        iq_timeout: config.agent.iq_timeout,
        reconnect_min: Duration::from_millis(500),
        reconnect_max: Duration::from_secs(30),
        retry_first_connect: as_agent,
        proxy: x.proxy.clone(),
    }
}

/// Loads the binding directory as this agent sees it (its JID, its datapoint names). A missing
/// directory is an empty set (`run` creates it).
pub fn load_bindings(config: &Config) -> Result<BindingSet, ConfigErrors> {
    if !config.agent.bindings_dir.exists() {
        return Ok(BindingSet {
            hosts: Default::default(),
            connections: Vec::new(),
            files: Vec::new(),
        });
    }
    let own = config.xmpp.jid();
    let mut names: BTreeSet<String> = config.datapoints.iter().map(|d| d.name.clone()).collect();
    names.insert(RTC_NAME.to_owned());
    let ctx = bindings::Context {
        own_jid: &own,
        local_names: &names,
    };
    bindings::load_dir(&config.agent.bindings_dir, &ctx)
}

/// Runs the agent until `shutdown` resolves (SIGINT/SIGTERM in `main`), then terminates the
/// BOSH session cleanly and flushes the store.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
    // First of all: from here on SIGHUP re-reads the binding files instead of killing us.
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(error = %e, "SIGHUP cannot be handled; it will stop the agent");
            None
        }
    };
    let jid = config.xmpp.jid();
    if !config.agent.bindings_dir.exists() {
        std::fs::create_dir_all(&config.agent.bindings_dir).map_err(|source| {
            AgentError::BindingsDir {
                path: config.agent.bindings_dir.clone(),
                source,
            }
        })?;
    }
    let set = load_bindings(&config).map_err(AgentError::Bindings)?;
    let db = open_store(&config.agent.state_dir)?;
    let store = Store::open(&db)?;
    let started = SystemTime::now();
    let table = Table::open(&db, config.datapoints.clone(), started)?;
    // Why: after a failed commit (a full disk) the store re-opens sled by itself, which needs
    // every handle of the old `Db` gone; the store and the table keep theirs swappable.
    drop(db);
    store.attach(Arc::new(table.clone()));
    let state_dir = config.agent.state_dir.clone();
    store.enable_recovery(config.agent.state_dir.clone(), move || {
        sled_config(&state_dir).open()
    });
    let mac = jid.node().and_then(|n| n.parse().ok());
    let service = Service::new(table.clone(), Identity { mac, started })
        .with_dedupe(store.clone())
        .with_max_stanza_size(config.xmpp.max_stanza_size);
    let allowed = Arc::new(RwLock::new(allowed_set(&config, &jid, &set)));
    let replicator = Replicator::new(
        store.clone(),
        table.clone(),
        service.unique_id(),
        set,
        config.xmpp.max_stanza_size,
    );
    let (client, mut events) = Client::start(client_config(&config, &config.xmpp.resource, true))?;
    let client = Arc::new(client);
    replicator.start(Some(client.clone()));
    info!(%jid, servers = %config.xmpp.servers.join(", "), state = %config.agent.state_dir.display(), "agent starting");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let reloads = Arc::new(ReloadStats::default());
    let (mut watch, watcher) =
        match DirWatch::new(&config.agent.bindings_dir, Duration::from_millis(200)) {
            // Loads on a blocking thread: a reload never stalls serving (issue 8).
            Ok(w) => {
                let status = w.status_receiver();
                let config = config.clone();
                let reloader = Reloader::new(w, move || load_bindings(&config));
                (Some(reloader), Ok(status))
            }
            Err(e) => {
                warn!(error = %e, "binding files will not be hot-reloaded");
                (None, Err(e.to_string()))
            }
        };
    if let Some(addr) = config.agent.admin {
        let admin = Admin {
            replicator: replicator.clone(),
            client: client.clone(),
            reloads: reloads.clone(),
            jid: jid.to_string(),
            watcher,
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| AgentError::Admin { addr, source })?;
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let done = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = admin::serve(listener, admin, done).await {
                warn!(error = %e, "admin endpoint stopped");
            }
        });
        info!(%addr, "admin endpoint listening");
    }
    let mut subscribed: HashSet<Jid> = HashSet::new();

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut clock_failing = false;
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    tokio::pin!(shutdown);
    let outcome = loop {
        tokio::select! {
            () = &mut shutdown => {
                info!("shutdown requested");
                break Ok(());
            }
            _ = tick.tick() => match table.tick_clock(SystemTime::now()) {
                Ok(_) => clock_failing = false,
                // Once per spell (a full disk fails every tick until the store recovers).
                Err(e) if !clock_failing => {
                    warn!(error = %e, "real time clock not updated");
                    clock_failing = true;
                }
                Err(_) => {}
            },
            () = hangup(&mut hup) => match &mut watch {
                Some(w) => {
                    info!("SIGHUP: reloading the binding files");
                    w.request();
                }
                None => warn!("SIGHUP: the binding directory cannot be read; nothing reloaded"),
            },
            reloaded = reloaded(&mut watch) => {
                match reloaded {
                    Ok(set) => {
                        let n = (set.hosts.len(), set.connections.len());
                        *allowed.write().unwrap_or_else(PoisonError::into_inner) =
                            allowed_set(&config, &jid, &set);
                        for h in set.hosts.values() {
                            if subscribed.insert(h.jid.bare()) {
                                client.subscribe(&h.jid);
                            }
                        }
                        replicator.reload(set);
                        reloads.reloads.fetch_add(1, Ordering::Relaxed);
                        info!(hosts = n.0, connections = n.1, "bindings reloaded");
                    }
                    Err(errors) => {
                        reloads.failures.fetch_add(1, Ordering::Relaxed);
                        warn!("binding files rejected, previous bindings kept:\n{errors}");
                    }
                }
            }
            ev = events.recv() => match ev {
                Some(ClientEvent::Stanza(el)) => {
                    if el.name() == "presence" {
                        on_presence(&el, &replicator);
                    }
                    on_stanza(&el, &service, &client, &store, &allowed);
                }
                Some(ClientEvent::Online { jid, reconnected }) => {
                    info!(%jid, reconnected, "online");
                    for h in replicator.bindings().hosts.values() {
                        client.subscribe(&h.jid);
                        subscribed.insert(h.jid.bare());
                    }
                    replicator.on_session_online();
                }
                Some(ClientEvent::Offline { reason }) => warn!(%reason, "offline"),
                Some(ClientEvent::Reconnecting { attempt, delay }) => {
                    info!(attempt, delay = %humantime::format_duration(delay), "reconnecting");
                }
                Some(ClientEvent::Stopped { error: Some(source) }) => {
                    break Err(AgentError::Login { jid: jid.to_string(), source });
                }
                Some(ClientEvent::Stopped { error: None }) | None => break Ok(()),
            }
        }
    };
    let _ = stop_tx.send(true);
    client.shutdown().await;
    let flushed = store.commit().await.map_err(AgentError::Store);
    info!("agent stopped");
    outcome.and(flushed)
}

/// Resolves on SIGHUP (the classic "reload your configuration"); never without a handler.
async fn hangup(hup: &mut Option<Signal>) {
    let got = match hup {
        Some(s) => s.recv().await,
        None => None,
    };
    if got.is_none() {
        std::future::pending::<()>().await;
    }
}

/// The binding directory after a change, already loaded; never without a watcher.
async fn reloaded(watch: &mut Option<Reloader>) -> Result<BindingSet, ConfigErrors> {
    match watch {
        Some(w) => w.next().await,
        None => std::future::pending().await,
    }
}

fn on_presence(el: &Element, replicator: &Replicator) {
    let Some(from) = stanza::from(el) else { return };
    let available = match el.get_attr("type") {
        None => true,
        Some("unavailable") => false,
        Some(_) => return,
    };
    replicator.on_presence(&from.bare().to_string(), available);
}

/// Bare JIDs allowed to use SOAP, chat and subscriptions: `allow`, our own account (so that
/// `webbinder send` works) and every configured host.
fn allowed_set(config: &Config, own: &Jid, bindings: &BindingSet) -> HashSet<Jid> {
    let mut set: HashSet<Jid> = config.agent.allow.iter().map(Jid::bare).collect();
    set.insert(own.bare());
    set.extend(bindings.hosts.values().map(|h| h.jid.bare()));
    set
}

fn on_stanza(
    el: &Element,
    service: &Service,
    client: &Arc<Client>,
    store: &Store,
    allowed: &Arc<RwLock<HashSet<Jid>>>,
) {
    let is_allowed = |j: &Jid| {
        allowed
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(j)
    };
    match dispatch::classify(el, &is_allowed) {
        Action::Ignore => {}
        Action::Reply(stanzas) => {
            for s in stanzas {
                client.send(s);
            }
        }
        Action::Soap { envelope } => {
            let from = stanza::from(el).map(|j| j.to_string()).unwrap_or_default();
            let id = el.get_attr("id").unwrap_or_default().to_owned();
            let span = info_span!("soap", %from, %id);
            let handled =
                span.in_scope(|| service.handle_iq(envelope, &from, &id, SystemTime::now()));
            let reply = stanza::iq_result(el, Some(handled.envelope));
            if !handled.wrote {
                client.send(reply);
                return;
            }
            // The answer acknowledges the write: it leaves only once the write is durable.
            // Otherwise the requester is told at once (a peer agent keeps it queued and retries).
            let client = client.clone();
            let store = store.clone();
            let request = Element::new(ns::CLIENT, "iq")
                .attr("id", &id)
                .attr("from", &from);
            tokio::spawn(
                async move {
                    match store.commit().await {
                        Ok(()) => client.send(reply),
                        Err(e) => {
                            warn!(error = %e, "write not made durable; not acknowledged");
                            let why = StanzaError::new(
                                "wait",
                                "resource-constraint",
                                Some(&format!("the write was not made durable: {e}")),
                            );
                            client.send(stanza::iq_error(&request, &why));
                        }
                    }
                    debug!("answered");
                }
                .instrument(span),
            );
        }
    }
}
