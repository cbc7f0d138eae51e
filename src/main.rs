//! The `mlflow-serve` binary: parse the command line (`cli`), then run the command: serve
//! a model (`models serve`, SageMaker's `serve`), score a file (`models predict`), or write
//! or build its container image (`models generate-dockerfile`, `models build-docker`).
//! Start-up errors are one `mlflow-serve: error: …` line and exit 1; `anyhow` lives here only.
#![forbid(unsafe_code)]

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use clap::Parser;
use mlflow_serve::cli::{
    BuildDockerArgs, Cli, Command, GenerateDockerfileArgs, ImageArgs, LogFormat, ModelsCommand,
    PredictArgs, ServeArgs,
};
use mlflow_serve::follow::webhook::{Receiver, Verifier};
use mlflow_serve::follow::{FollowOptions, Follower, Hints, Trigger};
use mlflow_serve::http::{serve, serve_metrics};
use mlflow_serve::image;
use mlflow_serve::metrics::Metrics;
use mlflow_serve::pipeline::{warm_up, LoadOptions, ServedModel, WarmUp};
use mlflow_serve::resolve::{resolve, MovingReference};
use mlflow_serve::served::ServedVersion;
use mlflow_serve::server::{drain_on, AppState, ServerConfig, Shared};

/// mimalloc instead of glibc malloc: requests allocate on tokio threads and free on the
/// inference thread (and back); measured in the note on issue 5.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    let image_command = match cli.command {
        Command::Models {
            command: ModelsCommand::BuildDocker(args),
        } => Some(build_docker(args)),
        Command::Models {
            command: ModelsCommand::GenerateDockerfile(args),
        } => Some(generate_dockerfile(args)),
        Command::Models {
            command: ModelsCommand::Predict(args),
        } => {
            init_logging(LogFormat::Text);
            args.compat.note_ignored();
            Some(predict(args))
        }
        command => {
            let args = command.into_serve_args().unwrap_or_else(|e| e.exit());
            init_logging(args.log_format);
            note_ignored_container_env();
            args.compat.note_ignored();
            serve_main(args);
            None
        }
    };
    if let Some(Err(e)) = image_command {
        eprintln!(
            "mlflow-serve: error: {}",
            mlflow_serve::redact::redact(&format!("{e:#}"))
        );
        std::process::exit(1);
    }
}

/// `--max-inflight-bytes`, raised (with a warning) to `--max-body-bytes` when below it: a
/// budget smaller than one body would refuse every body that size.
fn inflight_budget(args: &ServeArgs) -> usize {
    if args.max_inflight_bytes < args.max_body_bytes {
        tracing::warn!(
            max_inflight_bytes = args.max_inflight_bytes,
            max_body_bytes = args.max_body_bytes,
            "--max-inflight-bytes is below --max-body-bytes: raised to it"
        );
        return args.max_body_bytes;
    }
    args.max_inflight_bytes
}

/// MLflow's container settings that mean nothing here are accepted and named once.
fn note_ignored_container_env() {
    for (var, why) in [
        ("DISABLE_NGINX", "mlflow-serve has no nginx in front of it"),
        (
            "MLFLOW_DISABLE_ENV_CREATION",
            "mlflow-serve needs no Python environment",
        ),
    ] {
        if std::env::var_os(var).is_some() {
            tracing::info!(var, "accepted and ignored: {why}");
        }
    }
}

fn serve_main(args: ServeArgs) {
    // Panics in a request's parse or runtime call are contained and answered; every panic is
    // logged as one line through the log (its message cut at 200 characters).
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let what = mlflow_serve::panic_message(info.payload());
        let what: String = what.chars().take(200).collect();
        tracing::error!(at = %at, panic = %what, "panic (a request's parse or runtime call is answered 500; elsewhere the process stops)");
    }));
    if let Err(e) = run_serve(args) {
        // The URI and the store's messages may carry credentials: never print them.
        eprintln!(
            "mlflow-serve: error: {}",
            mlflow_serve::redact::redact(&format!("{e:#}"))
        );
        std::process::exit(1);
    }
}

