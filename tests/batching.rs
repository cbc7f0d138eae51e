//! Dynamic batching over HTTP: many concurrent clients with different row counts each get
//! the answer a one-request-at-a-time server gives them: the same shape and their own rows.
//! Values agree to float32 rounding: ONNX Runtime's kernels may round the last bit
//! differently for different batch sizes.

mod common;

use common::{model_dir, numbers, Server};

fn body(rows: usize, seed: usize) -> String {
    let data: Vec<String> = (0..rows)
        .map(|r| {
            let x = (seed * 31 + r * 7) as f64;
            format!(
                "[{},{},0.36,{},0.045,45,170,1.001,3,0.45,{}]",
                7.0 + x % 5.0,
                0.2 + (x % 3.0) / 10.0,
                1.0 + x % 20.0,
                8.0 + x % 6.0
            )
        })
        .collect();
    format!(
        r#"{{"dataframe_split": {{"columns": ["fixed acidity","volatile acidity","citric acid","residual sugar","chlorides","free sulfur dioxide","total sulfur dioxide","density","pH","sulphates","alcohol"], "data": [{}]}}}}"#,
        data.join(",")
    )
}

/// Runtime calls so far and the requests they ran (from `/metrics`).
fn runtime_calls(server: &Server) -> (f64, f64) {
    let m = server.request("GET", "/metrics", &[], b"");
    let text = String::from_utf8_lossy(&m.body);
    let get = |s: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(s).and_then(|r| r.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{s} missing"))
    };
    (
        get("mlflow_serve_batch_requests_count "),
        get("mlflow_serve_batch_requests_sum "),
    )
}

