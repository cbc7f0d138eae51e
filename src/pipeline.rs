//! The served model and the `/invocations` pipeline: payload → enforcement → flavor feeds
//! → worker pool → predictions → bytes. Used by the HTTP layer and by the benches.

use std::path::Path;

use runtime_api::{IoSpec, OutputValue, Runtime};

use crate::batch::{BatchConfig, PoolError, WorkerPool};
use crate::enforce::{self, Enforced};
use crate::flavor::{self, onnx::OutputStyle, FlavorError};
use crate::http::response::ServeError;
use crate::model::{LoadError, MlModel};
use crate::payload::{self, BodyFormat, Request};

/// Options for loading a model.
#[derive(Clone)]
pub struct LoadOptions {
    /// `libonnxruntime` location, if given explicitly.
    pub onnxruntime_lib: Option<std::path::PathBuf>,
    /// Number of runtime sessions / inference threads.
    pub workers: usize,
    /// Intra-op threads per session when the MLmodel does not set them (0 = ORT default).
    pub intra_op_threads: usize,
    /// Jobs that may wait for a worker before requests are shed with 503.
    pub queue_capacity: usize,
    /// Rows per merged runtime call (`<= 1` disables dynamic batching).
    pub max_batch_rows: usize,
    /// How long a request may wait for others to batch with.
    pub max_batch_delay: std::time::Duration,
    /// Where runtime calls and serialization are recorded.
    pub metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

/// A loaded model with its worker pool.
pub struct ServedModel {
    /// The parsed MLmodel.
    pub mlmodel: MlModel,
    /// Graph inputs.
    pub inputs: Vec<IoSpec>,
    /// Graph outputs.
    pub outputs: Vec<IoSpec>,
    pool: WorkerPool,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

/// The work done before inference: parse, enforce, build feeds.
pub struct Prepared {
    feeds: Vec<(String, runtime_api::Tensor)>,
    style: OutputStyle,
    unwrapped: bool,
}

impl ServedModel {
    /// Loads `dir` and starts `opts.workers` ONNX Runtime sessions.
    pub fn load(dir: &Path, opts: &LoadOptions) -> Result<ServedModel, LoadError> {
        let mlmodel = MlModel::load(dir)?;
        let path = mlmodel.onnx_path();
        if !path.is_file() {
            return Err(LoadError::MissingModelFile(path));
        }
        for p in &mlmodel.onnx.providers {
            if p != "CPUExecutionProvider" {
                tracing::warn!(provider = %p, "execution provider listed in MLmodel is not available in this build; using CPUExecutionProvider");
            }
        }
        let lib = runtime_onnx::find_library(opts.onnxruntime_lib.as_deref()).map_err(|search| LoadError::Runtime {
            path: path.clone(),
            reason: format!(
                "libonnxruntime not found (run `make setup`, or pass --onnxruntime-lib / ORT_DYLIB_PATH); looked in: {}",
                search.tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        })?;
        let mut so = mlmodel.onnx.session_options.clone();
        if so.intra_op_threads == 0 {
            so.intra_op_threads = opts.intra_op_threads;
        }
        let rt_err = |e: runtime_api::RuntimeError| LoadError::Runtime {
            path: path.clone(),
            reason: e.to_string(),
        };
        let (model, first) = runtime_onnx::OnnxModel::load(&lib, &path, so).map_err(rt_err)?;
        let inputs = first.inputs().to_vec();
        let outputs = first.outputs().to_vec();
        let mut runtimes: Vec<Box<dyn Runtime>> = vec![Box::new(first)];
        for _ in 1..opts.workers.max(1) {
            runtimes.push(Box::new(model.session().map_err(rt_err)?));
        }
        tracing::info!(library = %lib.display(), model = %path.display(), workers = runtimes.len(), "ONNX model loaded");
        let batchable = crate::batch::merge::model_is_batchable(&inputs, &outputs);
        tracing::info!(
            batchable,
            max_batch_rows = opts.max_batch_rows,
            "batching decided"
        );
        let pool = WorkerPool::start(
            runtimes,
            BatchConfig {
                capacity: opts.queue_capacity.max(1),
                max_rows: opts.max_batch_rows,
                max_delay: opts.max_batch_delay,
            },
            batchable,
            opts.metrics.clone().map(|m| {
                let observer: crate::batch::Observer =
                    std::sync::Arc::new(move |e: &crate::batch::BatchEvent| m.observe_batch(e));
                observer
            }),
        );
        Ok(ServedModel {
            mlmodel,
            inputs,
            outputs,
            pool,
            metrics: opts.metrics.clone(),
        })
    }

    /// Parses and enforces a body and builds the runtime feeds (no inference yet).
    pub fn prepare(&self, content_type: Option<&str>, body: &[u8]) -> Result<Prepared, ServeError> {
        let sig = &self.mlmodel.signature;
        let format = payload::body_format(content_type)?;
        let Request {
            input,
            params,
            unwrapped,
        } = payload::parse(format, body, sig.inputs.as_ref(), sig.params.as_deref())?;
        let describe = input.describe();
        let (enforced, _params): (Enforced, _) = enforce::enforce(
            input,
            sig.inputs.as_ref(),
            format == BodyFormat::Json,
            params,
            sig.params.as_deref(),
        )?;
        let (feeds, style) = flavor::onnx::feeds(enforced, &self.inputs, &describe)?;
        Ok(Prepared {
            feeds,
            style,
            unwrapped,
        })
    }

    /// Requests waiting for an inference worker.
    pub fn queue_depth(&self) -> usize {
        self.pool.queue_depth()
    }

    /// Runs a prepared request on the worker pool and serializes MLflow's answer.
    pub async fn run(&self, prepared: Prepared) -> Result<Vec<u8>, ServeError> {
        let outputs = self.pool.run(prepared.feeds).await.map_err(pool_error)?;
        let started = std::time::Instant::now();
        let body = finish(outputs, prepared.style, prepared.unwrapped);
        if let Some(m) = &self.metrics {
            m.serialize_seconds.observe(started.elapsed().as_secs_f64());
        }
        body
    }

    /// The whole pipeline, blocking (warm-up and tools; never call from async code).
    pub fn predict_blocking(
        &self,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<u8>, ServeError> {
        let p = self.prepare(content_type, body)?;
        let outputs = self.pool.run_blocking(p.feeds).map_err(pool_error)?;
        finish(outputs, p.style, p.unwrapped)
    }
}

fn pool_error(e: PoolError) -> ServeError {
    match e {
        PoolError::Runtime(r) => ServeError::Flavor(FlavorError::model(format!(
            "onnxruntime.capi.onnxruntime_pybind11_state.Fail: [ONNXRuntimeError] : {r}"
        ))),
        other => ServeError::Pool(other),
    }
}

fn finish(
    outputs: Vec<(String, OutputValue)>,
    style: OutputStyle,
    unwrapped: bool,
) -> Result<Vec<u8>, ServeError> {
    let preds = flavor::onnx::predictions(outputs, style)?;
    Ok(preds.to_body(unwrapped))
}
