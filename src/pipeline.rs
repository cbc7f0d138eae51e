//! The served model and the `/invocations` pipeline: payload → enforcement → flavor feeds
//! → worker pool → predictions → bytes. Used by the HTTP layer and by the benches.

use std::path::Path;

use runtime_api::{IoSpec, OutputValue, Runtime};

use crate::batch::{BatchConfig, PoolError, WorkerPool};
use crate::enforce::{self, Enforced};
use crate::error::ServeError;
use crate::flavor::{self, onnx::OutputStyle, FlavorError};
use crate::model::mlmodel::Flavor;
use crate::model::{LoadError, MlModel, OnnxFlavor};
use crate::payload::{self, BodyFormat, Request};

/// Options for loading a model.
#[derive(Clone)]
pub struct LoadOptions {
    /// `libonnxruntime` location, if given explicitly.
    pub onnxruntime_lib: Option<std::path::PathBuf>,
    /// The TorchScript plugin, if given explicitly (`torch` feature).
    pub torch_plugin: Option<std::path::PathBuf>,
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
    /// How long an idle inference worker polls for work before sleeping.
    pub idle_spin: std::time::Duration,
    /// Where runtime calls and serialization are recorded.
    pub metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    /// Bounds on what one body may expand to while parsed.
    pub limits: payload::Limits,
}

/// Which pyfunc wrapper's semantics the served model follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Semantics {
    /// `mlflow.onnx` (§4.1).
    Onnx,
    /// `mlflow.pytorch` (§4.2), run by the TorchScript backend.
    PyTorch,
}

/// How a prepared request's outputs become predictions.
#[derive(Debug, Clone, Copy)]
enum Style {
    Onnx(OutputStyle),
    PyTorch(flavor::pytorch::OutputStyle),
}

/// A loaded model with its worker pool.
pub struct ServedModel {
    /// The parsed MLmodel.
    pub mlmodel: MlModel,
    /// Graph inputs.
    pub inputs: Vec<IoSpec>,
    /// Graph outputs.
    pub outputs: Vec<IoSpec>,
    /// The flavor semantics requests follow.
    pub semantics: Semantics,
    pool: WorkerPool,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    limits: payload::Limits,
}

/// The work done before inference: parse, enforce, build feeds.
pub struct Prepared {
    feeds: Vec<(String, runtime_api::Tensor)>,
    params: Vec<(String, runtime_api::Param)>,
    style: Style,
    unwrapped: bool,
}

/// The runtimes (one per worker) and what the pool needs to know about the model.
struct Loaded {
    runtimes: Vec<Box<dyn Runtime>>,
    inputs: Vec<IoSpec>,
    outputs: Vec<IoSpec>,
    batchable: bool,
}

