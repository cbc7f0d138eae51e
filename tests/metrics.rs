//! `/metrics` over HTTP: Prometheus text that `promtool check metrics` accepts, with request,
//! batch and build metrics that follow the traffic; `x-request-id` accepted or generated.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{model_dir, root, Server};

/// `promtool` from Debian's `prometheus` package (`make test` extracts it into `.local/`).
fn promtool() -> std::path::PathBuf {
    let local = root().join(".local/promtool/usr/bin/promtool");
    let p = std::env::var_os("PROMTOOL")
        .map(Into::into)
        .unwrap_or(local);
    assert!(
        p.exists(),
        "{} missing: run `make test` (it fetches Debian's prometheus package)",
        p.display()
    );
    p
}

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
}

#[test]
fn metrics_follow_traffic_and_pass_promtool() {
    let server = Server::start(&model_dir("wine_cols"), &[]);
    let good = std::fs::read(model_dir("wine_cols").join("serving_input_example.json")).unwrap();
    let json = [("Content-Type", "application/json")];
    for _ in 0..3 {
        assert_eq!(
            server.request("POST", "/invocations", &json, &good).status,
            200
        );
    }
    let bad = server.request("POST", "/invocations", &json, b"{nope");
    assert_eq!(bad.status, 400);
    // x-request-id: generated when absent, echoed when given.
    assert!(bad.header("x-request-id").is_some_and(|v| !v.is_empty()));
    let r = server.request("GET", "/ping", &[("x-request-id", "trace-42")], b"");
    assert_eq!(r.header("x-request-id"), Some("trace-42"));

    let m = server.request("GET", "/metrics", &[], b"");
    assert_eq!(m.status, 200);
    assert!(m
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(m.body.clone()).unwrap();
    assert_eq!(
        value(
            &text,
            r#"mlflow_serve_requests_total{protocol="mlflow",route="/invocations",status="200"}"#
        ),
        3.0
    );
    assert_eq!(
        value(
            &text,
            r#"mlflow_serve_requests_total{protocol="mlflow",route="/invocations",status="400"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"mlflow_serve_request_duration_seconds_count{protocol="mlflow",route="/invocations"}"#
        ),
        4.0
    );
    // Warm-up + 3 good requests reached the runtime; the bad one did not.
    assert_eq!(value(&text, "mlflow_serve_batch_rows_count"), 4.0);
    assert_eq!(
        value(&text, "mlflow_serve_compute_duration_seconds_count"),
        4.0
    );
    assert_eq!(
        value(&text, "mlflow_serve_serialize_duration_seconds_count"),
        3.0
    );
    assert_eq!(value(&text, "mlflow_serve_in_flight_requests"), 0.0);
    assert_eq!(value(&text, "mlflow_serve_queue_depth"), 0.0);
    assert!(value(&text, "mlflow_serve_model_load_seconds") > 0.0);
    assert!(text.contains("mlflow_serve_build_info{mlflow_protocol=\"3.17.2\""));

    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&m.body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metrics_port_and_json_logs() {
    let mport = common::free_port();
    let port = common::free_port();
    let mport_s = mport.to_string();
    let mut child = common::serve_command(
        &model_dir("wine_cols"),
        port,
        &["--metrics-port", &mport_s, "--log-format", "json"],
    )
    .env("RUST_LOG", "info")
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let start = std::time::Instant::now();
    while common::http(port, "GET", "/ping", &[], b"")
        .map(|r| r.status)
        .ok()
        != Some(200)
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "not ready"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let m = common::http(mport, "GET", "/metrics", &[], b"").unwrap();
    assert_eq!(m.status, 200);
    assert!(String::from_utf8_lossy(&m.body).contains("mlflow_serve_build_info"));
    assert_eq!(
        common::http(mport, "GET", "/ping", &[], b"")
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        common::http(mport, "POST", "/invocations", &[], b"{}")
            .unwrap()
            .status,
        404
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    if !killed.success() {
        let _ = child.kill();
        panic!("kill -TERM failed ({killed}): the server was killed instead");
    }
    // Drained and exited within the graceful timeout, else the test fails (no hang).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not exit within 60 s of SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let logs = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<_> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "{logs}");
    for l in lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{l}");
    }
}

/// `--max-connections` is one limit for the process: of four connections, three on the main
/// port and one on `--metrics-port`, at `--max-connections 3` three are served and one waits
/// (each listener once had its own limit, so all four were served), until a served one
/// closes.
#[test]
fn one_connection_limit_for_every_listener() {
    use std::io::{Read, Write};
    use std::time::Duration;
    let mport = common::free_port();
    let server = common::Server::start(
        &common::model_dir("wine_cols"),
        &[
            "--max-connections",
            "3",
            "--probe-connections",
            "0",
            "--metrics-port",
            &mport.to_string(),
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let ports = [server.port, server.port, server.port, mport];
    let mut conns: Vec<std::net::TcpStream> = ports
        .iter()
        .map(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).unwrap())
        .collect();
    let ping = |c: &mut std::net::TcpStream, wait: Duration| -> bool {
        c.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 256];
        matches!(c.read(&mut buf), Ok(n) if buf[..n].starts_with(b"HTTP/1.1 200"))
    };
    for c in &mut conns {
        c.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
    }
    let answered: Vec<bool> = conns
        .iter_mut()
        .map(|c| ping(c, Duration::from_millis(1500)))
        .collect();
    assert_eq!(
        answered.iter().filter(|a| **a).count(),
        3,
        "connections served at once over both listeners: {answered:?}"
    );
    // A served one closes: the waiting one is served.
    let served = answered.iter().position(|a| *a).unwrap();
    let waiting = answered.iter().position(|a| !*a).unwrap();
    drop(conns.remove(served));
    let waiting = if waiting > served {
        waiting - 1
    } else {
        waiting
    };
    assert!(
        ping(&mut conns[waiting], Duration::from_secs(10)),
        "the waiting connection was not served once a slot freed"
    );
}

/// A listener waiting for its next connection holds no slot: with one slot for the process
/// and three listeners, each answers in turn (a slot taken before `accept` would leave the
/// main port waiting behind idle gRPC and metrics listeners).
#[test]
fn idle_listeners_hold_no_connection_slot() {
    let (mport, gport) = (common::free_port(), common::free_port());
    let server = common::Server::start(
        &common::model_dir("wine_cols"),
        &[
            "--max-connections",
            "1",
            "--probe-connections",
            "0",
            "--metrics-port",
            &mport.to_string(),
            "--grpc-port",
            &gport.to_string(),
        ],
    );
    for port in [server.port, mport, server.port, mport] {
        let started = std::time::Instant::now();
        let r = common::http(port, "GET", "/ping", &[("Connection", "close")], b"").unwrap();
        assert_eq!(r.status, 200, "port {port}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "port {port}: {:?}",
            started.elapsed()
        );
    }
}
