//! Reading `MLmodel` (YAML written by `yaml.safe_dump`) into typed fields (MLflow's `mlflow/models/model.py`, `Model.load`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::signature::{Signature, SignatureError};

/// Why a model directory cannot be served. Each variant renders as one clear line.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No `MLmodel` file.
    #[error("Could not find an \"MLmodel\" configuration file at \"{0}\"")]
    NoMlModel(PathBuf),
    /// The path does not exist or is not a directory.
    #[error("model directory \"{0}\" does not exist or is not a directory")]
    NotADirectory(PathBuf),
    /// `MLmodel` could not be read or parsed.
    #[error("cannot parse {path}: {reason}")]
    BadYaml {
        /// The file.
        path: PathBuf,
        /// What the YAML parser said.
        reason: String,
    },
    /// The signature JSON strings are invalid.
    #[error("invalid signature in {path}: {source}")]
    Signature {
        /// The file.
        path: PathBuf,
        /// The signature problem.
        source: SignatureError,
    },
    /// The model has no flavor this server can run.
    #[error("{0}")]
    UnsupportedFlavor(String),
    /// `metadata["mlflow.model.isExternal"]` is set.
    #[error("This model's artifacts are external and are not stored in the model directory. This model cannot be loaded with MLflow.")]
    External,
    /// The model file the flavor names is missing.
    #[error("model file \"{0}\" named by the {1} flavor does not exist")]
    MissingModelFile(PathBuf, &'static str),
    /// A path named by `MLmodel` leads outside the model directory (after symlinks).
    #[error("{what} \"{path}\" named by MLmodel is outside the model directory \"{dir}\"; refusing to serve this model")]
    PathEscapes {
        /// Which field named it.
        what: &'static str,
        /// The path as written in MLmodel.
        path: String,
        /// The model directory.
        dir: PathBuf,
    },
    /// A model file is larger than this server reads.
    #[error("{path} is {size} bytes, more than the {limit} bytes mlflow-serve reads for it")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The bound.
        limit: u64,
    },
    /// The runtime refused the model.
    #[error("cannot load {kind} model \"{path}\": {reason}")]
    Runtime {
        /// `ONNX` or `PyTorch`.
        kind: &'static str,
        /// The model file.
        path: PathBuf,
        /// The runtime's message.
        reason: String,
    },
}

/// `saved_input_example_info` (`mlflow/models/utils.py`, `_read_example`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InputExampleInfo {
    /// Raw example file.
    pub artifact_path: Option<String>,
    /// Ready-to-POST body.
    pub serving_input_path: Option<String>,
    /// `dataframe`, `ndarray`, `json_object`, …
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `split` / `values` for dataframes.
    pub pandas_orient: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawSignature {
    inputs: Option<String>,
    outputs: Option<String>,
    params: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawMlModel {
    #[serde(default)]
    artifact_path: Option<String>,
    #[serde(default)]
    flavors: BTreeMap<String, serde_yaml::Value>,
    #[serde(default)]
    is_signature_from_type_hint: Option<bool>,
    #[serde(default)]
    mlflow_version: Option<String>,
    #[serde(default)]
    model_id: Option<String>,
    #[serde(default)]
    model_uuid: Option<String>,
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    saved_input_example_info: Option<InputExampleInfo>,
    #[serde(default)]
    signature: Option<RawSignature>,
    #[serde(default)]
    utc_time_created: Option<String>,
    #[serde(default)]
    metadata: Option<serde_yaml::Value>,
    #[serde(default)]
    model_size_bytes: Option<u64>,
}

/// The `onnx` flavor block (`mlflow/onnx/__init__.py`, `save_model`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OnnxFlavor {
    /// Model file relative to the model directory (`model.onnx`).
    pub data: String,
    /// `providers`, names only.
    pub providers: Vec<String>,
    /// `onnx_session_options`, as MLflow applies them (falsy values ignored).
    pub session_options: runtime_onnx::SessionOptions,
    /// `onnx_version` the model was saved with.
    pub onnx_version: Option<String>,
}

/// The `pytorch` flavor block (`mlflow/pytorch/__init__.py`, `save_model`) and the pyfunc `config` the PyTorch wrapper reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PyTorchFlavor {
    /// The data folder relative to the model directory (`data`).
    pub model_data: String,
    /// `pytorch_version` the model was saved with.
    pub pytorch_version: Option<String>,
    /// `python_function.config.device`, when set.
    pub device: Option<String>,
}

