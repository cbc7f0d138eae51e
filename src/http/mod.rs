//! The hyper service: MLflow's routes (`/ping`, `/health`, `/version`, `/invocations`),
//! body limits, the request timeout, readiness, and graceful drain. [`admission`] decides what
//! the server holds at once (connections, bytes of bodies); bodies of at least
//! `--blocking-parse-bytes` are parsed on a bounded blocking pool so that probes never wait
//! behind them, and a panic while parsing stays with its request.
//!
//! Lifecycle: the listener is bound before the model is resolved and loaded; until the model
//! is loaded and warmed up, `/ping` and `/health` answer 503 and `/invocations` 503 with
//! `Retry-After`. On shutdown (SIGTERM/SIGINT) readiness turns 503 at once, requests are still
//! served for the drain delay, then the listener closes and in-flight requests finish within
//! the graceful timeout.

pub mod admission;
pub mod response;
pub mod timer_floor;
mod v1;
mod v2;
mod webhook;

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::error::ServeError;
use crate::metrics::Metrics;
use crate::pipeline::ServedModel;
use crate::served::{ModelSlot, ServedVersion};
use response::respond;

use crate::MLFLOW_VERSION;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Request timeout (`-t`).
    pub timeout: Duration,
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// How long requests are still served after a shutdown signal, readiness already 503.
    pub drain_delay: Duration,
    /// How long in-flight requests may take to finish once the listener is closed.
    pub graceful_timeout: Duration,
    /// How long a connection may wait idle for its next request, or take to send its
    /// headers, before it is closed (hyper's header-read timer runs from the moment the
    /// connection is ready for a request head, so it covers both).
    pub keep_alive_timeout: Duration,
    /// Total bytes of request bodies held at once (503 + `Retry-After` past it).
    pub max_inflight_bytes: usize,
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Connections kept beyond `max_connections` for health probes only.
    pub probe_connections: usize,
    /// Bodies at least this large are parsed on the blocking parse pool.
    pub blocking_parse_bytes: usize,
    /// Large bodies parsed at once.
    pub parse_threads: usize,
    /// HTTP/2 streams (gRPC calls) one gRPC connection may have open at once.
    pub grpc_max_streams: u32,
}

const LOADING: u8 = 0;
const READY: u8 = 1;
const DRAINING: u8 = 2;

/// What the server is serving and where it is in its life: loading, ready, draining.
pub struct AppState {
    /// The version being served (a swap replaces it; see [`crate::served`]).
    slot: Arc<ModelSlot>,
    /// The identity announced once the URI is resolved, before the first version is loaded
    /// (so that a V2 client addressing another model gets 404, not 503, while it loads).
    identity: OnceLock<crate::oip::ModelIdentity>,
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
    fn next_request_id(&self) -> String {
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
    pub fn set_identity(&self, identity: crate::oip::ModelIdentity) {
        let _ = self.identity.set(identity);
    }

    /// Enables `POST /mlflow/webhook`: verified deliveries go to `receiver`.
    pub fn set_webhook(&self, receiver: crate::follow::webhook::Receiver) {
        let _ = self.webhook.set(receiver);
    }

    /// The identity of the version being served, else the one announced at resolution.
    pub(crate) fn identity(&self) -> Option<crate::oip::ModelIdentity> {
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

    /// `/ping` and `/health`: 200 with a newline when ready (as MLflow), else 503 saying why.
    fn probe_response(&self) -> Response<Full<Bytes>> {
        match self.phase.load(Ordering::SeqCst) {
            READY if self.current().is_some_and(|v| v.model.live_workers() == 0) => detail(
                StatusCode::SERVICE_UNAVAILABLE,
                "{\"status\": \"no inference worker left\"}",
            ),
            READY => respond(
                StatusCode::OK,
                "application/json",
                Bytes::from_static(b"\n"),
            ),
            LOADING => detail(StatusCode::SERVICE_UNAVAILABLE, "{\"status\": \"loading\"}"),
            _ => detail(
                StatusCode::SERVICE_UNAVAILABLE,
                "{\"status\": \"draining\"}",
            ),
        }
    }

    /// `/livez`: whether the process should be left running. 200 while it loads, serves or
    /// drains (an orchestrator must not restart a pod that is warming up a large model or
    /// finishing its requests); 503 only once the model is loaded and no inference worker is
    /// left, which no wait will cure.
    fn liveness_response(&self) -> Response<Full<Bytes>> {
        if self.current().is_some_and(|v| v.model.live_workers() == 0) {
            detail(
                StatusCode::SERVICE_UNAVAILABLE,
                "{\"status\": \"no inference worker left\"}",
            )
        } else {
            detail(StatusCode::OK, "{\"status\": \"alive\"}")
        }
    }

    /// `/metrics`: the Prometheus text, with the queue depth and busy workers read now.
    fn metrics_response(&self) -> Response<Full<Bytes>> {
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
        respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            self.metrics.render(),
        )
    }
}

/// What every listener of the server shares (the HTTP one and gRPC's): the model and its
/// state, the settings, the budget of request bytes held at once, and the bounded pool that
/// parses large requests.
pub struct Shared {
    pub(crate) app: Arc<AppState>,
    pub(crate) config: ServerConfig,
    pub(crate) bodies: admission::BodyBudget,
    parsers: Arc<tokio::sync::Semaphore>,
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
            app,
            config,
        })
    }
}

