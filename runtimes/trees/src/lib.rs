//! Native XGBoost and LightGBM inference for mlflow-serve: bounded readers of the model files
//! the libraries write, a flat forest, and the libraries' own arithmetic, so that answers are
//! bit-identical to theirs.
//!
//! - XGBoost (`model.ubj`, `model.json`): [`xgboost::read`]. Features are float32, each tree's
//!   leaf value is added in float32, in tree order, to `base_score` on the margin scale; the
//!   objective's transform is float32 (`expf`, XGBoost's `Sigmoid` and `Softmax`).
//! - LightGBM (`model.lgb`, and the model string of a scikit-learn estimator's skops file,
//!   [`skops::read`]): [`lightgbm::read`]. Everything is float64.
//!
//! A [`TreeSession`] implements the [`Runtime`] contract: one `input` tensor (rows × features,
//! float32 or float64, NaN for missing) in, one `predictions` tensor out, shaped and typed the
//! way the library's Python `predict` shapes it for the chosen [`Answer`]. Rows are
//! independent, so requests may be merged. Runtimes know tensors, not MLflow: which answer a
//! model gives is decided by the caller.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod doc;
pub mod forest;
pub mod layout;
pub mod legacy;
pub mod lightgbm;
pub mod shap;
pub mod skops;
pub mod xgboost;

use std::sync::Arc;

use runtime_api::{
    DType, IoKind, IoSpec, OutputValue, Param, Runtime, RuntimeError, Tensor, TensorData,
};

use forest::Forest;

/// Why a model file could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TreeError {
    /// The file is malformed or breaks a bound.
    #[error("{0}")]
    Format(String),
    /// The file is well-formed but holds something not served natively (named).
    #[error("{0} is not supported")]
    Unsupported(String),
}

/// Bounds on what a model file may declare (every reader checks them before allocating).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Most trees.
    pub max_trees: usize,
    /// Most nodes over all trees.
    pub max_nodes: usize,
    /// Most features.
    pub max_features: usize,
    /// Most classes (output groups).
    pub max_classes: usize,
    /// Largest category value in a categorical split (bitset size).
    pub max_category: i64,
    /// Largest member of a skops archive, decompressed.
    pub max_member_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_trees: 1 << 20,
            max_nodes: 1 << 28,
            max_features: 1 << 20,
            max_classes: 1 << 16,
            max_category: 1 << 24,
            max_member_bytes: 4 << 30,
        }
    }
}

/// The objective's output transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    /// The margin itself.
    Identity,
    /// XGBoost's float32 sigmoid (`common::Sigmoid(float)`).
    Sigmoid32,
    /// XGBoost's `binary:hinge`: 1 when the margin is positive, else 0.
    Hinge,
    /// `expf` (XGBoost poisson, gamma, tweedie, cox, aft).
    Exp32,
    /// XGBoost's float32 softmax over the groups.
    Softmax32,
    /// XGBoost's `multi:softmax`: the index of the largest margin.
    ArgMax,
    /// LightGBM's `1 / (1 + exp(-s·x))` in float64.
    Sigmoid64(f64),
    /// LightGBM's float64 softmax.
    Softmax64,
    /// LightGBM's one-vs-all sigmoid per class.
    OvaSigmoid64(f64),
    /// `exp` in float64 (LightGBM poisson, gamma, tweedie).
    Exp64,
    /// `log1p(exp(x))` (LightGBM `cross_entropy_lambda`).
    Log1pExp,
    /// `sign(x)·x²` (LightGBM regression with `sqrt`).
    SignSquare,
}

/// Class labels of a scikit-learn classifier.
#[derive(Debug, Clone, PartialEq)]
pub enum Classes {
    /// Integer labels.
    Int(Vec<i64>),
    /// Float labels.
    Float(Vec<f64>),
    /// Boolean labels.
    Bool(Vec<bool>),
    /// String labels.
    Str(Vec<String>),
}

