//! The HTTP front end (hyper): MLflow's routes (`/ping`, `/health`, `/version`,
//! `/invocations`), KServe V1 and the Open Inference Protocol's REST routes, `/metrics`,
//! webhooks, the request timeout, and the one `ServeError` → HTTP mapping (`response`).
//! What the server holds at once (connections, bytes of bodies), the parse pool and the drain
//! are the protocol-neutral [`crate::server`]'s; bodies of at least `--blocking-parse-bytes`
//! are parsed on its bounded blocking pool so that probes never wait behind them, and a panic
//! while parsing stays with its request.
//!
//! Lifecycle: the listener is bound before the model is resolved and loaded; until the model
//! is loaded and warmed up, `/ping` and `/health` answer 503 and `/invocations` 503 with
//! `Retry-After`. On shutdown (SIGTERM/SIGINT) readiness turns 503 at once, requests are still
//! served for the drain delay, then the listener closes and in-flight requests finish within
//! the graceful timeout.

mod probes;
pub mod response;
mod v1;
mod v2;
mod webhook;

use std::convert::Infallible;
use std::sync::Arc;
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
use crate::pipeline::ServedModel;
use crate::served::ServedVersion;
use crate::server::{admission, score_decoded, timer_floor, Scored, Shared, MODEL_VERSION_HEADER};
use probes::detail;
use response::respond;

use crate::MLFLOW_VERSION;

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
    state: Arc<Shared>,
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

async fn route_request(
    state: Arc<Shared>,
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
        "/ping" | "/health" => probes::readiness(&state.app),
        "/livez" => probes::liveness(&state.app),
        "/metrics" => probes::metrics(&state.app),
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
    state: &Shared,
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

/// Reads a body within the limits and runs it through [`score_decoded`] on `version`.
async fn score<X, P>(
    state: &Shared,
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
    let (connections, probe_slots) = (&state.connections, &state.probe_slots);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // Covers every timer of this runtime (gRPC's too): one driver per runtime.
    let floor = tokio::spawn(timer_floor::keep_near(timer_floor::period(
        keep_alive_timeout.min(config.timeout),
    )));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = admission::accept_slot(&listener, connections, probe_slots) => {
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

/// Serves `/metrics`, `/ping`, `/health` and `/livez` only (for `--metrics-port`), until
/// the process ends, with the main listener's header/idle timeout and the process's
/// connection slots (an ordinary one, else one of the probe reserve).
pub async fn serve_metrics(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted =
            admission::accept_slot(&listener, &shared.connections, &shared.probe_slots).await;
        let Ok((stream, permit)) = accepted else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let app = shared.app.clone();
        let service = service_fn(move |req: Request<Incoming>| {
            let app = app.clone();
            async move {
                let r = match (req.method(), req.uri().path()) {
                    (&Method::GET, "/metrics") => probes::metrics(&app),
                    (&Method::GET, "/ping" | "/health") => probes::readiness(&app),
                    (&Method::GET, "/livez") => probes::liveness(&app),
                    _ => detail(StatusCode::NOT_FOUND, "{\"detail\":\"Not Found\"}"),
                };
                Ok::<_, Infallible>(r)
            }
        });
        let keep_alive_timeout = shared.config.keep_alive_timeout;
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
