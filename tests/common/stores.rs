//! Real MLflow stores for resolution tests: the reference environment's Python builds
//! registries with `tests/registry/make_stores.py`, and real servers (`mlflow server`,
//! moto's S3 server) run as child processes that are killed when dropped.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{free_port, http, root};

/// The reference environment's Python (real MLflow 3.17.2), made by `make reference-env`.
pub fn python() -> PathBuf {
    let p = std::env::var_os("MLFLOW_SERVE_REF_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv-ref/bin/python"));
    assert!(
        p.exists(),
        "{} is missing: run `make reference-env` (the README's test command does)",
        p.display()
    );
    p
}

/// A program of the reference environment (`mlflow`, `moto_server`).
pub fn ref_bin(name: &str) -> PathBuf {
    python().parent().map(|d| d.join(name)).unwrap_or_default()
}

/// A fresh, empty directory under `tests/work/`, removed with everything in it when the
/// guard is dropped (a test that fails keeps nothing either: its output says what it saw).
pub fn work_dir(tag: &str) -> WorkDir {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = root().join("tests/work").join(format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create work dir");
    WorkDir(d)
}

/// A test's work directory, removed on drop.
#[derive(Debug)]
pub struct WorkDir(PathBuf);

impl std::ops::Deref for WorkDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for WorkDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for WorkDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed on drop.
pub struct Proc {
    child: Child,
    /// The port it listens on, if any.
    pub port: u16,
    /// Its log file.
    pub log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        // The server runs in its own process group (uvicorn workers included): end them all.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_http(proc: &mut Proc, path: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(r) = http(proc.port, "GET", path, &[], b"") {
            if r.status < 500 {
                return;
            }
        }
        if let Ok(Some(st)) = proc.child.try_wait() {
            panic!(
                "server exited ({st}); log:\n{}",
                std::fs::read_to_string(&proc.log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "server did not come up; log:\n{}",
            std::fs::read_to_string(&proc.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn spawn_logged(mut cmd: Command, dir: &Path, name: &str, port: u16) -> Proc {
    let log = dir.join(format!("{name}.log"));
    let f = std::fs::File::create(&log).expect("log file");
    use std::os::unix::process::CommandExt;
    let child = cmd
        .process_group(0)
        .current_dir(dir)
        .stdout(f.try_clone().expect("log"))
        .stderr(f)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    Proc { child, port, log }
}

/// `mlflow server` on `port` with `dir/server.db` as backend and `dir/proxied-artifacts` as
/// artifact destination.
fn mlflow_server_command(dir: &Path, port: u16) -> Command {
    let mut cmd = Command::new(ref_bin("mlflow"));
    cmd.args(["server", "--host", "127.0.0.1", "--workers", "1"])
        .args(["--port", &port.to_string()])
        .arg("--backend-store-uri")
        .arg(format!("sqlite:///{}", dir.join("server.db").display()))
        .arg("--artifacts-destination")
        .arg(dir.join("proxied-artifacts"))
        .env("PATH", path_with_venv());
    cmd
}

/// `mlflow server` with a SQLite backend and an artifact proxy, in `dir`.
pub fn mlflow_server(dir: &Path, envs: &[(&str, &str)], extra: &[&str]) -> Proc {
    let port = free_port();
    let mut cmd = mlflow_server_command(dir, port);
    cmd.args(extra).envs(envs.iter().copied());
    let mut p = spawn_logged(cmd, dir, "mlflow-server", port);
    wait_http(&mut p, "/health", 120);
    p
}

/// `mlflow server` over HTTPS (a self-signed certificate made by `make_stores.py cert`), on
/// the backend store and artifact destination of the plain server started in `dir`. Returns
/// the server and the certificate's path.
pub fn mlflow_tls_server(dir: &Path) -> (Proc, PathBuf) {
    make_stores(dir, &["cert"], &[]);
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let port = free_port();
    let mut cmd = mlflow_server_command(dir, port);
    cmd.arg("--uvicorn-opts").arg(format!(
        "--ssl-keyfile {} --ssl-certfile {}",
        key.display(),
        cert.display()
    ));
    let mut p = spawn_logged(cmd, dir, "mlflow-tls-server", port);
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(st)) = p.child.try_wait() {
            panic!(
                "TLS server exited ({st}): {}",
                std::fs::read_to_string(&p.log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "TLS server did not come up");
        std::thread::sleep(Duration::from_millis(200));
    }
    (p, cert)
}

/// Python's `http.server` serving the files of `dir` (plain HTTP, no listing API).
pub fn http_file_server(dir: &Path) -> Proc {
    let port = free_port();
    let mut cmd = Command::new(python());
    cmd.args([
        "-m",
        "http.server",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
    ])
    .current_dir(dir);
    let mut p = spawn_logged(cmd, dir, "http", port);
    wait_http(&mut p, "/", 60);
    p
}

/// moto's standalone S3 server.
pub fn moto_server(dir: &Path) -> Proc {
    let port = free_port();
    let mut cmd = Command::new(ref_bin("moto_server"));
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    let mut p = spawn_logged(cmd, dir, "moto", port);
    wait_http(&mut p, "/moto-api/", 60);
    p
}

fn path_with_venv() -> String {
    format!(
        "{}:{}",
        python()
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs `make_stores.py <args>` in `dir` and returns its manifest.
pub fn make_stores(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> serde_json::Value {
    let manifest = dir.join("manifest.json");
    let out = Command::new(python())
        .arg(root().join("tests/registry/make_stores.py"))
        .args(args)
        .arg(&manifest)
        .current_dir(dir)
        .env("PATH", path_with_venv())
        .envs(envs.iter().copied())
        .output()
        .expect("run make_stores.py");
    assert!(
        out.status.success(),
        "make_stores.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(&manifest).expect("manifest")).expect("manifest JSON")
}

/// What mlflow-serve did with a model URI.
#[derive(Debug)]
pub enum Outcome {
    /// It served, and predicted this for the quick-start row.
    Served(f64),
    /// It exited with this code and these stderr lines.
    Failed(i32, Vec<String>),
}

/// The quick-start request of MLflow's docs.
pub const QUICKSTART_BODY: &str = r#"{"dataframe_split": {"columns": ["fixed acidity","volatile acidity","citric acid","residual sugar","chlorides","free sulfur dioxide","total sulfur dioxide","density","pH","sulphates","alcohol"], "data": [[7,0.27,0.36,20.7,0.045,45,170,1.001,3,0.45,8.8]]}}"#;

/// Starts `mlflow-serve models serve -m <uri>` in `cwd` with `envs` (and nothing of the
/// caller's MLflow env), and reports whether it served (and what it predicted) or failed.
pub fn serve_outcome(uri: &str, cwd: &Path, envs: &[(&str, &str)], extra: &[&str]) -> Outcome {
    serve_with_log(uri, cwd, envs, extra).0
}

/// [`serve_outcome`], plus everything the process wrote on stderr.
pub fn serve_with_log(
    uri: &str,
    cwd: &Path,
    envs: &[(&str, &str)],
    extra: &[&str],
) -> (Outcome, String) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlflow-serve"));
    cmd.args(["models", "serve", "-m", uri, "-p", &port.to_string()])
        .args(extra)
        .current_dir(cwd)
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("MLFLOW_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    if !envs.iter().any(|(k, _)| *k == "MLFLOW_SERVE_MODEL_CACHE") {
        cmd.env("MLFLOW_SERVE_MODEL_CACHE", cwd.join("model-cache"));
    }
    cmd.envs(envs.iter().copied());
    let mut child = cmd.spawn().expect("spawn mlflow-serve");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = s.read_to_string(&mut err);
            }
            let lines = err
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.contains(" WARN "))
                .map(str::to_string)
                .collect();
            return (Outcome::Failed(status.code().unwrap_or(-1), lines), err);
        }
        if let Ok(r) = http(port, "GET", "/ping", &[], b"") {
            if r.status == 200 {
                let r = http(
                    port,
                    "POST",
                    "/invocations",
                    &[("Content-Type", "application/json")],
                    QUICKSTART_BODY.as_bytes(),
                )
                .expect("invocations");
                let _ = child.kill();
                let _ = child.wait();
                let mut err = String::new();
                if let Some(mut s) = child.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                assert_eq!(r.status, 200, "{uri}: {}", String::from_utf8_lossy(&r.body));
                return (Outcome::Served(first_prediction(&r.body)), err);
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{uri}: mlflow-serve neither served nor exited in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The first number in a `{"predictions": …}` body.
pub fn first_prediction(body: &[u8]) -> f64 {
    fn first(v: &serde_json::Value) -> Option<f64> {
        match v {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::Array(a) => a.iter().find_map(first),
            serde_json::Value::Object(o) => o.values().find_map(first),
            _ => None,
        }
    }
    let v: serde_json::Value = serde_json::from_slice(body).expect("JSON predictions");
    first(&v["predictions"]).expect("a number in the predictions")
}

/// Whether our one-line resolution error says what MLflow's says: the same text (without a
/// RestException's code), or, for MLflow's multi-line summary of failed downloads
/// (`The following failures occurred while downloading …:\n##### File <name> #####\n<cause>`),
/// one line naming the same artifact location, file and cause.
fn same_resolve_message(ours: &str, theirs: &str) -> bool {
    if !theirs.contains('\n') {
        return strip_code(ours) == strip_code(theirs);
    }
    // MLflow's boto summary; ours is one line (README, deliberate divergences): the same
    // artifact (location + file) and the same cause (not found).
    let lines: Vec<&str> = theirs.lines().collect();
    let location = lines.first().and_then(|l| {
        l.strip_prefix(
            "The following failures occurred while downloading one or more artifacts from ",
        )
        .and_then(|rest| rest.strip_suffix(':'))
    });
    let file = lines.iter().find_map(|l| {
        l.strip_prefix("##### File ")
            .and_then(|rest| rest.strip_suffix(" #####"))
    });
    let not_found = lines
        .last()
        .is_some_and(|l| l.contains("(404)") && l.ends_with("Not Found"));
    match (location, file) {
        (Some(location), Some(file)) if not_found => {
            ours.contains(&format!("{location}/{file}"))
                && (ours.contains("not found") || ours.contains("no artifacts found"))
        }
        _ => panic!("an MLflow message of an unknown shape: {theirs:?}"),
    }
}

/// MLflow's error text without a RestException's `ERROR_CODE: ` prefix.
fn strip_code(s: &str) -> &str {
    match s.split_once(": ") {
        Some((code, rest)) if code.chars().all(|c| c.is_ascii_uppercase() || c == '_') => rest,
        _ => s,
    }
}

/// Checks every case of a manifest: each URI MLflow served must serve the same prediction;
/// each URI MLflow refused must make mlflow-serve exit non-zero with one line naming the URI
/// and MLflow's message. Returns the number of cases checked.
pub fn check_cases(manifest: &serde_json::Value, cwd: &Path, envs: &[(&str, &str)]) -> usize {
    let cases: BTreeMap<String, serde_json::Value> =
        serde_json::from_value(manifest["cases"].clone()).expect("cases");
    let mut failures = Vec::new();
    for (uri, want) in &cases {
        let got = serve_outcome(uri, cwd, envs, &["--resolve-timeout", "30"]);
        match (want.get("prediction").and_then(|p| p.as_f64()), &got) {
            (Some(p), Outcome::Served(q)) if (p - q).abs() <= 1e-3 * p.abs().max(1.0) => {}
            (Some(p), _) => failures.push(format!("{uri}: MLflow predicts {p}, we got {got:?}")),
            (None, Outcome::Failed(code, lines)) => {
                let theirs = want["error"].as_str().unwrap_or_default();
                let prefix = format!("mlflow-serve: error: cannot resolve model URI `{uri}`: ");
                let ok_line = lines.len() == 1
                    && *code != 0
                    && lines[0].starts_with(&prefix)
                    && !lines[0].contains("panicked");
                let ours = lines
                    .first()
                    .map(|l| l.trim_start_matches(&prefix))
                    .unwrap_or("");
                let same = same_resolve_message(ours, theirs);
                if !(ok_line && same) {
                    failures.push(format!(
                        "{uri}: MLflow says {theirs:?}; we exited {code} with {lines:?}"
                    ));
                }
            }
            (None, Outcome::Served(q)) => failures.push(format!(
                "{uri}: MLflow fails ({}), we served {q}",
                want["error"]
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    cases.len()
}

/// Every file under `dir` with its size and modification time (to prove nothing was written).
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(m) = e.metadata() {
                out.insert(p, (m.len(), m.modified().unwrap_or(std::time::UNIX_EPOCH)));
            }
        }
    }
    out
}
