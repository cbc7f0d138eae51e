//! Flavor semantics: how an enforced input becomes runtime feeds and how outputs become
//! MLflow's predictions (protocol §4).

pub mod onnx;
pub mod predictions;
pub mod pytorch;

pub use predictions::Predictions;

/// A flavor-level failure. Mapped to HTTP in `http::response`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FlavorError {
    /// A non-MLflow exception inside the model call: 400 BAD_REQUEST with a stack trace.
    #[error("Encountered an unexpected error while evaluating the model. Verify that the serialized input Dataframe is compatible with the model for inference.")]
    Model {
        /// What went wrong (our stand-in for the Python traceback).
        trace: String,
    },
    /// An MlflowException raised by the flavor (INTERNAL_ERROR, 500).
    #[error("Failed to predict data '{data}'. \nError: {message}")]
    Internal {
        /// Rendering of the data.
        data: String,
        /// The message.
        message: String,
    },
}

impl FlavorError {
    /// A generic model error carrying `trace`.
    pub fn model(trace: impl Into<String>) -> FlavorError {
        FlavorError::Model {
            trace: trace.into(),
        }
    }
}