fn answers(server: &Server, bodies: &[String]) -> Vec<(u16, Vec<u8>)> {
    let port = server.port;
    let handles: Vec<_> = bodies
        .iter()
        .cloned()
        .map(|b| {
            std::thread::spawn(move || {
                let r = common::http(
                    port,
                    "POST",
                    "/invocations",
                    &[("Content-Type", "application/json")],
                    b.as_bytes(),
                )
                .expect("request");
                (r.status, r.body)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn concurrent_requests_get_exactly_their_own_rows() {
    batched_answers_match_serial("wine_cols");
}

/// Without the `torch` feature the TorchScript case below does not exist: fail, saying so,
/// rather than pass while checking nothing of that backend.
/// XGBoost and LightGBM rows are independent: merged requests get exactly their own rows
/// (values, class labels as strings, and a float32 multiclass matrix).
#[test]
fn tree_model_requests_batch_and_get_their_own_rows() {
    for model in [
        "xgb_binary_logistic",
        "xgb_multi_softprob",
        "lgb_classifier",
        "lgb_linear",
    ] {
        batched_answers_match_serial(model);
    }
}

#[cfg(not(feature = "torch"))]
#[test]
fn torchscript_batching_needs_the_torch_feature() {
    panic!("the TorchScript batching test needs `--features torch` (`make test` builds it)");
}

/// The TorchScript backend plugs into the same engine: a column-signature model batches too.
#[cfg(feature = "torch")]
#[test]
fn torchscript_requests_batch_and_get_their_own_rows() {
    batched_answers_match_serial("torch_wine_cols");
}

/// Python workers: scikit-learn answers row by row, so its requests merge into one
/// `predict` call in the worker (labels, and `predict_proba`'s matrix).
#[test]
fn python_worker_requests_batch_and_get_their_own_rows() {
    let python = common::python_args();
    let python: Vec<&str> = python.iter().map(String::as_str).collect();
    for model in ["py_sklearn_pickle", "py_sklearn_proba"] {
        batched_answers_match_serial_with(model, &python);
    }
}

fn batched_answers_match_serial(model: &str) {
    batched_answers_match_serial_with(model, &[]);
}

fn batched_answers_match_serial_with(model: &str, extra: &[&str]) {
    let bodies: Vec<String> = (0..48).map(|i| body(1 + i % 9, i)).collect();
    let with = |args: &[&'static str]| -> Vec<&str> {
        args.iter().copied().chain(extra.iter().copied()).collect()
    };
    let serial = Server::start(&model_dir(model), &with(&["--max-batch-rows", "1"]));
    let expected: Vec<_> = bodies
        .iter()
        .map(|b| {
            let r = serial.request(
                "POST",
                "/invocations",
                &[("Content-Type", "application/json")],
                b.as_bytes(),
            );
            (r.status, r.body)
        })
        .collect();
    let batched = Server::start(
        &model_dir(model),
        &with(&["--max-batch-rows", "32", "--max-batch-delay", "20"]),
    );
    for round in 0..3 {
        let got = answers(&batched, &bodies);
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g.0, 200, "round {round} request {i}");
            let (gv, ev) = (numbers(&g.1), numbers(&e.1));
            assert_eq!(gv.len(), ev.len(), "round {round} request {i}: row count");
            for (a, b) in gv.iter().zip(&ev) {
                assert!(
                    (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                    "round {round} request {i}: {a} vs {b}"
                );
            }
        }
    }
    // The runtime really merged requests: fewer calls than requests.
    let (calls, requests) = runtime_calls(&batched);
    assert_eq!(
        requests,
        1.0 + 3.0 * bodies.len() as f64,
        "warm-up + every request ran once"
    );
    assert!(
        calls < requests / 2.0,
        "{calls} calls for {requests} requests: no batching"
    );
}

/// The rows `body(rows, seed)` sends, as numbers.
fn row_values(rows: usize, seed: usize) -> Vec<Vec<f64>> {
    let b = body(rows, seed);
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    v["dataframe_split"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

/// The same rows as a V2 request (one FP64 column per input, MLServer's `pd` codec), JSON or
/// with Triton's binary tensors; the header length when binary.
fn v2_body(rows: &[Vec<f64>], binary: bool) -> (Vec<u8>, Option<usize>) {
    let mut raw = Vec::new();
    let inputs: Vec<serde_json::Value> = common::WINE
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let col: Vec<f64> = rows.iter().map(|r| r[j]).collect();
            if binary {
                col.iter().for_each(|x| raw.extend_from_slice(&x.to_le_bytes()));
                serde_json::json!({"name": name, "shape": [rows.len(), 1], "datatype": "FP64",
                                   "parameters": {"binary_data_size": col.len() * 8}})
            } else {
                serde_json::json!({"name": name, "shape": [rows.len(), 1], "datatype": "FP64", "data": col})
            }
        })
        .collect();
    let mut out = serde_json::to_vec(&serde_json::json!({ "inputs": inputs })).unwrap();
    let header = out.len();
    out.extend_from_slice(&raw);
    (out, binary.then_some(header))
}

/// Requests of MLflow's protocol, KServe V1 and V2 (JSON and binary) sent at once share one
/// queue: each gets its own rows (the serial server's numbers) and the runtime merges them.
#[test]
fn requests_of_every_protocol_batch_together() {
    let serial = Server::start(&model_dir("wine_cols"), &["--max-batch-rows", "1"]);
    let batched = Server::start(
        &model_dir("wine_cols"),
        &["--max-batch-rows", "64", "--max-batch-delay", "30"],
    );
    let cases: Vec<(usize, usize)> = (0..40).map(|i| (1 + i % 5, i)).collect();
    let expected: Vec<Vec<f64>> = cases
        .iter()
        .map(|&(rows, seed)| {
            let r = serial.request(
                "POST",
                "/invocations",
                &[("Content-Type", "application/json")],
                body(rows, seed).as_bytes(),
            );
            numbers(&r.body)
        })
        .collect();
    let port = batched.port;
    let handles: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, &(rows, seed))| {
            std::thread::spawn(move || -> Vec<f64> {
                let json = [("Content-Type", "application/json")];
                match i % 4 {
                    0 => {
                        let r = common::http(
                            port,
                            "POST",
                            "/invocations",
                            &json,
                            body(rows, seed).as_bytes(),
                        )
                        .unwrap();
                        assert_eq!(r.status, 200);
                        numbers(&r.body)
                    }
                    1 => {
                        let r = common::http(
                            port,
                            "POST",
                            "/v1/models/wine_cols:predict",
                            &json,
                            body(rows, seed).as_bytes(),
                        )
                        .unwrap();
                        assert_eq!(r.status, 200);
                        numbers(&r.body)
                    }
                    k => {
                        let (b, header) = v2_body(&row_values(rows, seed), k == 3);
                        let len = header.map(|n| n.to_string());
                        let headers: Vec<(&str, &str)> = match &len {
                            Some(n) => vec![("Inference-Header-Content-Length", n.as_str())],
                            None => json.to_vec(),
                        };
                        let r =
                            common::http(port, "POST", "/v2/models/wine_cols/infer", &headers, &b)
                                .unwrap();
                        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                        v["outputs"][0]["data"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|x| x.as_f64().unwrap())
                            .collect()
                    }
                }
            })
        })
        .collect();
    for (i, (h, e)) in handles.into_iter().zip(&expected).enumerate() {
        let got = h.join().unwrap();
        assert_eq!(got.len(), e.len(), "request {i}");
        for (a, b) in got.iter().zip(e) {
            assert!(
                (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                "request {i}: {a} vs {b}"
            );
        }
    }
    let (calls, requests) = runtime_calls(&batched);
    assert_eq!(
        requests,
        1.0 + cases.len() as f64,
        "warm-up + every request ran once"
    );
    assert!(
        calls < requests / 2.0,
        "{calls} calls for {requests} requests: no batching"
    );
}
