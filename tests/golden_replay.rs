//! Replays every golden response recorded from real `mlflow models serve` 3.17.2
//! (tests/golden/*.json, made by tests/golden/record.py) against the real mlflow-serve
//! binary over HTTP, and requires the same status, media type and body: success bodies byte
//! for byte (so `0.1` for `0.10000000149011612` fails), except for the models listed in
//! [`FLOAT_TOLERANCE`] with the reason; error bodies by code, class and message, the message
//! exactly unless its case's `compare` lists it as printing a Python set (compared as a set)
//! or the data (a printout, compared after it) differently. The number of cases and of
//! messages identical to MLflow's are committed figures ([`FIGURES`]).

mod common;

use common::golden;
use mlflow_serve::payload::json::scan::Scanner;
use mlflow_serve::payload::Cell;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};

fn parse_py_json(text: &str) -> Option<Cell> {
    let mut s = Scanner::new(text);
    let c = s.cell(0).ok()?;
    s.ws();
    (s.pos == text.len()).then_some(c)
}

/// Models whose answers may differ from MLflow's in the last float32 bits, and why. Every
/// other golden must match MLflow's body byte for byte (numbers compared as text).
const FLOAT_TOLERANCE: [(&str, &str); 3] = [
    ("torch_cnn", LIBTORCH_ROUNDING),
    ("torch_wine_cols", LIBTORCH_ROUNDING),
    ("torch_wine_tensor", LIBTORCH_ROUNDING),
];
const LIBTORCH_ROUNDING: &str = "libtorch's CPU kernels, called from C++ with the server's \
    intra-op thread count, may round the last bit of a float32 matmul differently from the \
    Python torch run that recorded the golden (about 1e-7 relative)";

/// Difference allowed for the models above: a few float32 ulps (relative, or absolute for
/// magnitudes below 1).
const RELATIVE: f64 = 1e-6;

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan())
        || a == b
        || (a - b).abs() <= RELATIVE * a.abs().max(b.abs()).max(1.0)
}

