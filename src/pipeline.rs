//! The served model and its scoring pipeline, composed: payload → enforcement → flavor
//! feeds → worker pool → flavor predictions → bytes. Each step lives in its own module; this
//! one only wires them, and warms a loaded model up with its serving input example. Used by
//! both front ends (through `server`), by `models predict`, `--follow` and the benches.

use std::path::Path;

use runtime_api::{IoSpec, OutputValue};

use crate::batch::{BatchConfig, PoolError, WorkerPool};
use crate::enforce;
use crate::error::ServeError;
use crate::flavor::{self, Flavor, InputKind, Predictions, RuntimeOptions};
use crate::model::{LoadError, MlModel};
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
    /// How Python workers start (models without a native runtime).
    pub python: flavor::python::PythonOptions,
}

/// A loaded model with its worker pool.
pub struct ServedModel {
    /// The parsed MLmodel.
    pub mlmodel: MlModel,
    /// Graph inputs.
    pub inputs: Vec<IoSpec>,
    /// Graph outputs.
    pub outputs: Vec<IoSpec>,
    flavor: Box<dyn Flavor>,
    pool: WorkerPool,
    processes: Option<std::sync::Arc<runtime_python::Health>>,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    limits: payload::Limits,
}

/// The work done before inference: parse, enforce, build feeds.
pub struct Prepared {
    feeds: flavor::Feeds,
    kind: InputKind,
    unwrapped: bool,
}

impl ServedModel {
    /// Loads `dir` and starts `opts.workers` runtime sessions for its flavor.
    pub fn load(dir: &Path, opts: &LoadOptions) -> Result<ServedModel, LoadError> {
        let mlmodel = MlModel::load(dir)?;
        let flavor::Loaded {
            flavor,
            runtimes,
            inputs,
            outputs,
            batchable,
            processes,
        } = flavor::load(
            &mlmodel,
            &RuntimeOptions {
                onnxruntime_lib: opts.onnxruntime_lib.clone(),
                torch_plugin: opts.torch_plugin.clone(),
                workers: opts.workers,
                intra_op_threads: opts.intra_op_threads,
                python: opts.python.clone(),
            },
        )?;
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
            flavor,
            pool,
            processes,
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
        self.prepare_input(input, params, format == BodyFormat::Json, unwrapped)
    }

    /// Parses and enforces a body as `mlflow models predict` reads its input file: JSON as the
    /// scoring server reads it; CSV with pandas' own type inference (`parse_csv_input` gets no
    /// schema there), the signature applied at predict time only.
    pub fn prepare_offline(&self, format: BodyFormat, body: &[u8]) -> Result<Prepared, ServeError> {
        self.prepare_offline_inspect(format, body, |_| ())
    }

    /// [`prepare_offline`](Self::prepare_offline), showing the parsed input to `inspect`
    /// before enforcement consumes it (`models predict --keep-columns` copies columns there).
    pub fn prepare_offline_inspect(
        &self,
        format: BodyFormat,
        body: &[u8],
        inspect: impl FnOnce(&payload::Input),
    ) -> Result<Prepared, ServeError> {
        let sig = &self.mlmodel.signature;
        match format {
            BodyFormat::Json => return self.prepare_offline_json(body, inspect),
            BodyFormat::Parquet => {
                let request = payload::parse(
                    format,
                    body,
                    sig.inputs.as_ref(),
                    sig.params.as_deref(),
                    &self.limits,
                )?;
                inspect(&request.input);
                return self.prepare_input(request.input, request.params, false, false);
            }
            BodyFormat::Csv => {}
        }
        if let Err(e) = std::str::from_utf8(body) {
            // pandas decodes field by field: the position is within the field.
            let at = e.valid_up_to();
            let field = body[..at]
                .iter()
                .rposition(|b| matches!(b, b',' | b'\n' | b'\r'))
                .map_or(0, |i| i + 1);
            let end = body[at..]
                .iter()
                .position(|b| matches!(b, b',' | b'\n' | b'\r'))
                .map_or(body.len(), |i| at + i);
            let e = std::str::from_utf8(&body[field..end]).err().unwrap_or(e);
            return Err(payload::csv::fail(crate::pyjson::unicode_error_str(
                &body[field..end],
                &e,
            ))
            .into());
        }
        let Request {
            input,
            params,
            unwrapped,
        } = payload::parse(format, body, None, sig.params.as_deref(), &self.limits)?;
        inspect(&input);
        self.prepare_input(input, params, false, unwrapped)
    }

