//! Prometheus metrics: one registry, the metric set, and the text exposition for `/metrics`.

use std::time::Duration;

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, Opts, Registry, TextEncoder,
};

use crate::batch::BatchEvent;

/// Every metric mlflow-serve exports.
pub struct Metrics {
    registry: Registry,
    /// Requests by route and status code.
    pub requests: IntCounterVec,
    /// Whole-request latency by route.
    pub request_seconds: HistogramVec,
    /// Time requests waited in the inference queue.
    pub queue_seconds: Histogram,
    /// Time per runtime call.
    pub compute_seconds: Histogram,
    /// Time to turn outputs into the response body.
    pub serialize_seconds: Histogram,
    /// Rows per runtime call.
    pub batch_rows: Histogram,
    /// Requests per runtime call.
    pub batch_requests: Histogram,
    /// Requests waiting for a worker (set at scrape time).
    pub queue_depth: IntGauge,
    /// Workers inside a runtime call (read at scrape time).
    pub busy_workers: IntGauge,
    /// Requests being handled.
    pub in_flight: IntGauge,
    /// Seconds spent resolving and loading the model.
    pub load_seconds: Gauge,
    /// Seconds spent on the warm-up request.
    pub warmup_seconds: Gauge,
    /// Runtime calls that panicked (brought up to date at scrape time).
    pub worker_panics: IntCounter,
    /// Python worker processes lost (died, hung past `-t`, over `--worker-memory`) and
    /// restarted (brought up to date at scrape time).
    pub worker_restarts: IntCounter,
    /// Inference threads running (read at scrape time; readiness is 503 at 0).
    pub live_workers: IntGauge,
    /// Bytes of request bodies held now, against `--max-inflight-bytes`.
    pub body_bytes_in_flight: IntGauge,
    /// Large bodies being parsed on the blocking parse pool now (`--parse-threads` at most;
    /// a parse goes on after its client hung up or timed out, and is counted until it ends).
    pub parses_in_flight: IntGauge,
    /// Versions swapped in by `--follow`.
    pub swaps: IntCounter,
    /// New versions refused by `--follow`, by the stage that failed (`resolve`, `download`,
    /// `load`, `warmup`).
    pub swap_failures: IntCounterVec,
    /// Time from seeing a new version to serving it (download, load, warm-up, switch).
    pub swap_seconds: Histogram,
    /// Registry checks of `--follow`, by trigger (`poll`, `retry`, `webhook`, `signal`) and
    /// outcome (`unchanged`, `changed`, `failed`, `backoff`).
    pub registry_checks: IntCounterVec,
    /// Webhook deliveries, by result (`accepted`, `ignored`, `unsigned`, `bad_signature`,
    /// `stale`, `replayed`, `busy`, `malformed`).
    pub webhooks: IntCounterVec,
    build_info: GaugeVec,
}

fn buckets(start: f64, factor: f64, count: usize) -> Vec<f64> {
    prometheus::exponential_buckets(start, factor, count).unwrap_or_default()
}