impl Classes {
    fn len(&self) -> usize {
        match self {
            Classes::Int(v) => v.len(),
            Classes::Float(v) => v.len(),
            Classes::Bool(v) => v.len(),
            Classes::Str(v) => v.len(),
        }
    }

    fn pick(&self, idx: &[usize]) -> TensorData {
        match self {
            Classes::Int(v) => TensorData::I64(idx.iter().map(|i| v[*i]).collect()),
            Classes::Float(v) => TensorData::F64(idx.iter().map(|i| v[*i]).collect()),
            Classes::Bool(v) => TensorData::Bool(idx.iter().map(|i| v[*i]).collect()),
            Classes::Str(v) => TensorData::Str(idx.iter().map(|i| v[*i].clone()).collect()),
        }
    }
}

/// The boosted model proper.
#[derive(Debug, Clone, PartialEq)]
pub enum Booster {
    /// XGBoost trees (gbtree, dart), float32.
    Xgb(Forest<f32>),
    /// XGBoost gblinear: `(features + 1) × groups` weights, the bias row last.
    XgbLinear {
        /// Weights, feature-major, then the biases.
        weights: Vec<f32>,
    },
    /// LightGBM trees, float64.
    Lgb(Forest<f64>),
}

/// A model read from its file.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Trees or linear weights.
    pub boosted: Booster,
    /// Features a row has.
    pub n_features: usize,
    /// Output groups (classes of a multiclass model, else 1).
    pub n_groups: usize,
    /// The objective's output transform.
    pub transform: Objective,
    /// The objective's name in the library.
    pub objective: String,
    /// Each group's start value on the margin scale.
    pub base_margin: Vec<f32>,
    /// Trees per boosting round (groups × parallel trees).
    pub layer_trees: usize,
    /// XGBoost's `best_iteration` attribute (the scikit-learn API predicts up to it).
    pub best_iteration: Option<usize>,
    /// LightGBM `average_output` (random forest): the sum is divided by the rounds used.
    pub average: bool,
    /// XGBoost's `scikit_learn` attribute (the estimator's parameters), if any.
    pub sklearn_params: Option<String>,
    /// A scikit-learn classifier's labels.
    pub classes: Option<Classes>,
    /// The feature names stored in the model (may be empty).
    pub feature_names: Vec<String>,
    /// LightGBM's `pandas_categorical` is set: the model was trained on pandas category
    /// columns, and the Python package refuses frames without them.
    pub pandas_categorical: bool,
    /// XGBoost trees' node means and depths, for feature contributions (empty when the
    /// file has no node covers).
    pub shap: Vec<shap::TreeStats>,
}

/// What `predict` answers, as the library's Python API would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `Booster.predict`: transformed values (or margins, leaves) over all rounds.
    Booster,
    /// A scikit-learn regressor's or ranker's `predict`: values up to `best_iteration`.
    Values,
    /// A scikit-learn classifier's `predict`: class labels.
    Labels,
}

/// Which rounds a call uses (`iteration_range`: `[begin, end)`, `end` 0 = all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rounds {
    /// First round.
    pub begin: usize,
    /// One past the last round (0 = every round).
    pub end: usize,
}

/// XGBoost's feature-contribution outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Contribs {
    /// Predictions, not contributions.
    #[default]
    None,
    /// `pred_contribs`: TreeSHAP values, bias last.
    Shap,
    /// `pred_contribs` with `approx_contribs`: Saabas values.
    Approx,
    /// `pred_interactions`: SHAP interaction values.
    Interactions,
    /// `pred_interactions` with `approx_contribs`.
    ApproxInteractions,
}

/// The options of one prediction call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallOptions {
    /// Margins instead of transformed values.
    pub output_margin: bool,
    /// Leaf indices instead of values.
    pub pred_leaf: bool,
    /// Feature contributions instead of values.
    pub contribs: Contribs,
    /// Rounds to use; `None` = the answer's default.
    pub rounds: Option<Rounds>,
    /// XGBoost's `strict_shape`.
    pub strict_shape: bool,
}

