//! Command line: `mlflow-serve models serve …`, flags and env vars as `mlflow models serve`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A fast, drop-in replacement for `mlflow models serve` (ONNX models).
#[derive(Debug, Parser)]
#[command(name = "mlflow-serve", version, about, disable_help_subcommand = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands (mirroring `mlflow`'s).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy MLflow models locally.
    Models {
        /// The models subcommand.
        #[command(subcommand)]
        command: ModelsCommand,
    },
}

/// `mlflow-serve models …`
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Serve a model over HTTP with MLflow's scoring protocol.
    #[command(disable_help_flag = true)]
    Serve(ServeArgs),
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Flags of `models serve`; names, short forms, env vars and defaults follow MLflow 3.17.2.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Model URI: a local directory, `file:`, `runs:/<run_id>/<path>`, `models:/<name>/<version|stage|latest>`,
    /// `models:/<name>@<alias>`, `models:/<model_id>`, `mlflow-artifacts:/…`, `s3://`, `gs://`,
    /// `wasbs://`/`abfss://` or `http(s)://`. Stores come from `MLFLOW_TRACKING_URI` /
    /// `MLFLOW_REGISTRY_URI` (default: `./mlruns` when it holds experiments, else `sqlite:///mlflow.db`).
    #[arg(short = 'm', long = "model-uri")]
    pub model_uri: String,
    /// Port to listen on.
    #[arg(short = 'p', long, env = "MLFLOW_PORT", default_value_t = 5000)]
    pub port: u16,
    /// Network address to listen on.
    #[arg(short = 'h', long, env = "MLFLOW_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Timeout in seconds for one request (504 after it).
    #[arg(
        short = 't',
        long,
        env = "MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT",
        default_value_t = 60
    )]
    pub timeout: u64,
    /// Number of inference workers (one ONNX Runtime session and thread each).
    #[arg(short = 'w', long, env = "MLFLOW_MODELS_WORKERS", default_value_t = 1)]
    pub workers: usize,
    /// Accepted for compatibility with `mlflow models serve`; mlflow-serve needs no Python environment.
    #[arg(long = "env-manager", hide = true)]
    pub env_manager: Option<String>,
    /// Accepted for compatibility; ignored.
    #[arg(long = "no-conda", hide = true)]
    pub no_conda: bool,
    /// Accepted for compatibility; ignored.
    #[arg(long = "install-mlflow", hide = true)]
    pub install_mlflow: bool,
    /// Path to libonnxruntime (file or directory). Default: search next to the executable,
    /// the project's `.local/onnxruntime/lib`, then Python site-packages.
    #[arg(long = "onnxruntime-lib", env = "ORT_DYLIB_PATH")]
    pub onnxruntime_lib: Option<PathBuf>,
    /// The TorchScript plugin `libmlflow_serve_torch.so` (file or directory), for `pytorch`
    /// models in builds with the `torch` feature. Default: next to the executable, its
    /// `lib/`, `../lib/` and `..`.
    #[arg(long = "torch-plugin", env = "MLFLOW_SERVE_TORCH_PLUGIN")]
    pub torch_plugin: Option<PathBuf>,
    /// Intra-op threads per ONNX Runtime session when the MLmodel does not set
    /// `intra_op_num_threads` (0 = the CPUs this process may use, cgroup quota included,
    /// divided among the workers).
    #[arg(
        long = "intra-op-threads",
        env = "MLFLOW_SERVE_INTRA_OP_THREADS",
        default_value_t = 0
    )]
    pub intra_op_threads: usize,
    /// Largest request body accepted, in bytes (413 above it). Default 100 MiB, as MLflow's nginx.
    #[arg(long = "max-body-bytes", env = "MLFLOW_SERVE_MAX_BODY_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Requests that may wait for an inference worker before new ones get 503.
    #[arg(
        long = "max-queue",
        env = "MLFLOW_SERVE_MAX_QUEUE",
        default_value_t = 1024
    )]
    pub max_queue: usize,
    /// Most rows merged into one runtime call by dynamic batching (1 disables batching).
    /// Only models whose inputs and outputs all have a variable first dimension batch.
    #[arg(
        long = "max-batch-rows",
        env = "MLFLOW_SERVE_MAX_BATCH_ROWS",
        default_value_t = 256
    )]
    pub max_batch_rows: usize,
    /// Milliseconds the oldest waiting request may wait for others to batch with. 0 (the
    /// default) adds no latency: a batch is whatever queued up while the runtime was busy.
    #[arg(
        long = "max-batch-delay",
        env = "MLFLOW_SERVE_MAX_BATCH_DELAY_MS",
        default_value_t = 0.0
    )]
    pub max_batch_delay_ms: f64,
    /// Microseconds an idle inference worker keeps polling for the next request before it
    /// sleeps. Polling takes the thread wake-up (20-80 µs on a virtual machine) off the
    /// request's path, at the cost of CPU while idle (never more than this per request).
    /// Default: 100 when 2 or more CPUs are available (cgroup quota included), else 0.
    #[arg(long = "idle-spin-us", env = "MLFLOW_SERVE_IDLE_SPIN_US")]
    pub idle_spin_us: Option<u64>,
    /// Seconds to keep serving after SIGTERM/SIGINT with readiness already 503, so a load
    /// balancer stops routing here first (set it to the probe period + a margin).
    #[arg(
        long = "drain-delay",
        env = "MLFLOW_SERVE_DRAIN_DELAY",
        default_value_t = 0.0
    )]
    pub drain_delay: f64,
    /// Seconds in-flight requests may take to finish once the listener is closed.
    #[arg(
        long = "graceful-timeout",
        env = "MLFLOW_SERVE_GRACEFUL_TIMEOUT",
        default_value_t = 30.0
    )]
    pub graceful_timeout: f64,
    /// Seconds a connection may sit idle between requests, or take to send a request's
    /// headers, before it is closed (slowloris guard). Behind a load balancer keep it above
    /// the balancer's own idle timeout (AWS ALB: 60 s) so the balancer closes first.
    #[arg(
        long = "keep-alive-timeout",
        env = "MLFLOW_SERVE_KEEP_ALIVE_TIMEOUT",
        default_value_t = 75.0
    )]
    pub keep_alive_timeout: f64,
    /// Also serve `/metrics` (and the probes) on this port, e.g. to keep it off the public
    /// listener. `/metrics` stays available on the main port too.
    #[arg(long = "metrics-port", env = "MLFLOW_SERVE_METRICS_PORT")]
    pub metrics_port: Option<u16>,
    /// Log format on stderr: `text` or `json` (one object per line). `RUST_LOG` filters.
    #[arg(long = "log-format", env = "MLFLOW_SERVE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Directory where remote model artifacts are cached across restarts.
    /// Default: `$XDG_CACHE_HOME/mlflow-serve/models` or `~/.cache/mlflow-serve/models`.
    #[arg(long = "model-cache", env = "MLFLOW_SERVE_MODEL_CACHE")]
    pub model_cache: Option<PathBuf>,
    /// Seconds allowed for resolving and downloading the model (retries included) before
    /// start-up fails.
    #[arg(
        long = "resolve-timeout",
        env = "MLFLOW_SERVE_RESOLVE_TIMEOUT",
        default_value_t = 120
    )]
    pub resolve_timeout: u64,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}