impl Metrics {
    /// Creates and registers the metric set.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let latency = buckets(0.00005, 2.0, 18); // 50 µs … 6.5 s
        let requests = IntCounterVec::new(
            Opts::new(
                "mlflow_serve_requests_total",
                "Requests by protocol (mlflow, v1, v2, grpc-v2), route (gRPC: method) and status code (gRPC: the HTTP status of the same failure).",
            ),
            &["protocol", "route", "status"],
        )?;
        let request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "mlflow_serve_request_duration_seconds",
                "Time from request head to response, by protocol and route.",
            )
            .buckets(latency.clone()),
            &["protocol", "route"],
        )?;
        let h = |name: &str, help: &str, b: Vec<f64>| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(b))
        };
        let queue_seconds = h(
            "mlflow_serve_queue_duration_seconds",
            "Time a request waited for an inference worker.",
            latency.clone(),
        )?;
        let compute_seconds = h(
            "mlflow_serve_compute_duration_seconds",
            "Time per runtime call (one batch).",
            latency.clone(),
        )?;
        let serialize_seconds = h(
            "mlflow_serve_serialize_duration_seconds",
            "Time to write the predictions body.",
            latency,
        )?;
        let batch_rows = h(
            "mlflow_serve_batch_rows",
            "Rows per runtime call.",
            buckets(1.0, 2.0, 14),
        )?;
        let batch_requests = h(
            "mlflow_serve_batch_requests",
            "Requests merged into one runtime call.",
            buckets(1.0, 2.0, 10),
        )?;
        let queue_depth = IntGauge::new(
            "mlflow_serve_queue_depth",
            "Requests waiting for an inference worker.",
        )?;
        let in_flight =
            IntGauge::new("mlflow_serve_in_flight_requests", "Requests being handled.")?;
        let busy_workers = IntGauge::new(
            "mlflow_serve_busy_workers",
            "Inference workers running a model call (saturation: equal to --workers).",
        )?;
        let load_seconds = Gauge::new(
            "mlflow_serve_model_load_seconds",
            "Seconds spent resolving and loading the model.",
        )?;
        let warmup_seconds = Gauge::new(
            "mlflow_serve_model_warmup_seconds",
            "Seconds spent scoring the warm-up example.",
        )?;
        let worker_panics = IntCounter::new(
            "mlflow_serve_worker_panics_total",
            "Runtime calls that panicked; their requests got 500 and the worker went on.",
        )?;
        let worker_restarts = IntCounter::new(
            "mlflow_serve_worker_restarts_total",
            "Python worker processes lost (died, hung past -t, over --worker-memory) and restarted; their requests in flight got 500 or 504.",
        )?;
        let live_workers = IntGauge::new(
            "mlflow_serve_live_workers",
            "Inference threads running (readiness is 503 when none is left).",
        )?;
        let body_bytes_in_flight = IntGauge::new(
            "mlflow_serve_body_bytes_in_flight",
            "Bytes of request bodies held now (limit: --max-inflight-bytes).",
        )?;
        let parses_in_flight = IntGauge::new(
            "mlflow_serve_parses_in_flight",
            "Large bodies being parsed on the blocking parse pool now (limit: --parse-threads).",
        )?;
        let build_info = GaugeVec::new(
            Opts::new(
                "mlflow_serve_build_info",
                "Build and model information (always 1).",
            ),
            &[
                "version",
                "mlflow_protocol",
                "model_uri",
                "model_name",
                "model_version",
            ],
        )?;
        let swaps = IntCounter::new(
            "mlflow_serve_model_swaps_total",
            "New model versions swapped in by --follow.",
        )?;
        let swap_failures = IntCounterVec::new(
            Opts::new(
                "mlflow_serve_model_swap_failures_total",
                "New model versions refused by --follow (the served one stays), by the stage that failed: resolve, download, load, warmup.",
            ),
            &["stage"],
        )?;
        let swap_seconds = h(
            "mlflow_serve_model_swap_duration_seconds",
            "Time from seeing a new registry version to serving it (download, load, warm-up, switch).",
            buckets(0.05, 2.0, 14),
        )?;
        let registry_checks = IntCounterVec::new(
            Opts::new(
                "mlflow_serve_registry_checks_total",
                "Registry checks of --follow, by trigger (poll, retry, webhook, signal) and outcome (unchanged, changed, failed, backoff).",
            ),
            &["trigger", "outcome"],
        )?;
        let webhooks = IntCounterVec::new(
            Opts::new(
                "mlflow_serve_webhooks_total",
                "MLflow webhook deliveries, by result (accepted, ignored, unsigned, bad_signature, stale, replayed, busy, malformed).",
            ),
            &["result"],
        )?;
        for c in [
            Box::new(swaps.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(swap_failures.clone()),
            Box::new(swap_seconds.clone()),
            Box::new(registry_checks.clone()),
            Box::new(webhooks.clone()),
            Box::new(requests.clone()),
            Box::new(request_seconds.clone()),
            Box::new(queue_seconds.clone()),
            Box::new(compute_seconds.clone()),
            Box::new(serialize_seconds.clone()),
            Box::new(batch_rows.clone()),
            Box::new(batch_requests.clone()),
            Box::new(queue_depth.clone()),
            Box::new(in_flight.clone()),
            Box::new(busy_workers.clone()),
            Box::new(load_seconds.clone()),
            Box::new(warmup_seconds.clone()),
            Box::new(worker_panics.clone()),
            Box::new(worker_restarts.clone()),
            Box::new(live_workers.clone()),
            Box::new(body_bytes_in_flight.clone()),
            Box::new(parses_in_flight.clone()),
            Box::new(build_info.clone()),
        ] {
            registry.register(c)?;
        }
        Ok(Metrics {
            registry,
            requests,
            request_seconds,
            queue_seconds,
            compute_seconds,
            serialize_seconds,
            batch_rows,
            batch_requests,
            queue_depth,
            in_flight,
            busy_workers,
            load_seconds,
            warmup_seconds,
            worker_panics,
            worker_restarts,
            live_workers,
            body_bytes_in_flight,
            parses_in_flight,
            swaps,
            swap_failures,
            swap_seconds,
            registry_checks,
            webhooks,
            build_info,
        })
    }

    /// Records what the model being served is (one series: a swap replaces it).
    pub fn set_build_info(&self, model_uri: &str, name: Option<&str>, version: Option<&str>) {
        self.build_info.reset();
        self.build_info
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                crate::MLFLOW_VERSION,
                model_uri,
                name.unwrap_or(""),
                version.unwrap_or(""),
            ])
            .set(1.0);
    }

    /// Records one runtime call.
    pub fn observe_batch(&self, e: &BatchEvent) {
        self.compute_seconds.observe(e.compute.as_secs_f64());
        self.batch_rows.observe(e.rows as f64);
        self.batch_requests.observe(e.requests as f64);
        for w in &e.queue_waits {
            self.queue_seconds.observe(w.as_secs_f64());
        }
    }

    /// Records one finished request.
    pub fn observe_request(&self, protocol: &str, route: &str, status: u16, took: Duration) {
        self.requests
            .with_label_values(&[protocol, route, &status.to_string()])
            .inc();
        self.request_seconds
            .with_label_values(&[protocol, route])
            .observe(took.as_secs_f64());
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        out
    }
}
