//! Command line: `mlflow-serve models serve …`, flags and env vars as `mlflow models serve`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A fast, drop-in replacement for `mlflow models serve` (ONNX and TorchScript models).
#[derive(Debug, Parser)]
#[command(name = "mlflow-serve", version, about, disable_help_subcommand = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands (mirroring `mlflow`'s).
// Parsed once at start-up: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy MLflow models locally.
    Models {
        /// The models subcommand.
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// SageMaker's container contract (`docker run IMAGE serve`): `models serve` of
    /// `/opt/ml/model` on `0.0.0.0:8080` (`SAGEMAKER_BIND_TO_PORT` overrides the port). Any
    /// `models serve` flag may follow and wins over these defaults.
    #[command(disable_help_flag = true)]
    Serve {
        /// Flags passed on to `models serve`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Where SageMaker mounts the model, and where the container image puts one.
pub const SAGEMAKER_MODEL_DIR: &str = "/opt/ml/model";

impl Command {
    /// The `models serve` flags a command stands for: SageMaker's `serve` is `models serve`
    /// with the model directory, host and port of SageMaker's contract unless given.
    pub fn into_serve_args(self) -> Result<ServeArgs, clap::Error> {
        match self {
            Command::Models {
                command: ModelsCommand::Serve(args),
            } => Ok(args),
            Command::Models { .. } => {
                Err(clap::Error::new(clap::error::ErrorKind::InvalidSubcommand))
            }
            Command::Serve { args } => {
                let given = |names: &[&str]| {
                    args.iter().any(|a| {
                        names
                            .iter()
                            .any(|n| a == n || a.starts_with(&format!("{n}=")))
                    })
                };
                let mut argv: Vec<String> =
                    vec!["mlflow-serve".into(), "models".into(), "serve".into()];
                if !given(&["-m", "--model-uri"]) {
                    argv.extend(["-m".into(), SAGEMAKER_MODEL_DIR.into()]);
                }
                if !given(&["-h", "--host"]) {
                    argv.extend(["-h".into(), "0.0.0.0".into()]);
                }
                if !given(&["-p", "--port"]) {
                    let port = std::env::var("SAGEMAKER_BIND_TO_PORT")
                        .ok()
                        .filter(|p| !p.trim().is_empty())
                        .unwrap_or_else(|| "8080".into());
                    argv.extend(["-p".into(), port]);
                }
                argv.extend(args);
                let Cli { command } = Cli::try_parse_from(argv)?;
                match command {
                    Command::Models {
                        command: ModelsCommand::Serve(args),
                    } => Ok(args),
                    _ => Err(clap::Error::new(clap::error::ErrorKind::InvalidSubcommand)),
                }
            }
        }
    }
}

/// `mlflow-serve models …`
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Serve a model over HTTP with MLflow's scoring protocol.
    #[command(disable_help_flag = true)]
    Serve(ServeArgs),
    /// Build a container image whose entrypoint serves the model on port 8080 (`docker run
    /// IMAGE`), with Docker or Podman, whichever is installed and answers.
    BuildDocker(BuildDockerArgs),
    /// Write the build context of that image (Dockerfile, this executable and its runtime
    /// libraries, the model) into a directory, without building it.
    GenerateDockerfile(GenerateDockerfileArgs),
    /// Score a file with a model, as `mlflow models predict` does: MLflow's
    /// `{"predictions": …}` document on stdout or in `-o`.
    Predict(PredictArgs),
}

/// Flags of `models predict` (MLflow 3.17.2's, plus where the runtimes and the model cache
/// are).
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Model URI, resolved exactly as `models serve` resolves it.
    #[arg(short = 'm', long = "model-uri")]
    pub model_uri: String,
    /// The input file (default: stdin).
    #[arg(short = 'i', long = "input-path")]
    pub input_path: Option<PathBuf>,
    /// The output file (default: stdout); written under a temporary name and renamed into
    /// place once complete.
    #[arg(short = 'o', long = "output-path")]
    pub output_path: Option<PathBuf>,
    /// The input's format: `json` (MLflow's JSON formats) or `csv`, as in MLflow; and
    /// `parquet` or `jsonl` (one `{column: value}` object per line).
    #[arg(short = 't', long = "content-type", default_value = "json")]
    pub content_type: String,
    /// The output's format: `json` (MLflow's `{"predictions": …}` document), or one row per
    /// input row as `jsonl`, `csv` or `parquet`.
    #[arg(
        long = "output-format",
        env = "MLFLOW_SERVE_OUTPUT_FORMAT",
        value_enum,
        default_value = "json"
    )]
    pub output_format: crate::predict::OutputFormat,
    /// Rows read, enforced and scored together (csv, jsonl and parquet inputs; an MLflow
    /// JSON document is one batch). Memory is about this times `--workers + 1` rows.
    #[arg(
        long = "batch-rows",
        env = "MLFLOW_SERVE_BATCH_ROWS",
        default_value_t = 10_000
    )]
    pub batch_rows: usize,
    /// Inference workers, each scoring one batch at a time (0 = the CPUs this process may use).
    #[arg(
        short = 'w',
        long,
        env = "MLFLOW_SERVE_PREDICT_WORKERS",
        default_value_t = 0
    )]
    pub workers: usize,
    /// Input columns copied into each output row before the predictions (comma-separated or
    /// repeated; row-per-row outputs only), such as ids.
    #[arg(long = "keep-columns", value_delimiter = ',')]
    pub keep_columns: Vec<String>,
    /// What a row the model refuses does: `fail` stops with MLflow's message and the row's
    /// number; `column` writes the message in an `error` column and scores the other rows.
    #[arg(
        long = "on-error",
        env = "MLFLOW_SERVE_ON_ERROR",
        value_enum,
        default_value = "fail"
    )]
    pub on_error: crate::predict::OnError,
    /// Score only part K of N disjoint parts of the input (K from 0): Parquet row groups, or
    /// CSV / JSON Lines byte ranges split on line boundaries. The N outputs in order are the
    /// whole answer (a Kubernetes Indexed Job passes its completion index as K).
    #[arg(long, env = "MLFLOW_SERVE_SHARD", value_parser = crate::predict::Shard::parse)]
    pub shard: Option<crate::predict::Shard>,
    /// No progress bar and no summary line on stderr.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Accepted for compatibility with `mlflow models predict`; no Python environment is needed.
    #[arg(long = "env-manager", hide = true)]
    pub env_manager: Option<String>,
    /// Accepted for compatibility; ignored.
    #[arg(long = "install-mlflow", hide = true)]
    pub install_mlflow: bool,
    /// Accepted for compatibility; ignored (there are no Python requirements to override).
    #[arg(short = 'r', long = "pip-requirements-override", hide = true)]
    pub pip_requirements_override: Option<String>,
    /// Accepted for compatibility; ignored (`KEY=VALUE` for MLflow's Python environment).
    #[arg(long = "env", hide = true)]
    pub env: Vec<String>,
    /// Where libonnxruntime and the TorchScript plugin are.
    #[command(flatten)]
    pub libs: RuntimeLibs,
    /// Intra-op threads of each worker's runtime session (0 = the CPUs this process may use,
    /// divided among the workers).
    #[arg(
        long = "intra-op-threads",
        env = "MLFLOW_SERVE_INTRA_OP_THREADS",
        default_value_t = 0
    )]
    pub intra_op_threads: usize,
    /// Where downloaded models are cached (as `models serve --model-cache`).
    #[arg(long = "model-cache", env = "MLFLOW_SERVE_MODEL_CACHE")]
    pub model_cache: Option<PathBuf>,
    /// Seconds allowed for resolving and downloading the model.
    #[arg(
        long = "resolve-timeout",
        env = "MLFLOW_SERVE_RESOLVE_TIMEOUT",
        default_value_t = 120
    )]
    pub resolve_timeout: u64,
}

