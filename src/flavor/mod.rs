//! MLflow flavors: one module per flavor owns everything that flavor means: how its model is
//! loaded (runtime, sessions, batchability), how an enforced input becomes runtime feeds,
//! how outputs become MLflow's predictions, and how a runtime failure reads in MLflow's
//! words. The pipeline composes them through [`Flavor`] and [`load`].
//!
//! Adding a flavor: a module with a type implementing [`Flavor`] and a `load` function, and
//! one arm in [`load`].

pub mod lightgbm;
pub mod onnx;
pub mod predictions;
pub mod python;
pub mod pytorch;
pub mod tabular;
pub mod xgboost;

use std::path::PathBuf;

use runtime_api::{IoSpec, OutputValue, Param, Runtime, RuntimeError, Tensor};

use crate::enforce::Enforced;
use crate::model::{LoadError, MlModel};
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
    /// An exception of a model run in Python: the status and error body MLflow's scoring
    /// server answers for it, built by MLflow in the worker.
    #[error("{message}")]
    Raised {
        /// HTTP status.
        status: u16,
        /// MLflow's error JSON, verbatim.
        body: String,
        /// Its `message`.
        message: String,
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

/// The kind of input a request carried: it decides the shape of the predictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A DataFrame with this many rows.
    Frame {
        /// Rows of the input frame.
        rows: usize,
    },
    /// One array.
    Array,
    /// Named arrays.
    Dict,
    /// Anything else (the flavor refuses it).
    Other,
}

impl InputKind {
    /// The kind of an enforced input.
    pub fn of(enforced: &Enforced) -> InputKind {
        match enforced {
            Enforced::Frame(f) | Enforced::RecordList(f) => InputKind::Frame { rows: f.nrows },
            Enforced::Array(_) => InputKind::Array,
            Enforced::Dict(_) => InputKind::Dict,
            Enforced::Other(_) => InputKind::Other,
        }
    }
}

/// What one request gives the runtime.
pub struct Feeds {
    /// Named input tensors.
    pub tensors: Vec<(String, Tensor)>,
    /// Keyword arguments for the model call (flavors that take none leave this empty).
    pub params: Vec<(String, Param)>,
}

/// One flavor's request semantics, for a loaded model.
pub trait Flavor: Send + Sync {
    /// Runtime feeds (and call params) for an enforced input and its enforced params
    /// (`None` where MLflow passes the model `params=None`).
    fn feeds(&self, input: Enforced, params: crate::enforce::Params) -> Result<Feeds, FlavorError>;

    /// MLflow's predictions from the runtime's outputs for an input of `kind`.
    fn predictions(
        &self,
        outputs: Vec<(String, OutputValue)>,
        kind: InputKind,
    ) -> Result<Predictions, FlavorError>;

    /// How a failed runtime call reads in MLflow's answer.
    fn runtime_error(&self, error: RuntimeError) -> FlavorError;
}

/// How to start a model's runtimes.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// `libonnxruntime` location, if given explicitly.
    pub onnxruntime_lib: Option<PathBuf>,
    /// The TorchScript plugin, if given explicitly (`torch` feature).
    pub torch_plugin: Option<PathBuf>,
    /// Runtime sessions (one per inference worker).
    pub workers: usize,
    /// Intra-op threads per session when the MLmodel does not set them (0 = runtime default).
    pub intra_op_threads: usize,
    /// How Python workers are started (models without a native runtime).
    pub python: python::PythonOptions,
}

/// A loaded model: its flavor's semantics, one runtime session per worker, its graph's
/// inputs and outputs, and whether requests' rows may be merged into one call.
pub struct Loaded {
    /// The flavor's request semantics.
    pub flavor: Box<dyn Flavor>,
    /// One runtime session per worker.
    pub runtimes: Vec<Box<dyn Runtime>>,
    /// Graph inputs.
    pub inputs: Vec<IoSpec>,
    /// Graph outputs.
    pub outputs: Vec<IoSpec>,
    /// Whether rows of several requests may go through one runtime call.
    pub batchable: bool,
    /// Live processes and restarts, for runtimes that run the model in worker processes.
    pub processes: Option<std::sync::Arc<runtime_python::Health>>,
}

/// Loads a parsed model with its flavor.
pub fn load(mlmodel: &MlModel, opts: &RuntimeOptions) -> Result<Loaded, LoadError> {
    use crate::model::mlmodel::Flavor as Declared;
    match &mlmodel.flavor {
        Declared::Onnx(f) => onnx::load(mlmodel, f, opts),
        Declared::PyTorch(f) => pytorch::load(mlmodel, f, opts),
        Declared::Xgboost(f) => xgboost::load(mlmodel, f, opts),
        Declared::Lightgbm(f) => lightgbm::load(mlmodel, f, opts),
        Declared::Python(f) => python::load(mlmodel, f, opts),
    }
}