impl Model {
    /// Rounds in the model.
    pub fn rounds(&self) -> usize {
        match &self.boosted {
            Booster::Xgb(f) => f.trees.len() / self.layer_trees.max(1),
            Booster::Lgb(f) => f.trees.len() / self.layer_trees.max(1),
            Booster::XgbLinear { .. } => 1,
        }
    }

    fn tree_range(&self, rounds: Rounds) -> std::ops::Range<usize> {
        let total = self.rounds();
        let end = if rounds.end == 0 {
            total
        } else {
            rounds.end.min(total)
        };
        let begin = rounds.begin.min(end);
        begin * self.layer_trees..end * self.layer_trees
    }

    /// Predicts `rows` rows of `x` (row-major float64, `rows × n_features`).
    pub fn predict(
        &self,
        x: &[f64],
        rows: usize,
        answer: Answer,
        opts: CallOptions,
    ) -> Result<Tensor, RuntimeError> {
        if x.len() != rows * self.n_features {
            return Err(RuntimeError::Input(format!(
                "the model expects {} features per row, the input has {}",
                self.n_features,
                x.len().checked_div(rows).unwrap_or(0)
            )));
        }
        let default_rounds = match answer {
            Answer::Booster => Rounds::default(),
            Answer::Values | Answer::Labels => match self.best_iteration {
                Some(b) => Rounds {
                    begin: 0,
                    end: b + 1,
                },
                None => Rounds::default(),
            },
        };
        let rounds = match opts.rounds {
            Some(r) if r.end != 0 => r,
            Some(r) if r.begin != 0 => r,
            _ => default_rounds,
        };
        let range = self.tree_range(rounds);
        let ng = self.n_groups;
        match &self.boosted {
            Booster::Xgb(f) => {
                let xf = xgb_features(x, answer)?;
                if opts.contribs != Contribs::None {
                    return self.contributions(f, &xf, rows, range.end, opts);
                }
                if opts.pred_leaf {
                    let n = range.len();
                    let leaves = f.leaves(&xf, rows, range);
                    let data = TensorData::F32(leaves.into_iter().map(|l| l as f32).collect());
                    return tensor(vec![rows, n], data);
                }
                let mut out: Vec<f32> = (0..rows)
                    .flat_map(|_| self.base_margin.iter().copied())
                    .collect();
                f.add_margins(&xf, rows, range, &mut out);
                self.finish32(out, rows, answer, opts)
            }
            Booster::XgbLinear { weights } => {
                if opts.pred_leaf {
                    return Err(RuntimeError::Run(
                        "gblinear does not support prediction of leaf index".into(),
                    ));
                }
                let nf = self.n_features;
                let xf = xgb_features(x, answer)?;
                // gblinear has one "round": a range may only start at 0 (and its end is moot).
                if let Some(r) = opts.rounds.filter(|r| r.begin != 0) {
                    return Err(RuntimeError::Run(format!(
                        "Check failed: layer_begin == 0 ({} vs. 0) : Linear booster does not support prediction range.",
                        r.begin
                    )));
                }
                if opts.contribs != Contribs::None {
                    return self.linear_contributions(weights, &xf, rows, opts);
                }
                let mut out = Vec::with_capacity(rows * ng);
                for r in 0..rows {
                    for g in 0..ng {
                        let mut psum = weights[nf * ng + g] + self.base_margin[g];
                        for j in 0..nf {
                            let v = xf[r * nf + j];
                            if !v.is_nan() {
                                psum += v * weights[j * ng + g];
                            }
                        }
                        out.push(psum);
                    }
                }
                self.finish32(out, rows, answer, opts)
            }
            Booster::Lgb(f) => {
                if opts.pred_leaf {
                    let n = range.len();
                    let leaves = f.leaves(x, rows, range);
                    return tensor(
                        vec![rows, n],
                        TensorData::I32(leaves.into_iter().map(|l| l as i32).collect()),
                    );
                }
                let used = range.len() / self.layer_trees.max(1);
                let mut out = vec![0f64; rows * ng];
                f.add_margins(x, rows, range, &mut out);
                if self.average && used > 0 {
                    for v in &mut out {
                        *v /= used as f64;
                    }
                }
                self.finish64(out, rows, answer, opts)
            }
        }
    }

