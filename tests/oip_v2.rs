//! The Open Inference Protocol's REST health and metadata routes, through the real
//! `tritonclient[http]` client (tests/oip/triton_metadata.py, in the reference environment),
//! on every kind of fixture model (columns, tensors, named tensors, strings, no signature,
//! TorchScript) and on a registry model (name and version from the registry); plus the
//! answers a client gets while the model loads and while the server drains.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::stores::python;
use common::{free_port, http, model_dir, serve_command, Server};

fn triton_metadata(port: u16, model: &Path, name: &str, version: Option<&str>) {
    let script = common::root().join("tests/oip/triton_metadata.py");
    let mut cmd = Command::new(python());
    cmd.arg(script).arg(port.to_string()).arg(model).arg(name);
    if let Some(v) = version {
        cmd.arg(v);
    }
    let out = cmd.output().expect("run the tritonclient check");
    assert!(
        out.status.success(),
        "tritonclient on {name}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tritonclient_reads_health_and_metadata_of_every_kind_of_model() {
    let models = [
        "wine_cols",
        "wine_tensor",
        "wine_named_tensors",
        "wine_multi_input",
        "cnn_mnist",
        "image_uint8",
        "string_echo",
        "typed_columns",
        "iris_zipmap",
        "wine_nosig",
        "torch_wine_cols",
        "torch_cnn",
        "torch_nosig_sum",
        "xgb_binary_logistic",
        "xgb_legacy_multi",
        "lgb_classifier",
    ];
    for name in models {
        let dir = model_dir(name);
        let server = Server::start(&dir, &[]);
        triton_metadata(server.port, &dir, name, None);
    }
    // --model-name (KServe passes the InferenceService's name)
    let dir = model_dir("wine_cols");
    let server = Server::start(&dir, &["--model-name", "sklearn-wine"]);
    triton_metadata(server.port, &dir, "sklearn-wine", None);
}

/// Runs tests/oip/triton_infer.py; answers whether the answers were compared (`true`) or
/// the sample data was refused by both routes (`false`).
fn triton_infer(port: u16, model: &Path, name: &str, grpc_port: u16) -> bool {
    let script = common::root().join("tests/oip/triton_infer.py");
    let out = Command::new(python())
        .arg(script)
        .arg(port.to_string())
        .arg(model)
        .arg(name)
        .arg(grpc_port.to_string())
        .output()
        .expect("run the tritonclient infer check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tritonclient infer on {name}:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    match stdout.lines().last() {
        Some("RESULT: compared") => true,
        Some("RESULT: refused") => false,
        other => panic!("tritonclient infer on {name}: no result line ({other:?}):\n{stdout}"),
    }
}

/// Fixture models whose sample data (made from the signature) `/invocations` refuses, and
/// why; V2 must refuse it alike. Every other model's answers are compared.
const SAMPLE_REFUSED: [(&str, &str); 1] = [(
    "torch_tuple_out",
    "its TorchScript `forward` returns a tuple, which MLflow's pytorch flavor refuses for any input (400, as recorded in tests/golden/torch_tuple_out.json)",
)];

/// Every fixture model a client would serve (not the dtype-conformance `*_identity` models
/// of scalar inputs, nor `torch_keeps_input`, whose answer depends on the previous request,
/// nor the two formats refused at start-up), through tritonclient's HTTP client (JSON and
/// binary tensors, a requested output, errors) and its gRPC client (metadata, readiness,
/// infer with raw tensors, another model's name): equal to `/invocations` for the same data.
#[test]
fn tritonclient_infer_equals_invocations_on_every_fixture_model() {
    let models = [
        "wine_cols",
        "wine_tensor",
        "wine_named_tensors",
        "wine_multi_input",
        "wine_params",
        "wine_nosig",
        "wine_mlp_external",
        "onnx_wine_tensor",
        "cnn_mnist",
        "image_uint8",
        "string_echo",
        "typed_columns",
        "iris_zipmap",
        "torch_wine_cols",
        "torch_wine_tensor",
        "torch_cnn",
        "torch_linear_typed",
        "torch_nosig_sum",
        "torch_params",
        "torch_tuple_out",
        "xgb_binary_logistic",
        "xgb_multi_softprob",
        "xgb_classifier",
        "xgb_legacy_binary",
        "lgb_classifier",
        "lgb_multiclass",
        // Run in Python workers: a scikit-learn pipeline, and a custom model answering a
        // DataFrame with a string column.
        "py_sklearn_pickle",
        "py_custom_params",
    ];
    let mut refused = Vec::new();
    for name in models {
        let dir = model_dir(name);
        let grpc = free_port();
        let mut args = vec!["--grpc-port".to_string(), grpc.to_string()];
        if name.starts_with("py_") {
            args.extend(common::python_args());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = Server::start(&dir, &args);
        if !triton_infer(server.port, &dir, name, grpc) {
            refused.push(name);
        }
    }
    let listed: Vec<&str> = SAMPLE_REFUSED.iter().map(|(m, _)| *m).collect();
    assert_eq!(
        refused, listed,
        "models whose sample /invocations refuses (their answers were not compared)"
    );
    eprintln!(
        "tritonclient: {} models' answers compared, {} refused alike",
        models.len() - refused.len(),
        refused.len()
    );
}

fn grpc_checks(mode: &str, port: u16, grpc: u16, extra: &[&str]) {
    let model = if mode == "timeout" {
        "cnn_mnist"
    } else {
        "wine_tensor"
    };
    let out = Command::new(python())
        .arg(common::root().join("tests/oip/triton_grpc_checks.py"))
        .args([mode, &port.to_string(), &grpc.to_string(), model])
        .args(extra)
        .output()
        .expect("run the gRPC checks");
    assert!(
        out.status.success(),
        "gRPC {mode}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// gRPC under the HTTP server's limits and lifecycle: a message past `--max-body-bytes` is
/// refused and the server goes on, enforcement errors are INVALID_ARGUMENT with MLflow's
/// message, typed contents work, the metrics count gRPC calls under `protocol="grpc-v2"`;
/// after SIGTERM the gRPC server stays live, turns not ready, still answers during the drain
/// delay, then closes with the process.
#[test]
fn grpc_follows_the_limits_metrics_and_drain_of_http() {
    let grpc = free_port();
    let dir = model_dir("wine_tensor");
    let mut server = Server::start(
        &dir,
        &[
            "--grpc-port",
            &grpc.to_string(),
            "--max-body-bytes",
            "100000",
            "--drain-delay",
            "3",
        ],
    );
    grpc_checks("serving", server.port, grpc, &["100000"]);
    Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    grpc_checks("draining", server.port, grpc, &[]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.alive() {
        assert!(Instant::now() < deadline, "still running after the drain");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(std::net::TcpStream::connect(("127.0.0.1", grpc)).is_err());
}

/// The KServe Python SDK (`kserve` 0.21.0, in .venv-kserve) as a second client: its
/// `InferenceRESTClient` (V2, JSON and binary tensors) and `InferenceGRPCClient` on a column,
/// a tensor and a named-tensor model, answers equal to `/invocations`.
#[test]
fn kserve_sdk_clients_get_the_invocations_answers() {
    let python = std::env::var_os("MLFLOW_SERVE_KSERVE_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| common::root().join(".venv-kserve/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: `make test` creates it (.venv-kserve)",
        python.display()
    );
    for name in ["wine_cols", "wine_tensor", "wine_named_tensors"] {
        let grpc = free_port();
        let server = Server::start(&model_dir(name), &["--grpc-port", &grpc.to_string()]);
        let out = Command::new(&python)
            .arg(common::root().join("tests/oip/kserve_client.py"))
            .args([&server.port.to_string(), &grpc.to_string(), name])
            .output()
            .expect("run the KServe SDK check");
        assert!(
            out.status.success(),
            "kserve SDK on {name}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `-t` bounds V2 calls as it bounds `/invocations`: DEADLINE_EXCEEDED over gRPC, 504 over
/// REST, and the server answers again once the runtime call is done.
#[test]
fn v2_requests_over_the_timeout_are_cut_on_both_transports() {
    let grpc = free_port();
    let server = Server::start(
        &model_dir("cnn_mnist"),
        &[
            "-t",
            "1",
            "--intra-op-threads",
            "1",
            "--grpc-port",
            &grpc.to_string(),
        ],
    );
    grpc_checks("timeout", server.port, grpc, &[]);
}

fn v2_error(r: &common::HttpResponse) -> String {
    let v: serde_json::Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&r.body)));
    v["error"].as_str().expect("an error string").to_string()
}

/// Malformed V2 requests get 400 with `{"error": …}`, never a panic or a 500; enforcement
/// failures carry MLflow's message; a binary body is read by its header length.
#[test]
fn malformed_v2_requests_are_refused_with_400() {
    let server = Server::start(&model_dir("wine_tensor"), &[]);
    let path = "/v2/models/wine_tensor/infer";
    let json = [("Content-Type", "application/json")];
    for (body, says) in [
        (&b"{"[..], "invalid V2 request"),
        (b"{\"inputs\": 3}", "invalid V2 request"),
        (b"{\"inputs\": []}", "no inputs"),
        (br#"{"inputs":[{"name":"x","shape":[1,11],"datatype":"FP32","data":[1]}]}"#, "needs 11 elements"),
        (br#"{"inputs":[{"name":"x","shape":[1,1],"datatype":"FP32","data":["a"]}]}"#, "not a valid FP32"),
        (br#"{"inputs":[{"name":"x","shape":[1],"datatype":"COMPLEX","data":[1]}]}"#, "unknown datatype"),
        (br#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","parameters":{"shared_memory_region":"r"}}]}"#, "not supported"),
        (br#"{"inputs":[{"name":"x","shape":[2,11],"datatype":"FP64","data":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}]}"#, "Failed to enforce schema"),
        (br#"{"parameters":{"content_type":"xml"},"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}"#, "content_type 'xml'"),
        (br#"{"inputs":[{"name":"x","shape":[4294967296,4294967296],"datatype":"FP32","data":[1]}]}"#, "too large"),
    ] {
        let r = server.request("POST", path, &json, body);
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
        let e = v2_error(&r);
        assert!(e.contains(says), "{e:?} should say {says:?}");
    }
    // binary: the header length past the body, and bytes left over
    let header = br#"{"parameters":{"binary_data_output":true},"inputs":[{"name":"x","shape":[1,11],"datatype":"FP32","parameters":{"binary_data_size":44}}]}"#;
    let mut body = header.to_vec();
    body.extend_from_slice(&[0u8; 44]);
    let len = header.len().to_string();
    let r = server.request(
        "POST",
        path,
        &[("Inference-Header-Content-Length", len.as_str())],
        &body,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let n: usize = r
        .header("inference-header-content-length")
        .expect("binary answer")
        .parse()
        .unwrap();
    let head: serde_json::Value = serde_json::from_slice(&r.body[..n]).unwrap();
    let size = head["outputs"][0]["parameters"]["binary_data_size"]
        .as_u64()
        .unwrap() as usize;
    assert_eq!(r.body.len(), n + size);
    body.push(0);
    let r = server.request(
        "POST",
        path,
        &[("Inference-Header-Content-Length", len.as_str())],
        &body,
    );
    assert_eq!(r.status, 400);
    assert!(v2_error(&r).contains("belong to no input"));
    let r = server.request(
        "POST",
        path,
        &[("Inference-Header-Content-Length", "99999")],
        &body,
    );
    assert_eq!(r.status, 400);
    let r = server.request(
        "POST",
        path,
        &[("Inference-Header-Content-Length", "x")],
        &body,
    );
    assert_eq!(r.status, 400);
    // another model's name, a wrong version
    let ok = br#"{"inputs":[{"name":"x","shape":[1,11],"datatype":"FP32","data":[0,0,0,0,0,0,0,0,0,0,0]}]}"#;
    assert_eq!(
        server
            .request("POST", "/v2/models/other/infer", &json, ok)
            .status,
        404
    );
    assert_eq!(
        server
            .request("POST", "/v2/models/wine_tensor/versions/9/infer", &json, ok)
            .status,
        404
    );
    let r = server.request("POST", path, &json, ok);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // the answer echoes the request id when the body has none
    let r = server.request(
        "POST",
        path,
        &[
            ("Content-Type", "application/json"),
            ("x-request-id", "abc"),
        ],
        ok,
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["id"], "abc");
    assert_eq!(v["model_name"], "wine_tensor");
}

#[test]
fn registry_models_are_addressed_by_registered_name_and_version() {
    let store = common::root().join("examples/wine-store");
    let port = free_port();
    let cache = common::stores::work_dir("oip-cache");
    let mut cmd = serve_command(Path::new("models:/wine-quality@champion"), port, &[]);
    cmd.current_dir(&store)
        .env("MLFLOW_SERVE_MODEL_CACHE", &cache)
        .env_remove("MLFLOW_TRACKING_URI");
    let server = Server::spawn(cmd, port);
    let r = server.request("GET", "/v2/models/wine-quality", &[], b"");
    assert_eq!(r.status, 200);
    let meta: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(meta["versions"], serde_json::json!(["3"]));
    // the champion's directory, as `serve` resolved it, for the signature check
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("expected.json")).unwrap()).unwrap();
    let dir = store
        .join("mlruns")
        .join(manifest["experiment_id"].as_str().unwrap())
        .join("models")
        .join(manifest["versions"]["3"]["model_id"].as_str().unwrap())
        .join("artifacts");
    assert!(dir.join("MLmodel").is_file(), "{}", dir.display());
    triton_metadata(port, &dir, "wine-quality", Some("3"));
}

#[test]
fn v2_readiness_follows_loading_and_draining_while_liveness_stays() {
    let port = free_port();
    // a tracking server that never answers keeps the model loading
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let mut cmd = serve_command(
        Path::new("models:/wine-quality/1"),
        port,
        &["--resolve-timeout", "30"],
    );
    cmd.env("MLFLOW_TRACKING_URI", &uri);
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let live = loop {
        if let Ok(r) = http(port, "GET", "/v2/health/live", &[], b"") {
            break r;
        }
        assert!(Instant::now() < deadline, "no answer while loading");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(live.status, 200);
    assert_eq!(
        http(port, "GET", "/v2/health/ready", &[], b"")
            .unwrap()
            .status,
        503
    );
    let meta = http(port, "GET", "/v2/models/wine-quality", &[], b"").unwrap();
    assert_eq!(meta.status, 503, "{}", String::from_utf8_lossy(&meta.body));
    assert!(String::from_utf8_lossy(&meta.body).contains("\"error\""));
    let _ = child.kill();
    let _ = child.wait();

    // draining: ready 503 at once, live and metadata still 200
    let dir = model_dir("wine_cols");
    let mut server = Server::start(&dir, &["--drain-delay", "3"]);
    let pid = server.pid();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        server.request("GET", "/v2/health/ready", &[], b"").status,
        503
    );
    assert_eq!(
        server
            .request("GET", "/v2/models/wine_cols/ready", &[], b"")
            .status,
        503
    );
    assert_eq!(
        server.request("GET", "/v2/health/live", &[], b"").status,
        200
    );
    assert_eq!(
        server
            .request("GET", "/v2/models/wine_cols", &[], b"")
            .status,
        200
    );
    assert!(server.alive());
}

/// Numbers equal to float32 accumulation precision (a CNN's outputs sum hundreds of float32
/// products, and ONNX Runtime's kernels sum them in an order that depends on the CPU and the
/// thread count: 1e-5 relative, 1e-7 absolute near zero; seen: 1.05e-6 relative on a CI
/// machine); strings equal, or (MLServer's `pd_json`) the same JSON.
fn same_values(name: &str, ours: &serde_json::Value, theirs: &serde_json::Value) {
    use serde_json::Value;
    match (ours, theirs) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!(
                (a - b).abs() <= 1e-5 * a.abs().max(b.abs()) + 1e-7,
                "{name}: {a} vs {b}"
            );
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{name}");
            a.iter().zip(b).for_each(|(x, y)| same_values(name, x, y));
        }
        (Value::Object(a), Value::Object(b)) => {
            assert_eq!(
                a.keys().collect::<Vec<_>>(),
                b.keys().collect::<Vec<_>>(),
                "{name}"
            );
            a.values()
                .zip(b.values())
                .for_each(|(x, y)| same_values(name, x, y));
        }
        (Value::String(a), Value::String(b)) if a != b => {
            let (x, y): (Value, Value) = (
                serde_json::from_str(a).unwrap_or_else(|_| panic!("{name}: {a:?} vs {b:?}")),
                serde_json::from_str(b).unwrap(),
            );
            same_values(name, &x, &y);
        }
        (a, b) => assert_eq!(a, b, "{name}"),
    }
}

/// Our V2 answer against MLServer's recorded one: the same id, name, content types, output
/// names, datatypes, shapes and values.
fn same_answer(name: &str, ours: &serde_json::Value, theirs: &serde_json::Value) {
    for key in ["id", "model_name", "parameters"] {
        assert_eq!(ours[key], theirs[key], "{name}: {key}");
    }
    let (o, t) = (
        ours["outputs"].as_array().unwrap(),
        theirs["outputs"].as_array().unwrap(),
    );
    assert_eq!(o.len(), t.len(), "{name}: outputs {ours} vs {theirs}");
    for (a, b) in o.iter().zip(t) {
        for key in ["name", "datatype", "shape", "parameters"] {
            assert_eq!(a[key], b[key], "{name}: output {key}: {a} vs {b}");
        }
        same_values(name, &a["data"], &b["data"]);
    }
}

/// Our V2 metadata against real MLServer 1.7.1's (tests/oip/mlserver_metadata.json, recorded by
/// tests/oip/record_mlserver.py) on every ONNX fixture model it loads: equal, but for the
/// differences made on purpose, each checked here:
/// - `platform` is `onnx_onnxv1` (Triton's name for the format); MLServer leaves it empty;
/// - without a signature, the runtime graph's tensors; MLServer lists none.
///
/// Models MLServer cannot load (a signature without outputs makes mlserver-mlflow 1.7.1 fail
/// and take its whole server down) are served here; the recording keeps MLServer's error.
#[test]
fn metadata_matches_mlserver_where_it_loads_the_model() {
    let golden: serde_json::Value = serde_json::from_slice(
        &std::fs::read(common::root().join("tests/oip/mlserver_metadata.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(golden["unknown_model"]["status"], 404);
    let mut compared = 0;
    let mut answered = 0;
    for (name, recorded) in golden["models"].as_object().unwrap() {
        let server = Server::start(&model_dir(name), &[]);
        let r = server.request("GET", &format!("/v2/models/{name}"), &[], b"");
        assert_eq!(r.status, 200, "{name}");
        let mut ours: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        if recorded["loaded"] != true {
            assert!(
                recorded["error"].as_str().unwrap().contains("Error"),
                "{name}: {recorded}"
            );
            continue;
        }
        let theirs = &recorded["metadata"];
        assert_eq!(theirs["platform"], "", "{name}");
        assert!(
            ["onnx_onnxv1"].contains(&ours["platform"].as_str().unwrap()),
            "{name}: {}",
            ours["platform"]
        );
        ours["platform"] = theirs["platform"].clone();
        let no_signature = !std::fs::read_to_string(model_dir(name).join("MLmodel"))
            .unwrap()
            .contains("signature:");
        if no_signature {
            assert_eq!(theirs["inputs"], serde_json::json!([]), "{name}");
            assert!(!ours["inputs"].as_array().unwrap().is_empty(), "{name}");
            ours["inputs"] = theirs["inputs"].clone();
            ours["outputs"] = theirs["outputs"].clone();
        }
        assert_eq!(&ours, theirs, "{name}");
        compared += 1;
        let infer = &recorded["infer"];
        if infer["status"].is_null() {
            continue; // no inputs in MLServer's metadata (no signature): nothing to send
        }
        let body = serde_json::to_vec(&infer["request"]).unwrap();
        let r = server.request(
            "POST",
            &format!("/v2/models/{name}/infer"),
            &[("Content-Type", "application/json")],
            &body,
        );
        assert_eq!(
            u64::from(r.status),
            infer["status"].as_u64().unwrap(),
            "{name}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let ours: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        same_answer(name, &ours, &infer["response"]);
        answered += 1;
    }
    assert!(compared >= 10, "{compared}");
    assert!(answered >= 10, "{answered}");
    // an unknown model: MLServer's status and message
    let server = Server::start(&model_dir("wine_cols"), &[]);
    let r = server.request("GET", "/v2/models/no-such-model", &[], b"");
    assert_eq!(r.status, 404);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap(),
        golden["unknown_model"]["body"]
    );
}
