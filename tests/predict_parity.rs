//! `mlflow-serve models predict` against what real `mlflow models predict --env-manager
//! local` 3.17.2 answered for the same input files (tests/golden/predict/*.json, recorded by
//! tests/golden/record_predict.py from every JSON and CSV request of the serving goldens, on
//! every fixture model): a success must write MLflow's output byte for byte (no trailing
//! newline), a failure must exit non-zero, leave no output file and print MLflow's message,
//! compared as the serving golden of the same input says (exactly, unless it is listed as
//! printing a Python set or the data differently). The number of cases and of messages
//! identical to MLflow's are committed figures ([`FIGURES`]).

mod common;

use std::path::Path;
use std::process::Command;

use common::golden;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Models whose float32 answers may differ in the last bits (see tests/golden_replay.rs).
const FLOAT_TOLERANCE: [&str; 3] = ["torch_cnn", "torch_wine_cols", "torch_wine_tensor"];

/// Cases where `mlflow models predict` and mlflow-serve differ, and why (each is a case of
/// issue 17's parity work; the serving goldens of the same inputs match).
/// Cases whose offline message differs from MLflow's only in the printout of the data, and
/// why: compared after it (`predict` added to the serving golden's mode).
const OFFLINE_PRINTOUT: [(&str, &str); 1] = [(
    "wine_cols/csv_long_row",
    "offline, MLflow reads the file with a bare `pd.read_csv`, which makes the first field of a row longer than the header its index; mlflow-serve reads it as the scoring server does",
)];

const KNOWN: [(&str, &str); 4] = [
    ("torch_nosig_sum/inputs_strings", "offline, MLflow's array of strings has numpy dtype `str_` (`object_` when served); we name `object_`"),
    ("torch_nosig_sum/inputs_scalar", "offline, MLflow passes a JSON scalar to TorchScript as a 0-d int64 tensor (the model then fails in `sum(1)`); we refuse the scalar as an object array, as the scoring server does"),
    ("wine_cols/csv_header_only", "pandas reads a header-only CSV as empty `object` columns, which MLflow's enforcement turns into int64 and onnxruntime then refuses; we score zero rows"),
    ("xgb_legacy_classifier/split_zero_rows", "XGBoost 2.0's multiclass XGBClassifier fails on zero rows (np.argmax of a (0, 0) array); we answer as XGBoost 3.x does (README, deliberate divergences)"),
];

fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| close(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
        }
        _ => a == b,
    }
}

/// Each serving golden's input, and how its message is compared (`compare`: `set` where
/// MLflow prints a Python set, whose order changes from process to process; `exception`
/// where the text of a pandas exception differs, see tests/golden_replay.rs).
fn serve_inputs(golden_file: &str) -> Vec<(String, Vec<u8>, String)> {
    let golden = golden::load(&common::root().join(format!("tests/golden/{golden_file}.json")));
    golden["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            let body = golden::body(c)?;
            let compare = c.get("compare").and_then(Value::as_str).unwrap_or("exact");
            Some((c["name"].as_str()?.to_string(), body, compare.to_string()))
        })
        .collect()
}

/// An `XGBoostError`'s text without what the native library adds around its message: the
/// log prefix `[hh:mm:ss] file:line: ` (a time and a source path of XGBoost's build) and the
/// native stack trace of addresses that follows `\nStack trace:`. Neither is the same in
/// two runs of XGBoost itself.
fn without_native_log<'a>(class: &str, text: &'a str) -> &'a str {
    if class != "XGBoostError" {
        return text;
    }
    let text = text
        .split("\nStack trace:")
        .next()
        .unwrap_or(text)
        .trim_end();
    match text.strip_prefix('[').and_then(|t| t.split_once("] ")) {
        Some((time, rest)) if time.len() == 8 => rest.split_once(": ").map_or(rest, |(_, m)| m),
        _ => text,
    }
}

