//! `--follow` against real registries made and changed by real MLflow 3.17.2's client
//! (`tests/registry/registry_ops.py`): a real `mlflow server` (SQLite backend, proxied
//! artifacts) with polling and with MLflow's own signed webhooks, a SQLite store with polling
//! and `SIGHUP`, and a file store. Every registered version predicts 10 × its number more than
//! the last, so each answer tells which version served it; under steady load every request
//! must succeed, and answers must switch from the old version to the new one and never back.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::stores::{first_prediction, mlflow_server, python, work_dir, QUICKSTART_BODY};
use common::{free_port, http};
use hmac::{KeyInit, Mac};

/// The registered version a prediction of the quick-start row comes from (`make_stores.py`
/// shifts version v's target by 10 × v; the quick-start row predicts 5.6275 + shift).
fn version_of(prediction: f64) -> u32 {
    ((prediction - 5.6275) / 10.0).round() as u32
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Runs a registry operation with MLflow's client in `dir` (where a store without an
/// artifact root puts `./mlruns`); its JSON line.
fn registry(dir: &Path, op: &[&str], envs: &[(&str, &str)]) -> serde_json::Value {
    let out = Command::new(python())
        .arg(common::root().join("tests/registry/registry_ops.py"))
        .args(op)
        .current_dir(dir)
        .envs(envs.iter().copied())
        .output()
        .expect("run registry_ops.py");
    assert!(
        out.status.success(),
        "registry_ops.py {op:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("one JSON line")
}

/// A running `mlflow-serve models serve --follow …`, its log collected.
struct Follower {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Follower {
    fn start(uri: &str, cwd: &Path, envs: &[(&str, &str)], extra: &[&str]) -> Follower {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlflow-serve"));
        cmd.args([
            "models",
            "serve",
            "-m",
            uri,
            "-p",
            &port.to_string(),
            "--follow",
        ])
        .args(extra)
        .current_dir(cwd)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env("MLFLOW_SERVE_MODEL_CACHE", cwd.join("model-cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        for (k, _) in std::env::vars() {
            if k.starts_with("MLFLOW_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(envs.iter().copied());
        let mut child = cmd.spawn().expect("spawn mlflow-serve");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let mut f = Follower { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(r) = http(port, "GET", "/ping", &[], b"") {
                if r.status == 200 {
                    return f;
                }
            }
            if let Ok(Some(st)) = f.child.try_wait() {
                panic!("mlflow-serve exited ({st}):\n{}", f.log());
            }
            assert!(Instant::now() < deadline, "not ready:\n{}", f.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The version answering now (from the prediction), checked against the header.
    fn serving(&self) -> u32 {
        let r = score(self.port);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = version_of(first_prediction(&r.body));
        assert_eq!(
            r.header("x-mlflow-model-version"),
            Some(v.to_string().as_str())
        );
        v
    }

    fn metrics(&self) -> String {
        String::from_utf8(http(self.port, "GET", "/metrics", &[], b"").unwrap().body).unwrap()
    }

    fn wait_for_log(&self, needle: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no `{needle}` in the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn score(port: u16) -> common::HttpResponse {
    http(
        port,
        "POST",
        "/invocations",
        &[("Content-Type", "application/json")],
        QUICKSTART_BODY.as_bytes(),
    )
    .expect("invocations")
}

/// One request of the steady load.
#[derive(Debug, Clone)]
struct Sample {
    /// Unix time at which the answer arrived.
    done: f64,
    latency: Duration,
    status: u16,
    /// Version by prediction; 0 for a failed request.
    version: u32,
    /// Version by the response header.
    header: Option<String>,
    /// Whether readiness answered 200 just before.
    ready: bool,
}

/// Steady load: `threads` clients, each scoring in a loop (with a readiness probe between
/// requests), until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Vec<Sample>>>,
}

impl Load {
    fn start(port: u16, threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut out = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let ready =
                            http(port, "GET", "/ping", &[], b"").is_ok_and(|r| r.status == 200);
                        let t = Instant::now();
                        let r = score(port);
                        let version = if r.status == 200 {
                            version_of(first_prediction(&r.body))
                        } else {
                            0
                        };
                        out.push(Sample {
                            done: now(),
                            latency: t.elapsed(),
                            status: r.status,
                            version,
                            header: r.header("x-mlflow-model-version").map(str::to_string),
                            ready,
                        });
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    out
                })
            })
            .collect();
        Load { stop, threads }
    }

    fn finish(self) -> Vec<Vec<Sample>> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .map(|t| t.join().expect("load thread"))
            .collect()
    }
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Asserts the load went from `old` to `new` with every request answered and ready, and
/// returns the time from `moved_at` to the first answer of `new` (printing latencies before
/// and around the swap, for the README).
fn check_switch(what: &str, per_thread: &[Vec<Sample>], old: u32, new: u32, moved_at: f64) -> f64 {
    let all: Vec<&Sample> = per_thread.iter().flatten().collect();
    assert!(all.len() > 50, "{what}: only {} requests", all.len());
    for s in &all {
        assert_eq!(s.status, 200, "{what}: a request failed: {s:?}");
        assert!(s.ready, "{what}: readiness was not 200: {s:?}");
        assert_eq!(
            s.header.as_deref(),
            Some(s.version.to_string().as_str()),
            "{what}: {s:?}"
        );
        assert!(
            s.version == old || s.version == new,
            "{what}: unexpected version {s:?}"
        );
    }
    for t in per_thread {
        // Never back: once a client has seen the new version, it only sees the new one.
        let first_new = t.iter().position(|s| s.version == new);
        if let Some(i) = first_new {
            assert!(
                t[i..].iter().all(|s| s.version == new),
                "{what}: answers went back to version {old}"
            );
        }
    }
    let first_new = all
        .iter()
        .filter(|s| s.version == new)
        .map(|s| s.done)
        .fold(f64::INFINITY, f64::min);
    assert!(
        first_new.is_finite(),
        "{what}: version {new} never answered"
    );
    let last_old = all
        .iter()
        .filter(|s| s.version == old)
        .map(|s| s.done)
        .fold(0.0, f64::max);
    let before: Vec<Duration> = all
        .iter()
        .filter(|s| s.done < moved_at)
        .map(|s| s.latency)
        .collect();
    let around: Vec<Duration> = all
        .iter()
        .filter(|s| s.done >= first_new - 1.0 && s.done <= first_new + 1.0)
        .map(|s| s.latency)
        .collect();
    eprintln!(
        "{what}: {} requests, all 200; alias move -> first answer of v{new}: {:.2} s (last v{old} answer {:.3} s after the first v{new}); latency p50/p99 before {:?}/{:?}, within 1 s of the swap {:?}/{:?}",
        all.len(),
        first_new - moved_at,
        last_old - first_new,
        percentile(before.clone(), 0.5),
        percentile(before, 0.99),
        percentile(around.clone(), 0.5),
        percentile(around, 0.99),
    );
    first_new - moved_at
}

/// Lets the load run until `new` answers (or `secs` pass), then one more second.
fn until_serving(port: u16, new: u32, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = score(port);
        if r.status == 200 && version_of(first_prediction(&r.body)) == new {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "version {new} not served in {secs} s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
}

/// The value of the sample named exactly `name` (with its labels); a sample missing from the
/// exposition fails the test (so "stays 0" cannot pass on a metric that disappeared).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in /metrics:\n{text}"))
}

/// A webhook delivery signed as MLflow signs it.
fn signed(secret: &str, id: &str, ts: &str, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Sends a delivery's headers declaring `declared` body bytes, sends no body, and reads the
/// status: the server must answer from the headers alone.
fn headers_only(port: u16, headers: &[(&str, &str)], declared: usize) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "POST /mlflow/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

fn deliver(port: u16, headers: &[(&str, &str)], body: &str) -> common::HttpResponse {
    let mut h = vec![("Content-Type", "application/json")];
    h.extend_from_slice(headers);
    http(port, "POST", "/mlflow/webhook", &h, body.as_bytes()).expect("webhook")
}

#[test]
fn follows_a_real_mlflow_server_by_polling_and_by_its_webhooks() {
    let dir = work_dir("follow-server");
    let server = mlflow_server(
        &dir,
        &[
            ("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true"),
            // mlflow-serve speaks plain HTTP (TLS is the ingress's job); MLflow allows only
            // https webhook URLs unless told otherwise.
            ("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "https,http"),
            // Webhook subscriptions are cached per event; the test subscribes after events.
            ("MLFLOW_WEBHOOK_CACHE_TTL", "1"),
        ],
        &[],
    );
    let uri = format!("http://127.0.0.1:{}", server.port);
    let env = [("MLFLOW_TRACKING_URI", uri.as_str())];
    registry(&dir, &["build", &uri], &[]);

    // Polling: the alias moves from v3 to v4 under load.
    let f = Follower::start(
        "models:/wine-quality@champion",
        &dir,
        &env,
        &["--follow-interval", "1"],
    );
    assert_eq!(f.serving(), 3);
    let load = Load::start(f.port, 3);
    std::thread::sleep(Duration::from_secs(2));
    let moved = registry(
        &dir,
        &["set-alias", &uri, "wine-quality", "champion", "4"],
        &[],
    );
    until_serving(f.port, 4, 30);
    let took = check_switch(
        "mlflow server, polling every 1 s",
        &load.finish(),
        3,
        4,
        moved["at"].as_f64().unwrap(),
    );
    assert!(took < 20.0, "swap took {took} s");
    f.wait_for_log("was freed version=3", 10);
    let m = f.metrics();
    assert_eq!(metric(&m, "mlflow_serve_model_swaps_total"), 1.0, "{m}");
    assert!(m.contains("model_name=\"wine-quality\",model_uri=\"models:/wine-quality@champion\",model_version=\"4\""), "{m}");

    // A broken version (its model.onnx is garbage) is refused; v4 keeps serving.
    let broken = registry(&dir, &["broken", &uri, "wine-quality"], &[]);
    let broken = broken["version"].as_str().unwrap().to_string();
    let load = Load::start(f.port, 2);
    registry(
        &dir,
        &["set-alias", &uri, "wine-quality", "champion", &broken],
        &[],
    );
    f.wait_for_log("the new version cannot be served", 30);
    std::thread::sleep(Duration::from_secs(2));
    let samples = load.finish();
    assert!(samples
        .iter()
        .flatten()
        .all(|s| s.status == 200 && s.ready && s.version == 4));
    assert!(
        metric(
            &f.metrics(),
            "mlflow_serve_model_swap_failures_total{stage=\"load\"}"
        ) >= 1.0
    );
    assert_eq!(f.serving(), 4);

    // A deleted alias keeps the last version, with a warning.
    registry(
        &dir,
        &["delete-alias", &uri, "wine-quality", "champion"],
        &[],
    );
    f.wait_for_log("names no version now", 30);
    assert_eq!(f.serving(), 4);

    // A second swap (4 -> 2): the download of v3, served two versions ago, is removed from
    // the model cache; the current and the previous version's stay.
    let entries = |f: &Follower| {
        std::fs::read_dir(dir.join("model-cache"))
            .map(|d| {
                d.filter(|e| {
                    !e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with('.')
                })
                .count()
            })
            .unwrap_or_else(|e| panic!("{e}\n{}", f.log()))
    };
    let before = entries(&f);
    registry(
        &dir,
        &["set-alias", &uri, "wine-quality", "champion", "2"],
        &[],
    );
    until_serving(f.port, 2, 30);
    f.wait_for_log("removed the download of a version no longer served", 10);
    assert_eq!(entries(&f), before, "one download in (v2), one out (v3)");
    drop(f);

    // Webhooks: no polling at all; MLflow's own delivery makes the swap.
    registry(
        &dir,
        &["set-alias", &uri, "wine-quality", "champion", "3"],
        &[],
    );
    let secret = "s3cret-for-tests";
    let f = Follower::start(
        "models:/wine-quality@champion",
        &dir,
        &env,
        &["--follow-interval", "0", "--webhook-secret", secret],
    );
    assert_eq!(f.serving(), 3);
    assert!(!f.log().contains(secret), "the secret reached the log");

    // Refusals first: they change nothing.
    let body = r#"{"entity": "model_version_alias", "action": "created", "timestamp": "2026-12-01T00:00:00+00:00", "data": {"name": "wine-quality", "alias": "champion", "version": "4"}}"#;
    let ts = (now() as u64).to_string();
    let r = deliver(f.port, &[], body);
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    let wrong = signed("not-the-secret", "d-1", &ts, body);
    let r = deliver(
        f.port,
        &[
            ("X-MLflow-Signature", &wrong),
            ("X-MLflow-Timestamp", &ts),
            ("X-MLflow-Delivery-Id", "d-1"),
        ],
        body,
    );
    assert_eq!(r.status, 401);
    assert!(String::from_utf8_lossy(&r.body).contains("UNAUTHENTICATED"));
    let old_ts = (now() as u64 - 3600).to_string();
    let stale = signed(secret, "d-0", &old_ts, body);
    let r = deliver(
        f.port,
        &[
            ("X-MLflow-Signature", &stale),
            ("X-MLflow-Timestamp", &old_ts),
            ("X-MLflow-Delivery-Id", "d-0"),
        ],
        body,
    );
    assert_eq!(r.status, 401);
    // A valid delivery is a hint only: the store still says v3, so nothing changes; the
    // same delivery again is a replay.
    let good = signed(secret, "d-2", &ts, body);
    let headers = [
        ("X-MLflow-Signature", good.as_str()),
        ("X-MLflow-Timestamp", ts.as_str()),
        ("X-MLflow-Delivery-Id", "d-2"),
    ];
    assert_eq!(deliver(f.port, &headers, body).status, 200);
    assert_eq!(deliver(f.port, &headers, body).status, 409);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(f.serving(), 3);
    let m = f.metrics();
    assert_eq!(metric(&m, "mlflow_serve_model_swaps_total"), 0.0);
    assert_eq!(
        metric(&m, "mlflow_serve_webhooks_total{result=\"replayed\"}"),
        1.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, "mlflow_serve_webhooks_total{result=\"bad_signature\"}"),
        1.0
    );
    assert_eq!(
        metric(&m, "mlflow_serve_webhooks_total{result=\"stale\"}"),
        1.0
    );
    assert_eq!(
        metric(&m, "mlflow_serve_webhooks_total{result=\"unsigned\"}"),
        1.0
    );
    // Hostile deliveries cost their headers only: 8 000 signature tokens are refused from the
    // headers (once 8 000 hashes of the body on the async workers), a body declared past
    // --webhook-max-body-bytes gets 413; both answer before any body byte is sent.
    let tokens = vec!["v1,AAAA"; 8000].join(" ");
    let started = std::time::Instant::now();
    let status = headers_only(
        f.port,
        &[
            ("X-MLflow-Signature", tokens.as_str()),
            ("X-MLflow-Timestamp", ts.as_str()),
            ("X-MLflow-Delivery-Id", "d-9"),
        ],
        1 << 20,
    );
    assert_eq!(status, 401);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let sig = signed(secret, "d-10", &ts, "{}");
    let status = headers_only(
        f.port,
        &[
            ("X-MLflow-Signature", sig.as_str()),
            ("X-MLflow-Timestamp", ts.as_str()),
            ("X-MLflow-Delivery-Id", "d-10"),
        ],
        1 << 20,
    );
    assert_eq!(status, 413);

    registry(
        &dir,
        &[
            "webhook",
            &uri,
            &format!("http://127.0.0.1:{}/mlflow/webhook", f.port),
            secret,
        ],
        &[],
    );
    std::thread::sleep(Duration::from_secs(2)); // past MLflow's subscription cache
    let load = Load::start(f.port, 3);
    std::thread::sleep(Duration::from_secs(2));
    let moved = registry(
        &dir,
        &["set-alias", &uri, "wine-quality", "champion", "4"],
        &[],
    );
    until_serving(f.port, 4, 30);
    let took = check_switch(
        "mlflow server, webhook (no polling)",
        &load.finish(),
        3,
        4,
        moved["at"].as_f64().unwrap(),
    );
    assert!(took < 15.0, "swap took {took} s");
    let m = f.metrics();
    assert!(
        metric(&m, "mlflow_serve_webhooks_total{result=\"accepted\"}") >= 2.0,
        "{m}"
    );
    assert!(
        m.contains("mlflow_serve_registry_checks_total{outcome=\"changed\",trigger=\"webhook\"} 1"),
        "{m}"
    );
}

fn sqlite_store() -> (common::stores::WorkDir, String) {
    let dir = work_dir("follow-sqlite");
    let db = format!("sqlite:///{}", dir.join("mlflow.db").display());
    registry(&dir, &["build", &db], &[]);
    (dir, db)
}

#[test]
fn follows_a_sqlite_store_by_polling_and_on_sighup() {
    let (dir, db) = sqlite_store();
    let env = [("MLFLOW_TRACKING_URI", db.as_str())];

    // A stage: Staging's latest version is v4; moving v5 into Staging makes it v5.
    let f = Follower::start(
        "models:/wine-quality/Staging",
        &dir,
        &env,
        &["--follow-interval", "1"],
    );
    assert_eq!(f.serving(), 4);
    let load = Load::start(f.port, 3);
    std::thread::sleep(Duration::from_secs(2));
    let moved = registry(&dir, &["stage", &db, "wine-quality", "5", "Staging"], &[]);
    until_serving(f.port, 5, 30);
    check_switch(
        "sqlite store, stage, polling every 1 s",
        &load.finish(),
        4,
        5,
        moved["at"].as_f64().unwrap(),
    );
    drop(f);

    // `latest` with polling off in practice: SIGHUP makes it look now.
    let f = Follower::start(
        "models:/wine-quality/latest",
        &dir,
        &env,
        &["--follow-interval", "3600"],
    );
    assert_eq!(f.serving(), 5);
    let added = registry(&dir, &["new-version", &db, "wine-quality", "70"], &[]);
    assert_eq!(added["version"], "7");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(f.serving(), 5, "no poll within the interval");
    let load = Load::start(f.port, 2);
    std::thread::sleep(Duration::from_secs(1));
    let at = now();
    let status = Command::new("kill")
        .args(["-HUP", &f.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    until_serving(f.port, 7, 30);
    let took = check_switch("sqlite store, latest, SIGHUP", &load.finish(), 5, 7, at);
    assert!(took < 10.0, "swap took {took} s");
    f.wait_for_log("SIGHUP: checking the registry now", 5);
    assert!(f
        .metrics()
        .contains("mlflow_serve_registry_checks_total{outcome=\"changed\",trigger=\"signal\"} 1"));
}

#[test]
fn follows_a_file_store_by_polling_and_refuses_a_fixed_version() {
    let dir = work_dir("follow-file");
    let uri = format!("file://{}", dir.join("mlruns").display());
    let allow = [("MLFLOW_ALLOW_FILE_STORE", "true")];
    registry(&dir, &["build", &uri], &allow);
    let env = [
        ("MLFLOW_TRACKING_URI", uri.as_str()),
        ("MLFLOW_ALLOW_FILE_STORE", "true"),
    ];

    let f = Follower::start(
        "models:/wine-quality@champion",
        &dir,
        &env,
        &["--follow-interval", "1"],
    );
    assert_eq!(f.serving(), 3);
    let load = Load::start(f.port, 3);
    std::thread::sleep(Duration::from_secs(2));
    let moved = registry(
        &dir,
        &["set-alias", &uri, "wine-quality", "champion", "4"],
        &allow,
    );
    until_serving(f.port, 4, 30);
    check_switch(
        "file store, polling every 1 s",
        &load.finish(),
        3,
        4,
        moved["at"].as_f64().unwrap(),
    );
    // Every protocol sees the new version: V2 metadata and inference answers name it.
    let meta: serde_json::Value = serde_json::from_slice(
        &http(f.port, "GET", "/v2/models/wine-quality", &[], b"")
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(meta["versions"], serde_json::json!(["4"]));
    let row = [
        7.0, 0.27, 0.36, 20.7, 0.045, 45.0, 170.0, 1.001, 3.0, 0.45, 8.8,
    ];
    let inputs: Vec<serde_json::Value> = common::WINE
        .iter()
        .zip(row)
        .map(|(name, v)| serde_json::json!({"name": name, "shape": [1], "datatype": "FP64", "data": [v]}))
        .collect();
    let body = serde_json::json!({"inputs": inputs}).to_string();
    let r = http(
        f.port,
        "POST",
        "/v2/models/wine-quality/infer",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-mlflow-model-version"), Some("4"));
    let answer: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(answer["model_version"], "4");
    assert_eq!(
        version_of(answer["outputs"][0]["data"][0].as_f64().unwrap()),
        4
    );
    // The old version's path is gone with it.
    let old = http(
        f.port,
        "GET",
        "/v2/models/wine-quality/versions/3",
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(old.status, 404);
    drop(f);

    // A URI that always names the same version cannot be followed: a clear start-up error.
    let out = Command::new(env!("CARGO_BIN_EXE_mlflow-serve"))
        .args([
            "models",
            "serve",
            "-m",
            "models:/wine-quality/3",
            "--follow",
            "-p",
            &free_port().to_string(),
        ])
        .current_dir(&dir)
        .envs(env)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--follow needs a registry reference that can move"),
        "{err}"
    );
    // A webhook secret without --follow is a mistake, not silently ignored.
    let out = Command::new(env!("CARGO_BIN_EXE_mlflow-serve"))
        .args([
            "models",
            "serve",
            "-m",
            "models:/wine-quality@champion",
            "--webhook-secret",
            "x",
            "-p",
            &free_port().to_string(),
        ])
        .current_dir(&dir)
        .envs(env)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("--webhook-secret is only used with --follow"));
}