/// Logs on stderr, as text or one JSON object per line; `RUST_LOG` filters (default info).
fn init_logging(format: LogFormat) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Certificate failures are reported once, as the start-up error line.
    if let Ok(quiet) = "rustls_platform_verifier=off".parse() {
        filter = filter.add_directive(quiet);
    }
    // Colours only for a terminal: container logs and files get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let addr: SocketAddr = (args.host.as_str(), args.port)
        .to_socket_addrs()
        .with_context(|| format!("invalid host/port {}:{}", args.host, args.port))?
        .next()
        .ok_or_else(|| anyhow!("host {} did not resolve", args.host))?;
    // Listen first: probes get 503 while the model is resolved, loaded and warmed up.
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(addr))
        .with_context(|| format!("cannot listen on {addr}"))?;
    mlflow_serve::pyjson::set_max_error_data(args.max_error_data_bytes);
    let metrics = Arc::new(Metrics::new().context("creating the metrics registry")?);
    let app = Arc::new(AppState::new(metrics.clone()));
    let config = ServerConfig {
        timeout: Duration::from_secs(args.timeout),
        max_body_bytes: args.max_body_bytes,
        drain_delay: Duration::from_secs_f64(args.drain_delay),
        graceful_timeout: Duration::from_secs_f64(args.graceful_timeout),
        keep_alive_timeout: Duration::from_secs_f64(args.keep_alive_timeout),
        max_inflight_bytes: inflight_budget(&args),
        max_connections: args.max_connections,
        probe_connections: args.probe_connections,
        blocking_parse_bytes: args.blocking_parse_bytes,
        grpc_max_streams: args.grpc_max_streams,
        parse_threads: if args.parse_threads == 0 {
            mlflow_serve::cpus::available().saturating_sub(1).max(1)
        } else {
            args.parse_threads
        },
    };
    let drain_delay = config.drain_delay;
    // One set of connection slots, one body budget and one parse pool for every listener.
    let shared = Shared::new(app.clone(), config);
    if let Some(mport) = args.metrics_port {
        let maddr = SocketAddr::new(addr.ip(), mport);
        let mlistener = runtime
            .block_on(tokio::net::TcpListener::bind(maddr))
            .with_context(|| format!("cannot listen on {maddr} (--metrics-port)"))?;
        runtime.spawn(serve_metrics(mlistener, shared.clone()));
    }
    // One drain for every listener: readiness turns 503 at the signal, the listeners close
    // after the drain delay.
    let (drained_tx, drained) = tokio::sync::watch::channel(false);
    let drain = drain_on(shutdown_signal(), app.clone(), drain_delay);
    runtime.spawn(async move {
        drain.await;
        let _ = drained_tx.send(true);
    });
    let closed = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|done| *done).await;
    };
    if let Some(gport) = args.grpc_port {
        let gaddr = SocketAddr::new(addr.ip(), gport);
        let glistener = runtime
            .block_on(tokio::net::TcpListener::bind(gaddr))
            .with_context(|| format!("cannot listen on {gaddr} (--grpc-port)"))?;
        runtime.spawn(mlflow_serve::grpc::serve(
            glistener,
            shared.clone(),
            closed(drained.clone()),
        ));
    }
    let server = runtime.spawn(serve(listener, shared, closed(drained)));

    let resolve_opts = args.model.resolve_options()?;
    let model_uri = args.model.uri();
    let followed = follow_reference(&args)?;
    let resolved = runtime
        .block_on(resolve(model_uri, &resolve_opts))
        .map_err(|e| anyhow!("cannot resolve model URI `{model_uri}`: {e}"))?;
    let identity = mlflow_serve::served::ModelIdentity::new(
        args.model_name.as_deref(),
        resolved.name.as_deref(),
        resolved.version.as_deref(),
        &resolved.dir,
    );
    app.set_identity(identity.clone());
    let opts = LoadOptions {
        onnxruntime_lib: args.runtime.libs.onnxruntime_lib.clone(),
        torch_plugin: args.runtime.libs.torch_plugin.clone(),
        workers: args.workers,
        intra_op_threads: args.runtime.threads_per_worker(args.workers),
        queue_capacity: args.max_queue,
        max_batch_rows: args.max_batch_rows,
        max_batch_delay: Duration::from_secs_f64(args.max_batch_delay_ms / 1000.0),
        idle_spin: Duration::from_micros(args.idle_spin_us.unwrap_or(
            if mlflow_serve::cpus::available() >= 2 {
                100
            } else {
                0
            },
        )),
        metrics: Some(metrics.clone()),
        limits: mlflow_serve::payload::Limits {
            cells_per_byte: args.max_cells_per_byte,
            max_tensors: args.max_tensors,
            max_rank: args.max_tensor_rank,
        },
        python: args.runtime.python.options(
            args.compat.env_manager,
            &resolve_opts.cache_dir,
            (args.timeout > 0).then(|| Duration::from_secs(args.timeout)),
        ),
    };
    let model = ServedModel::load(&resolved.dir, &opts)
        .with_context(|| format!("cannot serve model `{model_uri}`"))?;
    metrics.load_seconds.set(started.elapsed().as_secs_f64());
    let uri_label = mlflow_serve::redact::redact(model_uri);
    metrics.set_build_info(
        &uri_label,
        resolved.name.as_deref(),
        resolved.version.as_deref(),
    );
    let warm = Instant::now();
    log_warm_up(&model, args.max_body_bytes);
    metrics.warmup_seconds.set(warm.elapsed().as_secs_f64());
    app.set_ready(Arc::new(ServedVersion { model, identity }));
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "model ready"
    );
    if let Some(reference) = followed {
        let (follower, hints) = Follower::new(
            reference,
            app.slot(),
            metrics.clone(),
            FollowOptions {
                interval: Duration::from_secs_f64(args.follow_interval),
                resolve: resolve_opts.clone(),
                load: opts.clone(),
                model_name: args.model_name.clone(),
                uri_label,
                max_example_bytes: args.max_body_bytes,
                initial_dir: resolved.dir.clone(),
            },
        );
        if let (Some(secret), Some(name)) = (&args.webhook_secret, &resolved.name) {
            app.set_webhook(Receiver::new(
                Verifier::new(
                    &secret.0,
                    Duration::from_secs(args.webhook_max_age),
                    args.webhook_replay_capacity,
                ),
                name,
                hints.clone(),
                args.webhook_max_body_bytes,
            ));
            tracing::info!("accepting signed MLflow webhooks on POST /mlflow/webhook");
        }
        runtime.spawn(hints_on_sighup(hints));
        runtime.spawn(follower.run());
    }
    runtime
        .block_on(server)
        .context("the server task failed")?
        .with_context(|| format!("serving on {addr}"))?;
    Ok(())
}