/// XGBoost's `feature_names mismatch` message with the items of its two set printouts
/// (`expected … in input data`, `training data did not have the following fields: …`) sorted.
fn sorted_sets(message: &str) -> String {
    let sort = |items: &str| {
        let mut v: Vec<&str> = items.split(", ").collect();
        v.sort_unstable();
        v.join(", ")
    };
    message
        .lines()
        .map(|l| {
            if let Some(items) = l
                .strip_prefix("expected ")
                .and_then(|r| r.strip_suffix(" in input data"))
            {
                format!("expected {} in input data", sort(items))
            } else if let Some(items) =
                l.strip_prefix("training data did not have the following fields: ")
            {
                format!(
                    "training data did not have the following fields: {}",
                    sort(items)
                )
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether our message says what MLflow's exception says, compared as the case's `compare`
/// says. Offline, MLflow raises the model's own exception; our message names its class as a
/// traceback's last line does (`TypeError: …`, `onnxruntime…InvalidArgument: …`), which is
/// stripped here.
fn compare(mode: &str, class: &str, theirs: &str, ours: &str) -> Result<(), String> {
    let ours = ours.trim_end();
    let theirs = without_native_log(class, theirs.trim_end());
    let ours = match ours.split_once(": ") {
        Some((head, rest)) if head.rsplit('.').next() == Some(class) => rest,
        _ => ours,
    };
    // XGBoost's feature_names mismatch lists two Python sets, in the hash order of its
    // process: their items are compared in sorted order.
    if theirs.starts_with("feature_names mismatch: ") {
        return if sorted_sets(theirs) == sorted_sets(ours) {
            Ok(())
        } else {
            Err(format!("feature_names mismatch differs:\n  mlflow:       {theirs:?}\n  mlflow-serve: {ours:?}"))
        };
    }
    // MLflow prints the set of input fields in the hash order of its process, which changes
    // from run to run.
    let mode = if theirs.contains("exactly one of the input fields {") && !mode.contains("set") {
        format!("{mode}+set")
    } else {
        mode.to_string()
    };
    golden::compare_message(&mode, theirs, ours)
}

/// Error cases whose message is MLflow's character for character
/// (MLflow's offline message is the model's exception text; ours names the exception class
/// as a traceback's last line does, so only messages without one can be identical).
fn check(
    model: &str,
    case: &Value,
    input: &[u8],
    mode: &str,
    dir: &Path,
    identical: &AtomicUsize,
) -> Result<(), String> {
    let fmt = case["format"].as_str().unwrap();
    let inp = dir.join(format!("input.{fmt}"));
    std::fs::write(&inp, input).unwrap();
    let out = dir.join("out.json");
    let _ = std::fs::remove_file(&out);
    let run = Command::new(env!("CARGO_BIN_EXE_mlflow-serve"))
        .args(["models", "predict", "-m"])
        .arg(common::model_dir(model))
        .arg("-i")
        .arg(&inp)
        .arg("-o")
        .arg(&out)
        .args(["-t", fmt, "--env-manager", "local"])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    let expected_exit = case["exit"].as_i64().unwrap();
    if expected_exit == 0 {
        if !run.status.success() {
            return Err(format!("MLflow scored it; mlflow-serve failed: {stderr}"));
        }
        let ours = std::fs::read_to_string(&out).map_err(|e| format!("no output: {e}"))?;
        let theirs = case["output"].as_str().unwrap();
        if ours == theirs {
            return Ok(());
        }
        let tolerant = FLOAT_TOLERANCE.contains(&model)
            && close(
                &serde_json::from_str(&ours).unwrap_or(Value::Null),
                &serde_json::from_str(theirs).unwrap_or(Value::Null),
            );
        return if tolerant {
            Ok(())
        } else {
            Err(format!(
                "output differs:\n  mlflow:       {}\n  mlflow-serve: {}",
                theirs.chars().take(400).collect::<String>(),
                ours.chars().take(400).collect::<String>()
            ))
        };
    }
    if run.status.success() {
        return Err(format!(
            "MLflow failed ({}); mlflow-serve scored it",
            case["error"].as_str().unwrap_or("")
        ));
    }
    if out.exists() {
        return Err("a failed run left an output file".into());
    }
    let ours = stderr
        .find("mlflow-serve: error: ")
        .map(|i| stderr[i + "mlflow-serve: error: ".len()..].trim_end_matches('\n'))
        .ok_or_else(|| format!("no error line: {stderr}"))?;
    let theirs = case["error"].as_str().unwrap();
    // Identical as the CLI prints it: MLflow's traceback ends with `Class: message` for a
    // Python exception (the golden holds `str(e)`), and both end with a newline.
    let class_name = case["error_class"].as_str().unwrap_or("");
    let shown = ours
        .split_once(": ")
        .filter(|(head, _)| head.rsplit('.').next() == Some(class_name))
        .map_or(ours, |(_, rest)| rest);
    if shown.trim_end() == theirs.trim_end() {
        identical.fetch_add(1, Ordering::Relaxed);
    } else if std::env::var_os("GOLDEN_SHOW_MESSAGES").is_some() {
        eprintln!("message not identical: {model}/{}\n  mlflow:       {theirs:?}\n  mlflow-serve: {ours:?}", case["case"].as_str().unwrap_or("?"));
    }
    let class = case["error_class"].as_str().unwrap_or("");
    compare(mode, class, theirs, ours).map_err(|e| {
        format!(
            "{e} (mlflow's class {})",
            case["error_class"].as_str().unwrap_or("?")
        )
    })
}

/// Predict cases compared, and error messages identical to what `mlflow models predict`
/// prints, character for character: the figures the README reports. Raise them when they
/// rise.
const FIGURES: (usize, usize) = (708, 321);

/// The same figures for the XGBoost and LightGBM models (tests/golden/trees/predict,
/// recorded by `record_predict.py --trees` with the real libraries).
const TREE_FIGURES: (usize, usize) = (1025, 189);

#[test]
fn predict_answers_like_mlflow_models_predict() {
    replay("tests/golden/predict", 19, "predict goldens", FIGURES);
}

#[test]
fn tree_models_predict_like_mlflow_models_predict() {
    replay(
        "tests/golden/trees/predict",
        50,
        "tree predict goldens",
        TREE_FIGURES,
    );
}

/// Runs every recorded `mlflow models predict` case of `dir` (at least `min` files) through
/// `mlflow-serve models predict` and checks the figures.
fn replay(dir: &str, min: usize, what: &str, figures: (usize, usize)) {
    let files = golden::files(&common::root().join(dir), min);
    let work = tempfile::tempdir().unwrap();
    let identical = AtomicUsize::new(0);
    let (mut total, mut failures) = (0, Vec::new());
    for file in files {
        let golden = golden::load(&file);
        let model = golden["model"].as_str().unwrap();
        assert!(
            !model.starts_with("torch_") || cfg!(feature = "torch"),
            "{model} needs the `torch` feature (make test builds it)"
        );
        // the serving golden file the inputs came from (older recordings: the model's)
        let inputs = serve_inputs(golden["golden"].as_str().unwrap_or(model));
        for case in golden["cases"].as_array().unwrap() {
            let name = case["case"].as_str().unwrap();
            let (_, input, mode) = inputs
                .iter()
                .find(|(n, _, _)| n == name)
                .unwrap_or_else(|| panic!("{model}: no serving golden {name}"));
            total += 1;
            let id = format!("{model}/{name}");
            match (
                check(
                    model,
                    case,
                    input,
                    &if OFFLINE_PRINTOUT.iter().any(|(k, _)| *k == id) {
                        format!("{mode}+predict")
                    } else {
                        mode.clone()
                    },
                    work.path(),
                    &identical,
                ),
                KNOWN.iter().any(|(k, _)| *k == id),
            ) {
                (Err(e), false) => failures.push(format!("{id}: {e}")),
                (Ok(()), true) => failures.push(format!(
                    "{id}: listed as a known difference but now matches: remove it from KNOWN"
                )),
                _ => {}
            }
        }
    }
    eprintln!(
        "{total} predict cases; {} known differences (listed with their reasons); {} unexpected",
        KNOWN.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    golden::assert_figures(what, total, identical.load(Ordering::Relaxed), figures);
}

/// stdin in, stdout out (MLflow's defaults), and MLflow's refusal of an unknown `-t`.
#[test]
fn predict_reads_stdin_writes_stdout_and_refuses_unknown_formats() {
    use std::io::Write;
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("tests/golden/predict/wine_cols.json"))
            .unwrap(),
    )
    .unwrap();
    let case = golden["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["exit"] == 0 && c["format"] == "json")
        .expect("a JSON success case");
    let (_, input, _) = serve_inputs("wine_cols")
        .into_iter()
        .find(|(n, _, _)| n == case["case"].as_str().unwrap())
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlflow-serve"))
        .args(["models", "predict", "-m"])
        .arg(common::model_dir("wine_cols"))
        .env("RUST_LOG", "error")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        case["output"].as_str().unwrap()
    );

    let out = Command::new(env!("CARGO_BIN_EXE_mlflow-serve"))
        .args(["models", "predict", "-m"])
        .arg(common::model_dir("wine_cols"))
        .args(["-t", "xml", "-i", "/dev/null"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("mlflow-serve: error: Unknown content type 'xml'"));
}
