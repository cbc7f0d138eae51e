//! LightGBM models: the text format `Booster.save_model` writes (`model.lgb`, and the model
//! string inside a scikit-learn estimator's skops file), with LightGBM 4.x's prediction
//! semantics: features and sums in float64 (`include/LightGBM/tree.h`), decision types
//! (categorical, default left, missing None/Zero/NaN), categorical bitsets, linear trees,
//! `average_output` (random forests) and the objectives' output transforms.

use crate::forest::{flag, Forest, LinearLeaf, Node, Rules, Tree};
use crate::{Booster, Limits, Model, Objective, TreeError};

/// Reads LightGBM's text model.
pub fn read(text: &str, limits: &Limits) -> Result<Model, TreeError> {
    let mut lines = text.lines().enumerate().peekable();
    match lines.next() {
        Some((_, "tree")) => {}
        _ => {
            return Err(TreeError::Format(
                "not a LightGBM text model (no `tree` header)".into(),
            ))
        }
    }
    let mut header: Vec<(&str, &str)> = Vec::new();
    let mut average = false;
    while let Some((_, line)) = lines.peek() {
        if line.starts_with("Tree=") || *line == "end of trees" {
            break;
        }
        let (_, line) = lines.next().unwrap_or_default();
        if line == "average_output" {
            average = true;
        } else if let Some((k, v)) = line.split_once('=') {
            header.push((k, v));
        }
    }
    let get = |k: &str| header.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    let num = |k: &str| -> Result<usize, TreeError> {
        get(k)
            .and_then(|v| v.trim().parse::<usize>().ok())
            .ok_or_else(|| TreeError::Format(format!("missing or bad `{k}`")))
    };
    let num_class = num("num_class")?;
    let per_iter = num("num_tree_per_iteration")?;
    let max_feature = get("max_feature_idx")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .ok_or_else(|| TreeError::Format("missing or bad `max_feature_idx`".into()))?;
    if num_class == 0
        || num_class > limits.max_classes
        || per_iter == 0
        || per_iter > limits.max_classes
    {
        return Err(TreeError::Format(format!(
            "num_class {num_class}, num_tree_per_iteration {per_iter}"
        )));
    }
    if !(-1..limits.max_features as i64).contains(&max_feature) {
        return Err(TreeError::Format(format!(
            "max_feature_idx {max_feature} out of range"
        )));
    }
    let n_features = (max_feature + 1) as usize;
    let (transform, objective) = objective(get("objective").unwrap_or(""), num_class)?;

    // Tree blocks: `Tree=i` then key=value lines up to a blank line.
    let mut trees = Vec::new();
    let mut total_nodes = 0usize;
    let mut after = String::new();
    while let Some((lineno, line)) = lines.next() {
        if line == "end of trees" {
            for (_, rest) in lines.by_ref() {
                if let Some(v) = rest.strip_prefix("pandas_categorical:") {
                    after = v.trim().to_string();
                }
            }
            break;
        }
        if !line.starts_with("Tree=") {
            continue;
        }
        let mut kv: Vec<(&str, &str)> = Vec::new();
        while let Some((_, l)) = lines.peek() {
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once('=') {
                kv.push((k, v));
            }
            lines.next();
        }
        if trees.len() >= limits.max_trees {
            return Err(TreeError::Format(format!(
                "more than {} trees",
                limits.max_trees
            )));
        }
        let t = tree(&kv, n_features, limits)
            .map_err(|e| TreeError::Format(format!("{} (line {}): {e}", line, lineno + 1)))?;
        total_nodes += t.nodes.len();
        if total_nodes > limits.max_nodes {
            return Err(TreeError::Format(format!(
                "more than {} nodes in all",
                limits.max_nodes
            )));
        }
        trees.push(t);
    }
    if trees.len() % per_iter != 0 {
        return Err(TreeError::Format(format!(
            "{} trees is not a multiple of num_tree_per_iteration {per_iter}",
            trees.len()
        )));
    }
    let groups = (0..trees.len()).map(|i| (i % per_iter) as u32).collect();
    Ok(Model {
        boosted: Booster::Lgb(
            Forest {
                trees,
                groups,
                weights: None,
                n_groups: per_iter,
                n_features,
                rules: Rules::LightGBM,
                flat: Vec::new(),
            }
            .laid_out(),
        ),
        n_features,
        n_groups: per_iter,
        transform,
        objective,
        base_margin: vec![0.0; per_iter],
        layer_trees: per_iter,
        best_iteration: None,
        average,
        sklearn_params: None,
        classes: None,
        feature_names: get("feature_names")
            .map(|v| v.split(' ').map(str::to_string).collect())
            .unwrap_or_default(),
        pandas_categorical: !(after.is_empty() || after == "null" || after == "[]"),
        shap: Vec::new(),
    })
}