impl PyTorchFlavor {
    /// The model file MLflow loads: `model.pth` when present, else `model.pt2`.
    pub fn model_file(&self, dir: &Path) -> PathBuf {
        let data = dir.join(&self.model_data);
        let pth = data.join("model.pth");
        if pth.is_file() || !data.join("model.pt2").is_file() {
            pth
        } else {
            data.join("model.pt2")
        }
    }
}

/// The `xgboost` flavor block (`mlflow/xgboost/__init__.py`, `save_model`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct XgboostFlavor {
    /// Model file relative to the model directory (`model.ubj`, `model.json`, `model.xgb`).
    pub data: String,
    /// `model_class`: `xgboost.core.Booster` (the default for models saved before MLflow
    /// 1.22), `xgboost.sklearn.XGBClassifier`, `XGBRegressor`, …
    pub model_class: String,
    /// `xgb_version` the model was saved with.
    pub xgb_version: Option<String>,
}

/// The `lightgbm` flavor block (`mlflow/lightgbm/__init__.py`, `save_model`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LightgbmFlavor {
    /// Model file relative to the model directory (`model.lgb`, `model.skops`, `model.pkl`).
    pub data: String,
    /// `model_class`: `lightgbm.basic.Booster` (the default) or a scikit-learn estimator.
    pub model_class: String,
    /// `serialization_format` of a scikit-learn estimator (`skops`, `cloudpickle`, `pickle`).
    pub serialization_format: Option<String>,
    /// `lgb_version` the model was saved with.
    pub lgb_version: Option<String>,
}

/// The `python_function` block of a model no native runtime serves: it runs in Python
/// worker processes (`mlflow/pyfunc/__init__.py`, `add_to_model`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PythonFlavor {
    /// `loader_module` (`mlflow.sklearn`, `mlflow.pyfunc.model`, …).
    pub loader_module: String,
    /// `python_version` the model was saved with.
    pub python_version: Option<String>,
    /// `env.virtualenv` (`python_env.yaml`), relative to the model directory.
    pub virtualenv: Option<String>,
    /// `env.conda` (`conda.yaml`), relative to the model directory.
    pub conda: Option<String>,
    /// Whether rows of several requests may go through one `predict` call: scikit-learn
    /// estimators answer row by row; any model may say so, or not, in its MLmodel
    /// `metadata` under `mlflow_serve.batchable`.
    pub batchable: bool,
}

/// The flavor mlflow-serve runs the model with.
#[derive(Debug, Clone, PartialEq)]
pub enum Flavor {
    /// `mlflow.onnx` (preferred when a model has both).
    Onnx(OnnxFlavor),
    /// `mlflow.pytorch` (served when built with the `torch` feature).
    PyTorch(PyTorchFlavor),
    /// `mlflow.xgboost` (served natively by `runtimes/trees`).
    Xgboost(XgboostFlavor),
    /// `mlflow.lightgbm` (served natively by `runtimes/trees`).
    Lightgbm(LightgbmFlavor),
    /// Any other `python_function` model: served by Python worker processes.
    Python(PythonFlavor),
}

/// A parsed `MLmodel` file.
#[derive(Debug, Clone)]
pub struct MlModel {
    /// The model directory.
    pub dir: PathBuf,
    /// The flavor to serve.
    pub flavor: Flavor,
    /// The signature (inputs, outputs, params), when one was logged.
    pub signature: Signature,
    /// `saved_input_example_info`.
    pub input_example: Option<InputExampleInfo>,
    /// `mlflow_version` that saved the model.
    pub mlflow_version: Option<String>,
    /// `model_id` (MLflow 3 logged models).
    pub model_id: Option<String>,
    /// `model_uuid`.
    pub model_uuid: Option<String>,
    /// `run_id` of the source run.
    pub run_id: Option<String>,
    /// `artifact_path`.
    pub artifact_path: Option<String>,
    /// `utc_time_created`.
    pub utc_time_created: Option<String>,
    /// `model_size_bytes`.
    pub model_size_bytes: Option<u64>,
    /// `is_signature_from_type_hint`.
    pub is_signature_from_type_hint: bool,
}

