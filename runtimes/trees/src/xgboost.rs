//! XGBoost models: the JSON / UBJSON document (dmlc/xgboost `doc/json-schema.rst`) into a
//! [`Model`], with XGBoost 3.x's prediction semantics: features as float32, sums in float32
//! in tree order from `base_score` on the margin scale, DART weights, gblinear, and the
//! objectives' float32 transforms (`src/objective/*`, `src/common/math.h`).

use crate::doc::{self, Value};
use crate::forest::{flag, Forest, Node, Rules, Tree};
use crate::{Booster, Limits, Model, Objective, TreeError};

/// What the gradient booster holds before it becomes a [`Booster`].
enum Boosted {
    Trees((Forest<f32>, usize)),
    Linear { weights: Vec<f32> },
}

/// Reads an XGBoost model file, telling the format by content as XGBoost does: `{` then a
/// quote is JSON, `{` then a letter UBJSON, anything else the legacy binary format.
pub fn read(bytes: &[u8], limits: &Limits) -> Result<Model, TreeError> {
    if bytes.is_empty() {
        return Err(TreeError::Format("the file is empty".into()));
    }
    let docv = if crate::legacy::is_legacy(bytes) {
        crate::legacy::to_doc(bytes)?
    } else {
        match bytes.iter().skip(1).find(|b| !b.is_ascii_whitespace()) {
            Some(b'"') | Some(b'}') => doc::parse_json(bytes)?,
            Some(c) if c.is_ascii_alphabetic() => doc::parse_ubjson(bytes)?,
            _ => return Err(TreeError::Format("neither JSON nor UBJSON".into())),
        }
    };
    from_doc(&docv, limits)
}

fn field<'a>(v: &'a Value, path: &[&str]) -> Result<&'a Value, TreeError> {
    let mut cur = v;
    for (i, k) in path.iter().enumerate() {
        cur = cur
            .get(k)
            .ok_or_else(|| TreeError::Format(format!("missing `{}`", path[..=i].join("."))))?;
    }
    Ok(cur)
}

fn int(v: &Value, path: &[&str]) -> Result<i64, TreeError> {
    field(v, path)?
        .as_i64()
        .ok_or_else(|| TreeError::Format(format!("`{}` is not an integer", path.join("."))))
}

/// The objective by name; any other is refused naming it.
fn objective(name: &str) -> Result<Objective, TreeError> {
    Ok(match name {
        "reg:squarederror"
        | "reg:squaredlogerror"
        | "reg:pseudohubererror"
        | "reg:absoluteerror"
        | "reg:quantileerror"
        | "reg:linear"
        | "reg:expectileerror"
        | "binary:logitraw"
        | "rank:pairwise"
        | "rank:ndcg"
        | "rank:map" => Objective::Identity,
        "reg:logistic" | "binary:logistic" => Objective::Sigmoid32,
        "binary:hinge" => Objective::Hinge,
        "count:poisson" | "reg:gamma" | "reg:tweedie" | "survival:cox" | "survival:aft" => {
            Objective::Exp32
        }
        "multi:softprob" => Objective::Softmax32,
        "multi:softmax" => Objective::ArgMax,
        other => {
            return Err(TreeError::Unsupported(format!(
                "the XGBoost objective `{other}`"
            )))
        }
    })
}

/// `ProbToMargin` of the objective (`src/objective/regression_loss.h` and friends).
fn prob_to_margin(name: &str, p: f32) -> f32 {
    match name {
        "reg:logistic" | "binary:logistic" => {
            let eps = 1e-6f32;
            let p = p.max(eps).min(1.0 - eps);
            -(1.0f32 / p - 1.0).ln()
        }
        "count:poisson" | "reg:gamma" | "reg:tweedie" | "survival:cox" | "survival:aft" => p.ln(),
        _ => p,
    }
}

fn base_scores(text: &str) -> Result<Vec<f32>, TreeError> {
    let t = text.trim().trim_start_matches('[').trim_end_matches(']');
    t.split(',')
        .map(|s| s.trim().parse::<f32>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| TreeError::Format(format!("bad base_score {text:?}")))
}