/// The old name of [`Shared`] inside the HTTP layer.
type State = Shared;

const ROUTES: [(&str, Method); 6] = [
    ("/ping", Method::GET),
    ("/health", Method::GET),
    ("/livez", Method::GET),
    ("/version", Method::GET),
    ("/invocations", Method::POST),
    ("/metrics", Method::GET),
];

/// The request id header, accepted from the client or generated, and echoed.
const REQUEST_ID: &str = "x-request-id";

/// A request's id (the `x-request-id` header's, else generated), for routes that answer
/// with it (a V2 answer's `id` when the request has none).
#[derive(Clone)]
struct RequestId(String);

/// How long a connection of the probe reserve may take to send its request.
const PROBE_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// The routes a connection of the probe reserve serves: health, liveness, readiness, metrics.
const PROBE_ROUTES: [&str; 8] = [
    "/ping",
    "/health",
    "/livez",
    "/metrics",
    "/version",
    "/v2/health/live",
    "/v2/health/ready",
    "/v2",
];

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
    probe_only: bool,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = std::time::Instant::now();
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map(str::to_string)
        .unwrap_or_else(|| state.app.next_request_id());
    let found = ROUTES.iter().find(|(p, _)| *p == req.uri().path());
    let route = found
        .map(|(p, _)| *p)
        .or_else(|| v2::label(req.uri().path()))
        .or_else(|| v1::label(req.uri().path()))
        .or_else(|| (req.uri().path() == webhook::PATH).then_some(webhook::PATH))
        .unwrap_or("other");
    let method = req.method().clone();
    let mut req = req;
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let invocation = matches!(
        route,
        "/invocations" | "/v1/models/{name}:predict" | "/v2/models/{name}/infer"
    );
    let metrics = state.app.metrics.clone();
    // Decremented on every path, a client that goes away mid-request included.
    let in_flight = invocation.then(|| admission::GaugeGuard::inc(&metrics.in_flight));
    let Ok(mut response) = if probe_only && !PROBE_ROUTES.contains(&req.uri().path()) {
        let mut r = detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "{\"detail\":\"every connection slot is taken (--max-connections): this connection serves health probes only\"}",
        );
        r.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_static("1"),
        );
        Ok(r)
    } else {
        route_request(state, found, req).await
    };
    drop(in_flight);
    let status = response.status().as_u16();
    let took = started.elapsed();
    metrics.observe_request(protocol_of(route), route, status, took);
    tracing::debug!(request_id = %request_id, %method, route, status, micros = took.as_micros() as u64, "request");
    if let Ok(v) = hyper::header::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    Ok(response)
}

/// The protocol a route belongs to, for the metrics' `protocol` label: `mlflow` (MLflow's
/// routes and the server's own), `v1` (KServe V1) or `v2` (the Open Inference Protocol).
fn protocol_of(route: &str) -> &'static str {
    if route.starts_with("/v2") {
        "v2"
    } else if route.starts_with("/v1/") {
        "v1"
    } else {
        "mlflow"
    }
}

fn detail(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    respond(
        status,
        "application/json",
        Bytes::from_static(text.as_bytes()),
    )
}

