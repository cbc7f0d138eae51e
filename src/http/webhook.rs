//! `POST /mlflow/webhook`: MLflow's registry webhooks, for `--follow` with
//! `--webhook-secret`. Another method answers 405 with `Allow: POST` whether webhooks are on
//! or not; a POST answers 404 when they are off, as an unknown route. What the headers alone
//! refuse is refused before the body is read (within `--webhook-max-body-bytes`); the rest
//! is verified and turned into a hint by `follow::webhook`. Refusals are mapped to statuses
//! in `http::response` with the other errors.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use super::detail;
use super::response::{respond, webhook_refusal};
use crate::error::ServeError;
use crate::follow::webhook::{
    Delivery, Outcome, DELIVERY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use crate::server::{admission, Shared};

/// The route.
pub(super) const PATH: &str = "/mlflow/webhook";

/// Answers a delivery.
pub(super) async fn answer(state: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::POST {
        let mut r = detail(
            StatusCode::METHOD_NOT_ALLOWED,
            "{\"detail\":\"Method Not Allowed\"}",
        );
        r.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("POST"),
        );
        return r;
    }
    let Some(receiver) = state.app.webhook() else {
        return detail(StatusCode::NOT_FOUND, "{\"detail\":\"Not Found\"}");
    };
    let metrics = &state.app.metrics;
    let (parts, body) = req.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (signature, timestamp, delivery_id) = (
        header(SIGNATURE_HEADER),
        header(TIMESTAMP_HEADER),
        header(DELIVERY_ID_HEADER),
    );
    let delivery = Delivery {
        signature: signature.as_deref(),
        timestamp: timestamp.as_deref(),
        delivery_id: delivery_id.as_deref(),
    };
    // What the headers alone refuse (unsigned, too many signatures, a stale or malformed
    // timestamp) costs nothing more than the headers: the body is not read.
    if let Err(e) = receiver.precheck(delivery) {
        metrics.webhooks.with_label_values(&[e.label()]).inc();
        log_refusal(&e);
        return webhook_refusal(&e);
    }
    let limit = receiver.max_body().min(state.config.max_body_bytes);
    let read = tokio::time::timeout(
        state.config.timeout,
        admission::read_body(body, limit, &state.bodies),
    )
    .await;
    let (body, held) = match read {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return e.into_response(),
        Err(_) => return ServeError::Timeout.into_response(),
    };
    // The HMAC and the payload parse run off the async workers.
    let app = state.app.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let _held = held;
        let receiver = app.webhook()?;
        Some(receiver.deliver(
            Delivery {
                signature: signature.as_deref(),
                timestamp: timestamp.as_deref(),
                delivery_id: delivery_id.as_deref(),
            },
            &body,
        ))
    })
    .await;
    let outcome = match outcome {
        Ok(Some(o)) => o,
        _ => return ServeError::Internal("the webhook delivery failed".into()).into_response(),
    };
    match outcome {
        Ok(o) => {
            let (label, text) = match o {
                Outcome::Checking => ("accepted", "{\"status\": \"checking the registry\"}"),
                Outcome::Ignored => (
                    "ignored",
                    "{\"status\": \"ignored: another registered model\"}",
                ),
            };
            metrics.webhooks.with_label_values(&[label]).inc();
            respond(
                StatusCode::OK,
                "application/json",
                Bytes::from_static(text.as_bytes()),
            )
        }
        Err(e) => {
            metrics.webhooks.with_label_values(&[e.label()]).inc();
            log_refusal(&e);
            webhook_refusal(&e)
        }
    }
}

/// Logs a refused delivery, at most once a second (a flood of forged deliveries must not
/// become a flood of log lines); the count of the ones not logged goes with the next line.
fn log_refusal(e: &crate::follow::webhook::WebhookError) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    static SUPPRESSED: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let last = LAST.load(Ordering::Relaxed);
    if now > last
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let suppressed = SUPPRESSED.swap(0, Ordering::Relaxed);
        tracing::warn!(error = %e, suppressed, "webhook delivery refused");
    } else {
        SUPPRESSED.fetch_add(1, Ordering::Relaxed);
    }
}
