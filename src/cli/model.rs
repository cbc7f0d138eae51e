//! The flags every command that loads a model shares, defined once: the model URI and how
//! it is resolved and bounded ([`ModelArgs`]), the runtimes it is loaded with
//! ([`RuntimeArgs`]), and MLflow's flags that are accepted and ignored ([`MlflowCompat`]).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::resolve::cache::{Limits, Subject, DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES};
use crate::resolve::{ResolveError, ResolveOptions};

/// Which model, and how it is resolved and downloaded (`serve`, `models serve`,
/// `models predict`, `build-docker`, `generate-dockerfile`).
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Model URI: a local directory, `file:`, `runs:/<run_id>/<path>`, `models:/<name>/<version|stage|latest>`,
    /// `models:/<name>@<alias>`, `models:/<model_id>`, `mlflow-artifacts:/…`, `s3://`, `gs://`,
    /// `wasbs://`/`abfss://` or `http(s)://`. Stores come from `MLFLOW_TRACKING_URI` /
    /// `MLFLOW_REGISTRY_URI` (default: `./mlruns` when it holds experiments, else `sqlite:///mlflow.db`).
    /// Optional for `build-docker` / `generate-dockerfile`: without it the image serves a
    /// model directory mounted at `/opt/ml/model`.
    #[arg(short = 'm', long = "model-uri")]
    pub model_uri: Option<String>,
    /// Directory where remote model artifacts are cached across restarts.
    /// Default: `$XDG_CACHE_HOME/mlflow-serve/models` or `~/.cache/mlflow-serve/models`; with
    /// neither, `mlflow-serve-<uid>` (mode 0700) under the temp dir, never a shared directory.
    #[arg(long = "model-cache", env = "MLFLOW_SERVE_MODEL_CACHE")]
    pub model_cache: Option<PathBuf>,
    /// Seconds allowed for resolving and downloading the model (retries included) before
    /// the command fails (1 or more).
    #[arg(
        long = "resolve-timeout",
        env = "MLFLOW_SERVE_RESOLVE_TIMEOUT",
        default_value_t = 120,
        value_parser = super::at_least_one::<u64>
    )]
    pub resolve_timeout: u64,
    /// Most bytes a downloaded (or copied) model's files may hold in all; a listing or a
    /// download past it fails the command.
    #[arg(
        long = "max-model-bytes",
        env = "MLFLOW_SERVE_MAX_MODEL_BYTES",
        default_value_t = DEFAULT_MAX_BYTES
    )]
    pub max_model_bytes: u64,
    /// Most files a downloaded (or copied) model may list.
    #[arg(
        long = "max-model-files",
        env = "MLFLOW_SERVE_MAX_MODEL_FILES",
        default_value_t = DEFAULT_MAX_FILES
    )]
    pub max_model_files: usize,
}

impl ModelArgs {
    /// The model URI (the commands that need one make `-m` required).
    pub fn uri(&self) -> &str {
        self.model_uri.as_deref().unwrap_or_default()
    }

    /// How every command resolves the model: the cache (the private default when none is
    /// given; an error when that cannot be used), the deadline and the download limits.
    pub fn resolve_options(&self) -> Result<ResolveOptions, ResolveError> {
        let cache_dir = match &self.model_cache {
            Some(dir) => dir.clone(),
            None => crate::resolve::cache::default_root()?,
        };
        Ok(ResolveOptions {
            cache_dir,
            timeout: Duration::from_secs(self.resolve_timeout),
            download_limits: Limits {
                max_bytes: self.max_model_bytes,
                max_files: self.max_model_files,
                subject: Subject::Model,
            },
        })
    }
}