/// What `build-docker` and `generate-dockerfile` put into an image.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Model URI, resolved exactly as `models serve` resolves it and copied into the image
    /// (served from `/opt/ml/model` with no network access at start). Without it, the image
    /// serves a model directory mounted at `/opt/ml/model`.
    #[arg(short = 'm', long = "model-uri")]
    pub model_uri: Option<String>,
    /// `onnx` (libonnxruntime only) or `torch` (adds the TorchScript plugin and libtorch's CPU
    /// libraries). Default: `torch` for a `pytorch` model, else `onnx`.
    #[arg(long, value_enum)]
    pub target: Option<crate::image::Target>,
    /// The `FROM` image. The executable is copied in, so the base needs its glibc or newer
    /// (checked for the default, Debian 12's 2.36).
    #[arg(long = "base-image", env = "MLFLOW_SERVE_BASE_IMAGE", default_value = crate::image::DEFAULT_BASE_IMAGE)]
    pub base_image: String,
    /// The runtime libraries copied into the image: the ones `serve` would load.
    #[command(flatten)]
    pub libs: RuntimeLibs,
    /// libtorch's directory (holding `lib/libtorch_cpu.so`) to copy (`torch` target).
    /// Default: next to the plugin, else the project's `.local/libtorch/torch`.
    #[arg(long = "libtorch", env = "LIBTORCH")]
    pub libtorch: Option<PathBuf>,
    /// Where downloaded models are cached (as `models serve --model-cache`).
    #[arg(long = "model-cache", env = "MLFLOW_SERVE_MODEL_CACHE")]
    pub model_cache: Option<PathBuf>,
    /// Seconds allowed for resolving and downloading the model.
    #[arg(
        long = "resolve-timeout",
        env = "MLFLOW_SERVE_RESOLVE_TIMEOUT",
        default_value_t = 120
    )]
    pub resolve_timeout: u64,
    /// Accepted for compatibility with MLflow; the image needs no Python environment.
    #[arg(long = "env-manager", hide = true)]
    pub env_manager: Option<String>,
    /// Accepted for compatibility with MLflow; ignored.
    #[arg(long = "mlflow-home", hide = true)]
    pub mlflow_home: Option<PathBuf>,
    /// Accepted for compatibility with MLflow; ignored (no flavor served here needs Java).
    #[arg(long = "install-java", hide = true)]
    pub install_java: Option<String>,
    /// Accepted for compatibility with MLflow; ignored.
    #[arg(long = "install-mlflow", hide = true)]
    pub install_mlflow: bool,
}