    fn contributions(
        &self,
        f: &Forest<f32>,
        xf: &[f32],
        rows: usize,
        end: usize,
        opts: CallOptions,
    ) -> Result<Tensor, RuntimeError> {
        if self.shap.len() != f.trees.len() {
            return Err(RuntimeError::Run(
                "the model file has no node covers (sum_hessian): feature contributions cannot be computed".into(),
            ));
        }
        let (ng, cols) = (self.n_groups, self.n_features + 1);
        let mut shape = vec![rows];
        if ng > 1 || opts.strict_shape {
            shape.push(ng);
        }
        let (approx, interactions) = match opts.contribs {
            Contribs::Approx => (true, false),
            Contribs::Interactions => (false, true),
            Contribs::ApproxInteractions => (true, true),
            _ => (false, false),
        };
        let values = if interactions {
            shape.extend([cols, cols]);
            shap::interactions(f, &self.shap, xf, rows, end, &self.base_margin, approx)
        } else {
            shape.push(cols);
            shap::contributions(
                f,
                &self.shap,
                xf,
                rows,
                end,
                &self.base_margin,
                approx,
                0,
                0,
            )
        }
        .map_err(RuntimeError::Run)?;
        tensor(shape, TensorData::F32(values))
    }

    /// gblinear's contributions (`x·w` per feature, bias plus base last); its interactions
    /// are refused as XGBoost refuses them.
    fn linear_contributions(
        &self,
        weights: &[f32],
        xf: &[f32],
        rows: usize,
        opts: CallOptions,
    ) -> Result<Tensor, RuntimeError> {
        let (nf, ng) = (self.n_features, self.n_groups);
        let cols = nf + 1;
        let mut shape = vec![rows];
        if ng > 1 || opts.strict_shape {
            shape.push(ng);
        }
        if matches!(
            opts.contribs,
            Contribs::Interactions | Contribs::ApproxInteractions
        ) {
            // XGBoost's gblinear fills features² values where (features + 1)² are expected,
            // and its shape check refuses the answer (XGBoost 2.0 to 3.2 alike).
            return Err(RuntimeError::Run(format!(
                "Check failed: std::accumulate(shape.cbegin(), shape.cend(), static_cast<bst_ulong>(1), std::multiplies<>{{}}) == chunksize * rows ({} vs. {}) : ",
                rows * ng * cols * cols,
                rows * ng * nf * nf
            )));
        }
        shape.push(cols);
        let mut out = vec![0f32; rows * ng * cols];
        for r in 0..rows {
            for g in 0..ng {
                let p = &mut out[(r * ng + g) * cols..(r * ng + g + 1) * cols];
                for j in 0..nf {
                    let v = xf[r * nf + j];
                    if !v.is_nan() {
                        p[j] = v * weights[j * ng + g];
                    }
                }
                p[cols - 1] = weights[nf * ng + g] + self.base_margin[0];
            }
        }
        tensor(shape, TensorData::F32(out))
    }

