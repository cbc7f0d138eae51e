//! The `mlflow.lightgbm` flavor (MLflow's `mlflow/lightgbm/__init__.py`, `_LGBModelWrapper`),
//! run natively by `runtimes/trees`.
//!
//! MLflow's wrapper calls `model.predict(df)` and passes no params at all, so none reach the
//! model here either. A `Booster` (`model.lgb`) answers its transformed values; a
//! scikit-learn estimator saved with skops answers class labels (`LGBMClassifier`) or values
//! up to its `best_iteration`. Pickled estimators are refused at start with a hint.

use runtime_api::{OutputValue, RuntimeError};
use runtime_trees::{Answer, FileKind};

use super::predictions::Predictions;
use super::tabular;
use super::{Feeds, Flavor, FlavorError, InputKind, Loaded, RuntimeOptions};
use crate::enforce::Enforced;
use crate::model::mlmodel::LightgbmFlavor;
use crate::model::{LoadError, MlModel};
use crate::payload::Array;

/// A loaded LightGBM model's request semantics.
pub struct Lightgbm {
    n_features: usize,
    pandas_categorical: bool,
}

impl Flavor for Lightgbm {
    fn feeds(
        &self,
        input: Enforced,
        _params: crate::enforce::Params,
    ) -> Result<Feeds, FlavorError> {
        let tensor = match input {
            Enforced::Frame(f) => {
                // `_data_from_pandas` refuses an empty frame before looking at dtypes.
                if f.nrows == 0 || f.columns.is_empty() {
                    return Err(FlavorError::model(
                        "ValueError: Input data must be 2 dimensional and non empty.",
                    ));
                }
                if self.pandas_categorical {
                    return Err(FlavorError::model(
                        "ValueError: train and valid dataset categorical_feature do not match.",
                    ));
                }
                tabular::frame_matrix(&f).map_err(|bad| {
                    let cols: Vec<String> = bad.iter().map(|(n, t)| format!("{n}: {t}")).collect();
                    FlavorError::model(format!(
                        "ValueError: pandas dtypes must be int, float or bool.\nFields with bad pandas dtypes: {}",
                        cols.join(", ")
                    ))
                })?
            }
            // A list of records reaches `predict` as a list, one dimension deep.
            Enforced::RecordList(_) => {
                return Err(FlavorError::model(
                    "ValueError: Input numpy.ndarray or list must be 2 dimensional",
                ))
            }
            Enforced::Array(Array::Typed(t)) if t.shape.len() == 2 => tabular::array_matrix(t),
            // A dict of arrays (`instances`/`inputs` objects without a signature).
            Enforced::Dict(_) => {
                return Err(FlavorError::model(
                    "TypeError: Cannot predict data for type dict",
                ))
            }
            _ => {
                return Err(FlavorError::model(
                    "TypeError: the lightgbm flavor takes a DataFrame or a 2-D numeric array",
                ))
            }
        };
        // `_data_from_pandas` refuses an empty frame before anything else.
        if tensor.data.is_empty() {
            return Err(FlavorError::model(
                "ValueError: Input data must be 2 dimensional and non empty.",
            ));
        }
        let cols = tensor.shape.get(1).copied().unwrap_or(0);
        if cols != self.n_features {
            return Err(FlavorError::model(format!(
                "lightgbm.basic.LightGBMError: The number of features in data ({cols}) is not the same as it was in training data ({}).\nYou can set ``predict_disable_shape_check=true`` to discard this error, but please be aware what you are doing.",
                self.n_features
            )));
        }
        Ok(Feeds {
            tensors: vec![("input".to_string(), tensor)],
            params: Vec::new(),
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
        FlavorError::model(format!("lightgbm.basic.LightGBMError: {error}"))
    }
}

/// Loads a LightGBM model natively.
pub fn load(
    mlmodel: &MlModel,
    flavor: &LightgbmFlavor,
    opts: &RuntimeOptions,
) -> Result<Loaded, LoadError> {
    let path = mlmodel.dir.join(&flavor.data);
    if !path.is_file() {
        return Err(LoadError::MissingModelFile(path, "lightgbm"));
    }
    let (kind, answer) = match flavor.model_class.as_str() {
        "lightgbm.basic.Booster" => (FileKind::LightGBM, Answer::Booster),
        class @ ("lightgbm.sklearn.LGBMClassifier" | "lightgbm.sklearn.LGBMRegressor" | "lightgbm.sklearn.LGBMRanker") => {
            let format = flavor.serialization_format.as_deref().unwrap_or("cloudpickle");
            if format != "skops" {
                return Err(LoadError::UnsupportedFlavor(format!(
                    "this lightgbm model is a {class} saved with {format}, which cannot be read without running Python: log it with mlflow.lightgbm.log_model(..., serialization_format=\"skops\") (MLflow 3.17's default), or log its booster (model.booster_)"
                )));
            }
            let answer = if class.ends_with("Classifier") { Answer::Labels } else { Answer::Values };
            (FileKind::LightGBMSkops, answer)
        }
        other => {
            return Err(LoadError::UnsupportedFlavor(format!(
                "this lightgbm model's class `{other}` is not served natively (Booster, LGBMClassifier, LGBMRegressor and LGBMRanker are)"
            )))
        }
    };
    let model = tabular::read_model(&path, kind, "LightGBM")?;
    tracing::info!(
        model = %path.display(),
        objective = %model.objective,
        rounds = model.rounds(),
        workers = opts.workers.max(1),
        "LightGBM model loaded"
    );
    let flavor = Box::new(Lightgbm {
        n_features: model.n_features,
        pandas_categorical: model.pandas_categorical,
    });
    Ok(tabular::loaded(model, answer, opts, flavor))
}