/// Builds a [`Model`] from a parsed document.
pub fn from_doc(v: &Value, limits: &Limits) -> Result<Model, TreeError> {
    let learner = field(v, &["learner"])?;
    let mp = field(learner, &["learner_model_param"])?;
    let n_features = int(mp, &["num_feature"])?;
    let num_class = mp.get("num_class").and_then(Value::as_i64).unwrap_or(0);
    let num_target = mp.get("num_target").and_then(Value::as_i64).unwrap_or(1);
    if num_target > 1 {
        return Err(TreeError::Unsupported(
            "a multi-target XGBoost model".into(),
        ));
    }
    if !(0..=limits.max_features as i64).contains(&n_features)
        || !(0..=limits.max_classes as i64).contains(&num_class)
    {
        return Err(TreeError::Format(format!(
            "num_feature {n_features} / num_class {num_class} out of range"
        )));
    }
    let n_features = n_features as usize;
    let n_groups = (num_class as usize).max(1);
    let obj_name = field(learner, &["objective", "name"])?
        .as_str()
        .ok_or_else(|| TreeError::Format("objective.name is not a string".into()))?
        .to_string();
    let transform = objective(&obj_name)?;
    let base_text = field(mp, &["base_score"])?;
    let base = match base_text {
        Value::Str(s) => base_scores(s)?,
        other => vec![other
            .as_f32()
            .ok_or_else(|| TreeError::Format("bad base_score".into()))?],
    };
    if base.is_empty() || (base.len() != 1 && base.len() != n_groups) {
        return Err(TreeError::Format(format!(
            "base_score has {} values for {n_groups} outputs",
            base.len()
        )));
    }
    let base_margin: Vec<f32> = (0..n_groups)
        .map(|g| prob_to_margin(&obj_name, base[if base.len() == 1 { 0 } else { g }]))
        .collect();
    let attributes = learner.get("attributes");
    let best_iteration = attributes
        .and_then(|a| a.get("best_iteration"))
        .and_then(Value::as_i64)
        .and_then(|b| usize::try_from(b).ok());
    let sklearn = attributes
        .and_then(|a| a.get("scikit_learn"))
        .and_then(Value::as_str)
        .map(str::to_string);

    let gb = field(learner, &["gradient_booster"])?;
    let gb_name = field(gb, &["name"])?.as_str().unwrap_or("");
    let boosted = match gb_name {
        "gbtree" => Boosted::Trees(trees(
            field(gb, &["model"])?,
            n_features,
            n_groups,
            None,
            limits,
        )?),
        "dart" => {
            let weights = field(gb, &["weight_drop"])?
                .to_f32s()
                .ok_or_else(|| TreeError::Format("weight_drop is not a list of numbers".into()))?;
            Boosted::Trees(trees(
                field(gb, &["gbtree", "model"])?,
                n_features,
                n_groups,
                Some(weights),
                limits,
            )?)
        }
        "gblinear" => {
            let w = field(gb, &["model", "weights"])?
                .to_f32s()
                .ok_or_else(|| TreeError::Format("gblinear weights are not numbers".into()))?;
            if w.len() != (n_features + 1) * n_groups {
                return Err(TreeError::Format(format!(
                    "gblinear has {} weights, {} expected",
                    w.len(),
                    (n_features + 1) * n_groups
                )));
            }
            Boosted::Linear { weights: w }
        }
        other => {
            return Err(TreeError::Unsupported(format!(
                "the XGBoost booster `{other}`"
            )))
        }
    };
    let shap = match &boosted {
        Boosted::Trees((f, _)) if f.trees.iter().all(|t| t.cover.len() == t.nodes.len()) => {
            f.trees.iter().map(crate::shap::stats).collect()
        }
        _ => Vec::new(),
    };
    let layer_trees = match &boosted {
        Boosted::Trees((_, per_layer)) => *per_layer,
        _ => 1,
    };
    Ok(Model {
        boosted: match boosted {
            Boosted::Trees((f, _)) => Booster::Xgb(f),
            Boosted::Linear { weights } => Booster::XgbLinear { weights },
        },
        n_features,
        n_groups,
        transform,
        objective: obj_name,
        base_margin,
        layer_trees,
        best_iteration,
        average: false,
        sklearn_params: sklearn,
        classes: None,
        feature_names: field(learner, &["feature_names"])
            .ok()
            .and_then(|v| match v {
                Value::Array(a) => a.iter().map(|s| s.as_str().map(str::to_string)).collect(),
                _ => None,
            })
            .unwrap_or_default(),
        pandas_categorical: false,
        shap,
    })
}

