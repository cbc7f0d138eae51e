//! Every `python_function` model no native runtime serves (scikit-learn pipelines, custom
//! `PythonModel`s, statsmodels, transformers, …), run in supervised Python worker processes
//! (`runtimes/python`) that load it with MLflow's own `mlflow.pyfunc.load_model`.
//!
//! The server keeps everything it does for native models (parsing, signature enforcement,
//! params, batching, limits, metrics, both protocols); only the model call crosses to Python.
//! [`feeds`] turns an enforced input into the worker's feeds, [`outputs`] its answer into
//! MLflow's predictions, [`env`] picks the interpreter (`--env-manager`), and `worker.py` is
//! the worker program, shipped inside the binary and written to the cache at start.
//!
//! Input paths: DataFrame columns of numbers, booleans and strings cross as one Arrow record
//! batch (missing strings as a mask); arrays of numbers as raw buffers; object cells, bytes,
//! nested values, a list of records and any other value as JSON text that the worker reads
//! back into the Python objects MLflow's parser builds. Answers: DataFrame columns of numbers,
//! booleans and strings and numeric arrays come back as raw buffers and are rendered by the
//! server's MLflow-exact writer; anything else is rendered by MLflow's own
//! `predictions_to_json` in the worker. A model's exception is answered with the status and
//! error body MLflow's scoring server builds for it, built in the worker by MLflow's own
//! `MlflowException`.

pub mod env;
pub mod feeds;
pub mod outputs;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use runtime_api::{OutputValue, Runtime, RuntimeError};
use runtime_python::{Health, PythonRuntime, WorkerConfig};

use super::predictions::Predictions;
use super::{tabular, Feeds, Flavor, FlavorError, InputKind, Loaded, RuntimeOptions};
use crate::enforce::Enforced;
use crate::model::mlmodel::PythonFlavor;
use crate::model::{LoadError, MlModel};

/// The worker program.
pub const WORKER_PY: &str = include_str!("worker.py");

/// How the workers are started and bounded.
#[derive(Debug, Clone, Default)]
pub struct PythonOptions {
    /// Which interpreter, and how the model's environment is built.
    pub env: env::EnvOptions,
    /// Where the worker program is written.
    pub work_dir: PathBuf,
    /// `-t`: a call running longer kills its worker (`None`: no bound).
    pub call_timeout: Option<Duration>,
    /// `--worker-memory`: resident bytes past which a worker is killed and restarted.
    pub memory_limit: Option<u64>,
    /// `--worker-start-timeout`: how long loading the model may take.
    pub start_timeout: Duration,
    /// Call the flavor's predict function below MLflow's pyfunc wrapper (`direct`) or
    /// through `PyFuncModel.predict` (`pyfunc`).
    pub through_pyfunc: bool,
    /// The largest answer read from a worker.
    pub max_reply_bytes: u64,
}

/// A model served by Python workers.
pub struct PythonModel;

impl Flavor for PythonModel {
    fn feeds(&self, input: Enforced, params: crate::enforce::Params) -> Result<Feeds, FlavorError> {
        let mut tensors = feeds::feeds(input);
        // `params={}` and `params=None` differ to a model; the runtime carries a dict.
        if params.as_ref().is_some_and(Vec::is_empty) {
            tensors.push(feeds::empty_params());
        }
        Ok(Feeds {
            tensors,
            params: params
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, tabular::to_param(v)))
                .collect(),
        })
    }

    fn predictions(
        &self,
        outputs: Vec<(String, OutputValue)>,
        _kind: InputKind,
    ) -> Result<Predictions, FlavorError> {
        outputs::predictions(outputs)
    }

    fn runtime_error(&self, error: RuntimeError) -> FlavorError {
        match error {
            // The worker's account: MLflow's status and error body for the model's exception.
            RuntimeError::Run(text) => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                let status = v.get("status").and_then(|s| s.as_u64());
                let body = v.get("body").and_then(|b| b.as_str());
                match (status, body) {
                    (Some(status), Some(body)) => {
                        let message = serde_json::from_str::<serde_json::Value>(body)
                            .ok()
                            .and_then(|b| {
                                b.get("message")
                                    .and_then(|m| m.as_str())
                                    .map(str::to_string)
                            })
                            .unwrap_or_default();
                        FlavorError::Raised {
                            status: u16::try_from(status).unwrap_or(500),
                            body: body.to_string(),
                            message,
                        }
                    }
                    _ => FlavorError::Internal {
                        data: String::new(),
                        message: text,
                    },
                }
            }
            other => FlavorError::Internal {
                data: String::new(),
                message: other.to_string(),
            },
        }
    }
}

/// Writes the worker program into `dir` (once per content) and returns its path.
fn write_worker(dir: &Path) -> Result<PathBuf, LoadError> {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(WORKER_PY.as_bytes());
    let tag: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let path = dir.join(format!("mlflow_serve_worker_{tag}.py"));
    if std::fs::read(&path).is_ok_and(|b| b == WORKER_PY.as_bytes()) {
        return Ok(path);
    }
    let fail = |e: std::io::Error| LoadError::Runtime {
        kind: "Python",
        path: path.clone(),
        reason: format!("cannot write the worker program: {e}"),
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let tmp = dir.join(format!(".worker-{}.py", std::process::id()));
    std::fs::write(&tmp, WORKER_PY).map_err(fail)?;
    std::fs::rename(&tmp, &path).map_err(fail)?;
    Ok(path)
}

/// Starts `opts.workers` worker processes for the model and waits for each to load it: a
/// model that cannot load fails the start with Python's own message.
pub fn load(
    mlmodel: &MlModel,
    flavor: &PythonFlavor,
    opts: &RuntimeOptions,
) -> Result<Loaded, LoadError> {
    let py = &opts.python;
    let python = env::interpreter(mlmodel, flavor, &py.env)?;
    let script = write_worker(&py.work_dir)?;
    let health = Arc::new(Health::default());
    let mut runtimes = Vec::with_capacity(opts.workers.max(1));
    for i in 0..opts.workers.max(1) {
        let mut args = vec![mlmodel.dir.clone().into_os_string()];
        if py.through_pyfunc {
            args.push("--call".into());
            args.push("pyfunc".into());
        }
        let config = WorkerConfig {
            python: python.clone(),
            script: script.clone(),
            args,
            env: Vec::new(),
            start_timeout: py.start_timeout,
            call_timeout: py.call_timeout,
            memory_limit: py.memory_limit,
            max_reply_bytes: py.max_reply_bytes,
            name: format!("python-worker-{}", i + 1),
        };
        runtimes.push(PythonRuntime::start(config, health.clone()).map_err(|e| {
            LoadError::Runtime {
                kind: "Python",
                path: mlmodel.dir.clone(),
                reason: e.to_string(),
            }
        })?);
    }
    for rt in &runtimes {
        rt.wait_ready().map_err(|e| LoadError::Runtime {
            kind: "Python",
            path: mlmodel.dir.clone(),
            reason: format!(
                "the Python worker ({}) could not load it: {e}",
                python.display()
            ),
        })?;
    }
    tracing::info!(workers = runtimes.len(), python = %python.display(), batchable = flavor.batchable, "Python workers ready");
    Ok(Loaded {
        flavor: Box::new(PythonModel),
        runtimes: runtimes
            .into_iter()
            .map(|r| Box::new(r) as Box<dyn Runtime>)
            .collect(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        batchable: flavor.batchable,
        processes: Some(health),
    })
}
