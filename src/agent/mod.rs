//! The agent: one site's stand-in SmartServer. `run` wires the state store, the datapoint
//! table, the XMPP session and the SOAP service together and answers stanzas until shutdown.

pub mod dispatch;
pub mod service;

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tokio::time::MissedTickBehavior;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::config::Config;
use crate::datapoints::{Table, TableError};
use crate::xmpp::bosh::BoshConfig;
use crate::xmpp::jid::Jid;
use crate::xmpp::session::{Client, ClientConfig, ClientError, ClientEvent};
use crate::xmpp::stanza;
use crate::xmpp::stream::{StreamConfig, StreamError};
use crate::xmpp::xml::Element;

use dispatch::Action;
use service::{Identity, Service};

/// Why the agent could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The sled state store could not be opened (e.g. another agent holds its lock).
    #[error("cannot open the state store {path}: {source}")]
    Store {
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
    /// Flushing the store at shutdown failed.
    #[error("flushing the state store {path}: {source}")]
    Flush {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
}

/// Opens the state store with a small page cache: memory must not grow with the backlog
/// (SPEC §9: 20 MB idle).
pub fn open_store(path: &std::path::Path) -> Result<sled::Db, AgentError> {
    sled::Config::new()
        .path(path)
        .cache_capacity(8 * 1024 * 1024)
        .open()
        .map_err(|source| AgentError::Store {
            path: path.to_owned(),
            source,
        })
}

/// The XMPP client settings of `config`'s account under `resource`.
pub fn client_config(config: &Config, resource: &str, as_agent: bool) -> ClientConfig {
    let x = &config.xmpp;
    let mut bosh = BoshConfig::new(&x.domain);
    bosh.wait = x.wait;
    ClientConfig {
        url: x.bosh_url(),
        stream: StreamConfig {
            bosh,
            user: x.jid().node().unwrap_or_default().to_owned(),
            password: crate::xmpp::stream::Secret(x.password.expose().to_owned()),
            resource: resource.to_owned(),
            plain_allowed: x.tls || x.allow_plain,
            fetch_roster: as_agent,
            initial_presence: as_agent,
        },
        iq_timeout: config.agent.iq_timeout,
        reconnect_min: Duration::from_millis(500),
        reconnect_max: Duration::from_secs(30),
        retry_first_connect: as_agent,
    }
}

/// Runs the agent until `shutdown` resolves (SIGINT/SIGTERM in `main`), then terminates the
/// BOSH session cleanly and flushes the store.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
    let jid = config.xmpp.jid();
    let db = open_store(&config.agent.state_dir)?;
    let started = SystemTime::now();
    let table = Table::open(&db, config.datapoints.clone(), started)?;
    let mac = jid.node().and_then(|n| n.parse().ok());
    let service = Service::new(table.clone(), Identity { mac, started });
    let allowed = Arc::new(RwLock::new(allowed_set(&config, &jid)));
    let (client, mut events) = Client::start(client_config(&config, &config.xmpp.resource, true))?;
    let client = Arc::new(client);
    info!(%jid, url = %config.xmpp.bosh_url(), state = %config.agent.state_dir.display(), "agent starting");

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    tokio::pin!(shutdown);
    let outcome = loop {
        tokio::select! {
            () = &mut shutdown => {
                info!("shutdown requested");
                break Ok(());
            }
            _ = tick.tick() => {
                if let Err(e) = table.tick_clock(SystemTime::now()) {
                    warn!(error = %e, "real time clock not updated");
                }
            }
            ev = events.recv() => match ev {
                Some(ClientEvent::Stanza(el)) => {
                    on_stanza(&el, &service, &client, &db, &allowed);
                }
                Some(ClientEvent::Online { jid, reconnected }) => {
                    info!(%jid, reconnected, "online");
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
    client.shutdown().await;
    let flushed = db
        .flush_async()
        .await
        .map(|_| ())
        .map_err(|source| AgentError::Flush {
            path: config.agent.state_dir.clone(),
            source,
        });
    info!("agent stopped");
    outcome.and(flushed)
}

/// Bare JIDs allowed to use SOAP, chat and subscriptions: `allow`, our own account (so that
/// `webbinder send` works) and, later, every configured host.
fn allowed_set(config: &Config, own: &Jid) -> HashSet<Jid> {
    let mut set: HashSet<Jid> = config.agent.allow.iter().map(Jid::bare).collect();
    set.insert(own.bare());
    set
}

fn on_stanza(
    el: &Element,
    service: &Service,
    client: &Arc<Client>,
    db: &sled::Db,
    allowed: &Arc<RwLock<HashSet<Jid>>>,
) {
    let is_allowed = |j: &Jid| {
        allowed
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(j)
    };
    match dispatch::classify(el, &is_allowed) {
        Action::Ignore => {}
        Action::Reply(stanzas) => {
            for s in stanzas {
                client.send(s);
            }
        }
        Action::Soap { request, envelope } => {
            let from = stanza::from(&request)
                .map(|j| j.to_string())
                .unwrap_or_default();
            let id = request.get_attr("id").unwrap_or_default().to_owned();
            let span = info_span!("soap", %from, %id);
            let handled = span.in_scope(|| service.handle(&envelope, &from, SystemTime::now()));
            let reply = stanza::iq_result(&request, Some(handled.envelope));
            if !handled.wrote {
                client.send(reply);
                return;
            }
            // The answer acknowledges the write: it leaves only once the write is durable.
            let client = client.clone();
            let db = db.clone();
            tokio::spawn(
                async move {
                    match db.flush_async().await {
                        Ok(_) => client.send(reply),
                        Err(e) => warn!(error = %e, "write not made durable; not acknowledged"),
                    }
                    debug!("answered");
                }
                .instrument(span),
            );
        }
    }
}