/// The gbtree model's trees, and the trees per boosting round.
fn trees(
    m: &Value,
    n_features: usize,
    n_groups: usize,
    weights: Option<Vec<f32>>,
    limits: &Limits,
) -> Result<(Forest<f32>, usize), TreeError> {
    let list = match field(m, &["trees"])? {
        Value::Array(a) => a,
        _ => return Err(TreeError::Format("`trees` is not a list".into())),
    };
    if list.len() > limits.max_trees {
        return Err(TreeError::Format(format!(
            "{} trees, more than the limit {}",
            list.len(),
            limits.max_trees
        )));
    }
    let info = field(m, &["tree_info"])?
        .to_i64s()
        .ok_or_else(|| TreeError::Format("tree_info is not a list of integers".into()))?;
    if info.len() != list.len() {
        return Err(TreeError::Format(format!(
            "{} trees but {} tree_info entries",
            list.len(),
            info.len()
        )));
    }
    let mut groups = Vec::with_capacity(info.len());
    for g in info {
        if g < 0 || g as usize >= n_groups {
            return Err(TreeError::Format(format!(
                "tree_info names output {g} of {n_groups}"
            )));
        }
        groups.push(g as u32);
    }
    if let Some(w) = &weights {
        if w.len() != list.len() {
            return Err(TreeError::Format(format!(
                "{} trees but {} DART weights",
                list.len(),
                w.len()
            )));
        }
    }
    let parallel = m
        .get("gbtree_model_param")
        .and_then(|p| p.get("num_parallel_tree"))
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .clamp(1, 1 << 20) as usize;
    let mut total_nodes = 0usize;
    let mut out = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let tree = tree(t, n_features, limits).map_err(|e| match e {
            TreeError::Format(m) => TreeError::Format(format!("tree {i}: {m}")),
            other => other,
        })?;
        total_nodes += tree.nodes.len();
        if total_nodes > limits.max_nodes {
            return Err(TreeError::Format(format!(
                "more than {} nodes in all",
                limits.max_nodes
            )));
        }
        out.push(tree);
    }
    Ok((
        Forest {
            trees: out,
            groups,
            weights,
            n_groups,
            n_features,
            rules: Rules::XGBoost,
            flat: Vec::new(),
        }
        .laid_out(),
        parallel * n_groups,
    ))
}

