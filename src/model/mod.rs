//! The MLflow model directory: the `MLmodel` file, its signature and flavor selection.

pub mod mlmodel;
pub mod signature;

pub use mlmodel::{LoadError, MlModel, OnnxFlavor};
pub use signature::{ColSpec, ColType, InputSchema, ParamSpec, ParamType, Signature, TensorSpec};
