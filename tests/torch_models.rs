//! Start-up of PyTorch models: what the TorchScript backend refuses, and how.
//! Models made by real MLflow 3.17.2 (tests/fixtures/generate_torch.py). Serving itself is
//! covered by the golden replay (tests/golden/torch_*.json) and the conformance suite.

mod common;

use std::path::Path;

#[cfg(feature = "torch")]
use common::stores::work_dir;
use common::stores::{serve_outcome, Outcome};

fn failure(model: &Path, envs: &[(&str, &str)]) -> String {
    let uri = model.to_string_lossy().to_string();
    match serve_outcome(&uri, &common::root(), envs, &[]) {
        Outcome::Failed(code, lines) => {
            assert_eq!(code, 1, "{uri}: {lines:?}");
            assert_eq!(lines.len(), 1, "{uri}: one line expected, got {lines:?}");
            assert!(!lines[0].contains("panicked"), "{uri}: {lines:?}");
            lines[0].clone()
        }
        Outcome::Served(v) => panic!("{uri} served ({v}) but must be refused"),
    }
}

#[cfg(feature = "torch")]
#[test]
fn eager_pickles_and_pt2_programs_are_refused_with_a_way_out() {
    for (model, what) in [
        ("torch_eager_pickle", "pickled eager nn.Module"),
        ("torch_pt2", "torch.export program"),
    ] {
        let line = failure(&common::model_dir(model), &[]);
        assert!(line.starts_with("mlflow-serve: error: "), "{line}");
        assert!(line.contains(what), "{line}");
        assert!(
            line.contains("torch.jit.script / torch.jit.trace"),
            "{line}"
        );
        assert!(line.contains("serialization_format=\"pickle\""), "{line}");
        assert!(line.contains("torch.onnx.export"), "{line}");
    }
}

#[cfg(feature = "torch")]
#[test]
fn pickle_deserialization_disallowed_refuses_pth_as_mlflow_does() {
    let line = failure(
        &common::model_dir("torch_wine_tensor"),
        &[("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")],
    );
    assert!(
        line.contains("Deserializing model using pickle is disallowed, but this model is saved in pickle format."),
        "{line}"
    );
}

#[cfg(feature = "torch")]
#[test]
fn broken_torchscript_files_fail_with_one_line() {
    let src = common::model_dir("torch_wine_tensor");
    let pth = std::fs::read(src.join("data/model.pth")).unwrap();
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "garbage",
            b"not a zip at all".to_vec(),
            "not a TorchScript archive",
        ),
        (
            "truncated",
            pth[..pth.len() / 2].to_vec(),
            "not a TorchScript archive",
        ),
        ("empty", Vec::new(), "not a TorchScript archive"),
    ];
    for (name, bytes, expect) in cases {
        let d = work_dir(&format!("torch-broken-{name}"));
        std::fs::create_dir_all(d.join("data")).unwrap();
        std::fs::copy(src.join("MLmodel"), d.join("MLmodel")).unwrap();
        std::fs::write(d.join("data/model.pth"), bytes).unwrap();
        let line = failure(&d, &[]);
        assert!(line.contains(expect), "{name}: {line}");
    }
    let d = work_dir("torch-broken-missing");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(src.join("MLmodel"), d.join("MLmodel")).unwrap();
    let line = failure(&d, &[]);
    assert!(
        line.contains("named by the pytorch flavor does not exist"),
        "{line}"
    );
}

#[cfg(not(feature = "torch"))]
#[test]
fn without_the_torch_feature_pytorch_models_are_refused_with_a_build_hint() {
    let line = failure(&common::model_dir("torch_wine_tensor"), &[]);
    assert!(line.contains("--features torch"), "{line}");
    assert!(line.contains("torch.onnx.export"), "{line}");
}

#[cfg(feature = "torch")]
#[test]
fn a_missing_or_broken_plugin_is_one_line_naming_where_it_looked() {
    let model = common::model_dir("torch_wine_tensor");
    let uri = model.to_string_lossy().to_string();
    let nowhere = work_dir("torch-no-plugin");
    std::fs::create_dir_all(&nowhere).unwrap();
    let arg = nowhere.to_string_lossy().to_string();
    let Outcome::Failed(1, lines) =
        serve_outcome(&uri, &common::root(), &[], &["--torch-plugin", &arg])
    else {
        panic!("a missing plugin must fail")
    };
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("libmlflow_serve_torch.so was not found"),
        "{lines:?}"
    );
    assert!(
        lines[0].contains(&format!("looked in: {arg}/libmlflow_serve_torch.so")),
        "{lines:?}"
    );
    let fake = nowhere.join("libmlflow_serve_torch.so");
    std::fs::write(&fake, b"not a shared library").unwrap();
    let Outcome::Failed(1, lines) =
        serve_outcome(&uri, &common::root(), &[], &["--torch-plugin", &arg])
    else {
        panic!("a broken plugin must fail")
    };
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("cannot load the TorchScript plugin"),
        "{lines:?}"
    );
}

/// The server binary never links libtorch: an ONNX model served by a `torch` build does not
/// map it; a TorchScript model does, through the plugin.
#[cfg(feature = "torch")]
#[test]
fn libtorch_is_loaded_only_for_pytorch_models() {
    let maps = |model: &str| {
        let server = common::Server::start(&common::model_dir(model), &[]);
        std::fs::read_to_string(format!("/proc/{}/maps", server.pid())).unwrap()
    };
    assert!(!maps("wine_cols").contains("libtorch_cpu.so"));
    let torch = maps("torch_wine_tensor");
    assert!(torch.contains("libtorch_cpu.so") && torch.contains("libmlflow_serve_torch.so"));
}

/// The texts MLflow's PyTorch wrapper (and numpy, torch under it) put in `stack_trace` for a
/// non-tensor output and an input dtype libtorch lacks: the runtime reports them as
/// structured errors, and the flavor words them.
#[cfg(feature = "torch")]
#[test]
fn runtime_refusals_read_as_mlflow_words_them() {
    let json = [("Content-Type", "application/json")];
    let trace = |r: &common::HttpResponse| -> String {
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        v["stack_trace"].as_str().unwrap_or_default().to_string()
    };
    let tuple = common::Server::start(&common::model_dir("torch_tuple_out"), &[]);
    let r = tuple.request(
        "POST",
        "/invocations",
        &json,
        br#"{"inputs": [[1.0, 2.0]]}"#,
    );
    assert_eq!(r.status, 400);
    assert!(
        trace(&r).contains("TypeError: Expected PyTorch model to output a single output tensor, but got output of type '<class 'tuple'>'"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // No signature: the dtype comes from the JSON, and a string array reaches libtorch.
    let nosig = common::Server::start(&common::model_dir("torch_nosig_sum"), &[]);
    let r = nosig.request(
        "POST",
        "/invocations",
        &json,
        br#"{"inputs": [["a", "b"]]}"#,
    );
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        trace(&r).contains("numpy.object_"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}
