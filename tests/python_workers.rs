//! Models run in Python workers (issue 29), against the real binary and real MLflow 3.17.2
//! in the reference environment's Python: what a worker's death, hang or memory costs (only
//! its own requests, counted in `mlflow_serve_worker_restarts_total`, the pool recovers),
//! start-up failures in Python's words, readiness with no worker left, and that no worker
//! process outlives the server.

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Server;

const JSON: &[(&str, &str)] = &[("Content-Type", "application/json")];

fn start(model: &str, extra: &[&str]) -> Server {
    let mut args = common::python_args();
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(&common::model_dir(model), &args)
}

/// Processes whose parent is `pid` (from `/proc/*/stat`).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: comm may hold spaces, so split after its ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let ppid: Option<u32> = rest.split_whitespace().nth(1).and_then(|x| x.parse().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn kill(pid: u32, signal: &str) {
    let ok = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {signal} {pid}");
}

/// A metric's value from `/metrics`.
fn metric(server: &Server, name: &str) -> f64 {
    let r = server.request("GET", "/metrics", &[], b"");
    let text = String::from_utf8_lossy(&r.body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wine_body(rows: usize) -> Vec<u8> {
    let row = "[7.4, 0.7, 0.0, 1.9, 0.076, 11.0, 34.0, 0.9978, 3.51, 0.56, 9.4]";
    let data = vec![row; rows].join(", ");
    format!(
        "{{\"dataframe_split\": {{\"columns\": [\"fixed acidity\", \"volatile acidity\", \"citric acid\", \"residual sugar\", \"chlorides\", \"free sulfur dioxide\", \"total sulfur dioxide\", \"density\", \"pH\", \"sulphates\", \"alcohol\"], \"data\": [{data}]}}}}"
    )
    .into_bytes()
}

fn small_body(params: &str) -> Vec<u8> {
    format!("{{\"dataframe_split\": {{\"columns\": [\"fixed acidity\", \"volatile acidity\", \"citric acid\"], \"data\": [[1.0, 2.0, 3.0]]}}, \"params\": {params}}}").into_bytes()
}

#[test]
fn a_worker_killed_under_load_fails_only_its_own_requests_and_the_pool_recovers() {
    let server = Arc::new(start("py_sklearn_pickle", &["-w", "2"]));
    let workers = children(server.pid());
    assert_eq!(workers.len(), 2, "two worker processes: {workers:?}");
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (server, stop, ok, failed) =
                (server.clone(), stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                let body = wine_body(3);
                while !stop.load(Ordering::Relaxed) {
                    let r = server.request("POST", "/invocations", JSON, &body);
                    if r.status == 200 {
                        assert_eq!(r.body, b"{\"predictions\": [0, 0, 0]}");
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        let text = String::from_utf8_lossy(&r.body).into_owned();
                        assert_eq!(r.status, 500, "{text}");
                        assert!(
                            text.contains("\"error_code\": \"INTERNAL_ERROR\""),
                            "{text}"
                        );
                        assert!(text.contains("Python worker"), "{text}");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    wait_for("load", Duration::from_secs(10), || {
        ok.load(Ordering::Relaxed) > 50
    });
    kill(workers[0], "-9");
    let before = ok.load(Ordering::Relaxed);
    wait_for("the replacement", Duration::from_secs(60), || {
        children(server.pid()).len() == 2 && metric(&server, "mlflow_serve_live_workers") == 2.0
    });
    wait_for("more answers", Duration::from_secs(10), || {
        ok.load(Ordering::Relaxed) > before + 50
    });
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let failed = failed.load(Ordering::Relaxed);
    assert!(
        failed <= 4,
        "only the requests in flight on the killed worker fail, not {failed}"
    );
    assert_eq!(metric(&server, "mlflow_serve_worker_restarts_total"), 1.0);
    let now = children(server.pid());
    assert!(!now.contains(&workers[0]) && now.contains(&workers[1]));
    assert_eq!(server.request("GET", "/ping", &[], b"").status, 200);
}

#[test]
fn a_hung_model_answers_504_and_its_worker_is_replaced() {
    let server = start("py_sleeps", &["-t", "2"]);
    let first = children(server.pid());
    let started = Instant::now();
    let r = server.request(
        "POST",
        "/invocations",
        JSON,
        &small_body("{\"seconds\": 60}"),
    );
    assert_eq!(r.status, 504, "{}", String::from_utf8_lossy(&r.body));
    assert!(started.elapsed() < Duration::from_secs(10));
    wait_for(
        "the hung worker's replacement",
        Duration::from_secs(60),
        || {
            let now = children(server.pid());
            now.len() == 1 && now != first && metric(&server, "mlflow_serve_live_workers") == 1.0
        },
    );
    assert!(!alive(first[0]), "the hung worker was killed and reaped");
    let r = server.request(
        "POST",
        "/invocations",
        JSON,
        &small_body("{\"seconds\": 0.01}"),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.body, b"{\"predictions\": [{\"0\": 6.0}]}");
    assert_eq!(metric(&server, "mlflow_serve_worker_restarts_total"), 1.0);
}

#[test]
fn a_worker_over_its_memory_limit_is_killed_and_restarted() {
    let server = start("py_allocates", &["--worker-memory", "700"]);
    let worker = children(server.pid())[0];
    let rss_mib = common::proc_status_kb(worker, "VmRSS") / 1024;
    assert!(rss_mib < 500, "a loaded worker holds {rss_mib} MiB");
    let r = server.request(
        "POST",
        "/invocations",
        JSON,
        &small_body("{\"mb\": 800, \"hold\": 5.0}"),
    );
    let text = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(r.status, 500, "{text}");
    assert!(text.contains("--worker-memory"), "{text}");
    assert_eq!(metric(&server, "mlflow_serve_worker_restarts_total"), 1.0);
    let r = server.request("POST", "/invocations", JSON, &small_body("{\"mb\": 1}"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(!alive(worker));
}

#[test]
fn a_model_that_kills_its_own_process_fails_only_that_request() {
    // MLflow's whole server dies here (tests/golden/python/py_kills_itself.json records the
    // client's RemoteDisconnected and the refused /ping after it); mlflow-serve loses one
    // worker, answers 500, and goes on.
    let server = start("py_kills_itself", &[]);
    let golden =
        common::golden::load(&common::root().join("tests/golden/python/py_kills_itself.json"));
    let cases = golden["cases"].as_array().unwrap();
    let body = |name: &str| {
        let c = cases.iter().find(|c| c["name"] == name).unwrap();
        common::golden::body(c).unwrap()
    };
    let r = server.request("POST", "/invocations", JSON, &body("dies"));
    assert_eq!(r.status, 500, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(metric(&server, "mlflow_serve_worker_restarts_total"), 1.0);
    // The next request waits for the replacement and gets MLflow's recorded answer.
    let r = server.request("POST", "/invocations", JSON, &body("lives"));
    let lives = cases.iter().find(|c| c["name"] == "lives").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        lives["response"].as_str().unwrap()
    );
    assert_eq!(server.request("GET", "/ping", &[], b"").status, 200);
}

/// Runs `models serve` until it exits (it must, within `limit`): its status and stderr.
fn serve_to_exit(model: &str, extra: &[&str], limit: Duration) -> (Option<i32>, String) {
    let port = common::free_port();
    let mut cmd = common::serve_command(&common::model_dir(model), port, extra);
    cmd.env("RUST_LOG", "info").stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let until = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code(), err);
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("mlflow-serve did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_model_that_cannot_load_stops_the_start_with_pythons_message() {
    let args = common::python_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, err) = serve_to_exit("py_missing_requirement", &args, Duration::from_secs(60));
    assert_eq!(code, Some(1), "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("could not load it"))
        .unwrap_or_else(|| panic!("no start-up line: {err}"));
    assert!(
        line.contains("ModuleNotFoundError: No module named 'mlflow_serve_no_such_package'"),
        "{line}"
    );
}

#[test]
fn a_local_python_without_mlflow_is_named_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("bare");
    let made = Command::new(common::root().join(".venv-ref/bin/python"))
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(made.success());
    let python = venv.join("bin/python");
    let (code, err) = serve_to_exit(
        "py_sklearn_pickle",
        &[
            "--env-manager",
            "local",
            "--python",
            python.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("No module named 'numpy'") || err.contains("No module named 'mlflow'"),
        "{err}"
    );
}

#[test]
fn conda_is_refused_with_a_hint() {
    let (code, err) = serve_to_exit(
        "py_sklearn_pickle",
        &["--env-manager", "conda"],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("--env-manager conda is not supported"),
        "{err}"
    );
    assert!(err.contains("--env-manager local"), "{err}");
}

#[test]
fn ping_turns_503_when_no_worker_can_start_again() {
    // The interpreter is reached through a script that is removed once the worker is up: the
    // replacement of a killed worker cannot start.
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("python");
    let real = common::root().join(".venv-ref/bin/python");
    std::fs::write(
        &link,
        format!("#!/bin/sh\nexec {} \"$@\"\n", real.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&link, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = Server::start(
        &common::model_dir("py_sklearn_pickle"),
        &["--env-manager", "local", "--python", link.to_str().unwrap()],
    );
    assert_eq!(server.request("GET", "/ping", &[], b"").status, 200);
    std::fs::remove_file(&link).unwrap();
    kill(children(server.pid())[0], "-9");
    wait_for("/ping 503", Duration::from_secs(10), || {
        server.request("GET", "/ping", &[], b"").status == 503
    });
    let started = Instant::now();
    let r = server.request("POST", "/invocations", JSON, &wine_body(1));
    assert!(r.status >= 500, "{}", r.status);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered at once"
    );
}

#[test]
fn no_worker_outlives_the_server() {
    for signal in ["-TERM", "-KILL"] {
        let mut server = start("py_sleeps", &["-w", "2"]);
        let workers = children(server.pid());
        assert_eq!(workers.len(), 2);
        kill(server.pid(), signal);
        wait_for("the server to exit", Duration::from_secs(30), || {
            !server.alive()
        });
        wait_for("its workers to exit", Duration::from_secs(10), || {
            workers.iter().all(|w| !alive(*w))
        });
    }
}

#[test]
fn a_busy_worker_exits_when_the_server_is_killed() {
    // A worker in the middle of a long call notices that its server is gone.
    let server = Arc::new(start("py_sleeps", &["-t", "120"]));
    let worker = children(server.pid())[0];
    let s = server.clone();
    let client = std::thread::spawn(move || {
        let _ = s.try_request(
            "POST",
            "/invocations",
            JSON,
            &small_body("{\"seconds\": 60}"),
        );
    });
    std::thread::sleep(Duration::from_millis(500));
    kill(server.pid(), "-KILL");
    wait_for("the busy worker to exit", Duration::from_secs(5), || {
        !alive(worker)
    });
    let _ = client.join();
}

#[test]
fn the_default_env_manager_builds_the_models_environment_once_with_uv() {
    // `--env-manager virtualenv` (MLflow's default, also ours): the model's python_env.yaml
    // and requirements.txt, installed from PyPI by uv (found beside `--python`) into the
    // cache; a second start reuses it.
    let cache = tempfile::tempdir().unwrap();
    let python = common::root().join(".venv-ref/bin/python");
    let args = [
        "--python",
        python.to_str().unwrap(),
        "--model-cache",
        cache.path().to_str().unwrap(),
        "--worker-start-timeout",
        "120",
    ];
    let golden =
        common::golden::load(&common::root().join("tests/golden/python/py_sklearn_pickle.json"));
    let case = &golden["cases"][0];
    for round in 0..2 {
        let port = common::free_port();
        let mut cmd = common::serve_command(&common::model_dir("py_sklearn_pickle"), port, &args);
        cmd.stderr(Stdio::inherit());
        let started = Instant::now();
        let server = Server::spawn_within(cmd, port, Duration::from_secs(900));
        let r = server.request(
            "POST",
            "/invocations",
            JSON,
            &common::golden::body(case).unwrap(),
        );
        assert_eq!(r.status, 200);
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            case["response"].as_str().unwrap()
        );
        let envs: Vec<_> = std::fs::read_dir(cache.path().join(".python/envs"))
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(envs.len(), 1, "one environment per requirement set");
        let python = envs[0].path().join("bin/python");
        let worker = children(server.pid())[0];
        let exe = std::fs::read_link(format!("/proc/{worker}/exe")).unwrap();
        let venv_exe = python.canonicalize().unwrap();
        assert_eq!(exe, venv_exe, "the worker runs the model's own environment");
        eprintln!("round {round}: ready in {:?}", started.elapsed());
    }
}

#[test]
fn drain_waits_for_a_workers_call_in_flight() {
    // SIGTERM while a worker is inside a 2 s call: readiness turns 503, the call finishes
    // and is answered, then the server exits 0 and its worker with it.
    let mut server = start("py_sleeps", &["--drain-delay", "0"]);
    let worker = children(server.pid())[0];
    let answer = Arc::new(std::sync::Mutex::new(None));
    let slot = answer.clone();
    let port = server.port;
    let client = std::thread::spawn(move || {
        let r = common::http(
            port,
            "POST",
            "/invocations",
            JSON,
            &small_body("{\"seconds\": 2.0}"),
        );
        *slot.lock().unwrap() = Some(r.map(|r| (r.status, r.body)));
    });
    std::thread::sleep(Duration::from_millis(500));
    kill(server.pid(), "-TERM");
    client.join().unwrap();
    let answered = answer.lock().unwrap().take().unwrap().unwrap();
    assert_eq!(answered.0, 200, "{}", String::from_utf8_lossy(&answered.1));
    assert_eq!(answered.1, b"{\"predictions\": [{\"0\": 6.0}]}");
    wait_for("the server to exit", Duration::from_secs(30), || {
        !server.alive()
    });
    wait_for("its worker to exit", Duration::from_secs(10), || {
        !alive(worker)
    });
}
