//! Every tree fixture, on hostile random rows (NaN, ±inf, extremes, values exactly on split
//! thresholds, unseen and negative categories), must answer bit for bit what the real
//! library answered through MLflow's pyfunc (recorded by tests/golden/record_tree_library.py
//! into tests/golden/trees/library.json): same dtype, same shape, same bits, same refusals.

use std::path::PathBuf;

use runtime_api::{Param, Runtime, Tensor, TensorData};
use runtime_trees::{read_model, Answer, FileKind, Limits, TreeSession};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Null => f64::NAN,
        Value::String(s) => match s.as_str() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            other => panic!("unexpected value {other:?}"),
        },
        other => other.as_f64().expect("a number"),
    }
}

fn load(dir: &str, file: &str, class: &str) -> TreeSession {
    let path = root().join("tests/fixtures/models").join(dir).join(file);
    let bytes = std::fs::read(&path).expect("model file");
    let kind = if file.ends_with(".skops") {
        FileKind::LightGBMSkops
    } else if file.ends_with(".lgb") {
        FileKind::LightGBM
    } else {
        FileKind::XGBoost
    };
    let model =
        read_model(&bytes, kind, &Limits::default()).unwrap_or_else(|e| panic!("{dir}: {e}"));
    let answer = if class.ends_with("Booster") || class.is_empty() {
        Answer::Booster
    } else if class.ends_with("Classifier") {
        Answer::Labels
    } else {
        Answer::Values
    };
    TreeSession::new(std::sync::Arc::new(model), answer)
}

fn params(p: &Value) -> Vec<(String, Param)> {
    p.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let p = match v {
                        Value::Array(items) => Param::List(
                            items
                                .iter()
                                .map(|i| Param::Int(i.as_i64().unwrap_or(0)))
                                .collect(),
                        ),
                        other => Param::Bool(other.as_bool().unwrap_or(false)),
                    };
                    (k.clone(), p)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn same_bits(dtype: &str, got: &TensorData, want: &[Value]) -> Result<(), String> {
    let n = want.len();
    if got.len() != n {
        return Err(format!("{} values, {n} expected", got.len()));
    }
    for (i, w) in want.iter().enumerate() {
        let ok = match (dtype, got) {
            ("float32", TensorData::F32(v)) => {
                let w = number(w);
                (v[i] as f64).to_bits() == w.to_bits() || (v[i].is_nan() && w.is_nan())
            }
            ("float64", TensorData::F64(v)) => {
                let w = number(w);
                v[i].to_bits() == w.to_bits() || (v[i].is_nan() && w.is_nan())
            }
            ("int64", TensorData::I64(v)) => Some(v[i]) == w.as_i64(),
            ("int32", TensorData::I32(v)) => Some(v[i] as i64) == w.as_i64(),
            (d, TensorData::Str(v)) if d.starts_with("<U") || d == "object" => {
                Some(v[i].as_str()) == w.as_str()
            }
            (d, other) => return Err(format!("dtype {} for {d}", other.dtype())),
        };
        if !ok {
            let got = match got {
                TensorData::F32(v) => format!("{:?}", v[i] as f64),
                TensorData::F64(v) => format!("{:?}", v[i]),
                other => format!("{:?}", other.dtype()),
            };
            return Err(format!("element {i}: got {got}, want {w}"));
        }
    }
    Ok(())
}

#[test]
fn every_row_matches_the_library_bit_for_bit() {
    let text = std::fs::read_to_string(root().join("tests/golden/trees/library.json"))
        .expect("library.json");
    let doc: Value = serde_json::from_str(&text).expect("json");
    let mut failures = Vec::new();
    let mut compared = 0usize;
    for m in doc["models"].as_array().expect("models") {
        let name = m["model"].as_str().unwrap_or("");
        let mut session = load(
            name,
            m["file"].as_str().unwrap_or(""),
            m["model_class"].as_str().unwrap_or(""),
        );
        let rows = m["rows"].as_array().expect("rows");
        let ncols = m["columns"].as_array().map(Vec::len).unwrap_or(0);
        let x: Vec<f64> = rows
            .iter()
            .flat_map(|r| r.as_array().expect("row").iter().map(number))
            .collect();
        for a in m["answers"].as_array().expect("answers") {
            let (input, nrows) = match a.get("inf_row") {
                Some(k) => {
                    let k = k.as_u64().unwrap_or(1) as usize;
                    let mut two = x[..2 * ncols].to_vec();
                    two[k * ncols] = f64::INFINITY;
                    (two, 2)
                }
                None => match a.get("rows_used").and_then(Value::as_u64) {
                    Some(n) => (x[..n as usize * ncols].to_vec(), n as usize),
                    None => (x.clone(), rows.len()),
                },
            };
            let feed = Tensor::new(vec![nrows, ncols], TensorData::F64(input)).expect("tensor");
            let got = session.run_with_params(vec![("input".into(), feed)], &params(&a["params"]));
            let label = format!("{name} {}", a["params"]);
            compared += 1;
            match (got, a.get("error")) {
                (Err(e), Some(Value::String(want))) => {
                    if *want != e.to_string() {
                        failures.push(format!("{label}: error {e:?}, library said {want:?}"));
                    }
                }
                (Err(e), _) => failures.push(format!("{label}: error {e}")),
                (Ok(_), Some(Value::String(want))) => {
                    failures.push(format!("{label}: answered, library refused: {want}"))
                }
                (Ok(out), _) => {
                    let Some((_, runtime_api::OutputValue::Tensor(t))) = out.into_iter().next()
                    else {
                        failures.push(format!("{label}: no tensor"));
                        continue;
                    };
                    let shape: Vec<usize> = a["shape"]
                        .as_array()
                        .expect("shape")
                        .iter()
                        .map(|d| d.as_u64().unwrap_or(0) as usize)
                        .collect();
                    if t.shape != shape {
                        failures.push(format!("{label}: shape {:?}, library {:?}", t.shape, shape));
                        continue;
                    }
                    if let Err(e) = same_bits(
                        a["dtype"].as_str().unwrap_or(""),
                        &t.data,
                        a["values"].as_array().expect("values"),
                    ) {
                        failures.push(format!("{label}: {e}"));
                    }
                }
            }
        }
    }
    assert!(compared > 100, "only {compared} answers compared");
    assert!(
        failures.is_empty(),
        "{} of {compared} answers differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