/// Scores the model's `serving_input_example.json` once, so the first request is warm. At
/// start-up a failure is only logged (MLflow serves such a model too); `--follow` refuses a
/// new version whose warm-up fails.
fn log_warm_up(model: &ServedModel, max_body_bytes: usize) {
    match warm_up(model, max_body_bytes) {
        Ok(WarmUp::Scored) => {
            tracing::info!("warm-up with the serving input example succeeded")
        }
        Ok(WarmUp::NoExample) => {}
        Err(e) => tracing::warn!(error = %e, "warm-up failed"),
    }
}

/// The reference `--follow` follows, checked before anything is downloaded.
fn follow_reference(args: &ServeArgs) -> anyhow::Result<Option<MovingReference>> {
    if !args.follow {
        if args.webhook_secret.is_some() {
            return Err(anyhow!(
                "--webhook-secret is only used with --follow (webhooks make it check the registry at once)"
            ));
        }
        return Ok(None);
    }
    let uri = args.model.uri();
    let reference = MovingReference::parse(uri)
        .map_err(|e| anyhow!("cannot resolve model URI `{uri}`: {e}"))?;
    match reference {
        Some(r) => Ok(Some(r)),
        None => Err(anyhow!(
            "--follow needs a registry reference that can move (models:/<name>@<alias>, models:/<name>/<stage> or models:/<name>/latest); `{uri}` always names the same model"
        )),
    }
}

