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
    /// Accepted for compatibility with MLflow; ignored (no Python environment is needed).
    #[arg(long = "env-manager", hide = true)]
    pub env_manager: Option<String>,
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
            ("--env-manager", self.env_manager.is_some()),
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