impl MlModel {
    /// Reads and validates `<dir>/MLmodel`, refusing models this server cannot run.
    pub fn load(dir: &Path) -> Result<MlModel, LoadError> {
        if !dir.is_dir() {
            return Err(LoadError::NotADirectory(dir.to_path_buf()));
        }
        let path = dir.join("MLmodel");
        if !path.is_file() {
            return Err(LoadError::NoMlModel(dir.to_path_buf()));
        }
        let text = read_bounded(&path, MAX_MLMODEL_BYTES)?;
        let text = String::from_utf8(text).map_err(|e| LoadError::BadYaml {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let model = Self::parse(dir, &path, &text)?;
        model.check_paths()?;
        Ok(model)
    }

    /// Refuses any path named by `MLmodel` (model file, data folder, serving example) that
    /// leads outside the model directory, symlinks followed: a model from an untrusted
    /// registry must not make the server read (or log) other files.
    fn check_paths(&self) -> Result<(), LoadError> {
        let mut named: Vec<(&'static str, &str)> = Vec::new();
        match &self.flavor {
            Flavor::Onnx(o) => named.push(("onnx model file", o.data.as_str())),
            Flavor::PyTorch(p) => named.push(("pytorch model_data", p.model_data.as_str())),
            Flavor::Xgboost(x) => named.push(("xgboost model file", x.data.as_str())),
            Flavor::Lightgbm(l) => named.push(("lightgbm model file", l.data.as_str())),
            Flavor::Python(p) => {
                for env in [&p.virtualenv, &p.conda].into_iter().flatten() {
                    named.push(("python_function env file", env.as_str()));
                }
            }
        }
        if let Some(p) = self
            .input_example
            .as_ref()
            .and_then(|i| i.serving_input_path.as_deref())
        {
            named.push(("serving_input_path", p));
        }
        for (what, rel) in named {
            if !is_inside(&self.dir, rel) {
                return Err(LoadError::PathEscapes {
                    what,
                    path: rel.to_string(),
                    dir: self.dir.clone(),
                });
            }
        }
        Ok(())
    }

    /// Parses the text of `path` (an `MLmodel` in `dir`) without touching the file system.
    pub fn parse(dir: &Path, path: &Path, text: &str) -> Result<MlModel, LoadError> {
        let raw: RawMlModel = serde_yaml::from_str(text).map_err(|e| LoadError::BadYaml {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if let Some(serde_yaml::Value::Mapping(m)) = &raw.metadata {
            if m.get("mlflow.model.isExternal").and_then(|v| v.as_bool()) == Some(true) {
                return Err(LoadError::External);
            }
        }
        let f = |name: &str| raw.flavors.get(name);
        let flavor = if let Some(v) = f("onnx") {
            Flavor::Onnx(parse_onnx_flavor(v))
        } else if let Some(v) = f("pytorch") {
            Flavor::PyTorch(parse_pytorch_flavor(v, f("python_function")))
        } else if let Some(v) = f("xgboost") {
            Flavor::Xgboost(XgboostFlavor {
                data: yaml_text(v, "data").unwrap_or_else(|| "model.xgb".into()),
                model_class: yaml_text(v, "model_class")
                    .unwrap_or_else(|| "xgboost.core.Booster".into()),
                xgb_version: yaml_text(v, "xgb_version"),
            })
        } else if let Some(v) = f("lightgbm") {
            Flavor::Lightgbm(LightgbmFlavor {
                data: yaml_text(v, "data").unwrap_or_else(|| "model.lgb".into()),
                model_class: yaml_text(v, "model_class")
                    .unwrap_or_else(|| "lightgbm.basic.Booster".into()),
                serialization_format: yaml_text(v, "serialization_format"),
                lgb_version: yaml_text(v, "lgb_version"),
            })
        } else if let Some(v) = f("python_function") {
            Flavor::Python(parse_python_flavor(v, raw.metadata.as_ref()))
        } else {
            return Err(LoadError::UnsupportedFlavor(unsupported_flavor_message(
                &raw.flavors,
            )));
        };
        let signature = match &raw.signature {
            Some(s) => Signature::from_json_strings(
                s.inputs.as_deref(),
                s.outputs.as_deref(),
                s.params.as_deref(),
            )
            .map_err(|source| LoadError::Signature {
                path: path.to_path_buf(),
                source,
            })?,
            None => Signature::default(),
        };
        Ok(MlModel {
            dir: dir.to_path_buf(),
            flavor,
            signature,
            input_example: raw.saved_input_example_info,
            mlflow_version: raw.mlflow_version,
            model_id: raw.model_id,
            model_uuid: raw.model_uuid,
            run_id: raw.run_id,
            artifact_path: raw.artifact_path,
            utc_time_created: raw.utc_time_created,
            model_size_bytes: raw.model_size_bytes,
            is_signature_from_type_hint: raw.is_signature_from_type_hint.unwrap_or(false),
        })
    }

    /// Path of `serving_input_example.json`, when the model has one.
    pub fn serving_example_path(&self) -> Option<PathBuf> {
        let p = self.input_example.as_ref()?.serving_input_path.as_ref()?;
        let p = self.dir.join(p);
        p.is_file().then_some(p)
    }
}

/// The largest `MLmodel` file read (real ones are a few kilobytes; a signature of thousands
/// of columns stays far below this).
pub const MAX_MLMODEL_BYTES: u64 = 16 << 20;

/// Reads a file of at most `limit` bytes (checked before reading, and while reading, so a
/// file that grows or a special file that never ends cannot pass it).
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, LoadError> {
    use std::io::Read;
    let bad = |e: std::io::Error| LoadError::BadYaml {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(bad)?;
    let size = file.metadata().map_err(bad)?.len();
    let too_large = |size| LoadError::TooLarge {
        path: path.to_path_buf(),
        size,
        limit,
    };
    if size > limit {
        return Err(too_large(size));
    }
    let mut out = Vec::with_capacity(size as usize);
    file.take(limit + 1).read_to_end(&mut out).map_err(bad)?;
    if out.len() as u64 > limit {
        return Err(too_large(out.len() as u64));
    }
    Ok(out)
}

/// True when `rel`, joined to `dir`, stays inside `dir` once symlinks are followed (a path
/// that does not exist yet is judged by its existing ancestor and its remaining components).
pub fn is_inside(dir: &Path, rel: &str) -> bool {
    let Ok(root) = dir.canonicalize() else {
        return false;
    };
    let joined = dir.join(rel);
    if let Ok(real) = joined.canonicalize() {
        return real.starts_with(&root);
    }
    // Not there (the caller reports it missing): judge it lexically from its nearest
    // existing ancestor.
    let mut base = joined.as_path();
    let mut rest = Vec::new();
    let real_base = loop {
        match base.canonicalize() {
            Ok(r) => break r,
            Err(_) => match (base.parent(), base.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_os_string());
                    base = parent;
                }
                _ => return false,
            },
        }
    };
    let mut out = real_base;
    for c in rest.iter().rev() {
        if c == ".." {
            out.pop();
        } else if c != "." {
            out.push(c);
        }
    }
    out.starts_with(&root)
}

fn unsupported_flavor_message(flavors: &BTreeMap<String, serde_yaml::Value>) -> String {
    let names: Vec<&str> = flavors.keys().map(String::as_str).collect();
    let hint = if flavors.contains_key("sklearn") {
        "convert it with skl2onnx and log it with mlflow.onnx.log_model"
    } else if flavors.contains_key("pytorch") {
        "export it with torch.onnx.export and log it with mlflow.onnx.log_model, or serve it as TorchScript with a build that has the `torch` feature"
    } else if flavors.contains_key("tensorflow") || flavors.contains_key("keras") {
        "convert it with tf2onnx and log it with mlflow.onnx.log_model"
    } else {
        "convert it to ONNX and log it with mlflow.onnx.log_model"
    };
    format!(
        "mlflow-serve serves models with the `onnx`, `pytorch`, `xgboost`, `lightgbm` or `python_function` flavors; this model has flavors [{}]: {hint}",
        names.join(", ")
    )
}

fn parse_python_flavor(
    v: &serde_yaml::Value,
    metadata: Option<&serde_yaml::Value>,
) -> PythonFlavor {
    let loader_module = yaml_text(v, "loader_module").unwrap_or_default();
    let env = v.get("env");
    let (virtualenv, conda) = match env {
        // Models saved before MLflow 2.0 name only a conda file.
        Some(serde_yaml::Value::String(c)) => (None, Some(c.clone())),
        Some(e) => (yaml_text(e, "virtualenv"), yaml_text(e, "conda")),
        None => (None, None),
    };
    let declared = metadata
        .and_then(|m| m.get("mlflow_serve.batchable"))
        .and_then(|b| b.as_bool());
    PythonFlavor {
        batchable: declared.unwrap_or(loader_module == "mlflow.sklearn"),
        loader_module,
        python_version: yaml_text(v, "python_version"),
        virtualenv,
        conda,
    }
}

fn yaml_text(v: &serde_yaml::Value, key: &str) -> Option<String> {
    v.get(key).and_then(|x| x.as_str()).map(str::to_string)
}

fn parse_pytorch_flavor(
    v: &serde_yaml::Value,
    pyfunc: Option<&serde_yaml::Value>,
) -> PyTorchFlavor {
    let text = |v: Option<&serde_yaml::Value>| v.and_then(|x| x.as_str()).map(str::to_string);
    PyTorchFlavor {
        model_data: text(v.get("model_data")).unwrap_or_else(|| "data".to_string()),
        pytorch_version: text(v.get("pytorch_version")),
        device: text(
            pyfunc
                .and_then(|p| p.get("config"))
                .and_then(|c| c.get("device")),
        ),
    }
}

fn parse_onnx_flavor(v: &serde_yaml::Value) -> OnnxFlavor {
    let get = |k: &str| v.get(k);
    let data = get("data")
        .and_then(|d| d.as_str())
        .unwrap_or("model.onnx")
        .to_string();
    let providers = match get("providers") {
        Some(serde_yaml::Value::Sequence(seq)) => seq
            .iter()
            .filter_map(|p| match p {
                serde_yaml::Value::String(s) => Some(s.clone()),
                serde_yaml::Value::Sequence(pair) => {
                    pair.first().and_then(|n| n.as_str()).map(str::to_string)
                }
                _ => None,
            })
            .collect(),
        Some(serde_yaml::Value::String(s)) => vec![s.clone()],
        _ => vec![
            "CUDAExecutionProvider".into(),
            "CPUExecutionProvider".into(),
        ],
    };
    let mut so = runtime_onnx::SessionOptions::default();
    if let Some(opts) = get("onnx_session_options").filter(|o| o.is_mapping()) {
        let int = |k: &str| opts.get(k).and_then(|x| x.as_i64()).filter(|&x| x > 0);
        if let Some(n) = int("intra_op_num_threads") {
            so.intra_op_threads = n as usize;
        }
        if let Some(n) = int("inter_op_num_threads") {
            so.inter_op_threads = n as usize;
        }
        so.graph_optimization_level = int("graph_optimization_level");
        if let Some(mode) = opts.get("execution_mode").and_then(|m| m.as_str()) {
            so.parallel_execution = mode.eq_ignore_ascii_case("parallel");
        }
        if let Some(serde_yaml::Value::Mapping(extra)) = opts.get("extra_session_config") {
            for (k, val) in extra {
                if let Some(k) = k.as_str() {
                    let val = match val {
                        serde_yaml::Value::String(s) => s.clone(),
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    so.config_entries.push((k.to_string(), val));
                }
            }
        }
    }
    OnnxFlavor {
        data,
        providers,
        session_options: so,
        onnx_version: get("onnx_version")
            .and_then(|x| x.as_str())
            .map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_model_without_python_function_with_a_hint() {
        let text = "flavors:\n  sklearn: {pickled_model: model.pkl}\n";
        let err = MlModel::parse(Path::new("/m"), Path::new("/m/MLmodel"), text).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("skl2onnx"), "{msg}");
        assert!(msg.contains("sklearn"), "{msg}");
    }

    #[test]
    fn other_python_function_models_run_in_python_workers() {
        let sklearn = "flavors:\n  sklearn: {pickled_model: model.pkl}\n  python_function: {loader_module: mlflow.sklearn, python_version: 3.11.7, env: {virtualenv: python_env.yaml, conda: conda.yaml}}\n";
        let m = MlModel::parse(Path::new("/m"), Path::new("/m/MLmodel"), sklearn).unwrap();
        let Flavor::Python(p) = m.flavor else {
            panic!("{:?}", m.flavor)
        };
        assert!(p.batchable, "scikit-learn answers row by row");
        assert_eq!(p.virtualenv.as_deref(), Some("python_env.yaml"));
        assert_eq!(p.python_version.as_deref(), Some("3.11.7"));
        let custom = "flavors:\n  python_function: {loader_module: mlflow.pyfunc.model}\n";
        let m = MlModel::parse(Path::new("/m"), Path::new("/m/MLmodel"), custom).unwrap();
        assert!(matches!(
            m.flavor,
            Flavor::Python(PythonFlavor {
                batchable: false,
                ..
            })
        ));
        let declared = format!("{custom}metadata: {{mlflow_serve.batchable: true}}\n");
        let m = MlModel::parse(Path::new("/m"), Path::new("/m/MLmodel"), &declared).unwrap();
        assert!(matches!(
            m.flavor,
            Flavor::Python(PythonFlavor {
                batchable: true,
                ..
            })
        ));
    }

    #[test]
    fn session_options_follow_mlflow_truthiness() {
        let text = "flavors:\n  onnx:\n    data: model.onnx\n    onnx_session_options:\n      intra_op_num_threads: 19\n      graph_optimization_level: 0\n      execution_mode: SEQUENTIAL\n    providers: [CPUExecutionProvider]\n";
        let m = MlModel::parse(Path::new("/m"), Path::new("/m/MLmodel"), text).unwrap();
        let Flavor::Onnx(onnx) = m.flavor else {
            panic!("onnx flavor expected")
        };
        assert_eq!(onnx.session_options.intra_op_threads, 19);
        assert_eq!(onnx.session_options.graph_optimization_level, None);
        assert!(!onnx.session_options.parallel_execution);
        assert_eq!(onnx.providers, vec!["CPUExecutionProvider"]);
    }

    #[test]
    fn pytorch_flavor_reads_data_folder_and_device() {
        let text = "flavors:\n  python_function:\n    config: {device: cuda}\n    loader_module: mlflow.pytorch\n  pytorch:\n    model_data: data\n    pytorch_version: 2.13.0+cu130\n";
        let m = MlModel::parse(Path::new("/m"), Path::new("/m/MLmodel"), text).unwrap();
        assert_eq!(
            m.flavor,
            Flavor::PyTorch(PyTorchFlavor {
                model_data: "data".into(),
                pytorch_version: Some("2.13.0+cu130".into()),
                device: Some("cuda".into()),
            })
        );
    }

    #[test]
    fn bad_yaml_is_one_line_error() {
        let err = MlModel::parse(
            Path::new("/m"),
            Path::new("/m/MLmodel"),
            "flavors: [unclosed",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("cannot parse /m/MLmodel"));
    }

    #[test]
    fn alias_bombs_are_refused_quickly() {
        // "Billion laughs": 9 levels of 9 aliases would expand to 9^9 strings.
        let mut text = String::from("a0: &a0 [\"lol\"]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        text.push_str("flavors:\n  onnx:\n    data: model.onnx\n    extra: *a9\n");
        let started = std::time::Instant::now();
        let r = MlModel::parse(Path::new("/m"), Path::new("/m/MLmodel"), &text);
        let err = r.expect_err("an alias bomb must not parse");
        assert!(err.to_string().contains("repetition limit"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn paths_named_by_mlmodel_must_stay_inside_the_model_directory() {
        let base = std::env::temp_dir().join(format!("ms-inside-{}", std::process::id()));
        let dir = base.join("model");
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(base.join("outside.json"), "{}").unwrap();
        std::fs::write(dir.join("ok.json"), "{}").unwrap();
        let _ = std::fs::remove_file(dir.join("link.json"));
        std::os::unix::fs::symlink(base.join("outside.json"), dir.join("link.json")).unwrap();
        assert!(is_inside(&dir, "ok.json"));
        assert!(is_inside(&dir, "data"));
        assert!(is_inside(&dir, "data/../ok.json"));
        assert!(is_inside(&dir, "missing/file.json"));
        assert!(!is_inside(&dir, "../outside.json"));
        assert!(!is_inside(&dir, "link.json"));
        assert!(!is_inside(&dir, "/proc/self/environ"));
        assert!(!is_inside(&dir, "data/../../outside.json"));
        assert!(!is_inside(&dir, "missing/../../../etc/x"));
        let _ = std::fs::remove_dir_all(&base);
    }
}