    /// `mlflow models predict -t json`: the file is read as UTF-8 text (a byte that is not
    /// UTF-8 raises `UnicodeDecodeError` before any JSON is looked at; a BOM stays a
    /// character, which `json.loads` refuses), and a decoding error shows the text itself.
    fn prepare_offline_json(
        &self,
        body: &[u8],
        inspect: impl FnOnce(&payload::Input),
    ) -> Result<Prepared, ServeError> {
        let text = std::str::from_utf8(body).map_err(|e| {
            payload::PayloadError::BadRequest(crate::pyjson::unicode_error_str(body, &e))
        })?;
        let bad_json = |error: &str| {
            payload::PayloadError::InvalidInput(format!(
                "Ensure that input is a valid JSON formatted string. Error: 'JSONDecodeError({})'\nInput: \n{text}\n",
                crate::pyjson::str_repr(error)
            ))
        };
        if text.starts_with('\u{feff}') {
            return Err(bad_json(
                "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)",
            )
            .into());
        }
        let sig = &self.mlmodel.signature;
        let prepared = payload::parse(
            BodyFormat::Json,
            body,
            sig.inputs.as_ref(),
            sig.params.as_deref(),
            &self.limits,
        )
        .map_err(ServeError::from)
        .and_then(|request| {
            inspect(&request.input);
            self.prepare_input(request.input, request.params, true, request.unwrapped)
        });
        prepared.map_err(|e| match e {
            // The scoring server shows the body's bytes; offline, MLflow shows the text.
            ServeError::Payload(payload::PayloadError::InvalidInput(m)) => {
                let served = format!("\nInput: \n{}\n", crate::pyjson::bytes_repr(body));
                match m.strip_suffix(&served) {
                    Some(head) => ServeError::Payload(payload::PayloadError::InvalidInput(
                        format!("{head}\nInput: \n{text}\n"),
                    )),
                    None => ServeError::Payload(payload::PayloadError::InvalidInput(m)),
                }
            }
            other => other,
        })
    }

    /// Enforces an already decoded input (a V2 request's, for one) and builds the feeds.
    /// `parse_cast` applies MLflow's parse-time cast of JSON dataframes first.
    pub fn prepare_input(
        &self,
        input: payload::Input,
        params: Option<crate::pyjson::Cell>,
        parse_cast: bool,
        unwrapped: bool,
    ) -> Result<Prepared, ServeError> {
        let sig = &self.mlmodel.signature;
        let (enforced, params) = enforce::enforce(
            input,
            sig.inputs.as_ref(),
            parse_cast,
            params,
            sig.params.as_deref(),
        )?;
        let kind = InputKind::of(&enforced);
        let feeds = self.flavor.feeds(enforced, params)?;
        Ok(Prepared {
            feeds,
            kind,
            unwrapped,
        })
    }