/// `SIGHUP` makes `--follow` check the registry at once.
async fn hints_on_sighup(hints: Hints) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP");
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: checking the registry now");
            hints.hint(Trigger::Signal);
        }
    }
    #[cfg(not(unix))]
    drop(hints);
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// The image request `build-docker` / `generate-dockerfile` flags stand for.
fn image_request(args: &ImageArgs) -> anyhow::Result<image::Request> {
    Ok(image::Request {
        model_uri: args.model.model_uri.clone(),
        target: args.target,
        base_image: args.base_image.clone(),
        onnxruntime_lib: args.libs.onnxruntime_lib.clone(),
        torch_plugin: args.libs.torch_plugin.clone(),
        libtorch: args.libtorch.clone(),
        resolve: args.model.resolve_options()?,
    })
}

/// Resolves the model and writes the build context, reporting what went in.
fn prepare_context(
    dir: &std::path::Path,
    command: &'static str,
    args: &ImageArgs,
) -> anyhow::Result<image::Prepared> {
    init_logging(LogFormat::Text);
    args.compat.note_ignored();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let prepared = runtime.block_on(image::prepare(dir, command, &image_request(args)?))?;
    let model = match (&args.model.model_uri, &prepared.registered) {
        (Some(uri), Some((name, version))) => format!(
            "model {} (registered model {name}, version {version})",
            mlflow_serve::redact::redact(uri)
        ),
        (Some(uri), None) => format!("model {}", mlflow_serve::redact::redact(uri)),
        (None, _) => "no model (the image serves one mounted at /opt/ml/model)".to_string(),
    };
    eprintln!(
        "mlflow-serve: build context for the {} target with {model} written to {}",
        prepared.target.name(),
        dir.display()
    );
    Ok(prepared)
}

/// `models generate-dockerfile`: the build context only.
fn generate_dockerfile(args: GenerateDockerfileArgs) -> anyhow::Result<()> {
    prepare_context(&args.output_directory, "generate-dockerfile", &args.image)?;
    Ok(())
}