    fn finish32(
        &self,
        mut out: Vec<f32>,
        rows: usize,
        answer: Answer,
        opts: CallOptions,
    ) -> Result<Tensor, RuntimeError> {
        let ng = self.n_groups;
        let shape = |cols: usize| {
            if cols == 1 && !opts.strict_shape {
                vec![rows]
            } else {
                vec![rows, cols]
            }
        };
        if opts.output_margin {
            return tensor(shape(ng), TensorData::F32(out));
        }
        match self.transform {
            Objective::Sigmoid32 => out.iter_mut().for_each(|v| *v = sigmoid32(*v)),
            Objective::Exp32 => out.iter_mut().for_each(|v| *v = v.exp()),
            Objective::Hinge => out
                .iter_mut()
                .for_each(|v| *v = if *v > 0.0 { 1.0 } else { 0.0 }),
            Objective::Softmax32 => out.chunks_mut(ng).for_each(softmax32),
            Objective::ArgMax => {
                let idx: Vec<f32> = out
                    .chunks(ng)
                    .map(|c| argmax(c.iter().copied()) as f32)
                    .collect();
                if answer == Answer::Labels {
                    return tensor(
                        vec![rows],
                        TensorData::I32(idx.iter().map(|i| *i as i32).collect()),
                    );
                }
                return tensor(shape(1), TensorData::F32(idx));
            }
            _ => {}
        }
        if answer == Answer::Labels {
            // XGBClassifier.predict: argmax of the probabilities, or `p > 0.5` for one column.
            let idx: Vec<i64> = if ng > 1 {
                out.chunks(ng)
                    .map(|c| argmax(c.iter().copied()) as i64)
                    .collect()
            } else {
                out.iter().map(|p| (*p > 0.5) as i64).collect()
            };
            return tensor(vec![rows], TensorData::I64(idx));
        }
        tensor(shape(ng), TensorData::F32(out))
    }

    fn finish64(
        &self,
        mut out: Vec<f64>,
        rows: usize,
        answer: Answer,
        opts: CallOptions,
    ) -> Result<Tensor, RuntimeError> {
        let ng = self.n_groups;
        let shape = if ng == 1 { vec![rows] } else { vec![rows, ng] };
        if opts.output_margin {
            return tensor(shape, TensorData::F64(out));
        }
        match self.transform {
            Objective::Sigmoid64(s) => out
                .iter_mut()
                .for_each(|v| *v = 1.0 / (1.0 + (-s * *v).exp())),
            Objective::OvaSigmoid64(s) => out
                .iter_mut()
                .for_each(|v| *v = 1.0 / (1.0 + (-s * *v).exp())),
            Objective::Exp64 => out.iter_mut().for_each(|v| *v = v.exp()),
            Objective::Log1pExp => out.iter_mut().for_each(|v| *v = v.exp().ln_1p()),
            Objective::SignSquare => out.iter_mut().for_each(|v| *v = v.signum() * *v * *v),
            Objective::Softmax64 => out.chunks_mut(ng).for_each(softmax64),
            _ => {}
        }
        if answer == Answer::Labels {
            let classes = self
                .classes
                .as_ref()
                .ok_or_else(|| RuntimeError::Run("the classifier has no class labels".into()))?;
            let idx: Vec<usize> = if ng > 1 {
                out.chunks(ng).map(|c| argmax(c.iter().copied())).collect()
            } else {
                // predict_proba is [1 - p, p]; argmax takes the first of equal values.
                out.iter().map(|p| (*p > 1.0 - *p) as usize).collect()
            };
            if idx.iter().any(|i| *i >= classes.len()) {
                return Err(RuntimeError::Run(
                    "a class index beyond the classifier's labels".into(),
                ));
            }
            return tensor(vec![rows], classes.pick(&idx));
        }
        tensor(shape, TensorData::F64(out))
    }
}

fn tensor(shape: Vec<usize>, data: TensorData) -> Result<Tensor, RuntimeError> {
    Tensor::new(shape, data)
}

/// XGBoost's `common::Sigmoid(float)`.
pub(crate) fn sigmoid32(x: f32) -> f32 {
    let e = (-x).min(88.7f32).exp();
    1.0f32 / (e + 1.0f32 + 1e-16f32)
}

/// XGBoost's `common::Softmax`: float32 exponentials, a float64 sum, a float32 division.
fn softmax32(row: &mut [f32]) {
    let mut wmax = row[0];
    for v in row.iter().skip(1) {
        wmax = wmax.max(*v);
    }
    let mut wsum = 0f64;
    for v in row.iter_mut() {
        *v = (*v - wmax).exp();
        wsum += *v as f64;
    }
    let s = wsum as f32;
    for v in row.iter_mut() {
        *v /= s;
    }
}

