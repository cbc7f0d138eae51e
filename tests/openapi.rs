//! OpenAPI-driven fuzzing: schemathesis (PyPI, in the reference environment) generates
//! requests from `schemas/openapi.yaml` and sends them to the real binary. No 5xx at all on
//! a loaded model, every status documented, every response of the documented content type
//! and schema, the documented `Allow` on 405s. `positive_data_acceptance` and
//! `negative_data_rejection` are not checked: whether a body is accepted depends on the
//! model's signature, which a generic API description cannot express.

mod common;

use std::process::Command;

use common::{model_dir, stores::ref_bin, Server};

/// Runs schemathesis on `model` with `examples` per operation, over the operations whose path
/// matches `paths`, in the given `phases`. V1/V2 paths name the served model
/// (`schemas/schemathesis.toml`), so those routes are exercised beyond their 404.
fn schemathesis(model: &str, examples: u32, paths: &str, phases: &str) {
    let server = Server::start(&model_dir(model), &[]);
    let bin = ref_bin("schemathesis");
    assert!(
        bin.exists(),
        "{} is missing: run `make reference-env` (the README's test command does)",
        bin.display()
    );
    let out = Command::new(&bin)
        .arg("--config-file")
        .arg(common::root().join("schemas/schemathesis.toml"))
        .arg("run")
        .arg(common::root().join("schemas/openapi.yaml"))
        .args(["--url", &format!("http://127.0.0.1:{}", server.port)])
        .args(["--checks", "all"])
        .args([
            "--exclude-checks",
            "positive_data_acceptance,negative_data_rejection",
        ])
        .args(["--include-path-regex", paths])
        .args(["--phases", phases])
        .args(["--max-examples", &examples.to_string(), "--seed", "11"])
        .env("SCHEMATHESIS_HOOKS", "")
        .env("SCHEMATHESIS_MODEL_NAME", model)
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
    schemathesis("wine_cols", 300, ".", "coverage,fuzzing,stateful");
}

/// Only the routes whose answers depend on the model (the others were covered above), and
/// no stateful phase (the API keeps no state between calls; the column run has one): the CI
/// budget goes where a tensor model changes something.
#[test]
fn the_api_conforms_to_its_openapi_description_for_a_tensor_model() {
    schemathesis(
        "wine_tensor",
        300,
        "^/(invocations|v1/models|v2/models)",
        "coverage,fuzzing",
    );
}
