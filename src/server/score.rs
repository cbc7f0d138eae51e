//! Scoring a decoded request, whatever protocol it came in: the parse on the bounded pool
//! when it is large, then the model's queue, where requests of every protocol batch together.

use std::sync::Arc;

use super::admission;
use super::state::Shared;
use crate::error::ServeError;
use crate::pipeline::ServedModel;
use crate::served::ServedVersion;

/// The response header naming the registry version that answered a scoring request.
pub const MODEL_VERSION_HEADER: &str = "x-mlflow-model-version";

/// A request run through the model: the version that ran it (to serialize the answer with),
/// MLflow's predictions, what the protocol's decoder kept for the answer, and the body's hold
/// on the in-flight budget (released once the answer is built).
pub struct Scored<X> {
    /// The version that ran it.
    pub version: Arc<ServedVersion>,
    /// MLflow's predictions.
    pub predictions: crate::flavor::Predictions,
    /// Whether the answer is the bare value (unified-LLM payloads) rather than
    /// `{"predictions": …}`.
    pub unwrapped: bool,
    /// What the protocol's decoder kept for the answer.
    pub kept: X,
    /// The body's hold on the in-flight budget.
    pub held: admission::Reservation,
}

/// Runs a request already read (`size` bytes, held against the budget by `held`) on
/// `version`, the one the request took when it started: `prepare` decodes and enforces it, on
/// the bounded parse pool when it is large (so that probes and small requests never wait
/// behind it; a panic stays with its request as a 500), then that version's queue runs it,
/// where requests of every protocol batch together.
pub async fn score_decoded<X, P>(
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
