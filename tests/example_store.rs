//! The bundled example registry (`examples/wine-store`, made by real MLflow 3.17.2 with
//! `make example-store`): served from its own directory with the default tracking store
//! (`./mlflow.db`), every URI form gives what real MLflow gave on the same store
//! (`expected.json`, recorded by the generator after relocation).

mod common;

use common::stores::{check_cases, serve_outcome, snapshot, work_dir, Outcome};

#[test]
fn example_store_serves_every_uri_like_mlflow() {
    let store = common::root().join("examples/wine-store");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("expected.json")).unwrap()).unwrap();
    let before = snapshot(&store);
    let cache = work_dir("example-cache").display().to_string();
    let n = check_cases(&manifest, &store, &[("MLFLOW_SERVE_MODEL_CACHE", &cache)]);
    assert!(n >= 25);
    assert_eq!(
        before,
        snapshot(&store),
        "serving wrote into the example store"
    );
}

#[test]
fn readme_quick_start_answers_the_mlflow_curl() {
    let store = common::root().join("examples/wine-store");
    let cache = work_dir("quickstart-cache").display().to_string();
    match serve_outcome(
        "models:/wine-quality/Staging",
        &store,
        &[("MLFLOW_SERVE_MODEL_CACHE", &cache)],
        &[],
    ) {
        Outcome::Served(p) => assert!((p - 45.627471923828125).abs() < 1e-4, "{p}"),
        other => panic!("{other:?}"),
    }
}