/// The runtime libraries a command loads (and `build-docker` copies into an image).
#[derive(Debug, Args)]
pub struct RuntimeLibs {
    /// Path to libonnxruntime (file or directory). Default: search next to the executable,
    /// the project's `.local/onnxruntime/lib`, then Python site-packages.
    #[arg(long = "onnxruntime-lib", env = "ORT_DYLIB_PATH")]
    pub onnxruntime_lib: Option<PathBuf>,
    /// The TorchScript plugin `libmlflow_serve_torch.so` (file or directory), for `pytorch`
    /// models in builds with the `torch` feature. Default: next to the executable, its
    /// `lib/`, `../lib/` and `..`.
    #[arg(long = "torch-plugin", env = "MLFLOW_SERVE_TORCH_PLUGIN")]
    pub torch_plugin: Option<PathBuf>,
}

/// The runtimes a model is loaded with (`models serve`, `models predict`).
#[derive(Debug, Args)]
pub struct RuntimeArgs {
    /// Where libonnxruntime and the TorchScript plugin are.
    #[command(flatten)]
    pub libs: RuntimeLibs,
    /// Intra-op threads per runtime session (ONNX Runtime, libtorch) when the MLmodel does not
    /// set them (`intra_op_num_threads`) (0 = the CPUs this process may use, cgroup quota
    /// included, divided among the workers).
    #[arg(
        long = "intra-op-threads",
        env = "MLFLOW_SERVE_INTRA_OP_THREADS",
        default_value_t = 0
    )]
    pub intra_op_threads: usize,
    /// How models without a native runtime run in Python workers.
    #[command(flatten)]
    pub python: PythonArgs,
}

/// Python workers: models whose flavor has no native runtime (scikit-learn, custom
/// `PythonModel`s, …) run in `-w` worker processes that load them with MLflow itself.
#[derive(Debug, Args)]
pub struct PythonArgs {
    /// The Python interpreter for `--env-manager local` (with mlflow, pandas, numpy and
    /// pyarrow installed). Default: `python3` on `PATH`.
    #[arg(long = "python", env = "MLFLOW_SERVE_PYTHON")]
    pub python: Option<PathBuf>,
    /// Resident memory (MiB) past which a Python worker is killed and restarted (its
    /// request answers 500). 0: no limit.
    #[arg(
        long = "worker-memory",
        env = "MLFLOW_SERVE_WORKER_MEMORY",
        default_value_t = 0
    )]
    pub worker_memory_mib: u64,
    /// Seconds a Python worker may take to load the model before it is killed.
    #[arg(
        long = "worker-start-timeout",
        env = "MLFLOW_SERVE_WORKER_START_TIMEOUT",
        default_value_t = 600,
        value_parser = super::at_least_one::<u64>
    )]
    pub worker_start_timeout: u64,
    /// Seconds building the model's Python environment (`--env-manager virtualenv`/`uv`)
    /// may take.
    #[arg(
        long = "env-build-timeout",
        env = "MLFLOW_SERVE_ENV_BUILD_TIMEOUT",
        default_value_t = 1800,
        value_parser = super::at_least_one::<u64>
    )]
    pub env_build_timeout: u64,
    /// Most bytes one answer of a Python worker may hold.
    #[arg(
        long = "max-worker-answer-bytes",
        env = "MLFLOW_SERVE_MAX_WORKER_ANSWER_BYTES",
        default_value_t = 1 << 30
    )]
    pub max_worker_answer_bytes: u64,
    /// `direct` calls the flavor's predict function below MLflow's pyfunc wrapper when the
    /// model has an input signature (the server enforced it already); `pyfunc` always calls
    /// `PyFuncModel.predict`, as `mlflow models serve` does.
    #[arg(long = "python-call", env = "MLFLOW_SERVE_PYTHON_CALL", value_enum, default_value_t = PythonCall::Direct)]
    pub python_call: PythonCall,
}

/// How a Python worker calls the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PythonCall {
    /// The flavor's own predict function, below the pyfunc wrapper.
    Direct,
    /// `PyFuncModel.predict`.
    Pyfunc,
}