/// LightGBM's `Common::Softmax`.
fn softmax64(row: &mut [f64]) {
    let mut wmax = row[0];
    for v in row.iter().skip(1) {
        wmax = wmax.max(*v);
    }
    let mut wsum = 0f64;
    for v in row.iter_mut() {
        *v = (*v - wmax).exp();
        wsum += *v;
    }
    for v in row.iter_mut() {
        *v /= wsum;
    }
}

/// numpy's `argmax`: the first index of the largest value (NaN counts as largest).
fn argmax<T: PartialOrd + Copy, I: Iterator<Item = T>>(it: I) -> usize {
    let mut best: Option<(usize, T)> = None;
    for (i, v) in it.enumerate() {
        #[allow(clippy::eq_op)]
        let nan = v != v;
        match best {
            None => best = Some((i, v)),
            Some((_, b)) => {
                #[allow(clippy::eq_op)]
                let bnan = b != b;
                if bnan {
                    continue;
                }
                if nan || v > b {
                    best = Some((i, v));
                }
            }
        }
        if nan {
            break;
        }
    }
    best.map(|(i, _)| i).unwrap_or(0)
}

/// Features as XGBoost reads them: float32. A `Booster` predicts through a DMatrix, which
/// refuses infinities (and values beyond float32) as XGBoost's `data.cc` check does; the
/// scikit-learn estimators predict in place, which takes them.
fn xgb_features(x: &[f64], answer: Answer) -> Result<Vec<f32>, RuntimeError> {
    let xf: Vec<f32> = x.iter().map(|v| *v as f32).collect();
    if answer == Answer::Booster && xf.iter().any(|v| v.is_infinite()) {
        return Err(RuntimeError::Run(INF_REFUSED.into()));
    }
    Ok(xf)
}

/// XGBoost's message for an infinite feature value in a DMatrix.
pub const INF_REFUSED: &str =
    "Check failed: valid: Input data contains `inf` or a value too large, while `missing` is not set to `inf`";

/// How a model file is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// XGBoost UBJSON or JSON (told apart by content).
    XGBoost,
    /// LightGBM's text model.
    LightGBM,
    /// A LightGBM scikit-learn estimator saved with skops.
    LightGBMSkops,
}

/// Reads a model file of `kind`.
pub fn read_model(bytes: &[u8], kind: FileKind, limits: &Limits) -> Result<Model, TreeError> {
    match kind {
        FileKind::XGBoost => xgboost::read(bytes, limits),
        FileKind::LightGBM => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| TreeError::Format("the LightGBM model is not UTF-8 text".into()))?;
            lightgbm::read(text, limits)
        }
        FileKind::LightGBMSkops => {
            let est = skops::read(bytes, limits)?;
            let mut model = lightgbm::read(&est.model_text, limits)?;
            // LightGBM counts `best_iteration` from 1 (0 = none); `Model` keeps XGBoost's
            // 0-based index of the last round used.
            model.best_iteration = est.best_iteration.checked_sub(1);
            if let Some(c) = &est.classes {
                let need = if model.n_groups == 1 {
                    2
                } else {
                    model.n_groups
                };
                if c.len() != need {
                    return Err(TreeError::Format(format!(
                        "the classifier has {} labels for {need} classes",
                        c.len()
                    )));
                }
            }
            model.classes = est.classes;
            Ok(model)
        }
    }
}

/// A model shared by every worker, with the answer its flavor asked for.
#[derive(Debug, Clone)]
pub struct TreeSession {
    model: Arc<Model>,
    answer: Answer,
    inputs: Vec<IoSpec>,
    outputs: Vec<IoSpec>,
}

impl TreeSession {
    /// A session over a shared model.
    pub fn new(model: Arc<Model>, answer: Answer) -> TreeSession {
        let inputs = vec![IoSpec {
            name: "input".into(),
            kind: IoKind::Tensor {
                dtype: Some(DType::F64),
                shape: vec![-1, model.n_features as i64],
                type_string: "tensor(double)".into(),
            },
        }];
        let outputs = vec![IoSpec {
            name: "predictions".into(),
            kind: IoKind::Tensor {
                dtype: None,
                shape: vec![-1],
                type_string: "predictions".into(),
            },
        }];
        TreeSession {
            model,
            answer,
            inputs,
            outputs,
        }
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }
}

