//! Flags of `models serve` (and of SageMaker's `serve`, which stands for it).

use clap::Args;

use super::model::{MlflowCompat, ModelArgs, RuntimeArgs};
use super::{at_least_one, parse_keep_alive, parse_rank, parse_seconds, LogFormat, Secret};

/// Flags of `models serve`; names, short forms, env vars and defaults follow MLflow 3.17.2.
#[derive(Debug, Args)]
#[command(mut_arg("model_uri", |a| a.required(true)))]
pub struct ServeArgs {
    /// The model, and how it is resolved and downloaded.
    #[command(flatten)]
    pub model: ModelArgs,
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
        default_value_t = 60,
        value_parser = at_least_one::<u64>
    )]
    pub timeout: u64,
    /// Number of inference workers (one runtime session and thread each).
    #[arg(short = 'w', long, env = "MLFLOW_MODELS_WORKERS", default_value_t = 1, value_parser = at_least_one::<usize>)]
    pub workers: usize,
    /// The runtimes the model is loaded with.
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// MLflow's flags that are accepted and ignored.
    #[command(flatten)]
    pub compat: MlflowCompat,
    /// Largest request body accepted, in bytes (413 above it). `mlflow models serve` itself has
    /// no limit; 100 MiB bounds what one client can make the server hold.
    #[arg(long = "max-body-bytes", env = "MLFLOW_SERVE_MAX_BODY_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Requests that may wait for an inference worker before new ones get 503.
    #[arg(
        long = "max-queue",
        env = "MLFLOW_SERVE_MAX_QUEUE",
        default_value_t = 1024,
        value_parser = at_least_one::<usize>
    )]
    pub max_queue: usize,
    /// Most rows merged into one runtime call by dynamic batching (1 disables batching).
    /// Only models whose inputs and outputs all have a variable first dimension batch.
    #[arg(
        long = "max-batch-rows",
        env = "MLFLOW_SERVE_MAX_BATCH_ROWS",
        default_value_t = 256,
        value_parser = at_least_one::<usize>
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
        value_parser = parse_keep_alive
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
    /// answer). A request that would pass it gets 503 + `Retry-After` at once. A value below
    /// `--max-body-bytes` is raised to it, with a warning at start.
    #[arg(
        long = "max-inflight-bytes",
        env = "MLFLOW_SERVE_MAX_INFLIGHT_BYTES",
        default_value_t = 512 * 1024 * 1024
    )]
    pub max_inflight_bytes: usize,
    /// Open connections served at once by the process, over all its listeners (HTTP,
    /// `--grpc-port`, `--metrics-port`) together; further connections wait in the kernel's
    /// accept queue until one closes.
    #[arg(
        long = "max-connections",
        env = "MLFLOW_SERVE_MAX_CONNECTIONS",
        default_value_t = 4096,
        value_parser = at_least_one::<usize>
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
        default_value_t = 64,
        value_parser = at_least_one::<u32>
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
        default_value_t = 10_000,
        value_parser = at_least_one::<usize>
    )]
    pub webhook_replay_capacity: usize,
    /// Log format on stderr: `text` or `json` (one object per line). `RUST_LOG` filters.
    #[arg(long = "log-format", env = "MLFLOW_SERVE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}
