//! The supervisor against small hostile worker programs (run by `python3`): a worker that
//! never says hello, one that refuses to start, one that answers garbage or declares a huge
//! answer, one that dies mid-call. Each costs the call (or the start) and nothing else; a
//! lost worker is reaped and replaced.

use std::sync::Arc;
use std::time::Duration;

use runtime_api::{OutputValue, Runtime, RuntimeError, Tensor, TensorData};
use runtime_python::{Health, PythonRuntime, WorkerConfig};

/// Shared by every program: the framing of runtimes/python/src/wire.rs.
const PRELUDE: &str = r#"
import json, os, struct, sys
inp, out = sys.stdin.buffer, sys.stdout.buffer
def send(h, b=b""):
    h = json.dumps(h).encode()
    out.write(struct.pack("<I", len(h)) + h + struct.pack("<Q", len(b)) + b); out.flush()
def read():
    n = inp.read(4)
    if len(n) < 4: sys.exit(0)
    h = json.loads(inp.read(struct.unpack("<I", n)[0]))
    b = inp.read(struct.unpack("<Q", inp.read(8))[0])
    return h, b
"#;

/// Echoes its one float64 feed back (`a:`) — unless the marker file is absent, in which case
/// it first creates it and misbehaves with `MISBEHAVE` (so its replacement behaves).
const ECHO: &str = r#"
send({"ok": True, "ready": True})
while True:
    h, b = read()
    marker = sys.argv[1]
    if not os.path.exists(marker):
        open(marker, "w").close()
        MISBEHAVE
    send({"ok": True, "outputs": [{"name": "a:", "dtype": "float64", "shape": [len(b) // 8], "offset": 0, "len": len(b)}]}, b)
"#;

fn runtime(
    program: &str,
    dir: &tempfile::TempDir,
    start_timeout: u64,
) -> (PythonRuntime, Arc<Health>) {
    let script = dir.path().join("worker.py");
    std::fs::write(&script, format!("{PRELUDE}{program}")).unwrap();
    let health = Arc::new(Health::default());
    let rt = PythonRuntime::start(
        WorkerConfig {
            python: "python3".into(),
            script,
            args: vec![dir.path().join("marker").into_os_string()],
            env: Vec::new(),
            start_timeout: Duration::from_secs(start_timeout),
            call_timeout: Some(Duration::from_secs(5)),
            memory_limit: None,
            max_reply_bytes: 1 << 20,
            name: "test-worker".into(),
        },
        health.clone(),
    )
    .unwrap();
    (rt, health)
}

fn feeds() -> Vec<(String, Tensor)> {
    // Two feeds of different lengths: the raw layout.
    vec![
        (
            "x".into(),
            Tensor::new(vec![2], TensorData::F64(vec![1.5, -2.0])).unwrap(),
        ),
        (
            "y".into(),
            Tensor::new(vec![1], TensorData::F64(vec![0.0])).unwrap(),
        ),
    ]
}

fn echo_works(rt: &mut PythonRuntime) {
    let out = rt.run(feeds()).unwrap();
    let OutputValue::Tensor(t) = &out[0].1 else {
        panic!("{out:?}")
    };
    // The echo sends the whole body back: both feeds' bytes, read as float64.
    assert_eq!(t.data, TensorData::F64(vec![1.5, -2.0, 0.0]));
}

fn misbehaving(what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (mut rt, health) = runtime(&ECHO.replace("MISBEHAVE", what), &dir, 30);
    rt.wait_ready().unwrap();
    let err = rt.run(feeds()).unwrap_err();
    assert!(matches!(err, RuntimeError::WorkerLost(_)), "{what}: {err}");
    assert_eq!(health.restarts(), 1, "{what}");
    // The next call waits for the replacement, which behaves.
    echo_works(&mut rt);
    assert_eq!(health.live(), 1);
}

#[test]
fn a_worker_that_answers_garbage_is_replaced() {
    misbehaving(r#"out.write(b"\xff" * 64); out.flush()"#);
}

#[test]
fn a_worker_that_declares_a_huge_answer_is_replaced_without_the_allocation() {
    misbehaving(
        r#"h = b"{}"; out.write(struct.pack("<I", len(h)) + h + struct.pack("<Q", 1 << 62)); out.flush()"#,
    );
}

#[test]
fn a_worker_that_declares_a_huge_header_is_replaced() {
    misbehaving(r#"out.write(struct.pack("<I", 0xFFFFFFF0)); out.flush()"#);
}

#[test]
fn a_worker_that_dies_mid_call_is_replaced() {
    misbehaving("os._exit(3)");
}

#[test]
fn a_worker_that_hangs_past_the_call_timeout_is_killed_and_replaced() {
    misbehaving("import time; time.sleep(600)");
}

#[test]
fn a_worker_that_lies_about_its_buffers_fails_only_the_call() {
    // A well-framed answer whose entry claims more bytes than the body holds: the call fails,
    // the worker (still in step) serves the next one.
    let dir = tempfile::tempdir().unwrap();
    let program = ECHO.replace(
        "MISBEHAVE",
        r#"send({"ok": True, "outputs": [{"name": "a:", "dtype": "float64", "shape": [1000], "offset": 0, "len": 8000}]}, b"12345678"); continue"#,
    );
    let (mut rt, health) = runtime(&program, &dir, 30);
    rt.wait_ready().unwrap();
    let err = rt.run(feeds()).unwrap_err();
    assert!(matches!(err, RuntimeError::Run(_)), "{err}");
    echo_works(&mut rt);
    assert_eq!(health.restarts(), 0);
}

#[test]
fn a_worker_that_never_says_hello_fails_the_start_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, health) = runtime("import time; time.sleep(600)", &dir, 1);
    let started = std::time::Instant::now();
    let err = rt.wait_ready().unwrap_err().to_string();
    assert!(err.contains("did not load the model within 1 s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(health.live(), 0);
}

#[test]
fn a_worker_that_refuses_to_start_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, _) = runtime(
        r#"send({"ok": False, "error": "ModuleNotFoundError: No module named 'x'"})"#,
        &dir,
        30,
    );
    let err = rt.wait_ready().unwrap_err().to_string();
    assert_eq!(err, "ModuleNotFoundError: No module named 'x'");
}