fn load_onnx(
    mlmodel: &MlModel,
    onnx: &OnnxFlavor,
    opts: &LoadOptions,
) -> Result<Loaded, LoadError> {
    let path = mlmodel.dir.join(&onnx.data);
    if !path.is_file() {
        return Err(LoadError::MissingModelFile(path, "onnx"));
    }
    for p in &onnx.providers {
        if p != "CPUExecutionProvider" {
            tracing::warn!(provider = %p, "execution provider listed in MLmodel is not available in this build; using CPUExecutionProvider");
        }
    }
    let lib = runtime_onnx::find_library(opts.onnxruntime_lib.as_deref()).map_err(|search| LoadError::Runtime {
        kind: "ONNX",
        path: path.clone(),
        reason: format!(
            "libonnxruntime not found (run `make setup`, or pass --onnxruntime-lib / ORT_DYLIB_PATH); looked in: {}",
            search.tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
    })?;
    let mut so = onnx.session_options.clone();
    if so.intra_op_threads == 0 {
        so.intra_op_threads = opts.intra_op_threads;
    }
    let rt_err = |e: runtime_api::RuntimeError| LoadError::Runtime {
        kind: "ONNX",
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
    Ok(Loaded {
        runtimes,
        inputs,
        outputs,
        batchable,
    })
}

#[cfg(feature = "torch")]
/// MLflow's `MLFLOW_ALLOW_PICKLE_DESERIALIZATION` (default true): when false, MLflow refuses
/// every `.pth` file, TorchScript included.
fn pickle_allowed() -> bool {
    !matches!(
        std::env::var("MLFLOW_ALLOW_PICKLE_DESERIALIZATION")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref(),
        Ok("false") | Ok("0")
    )
}

#[cfg(feature = "torch")]
fn load_pytorch(
    mlmodel: &MlModel,
    flavor: &crate::model::mlmodel::PyTorchFlavor,
    opts: &LoadOptions,
) -> Result<Loaded, LoadError> {
    let path = flavor.model_file(&mlmodel.dir);
    if !path.is_file() {
        return Err(LoadError::MissingModelFile(path, "pytorch"));
    }
    let is_pth = path.extension().is_some_and(|e| e == "pth");
    if is_pth && !pickle_allowed() {
        return Err(LoadError::Runtime {
            kind: "PyTorch",
            path,
            reason: "Deserializing model using pickle is disallowed, but this model is saved in pickle format. The recommended way is to save the model with serialization_format='pt2' like `mlflow.pytorch.save_model(model, path, serialization_format='pt2')`, or you can set environment variable 'MLFLOW_ALLOW_PICKLE_DESERIALIZATION' to 'true' to allow deserializing model using pickle.".into(),
        });
    }
    let device = flavor
        .device
        .clone()
        .or_else(|| std::env::var("MLFLOW_DEFAULT_PREDICTION_DEVICE").ok())
        .filter(|d| !d.is_empty());
    if let Some(d) = device.filter(|d| d != "cpu") {
        tracing::warn!(device = %d, "mlflow-serve runs TorchScript on the CPU; ignoring the configured device");
    }
    let rt_err = |e: runtime_api::RuntimeError| LoadError::Runtime {
        kind: "PyTorch",
        path: path.clone(),
        reason: e.to_string(),
    };
    let plugin_path = runtime_torch_loader::find_plugin(opts.torch_plugin.as_deref()).map_err(|search| LoadError::Runtime {
        kind: "PyTorch",
        path: path.clone(),
        reason: format!(
            "the TorchScript plugin {} was not found (build it with `make setup-torch`, or pass --torch-plugin / MLFLOW_SERVE_TORCH_PLUGIN); looked in: {}",
            runtime_torch_loader::PLUGIN_FILE,
            search.tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
    })?;
    let plugin = runtime_torch_loader::Plugin::open(&plugin_path).map_err(rt_err)?;
    let model = runtime_torch_loader::TorchModel::load(&plugin, &path, opts.intra_op_threads)
        .map_err(rt_err)?;
    let mut runtimes: Vec<Box<dyn Runtime>> = Vec::with_capacity(opts.workers.max(1));
    for _ in 0..opts.workers.max(1) {
        runtimes.push(Box::new(model.session().map_err(rt_err)?));
    }
    let inputs = runtimes[0].inputs().to_vec();
    let outputs = runtimes[0].outputs().to_vec();
    tracing::info!(model = %path.display(), plugin = %plugin.path().display(), workers = runtimes.len(), "TorchScript model loaded");
    // Rows may be merged only when the signature promises a batch dimension.
    let batchable = match &mlmodel.signature.inputs {
        Some(crate::model::InputSchema::Columns(_)) => true,
        Some(crate::model::InputSchema::Tensors(t)) => {
            t.len() == 1 && t[0].shape.first().is_some_and(|d| *d < 0)
        }
        None => false,
    };
    Ok(Loaded {
        runtimes,
        inputs,
        outputs,
        batchable,
    })
}

#[cfg(not(feature = "torch"))]
fn load_pytorch(
    _mlmodel: &MlModel,
    _flavor: &crate::model::mlmodel::PyTorchFlavor,
    _opts: &LoadOptions,
) -> Result<Loaded, LoadError> {
    Err(LoadError::UnsupportedFlavor(
        "this model has the `pytorch` flavor, and this mlflow-serve was built without TorchScript support: rebuild it with `--features torch` (`make setup-torch`), or export the model with torch.onnx.export and log it with mlflow.onnx.log_model".into(),
    ))
}

impl ServedModel {
    /// Loads `dir` and starts `opts.workers` runtime sessions for its flavor.
    pub fn load(dir: &Path, opts: &LoadOptions) -> Result<ServedModel, LoadError> {
        let mlmodel = MlModel::load(dir)?;
        let (loaded, semantics) = match &mlmodel.flavor {
            Flavor::Onnx(onnx) => (load_onnx(&mlmodel, onnx, opts)?, Semantics::Onnx),
            Flavor::PyTorch(pt) => (load_pytorch(&mlmodel, pt, opts)?, Semantics::PyTorch),
        };
        let Loaded {
            runtimes,
            inputs,
            outputs,
            batchable,
        } = loaded;
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
                idle_spin: opts.idle_spin,
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
            semantics,
            pool,
            metrics: opts.metrics.clone(),
            limits: opts.limits,
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
        } = payload::parse(
            format,
            body,
            sig.inputs.as_ref(),
            sig.params.as_deref(),
            &self.limits,
        )?;
        let describe = input.describe();
        let (enforced, params): (Enforced, _) = enforce::enforce(
            input,
            sig.inputs.as_ref(),
            format == BodyFormat::Json,
            params,
            sig.params.as_deref(),
        )?;
        match self.semantics {
            Semantics::Onnx => {
                // MLflow's ONNX wrapper accepts params and ignores them.
                let (feeds, style) = flavor::onnx::feeds(enforced, &self.inputs, &describe)?;
                Ok(Prepared {
                    feeds,
                    params: Vec::new(),
                    style: Style::Onnx(style),
                    unwrapped,
                })
            }
            Semantics::PyTorch => {
                let params = flavor::pytorch::params(params)?;
                let (feeds, style) = flavor::pytorch::feeds(enforced)?;
                Ok(Prepared {
                    feeds,
                    params,
                    style: Style::PyTorch(style),
                    unwrapped,
                })
            }
        }
    }

    /// Marks a request as being handled until the guard drops (see [`WorkerPool::admit`]).
    pub fn admit(&self) -> crate::batch::Admission<'_> {
        self.pool.admit()
    }

    /// Requests waiting for an inference worker.
    pub fn queue_depth(&self) -> usize {
        self.pool.queue_depth()
    }

    /// Inference workers inside a runtime call.
    pub fn busy_workers(&self) -> usize {
        self.pool.busy_workers()
    }

    /// Inference threads still running.
    pub fn live_workers(&self) -> usize {
        self.pool.live_workers()
    }

    /// Runtime calls that panicked since start.
    pub fn panics(&self) -> u64 {
        self.pool.panics()
    }

    /// Runs a prepared request on the worker pool and serializes MLflow's answer.
    pub async fn run(&self, prepared: Prepared) -> Result<Vec<u8>, ServeError> {
        let outputs = self
            .pool
            .run_with_params(prepared.feeds, prepared.params)
            .await
            .map_err(|e| pool_error(e, self.semantics))?;
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
        let outputs = self
            .pool
            .run_blocking(p.feeds, p.params)
            .map_err(|e| pool_error(e, self.semantics))?;
        finish(outputs, p.style, p.unwrapped)
    }
}

fn pool_error(e: PoolError, semantics: Semantics) -> ServeError {
    match (e, semantics) {
        (PoolError::Runtime(r @ runtime_api::RuntimeError::Panicked(_)), _) => {
            ServeError::Internal(r.to_string())
        }
        (PoolError::Runtime(r), Semantics::Onnx) => ServeError::Flavor(FlavorError::model(
            format!("onnxruntime.capi.onnxruntime_pybind11_state.Fail: [ONNXRuntimeError] : {r}"),
        )),
        (PoolError::Runtime(r), Semantics::PyTorch) => {
            ServeError::Flavor(FlavorError::model(r.to_string()))
        }
        (other, _) => ServeError::Pool(other),
    }
}

fn finish(
    outputs: Vec<(String, OutputValue)>,
    style: Style,
    unwrapped: bool,
) -> Result<Vec<u8>, ServeError> {
    let preds = match style {
        Style::Onnx(style) => flavor::onnx::predictions(outputs, style)?,
        Style::PyTorch(style) => flavor::pytorch::predictions(outputs, style)?,
    };
    Ok(preds.to_body(unwrapped))
}
