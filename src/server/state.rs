//! What the server is serving and where it is in its life ([`AppState`]), and what all its
//! listeners share ([`Shared`]).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use hyper::StatusCode;

use super::admission;
use super::config::ServerConfig;
use crate::metrics::Metrics;
use crate::served::{ModelSlot, ServedVersion};

const LOADING: u8 = 0;
const READY: u8 = 1;
const DRAINING: u8 = 2;

/// Where the server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The model is being resolved, loaded or warmed up.
    Loading,
    /// Serving.
    Ready,
    /// A shutdown signal came: readiness is 503 for good, requests are still served.
    Draining,
}

/// What the server is serving and where it is in its life: loading, ready, draining.
pub struct AppState {
    /// The version being served (a swap replaces it; see [`crate::served`]).
    slot: Arc<ModelSlot>,
    /// The identity announced once the URI is resolved, before the first version is loaded
    /// (so that a V2 client addressing another model gets 404, not 503, while it loads).
    identity: OnceLock<crate::served::ModelIdentity>,
    /// Where verified registry webhooks are passed on (`--follow` with `--webhook-secret`).
    webhook: OnceLock<crate::follow::webhook::Receiver>,
    phase: AtomicU8,
    pub(crate) metrics: Arc<Metrics>,
    request_seq: AtomicU64,
}

impl AppState {
    /// A server with no model yet (readiness 503).
    pub fn new(metrics: Arc<Metrics>) -> AppState {
        AppState {
            slot: Arc::new(ModelSlot::new()),
            identity: OnceLock::new(),
            webhook: OnceLock::new(),
            phase: AtomicU8::new(LOADING),
            metrics,
            request_seq: AtomicU64::new(0),
        }
    }

    /// A new request id: process start time and a sequence number, in hex.
    pub(crate) fn next_request_id(&self) -> String {
        static EPOCH: OnceLock<u64> = OnceLock::new();
        let epoch = *EPOCH.get_or_init(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as u64)
                .unwrap_or(0)
        });
        let n = self.request_seq.fetch_add(1, Ordering::Relaxed);
        format!("{epoch:x}-{n:x}")
    }

    /// Installs the first loaded, warmed-up version: readiness turns 200 (unless draining).
    pub fn set_ready(&self, version: Arc<ServedVersion>) {
        self.slot.install(version);
        let _ = self
            .phase
            .compare_exchange(LOADING, READY, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The slot later versions are swapped into (`--follow`).
    pub fn slot(&self) -> Arc<ModelSlot> {
        self.slot.clone()
    }

    /// The name and version V2 clients address the model by (known once it is resolved).
    pub fn set_identity(&self, identity: crate::served::ModelIdentity) {
        let _ = self.identity.set(identity);
    }

    /// Enables `POST /mlflow/webhook`: verified deliveries go to `receiver`.
    pub fn set_webhook(&self, receiver: crate::follow::webhook::Receiver) {
        let _ = self.webhook.set(receiver);
    }

    /// The identity of the version being served, else the one announced at resolution.
    pub(crate) fn identity(&self) -> Option<crate::served::ModelIdentity> {
        self.slot
            .current()
            .map(|v| v.identity.clone())
            .or_else(|| self.identity.get().cloned())
    }

    /// The version new requests go to.
    pub(crate) fn current(&self) -> Option<Arc<ServedVersion>> {
        self.slot.current()
    }

    /// Serving: loaded, warmed up, not draining, with a worker left.
    pub(crate) fn ready(&self) -> bool {
        self.phase.load(Ordering::SeqCst) == READY
            && self.current().is_some_and(|v| v.model.live_workers() > 0)
    }

    /// Healthy: loading, serving or draining, with a worker left once loaded.
    pub(crate) fn alive(&self) -> bool {
        self.current().is_none_or(|v| v.model.live_workers() != 0)
    }

    /// Readiness turns 503 for good; requests are still served.
    pub fn start_draining(&self) {
        self.phase.store(DRAINING, Ordering::SeqCst);
    }

    /// The receiver of verified webhooks, when they are enabled.
    pub(crate) fn webhook(&self) -> Option<&crate::follow::webhook::Receiver> {
        self.webhook.get()
    }

    /// Where the server is in its life.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::SeqCst) {
            LOADING => Phase::Loading,
            READY => Phase::Ready,
            _ => Phase::Draining,
        }
    }

    /// Loaded, with no inference worker left (no wait will cure it).
    pub(crate) fn workerless(&self) -> bool {
        self.current().is_some_and(|v| v.model.live_workers() == 0)
    }

    /// Sets the gauges read at scrape time (queue depth, busy and live workers) and counts
    /// worker panics not counted yet.
    pub(crate) fn refresh_gauges(&self) {
        let current = self.current();
        let model = current.as_ref().map(|v| &v.model);
        self.metrics
            .queue_depth
            .set(model.map_or(0, |s| s.queue_depth() as i64));
        self.metrics
            .busy_workers
            .set(model.map_or(0, |s| s.busy_workers() as i64));
        self.metrics
            .live_workers
            .set(model.map_or(0, |s| s.live_workers() as i64));
        let panics = self.slot.panics();
        let counted = self.metrics.worker_panics.get();
        if panics > counted {
            self.metrics.worker_panics.inc_by(panics - counted);
        }
        let restarts = self.slot.worker_restarts();
        let counted = self.metrics.worker_restarts.get();
        if restarts > counted {
            self.metrics.worker_restarts.inc_by(restarts - counted);
        }
    }
}

