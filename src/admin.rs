//! The admin endpoint (SPEC §7): loopback HTTP with JSON for operators and the CLI
//! (`state`, `dp`), and Prometheus text at `/metrics`.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, watch};
use tracing::{debug, warn};

use crate::bindings::WatchStatus;
use crate::datapoints::clock::iso8601_utc;
use crate::datapoints::{Datapoint, UpdateSource, WriteFault, WriteRequest};
use crate::replication::Replicator;
use crate::store::StoreHealth;
use crate::xmpp::session::{Client, Link};

mod metrics;

use metrics::metrics;

/// Binding reload counters, shown in `/metrics`.
#[derive(Debug, Default)]
pub struct ReloadStats {
    pub reloads: AtomicU64,
    pub failures: AtomicU64,
}

/// What the handlers need.
#[derive(Clone)]
pub struct Admin {
    pub replicator: Replicator,
    pub client: Arc<Client>,
    pub reloads: Arc<ReloadStats>,
    pub jid: String,
    /// The binding directory watcher's status, or why there is none.
    pub watcher: Result<watch::Receiver<WatchStatus>, String>,
}

/// A datapoint as JSON (`GET /datapoints`, `dp list|read|write`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatapointJson {
    pub name: String,
    #[serde(rename = "type")]
    pub dp_type: String,
    pub direction: String,
    pub value: String,
    pub preset: Option<String>,
    pub priority: u8,
    pub point_status: String,
    pub last_update: String,
}

impl DatapointJson {
    fn of(dp: &Datapoint) -> DatapointJson {
        DatapointJson {
            name: dp.name.clone(),
            dp_type: dp.dp_type.name().to_owned(),
            direction: dp.direction.config_name().to_owned(),
            value: dp.text(),
            preset: dp.preset_name().map(str::to_owned),
            priority: dp.priority,
            point_status: dp.point_status.name().to_owned(),
            last_update: iso8601_utc(dp.last_update),
        }
    }
}

/// Body of `PUT /datapoints/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteBody {
    pub value: String,
    #[serde(default)]
    pub priority: Option<u8>,
}

/// One write of `POST /datapoints`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedWrite {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub priority: Option<u8>,
}

/// Most writes in one `POST /datapoints` (about 100 bytes each, well below the body limit).
pub const MAX_WRITES_PER_REQUEST: usize = 1000;

/// An error answer: `{"error": "...", "fault": 6}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorJson {
    pub error: String,
    pub fault: Option<u32>,
}

fn error(status: StatusCode, error: String, fault: Option<u32>) -> Response {
    (status, axum::Json(ErrorJson { error, fault })).into_response()
}

/// The routes.
pub fn router(admin: Admin) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/state", get(state))
        .route("/datapoints", get(list).post(write_many))
        .route("/datapoints/{*name}", get(read).put(write))
        .route("/metrics", get(metrics))
        .route("/purge", axum::routing::post(purge))
        .with_state(admin)
}

/// Connections served at once. Beyond it a connection is accepted and closed at once, so that
/// a flood can never take the descriptors the XMPP session and the store need.
const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send a request's headers (slowloris, half-open sockets).
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest any one connection lives, request body and answer included.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

/// Serves until `shutdown` resolves: one request per connection (the CLI and scrapers open a
/// connection per request), at most `MAX_CONNECTIONS` (64) at once, each bounded in time.
pub async fn serve(
    listener: tokio::net::TcpListener,
    admin: Admin,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(admin);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut shedding = false;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors or a transient error: do not spin on it.
                warn!(error = %e, "admin endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if !shedding {
                warn!(
                    limit = MAX_CONNECTIONS,
                    "admin endpoint: too many connections; refusing new ones until some end"
                );
                shedding = true;
            }
            continue;
        };
        shedding = false;
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            if let Ok(Err(e)) = tokio::time::timeout(CONNECTION_LIFETIME, conn).await {
                debug!(error = %e, "admin connection ended");
            }
            drop(permit);
        });
    }
}