    /// The bounds on what one request may cost while it is decoded.
    pub fn limits(&self) -> &payload::Limits {
        &self.limits
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

    /// Inference workers able to serve: threads still running, and for a model run in
    /// worker processes, those whose process is up.
    pub fn live_workers(&self) -> usize {
        let threads = self.pool.live_workers();
        match &self.processes {
            Some(h) => threads.min(h.live()),
            None => threads,
        }
    }

    /// Worker processes lost (died, hung, over memory) and restarted since start.
    pub fn worker_restarts(&self) -> u64 {
        self.processes.as_ref().map_or(0, |h| h.restarts())
    }

    /// Runtime calls that panicked since start.
    pub fn panics(&self) -> u64 {
        self.pool.panics()
    }

    /// Runs a prepared request on the worker pool and serializes MLflow's answer.
    pub async fn run(&self, prepared: Prepared) -> Result<Vec<u8>, ServeError> {
        let (predictions, unwrapped) = self.predict(prepared).await?;
        Ok(self.serialize(|| predictions.to_body(unwrapped)))
    }

    /// Runs a prepared request on the worker pool: MLflow's predictions, and whether the
    /// request was a unified-LLM payload (answered without the `predictions` wrapper).
    pub async fn predict(&self, prepared: Prepared) -> Result<(Predictions, bool), ServeError> {
        let Prepared {
            feeds,
            kind,
            unwrapped,
        } = prepared;
        let outputs = self
            .pool
            .run_with_params(feeds.tensors, feeds.params)
            .await
            .map_err(|e| self.pool_error(e))?;
        Ok((self.flavor.predictions(outputs, kind)?, unwrapped))
    }

    /// Runs `write` (turning predictions into bytes), timed in the serialization metric.
    pub fn serialize<T>(&self, write: impl FnOnce() -> T) -> T {
        let started = std::time::Instant::now();
        let out = write();
        if let Some(m) = &self.metrics {
            m.serialize_seconds.observe(started.elapsed().as_secs_f64());
        }
        out
    }

    /// The whole pipeline, blocking (warm-up and tools; never call from async code).
    pub fn predict_blocking(
        &self,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<u8>, ServeError> {
        let prepared = self.prepare(content_type, body)?;
        self.run_blocking(prepared)
    }

    /// Runs a prepared request from a non-async thread and serializes MLflow's answer.
    pub fn run_blocking(&self, prepared: Prepared) -> Result<Vec<u8>, ServeError> {
        let Prepared {
            feeds,
            kind,
            unwrapped,
        } = prepared;
        let outputs = self
            .pool
            .run_blocking(feeds.tensors, feeds.params)
            .map_err(|e| self.pool_error(e))?;
        self.finish(outputs, kind, unwrapped)
    }

    fn pool_error(&self, e: PoolError) -> ServeError {
        match e {
            PoolError::Runtime(
                r @ (runtime_api::RuntimeError::Panicked(_)
                | runtime_api::RuntimeError::WorkerLost(_)),
            ) => ServeError::Internal(r.to_string()),
            PoolError::Runtime(r) => ServeError::Flavor(self.flavor.runtime_error(r)),
            other => ServeError::Pool(other),
        }
    }

    fn finish(
        &self,
        outputs: Vec<(String, OutputValue)>,
        kind: InputKind,
        unwrapped: bool,
    ) -> Result<Vec<u8>, ServeError> {
        Ok(self.flavor.predictions(outputs, kind)?.to_body(unwrapped))
    }
}
/// How a warm-up went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarmUp {
    /// The serving input example was scored.
    Scored,
    /// The model has no serving input example.
    NoExample,
}

/// Scores the model's `serving_input_example.json` once, so that its first request is warm
/// (read with the request body limit). The error names the failure's kind only: messages
/// quote the data, which never reaches the logs.
pub fn warm_up(model: &ServedModel, max_example_bytes: usize) -> Result<WarmUp, String> {
    let Some(path) = model.mlmodel.serving_example_path() else {
        return Ok(WarmUp::NoExample);
    };
    let body = crate::model::mlmodel::read_bounded(&path, max_example_bytes as u64)
        .map_err(|e| format!("cannot read the serving input example: {e}"))?;
    model
        .predict_blocking(Some("application/json"), &body)
        .map(|_| WarmUp::Scored)
        .map_err(|e| {
            format!(
                "scoring the serving input example failed ({}; its content is not logged)",
                e.label()
            )
        })
}
