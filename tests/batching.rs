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

/// The TorchScript backend plugs into the same engine: a column-signature model batches too.
#[cfg(feature = "torch")]
#[test]
fn torchscript_requests_batch_and_get_their_own_rows() {
    batched_answers_match_serial("torch_wine_cols");
}

fn batched_answers_match_serial(model: &str) {
    let bodies: Vec<String> = (0..48).map(|i| body(1 + i % 9, i)).collect();
    let serial = Server::start(&model_dir(model), &["--max-batch-rows", "1"]);
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
        &["--max-batch-rows", "32", "--max-batch-delay", "20"],
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
    let m = batched.request("GET", "/metrics", &[], b"");
    let text = String::from_utf8_lossy(&m.body);
    let get = |s: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(s).and_then(|r| r.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{s} missing"))
    };
    let (calls, requests) = (
        get("mlflow_serve_batch_requests_count "),
        get("mlflow_serve_batch_requests_sum "),
    );
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