/// One part of the agent in `/health`: fine or not, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub ok: bool,
    /// A word for the state, e.g. `online`, `connecting`, `writable`, `watching`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Part {
    pub fn ok(state: &str) -> Part {
        Part {
            ok: true,
            state: state.to_owned(),
            reason: None,
        }
    }

    pub fn failing(state: &str, reason: impl Into<String>) -> Part {
        Part {
            ok: false,
            state: state.to_owned(),
            reason: Some(reason.into()),
        }
    }
}

/// The store in `/health`: the common fields and its own detail (writable, stalls...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorePart {
    #[serde(flatten)]
    pub part: Part,
    #[serde(flatten)]
    pub detail: StoreHealth,
}

fn store_part(detail: StoreHealth) -> StorePart {
    let part = match (&detail.error, detail.commit_stalled_ms) {
        (Some(e), _) if !detail.writable => Part::failing("failed", e.clone()),
        _ if !detail.writable => Part::failing("failed", "the store does not write"),
        (_, Some(ms)) => Part::failing("stalled", format!("a commit has not finished for {ms} ms")),
        _ => Part::ok("writable"),
    };
    StorePart { part, detail }
}

/// `GET /health` (SPEC §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// `ok` when every part is, else `degraded`.
    pub status: String,
    pub jid: String,
    /// Whether the XMPP session is up (kept for scripts that read only this).
    pub online: bool,
    pub xmpp: Part,
    pub store: StorePart,
    pub bindings: Part,
}

fn xmpp_part(link: &Link) -> Part {
    match link {
        Link::Online(_) => Part::ok("online"),
        Link::Connecting => Part::failing("connecting", "logging in to the XMPP server"),
        Link::Offline(reason) => Part::failing("offline", reason.clone()),
        Link::Conflict { .. } => Part::failing("conflict", link.to_string()),
        Link::Stopped(reason) => Part::failing(
            "stopped",
            reason
                .clone()
                .unwrap_or_else(|| "the client stopped".to_owned()),
        ),
    }
}

async fn health(State(a): State<Admin>) -> Response {
    let xmpp = xmpp_part(&a.client.link().borrow());
    let store = store_part(a.replicator.store().health());
    let bindings = match &a.watcher {
        Ok(status) => match &*status.borrow() {
            WatchStatus::Watching => Part::ok("watching"),
            // Polling still sees every edit, a little later: degraded only in the log.
            WatchStatus::Polling { reason } => Part {
                ok: true,
                state: "polling".to_owned(),
                reason: Some(reason.clone()),
            },
        },
        Err(why) => Part::failing("off", format!("{why}; send SIGHUP to reload")),
    };
    let fine = xmpp.ok && store.part.ok && bindings.ok;
    let health = Health {
        status: if fine { "ok" } else { "degraded" }.to_owned(),
        jid: a.jid.clone(),
        online: xmpp.state == "online",
        xmpp,
        store,
        bindings,
    };
    let code = if fine {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(health)).into_response()
}

async fn state(State(a): State<Admin>) -> Response {
    let live = a.replicator.host_status();
    let bindings = a.replicator.bindings();
    match crate::state::build(a.replicator.store(), Some(&bindings), Some(&live)) {
        Ok(mut r) => {
            r.xmpp = Some(crate::state::xmpp_report(&a.client));
            axum::Json(r).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None),
    }
}

async fn list(State(a): State<Admin>) -> Response {
    let points: Vec<DatapointJson> = a
        .replicator
        .table()
        .list()
        .iter()
        .map(DatapointJson::of)
        .collect();
    axum::Json(points).into_response()
}

fn unknown(name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no datapoint named {name:?}"),
        Some(WriteFault::NOT_FOUND),
    )
}

async fn read(State(a): State<Admin>, Path(name): Path<String>) -> Response {
    match a.replicator.table().read(&name) {
        Some(dp) => axum::Json(DatapointJson::of(&dp)).into_response(),
        None => unknown(&name),
    }
}

