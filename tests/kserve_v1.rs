//! KServe's V1 protocol (`/v1/models/{name}[:predict]`): every golden request with an
//! `instances` or `inputs` body (99, recorded from real `mlflow models serve` on ONNX and
//! TorchScript fixtures) gets through `:predict` exactly the answer `/invocations` gives
//! (which golden_replay holds to MLflow's): the same body on success, the same status and
//! MLflow's message as `{"error": …}` on failure. Plus readiness, listing, unknown names,
//! methods.

mod common;

use common::{golden, model_dir, Server};

fn json_headers(case: &serde_json::Value) -> bool {
    case["headers"]
        .as_object()
        .and_then(|h| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        })
        .and_then(|(_, v)| v.as_str())
        .is_some_and(|v| v == "application/json")
}

#[test]
fn predict_answers_as_invocations_on_every_instances_and_inputs_golden() {
    let mut compared = 0;
    let mut errors = 0;
    for file in golden::files(&common::root().join("tests/golden"), 20) {
        let golden = golden::load(&file);
        let model = golden["model"].as_str().unwrap();
        let cases: Vec<&serde_json::Value> = golden["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["path"] == "/invocations" && json_headers(c))
            .filter(|c| {
                c["body"].as_str().map(str::trim_start).is_some_and(|b| {
                    b.starts_with("{\"instances\"") || b.starts_with("{\"inputs\"")
                })
            })
            .collect();
        if cases.is_empty() {
            continue;
        }
        // one server per protocol, each sent the same sequence (a fixture keeps state across
        // calls, as a TorchScript module may)
        let server = Server::start(&model_dir(model), &[]);
        let kserve = Server::start(&model_dir(model), &[]);
        let path = format!("/v1/models/{model}:predict");
        for case in cases {
            let body = case["body"].as_str().unwrap().as_bytes();
            let ours = server.request(
                "POST",
                "/invocations",
                &[("Content-Type", "application/json")],
                body,
            );
            let v1 = kserve.request("POST", &path, &[], body);
            let name = case["name"].as_str().unwrap_or("?");
            assert_eq!(v1.status, ours.status, "{model}/{name}");
            assert_eq!(
                ours.status,
                case["status"].as_u64().unwrap() as u16,
                "{model}/{name}"
            );
            if ours.status == 200 {
                assert_eq!(v1.body, ours.body, "{model}/{name}");
            } else {
                let mlflow: serde_json::Value = serde_json::from_slice(&ours.body).unwrap();
                let kserve: serde_json::Value = serde_json::from_slice(&v1.body).unwrap();
                assert_eq!(kserve["error"], mlflow["message"], "{model}/{name}");
                assert_eq!(
                    kserve.as_object().unwrap().len(),
                    1,
                    "{model}/{name}: {kserve}"
                );
                errors += 1;
            }
            compared += 1;
        }
    }
    assert!(compared >= 90, "{compared}");
    assert!(errors >= 5, "{errors}");
}

#[test]
fn readiness_listing_and_unknown_names() {
    let server = Server::start(&model_dir("wine_cols"), &["--model-name", "sklearn-wine"]);
    let r = server.request("GET", "/v1/models", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap(),
        serde_json::json!({"models": ["sklearn-wine"]})
    );
    let r = server.request("GET", "/v1/models/sklearn-wine", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap(),
        serde_json::json!({"name": "sklearn-wine", "ready": true})
    );
    let r = server.request("GET", "/v1/models/wine_cols", &[], b"");
    assert_eq!(r.status, 404);
    let r = server.request(
        "POST",
        "/v1/models/other:predict",
        &[],
        b"{\"instances\": [[1]]}",
    );
    assert_eq!(r.status, 404);
    assert!(String::from_utf8_lossy(&r.body).contains("\"error\""));
    let r = server.request("GET", "/v1/models/sklearn-wine:predict", &[], b"");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    let r = server.request("POST", "/v1/models/sklearn-wine:predict", &[], b"{not json");
    assert_eq!(r.status, 400);
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["error"].is_string());
}
