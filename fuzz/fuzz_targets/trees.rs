//! What the tree-model fuzz targets share: scoring a model that was read, on rows of ordinary,
//! missing, infinite and extreme values, with every answer kind and call option.

use runtime_trees::{Answer, CallOptions, Model, Rounds};

/// Predicts two rows with each answer and option, when the model is small enough to score
/// within a fuzz iteration (a row of a million features is legal but slow).
pub fn exercise(model: &Model) {
    if model.n_features > 4096 {
        return;
    }
    let values = [0.5, f64::NAN, -1.0, 1e30, 0.0, -0.0, 3.0, f64::INFINITY, 1e-40, 7.0];
    let x: Vec<f64> = (0..2 * model.n_features).map(|i| values[i % values.len()]).collect();
    for answer in [Answer::Booster, Answer::Values, Answer::Labels] {
        for opts in [
            CallOptions::default(),
            CallOptions { output_margin: true, ..Default::default() },
            CallOptions { pred_leaf: true, ..Default::default() },
            CallOptions { rounds: Some(Rounds { begin: 1, end: 2 }), strict_shape: true, ..Default::default() },
        ] {
            let _ = model.predict(&x, 2, answer, opts);
        }
    }
}
