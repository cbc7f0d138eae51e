//! The `mlflow.xgboost` flavor (MLflow's `mlflow/xgboost/__init__.py`, `_XGBModelWrapper`),
//! run natively by `runtimes/trees`.
//!
//! `model_class` decides the answer as MLflow's wrapper does: a `Booster` answers
//! `booster.predict(DMatrix(df), validate_features=True, **params)` (transformed values,
//! margins with `output_margin`, leaf ids with `pred_leaf`; infinities refused by the
//! DMatrix); a scikit-learn estimator answers `model.predict(df, validate_features=True)`
//! (class indices for a classifier, values up to `best_iteration` otherwise). Params the
//! called `predict` does not take are dropped with MLflow's warning.

use runtime_api::{OutputValue, Param, RuntimeError};
use runtime_trees::{Answer, FileKind};

use super::predictions::Predictions;
use super::tabular;
use super::{Feeds, Flavor, FlavorError, InputKind, Loaded, RuntimeOptions};
use crate::enforce::Enforced;
use crate::model::mlmodel::XgboostFlavor;
use crate::model::{LoadError, MlModel};
use crate::payload::{Array, Cell};

/// The keyword arguments of `Booster.predict` (besides `data`).
const BOOSTER_PARAMS: [&str; 9] = [
    "output_margin",
    "pred_leaf",
    "pred_contribs",
    "approx_contribs",
    "pred_interactions",
    "validate_features",
    "training",
    "iteration_range",
    "strict_shape",
];

/// The keyword arguments of the scikit-learn estimators' `predict` (besides `X`).
const ESTIMATOR_PARAMS: [&str; 4] = [
    "output_margin",
    "validate_features",
    "base_margin",
    "iteration_range",
];

/// A loaded XGBoost model's request semantics.
pub struct Xgboost {
    answer: Answer,
    feature_names: Vec<String>,
}

impl Flavor for Xgboost {
    fn feeds(&self, input: Enforced, params: crate::enforce::Params) -> Result<Feeds, FlavorError> {
        let params = params.unwrap_or_default();
        let tensor = match input {
            Enforced::Frame(f) => {
                if !self.feature_names.is_empty() {
                    let names: Vec<String> = f.columns.iter().map(|(n, _)| n.as_key()).collect();
                    self.validate_features(&names)?;
                }
                tabular::frame_matrix(&f).map_err(|bad| {
                    let cols: Vec<String> = bad.iter().map(|(n, t)| format!("{n}: {t}")).collect();
                    FlavorError::model(format!(
                        "ValueError: DataFrame.dtypes for data must be int, float, bool or category. When categorical type is supplied, the experimental DMatrix parameter`enable_categorical` must be set to `True`.  Invalid columns:{}",
                        cols.join(", ")
                    ))
                })?
            }
            // A list of records reaches `DMatrix` as a list, one dimension deep.
            Enforced::RecordList(_) => {
                return Err(FlavorError::model(
                    "ValueError: Please reshape the input data into 2-dimensional matrix.",
                ))
            }
            Enforced::Array(Array::Typed(t)) if t.shape.len() == 2 => {
                if !self.feature_names.is_empty() && self.answer == Answer::Booster {
                    return Err(FlavorError::model(format!(
                        "ValueError: data did not contain feature names, but the following fields are expected: {}",
                        self.feature_names.join(", ")
                    )));
                }
                tabular::array_matrix(t)
            }
            // A dict of arrays (`instances`/`inputs` objects without a signature).
            Enforced::Dict(_) => {
                return Err(FlavorError::model(
                    "TypeError: Not supported type for data.<class 'dict'>",
                ))
            }
            _ => {
                return Err(FlavorError::model(
                    "TypeError: the xgboost flavor takes a DataFrame or a 2-D numeric array",
                ))
            }
        };
        Ok(Feeds {
            tensors: vec![("input".to_string(), tensor)],
            params: self.params(params)?,
        })
    }

    fn predictions(
        &self,
        outputs: Vec<(String, OutputValue)>,
        _kind: InputKind,
    ) -> Result<Predictions, FlavorError> {
        tabular::predictions(outputs)
    }

    fn runtime_error(&self, error: RuntimeError) -> FlavorError {
        match error {
            // What XGBoost's Python layer refuses before calling the library.
            RuntimeError::Input(m) => FlavorError::model(format!("ValueError: {m}")),
            other => FlavorError::model(format!("xgboost.core.XGBoostError: {other}")),
        }
    }
}