/// Flags of `models build-docker` (MLflow's, plus `--target`, `--base-image` and
/// `--container-engine`).
#[derive(Debug, Args)]
pub struct BuildDockerArgs {
    /// What goes into the image.
    #[command(flatten)]
    pub image: ImageArgs,
    /// Name (and tag) of the image.
    #[arg(short = 'n', long = "name", default_value = "mlflow-pyfunc")]
    pub name: String,
    /// `docker` or `podman`. Default: the first of the two that is installed and answers `info`.
    #[arg(long = "container-engine", env = "MLFLOW_SERVE_CONTAINER_ENGINE")]
    pub container_engine: Option<String>,
    /// Keep the build context in this directory instead of a temporary one.
    #[arg(long = "context-dir")]
    pub context_dir: Option<PathBuf>,
}

/// Flags of `models generate-dockerfile` (MLflow's, plus `--target` and `--base-image`).
#[derive(Debug, Args)]
pub struct GenerateDockerfileArgs {
    /// What goes into the image.
    #[command(flatten)]
    pub image: ImageArgs,
    /// Directory the build context is written to.
    #[arg(
        short = 'd',
        long = "output-directory",
        default_value = "mlflow-dockerfile"
    )]
    pub output_directory: PathBuf,
}

/// A secret given on the command line or in the environment: never printed (`Debug` shows
/// `***`).
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Secret, String> {
        if s.is_empty() {
            Err("the secret is empty".into())
        } else {
            Ok(Secret(s.to_string()))
        }
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The runtime libraries `serve` loads (and `build-docker` copies into an image).
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
    /// Number of inference workers (one runtime session and thread each).
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
    /// Where libonnxruntime and the TorchScript plugin are.
    #[command(flatten)]
    pub libs: RuntimeLibs,
    /// Intra-op threads per runtime session (ONNX Runtime, libtorch) when the MLmodel does not
    /// set them (`intra_op_num_threads`) (0 = the CPUs this process may use, cgroup quota included,
    /// divided among the workers).
    #[arg(
        long = "intra-op-threads",
        env = "MLFLOW_SERVE_INTRA_OP_THREADS",
        default_value_t = 0
    )]
    pub intra_op_threads: usize,
    /// Largest request body accepted, in bytes (413 above it). `mlflow models serve` itself has
    /// no limit; 100 MiB bounds what one client can make the server hold.
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
        default_value_t = 0.0,
        value_parser = parse_seconds
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
        default_value_t = 0.0,
        value_parser = parse_seconds
    )]
    pub drain_delay: f64,
    /// Seconds in-flight requests may take to finish once the listener is closed.
    #[arg(
        long = "graceful-timeout",
        env = "MLFLOW_SERVE_GRACEFUL_TIMEOUT",
        default_value_t = 30.0,
        value_parser = parse_seconds
    )]
    pub graceful_timeout: f64,
    /// Seconds a connection may sit idle between requests, or take to send a request's
    /// headers, before it is closed (slowloris guard). Behind a load balancer keep it above
    /// the balancer's own idle timeout (AWS ALB: 60 s) so the balancer closes first.
    #[arg(
        long = "keep-alive-timeout",
        env = "MLFLOW_SERVE_KEEP_ALIVE_TIMEOUT",
        default_value_t = 75.0,
        value_parser = parse_seconds
    )]
    pub keep_alive_timeout: f64,
    /// Cells (rows × columns, nulls that pad ragged or sparse rows included) a request may
    /// expand to, per byte of body; every body may expand to at least 1 Mi cells. Beyond it:
    /// 413 `REQUEST_LIMIT_EXCEEDED`. Parquet bodies may also decode to at most 8 bytes per
    /// cell of this budget.
    #[arg(
        long = "max-cells-per-byte",
        env = "MLFLOW_SERVE_MAX_CELLS_PER_BYTE",
        default_value_t = crate::payload::DEFAULT_CELLS_PER_BYTE
    )]
    pub max_cells_per_byte: usize,
    /// Input tensors (and requested outputs) one Open Inference Protocol request (V2 REST,
    /// binary or gRPC) may name; past it the request is refused (400 / `INVALID_ARGUMENT`)
    /// while it is decoded, before its tensors are allocated.
    #[arg(
        long = "max-tensors",
        env = "MLFLOW_SERVE_MAX_TENSORS",
        default_value_t = crate::payload::DEFAULT_MAX_TENSORS
    )]
    pub max_tensors: usize,
    /// Dimensions a V2 / KServe V1 tensor's shape may have, refused while decoded (numpy
    /// holds at most 64, so MLflow cannot take more either).
    #[arg(
        long = "max-tensor-rank",
        env = "MLFLOW_SERVE_MAX_TENSOR_RANK",
        default_value_t = crate::payload::DEFAULT_MAX_RANK,
        value_parser = parse_rank
    )]
    pub max_tensor_rank: usize,
    /// Longest rendering of request data (a value's repr, a list of keys, an undecodable
    /// body) embedded in an error message, in bytes; longer ones are cut and end with `...`.
    #[arg(
        long = "max-error-data-bytes",
        env = "MLFLOW_SERVE_MAX_ERROR_DATA_BYTES",
        default_value_t = crate::pyjson::DEFAULT_MAX_ERROR_DATA
    )]
    pub max_error_data_bytes: usize,
    /// Total bytes of request bodies held at once (being received, parsed or waiting for an
    /// answer). A request that would pass it gets 503 + `Retry-After` at once. Never below
    /// `--max-body-bytes`.
    #[arg(
        long = "max-inflight-bytes",
        env = "MLFLOW_SERVE_MAX_INFLIGHT_BYTES",
        default_value_t = 512 * 1024 * 1024
    )]
    pub max_inflight_bytes: usize,
    /// Open connections served at once; further connections wait in the kernel's accept
    /// queue until one closes.
    #[arg(
        long = "max-connections",
        env = "MLFLOW_SERVE_MAX_CONNECTIONS",
        default_value_t = 4096
    )]
    pub max_connections: usize,
    /// Connections kept beyond `--max-connections` for health probes: when every ordinary
    /// slot is taken (idle keep-alive clients, say), a new connection takes one of these,
    /// may only ask for `/ping`, `/health`, `/livez`, `/metrics`, `/version` or
    /// `/v2/health/*` (anything else: 503 + `Retry-After`), has 2 s to send it, and is
    /// closed after the answer. 0 turns the reserve off.
    #[arg(
        long = "probe-connections",
        env = "MLFLOW_SERVE_PROBE_CONNECTIONS",
        default_value_t = 16
    )]
    pub probe_connections: usize,
    /// Bodies of at least this many bytes are parsed and enforced on a small pool of
    /// blocking threads instead of the async workers, so probes and `/metrics` keep
    /// answering while large bodies are parsed; smaller ones are parsed in place (no hand-off).
    #[arg(
        long = "blocking-parse-bytes",
        env = "MLFLOW_SERVE_BLOCKING_PARSE_BYTES",
        default_value_t = 64 * 1024
    )]
    pub blocking_parse_bytes: usize,
    /// Large bodies parsed at once (0 = the CPUs this process may use, minus one, at least 1).
    #[arg(
        long = "parse-threads",
        env = "MLFLOW_SERVE_PARSE_THREADS",
        default_value_t = 0
    )]
    pub parse_threads: usize,
    /// The name Open Inference Protocol (V2) clients address the model by
    /// (`/v2/models/{name}`). Default: the registered model's name for `models:/` URIs, else
    /// the model directory's name. KServe passes the InferenceService's name.
    #[arg(long = "model-name", env = "MLFLOW_SERVE_MODEL_NAME")]
    pub model_name: Option<String>,
    /// Also serve `/metrics` (and the probes) on this port, e.g. to keep it off the public
    /// listener. `/metrics` stays available on the main port too.
    #[arg(long = "metrics-port", env = "MLFLOW_SERVE_METRICS_PORT")]
    pub metrics_port: Option<u16>,
    /// Also serve the Open Inference Protocol over gRPC (`inference.GRPCInferenceService`)
    /// on this port, with the same limits, timeout, metrics and drain as HTTP. Off by
    /// default; KServe's convention is 9000.
    #[arg(long = "grpc-port", env = "MLFLOW_SERVE_GRPC_PORT")]
    pub grpc_port: Option<u16>,
    /// gRPC calls one gRPC connection may have in flight at once (HTTP/2 streams); each may
    /// hold up to `--max-body-bytes` while its message arrives, within `--max-inflight-bytes`.
    #[arg(
        long = "grpc-max-streams",
        env = "MLFLOW_SERVE_GRPC_MAX_STREAMS",
        default_value_t = 64
    )]
    pub grpc_max_streams: u32,
    /// Follow a moving registry reference (`models:/name@alias`, `models:/name/<stage>`,
    /// `models:/name/latest`): when it comes to name another version, load that version
    /// beside the served one and swap it in with no failed request. Polls every
    /// `--follow-interval`, and checks at once on `SIGHUP` and on verified MLflow webhooks
    /// (`--webhook-secret`).
    #[arg(long = "follow", env = "MLFLOW_SERVE_FOLLOW", default_value_t = false)]
    pub follow: bool,
    /// Seconds between registry checks of `--follow` (±10% jitter, so that a fleet does not
    /// poll in step).
    #[arg(
        long = "follow-interval",
        env = "MLFLOW_SERVE_FOLLOW_INTERVAL",
        default_value_t = 30.0,
        value_parser = parse_seconds
    )]
    pub follow_interval: f64,
    /// Shared secret of an MLflow webhook (`MlflowClient().create_webhook(..., secret=…)`):
    /// enables `POST /mlflow/webhook`, where signed registry events make `--follow` check
    /// at once. Prefer the env var (a flag shows in `ps`). Without it the route answers 404.
    #[arg(
        long = "webhook-secret",
        env = "MLFLOW_SERVE_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub webhook_secret: Option<Secret>,
    /// Seconds a webhook delivery's timestamp may be away from this server's clock (older or
    /// newer deliveries get 401); delivery ids are remembered this long to refuse replays.
    #[arg(
        long = "webhook-max-age",
        env = "MLFLOW_SERVE_WEBHOOK_MAX_AGE",
        default_value_t = 300
    )]
    pub webhook_max_age: u64,
    /// Largest webhook delivery body, in bytes (MLflow's payloads are a few KiB); larger
    /// ones get 413 before they are hashed.
    #[arg(
        long = "webhook-max-body-bytes",
        env = "MLFLOW_SERVE_WEBHOOK_MAX_BODY_BYTES",
        default_value_t = crate::follow::webhook::DEFAULT_MAX_BODY
    )]
    pub webhook_max_body_bytes: usize,
    /// Webhook delivery ids remembered at once to refuse replays; past it, deliveries get 503
    /// (MLflow retries them) until older ids leave the `--webhook-max-age` window.
    #[arg(
        long = "webhook-replay-capacity",
        env = "MLFLOW_SERVE_WEBHOOK_REPLAY_CAPACITY",
        default_value_t = 10_000
    )]
    pub webhook_replay_capacity: usize,
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
    /// Most bytes a downloaded model's files may hold in all; a listing or a download past
    /// it fails start-up.
    #[arg(
        long = "max-model-bytes",
        env = "MLFLOW_SERVE_MAX_MODEL_BYTES",
        default_value_t = 64 << 30
    )]
    pub max_model_bytes: u64,
    /// Most files a downloaded model may list.
    #[arg(
        long = "max-model-files",
        env = "MLFLOW_SERVE_MAX_MODEL_FILES",
        default_value_t = 100_000
    )]
    pub max_model_files: usize,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

/// A tensor rank limit: 1 to 64 (numpy's most dimensions; more could never be served).
fn parse_rank(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=crate::pyjson::ndarray::MAX_DIMS).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{s}` must be a whole number from 1 to {}",
            crate::pyjson::ndarray::MAX_DIMS
        )),
    }
}

/// A number of seconds (or milliseconds) from a flag or env var: finite and not negative, so
/// that a typo such as `inf` or `-1` is a start-up error rather than a panic or a timer that
/// never fires.
fn parse_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{s}` must be a finite number, 0 or more"));
    }
    if v > 1e9 {
        return Err(format!("`{s}` is too large (at most 1e9)"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_must_be_finite_and_not_negative() {
        for bad in ["inf", "-inf", "NaN", "nan", "-1", "1e400", "x", "", "2e9"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_seconds("0"), Ok(0.0));
        assert_eq!(parse_seconds("2.5"), Ok(2.5));
        let err = Cli::try_parse_from([
            "mlflow-serve",
            "models",
            "serve",
            "-m",
            "x",
            "--drain-delay",
            "inf",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("finite"), "{err}");
    }
}