/// A local update: fires Web connections like a SOAP Write, answered once durable.
async fn write(
    State(a): State<Admin>,
    Path(name): Path<String>,
    body: Result<axum::Json<WriteBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let axum::Json(body) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text(), None),
    };
    match local_write(&a, &name, body.value, body.priority) {
        Ok(dp) => match durable(&a, "write").await {
            Ok(()) => axum::Json(dp).into_response(),
            Err(r) => r,
        },
        Err(f) if f.code == WriteFault::NOT_FOUND => unknown(&name),
        Err(f) => error(StatusCode::BAD_REQUEST, f.message, Some(f.code)),
    }
}

/// One local update (fires Web connections like a SOAP Write; not yet durable).
fn local_write(
    a: &Admin,
    name: &str,
    value: String,
    priority: Option<u8>,
) -> Result<DatapointJson, WriteFault> {
    let mut req = WriteRequest::new(name, value, UpdateSource::Admin);
    req.priority = priority;
    a.replicator
        .table()
        .write(req)
        .map(|outcome| DatapointJson::of(outcome.datapoint()))
}

/// Commits the local updates made so far; the error answer names `what` was not durable.
async fn durable(a: &Admin, what: &str) -> Result<(), Response> {
    a.replicator.store().commit().await.map_err(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the {what} is not durable: {e}"),
            None,
        )
    })
}

/// `POST /datapoints` with a JSON array of `{"name", "value", "priority"}`: local updates in
/// order, answered once all are durable (one commit for the lot, as a SOAP Write of several
/// items), with one result per write in the same order: the datapoint, or `{"error", "fault"}`
/// for a write refused alone (the others still apply).
async fn write_many(
    State(a): State<Admin>,
    body: Result<axum::Json<Vec<NamedWrite>>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let axum::Json(writes) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text(), None),
    };
    if writes.len() > MAX_WRITES_PER_REQUEST {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} writes in one request; at most {MAX_WRITES_PER_REQUEST}",
                writes.len()
            ),
            None,
        );
    }
    let results: Vec<serde_json::Value> = writes
        .into_iter()
        .map(|w| {
            let result = match local_write(&a, &w.name, w.value, w.priority) {
                Ok(dp) => serde_json::to_value(dp),
                Err(f) => serde_json::to_value(ErrorJson {
                    error: f.message,
                    fault: Some(f.code),
                }),
            };
            result.unwrap_or(serde_json::Value::Null)
        })
        .collect();
    match durable(&a, "batch of writes").await {
        Ok(()) => axum::Json(results).into_response(),
        Err(r) => r,
    }
}

/// `POST /purge` (`webbinder purge` on a running agent): drops queued writes, or with
/// `dry_run` reports what it would drop; answered with [`crate::state::PurgeReport`].
async fn purge(
    State(a): State<Admin>,
    body: Result<axum::Json<crate::state::PurgeRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let axum::Json(req) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text(), None),
    };
    let r = a.replicator.clone();
    let (host, dry_run) = (req.host.clone(), req.dry_run);
    // Reads (and rewrites) the whole queue: off the async workers.
    let done = tokio::task::spawn_blocking(move || {
        if req.dry_run {
            r.store()
                .purge_preview(&req.host, req.connection.as_deref())
        } else {
            r.purge(&req.host, req.connection.as_deref(), req.upto)
        }
    })
    .await;
    let summary = match done {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None),
    };
    if !dry_run && let Err(e) = a.replicator.store().commit().await {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the purge is not durable: {e}"),
            None,
        );
    }
    axum::Json(crate::state::PurgeReport::of(&host, dry_run, &summary)).into_response()
}

/// A datapoint name as the path of `/datapoints/{name}`: each `/`-separated segment
/// percent-encoded (names hold spaces and other reserved characters).
pub fn encode_name(name: &str) -> String {
    name.split('/')
        .map(|seg| {
            seg.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}