/// `models predict`: resolve and load the model as `serve` does (one session), score the
/// input, write MLflow's answer. A failure is one line with MLflow's message, exit 1.
fn predict(args: PredictArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(predict_workers(&args) + 2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // SIGINT / SIGTERM are caught from the start: each step below is cut at the signal, and
    // dropping it removes what it had written (the partial model download, the downloaded
    // input, the output's temporary file) before the process exits.
    let (tx, interrupted) = tokio::sync::watch::channel(false);
    runtime.spawn(async move {
        shutdown_signal().await;
        let _ = tx.send(true);
    });
    let result = predict_steps(args, &runtime, interrupted);
    // Blocking readers of an interrupted run are not waited for.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// `-w`, or the CPUs (0 = one worker per CPU).
fn predict_workers(args: &PredictArgs) -> usize {
    if args.workers == 0 {
        mlflow_serve::cpus::available().max(1)
    } else {
        args.workers
    }
}

/// Runs `step` on `runtime` unless SIGINT or SIGTERM comes first (then the step is dropped,
/// with everything it holds).
fn interruptible<T>(
    runtime: &tokio::runtime::Runtime,
    interrupted: &tokio::sync::watch::Receiver<bool>,
    step: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let mut signal = interrupted.clone();
    runtime.block_on(async move {
        tokio::select! {
            r = step => r,
            _ = signal.wait_for(|v| *v) => {
                Err(anyhow!("interrupted: partial downloads and outputs removed"))
            }
        }
    })
}

fn predict_steps(
    args: PredictArgs,
    runtime: &tokio::runtime::Runtime,
    interrupted: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    use mlflow_serve::predict;
    let format = predict::InputFormat::parse(&args.content_type)?;
    let workers = predict_workers(&args);
    let resolve_opts = args.model.resolve_options()?;
    let model_uri = args.model.uri();
    let resolved = interruptible(runtime, &interrupted, async {
        resolve(model_uri, &resolve_opts)
            .await
            .map_err(|e| anyhow!("cannot resolve model URI `{model_uri}`: {e}"))
    })?;
    // Chunks in flight: one per worker, one being read and one being written.
    let in_flight = workers + 2;
    let opts = LoadOptions {
        onnxruntime_lib: args.runtime.libs.onnxruntime_lib.clone(),
        torch_plugin: args.runtime.libs.torch_plugin.clone(),
        workers,
        intra_op_threads: args.runtime.threads_per_worker(workers),
        queue_capacity: in_flight * 2,
        // Chunks are batches already: no merging.
        max_batch_rows: 1,
        max_batch_delay: Duration::ZERO,
        idle_spin: Duration::ZERO,
        metrics: None,
        // The user's own file: no expansion limit beyond what the file itself holds.
        limits: mlflow_serve::payload::Limits {
            cells_per_byte: usize::MAX / 4,
            ..Default::default()
        },
        python: args
            .runtime
            .python
            .options(args.compat.env_manager, &resolve_opts.cache_dir, None),
    };
    let model = ServedModel::load(&resolved.dir, &opts)
        .with_context(|| format!("cannot load model `{model_uri}`"))?;
    if *interrupted.borrow() {
        return Err(anyhow!("interrupted"));
    }
    let (input, _download) = match &args.input_path {
        Some(p) if predict::is_remote(p) => {
            let (local, guard) = interruptible(runtime, &interrupted, async {
                let limit = args.max_input_bytes;
                Ok(predict::fetch_input(&p.to_string_lossy(), &resolve_opts, limit).await?)
            })?;
            (Some(local), Some(guard))
        }
        other => (other.clone(), None),
    };
    let options = predict::Options {
        format,
        input,
        input_name: _download
            .as_ref()
            .and(args.input_path.as_ref())
            .map(|p| mlflow_serve::redact::redact(&p.to_string_lossy())),
        output: args.output_path.clone(),
        output_format: args.output_format,
        batch_rows: args.batch_rows,
        in_flight,
        keep_columns: args.keep_columns.clone(),
        on_error: args.on_error,
        shard: args.shard.unwrap_or(predict::Shard::WHOLE),
        quiet: args.quiet,
    };
    let model = Arc::new(model);
    interruptible(runtime, &interrupted, async {
        let result = predict::predict(model, &options).await;
        if let Err(e) = &result {
            if let Some(row) = e.row() {
                eprintln!("mlflow-serve: {row}");
            }
        }
        Ok(result?)
    })
}

/// `models build-docker`: the build context, then `docker build` or `podman build`.
fn build_docker(args: BuildDockerArgs) -> anyhow::Result<()> {
    let engine = image::engine::find(args.container_engine.as_deref())?;
    let tmp;
    let dir = match &args.context_dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir().context("creating a temporary build context")?;
            tmp.path().to_path_buf()
        }
    };
    prepare_context(&dir, "build-docker", &args.image)?;
    eprintln!("mlflow-serve: building image {} with {engine}", args.name);
    image::engine::build(&engine, &args.name, &dir)?;
    eprintln!(
        "mlflow-serve: built {} with {engine}; serve it with `{engine} run -p 8080:8080 {}`",
        args.name, args.name
    );
    Ok(())
}
