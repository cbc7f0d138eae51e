//! The Open Inference Protocol (KServe V2): what the model is called and what it looks like
//! to V2 clients (`tritonclient`, KServe). [`metadata`] maps the MLflow signature (or, without
//! one, the runtime's graph) to V2 tensor metadata as MLServer's MLflow runtime does;
//! [`infer`] turns a V2 inference request into MLflow's input and MLflow's predictions into V2
//! outputs, whatever the transport; [`tensor`] reads and writes tensor elements (JSON or raw
//! bytes); [`rest`] is the REST body (JSON and Triton's binary extension). The routes
//! themselves are in `http::v2`.

pub mod infer;
pub mod metadata;
pub mod rest;
pub mod tensor;

pub use crate::served::ModelIdentity;
