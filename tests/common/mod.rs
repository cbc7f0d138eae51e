//! Shared helpers for integration tests: start the real binary on a free port, speak HTTP.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod golden;
pub mod peer;
pub mod stores;

/// The wine-quality model's column names, in signature order.
pub const WINE: [&str; 11] = [
    "fixed acidity",
    "volatile acidity",
    "citric acid",
    "residual sugar",
    "chlorides",
    "free sulfur dioxide",
    "total sulfur dioxide",
    "density",
    "pH",
    "sulphates",
    "alcohol",
];

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture model directory.
pub fn model_dir(name: &str) -> PathBuf {
    root().join("tests/fixtures/models").join(name)
}

/// A running `mlflow-serve models serve`.
pub struct Server {
    child: Child,
    /// Its port.
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The flags that run a Python-worker model in the reference environment's Python (real
/// MLflow 3.17.2, scikit-learn, skops: `make test` builds it).
pub fn python_args() -> Vec<String> {
    let python = root().join(".venv-ref/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: `make reference-env` builds it",
        python.display()
    );
    vec![
        "--env-manager".into(),
        "local".into(),
        "--python".into(),
        python.to_string_lossy().into_owned(),
    ]
}

/// `mlflow-serve models serve -m <model> -p <port> <extra>`, warnings only, stdout discarded.
pub fn serve_command(model: &Path, port: u16, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlflow-serve"));
    cmd.args(["models", "serve", "-m"])
        .arg(model)
        .args(["-p", &port.to_string()])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    cmd
}

impl Server {
    /// Starts the binary on `model` with extra args and waits for `/ping`.
    pub fn start(model: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let mut cmd = serve_command(model, port, extra);
        cmd.stderr(Stdio::inherit());
        Server::spawn(cmd, port)
    }

    /// Starts the binary under `prlimit --as=<bytes>` (an address-space limit: an allocation
    /// past it fails instead of growing), so a request that makes it allocate without bound
    /// kills it instead of the machine.
    pub fn start_limited(model: &Path, extra: &[&str], address_space: u64) -> Server {
        let port = free_port();
        let inner = serve_command(model, port, extra);
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--as={address_space}"))
            .arg("--")
            .arg(inner.get_program())
            .args(inner.get_args())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        Server::spawn(cmd, port)
    }

    /// Spawns `cmd` (which serves on `port`) and waits for `/ping`.
    pub fn spawn(cmd: Command, port: u16) -> Server {
        Server::spawn_within(cmd, port, Duration::from_secs(30))
    }

    /// [`Server::spawn`], waiting at most `limit` for readiness.
    pub fn spawn_within(mut cmd: Command, port: u16, limit: Duration) -> Server {
        let child = cmd.spawn().expect("spawn mlflow-serve");
        let mut server = Server { child, port };
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(r) = server.try_request("GET", "/ping", &[], b"") {
                if r.status == 200 {
                    return server;
                }
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("mlflow-serve exited during start-up: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "mlflow-serve did not become ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends one request.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        self.try_request(method, path, headers, body)
            .expect("HTTP request")
    }

    /// Sends one request; a transport error is returned, not a panic.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<HttpResponse> {
        http(self.port, method, path, headers, body)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process is running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// A field of `/proc/<pid>/status` in kB (`VmHWM`: peak resident memory so far).
    pub fn status_kb(&self, field: &str) -> u64 {
        proc_status_kb(self.pid(), field)
    }
}

/// A field of `/proc/<pid>/status` in kB, for any process.
pub fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/<pid>/status"))
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header (lower-cased name, value).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 exchange with `Connection: close`.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if method != "GET" && method != "HEAD" || !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

/// Every number of a predictions body, in order, whatever its nesting (ONNX answers
/// `{"y": [[…]]}` or records, the PyTorch wrapper `[[…]]`).
pub fn numbers(body: &[u8]) -> Vec<f64> {
    fn walk(v: &serde_json::Value, out: &mut Vec<f64>) {
        match v {
            serde_json::Value::Number(n) => out.extend(n.as_f64()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let v: serde_json::Value = serde_json::from_slice(body).expect("JSON");
    let mut out = Vec::new();
    walk(&v["predictions"], &mut out);
    out
}
