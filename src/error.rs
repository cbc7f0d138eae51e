//! Every way a request can fail ([`ServeError`]), from reading its body to serializing the
//! predictions. The pipeline and both front ends produce it; `http::response` alone turns it
//! into a status and MLflow's body (and `grpc` into a status code, from the same variants).

use crate::batch::PoolError;
use crate::enforce::EnforceError;
use crate::flavor::FlavorError;
use crate::payload::PayloadError;

/// Every way `/invocations` can fail.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Body or Content-Type problem.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// Signature enforcement.
    #[error(transparent)]
    Enforce(#[from] EnforceError),
    /// A request of a tensor protocol (Open Inference Protocol REST or gRPC, KServe V1)
    /// that is malformed or does not fit the model, in that protocol's words.
    #[error("{0}")]
    Invalid(String),
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
    /// The message as `mlflow models predict` shows it: the scoring server wraps a
    /// predict-time failure in `Failed to predict data '…'. \nError: …` (and a model's own
    /// exception in a generic text carrying the trace); offline, MLflow raises the inner
    /// exception, so its message is the inner one.
    pub fn offline_message(&self) -> String {
        match self {
            ServeError::Enforce(EnforceError::Schema {
                data,
                schema,
                message,
            }) => format!(
                "Failed to enforce schema of data '{data}' with schema '{schema}'. Error: {message}"
            ),
            ServeError::Enforce(EnforceError::Params { message, .. })
            | ServeError::Flavor(FlavorError::Internal { message, .. }) => message.clone(),
            ServeError::Flavor(FlavorError::Model { trace }) => trace.clone(),
            ServeError::Flavor(FlavorError::Raised { message, .. }) => message.clone(),
            other => other.to_string(),
        }
    }

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
            ServeError::Invalid(_) => "bad_request",
            ServeError::Flavor(FlavorError::Model { .. } | FlavorError::Raised { .. }) => {
                "model_error"
            }
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