impl PythonArgs {
    /// The workers' options: environments and the worker program under `cache`, `-t` as the
    /// bound on one call.
    pub fn options(
        &self,
        manager: Option<crate::flavor::python::env::EnvManager>,
        cache: &std::path::Path,
        call_timeout: Option<Duration>,
    ) -> crate::flavor::python::PythonOptions {
        let root = cache.join(".python");
        crate::flavor::python::PythonOptions {
            env: crate::flavor::python::env::EnvOptions {
                manager: manager.unwrap_or_default(),
                python: self.python.clone(),
                envs_dir: root.join("envs"),
                build_timeout: Duration::from_secs(self.env_build_timeout),
            },
            work_dir: root,
            call_timeout,
            memory_limit: (self.worker_memory_mib > 0).then_some(self.worker_memory_mib << 20),
            start_timeout: Duration::from_secs(self.worker_start_timeout),
            through_pyfunc: self.python_call == PythonCall::Pyfunc,
            max_reply_bytes: self.max_worker_answer_bytes,
        }
    }
}

impl RuntimeArgs {
    /// The intra-op threads of each of `workers` sessions: the flag, or the CPUs shared out.
    pub fn threads_per_worker(&self, workers: usize) -> usize {
        if self.intra_op_threads == 0 {
            (crate::cpus::available() / workers.max(1)).max(1)
        } else {
            self.intra_op_threads
        }
    }
}

/// MLflow's flags that mean nothing here (there is no Python environment to build): accepted
/// so that an `mlflow models …` command line works unchanged, and named once in the log.
#[derive(Debug, Args)]
pub struct MlflowCompat {
    /// The Python environment of a model run in Python workers (MLflow's): `local` (the
    /// `--python` interpreter), `virtualenv` (the default, as MLflow's) or `uv` (both build the
    /// model's own environment with uv, once, under the model cache); `conda` is refused.
    /// Models served natively need no Python and ignore it.
    #[arg(long = "env-manager", env = "MLFLOW_SERVE_ENV_MANAGER", value_enum)]
    pub env_manager: Option<crate::flavor::python::env::EnvManager>,
    /// Accepted for compatibility with MLflow; ignored.
    #[arg(long = "no-conda", hide = true)]
    pub no_conda: bool,
    /// Accepted for compatibility with MLflow; ignored.
    #[arg(long = "install-mlflow", hide = true)]
    pub install_mlflow: bool,
    /// Accepted for compatibility with MLflow; ignored (no Python requirements to override).
    #[arg(short = 'r', long = "pip-requirements-override", hide = true)]
    pub pip_requirements_override: Option<String>,
    /// Accepted for compatibility with MLflow; ignored (`KEY=VALUE` for MLflow's Python
    /// environment).
    #[arg(long = "env", hide = true)]
    pub env: Vec<String>,
    /// Accepted for compatibility with MLflow; ignored.
    #[arg(long = "mlflow-home", hide = true)]
    pub mlflow_home: Option<PathBuf>,
    /// Accepted for compatibility with MLflow; ignored (no flavor served here needs Java).
    #[arg(long = "install-java", hide = true)]
    pub install_java: Option<String>,
}

impl MlflowCompat {
    /// The flags given, by name (values left out: they may hold secrets).
    pub fn given(&self) -> Vec<&'static str> {
        [
            ("--no-conda", self.no_conda),
            ("--install-mlflow", self.install_mlflow),
            (
                "--pip-requirements-override",
                self.pip_requirements_override.is_some(),
            ),
            ("--env", !self.env.is_empty()),
            ("--mlflow-home", self.mlflow_home.is_some()),
            ("--install-java", self.install_java.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    /// Names each given flag once, on stderr's log (as the ignored env vars are).
    pub fn note_ignored(&self) {
        for flag in self.given() {
            tracing::info!(
                flag,
                "accepted and ignored: mlflow-serve needs no Python environment"
            );
        }
    }
}