async fn route_request(
    state: Arc<State>,
    found: Option<&'static (&'static str, Method)>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let Some((route, allowed)) = found else {
        if req.uri().path() == webhook::PATH {
            return Ok(webhook::answer(&state, req).await);
        }
        let req = match v2::answer(&state, req).await {
            Ok(r) => return Ok(r),
            Err(req) => req,
        };
        let req = match v1::answer(&state, req).await {
            Ok(r) => return Ok(r),
            Err(req) => req,
        };
        let path = req.uri().path();
        let trimmed = path.trim_end_matches('/');
        if path.len() > 1 && trimmed.len() < path.len() && ROUTES.iter().any(|(p, _)| *p == trimmed)
        {
            let host = req
                .headers()
                .get(hyper::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            let mut r = respond(StatusCode::TEMPORARY_REDIRECT, "text/plain", Bytes::new());
            if let Ok(v) = format!("http://{host}{trimmed}").parse() {
                r.headers_mut().insert(hyper::header::LOCATION, v);
            }
            r.headers_mut().remove(hyper::header::CONTENT_TYPE);
            return Ok(r);
        }
        return Ok(detail(StatusCode::NOT_FOUND, "{\"detail\":\"Not Found\"}"));
    };
    if req.method() != allowed {
        let mut r = detail(
            StatusCode::METHOD_NOT_ALLOWED,
            "{\"detail\":\"Method Not Allowed\"}",
        );
        r.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static(allowed.as_str()),
        );
        return Ok(r);
    }
    let response = match *route {
        "/ping" | "/health" => state.app.probe_response(),
        "/livez" => state.app.liveness_response(),
        "/metrics" => state.app.metrics_response(),
        "/version" => respond(
            StatusCode::OK,
            "application/json",
            Bytes::from_static(MLFLOW_VERSION.as_bytes()),
        ),
        _ => {
            let timeout = state.config.timeout;
            match tokio::time::timeout(timeout, invocations(&state, req, None)).await {
                Ok(Ok((body, version))) => {
                    answered_by(respond(StatusCode::OK, "application/json", body), &version)
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = e.label(), "invocation failed");
                    e.into_response()
                }
                Err(_) => ServeError::Timeout.into_response(),
            }
        }
    };
    Ok(response)
}

/// The response header naming the registry version that answered a scoring request.
pub const MODEL_VERSION_HEADER: &str = "x-mlflow-model-version";

/// `response` with the [`MODEL_VERSION_HEADER`] of the version that produced it (when the
/// model came from a registry).
pub(crate) fn answered_by(
    mut response: Response<Full<Bytes>>,
    version: &ServedVersion,
) -> Response<Full<Bytes>> {
    if let Some(v) = version
        .version()
        .and_then(|v| hyper::header::HeaderValue::from_str(v).ok())
    {
        response.headers_mut().insert(MODEL_VERSION_HEADER, v);
    }
    response
}

/// Scores a request's body: its Content-Type decides the format unless `forced` names one.
/// Answers the body and the version that scored it.
async fn invocations(
    state: &State,
    req: Request<Incoming>,
    forced: Option<&str>,
) -> Result<(Vec<u8>, Arc<ServedVersion>), ServeError> {
    let content_type = match forced {
        Some(ct) => Some(ct.to_string()),
        None => req
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
    };
    let version = state.app.current().ok_or(ServeError::NotReady)?;
    let scored = score(state, version, req, move |model, body| {
        model
            .prepare(content_type.as_deref(), body)
            .map(|p| (p, ()))
    })
    .await?;
    let body = scored
        .version
        .model
        .serialize(|| scored.predictions.to_body(scored.unwrapped));
    drop(scored.held);
    Ok((body, scored.version))
}

/// A request run through the model: the version that ran it (to serialize the answer with),
/// MLflow's predictions, what the protocol's decoder kept for the answer, and the body's hold
/// on the in-flight budget (released once the answer is built).
pub(crate) struct Scored<X> {
    pub(crate) version: Arc<ServedVersion>,
    pub(crate) predictions: crate::flavor::Predictions,
    pub(crate) unwrapped: bool,
    pub(crate) kept: X,
    pub(crate) held: admission::Reservation,
}

/// Reads a body within the limits and runs it through [`score_decoded`] on `version`.
async fn score<X, P>(
    state: &State,
    version: Arc<ServedVersion>,
    req: Request<Incoming>,
    prepare: P,
) -> Result<Scored<X>, ServeError>
where
    X: Send + 'static,
    P: FnOnce(&ServedModel, &Bytes) -> Result<(crate::pipeline::Prepared, X), ServeError>
        + Send
        + 'static,
{
    // The body's bytes count against the in-flight budget until the answer is built.
    let (body, held) =
        admission::read_body(req.into_body(), state.config.max_body_bytes, &state.bodies).await?;
    let size = body.len();
    score_decoded(state, version, size, held, move |model| {
        prepare(model, &body)
    })
    .await
}