fn objective(line: &str, num_class: usize) -> Result<(Objective, String), TreeError> {
    let mut parts = line.split_whitespace();
    let name = parts.next().unwrap_or("").to_string();
    let param = |key: &str| {
        line.split_whitespace()
            .find_map(|p| p.strip_prefix(key).and_then(|v| v.strip_prefix(':')))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let sqrt = line.split_whitespace().any(|p| p == "sqrt");
    let t = match name.as_str() {
        "" | "custom" | "none" => Objective::Identity,
        "regression" | "regression_l2" | "regression_l1" | "huber" | "fair" | "quantile"
        | "mape" => {
            if sqrt {
                Objective::SignSquare
            } else {
                Objective::Identity
            }
        }
        "lambdarank" | "rank_xendcg" => Objective::Identity,
        "binary" => Objective::Sigmoid64(param("sigmoid").unwrap_or(1.0)),
        "multiclass" => {
            if num_class < 2 {
                return Err(TreeError::Format(
                    "multiclass with fewer than 2 classes".into(),
                ));
            }
            Objective::Softmax64
        }
        "multiclassova" => Objective::OvaSigmoid64(param("sigmoid").unwrap_or(1.0)),
        "poisson" | "gamma" | "tweedie" => Objective::Exp64,
        "cross_entropy" => Objective::Sigmoid64(1.0),
        "cross_entropy_lambda" => Objective::Log1pExp,
        other => {
            return Err(TreeError::Unsupported(format!(
                "the LightGBM objective `{other}`"
            )))
        }
    };
    Ok((t, name))
}

fn list<T: std::str::FromStr>(kv: &[(&str, &str)], key: &str) -> Result<Vec<T>, TreeError> {
    let Some((_, v)) = kv.iter().find(|(k, _)| *k == key) else {
        return Err(TreeError::Format(format!("missing `{key}`")));
    };
    v.split_whitespace()
        .map(|s| s.parse::<T>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| TreeError::Format(format!("bad `{key}`")))
}

fn tree(kv: &[(&str, &str)], n_features: usize, limits: &Limits) -> Result<Tree<f64>, TreeError> {
    let leaves: usize = list::<usize>(kv, "num_leaves")?
        .first()
        .copied()
        .ok_or_else(|| TreeError::Format("empty num_leaves".into()))?;
    if leaves == 0 || leaves > limits.max_nodes {
        return Err(TreeError::Format(format!("num_leaves {leaves}")));
    }
    let leaf_value: Vec<f64> = list(kv, "leaf_value")?;
    if leaf_value.len() != leaves {
        return Err(TreeError::Format(
            "leaf_value length differs from num_leaves".into(),
        ));
    }
    let internal = leaves - 1;
    let linear = kv.iter().any(|(k, v)| *k == "is_linear" && v.trim() == "1");
    let mut nodes = Vec::with_capacity(internal + leaves);
    let mut cat_sets = Vec::new();
    let mut cat_words = Vec::new();
    if internal > 0 {
        let feature: Vec<i64> = list(kv, "split_feature")?;
        let threshold: Vec<f64> = list(kv, "threshold")?;
        let decision: Vec<i64> = list(kv, "decision_type")?;
        let left: Vec<i64> = list(kv, "left_child")?;
        let right: Vec<i64> = list(kv, "right_child")?;
        if [
            feature.len(),
            threshold.len(),
            decision.len(),
            left.len(),
            right.len(),
        ]
        .iter()
        .any(|l| *l != internal)
        {
            return Err(TreeError::Format("node arrays of different lengths".into()));
        }
        let num_cat = kv
            .iter()
            .find(|(k, _)| *k == "num_cat")
            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if num_cat > 0 {
            let bounds: Vec<u32> = list(kv, "cat_boundaries")?;
            let words: Vec<u32> = list(kv, "cat_threshold")?;
            if bounds.len() != num_cat + 1
                || bounds.windows(2).any(|w| w[0] > w[1])
                || bounds.last().copied() != Some(words.len() as u32)
                || bounds[0] != 0
            {
                return Err(TreeError::Format("bad cat_boundaries".into()));
            }
            cat_sets = bounds.windows(2).map(|w| (w[0], w[1] - w[0])).collect();
            cat_words = words;
        }
        // Children: `c >= 0` an internal node, `c < 0` leaf `!c`; every child lies after its
        // parent in the flat order (internal nodes first, then leaves).
        let child = |i: usize, c: i64| -> Result<u32, TreeError> {
            let to = if c >= 0 {
                c as usize
            } else {
                let leaf = (!c) as usize;
                if leaf >= leaves {
                    return Err(TreeError::Format(format!(
                        "node {i} points to leaf {leaf} of {leaves}"
                    )));
                }
                internal + leaf
            };
            if c >= 0 && (to <= i || to >= internal) {
                return Err(TreeError::Format(format!(
                    "node {i} points to node {c} (must point forward inside {internal} nodes)"
                )));
            }
            Ok(to as u32)
        };
        for i in 0..internal {
            let f = feature[i];
            if f < 0 || f as usize >= n_features.max(1) {
                return Err(TreeError::Format(format!(
                    "node {i} splits on feature {f} of {n_features}"
                )));
            }
            let d = decision[i];
            let mut flags = 0u8;
            let mut cat = 0;
            if d & 1 != 0 {
                flags |= flag::CATEGORICAL;
                let idx = threshold[i];
                if !(idx >= 0.0 && (idx as usize) < cat_sets.len()) {
                    return Err(TreeError::Format(format!(
                        "node {i} names category set {idx} of {}",
                        cat_sets.len()
                    )));
                }
                cat = idx as u32;
            }
            if d & 2 != 0 {
                flags |= flag::DEFAULT_LEFT;
            }
            match (d >> 2) & 3 {
                1 => flags |= flag::MISSING_ZERO,
                2 => flags |= flag::MISSING_NAN,
                _ => {}
            }
            nodes.push(Node {
                value: threshold[i],
                feature: f as u32,
                left: child(i, left[i])?,
                right: child(i, right[i])?,
                flags,
                cat,
            });
        }
    }
    for v in &leaf_value {
        nodes.push(Node {
            value: *v,
            feature: 0,
            left: 0,
            right: 0,
            flags: flag::LEAF,
            cat: 0,
        });
    }
    let linear = if linear {
        let consts: Vec<f64> = list(kv, "leaf_const")?;
        let counts: Vec<usize> = list(kv, "num_features")?;
        let feats: Vec<u32> = list(kv, "leaf_features")?;
        let coeffs: Vec<f64> = list(kv, "leaf_coeff")?;
        if consts.len() != leaves
            || counts.len() != leaves
            || counts.iter().sum::<usize>() != feats.len()
            || feats.len() != coeffs.len()
        {
            return Err(TreeError::Format("linear leaf arrays do not agree".into()));
        }
        if feats.iter().any(|f| *f as usize >= n_features) {
            return Err(TreeError::Format(
                "a linear leaf uses a feature out of range".into(),
            ));
        }
        let mut out = vec![LinearLeaf::default(); internal];
        let mut at = 0;
        for (c, k) in consts.iter().zip(&counts) {
            out.push(LinearLeaf {
                constant: *c,
                features: feats[at..at + k].to_vec(),
                coeffs: coeffs[at..at + k].to_vec(),
            });
            at += k;
        }
        Some(out)
    } else {
        None
    };
    let mut leaf_ids: Vec<u32> = vec![0; internal];
    leaf_ids.extend(0..leaves as u32);
    Ok(Tree {
        nodes,
        cat_sets,
        cat_words,
        leaf_ids,
        linear,
        cover: Vec::new(),
    })
}
