//! Backpressure over HTTP on the compute-bound CNN fixture: a full queue answers 503 at
//! once with `Retry-After`; a request over `-t` answers 504; the server keeps serving.

mod common;

use common::{model_dir, Server};

fn images(n: usize) -> Vec<u8> {
    let row = vec!["0.5"; 28].join(",");
    let image = format!("[{}]", vec![format!("[{row}]"); 28].join(","));
    format!(
        r#"{{"inputs": [{}]}}"#,
        vec![format!("[{image}]"); n].join(",")
    )
    .into_bytes()
}

const JSON: [(&str, &str); 1] = [("Content-Type", "application/json")];

#[test]
fn a_full_queue_sheds_load_with_503_and_retry_after() {
    let server = Server::start(
        &model_dir("cnn_mnist"),
        &[
            "--max-queue",
            "1",
            "--workers",
            "1",
            "--max-batch-rows",
            "1",
            "--intra-op-threads",
            "1",
            // Parse all ten bodies at once so that they reach the queue together: with the
            // default pool (CPUs - 1, one thread on a 2-core machine) parsing is serialised
            // and can pace the requests to the worker's speed, which is not what this test is about.
            "--parse-threads",
            "10",
        ],
    );
    let body = images(600);
    let port = server.port;
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let b = body.clone();
            std::thread::spawn(move || {
                common::http(port, "POST", "/invocations", &JSON, &b).expect("request")
            })
        })
        .collect();
    let answers: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let shed: Vec<_> = answers.iter().filter(|r| r.status == 503).collect();
    assert!(
        !shed.is_empty(),
        "no request was shed: {:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(answers.iter().all(|r| r.status == 200 || r.status == 503));
    for r in shed {
        assert_eq!(r.header("retry-after"), Some("1"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error_code"], "TEMPORARILY_UNAVAILABLE");
    }
    assert_eq!(
        server
            .request("POST", "/invocations", &JSON, &images(1))
            .status,
        200
    );
}

#[test]
fn a_request_over_the_timeout_gets_504_and_the_server_goes_on() {
    let server = Server::start(
        &model_dir("cnn_mnist"),
        &["-t", "1", "--intra-op-threads", "1"],
    );
    let r = server.request("POST", "/invocations", &JSON, &images(4000));
    assert_eq!(r.status, 504);
    assert_eq!(r.body, b"Request processing time exceeded limit");
    // The runtime cannot be interrupted: requests queued behind the long call may time out
    // too, but once it is done the server answers normally.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let ok = loop {
        let r = server.request("POST", "/invocations", &JSON, &images(2));
        if r.status == 200 || std::time::Instant::now() > deadline {
            break r;
        }
        assert_eq!(r.status, 504);
    };
    assert_eq!(ok.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&ok.body).unwrap();
    assert_eq!(v["predictions"]["logits"].as_array().unwrap().len(), 2);
}

/// A metric's value from `/metrics` (`name` includes any labels, e.g. `x_sum`).
fn metric(server: &Server, name: &str) -> f64 {
    let m = server.request("GET", "/metrics", &[], b"");
    String::from_utf8_lossy(&m.body)
        .lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .and_then(|r| r.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("{name} missing"))
}

/// Requests the runtime has run so far.
fn requests_run(server: &Server) -> f64 {
    metric(server, "mlflow_serve_batch_requests_sum")
}

/// Polls `/metrics` until `cond` holds on `name` (at most 60 s).
fn wait_metric(server: &Server, name: &str, cond: impl Fn(f64) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !cond(metric(server, name)) {
        assert!(
            std::time::Instant::now() < deadline,
            "{name} never reached the state"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn a_client_that_hangs_up_while_queued_is_never_run() {
    use std::io::Write;
    let server = Server::start(
        &model_dir("cnn_mnist"),
        &[
            "--workers",
            "1",
            "--max-batch-rows",
            "1",
            "--intra-op-threads",
            "1",
        ],
    );
    let before = requests_run(&server); // the warm-up
    let port = server.port;
    // A long call occupies the only worker...
    let long = std::thread::spawn(move || {
        common::http(port, "POST", "/invocations", &JSON, &images(6000)).expect("long request")
    });
    // (parsed and running in the worker)
    wait_metric(&server, "mlflow_serve_busy_workers", |v| v == 1.0);
    // ...while another client sends a request and hangs up before its turn.
    let body = images(50);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let head = format!(
        "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body).unwrap();
    wait_metric(&server, "mlflow_serve_queue_depth", |v| v == 1.0);
    drop(s);
    let r = long.join().unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // The next request runs right after the long one: the abandoned one was skipped.
    assert_eq!(
        server
            .request("POST", "/invocations", &JSON, &images(1))
            .status,
        200
    );
    assert_eq!(
        requests_run(&server) - before,
        2.0,
        "the abandoned request ran (or the long one did not)"
    );
}

#[test]
fn idle_and_slow_connections_are_closed_after_the_keep_alive_timeout() {
    use std::io::{Read, Write};
    let server = Server::start(&model_dir("wine_cols"), &["--keep-alive-timeout", "1"]);
    // Idle after a response: the server closes the connection.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let started = std::time::Instant::now();
    let mut all = Vec::new();
    s.read_to_end(&mut all)
        .expect("the server closes the idle connection");
    assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 200"));
    let idle = started.elapsed();
    assert!(
        idle >= std::time::Duration::from_millis(900) && idle < std::time::Duration::from_secs(5),
        "{idle:?}"
    );
    // Headers that never finish: closed too (slowloris).
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(b"POST /invocations HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(std::time::Instant::now() - started < std::time::Duration::from_secs(8));
}
