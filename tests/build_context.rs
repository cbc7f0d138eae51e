//! `models generate-dockerfile` (the build context `build-docker` builds; the image itself
//! is built and run by tests/container/fleet.py): the model is resolved as `serve` resolves
//! it and copied byte for byte, with the executable and libonnxruntime; the copied model
//! answers what real MLflow answered for that URI.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::stores::{first_prediction, work_dir, QUICKSTART_BODY};
use common::Server;

fn generate(cwd: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mlflow-serve"))
        .args(["models", "generate-dockerfile"])
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "info")
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("MLFLOW_REGISTRY_URI")
        .output()
        .expect("run mlflow-serve");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(
                files(&p)
                    .into_iter()
                    .map(|f| Path::new(p.file_name().unwrap()).join(f)),
            );
        } else {
            out.push(PathBuf::from(p.file_name().unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn generate_dockerfile_bakes_the_resolved_model() {
    let store = common::root().join("examples/wine-store");
    let out = work_dir("context-champion");
    let (ok, log) = generate(
        &store,
        &[
            "-m",
            "models:/wine-quality@champion",
            "-d",
            out.to_str().unwrap(),
        ],
    );
    assert!(ok, "{log}");
    assert!(log.contains("version 3"), "{log}");
    // the directory `serve` resolved, copied file for file
    let resolved = log
        .split("dir=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .map(|d| store.join(d))
        .unwrap_or_else(|| panic!("no dir= in the log: {log}"));
    let names = files(&resolved);
    assert!(names.contains(&PathBuf::from("MLmodel")), "{names:?}");
    assert_eq!(names, files(&out.join("model")));
    for n in &names {
        assert_eq!(
            std::fs::read(resolved.join(n)).unwrap(),
            std::fs::read(out.join("model").join(n)).unwrap(),
            "{n:?}"
        );
    }
    // the executable and the runtime it loads
    let exe = std::fs::read(env!("CARGO_BIN_EXE_mlflow-serve")).unwrap();
    assert_eq!(
        std::fs::read(out.join("mlflow-serve/mlflow-serve")).unwrap(),
        exe
    );
    assert!(out.join("mlflow-serve/libonnxruntime.so").exists());
    assert!(out.join("cache").is_dir());
    let dockerfile = std::fs::read_to_string(out.join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("FROM gcr.io/distroless/cc-debian12:nonroot\n"),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains("COPY model/ /opt/ml/model/\n"),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains("resolved from models:/wine-quality@champion"),
        "{dockerfile}"
    );

    // the copied model answers what real MLflow answered for the champion
    let want = serde_json::from_slice::<serde_json::Value>(
        &std::fs::read(store.join("expected.json")).unwrap(),
    )
    .unwrap()["cases"]["models:/wine-quality@champion"]["prediction"]
        .as_f64()
        .unwrap();
    let server = Server::start(&out.join("model"), &[]);
    let r = server.request(
        "POST",
        "/invocations",
        &[("Content-Type", "application/json")],
        QUICKSTART_BODY.as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert!((first_prediction(&r.body) - want).abs() < 1e-4);
    drop(server);
    let _ = std::fs::remove_dir_all(&out); // a copy of the test build's executable
}

/// An XGBoost and a LightGBM model get the same image (the native tree runtime is in the
/// executable): the copied model answers what real `mlflow models serve` answered.
#[test]
fn generate_dockerfile_bakes_tree_models() {
    for model in ["xgb_legacy_binary", "lgb_classifier"] {
        let out = work_dir(&format!("context-{model}"));
        let src = common::model_dir(model);
        let (ok, log) = generate(
            &common::root(),
            &["-m", src.to_str().unwrap(), "-d", out.to_str().unwrap()],
        );
        assert!(ok, "{model}: {log}");
        assert_eq!(files(&src), files(&out.join("model")), "{model}");
        let dockerfile = std::fs::read_to_string(out.join("Dockerfile")).unwrap();
        assert!(
            dockerfile.contains("COPY model/ /opt/ml/model/\n"),
            "{dockerfile}"
        );
        let golden = common::golden::load(
            &common::root().join(format!("tests/golden/trees/serve/{model}.json")),
        );
        let case = golden["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "split_8")
            .unwrap();
        let server = Server::start(&out.join("model"), &[]);
        let r = server.request(
            "POST",
            "/invocations",
            &[("Content-Type", "application/json")],
            case["body"].as_str().unwrap().as_bytes(),
        );
        assert_eq!(r.status, 200, "{model}");
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            case["response"].as_str().unwrap(),
            "{model}"
        );
        drop(server);
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn generate_dockerfile_without_a_model_serves_a_mount() {
    let out = work_dir("context-mount");
    let (ok, log) = generate(&common::root(), &["-d", out.to_str().unwrap()]);
    assert!(ok, "{log}");
    assert!(log.contains("mounted at /opt/ml/model"), "{log}");
    assert!(!out.join("model").exists());
    let dockerfile = std::fs::read_to_string(out.join("Dockerfile")).unwrap();
    assert!(!dockerfile.contains("COPY model/"), "{dockerfile}");
    assert!(dockerfile.contains("CMD [\"serve\"]"), "{dockerfile}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn generate_dockerfile_reports_what_cannot_be_built() {
    let store = common::root().join("examples/wine-store");
    let out = work_dir("context-refused");
    let _ = std::fs::remove_dir_all(&out);
    // an unknown version: MLflow's message, exit 1, nothing written
    let (ok, log) = generate(
        &store,
        &["-m", "models:/wine-quality/99", "-d", out.to_str().unwrap()],
    );
    assert!(!ok);
    assert!(
        log.contains("Model Version (name=wine-quality, version=99) not found"),
        "{log}"
    );
    assert!(!out.exists());
    // a TorchScript model cannot go into the ONNX-only target
    let torch = common::model_dir("torch_wine_cols");
    let (ok, log) = generate(
        &common::root(),
        &[
            "-m",
            torch.to_str().unwrap(),
            "--target",
            "onnx",
            "-d",
            out.to_str().unwrap(),
        ],
    );
    assert!(!ok);
    assert!(log.contains("use --target torch"), "{log}");
    // a base image the check cannot vouch for is the user's call; the default is checked
    let (ok, log) = generate(
        &common::root(),
        &[
            "--base-image",
            "debian:bookworm-slim",
            "-d",
            out.to_str().unwrap(),
        ],
    );
    assert!(ok, "{log}");
    assert!(std::fs::read_to_string(out.join("Dockerfile"))
        .unwrap()
        .contains("FROM debian:bookworm-slim\n"));
    let _ = std::fs::remove_dir_all(&out);
}
