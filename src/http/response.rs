//! The one place where errors become HTTP responses (MLflow's bodies and status codes).

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use crate::batch::PoolError;
use crate::enforce::EnforceError;
use crate::flavor::FlavorError;
use crate::payload::PayloadError;
use crate::pyjson::write_str;

/// Every way `/invocations` can fail.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Body or Content-Type problem.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// Signature enforcement.
    #[error(transparent)]
    Enforce(#[from] EnforceError),
    /// Flavor / model failure.
    #[error(transparent)]
    Flavor(#[from] FlavorError),
    /// Queue full or workers gone.
    #[error(transparent)]
    Pool(PoolError),
    /// `-t/--timeout` elapsed.
    #[error("Request processing time exceeded limit")]
    Timeout,
    /// Body larger than `--max-body-bytes`.
    #[error("Request body is larger than the limit of {0} bytes (--max-body-bytes).")]
    BodyTooLarge(usize),
    /// The model is still being resolved, loaded or warmed up.
    #[error("The model is not loaded yet; retry shortly.")]
    NotReady,
    /// The body could not be read.
    #[error("Could not read the request body: {0}")]
    BodyRead(String),
    /// Request bodies in flight already fill `--max-inflight-bytes`.
    #[error("The server is holding {held} bytes of request bodies and this one would pass the limit of {limit} bytes (--max-inflight-bytes); retry shortly.")]
    Busy {
        /// Bytes held when the request arrived.
        held: usize,
        /// The limit.
        limit: usize,
    },
    /// A fault inside the server (a panic while parsing, a lost worker), contained to this
    /// request.
    #[error("Internal error: {0}")]
    Internal(String),
}

impl ServeError {
    /// A stable label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            ServeError::Payload(
                PayloadError::UnsupportedMediaType(_) | PayloadError::MissingContentType,
            ) => "unsupported_media_type",
            ServeError::Payload(PayloadError::LimitExceeded(_)) => "limit_exceeded",
            ServeError::Payload(_) => "bad_request",
            ServeError::Enforce(EnforceError::Cast { .. }) => "bad_request",
            ServeError::Enforce(EnforceError::Schema { .. }) => "schema_enforcement",
            ServeError::Enforce(EnforceError::Params { .. }) => "invalid_params",
            ServeError::Flavor(FlavorError::Model { .. }) => "model_error",
            ServeError::Flavor(FlavorError::Internal { .. }) => "internal_error",
            ServeError::Pool(PoolError::QueueFull(_)) => "overloaded",
            ServeError::Pool(_) => "internal_error",
            ServeError::Timeout => "timeout",
            ServeError::NotReady => "not_ready",
            ServeError::BodyTooLarge(_) => "body_too_large",
            ServeError::BodyRead(_) => "bad_request",
            ServeError::Busy { .. } => "overloaded",
            ServeError::Internal(_) => "internal_error",
        }
    }
}

/// MLflow's error-code table (§1.13.1): status, sqlstate, error_class.
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
        "REQUEST_LIMIT_EXCEEDED" | "RESOURCE_EXHAUSTED" => {
            (StatusCode::TOO_MANY_REQUESTS, None, None)
        }
        "DEADLINE_EXCEEDED" => (StatusCode::GATEWAY_TIMEOUT, None, None),
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
                let mut r = json_error("REQUEST_LIMIT_EXCEEDED", &msg, None, None);
                *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                r
            }
            ServeError::Payload(PayloadError::ParseFailure { trace, .. }) => {
                json_error("BAD_REQUEST", &msg, None, Some(trace))
            }
            ServeError::Payload(_) | ServeError::BodyRead(_) => {
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
