//! OpenAPI-driven fuzzing: schemathesis (PyPI, in the reference environment) generates
//! requests from `schemas/openapi.yaml` and sends them to the real binary. No 5xx at all on
//! a loaded model, every status documented, every response of the documented content type
//! and schema, the documented `Allow` on 405s. `positive_data_acceptance` and
//! `negative_data_rejection` are not checked: whether a body is accepted depends on the
//! model's signature, which a generic API description cannot express.

mod common;

use std::process::Command;

use common::{model_dir, stores::ref_bin, Server};

fn schemathesis(model: &str) {
    let server = Server::start(&model_dir(model), &[]);
    let bin = ref_bin("schemathesis");
    assert!(
        bin.exists(),
        "{} is missing: run `make reference-env` (the README's test command does)",
        bin.display()
    );
    let out = Command::new(&bin)
        .arg("run")
        .arg(common::root().join("schemas/openapi.yaml"))
        .args(["--url", &format!("http://127.0.0.1:{}", server.port)])
        .args(["--checks", "all"])
        .args([
            "--exclude-checks",
            "positive_data_acceptance,negative_data_rejection",
        ])
        .args(["--max-examples", "300", "--seed", "11"])
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .expect("run schemathesis");
    let text = String::from_utf8_lossy(&out.stdout);
    let tail: String = text
        .lines()
        .rev()
        .take(40)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!("schemathesis on {model}:\n{tail}");
    assert!(
        out.status.success(),
        "schemathesis found failures on {model}:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("passed"), "{text}");
}

#[test]
fn the_api_conforms_to_its_openapi_description_for_a_column_model() {
    schemathesis("wine_cols");
}

#[test]
fn the_api_conforms_to_its_openapi_description_for_a_tensor_model() {
    schemathesis("wine_tensor");
}
