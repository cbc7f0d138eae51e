//! The `mlflow.onnx` flavor (MLflow's `mlflow/onnx/__init__.py`, `_OnnxModelWrapper`):
//! loading with ONNX Runtime, feeds (float64 → float32 is the only cast), predictions
//! (a DataFrame input answers records, anything else a dict of outputs) and onnxruntime's
//! error texts.

use runtime_api::{DType, IoKind, IoSpec, OutputValue, Runtime, RuntimeError, Tensor, TensorData};

use super::predictions::{OutputColumn, Predictions};
use super::{Feeds, Flavor, FlavorError, InputKind, Loaded, RuntimeOptions};
use crate::enforce::tensors::frame_to_numpy;
use crate::enforce::Enforced;
use crate::model::{LoadError, MlModel, OnnxFlavor};
use crate::payload::{Array, Cell, Column, Frame};

/// A loaded ONNX model's request semantics: its graph inputs.
pub struct Onnx {
    inputs: Vec<IoSpec>,
}

impl Flavor for Onnx {
    fn feeds(
        &self,
        input: Enforced,
        _params: crate::enforce::Params,
    ) -> Result<Feeds, FlavorError> {
        // MLflow's ONNX wrapper accepts params and ignores them.
        Ok(Feeds {
            tensors: feeds(input, &self.inputs)?,
            params: Vec::new(),
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
        FlavorError::model(format!(
            "onnxruntime.capi.onnxruntime_pybind11_state.Fail: [ONNXRuntimeError] : {error}"
        ))
    }
}

/// ONNX Runtime session config keys a model's `extra_session_config` may set: performance
/// and numerics switches only. The model file is untrusted input (a registry version may come
/// from anyone who can log one): keys that write files (optimized or context models,
/// profiles), choose a model format or load code are ignored with a warning, where MLflow
/// would pass them on.
const ALLOWED_CONFIG_KEYS: [&str; 16] = [
    "session.disable_prepacking",
    "session.use_env_allocators",
    "session.set_denormal_as_zero",
    "session.disable_quant_qdq",
    "session.disable_double_qdq_remover",
    "session.enable_quant_qdq_cleanup",
    "session.disable_aot_function_inlining",
    "session.intra_op.allow_spinning",
    "session.inter_op.allow_spinning",
    "session.force_spinning_stop",
    "session.dynamic_block_base",
    "session.qdqisint8allowed",
    "session.strict_shape_type_inference",
    "session.allow_released_opsets_only",
    "session.x64quantprecision",
    "optimization.enable_gelu_approximation",
];

/// The model's session options as they are applied: thread counts the MLmodel asks for are
/// clamped to the CPUs this process may use (a new version asking for 100 000 threads gets
/// the CPUs), `--intra-op-threads` where it names none, config keys from the allow-list.
fn bounded_session_options(
    asked: &runtime_onnx::SessionOptions,
    intra_op_threads: usize,
) -> runtime_onnx::SessionOptions {
    let cpus = crate::cpus::available().max(1);
    let mut so = asked.clone();
    if so.intra_op_threads == 0 {
        so.intra_op_threads = intra_op_threads;
    }
    for (what, n) in [
        ("intra_op_num_threads", &mut so.intra_op_threads),
        ("inter_op_num_threads", &mut so.inter_op_threads),
    ] {
        if *n > cpus {
            tracing::warn!(
                setting = what,
                asked = *n,
                cpus,
                "clamped to the CPUs available"
            );
            *n = cpus;
        }
    }
    so.config_entries.retain(|(k, _)| {
        let allowed = ALLOWED_CONFIG_KEYS.contains(&k.as_str());
        if !allowed {
            tracing::warn!(
                key = %crate::redact::loggable(k),
                "onnx_session_options.extra_session_config key not on the allow-list: ignored"
            );
        }
        allowed
    });
    so
}

/// Loads an ONNX model: finds libonnxruntime, opens one session per worker, and decides
/// whether requests may be batched.
pub fn load(
    mlmodel: &MlModel,
    onnx: &OnnxFlavor,
    opts: &RuntimeOptions,
) -> Result<Loaded, LoadError> {
    let path = mlmodel.dir.join(&onnx.data);
    if !path.is_file() {
        return Err(LoadError::MissingModelFile(path, "onnx"));
    }
    for p in &onnx.providers {
        if p != "CPUExecutionProvider" {
            tracing::warn!(provider = %p, "execution provider listed in MLmodel is not available in this build; using CPUExecutionProvider");
        }
    }
    let lib = runtime_onnx::find_library(opts.onnxruntime_lib.as_deref()).map_err(|search| LoadError::Runtime {
        kind: "ONNX",
        path: path.clone(),
        reason: format!(
            "libonnxruntime not found (run `make setup`, or pass --onnxruntime-lib / ORT_DYLIB_PATH); looked in: {}",
            search.tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
    })?;
    let so = bounded_session_options(&onnx.session_options, opts.intra_op_threads);
    let rt_err = |e: RuntimeError| LoadError::Runtime {
        kind: "ONNX",
        path: path.clone(),
        reason: e.to_string(),
    };
    let (model, first) = runtime_onnx::OnnxModel::load(&lib, &path, so).map_err(rt_err)?;
    let inputs = first.inputs().to_vec();
    let outputs = first.outputs().to_vec();
    let mut runtimes: Vec<Box<dyn Runtime>> = vec![Box::new(first)];
    for _ in 1..opts.workers.max(1) {
        runtimes.push(Box::new(model.session().map_err(rt_err)?));
    }
    tracing::info!(library = %lib.display(), model = %path.display(), workers = runtimes.len(), "ONNX model loaded");
    let batchable = batchable(&inputs, &outputs);
    Ok(Loaded {
        flavor: Box::new(Onnx {
            inputs: inputs.clone(),
        }),
        runtimes,
        inputs,
        outputs,
        batchable,
        processes: None,
    })
}

/// Whether a graph can batch: every input and output is a tensor whose first dimension is
/// dynamic (outputs may also be sequences of per-row maps, like sklearn's ZipMap).
pub fn batchable(inputs: &[IoSpec], outputs: &[IoSpec]) -> bool {
    let dynamic_first = |s: &IoSpec| matches!(&s.kind, IoKind::Tensor { shape, .. } if shape.first().is_some_and(|d| *d < 0));
    !inputs.is_empty()
        && inputs.iter().all(dynamic_first)
        && outputs.iter().all(|o| {
            dynamic_first(o)
                || matches!(&o.kind, IoKind::Other { type_string } if type_string.starts_with("seq(map("))
        })
}

fn array_to_tensor(a: Array, input: &IoSpec) -> Result<Tensor, FlavorError> {
    match a {
        Array::Typed(t) => Ok(t),
        Array::Cells { shape, cells } => {
            let want_str = matches!(
                &input.kind,
                IoKind::Tensor {
                    dtype: Some(DType::Str),
                    ..
                }
            );
            if want_str
                && cells
                    .iter()
                    .all(|c| !matches!(c, Cell::List(_) | Cell::Dict(_)))
            {
                let v = cells.iter().map(py_str).collect();
                return Ok(Tensor {
                    shape,
                    data: TensorData::Str(v),
                });
            }
            Err(FlavorError::model(format!(
                "onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument: [ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Unexpected input data type. Actual: (tensor(object)) , expected: ({})",
                input.type_string()
            )))
        }
    }
}

/// Python's `str(value)`, which onnxruntime applies to object arrays fed to string inputs.
fn py_str(c: &Cell) -> String {
    c.py_str()
}

/// float64 feeds for `tensor(float)` inputs are cast to float32 (the only cast MLflow does);
/// any other dtype mismatch is refused the way onnxruntime refuses it.
fn adapt(t: Tensor, input: &IoSpec) -> Result<Tensor, FlavorError> {
    let IoKind::Tensor {
        dtype,
        shape,
        type_string,
    } = &input.kind
    else {
        return Ok(t);
    };
    let t = match (t.data, dtype) {
        (TensorData::F64(v), Some(DType::F32)) => Tensor {
            shape: t.shape,
            data: TensorData::F32(v.into_iter().map(|x| x as f32).collect()),
        },
        (data, _) => Tensor {
            shape: t.shape,
            data,
        },
    };
    if Some(t.dtype()) != *dtype {
        return Err(FlavorError::model(format!(
            "onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument: [ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Unexpected input data type. Actual: ({}) , expected: ({type_string})",
            onnx_tensor_type(t.dtype())
        )));
    }
    if t.shape.len() != shape.len() {
        return Err(FlavorError::model(format!(
            "onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument: [ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Invalid rank for input: {} Got: {} Expected: {} Please fix either the inputs/outputs or the model.",
            input.name,
            t.shape.len(),
            shape.len()
        )));
    }
    let bad: Vec<String> = t
        .shape
        .iter()
        .zip(shape)
        .enumerate()
        .filter(|(_, (&g, &e))| e >= 0 && g as i64 != e)
        .map(|(i, (g, e))| format!(" index: {i} Got: {g} Expected: {e}\n"))
        .collect();
    if !bad.is_empty() {
        return Err(FlavorError::model(format!(
            "onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument: [ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: {} for the following indices\n{} Please fix either the inputs/outputs or the model.",
            input.name,
            bad.concat()
        )));
    }
    Ok(t)
}

fn find<'a>(inputs: &'a [IoSpec], name: &str) -> Result<&'a IoSpec, FlavorError> {
    inputs.iter().find(|i| i.name == name).ok_or_else(|| {
        FlavorError::model(format!(
            "onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument: [ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Invalid input name: {name}"
        ))
    })
}

/// Builds the feed list for a model with `inputs`.
pub fn feeds(enforced: Enforced, inputs: &[IoSpec]) -> Result<Vec<(String, Tensor)>, FlavorError> {
    match enforced {
        Enforced::Frame(f) | Enforced::RecordList(f) => frame_feeds(f, inputs),
        Enforced::Array(a) => {
            if inputs.len() != 1 {
                let names: Vec<String> = inputs
                    .iter()
                    .map(|i| crate::pyjson::str_repr(&i.name))
                    .collect();
                return Err(FlavorError::Internal {
                    data: a.describe(),
                    message: format!(
                        "Unable to map numpy array input to the expected model input. Numpy arrays can only be used as input for MLflow ONNX models that have a single input. This model requires {} inputs. Please pass in data as either a dictionary or a DataFrame with the following tensors: [{}].",
                        inputs.len(),
                        names.join(", ")
                    ),
                });
            }
            let t = adapt(array_to_tensor(a, &inputs[0])?, &inputs[0])?;
            Ok(vec![(inputs[0].name.clone(), t)])
        }
        Enforced::Dict(items) => {
            // onnxruntime's Python binding checks for missing inputs before anything else.
            let missing: Vec<String> = inputs
                .iter()
                .filter(|i| !items.iter().any(|(n, _)| *n == i.name))
                .map(|i| crate::pyjson::str_repr(&i.name))
                .collect();
            if !missing.is_empty() {
                let given: Vec<String> = items
                    .iter()
                    .map(|(n, _)| crate::pyjson::str_repr(n))
                    .collect();
                return Err(FlavorError::model(format!(
                    "ValueError: Required inputs ([{}]) are missing from input feed ([{}]).",
                    missing.join(", "),
                    given.join(", ")
                )));
            }
            let mut out = Vec::with_capacity(items.len());
            for (name, a) in items {
                let spec = find(inputs, &name)?;
                out.push((name, adapt(array_to_tensor(a, spec)?, spec)?));
            }
            Ok(out)
        }
        Enforced::Other(c) => Err(FlavorError::model(format!(
            "TypeError: Unable to map input of type {} to ONNX model inputs",
            c.py_type()
        ))),
    }
}

/// The common case in one pass: float64 columns (numpy's `(rows, cols)` float64 array) fed
/// to a `tensor(float)` input, which MLflow casts to float32. `None` for anything else.
fn float64_frame_as_f32(f: &Frame, input: &IoSpec) -> Option<Tensor> {
    let IoKind::Tensor {
        dtype: Some(DType::F32),
        ..
    } = &input.kind
    else {
        return None;
    };
    let m = f.columns.len();
    if m == 0 || !f.columns.iter().all(|(_, c)| matches!(c, Column::F64(_))) {
        return None;
    }
    let mut out = vec![0f32; f.nrows * m];
    for (j, (_, c)) in f.columns.iter().enumerate() {
        if let Column::F64(v) = c {
            for (dst, &x) in out.iter_mut().skip(j).step_by(m).zip(v) {
                *dst = x as f32;
            }
        }
    }
    Some(Tensor {
        shape: vec![f.nrows, m],
        data: TensorData::F32(out),
    })
}

fn frame_feeds(f: Frame, inputs: &[IoSpec]) -> Result<Vec<(String, Tensor)>, FlavorError> {
    if inputs.len() == 1 {
        if let Some(t) = float64_frame_as_f32(&f, &inputs[0]) {
            let t = adapt(t, &inputs[0])?;
            return Ok(vec![(inputs[0].name.clone(), t)]);
        }
        let a = frame_to_numpy(&f);
        let t = adapt(array_to_tensor(a, &inputs[0])?, &inputs[0])?;
        return Ok(vec![(inputs[0].name.clone(), t)]);
    }
    let mut out = Vec::with_capacity(inputs.len());
    for input in inputs {
        let Some(p) = f.position(&input.name) else {
            return Err(FlavorError::model(format!("KeyError: '{}'", input.name)));
        };
        let col = &f.columns[p].1;
        let want_str = matches!(
            &input.kind,
            IoKind::Tensor {
                dtype: Some(DType::Str),
                ..
            }
        );
        let data = if want_str {
            Some(TensorData::Str(
                (0..col.len()).map(|i| py_str(&col.cell(i))).collect(),
            ))
        } else {
            col.to_tensor_data()
        };
        let data = data.ok_or_else(|| {
            FlavorError::model(format!(
                "onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument: [ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Unexpected input data type. Actual: (tensor(object)) , expected: ({})",
                input.type_string()
            ))
        })?;
        let t = adapt(
            Tensor {
                shape: vec![f.nrows],
                data,
            },
            input,
        )?;
        out.push((input.name.clone(), t));
    }
    Ok(out)
}

/// Turns runtime outputs into MLflow predictions: `DataFrame({name: out.reshape(-1)})` as
/// records for a DataFrame input, `dict(zip(names, outputs))` for anything else.
pub fn predictions(
    outputs: Vec<(String, OutputValue)>,
    kind: InputKind,
) -> Result<Predictions, FlavorError> {
    match kind {
        InputKind::Array | InputKind::Dict | InputKind::Other => Ok(Predictions::Dict(outputs)),
        InputKind::Frame { .. } => {
            let mut cols = Vec::with_capacity(outputs.len());
            let mut nrows: Option<usize> = None;
            for (name, v) in outputs {
                let col = match v {
                    OutputValue::Tensor(t) => OutputColumn::Flat(t.data),
                    OutputValue::SequenceOfMaps(m) => OutputColumn::Maps(m),
                };
                let n = col.len();
                if nrows.is_some_and(|r| r != n) {
                    return Err(FlavorError::model(
                        "ValueError: All arrays must be of the same length",
                    ));
                }
                nrows = Some(n);
                cols.push((name, col));
            }
            Ok(Predictions::Records {
                columns: cols,
                nrows: nrows.unwrap_or(0),
            })
        }
    }
}

/// onnxruntime's name for a tensor of this dtype (`tensor(float)`, …), as its messages print it.
fn onnx_tensor_type(dtype: DType) -> &'static str {
    match dtype {
        DType::Bool => "tensor(bool)",
        DType::I8 => "tensor(int8)",
        DType::I16 => "tensor(int16)",
        DType::I32 => "tensor(int32)",
        DType::I64 => "tensor(int64)",
        DType::U8 => "tensor(uint8)",
        DType::U16 => "tensor(uint16)",
        DType::U32 => "tensor(uint32)",
        DType::U64 => "tensor(uint64)",
        DType::F16 => "tensor(float16)",
        DType::F32 => "tensor(float)",
        DType::F64 => "tensor(double)",
        DType::Str => "tensor(string)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_session_options_are_bounded() {
        let asked = runtime_onnx::SessionOptions {
            intra_op_threads: 100_000,
            inter_op_threads: 100_000,
            config_entries: vec![
                ("session.disable_prepacking".into(), "1".into()),
                ("session.save_model_format".into(), "ORT".into()),
                ("ep.context_file_path".into(), "/tmp/x".into()),
            ],
            ..Default::default()
        };
        let so = bounded_session_options(&asked, 1);
        let cpus = crate::cpus::available().max(1);
        assert_eq!((so.intra_op_threads, so.inter_op_threads), (cpus, cpus));
        assert_eq!(
            so.config_entries,
            vec![("session.disable_prepacking".to_string(), "1".to_string())]
        );
    }
}