/// Open Inference Protocol addressing (`/v2/models/{name}[/versions/{version}]`, gRPC's
/// `name`/`version`), shared by both front ends.
impl AppState {
    /// The served version if `name`/`version` address it; else the status and message: 404
    /// for another model or version, 503 while the model is still loading.
    pub(crate) fn addressed(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<Arc<ServedVersion>, (StatusCode, String)> {
        let current = self.current();
        // The served version's identity, else the one announced while it loads (no clone: this
        // runs on every V2 request).
        let announced = current
            .as_ref()
            .map(|v| &v.identity)
            .or_else(|| self.identity.get());
        let Some(id) = announced else {
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                "the model is still loading".into(),
            ));
        };
        if !id.matches(name, version) {
            let name = crate::pyjson::bounded(name);
            let message = match version {
                Some(v) => format!(
                    "Model {name} with version {} not found",
                    crate::pyjson::bounded(v)
                ),
                None => format!("Model {name} not found"),
            };
            return Err((StatusCode::NOT_FOUND, message));
        }
        match current {
            Some(v) => Ok(v),
            None => Err((
                StatusCode::SERVICE_UNAVAILABLE,
                format!("Model {name} is not ready"),
            )),
        }
    }
}

/// What every listener of the server shares (the HTTP one, gRPC's and `--metrics-port`):
/// the model and its state, the settings, the budget of request bytes held at once, the
/// bounded pool that parses large requests, and the process's connection slots (one
/// `--max-connections` for all listeners, and the probe reserve).
pub struct Shared {
    pub(crate) app: Arc<AppState>,
    pub(crate) config: ServerConfig,
    pub(crate) bodies: admission::BodyBudget,
    pub(crate) parsers: Arc<tokio::sync::Semaphore>,
    pub(crate) connections: Arc<tokio::sync::Semaphore>,
    pub(crate) probe_slots: Arc<tokio::sync::Semaphore>,
}

impl Shared {
    /// The shared state of a server of `app` with `config`.
    pub fn new(app: Arc<AppState>, config: ServerConfig) -> Arc<Shared> {
        Arc::new(Shared {
            bodies: admission::BodyBudget::new(
                config.max_inflight_bytes,
                Some(app.metrics.body_bytes_in_flight.clone()),
            ),
            parsers: Arc::new(tokio::sync::Semaphore::new(config.parse_threads.max(1))),
            connections: Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1))),
            probe_slots: Arc::new(tokio::sync::Semaphore::new(config.probe_connections)),
            app,
            config,
        })
    }
}
