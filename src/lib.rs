//! mlflow-serve: serve MLflow ONNX and TorchScript models with MLflow 3.17.2's scoring protocol, fast.
//!
//! Layers, in the order a request crosses them: the front ends [`http`] (MLflow's routes,
//! KServe V1 and the Open Inference Protocol over REST; the one error → response mapping) and
//! [`grpc`] (the Open Inference Protocol over gRPC), both on [`server`] (settings, state,
//! admission of connections and bodies, scoring a decoded request, drain) → [`payload`]
//! (Content-Type, JSON/CSV/Parquet into typed data) and [`oip`] (V2 tensors) → [`enforce`]
//! (signature enforcement) → [`flavor`] (ONNX / PyTorch feeds and predictions) → [`batch`]
//! (worker threads running the runtime). [`model`] reads the MLmodel file; [`pipeline`]
//! composes the layers; [`pyjson`] writes Python's values and reprs. [`resolve`] turns a
//! model URI into a directory; [`image`] puts one into a container image
//! (`models build-docker`). [`served`] holds the version being served; [`follow`] swaps in
//! new ones when a registry reference moves. [`predict`] is `models predict`, MLflow's
//! offline scoring, on the same pipeline. [`cli`] is the command line. The README's module
//! map is generated from the code (`scripts/module_graph.py`).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod batch;
pub mod cli;
pub mod cpus;
pub mod enforce;
pub mod error;
pub mod flavor;
pub mod follow;
pub mod grpc;
pub mod http;
pub mod image;
pub mod metrics;
pub mod model;
pub mod oip;
pub mod payload;
pub mod pipeline;
pub mod predict;
pub mod pyjson;
pub mod redact;
pub mod resolve;
pub mod served;
pub mod server;

/// The MLflow version whose serving behaviour is reproduced (answered by `/version`, and
/// the `mlflow_protocol` label of `mlflow_serve_build_info`).
pub const MLFLOW_VERSION: &str = "3.17.2";

/// The message of a panic payload (`panic!("...")` or a formatted one), empty otherwise.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}
