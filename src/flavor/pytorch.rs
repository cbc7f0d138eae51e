//! The `mlflow.pytorch` flavor (MLflow's `mlflow/pytorch/__init__.py`, `_PyTorchWrapper`),
//! run by the TorchScript plugin: loading (the pickle switch, the device setting), feeds,
//! params and predictions.
//!
//! A DataFrame becomes one float32 tensor (`df.to_numpy(dtype=float32)`) and the answer is a
//! DataFrame with columns `0..k-1` (records); an array keeps its own dtype and the answer is
//! the output array; lists and dicts are refused. Params reach `forward` as keyword arguments.

use runtime_api::{OutputValue, Param, RuntimeError, Tensor, TensorData};

use super::predictions::Predictions;
use super::{Feeds, Flavor, FlavorError, InputKind, Loaded, RuntimeOptions};
use crate::enforce::Enforced;
use crate::model::mlmodel::PyTorchFlavor;
use crate::model::{LoadError, MlModel};
use crate::payload::{Array, Cell, Column, Frame};

/// A loaded TorchScript model's request semantics.
pub struct PyTorch;

impl Flavor for PyTorch {
    fn feeds(
        &self,
        input: Enforced,
        params_in: crate::enforce::Params,
    ) -> Result<Feeds, FlavorError> {
        let params_in = params_in.unwrap_or_default();
        let params = params(params_in)?;
        Ok(Feeds {
            tensors: feeds(input)?,
            params,
        })
    }

    fn predictions(
        &self,
        outputs: Vec<(String, OutputValue)>,
        kind: InputKind,
    ) -> Result<Predictions, FlavorError> {
        predictions(outputs, kind)
    }

    fn runtime_error(&self, error: RuntimeError) -> FlavorError {
        match error {
            RuntimeError::UnsupportedOutput(kind) => FlavorError::model(format!(
                "TypeError: Expected PyTorch model to output a single output tensor, but got output of type '<class '{kind}'>'"
            )),
            // What `torch.from_numpy` raises for an object array, as MLflow's wrapper calls it.
            RuntimeError::UnsupportedInputDtype(runtime_api::DType::Str) => {
                FlavorError::model(FROM_NUMPY)
            }
            RuntimeError::UnsupportedInputDtype(d) => FlavorError::model(format!(
                "TypeError: libtorch (through tch) has no {d} tensors; send a signed integer type"
            )),
            // What `tensor.numpy()` raises for a type numpy lacks (bfloat16, complex32…).
            RuntimeError::UnsupportedOutputDtype(name) => {
                FlavorError::model(format!("TypeError: Got unsupported ScalarType {name}"))
            }
            other => FlavorError::model(other.to_string()),
        }
    }
}

/// How to make a PyTorch model mlflow-serve can run, after saying why this one cannot.
#[cfg(feature = "torch")]
const CONVERSION_HINT: &str = "script or trace the module (torch.jit.script / torch.jit.trace) and log it with mlflow.pytorch.log_model(..., serialization_format=\"pickle\"), or export it to ONNX (torch.onnx.export) and log it with mlflow.onnx.log_model";

/// MLflow's `MLFLOW_ALLOW_PICKLE_DESERIALIZATION` (default true): when false, MLflow refuses
/// every `.pth` file, TorchScript included.
#[cfg(feature = "torch")]
fn pickle_allowed() -> bool {
    !matches!(
        std::env::var("MLFLOW_ALLOW_PICKLE_DESERIALIZATION")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref(),
        Ok("false") | Ok("0")
    )
}

