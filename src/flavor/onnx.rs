//! `mlflow.onnx` pyfunc semantics (`_OnnxModelWrapper.predict`, §4.1).

use runtime_api::{DType, IoKind, IoSpec, OutputValue, Tensor, TensorData};

use super::predictions::{OutputColumn, Predictions};
use super::FlavorError;
use crate::enforce::tensors::frame_to_numpy;
use crate::enforce::Enforced;
use crate::payload::{Array, Cell, Column, Frame};

/// Which output shape the predictions take (DataFrame input → records, else a dict).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStyle {
    /// `DataFrame({name: out.reshape(-1)})` → records.
    Records,
    /// `dict(zip(names, outputs))`.
    Dict,
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
            t.dtype().onnx_type_string()
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

/// Builds the feed list for a model with `inputs`, and the output style.
pub fn feeds(
    enforced: Enforced,
    inputs: &[IoSpec],
    describe: &str,
) -> Result<(Vec<(String, Tensor)>, OutputStyle), FlavorError> {
    match enforced {
        Enforced::Frame(f) => Ok((frame_feeds(f, inputs)?, OutputStyle::Records)),
        Enforced::Array(a) => {
            if inputs.len() != 1 {
                let names: Vec<String> = inputs
                    .iter()
                    .map(|i| crate::pyjson::str_repr(&i.name))
                    .collect();
                return Err(FlavorError::Internal {
                    data: describe.to_string(),
                    message: format!(
                        "Unable to map numpy array input to the expected model input. Numpy arrays can only be used as input for MLflow ONNX models that have a single input. This model requires {} inputs. Please pass in data as either a dictionary or a DataFrame with the following tensors: [{}].",
                        inputs.len(),
                        names.join(", ")
                    ),
                });
            }
            let t = adapt(array_to_tensor(a, &inputs[0])?, &inputs[0])?;
            Ok((vec![(inputs[0].name.clone(), t)], OutputStyle::Dict))
        }
        Enforced::Dict(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (name, a) in items {
                let spec = find(inputs, &name)?;
                out.push((name, adapt(array_to_tensor(a, spec)?, spec)?));
            }
            if let Some(missing) = inputs
                .iter()
                .find(|i| !out.iter().any(|(n, _)| *n == i.name))
            {
                return Err(FlavorError::model(format!(
                    "ValueError: Required inputs (['{}']) are missing from input feed",
                    missing.name
                )));
            }
            Ok((out, OutputStyle::Dict))
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

/// Turns runtime outputs into MLflow predictions.
pub fn predictions(
    outputs: Vec<(String, OutputValue)>,
    style: OutputStyle,
) -> Result<Predictions, FlavorError> {
    match style {
        OutputStyle::Dict => Ok(Predictions::Dict(outputs)),
        OutputStyle::Records => {
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
