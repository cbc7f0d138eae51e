//! `POST /mlflow/webhook`: MLflow's registry webhooks, for `--follow` with
//! `--webhook-secret` (404 otherwise, as any unknown route). The delivery is verified and
//! turned into a hint by `follow::webhook`; refusals are mapped to statuses in
//! `http::response` with the other errors.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use super::response::{respond, webhook_refusal};
use super::{admission, detail, State};
use crate::error::ServeError;
use crate::follow::webhook::{
    Delivery, Outcome, DELIVERY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};

/// The route.
pub(super) const PATH: &str = "/mlflow/webhook";

/// Answers a delivery.
pub(super) async fn answer(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
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
    let Some(receiver) = state.app.webhook.get() else {
        return detail(StatusCode::NOT_FOUND, "{\"detail\":\"Not Found\"}");
    };
    let metrics = &state.app.metrics;
    let (parts, body) = req.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let delivery = Delivery {
        signature: header(SIGNATURE_HEADER),
        timestamp: header(TIMESTAMP_HEADER),
        delivery_id: header(DELIVERY_ID_HEADER),
    };
    // An unsigned request costs nothing more than its headers.
    if delivery.signature.is_none()
        || delivery.timestamp.is_none()
        || delivery.delivery_id.is_none()
    {
        if let Err(e) = receiver.deliver(delivery, b"") {
            metrics.webhooks.with_label_values(&[e.label()]).inc();
            return webhook_refusal(&e);
        }
    }
    let read = tokio::time::timeout(
        state.config.timeout,
        admission::read_body(body, state.config.max_body_bytes, &state.bodies),
    )
    .await;
    let (body, held) = match read {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return e.into_response(),
        Err(_) => return ServeError::Timeout.into_response(),
    };
    let outcome = receiver.deliver(delivery, &body);
    drop(held);
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
            tracing::warn!(error = %e, "webhook delivery refused");
            webhook_refusal(&e)
        }
    }
}
