//! Lifecycle over HTTP against the real binary: readiness is 503 until the model is loaded
//! and warmed up; on SIGTERM readiness turns 503 at once, requests are served through the drain
//! delay, the request in flight when the listener closes is answered, then the process exits 0.

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::stores::{work_dir, QUICKSTART_BODY};
use common::{free_port, http, model_dir};

const COLUMNS: &str = r#"["fixed acidity","volatile acidity","citric acid","residual sugar","chlorides","free sulfur dioxide","total sulfur dioxide","density","pH","sulphates","alcohol"]"#;

/// A `dataframe_split` body of `rows` rows.
fn rows_body(rows: usize) -> String {
    let row = "[7.4,0.7,0.0,1.9,0.076,11.0,34.0,0.9978,3.51,0.56,9.4]";
    let data = vec![row; rows].join(",");
    format!(r#"{{"dataframe_split": {{"columns": {COLUMNS}, "data": [{data}]}}}}"#)
}

fn spawn(model: &std::path::Path, port: u16, extra: &[&str]) -> std::process::Child {
    common::serve_command(model, port, extra)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn")
}

fn post(port: u16, body: &str) -> std::io::Result<common::HttpResponse> {
    http(
        port,
        "POST",
        "/invocations",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

#[test]
fn probes_answer_503_until_the_model_is_warmed_up() {
    // A model whose serving input example is large, so warm-up takes a noticeable time.
    let dir = work_dir("slow-warmup");
    let src = model_dir("wine_cols");
    for f in std::fs::read_dir(&src).unwrap().flatten() {
        std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
    }
    std::fs::write(dir.join("serving_input_example.json"), rows_body(200_000)).unwrap();
    let port = free_port();
    let mut child = spawn(&dir, port, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut saw_loading = false;
    let mut saw_invocation_503 = false;
    loop {
        assert!(Instant::now() < deadline, "never became ready");
        assert!(
            matches!(child.try_wait(), Ok(None)),
            "exited during start-up"
        );
        let Ok(r) = http(port, "GET", "/ping", &[], b"") else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 503);
        assert_eq!(r.body, br#"{"status": "loading"}"#);
        saw_loading = true;
        // Alive while loading: an orchestrator must not restart a pod that is warming up.
        let live = http(port, "GET", "/livez", &[], b"").unwrap();
        assert_eq!(live.status, 200);
        assert_eq!(live.body, br#"{"status": "alive"}"#);
        // Readiness only ever turns from 503 to 200: a 200 here (the model became ready
        // since /ping answered) must be followed by 200s; a 503 is the loading answer.
        let h = http(port, "GET", "/health", &[], b"").unwrap();
        if h.status == 200 {
            assert_eq!(ready_now(port), 200, "/health said ready, /ping did not");
        } else {
            assert_eq!(h.status, 503);
            assert_eq!(h.body, br#"{"status": "loading"}"#);
        }
        let inv = post(port, QUICKSTART_BODY).unwrap();
        if inv.status == 503 {
            assert_eq!(inv.header("retry-after"), Some("1"));
            let v: serde_json::Value = serde_json::from_slice(&inv.body).unwrap();
            assert_eq!(v["error_code"], "TEMPORARILY_UNAVAILABLE");
            saw_invocation_503 = true;
        } else {
            // Scored: only possible once the model is ready.
            assert_eq!(inv.status, 200, "{}", String::from_utf8_lossy(&inv.body));
            assert_eq!(ready_now(port), 200, "/invocations scored before readiness");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(saw_loading, "the listener only opened once ready");
    assert!(saw_invocation_503, "no 503 on /invocations while loading");
    assert_eq!(post(port, QUICKSTART_BODY).unwrap().status, 200);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn sigterm_drains_and_answers_every_accepted_request() {
    let port = free_port();
    let drain = Duration::from_millis(1500);
    let mut child = spawn(
        &model_dir("wine_cols"),
        port,
        &["--drain-delay", "1.5", "--graceful-timeout", "20"],
    );
    let start = Instant::now();
    while http(port, "GET", "/ping", &[], b"").map(|r| r.status).ok() != Some(200) {
        assert!(start.elapsed() < Duration::from_secs(30), "not ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Load: two clients sending requests back to back, like a load balancer's traffic.
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes: Arc<Mutex<Vec<Result<u16, String>>>> = Arc::default();
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (stop, outcomes) = (stop.clone(), outcomes.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let r = post(port, QUICKSTART_BODY)
                        .map(|r| r.status)
                        .map_err(|e| e.to_string());
                    outcomes.lock().unwrap().push(r);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let term_at = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_millis(100));
    // Readiness is 503 at once, requests are still served.
    let ping = http(port, "GET", "/ping", &[], b"").unwrap();
    assert_eq!(ping.status, 503);
    assert_eq!(ping.body, br#"{"status": "draining"}"#);
    // Alive while draining.
    assert_eq!(http(port, "GET", "/livez", &[], b"").unwrap().status, 200);
    let during = outcomes.lock().unwrap().len();
    std::thread::sleep(Duration::from_millis(400));
    // The balancer has stopped routing; one slow request is in flight when the drain ends.
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let served_during_drain = outcomes.lock().unwrap().len() - during;
    assert!(
        served_during_drain > 0,
        "nothing served during the drain delay"
    );
    let slow_body = rows_body(150_000);
    let wait = drain.saturating_sub(term_at.elapsed() + Duration::from_millis(300));
    std::thread::sleep(wait);
    let slow = std::thread::spawn(move || post(port, &slow_body));
    // After the drain delay, new connections are refused.
    let refused_by = term_at + drain + Duration::from_secs(3);
    loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Err(_) => break,
            Ok(_) => {
                assert!(
                    Instant::now() < refused_by,
                    "still accepting after the drain delay"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    let slow = slow
        .join()
        .unwrap()
        .expect("the in-flight request was lost");
    assert_eq!(slow.status, 200);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&slow.body).unwrap()["predictions"]
            .as_array()
            .unwrap()
            .len(),
        150_000
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let all = outcomes.lock().unwrap();
    assert!(
        all.iter().all(|o| *o == Ok(200)),
        "{:?}",
        all.iter().filter(|o| **o != Ok(200)).collect::<Vec<_>>()
    );
}

/// SageMaker's contract: the container runs `IMAGE serve`; the model is at /opt/ml/model
/// (here given with `-m`, which wins over that default), the port is 8080 or
/// `SAGEMAKER_BIND_TO_PORT`, every interface is bound, and `/ping` answers 200 quickly.
#[test]
fn sagemaker_serve_binds_every_interface_on_its_port() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlflow-serve"))
        .args(["serve", "-m"])
        .arg(model_dir("wine_cols"))
        .env("SAGEMAKER_BIND_TO_PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    while http(port, "GET", "/ping", &[], b"").map(|r| r.status).ok() != Some(200) {
        assert!(started.elapsed() < Duration::from_secs(30), "never ready");
        assert!(matches!(child.try_wait(), Ok(None)), "exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("serve: ready in {:?}", started.elapsed());
    assert_eq!(post(port, QUICKSTART_BODY).unwrap().status, 200);
    // Bound to 0.0.0.0, not only loopback: reachable through a non-loopback address of this
    // host when it has one (127.0.0.2 is loopback too, but not 127.0.0.1: a 127.0.0.1 bind
    // would refuse it).
    let other = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 2], port)),
        Duration::from_secs(2),
    );
    assert!(other.is_ok(), "not bound to every interface: {other:?}");
    let _ = child.kill();
    let _ = child.wait();

    // Without -m, the model is /opt/ml/model: here a missing directory, named in the error
    // (the unit test `cli::tests::sagemaker_serve_defaults` checks the arguments wherever
    // that directory exists). A machine that has one serves it instead: then it must answer.
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlflow-serve"))
        .args(["serve", "-p", &port.to_string()])
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            assert!(!status.success());
            assert!(err.contains("`/opt/ml/model`"), "{err}");
            break;
        }
        if http(port, "GET", "/ping", &[], b"").map(|r| r.status).ok() == Some(200) {
            assert!(std::path::Path::new("/opt/ml/model").exists());
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "neither failed nor served"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What `/ping` answers now.
fn ready_now(port: u16) -> u16 {
    http(port, "GET", "/ping", &[], b"").unwrap().status
}