fn same(a: &Cell, b: &Cell) -> bool {
    match (a, b) {
        (Cell::Float(x), Cell::Float(y)) => close(*x, *y),
        // ints and floats print differently (`1` vs `1.0`): a type difference is a mismatch
        (Cell::Int(_), Cell::Float(_)) | (Cell::Float(_), Cell::Int(_)) => false,
        (Cell::List(x), Cell::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Cell::Dict(x), Cell::Dict(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => a == b,
    }
}

fn field<'a>(c: &'a Cell, key: &str) -> Option<&'a Cell> {
    match c {
        Cell::Dict(kv) => kv.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

fn text(c: Option<&Cell>) -> String {
    match c {
        Some(Cell::Str(s)) => s.clone(),
        _ => String::new(),
    }
}

fn media(ct: Option<&str>) -> String {
    ct.unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn check_case(
    server: &common::Server,
    model: &str,
    case: &Value,
    identical: &AtomicUsize,
) -> Result<(), String> {
    let get = |k: &str| case.get(k).and_then(Value::as_str);
    let body = golden::body(case).unwrap_or_default();
    let headers: Vec<(String, String)> = case["headers"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    let hdrs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = server.request(
        get("method").unwrap_or("GET"),
        get("path").unwrap_or("/"),
        &hdrs,
        &body,
    );
    let actual_body = String::from_utf8_lossy(&r.body).to_string();
    if let Some(div) = get("divergence") {
        // Deliberate, documented divergences (README "Deliberate divergences").
        return match div {
            "missing-content-type"
                if r.status == 415 && media(r.header("content-type")) == "text/plain" =>
            {
                Ok(())
            }
            "xgboost2-zero-rows" if r.status == 200 && actual_body == r#"{"predictions": []}"# => {
                Ok(())
            }
            _ => Err(format!("divergence {div}: got {} {actual_body}", r.status)),
        };
    }
    let status = case["status"].as_u64().unwrap_or(0) as u16;
    if get("compare").is_some() && status < 400 {
        return Err("`compare` on a success: only error messages are compared leniently".into());
    }
    if r.status != status {
        return Err(format!(
            "status {} != mlflow's {status}; body: {actual_body}",
            r.status
        ));
    }
    let (em, am) = (media(get("content_type")), media(r.header("content-type")));
    if em != am {
        return Err(format!("content type {am:?} != mlflow's {em:?}"));
    }
    if let Some(allow) = get("allow") {
        if r.header("allow") != Some(allow) {
            return Err(format!("allow header {:?} != {allow:?}", r.header("allow")));
        }
    }
    let expected_body = get("response").unwrap_or("");
    let (Some(e), Some(a)) = (parse_py_json(expected_body), parse_py_json(&actual_body)) else {
        return if expected_body == actual_body {
            Ok(())
        } else {
            Err(format!(
                "body differs:\n  mlflow:       {expected_body:?}\n  mlflow-serve: {actual_body:?}"
            ))
        };
    };
    if let Some(code) = field(&e, "error_code") {
        for key in ["error_code", "sqlstate", "error_class"] {
            if field(&e, key) != field(&a, key) {
                return Err(format!(
                    "{key} {:?} != mlflow's {:?} ({code:?}); body: {actual_body}",
                    field(&a, key),
                    field(&e, key)
                ));
            }
        }
        if field(&e, "stack_trace").is_some() != field(&a, "stack_trace").is_some() {
            return Err(format!("stack_trace presence differs; body: {actual_body}"));
        }
        let (em, am) = (text(field(&e, "message")), text(field(&a, "message")));
        if em == am {
            identical.fetch_add(1, Ordering::Relaxed);
        } else if std::env::var_os("GOLDEN_SHOW_MESSAGES").is_some() {
            eprintln!(
                "message not identical: {model}/{}\n  mlflow:       {em:?}\n  mlflow-serve: {am:?}",
                get("name").unwrap_or("?")
            );
        }
        // `compare` (set by the recorder, see tests/golden/record.py) says how: exactly
        // unless the case is listed as printing Python sets or the data differently.
        let mode = get("compare").unwrap_or("exact");
        return golden::compare_message(mode, &em, &am);
    }
    // Success bodies: the same bytes as MLflow's (number tokens compared as text), except
    // where the golden says a tolerance is needed and why.
    if expected_body == actual_body {
        return Ok(());
    }
    let tolerant = FLOAT_TOLERANCE.iter().any(|(m, _)| *m == model);
    if !tolerant || !same(&e, &a) {
        let short = |s: &str| s.chars().take(600).collect::<String>();
        return Err(format!(
            "JSON differs:\n  mlflow:       {}\n  mlflow-serve: {}",
            short(expected_body),
            short(&actual_body)
        ));
    }
    Ok(())
}

/// Golden cases replayed, and error messages identical to MLflow's character for
/// character: the figures the README reports. Raise them when they rise.
const FIGURES: (usize, usize) = (748, 308);

/// The same figures for the XGBoost and LightGBM models (tests/golden/trees/serve, recorded
/// by tests/golden/record_trees.py with the real libraries).
const TREE_FIGURES: (usize, usize) = (1086, 250);

/// The same figures for the models run in Python workers (tests/golden/python, recorded by
/// tests/golden/record_python.py).
const PYTHON_FIGURES: (usize, usize) = (60, 18);

/// Replays every golden file of `dir` (at least `min`) and checks the figures.
fn replay(dir: &str, min: usize, what: &str, figures: (usize, usize)) {
    replay_with(dir, min, what, figures, &[])
}

/// [`replay`] with extra server flags. Cases where MLflow's own server failed as a process
/// (`transport_error`: the model killed it) and models that never start (`startup`) are
/// divergences by design, tested in tests/python_workers.rs.
fn replay_with(dir: &str, min: usize, what: &str, figures: (usize, usize), extra: &[&str]) {
    let files = golden::files(&common::root().join(dir), min);
    let identical = AtomicUsize::new(0);
    let mut failures = Vec::new();
    let mut total = 0;
    for file in files {
        let golden = golden::load(&file);
        let model = golden["model"].as_str().unwrap();
        if golden.get("startup").is_some() {
            continue;
        }
        let server = common::Server::start(&common::model_dir(model), extra);
        for case in golden["cases"].as_array().unwrap() {
            if case.get("transport_error").is_some() {
                continue;
            }
            total += 1;
            if let Err(e) = check_case(&server, model, case, &identical) {
                failures.push(format!(
                    "{model}/{}: {e}",
                    case["name"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} golden cases differ from MLflow:\n{}",
        failures.len(),
        failures.join("\n")
    );
    golden::assert_figures(what, total, identical.load(Ordering::Relaxed), figures);
}

#[test]
fn every_golden_matches_mlflow() {
    if !cfg!(feature = "torch") {
        panic!(
            "the goldens include TorchScript models: run with `--features torch` (make test does)"
        );
    }
    replay("tests/golden", 20, "serving goldens", FIGURES);
}

#[test]
fn every_tree_golden_matches_mlflow() {
    replay(
        "tests/golden/trees/serve",
        50,
        "tree serving goldens",
        TREE_FIGURES,
    );
}

#[test]
fn every_python_worker_golden_matches_mlflow() {
    let args = common::python_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    replay_with(
        "tests/golden/python",
        8,
        "Python-worker models",
        PYTHON_FIGURES,
        &args,
    );
}
