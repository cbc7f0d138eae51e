//! The one place where errors become HTTP responses (MLflow's bodies and status codes).

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use crate::batch::PoolError;
use crate::enforce::EnforceError;
use crate::error::ServeError;
use crate::flavor::FlavorError;
use crate::payload::PayloadError;
use crate::pyjson::write_str;

/// MLflow's error-code table (`mlflow/exceptions.py`, `ERROR_CODE_TO_HTTP_STATUS`, and the sqlstate/error_class MLflow 3.17.2 answers): status, sqlstate, error_class.
fn code_info(code: &str) -> (StatusCode, Option<&'static str>, Option<&'static str>) {
    match code {
        "BAD_REQUEST" | "INVALID_PARAMETER_VALUE" => (
            StatusCode::BAD_REQUEST,
            Some("KAM00"),
            Some("INVALID_PARAMETER_VALUE"),
        ),
        "INTERNAL_ERROR" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("XXM00"),
            Some("CLIENT_INTERNAL_ERROR"),
        ),
        "TEMPORARILY_UNAVAILABLE" => (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("XXM00"),
            Some("CLIENT_INTERNAL_ERROR"),
        ),
        "UNAUTHENTICATED" => (StatusCode::UNAUTHORIZED, None, None),
        "RESOURCE_ALREADY_EXISTS" => (StatusCode::CONFLICT, None, None),
        // MLflow maps this code to 429; a body past a limit is answered 413 here.
        "REQUEST_LIMIT_EXCEEDED" => (StatusCode::PAYLOAD_TOO_LARGE, None, None),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, None, None),
    }
}

/// `MlflowException.serialize_as_json()`.
pub fn mlflow_error_body(
    code: &str,
    message: &str,
    class: Option<(&str, &str)>,
    stack_trace: Option<&str>,
) -> Vec<u8> {
    let (_, sqlstate, error_class) = code_info(code);
    let (sqlstate, error_class) = match class {
        Some((s, c)) => (Some(s), Some(c)),
        None => (sqlstate, error_class),
    };
    let mut out = Vec::with_capacity(message.len() + 128);
    out.extend_from_slice(b"{\"error_code\": ");
    write_str(&mut out, code);
    out.extend_from_slice(b", \"message\": ");
    write_str(&mut out, message);
    if let Some(s) = sqlstate {
        out.extend_from_slice(b", \"sqlstate\": ");
        write_str(&mut out, s);
    }
    if let Some(c) = error_class {
        out.extend_from_slice(b", \"error_class\": ");
        write_str(&mut out, c);
    }
    if let Some(t) = stack_trace {
        out.extend_from_slice(b", \"stack_trace\": ");
        write_str(&mut out, t);
    }
    out.push(b'}');
    out
}

