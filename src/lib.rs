//! mlflow-serve: serve MLflow ONNX and TorchScript models with MLflow 3.17.2's scoring protocol, fast.
//!
//! Layers, in the order a request crosses them: [`http`] (routes, limits, one error →
//! response mapping) → [`payload`] (Content-Type, JSON/CSV/Parquet into typed data) →
//! [`enforce`] (signature enforcement) → [`flavor`] (ONNX / PyTorch feeds and predictions) →
//! [`batch`] (worker threads running the runtime). [`model`] reads the MLmodel file;
//! [`pipeline`] composes the layers.
#![deny(missing_docs)]

pub mod batch;
pub mod cli;
pub mod cpus;
pub mod enforce;
pub mod flavor;
pub mod http;
pub mod metrics;
pub mod model;
pub mod payload;
pub mod pipeline;
pub mod pyjson;
pub mod resolve;