/// Loads a TorchScript model through the plugin, one session per worker. Rows are merged
/// only when the signature promises a batch dimension.
#[cfg(feature = "torch")]
pub fn load(
    mlmodel: &MlModel,
    flavor: &PyTorchFlavor,
    opts: &RuntimeOptions,
) -> Result<Loaded, LoadError> {
    use runtime_api::Runtime;
    let path = flavor.model_file(&mlmodel.dir);
    if !path.is_file() {
        return Err(LoadError::MissingModelFile(path, "pytorch"));
    }
    let is_pth = path.extension().is_some_and(|e| e == "pth");
    if is_pth && !pickle_allowed() {
        return Err(LoadError::Runtime {
            kind: "PyTorch",
            path,
            reason: "Deserializing model using pickle is disallowed, but this model is saved in pickle format. The recommended way is to save the model with serialization_format='pt2' like `mlflow.pytorch.save_model(model, path, serialization_format='pt2')`, or you can set environment variable 'MLFLOW_ALLOW_PICKLE_DESERIALIZATION' to 'true' to allow deserializing model using pickle.".into(),
        });
    }
    let device = flavor
        .device
        .clone()
        .or_else(|| std::env::var("MLFLOW_DEFAULT_PREDICTION_DEVICE").ok())
        .filter(|d| !d.is_empty());
    if let Some(d) = device.filter(|d| d != "cpu") {
        tracing::warn!(device = %d, "mlflow-serve runs TorchScript on the CPU; ignoring the configured device");
    }
    let rt_err = |e: RuntimeError| LoadError::Runtime {
        kind: "PyTorch",
        path: path.clone(),
        reason: match e {
            RuntimeError::NotRunnable(what) => format!("{what}: {CONVERSION_HINT}"),
            other => other.to_string(),
        },
    };
    let plugin_path = runtime_torch_loader::find_plugin(opts.torch_plugin.as_deref()).map_err(|search| LoadError::Runtime {
        kind: "PyTorch",
        path: path.clone(),
        reason: format!(
            "the TorchScript plugin {} was not found (build it with `make setup-torch`, or pass --torch-plugin / MLFLOW_SERVE_TORCH_PLUGIN); looked in: {}",
            runtime_torch_loader::PLUGIN_FILE,
            search.tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
    })?;
    let plugin = runtime_torch_loader::Plugin::open(&plugin_path).map_err(rt_err)?;
    let model = runtime_torch_loader::TorchModel::load(&plugin, &path, opts.intra_op_threads)
        .map_err(rt_err)?;
    let mut runtimes: Vec<Box<dyn Runtime>> = Vec::with_capacity(opts.workers.max(1));
    for _ in 0..opts.workers.max(1) {
        runtimes.push(Box::new(model.session().map_err(rt_err)?));
    }
    let inputs = runtimes[0].inputs().to_vec();
    let outputs = runtimes[0].outputs().to_vec();
    tracing::info!(model = %path.display(), plugin = %plugin.path().display(), workers = runtimes.len(), "TorchScript model loaded");
    let batchable = match &mlmodel.signature.inputs {
        Some(crate::model::InputSchema::Columns(_)) => true,
        Some(crate::model::InputSchema::Tensors(t)) => {
            t.len() == 1 && t[0].shape.first().is_some_and(|d| *d < 0)
        }
        None => false,
    };
    Ok(Loaded {
        flavor: Box::new(PyTorch),
        runtimes,
        inputs,
        outputs,
        batchable,
        processes: None,
    })
}

/// Without the `torch` feature a TorchScript model is refused with what to do instead.
#[cfg(not(feature = "torch"))]
pub fn load(
    _mlmodel: &MlModel,
    _flavor: &PyTorchFlavor,
    _opts: &RuntimeOptions,
) -> Result<Loaded, LoadError> {
    Err(LoadError::UnsupportedFlavor(
        "this model has the `pytorch` flavor, and this mlflow-serve was built without TorchScript support: rebuild it with `--features torch` (`make setup-torch`), or export the model with torch.onnx.export and log it with mlflow.onnx.log_model".into(),
    ))
}

const LIST_OR_DICT: &str = "TypeError: The PyTorch flavor does not support List or Dict input types. Please use a pandas.DataFrame or a numpy.ndarray";
const FROM_NUMPY: &str = "TypeError: can't convert np.ndarray of type numpy.object_. The only supported types are: float64, float32, float16, complex64, complex128, int64, int32, int16, int8, uint64, uint32, uint16, uint8, and bool.";

/// The input tensor for the model: a DataFrame as one float32 matrix, an array as it is.
pub fn feeds(enforced: Enforced) -> Result<Vec<(String, Tensor)>, FlavorError> {
    let tensor = match enforced {
        Enforced::Frame(f) | Enforced::RecordList(f) => frame_to_f32(&f)?,
        Enforced::Array(Array::Typed(t)) => t,
        Enforced::Array(Array::Cells { .. }) => return Err(FlavorError::model(FROM_NUMPY)),
        Enforced::Dict(_) => return Err(FlavorError::model(LIST_OR_DICT)),
        Enforced::Other(Cell::List(_) | Cell::Dict(_)) => {
            return Err(FlavorError::model(LIST_OR_DICT))
        }
        Enforced::Other(_) => return Err(FlavorError::model(FROM_NUMPY)),
    };
    Ok(vec![("input".to_string(), tensor)])
}

/// Enforced params as `forward` receives them; `device` is refused as MLflow refuses it.
pub fn params(params: Vec<(String, Cell)>) -> Result<Vec<(String, Param)>, FlavorError> {
    if params.iter().any(|(k, _)| k == "device") {
        return Err(FlavorError::model("ValueError: device' can no longer be specified as an inference parameter. It must be specified at load time. Please specify the device at load time, for example: `mlflow.pyfunc.load_model(model_uri, model_config={'device': 'cuda'})`."));
    }
    Ok(params
        .into_iter()
        .map(|(k, v)| (k, super::tabular::to_param(v)))
        .collect())
}

/// `df.to_numpy(dtype=np.float32)`: row-major (rows, columns), every column cast to float32
/// (bools to 0/1, missing values to NaN, numeric strings parsed as `float()` parses them).
fn frame_to_f32(f: &Frame) -> Result<Tensor, FlavorError> {
    let (rows, cols) = (f.nrows, f.columns.len());
    let mut out = vec![0f32; rows * cols];
    for (j, (_, col)) in f.columns.iter().enumerate() {
        let mut put = |i: usize, v: f32| out[i * cols + j] = v;
        macro_rules! cast {
            ($v:expr) => {
                for (i, x) in $v.iter().enumerate() {
                    put(i, *x as f32)
                }
            };
        }
        match col {
            Column::F32(v) => cast!(v),
            Column::F64(v) => cast!(v),
            Column::I8(v) => cast!(v),
            Column::I16(v) => cast!(v),
            Column::I32(v) => cast!(v),
            Column::I64(v) => cast!(v),
            Column::U8(v) => cast!(v),
            Column::U16(v) => cast!(v),
            Column::U32(v) => cast!(v),
            Column::U64(v) => cast!(v),
            Column::Bool(v) => {
                for (i, b) in v.iter().enumerate() {
                    put(i, if *b { 1.0 } else { 0.0 })
                }
            }
            other => {
                for i in 0..rows {
                    put(i, cell_to_f32(&other.cell(i))?);
                }
            }
        }
    }
    Tensor::new(vec![rows, cols], TensorData::F32(out))
        .map_err(|e| FlavorError::model(e.to_string()))
}

/// numpy's `float32(obj)` for one object cell.
fn cell_to_f32(c: &Cell) -> Result<f32, FlavorError> {
    Ok(match c {
        Cell::Null => f32::NAN,
        Cell::Bool(b) => f32::from(u8::from(*b)),
        Cell::Int(i) => *i as f32,
        Cell::Float(x) => *x as f32,
        Cell::Str(s) => crate::pyjson::py_float(s).ok_or_else(|| {
            FlavorError::model(format!(
                "ValueError: could not convert string to float: {}",
                crate::pyjson::str_repr(s)
            ))
        })? as f32,
        Cell::List(_) | Cell::Dict(_) => {
            return Err(FlavorError::model(
                "ValueError: setting an array element with a sequence.",
            ))
        }
        other => {
            return Err(FlavorError::model(format!(
                "TypeError: float() argument must be a string or a real number, not '{}'",
                other.py_type()
            )))
        }
    })
}

/// Turns the model's output tensor into MLflow's predictions: for a DataFrame input,
/// `DataFrame(preds.numpy())` with the input's index (records); otherwise `preds.numpy()`.
pub fn predictions(
    outputs: Vec<(String, OutputValue)>,
    kind: InputKind,
) -> Result<Predictions, FlavorError> {
    let Some((_, OutputValue::Tensor(t))) = outputs.into_iter().next() else {
        return Err(FlavorError::model(
            "TypeError: Expected PyTorch model to output a single output tensor",
        ));
    };
    match kind {
        InputKind::Array | InputKind::Dict | InputKind::Other => Ok(Predictions::Array(t)),
        InputKind::Frame { rows } => {
            match t.shape.len() {
                0 => {
                    return Err(FlavorError::model(
                        "ValueError: DataFrame constructor not properly called!",
                    ))
                }
                1 | 2 => {}
                _ => {
                    let dims: Vec<String> = t.shape.iter().map(usize::to_string).collect();
                    return Err(FlavorError::model(format!(
                        "ValueError: Must pass 2-d input. shape=({})",
                        dims.join(", ")
                    )));
                }
            }
            if t.shape[0] != rows {
                return Err(FlavorError::model(format!(
                    "ValueError: Length mismatch: Expected axis has {} elements, new values have {rows} elements",
                    t.shape[0]
                )));
            }
            Ok(Predictions::Frame(t))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::ColName;

    #[test]
    fn frames_become_row_major_float32() {
        let f = Frame {
            columns: vec![
                (ColName::Str("a".into()), Column::F64(vec![1.5, 2.5])),
                (ColName::Str("b".into()), Column::I64(vec![3, 4])),
                (
                    ColName::Str("c".into()),
                    Column::Object(vec![Cell::Str(" 7 ".into()), Cell::Null]),
                ),
            ],
            nrows: 2,
        };
        let feeds = feeds(Enforced::Frame(f)).unwrap();
        let t = &feeds[0].1;
        assert_eq!(t.shape, vec![2, 3]);
        let TensorData::F32(v) = &t.data else {
            panic!("f32 expected")
        };
        assert_eq!(&v[..5], &[1.5, 3.0, 7.0, 2.5, 4.0]);
        assert!(v[5].is_nan());
    }

    #[test]
    fn bad_strings_lists_and_dicts_are_refused() {
        let f = Frame {
            columns: vec![(
                ColName::Str("a".into()),
                Column::Object(vec![Cell::Str("abc".into())]),
            )],
            nrows: 1,
        };
        let Err(FlavorError::Model { trace }) = feeds(Enforced::Frame(f)) else {
            panic!("refusal expected")
        };
        assert_eq!(
            trace,
            "ValueError: could not convert string to float: 'abc'"
        );
        assert!(
            matches!(feeds(Enforced::Dict(vec![])), Err(FlavorError::Model { trace }) if trace == LIST_OR_DICT)
        );
    }

    #[test]
    fn records_need_one_or_two_dims_and_matching_rows() {
        let t = |shape: Vec<usize>| {
            let n = shape.iter().product();
            vec![(
                "output".to_string(),
                OutputValue::Tensor(Tensor::new(shape, TensorData::F32(vec![0.0; n])).unwrap()),
            )]
        };
        let rec = InputKind::Frame { rows: 2 };
        assert!(predictions(t(vec![2, 3]), rec).is_ok());
        assert!(predictions(t(vec![2]), rec).is_ok());
        assert!(predictions(t(vec![3]), rec).is_err());
        assert!(predictions(t(vec![2, 1, 1]), rec).is_err());
        assert!(predictions(t(vec![]), rec).is_err());
        assert!(predictions(t(vec![]), InputKind::Array).is_ok());
    }
}