/// A response with a body and content type.
pub fn respond(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn json_error(
    code: &str,
    message: &str,
    class: Option<(&str, &str)>,
    trace: Option<&str>,
) -> Response<Full<Bytes>> {
    let (status, _, _) = code_info(code);
    respond(
        status,
        "application/json",
        mlflow_error_body(code, message, class, trace),
    )
}

const TEXT: &str = "text/plain; charset=utf-8";

impl ServeError {
    /// MLflow's status and headers with the body `{"error": "<MLflow's message>"}`, the error
    /// shape of KServe's V1 and the Open Inference Protocol.
    pub fn into_oip_response(self) -> Response<Full<Bytes>> {
        let message = self.to_string();
        let mut r = self.into_response();
        *r.body_mut() = Full::new(Bytes::from(
            serde_json::json!({ "error": message }).to_string(),
        ));
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        r
    }

    /// The HTTP answer MLflow would give.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let msg = self.to_string();
        match &self {
            ServeError::Payload(PayloadError::UnsupportedMediaType(m)) => {
                respond(StatusCode::UNSUPPORTED_MEDIA_TYPE, TEXT, m.clone())
            }
            ServeError::Payload(PayloadError::MissingContentType) => {
                respond(StatusCode::UNSUPPORTED_MEDIA_TYPE, TEXT, msg)
            }
            ServeError::Payload(PayloadError::LimitExceeded(_)) => {
                json_error("REQUEST_LIMIT_EXCEEDED", &msg, None, None)
            }
            ServeError::Payload(PayloadError::ParseFailure { trace, .. }) => {
                json_error("BAD_REQUEST", &msg, None, Some(trace))
            }
            ServeError::Payload(_) | ServeError::BodyRead(_) | ServeError::Invalid(_) => {
                json_error("BAD_REQUEST", &msg, None, None)
            }
            ServeError::Enforce(EnforceError::Cast { .. }) => {
                json_error("BAD_REQUEST", &msg, None, None)
            }
            ServeError::Enforce(EnforceError::Schema { .. }) => json_error(
                "INVALID_PARAMETER_VALUE",
                &msg,
                Some(("KAM01", "SCHEMA_ENFORCEMENT_FAILED")),
                None,
            ),
            ServeError::Enforce(EnforceError::Params { .. }) => {
                json_error("INVALID_PARAMETER_VALUE", &msg, None, None)
            }
            ServeError::Flavor(FlavorError::Model { trace }) => {
                json_error("BAD_REQUEST", &msg, None, Some(trace))
            }
            ServeError::Flavor(FlavorError::Internal { .. }) => {
                json_error("INTERNAL_ERROR", &msg, None, None)
            }
            ServeError::Flavor(FlavorError::Raised { status, body, .. }) => respond(
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "application/json",
                body.clone(),
            ),
            ServeError::Pool(PoolError::QueueFull(_)) => {
                let mut r = json_error("TEMPORARILY_UNAVAILABLE", &msg, None, None);
                r.headers_mut().insert(
                    hyper::header::RETRY_AFTER,
                    hyper::header::HeaderValue::from_static("1"),
                );
                r
            }
            ServeError::Pool(_) => json_error("INTERNAL_ERROR", &msg, None, None),
            ServeError::Internal(_) => json_error("INTERNAL_ERROR", &msg, None, None),
            ServeError::Busy { .. } | ServeError::NotReady => {
                let mut r = json_error("TEMPORARILY_UNAVAILABLE", &msg, None, None);
                r.headers_mut().insert(
                    hyper::header::RETRY_AFTER,
                    hyper::header::HeaderValue::from_static("1"),
                );
                r
            }
            ServeError::Timeout => respond(StatusCode::GATEWAY_TIMEOUT, "application/json", msg),
            ServeError::BodyTooLarge(_) => {
                let mut r = json_error("BAD_REQUEST", &msg, None, None);
                *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                r
            }
        }
    }
}

/// A refused webhook delivery: 401 `UNAUTHENTICATED` (unsigned, wrong signature, stale), 409
/// `RESOURCE_ALREADY_EXISTS` (replay), 503 `TEMPORARILY_UNAVAILABLE` with `Retry-After: 60`
/// (replay guard full; MLflow retries 503s), 400 `BAD_REQUEST` (signed but not a payload);
/// MLflow's error body.
pub fn webhook_refusal(e: &crate::follow::webhook::WebhookError) -> Response<Full<Bytes>> {
    use crate::follow::webhook::WebhookError as W;
    let code = match e {
        W::Unsigned(_) | W::BadSignature | W::Stale { .. } => "UNAUTHENTICATED",
        W::Replayed(_) => "RESOURCE_ALREADY_EXISTS",
        W::Busy(_) => "TEMPORARILY_UNAVAILABLE",
        W::Malformed(_) => "BAD_REQUEST",
    };
    let mut r = json_error(code, &e.to_string(), None, None);
    if code == "TEMPORARILY_UNAVAILABLE" {
        r.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_static("60"),
        );
    }
    r
}