impl Xgboost {
    /// `Booster._validate_features` (names in order).
    fn validate_features(&self, names: &[String]) -> Result<(), FlavorError> {
        if names == self.feature_names.as_slice() {
            return Ok(());
        }
        let list = |v: &[String]| {
            let items: Vec<String> = v.iter().map(|s| crate::pyjson::str_repr(s)).collect();
            format!("[{}]", items.join(", "))
        };
        let mut msg = format!(
            "ValueError: feature_names mismatch: {} {}",
            list(&self.feature_names),
            list(names)
        );
        let dat_missing: Vec<&String> = self
            .feature_names
            .iter()
            .filter(|n| !names.contains(n))
            .collect();
        let my_missing: Vec<&String> = names
            .iter()
            .filter(|n| !self.feature_names.contains(n))
            .collect();
        let join = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        if !dat_missing.is_empty() {
            msg.push_str(&format!("\nexpected {} in input data", join(&dat_missing)));
        }
        if !my_missing.is_empty() {
            msg.push_str(&format!(
                "\ntraining data did not have the following fields: {}",
                join(&my_missing)
            ));
        }
        Err(FlavorError::model(msg))
    }

    /// The params the called `predict` takes (others dropped with MLflow's warning); values
    /// equal to their defaults are left out so that such requests can still be merged.
    fn params(&self, params: Vec<(String, Cell)>) -> Result<Vec<(String, Param)>, FlavorError> {
        let accepted: &[&str] = match self.answer {
            Answer::Booster => &BOOSTER_PARAMS,
            _ => &ESTIMATOR_PARAMS,
        };
        let (keep, dropped): (Vec<_>, Vec<_>) = params
            .into_iter()
            .partition(|(k, _)| accepted.contains(&k.as_str()));
        if !dropped.is_empty() {
            let names: Vec<String> = dropped
                .iter()
                .map(|(k, _)| crate::pyjson::str_repr(k))
                .collect();
            tracing::warn!(
                "Params {{{}}} are not accepted by the xgboost model, ignoring them during predict.",
                names.join(", ")
            );
        }
        let mut out = Vec::new();
        for (k, v) in keep {
            match k.as_str() {
                "validate_features" => {
                    return Err(FlavorError::model(
                        "TypeError: xgboost.core.Booster.predict() got multiple values for keyword argument 'validate_features'",
                    ))
                }
                "training" | "base_margin" if matches!(v, Cell::Null | Cell::Bool(false)) => {}
                "training" => {}
                "base_margin" => {
                    return Err(FlavorError::model("base_margin is not supported by mlflow-serve's native XGBoost runtime"))
                }
                _ => match tabular::to_param(v) {
                    Param::Bool(false) | Param::None => {}
                    p => out.push((k, p)),
                },
            }
        }
        Ok(out)
    }
}

/// What a model class answers.
fn answer_of(class: &str) -> Option<Answer> {
    Some(match class {
        "xgboost.core.Booster" => Answer::Booster,
        "xgboost.sklearn.XGBClassifier" | "xgboost.sklearn.XGBRFClassifier" => Answer::Labels,
        "xgboost.sklearn.XGBRegressor"
        | "xgboost.sklearn.XGBRFRegressor"
        | "xgboost.sklearn.XGBRanker" => Answer::Values,
        _ => return None,
    })
}

/// Loads an XGBoost model natively.
pub fn load(
    mlmodel: &MlModel,
    flavor: &XgboostFlavor,
    opts: &RuntimeOptions,
) -> Result<Loaded, LoadError> {
    let path = mlmodel.dir.join(&flavor.data);
    if !path.is_file() {
        return Err(LoadError::MissingModelFile(path, "xgboost"));
    }
    let answer = answer_of(&flavor.model_class).ok_or_else(|| {
        LoadError::UnsupportedFlavor(format!(
            "this xgboost model's class `{}` is not served natively (Booster, XGBClassifier, XGBRegressor, XGBRFClassifier, XGBRFRegressor and XGBRanker are)",
            flavor.model_class
        ))
    })?;
    let model = tabular::read_model(&path, FileKind::XGBoost, "XGBoost")?;
    tracing::info!(
        model = %path.display(),
        objective = %model.objective,
        rounds = model.rounds(),
        workers = opts.workers.max(1),
        "XGBoost model loaded"
    );
    let flavor = Box::new(Xgboost {
        answer,
        feature_names: model.feature_names.clone(),
    });
    Ok(tabular::loaded(model, answer, opts, flavor))
}
