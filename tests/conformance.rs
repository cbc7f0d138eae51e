//! One conformance suite, run against every backend: the same network, exported once to
//! ONNX and once to TorchScript by tests/fixtures/generate_torch.py (real MLflow 3.17.2),
//! must give the same predictions through mlflow-serve's ONNX Runtime and libtorch
//! backends, over HTTP, for the same inputs at several batch sizes.
//!
//! Tolerance: |a - b| <= 1e-5 * max(1, |b|). Both backends compute in float32; kernels may
//! sum in different orders, which moves the last bits, never more.

mod common;

use common::{model_dir, numbers, Server};

/// A network and its twin per backend, with the inputs the suite sends.
struct Case {
    name: &'static str,
    /// (backend, fixture model) pairs; the first is the reference.
    backends: &'static [(&'static str, &'static str)],
    /// Values per row of the input tensor, and its trailing shape as JSON nesting.
    row: fn(usize, usize) -> String,
}

const TOLERANCE: f64 = 1e-5;

fn wine_row(seed: usize, r: usize) -> String {
    let x = (seed * 31 + r * 7) as f64;
    format!(
        "[{},{},0.36,{},0.045,45,170,1.001,3,0.45,{}]",
        7.0 + x % 5.0,
        0.2 + (x % 3.0) / 10.0,
        1.0 + x % 20.0,
        8.0 + x % 6.0
    )
}

fn image(seed: usize, r: usize) -> String {
    let rows: Vec<String> = (0..28)
        .map(|i| {
            let px: Vec<String> = (0..28)
                .map(|j| {
                    format!(
                        "{:.4}",
                        ((seed * 131 + r * 17 + i * 29 + j * 7) % 97) as f64 / 97.0
                    )
                })
                .collect();
            format!("[{}]", px.join(","))
        })
        .collect();
    format!("[[{}]]", rows.join(","))
}

fn backends_built() -> Vec<&'static str> {
    let mut b = vec!["onnx"];
    if cfg!(feature = "torch") {
        b.push("torch");
    } else {
        panic!(
            "HTTP conformance covers the TorchScript backend too: built without --features \
             torch, it would compare nothing for it (`make test` builds it)"
        );
    }
    b
}

const CASES: &[Case] = &[
    Case {
        name: "wine MLP 11->16->1",
        backends: &[("onnx", "onnx_wine_tensor"), ("torch", "torch_wine_tensor")],
        row: wine_row,
    },
    Case {
        name: "MNIST CNN",
        backends: &[("onnx", "cnn_mnist"), ("torch", "torch_cnn")],
        row: image,
    },
];

#[test]
fn every_backend_gives_the_same_predictions() {
    let built = backends_built();
    let mut compared = 0;
    for case in CASES {
        let servers: Vec<(&str, Server)> = case
            .backends
            .iter()
            .filter(|(b, _)| built.contains(b))
            .map(|(b, m)| (*b, Server::start(&model_dir(m), &[])))
            .collect();
        for (seed, rows) in [1usize, 7, 64].into_iter().enumerate() {
            let data: Vec<String> = (0..rows).map(|r| (case.row)(seed, r)).collect();
            let body = format!(r#"{{"inputs": [{}]}}"#, data.join(","));
            let answers: Vec<(&str, Vec<f64>)> = servers
                .iter()
                .map(|(b, s)| {
                    let r = s.request(
                        "POST",
                        "/invocations",
                        &[("Content-Type", "application/json")],
                        body.as_bytes(),
                    );
                    assert_eq!(
                        r.status,
                        200,
                        "{} on {b}: {}",
                        case.name,
                        String::from_utf8_lossy(&r.body)
                    );
                    (*b, numbers(&r.body))
                })
                .collect();
            let (ref_backend, reference) = &answers[0];
            assert!(!reference.is_empty(), "{}: no predictions", case.name);
            for (b, got) in &answers[1..] {
                assert_eq!(
                    got.len(),
                    reference.len(),
                    "{} batch {rows}: {b} vs {ref_backend}",
                    case.name
                );
                for (i, (a, e)) in got.iter().zip(reference).enumerate() {
                    assert!(
                        (a - e).abs() <= TOLERANCE * e.abs().max(1.0),
                        "{} batch {rows} value {i}: {b} {a} vs {ref_backend} {e}",
                        case.name
                    );
                }
                compared += 1;
            }
        }
    }
    if cfg!(feature = "torch") {
        assert_eq!(
            compared,
            CASES.len() * 3,
            "every case compared at every batch size"
        );
    }
}