/// Runs a request already read (`size` bytes, held against the budget by `held`) on
/// `version`, the one the request took when it started: `prepare` decodes and enforces it, on
/// the bounded parse pool when it is large (so that probes and small requests never wait
/// behind it; a panic stays with its request as a 500), then that version's queue runs it,
/// where requests of every protocol batch together.
pub(crate) async fn score_decoded<X, P>(
    state: &Shared,
    version: Arc<ServedVersion>,
    size: usize,
    held: admission::Reservation,
    prepare: P,
) -> Result<Scored<X>, ServeError>
where
    X: Send + 'static,
    P: FnOnce(&ServedModel) -> Result<(crate::pipeline::Prepared, X), ServeError> + Send + 'static,
{
    let model = &version.model;
    let handling = model.admit();
    let (prepared, kept, held) = if size >= state.config.blocking_parse_bytes {
        // The permit, the body's reservation and the gauge move into the blocking task: a
        // parse that goes on after its request timed out or its client hung up still holds
        // its admission until it ends.
        let permit = state
            .parsers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ServeError::NotReady)?;
        let parsing = admission::GaugeGuard::inc(&state.app.metrics.parses_in_flight);
        let pinned = version.clone();
        tokio::task::spawn_blocking(move || {
            let (_permit, _parsing) = (permit, parsing);
            prepare(&pinned.model).map(|(p, k)| (p, k, held))
        })
        .await
        .map_err(|e| ServeError::Internal(format!("parsing the request failed: {e}")))??
    } else {
        let (p, k) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| prepare(model)))
            .unwrap_or_else(|_| Err(ServeError::Internal("parsing the request failed".into())))?;
        (p, k, held)
    };
    let (predictions, unwrapped) = model.predict(prepared).await?;
    drop(handling);
    Ok(Scored {
        version,
        predictions,
        unwrapped,
        kept,
        held,
    })
}

/// Serves on `listener` until `shutdown` resolves (the caller drains before resolving it),
/// then closes the listener and lets in-flight requests finish within the graceful timeout.
pub async fn serve(
    listener: TcpListener,
    state: Arc<Shared>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    tracing::info!(address = %listener.local_addr()?, "listening");
    let config = &state.config;
    let graceful_timeout = config.graceful_timeout;
    let keep_alive_timeout = config.keep_alive_timeout;
    let connections = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
    let probe_slots = Arc::new(tokio::sync::Semaphore::new(config.probe_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // Covers every timer of this runtime (gRPC's too): one driver per runtime.
    let floor = tokio::spawn(timer_floor::keep_near(timer_floor::period(
        keep_alive_timeout.min(config.timeout),
    )));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = admission::accept_slot(&listener, &connections, &probe_slots) => {
                let (stream, permit) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let probe_only = permit.is_probe();
                // A connection of the probe reserve has a short time to send its one request.
                let header_timeout = if probe_only {
                    keep_alive_timeout.min(PROBE_HEADER_TIMEOUT)
                } else {
                    keep_alive_timeout
                };
                let conn = http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .keep_alive(!probe_only)
                    .serve_connection(TokioIo::new(stream), service_fn(move |req| handle(state.clone(), req, probe_only)));
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection closed with error");
                    }
                    drop(permit);
                });
            }
            _ = &mut shutdown => {
                tracing::info!("closing the listener; finishing in-flight requests");
                break;
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(graceful_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout_s = graceful_timeout.as_secs_f64(),
            "graceful timeout passed with requests still in flight"
        );
    }
    floor.abort();
    Ok(())
}

/// Serves `/metrics`, `/ping` and `/health` only (for `--metrics-port`), until the process
/// ends, with the main listener's header/idle timeout and connection limit.
pub async fn serve_metrics(listener: TcpListener, app: Arc<AppState>, config: ServerConfig) {
    let connections = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
    loop {
        let Ok((stream, permit)) = admission::accept(&listener, &connections).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let app = app.clone();
        let service = service_fn(move |req: Request<Incoming>| {
            let app = app.clone();
            async move {
                let r = match (req.method(), req.uri().path()) {
                    (&Method::GET, "/metrics") => app.metrics_response(),
                    (&Method::GET, "/ping" | "/health") => app.probe_response(),
                    (&Method::GET, "/livez") => app.liveness_response(),
                    _ => detail(StatusCode::NOT_FOUND, "{\"detail\":\"Not Found\"}"),
                };
                Ok::<_, Infallible>(r)
            }
        });
        let keep_alive_timeout = config.keep_alive_timeout;
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(keep_alive_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}

/// Resolves once `signal` fires and the drain delay has passed; readiness turns 503 at
/// the signal.
pub async fn drain_on(
    signal: impl std::future::Future<Output = ()>,
    app: Arc<AppState>,
    drain_delay: Duration,
) {
    signal.await;
    app.start_draining();
    tracing::info!(
        drain_delay_s = drain_delay.as_secs_f64(),
        "shutdown requested: readiness is now 503; still serving during the drain delay"
    );
    tokio::time::sleep(drain_delay).await;
}
