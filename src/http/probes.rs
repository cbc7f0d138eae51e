//! The server's own answers over HTTP: readiness (`/ping`, `/health`), liveness (`/livez`)
//! and `/metrics`, on the main listener and on `--metrics-port`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::response::respond;
use crate::server::{AppState, Phase};

/// A JSON answer of a fixed text.
pub(super) fn detail(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    respond(
        status,
        "application/json",
        Bytes::from_static(text.as_bytes()),
    )
}

/// `/ping` and `/health`: 200 with a newline when ready (as MLflow), else 503 saying why.
pub(super) fn readiness(app: &AppState) -> Response<Full<Bytes>> {
    match app.phase() {
        Phase::Ready if app.workerless() => detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "{\"status\": \"no inference worker left\"}",
        ),
        Phase::Ready => respond(
            StatusCode::OK,
            "application/json",
            Bytes::from_static(b"\n"),
        ),
        Phase::Loading => detail(StatusCode::SERVICE_UNAVAILABLE, "{\"status\": \"loading\"}"),
        Phase::Draining => detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "{\"status\": \"draining\"}",
        ),
    }
}

/// `/livez`: whether the process should be left running. 200 while it loads, serves or
/// drains (an orchestrator must not restart a pod that is warming up a large model or
/// finishing its requests); 503 only once the model is loaded and no inference worker is
/// left, which no wait will cure.
pub(super) fn liveness(app: &AppState) -> Response<Full<Bytes>> {
    if app.workerless() {
        detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "{\"status\": \"no inference worker left\"}",
        )
    } else {
        detail(StatusCode::OK, "{\"status\": \"alive\"}")
    }
}

/// `/metrics`: the Prometheus text, with the queue depth and busy workers read now.
pub(super) fn metrics(app: &AppState) -> Response<Full<Bytes>> {
    app.refresh_gauges();
    respond(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        app.metrics.render(),
    )
}
