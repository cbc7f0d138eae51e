//! The bounds of what one call may cost: a contributions answer larger than
//! `shap::MAX_VALUES` is refused before anything is computed, and a tree deeper than
//! `shap::MAX_DEPTH` (legal: a chain) still predicts, walked without recursion, while its
//! contributions are refused.

use runtime_trees::shap::{MAX_DEPTH, MAX_VALUES};
use runtime_trees::{read_model, Answer, CallOptions, Contribs, FileKind, Limits};

/// An XGBoost JSON model with one tree: a chain of `depth` splits on feature 0, each sending
/// values below `i` left to a leaf and the rest on down the chain.
fn chain(depth: usize) -> Vec<u8> {
    let n = 2 * depth + 1;
    let (mut left, mut right, mut cond, mut split) =
        (vec![-1i64; n], vec![-1i64; n], vec![0f32; n], vec![0i64; n]);
    for i in 0..depth {
        let node = 2 * i;
        left[node] = (node + 1) as i64;
        right[node] = (node + 2) as i64;
        cond[node] = i as f32;
        cond[node + 1] = i as f32; // the leaf's value
        split[node] = 0;
    }
    cond[n - 1] = -1.0;
    let list = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let floats = cond
        .iter()
        .map(|f| format!("{f:?}"))
        .collect::<Vec<_>>()
        .join(",");
    let zeros = list(&vec![0; n]);
    let cover = vec!["1.0"; n].join(",");
    format!(
        r#"{{"learner": {{"attributes": {{}}, "feature_names": [], "learner_model_param": {{"base_score": "5E-1", "num_class": "0", "num_feature": "2", "num_target": "1"}},
        "objective": {{"name": "reg:squarederror"}},
        "gradient_booster": {{"name": "gbtree", "model": {{"gbtree_model_param": {{"num_parallel_tree": "1", "num_trees": "1"}}, "tree_info": [0],
        "trees": [{{"left_children": [{}], "right_children": [{}], "split_indices": [{}], "default_left": [{zeros}], "split_conditions": [{floats}], "sum_hessian": [{cover}], "split_type": [{zeros}]}}]}}}}}}}}"#,
        list(&left),
        list(&right),
        list(&split)
    )
    .into_bytes()
}

#[test]
fn a_deep_chain_predicts_and_its_contributions_are_refused() {
    let depth = MAX_DEPTH + 100;
    let model =
        read_model(&chain(depth), FileKind::XGBoost, &Limits::default()).expect("a legal chain");
    // A row whose value passes every split reaches the bottom leaf (-1.0) after `depth` steps.
    let x = [depth as f64 + 1.0, 0.0];
    let t = model
        .predict(&x, 1, Answer::Booster, CallOptions::default())
        .expect("predicts");
    assert_eq!(t.data, runtime_api::TensorData::F32(vec![0.5 - 1.0]));
    let opts = CallOptions {
        contribs: Contribs::Shap,
        ..Default::default()
    };
    let e = model
        .predict(&x, 1, Answer::Booster, opts)
        .expect_err("too deep for SHAP");
    assert!(e.to_string().contains("deeper than"), "{e}");
    // A shallow chain's contributions sum to the prediction, as SHAP values do.
    let small = read_model(&chain(5), FileKind::XGBoost, &Limits::default()).unwrap();
    let x = [3.5, 0.0];
    let p = small
        .predict(&x, 1, Answer::Booster, CallOptions::default())
        .unwrap();
    let c = small.predict(&x, 1, Answer::Booster, opts).unwrap();
    let (runtime_api::TensorData::F32(p), runtime_api::TensorData::F32(c)) = (p.data, c.data)
    else {
        panic!("float32 answers")
    };
    assert_eq!(c.len(), 3);
    assert!(
        (c.iter().sum::<f32>() - p[0]).abs() < 1e-5,
        "{c:?} vs {p:?}"
    );
}

#[test]
fn interactions_beyond_the_bound_are_refused_before_computing() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/models/xgb_binary_logistic/model.ubj"
    );
    let model = read_model(
        &std::fs::read(path).unwrap(),
        FileKind::XGBoost,
        &Limits::default(),
    )
    .unwrap();
    let cols = model.n_features + 1;
    let rows = MAX_VALUES / (cols * cols) + 1;
    let x = vec![1.0; rows * model.n_features];
    let opts = CallOptions {
        contribs: Contribs::Interactions,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let e = model
        .predict(&x, rows, Answer::Booster, opts)
        .expect_err("too large");
    assert!(e.to_string().contains("more than"), "{e}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "refused only after computing"
    );
}