fn flag(params: &[(String, Param)], key: &str) -> Result<bool, RuntimeError> {
    match params.iter().find(|(k, _)| k == key).map(|(_, v)| v) {
        None | Some(Param::None) => Ok(false),
        Some(Param::Bool(b)) => Ok(*b),
        Some(Param::Int(i)) => Ok(*i != 0),
        Some(other) => Err(RuntimeError::Input(format!(
            "{key} must be a boolean, got {}",
            other.type_name()
        ))),
    }
}

/// Reads the runtime params: `output_margin`, `pred_leaf`, `strict_shape` (booleans) and
/// `iteration_range` (a list of two integers).
pub fn call_options(params: &[(String, Param)]) -> Result<CallOptions, RuntimeError> {
    let rounds = match params
        .iter()
        .find(|(k, _)| k == "iteration_range")
        .map(|(_, v)| v)
    {
        None | Some(Param::None) => None,
        Some(Param::List(items)) if items.len() == 2 => match (&items[0], &items[1]) {
            (Param::Int(b), Param::Int(e)) if *b >= 0 && *e >= 0 => Some(Rounds {
                begin: *b as usize,
                end: *e as usize,
            }),
            _ => {
                return Err(RuntimeError::Input(
                    "iteration_range must be two non-negative integers".into(),
                ))
            }
        },
        Some(_) => {
            return Err(RuntimeError::Input(
                "iteration_range must be two non-negative integers".into(),
            ))
        }
    };
    // `Booster.predict`'s `assign_type`: one kind of output at a time.
    let approx = flag(params, "approx_contribs")?;
    let mut contribs = Contribs::None;
    let output_margin = flag(params, "output_margin")?;
    let pred_leaf = flag(params, "pred_leaf")?;
    let mut kinds = output_margin as u32 + pred_leaf as u32;
    if flag(params, "pred_contribs")? {
        kinds += 1;
        contribs = if approx {
            Contribs::Approx
        } else {
            Contribs::Shap
        };
    }
    if flag(params, "pred_interactions")? {
        kinds += 1;
        contribs = if approx {
            Contribs::ApproxInteractions
        } else {
            Contribs::Interactions
        };
    }
    if kinds > 1 {
        return Err(RuntimeError::Input(
            "One type of prediction at a time.".into(),
        ));
    }
    Ok(CallOptions {
        output_margin,
        pred_leaf,
        contribs,
        rounds,
        strict_shape: flag(params, "strict_shape")?,
    })
}

impl Runtime for TreeSession {
    fn inputs(&self) -> &[IoSpec] {
        &self.inputs
    }

    fn outputs(&self) -> &[IoSpec] {
        &self.outputs
    }

    fn run(
        &mut self,
        feeds: Vec<(String, Tensor)>,
    ) -> Result<Vec<(String, OutputValue)>, RuntimeError> {
        self.run_with_params(feeds, &[])
    }

    fn run_with_params(
        &mut self,
        feeds: Vec<(String, Tensor)>,
        params: &[(String, Param)],
    ) -> Result<Vec<(String, OutputValue)>, RuntimeError> {
        let opts = call_options(params)?;
        let Some((_, input)) = feeds.into_iter().next() else {
            return Err(RuntimeError::Input("no input".into()));
        };
        let rows = input.shape.first().copied().unwrap_or(0);
        let x: Vec<f64> = match input.data {
            TensorData::F64(v) => v,
            TensorData::F32(v) => v.into_iter().map(f64::from).collect(),
            other => return Err(RuntimeError::UnsupportedInputDtype(other.dtype())),
        };
        let out = self.model.predict(&x, rows, self.answer, opts)?;
        Ok(vec![("predictions".into(), OutputValue::Tensor(out))])
    }
}