fn tree(t: &Value, n_features: usize, limits: &Limits) -> Result<Tree<f32>, TreeError> {
    let ints = |k: &str| {
        field(t, &[k])?
            .to_i64s()
            .ok_or_else(|| TreeError::Format(format!("`{k}` is not a list of integers")))
    };
    let left = ints("left_children")?;
    let right = ints("right_children")?;
    let feature = ints("split_indices")?;
    let default_left = ints("default_left")?;
    let cond = field(t, &["split_conditions"])?
        .to_f32s()
        .ok_or_else(|| TreeError::Format("`split_conditions` is not a list of numbers".into()))?;
    let n = left.len();
    if n == 0 || n > limits.max_nodes {
        return Err(TreeError::Format(format!("{n} nodes")));
    }
    if [right.len(), feature.len(), default_left.len(), cond.len()]
        .iter()
        .any(|l| *l != n)
    {
        return Err(TreeError::Format("node arrays of different lengths".into()));
    }
    let split_type = match t.get("split_type") {
        Some(v) => v
            .to_i64s()
            .ok_or_else(|| TreeError::Format("bad split_type".into()))?,
        None => vec![0; n],
    };
    if split_type.len() != n {
        return Err(TreeError::Format("split_type of a different length".into()));
    }
    // Categorical splits: node ids with (segment, size) into `categories`.
    let mut cat_of_node = vec![u32::MAX; n];
    let mut cat_sets = Vec::new();
    let mut cat_words = Vec::new();
    if split_type.contains(&1) {
        let nodes = ints("categories_nodes")?;
        let segs = ints("categories_segments")?;
        let sizes = ints("categories_sizes")?;
        let cats = ints("categories")?;
        if nodes.len() != segs.len() || nodes.len() != sizes.len() {
            return Err(TreeError::Format(
                "category arrays of different lengths".into(),
            ));
        }
        for ((nid, seg), size) in nodes.iter().zip(&segs).zip(&sizes) {
            let (nid, seg, size) = (*nid, *seg, *size);
            let ok = nid >= 0 && (nid as usize) < n && seg >= 0 && size >= 0;
            let end = seg
                .checked_add(size)
                .filter(|e| ok && (*e as usize) <= cats.len());
            let Some(end) = end else {
                return Err(TreeError::Format(format!(
                    "category segment of node {nid} out of range"
                )));
            };
            let mut members: Vec<u32> = Vec::with_capacity(size as usize);
            for c in &cats[seg as usize..end as usize] {
                if *c < 0 || *c >= limits.max_category {
                    return Err(TreeError::Format(format!(
                        "node {nid} has category {c}, outside 0..{}",
                        limits.max_category
                    )));
                }
                members.push(*c as u32);
            }
            members.sort_unstable();
            members.dedup();
            let start = cat_words.len();
            let words = members.len();
            cat_words.extend(members);
            cat_of_node[nid as usize] = cat_sets.len() as u32;
            cat_sets.push((start as u32, words as u32));
        }
    }
    let reachable = reachable(&left, &right)?;
    // Node covers weigh the paths of feature contributions (optional: a file without them
    // still predicts).
    let cover = match t.get("sum_hessian").and_then(Value::to_f32s) {
        Some(c) if c.len() == n => c,
        _ => Vec::new(),
    };
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let (l, r) = (left[i], right[i]);
        if l == -1 || !reachable[i] {
            // A leaf; or a node no walk reaches (pruned trees keep deleted nodes), whose
            // fields are never read.
            nodes.push(Node {
                value: if reachable[i] { cond[i] } else { 0.0 },
                feature: 0,
                left: 0,
                right: 0,
                flags: flag::LEAF,
                cat: 0,
            });
            continue;
        }
        let f = feature[i];
        if f < 0 || f as usize >= n_features.max(1) {
            return Err(TreeError::Format(format!(
                "node {i} splits on feature {f} of {n_features}"
            )));
        }
        let mut flags = 0u8;
        if default_left[i] != 0 {
            flags |= flag::DEFAULT_LEFT;
        }
        let mut cat = 0;
        if split_type[i] == 1 {
            if cat_of_node[i] == u32::MAX {
                return Err(TreeError::Format(format!(
                    "categorical node {i} has no categories"
                )));
            }
            flags |= flag::CATEGORICAL;
            cat = cat_of_node[i];
        }
        nodes.push(Node {
            value: cond[i],
            feature: f as u32,
            left: l as u32,
            right: r as u32,
            flags,
            cat,
        });
    }
    Ok(Tree {
        leaf_ids: (0..n as u32).collect(),
        nodes,
        cat_sets,
        cat_words,
        linear: None,
        cover,
    })
}

/// Which nodes a walk from the root reaches; an error when a node is reached twice (a cycle
/// or a shared child) or a child lies outside the tree, so that every walk ends.
fn reachable(left: &[i64], right: &[i64]) -> Result<Vec<bool>, TreeError> {
    let n = left.len();
    let mut seen = vec![false; n];
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        if seen[i] {
            return Err(TreeError::Format(format!(
                "node {i} is reached twice (a cycle or a shared child)"
            )));
        }
        seen[i] = true;
        if left[i] == -1 {
            continue;
        }
        for c in [left[i], right[i]] {
            if c <= 0 || c as usize >= n {
                return Err(TreeError::Format(format!(
                    "node {i} has child {c}, outside 1..{n}"
                )));
            }
            stack.push(c as usize);
        }
    }
    Ok(seen)
}
