//! Stage 2 for tensor-based signatures: shapes, dtypes, DataFrame reshaping (`mlflow/models/utils.py`, `_enforce_tensor_schema`).

use runtime_api::{Tensor, TensorData};

use super::Enforced;
use crate::model::signature::TensorSpec;
use crate::payload::json::array::ArrayBuilder;
use crate::payload::{Array, Cell, Column, Frame, Input};
use crate::pyjson::shape_repr;

/// `_enforce_tensor_spec`: rank, fixed dims and exact dtype.
pub fn check(a: &Array, spec: &TensorSpec) -> Result<(), String> {
    let shape = a.shape();
    let object_1d = spec.dtype_name == "object" && spec.shape == [-1];
    if object_1d {
        return Ok(());
    }
    let ragged_ok = spec.shape.len() > 1
        && spec.shape[1..].contains(&-1)
        && shape.len() == 1
        && a.dtype_name() == "object";
    if !ragged_ok
        && (shape.len() != spec.shape.len()
            || shape
                .iter()
                .zip(&spec.shape)
                .any(|(&d, &s)| s != -1 && d as i64 != s))
    {
        return Err(format!(
            "Shape of input {} does not match expected shape {}.",
            shape_repr(shape),
            shape_repr(&spec.shape)
        ));
    }
    let actual = a.dtype_name();
    let expected = if spec.dtype_name.starts_with("<U") {
        "str".to_string()
    } else {
        spec.dtype_name.clone()
    };
    if actual != expected {
        return Err(format!(
            "dtype of input {actual} does not match expected dtype {expected}"
        ));
    }
    Ok(())
}

/// MLflow's refusal of DataFrame values a tensor signature cannot take.
const NOT_SCALAR_VALUES: &str = "Because the model signature requires tensor spec input, the input pandas dataframe values should be either scalar value, python list containing scalar values or numpy array containing scalar values, other types are not supported.";

fn frame_column_to_tensor(
    col: &Column,
    nrows: usize,
    spec: &TensorSpec,
    name: &str,
) -> Result<Array, String> {
    if spec.shape.first() != Some(&-1) || spec.shape[1..].contains(&-1) {
        return Err(format!(
            "For pandas dataframe input, the first dimension of shape must be a variable dimension and other dimensions must be fixed, but in model signature the shape of input {name} is {}.",
            shape_repr(&spec.shape)
        ));
    }
    // MLflow decides on the first row's value (`pd_series[0]`): a scalar, a list whose first
    // item is a scalar, or nothing it takes (a nested list, a dict, None).
    let first = match col {
        Column::Object(c) => c.first(),
        _ => None,
    };
    let has_lists = match first {
        Some(Cell::List(items)) => {
            if matches!(
                items.first(),
                Some(Cell::List(_) | Cell::Dict(_) | Cell::Null)
            ) {
                return Err(NOT_SCALAR_VALUES.into());
            }
            true
        }
        Some(Cell::Dict(_) | Cell::Null) => return Err(NOT_SCALAR_VALUES.into()),
        _ => false,
    };
    if !has_lists {
        if !(spec.shape == [-1] || spec.shape == [-1, 1]) {
            return Err(format!(
                "The input pandas dataframe column '{name}' contains scalar values, which requires the shape to be (-1,) or (-1, 1), but got tensor spec shape of {}.",
                shape_repr(&spec.shape)
            ));
        }
        let mut b = ArrayBuilder::new(spec.dtype);
        for i in 0..nrows {
            b.scalar(1, col.cell(i));
        }
        b.outer(nrows);
        let mut a = b.finish()?;
        if spec.shape.len() == 2 {
            if let Array::Typed(t) = &mut a {
                t.shape = vec![nrows, 1];
            }
        }
        return Ok(a);
    }
    let shape_err = || {
        format!(
            "The value in the Input DataFrame column '{name}' could not be converted to the expected shape of: '{}'. Ensure that each of the input list elements are of uniform length and that the data can be coerced to the tensor type '{}'",
            shape_repr(&spec.shape),
            spec.dtype_name
        )
    };
    let mut b = ArrayBuilder::new(spec.dtype);
    let mut count = 0usize;
    for i in 0..nrows {
        flatten(&col.cell(i), &mut b, &mut count);
    }
    let per_row: i64 = spec.shape[1..].iter().product();
    if nrows == 0 || count as i64 != per_row * nrows as i64 {
        return Err(shape_err());
    }
    b.outer(count);
    let mut a = b.finish().map_err(|_| shape_err())?;
    if let Array::Typed(t) = &mut a {
        t.shape = std::iter::once(nrows)
            .chain(spec.shape[1..].iter().map(|&d| d as usize))
            .collect();
    }
    Ok(a)
}

fn flatten(c: &Cell, b: &mut ArrayBuilder, count: &mut usize) {
    match c {
        Cell::List(v) => v.iter().for_each(|x| flatten(x, b, count)),
        other => {
            b.scalar(1, other.clone());
            *count += 1;
        }
    }
}

fn missing_message(specs: &[TensorSpec], present: &[String]) -> Option<String> {
    let missing: Vec<String> = specs
        .iter()
        .filter_map(|s| s.name.as_deref())
        .filter(|n| !present.iter().any(|p| p == n))
        .map(crate::pyjson::str_repr)
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut msg = format!("Model is missing inputs [{}].", missing.join(", "));
    let extra: Vec<String> = present
        .iter()
        .filter(|p| !specs.iter().any(|s| s.name.as_deref() == Some(p.as_str())))
        .map(|p| crate::pyjson::str_repr(p))
        .collect();
    if !extra.is_empty() {
        msg.push_str(&format!(
            " Note that there were extra inputs: [{}].",
            extra.join(", ")
        ));
    }
    Some(msg)
}

/// Enforces a tensor signature.
pub fn enforce(input: Input, specs: &[TensorSpec]) -> Result<Enforced, String> {
    let named = specs.first().is_some_and(|s| s.name.is_some());
    if named {
        let items: Vec<(String, Array)> = match input {
            Input::Dict(d) => d,
            Input::Array(a) if specs.len() == 1 => vec![(specs[0].name.clone().unwrap_or_default(), a)],
            Input::Frame(f) => {
                let present: Vec<String> = f.columns.iter().map(|(n, _)| n.as_key()).collect();
                if let Some(m) = missing_message(specs, &present) {
                    return Err(m);
                }
                let mut out = Vec::new();
                for s in specs {
                    let n = s.name.as_deref().unwrap_or_default();
                    let Some(p) = f.position(n) else { continue };
                    let a = frame_column_to_tensor(&f.columns[p].1, f.nrows, s, n)?;
                    check(&a, s)?;
                    out.push((n.to_string(), a));
                }
                return Ok(Enforced::Dict(out));
            }
            Input::Array(_) | Input::Other(Cell::List(_)) | Input::DictRows(_) => {
                return Err(missing_message(specs, &[]).unwrap_or_default());
            }
            other => {
                return Err(format!(
                    "This model contains a tensor-based model signature with input names, which suggests a dictionary input mapping input name to tensor, or a pandas DataFrame input containing columns mapping input name to flattened list value from tensor, but an input of type {} was found.",
                    input_type(&other)
                ))
            }
        };
        let present: Vec<String> = items.iter().map(|(k, _)| k.clone()).collect();
        if let Some(m) = missing_message(specs, &present) {
            return Err(m);
        }
        let mut out = Vec::with_capacity(specs.len());
        for s in specs {
            let n = s.name.as_deref().unwrap_or_default();
            let Some((_, a)) = items.iter().find(|(k, _)| k == n) else {
                continue;
            };
            check(a, s)?;
            out.push((n.to_string(), a.clone()));
        }
        return Ok(Enforced::Dict(out));
    }
    let spec = &specs[0];
    match input {
        Input::Array(a) => {
            check(&a, spec)?;
            Ok(Enforced::Array(a))
        }
        Input::Frame(f) => {
            if f.nrows == 0 && f.columns.is_empty() {
                return Err("Input DataFrame is empty.".into());
            }
            if f.columns.len() == 1 {
                let a = frame_column_to_tensor(&f.columns[0].1, f.nrows, spec, &f.columns[0].0.as_key())?;
                check(&a, spec)?;
                return Ok(Enforced::Array(a));
            }
            if spec.shape.len() != 2 || spec.shape[1] != f.columns.len() as i64 {
                return Err(format!(
                    "This model contains a model signature with an unnamed input. Since the input data is a pandas DataFrame containing multiple columns, the input shape must be of the structure (-1, number_of_dataframe_columns). Instead, the input DataFrame passed had {} columns and an input shape of {} with all values within the DataFrame of scalar type. Please adjust the passed in DataFrame to match the expected structure",
                    f.columns.len(),
                    shape_repr(&spec.shape)
                ));
            }
            let a = frame_to_numpy(&f);
            check(&a, spec)?;
            Ok(Enforced::Array(a))
        }
        other => Err(format!(
            "This model contains a tensor-based model signature with no input names, which suggests a numpy array input or a pandas dataframe input with proper column values, but an input of type {} was found.",
            input_type(&other)
        )),
    }
}

fn input_type(i: &Input) -> &'static str {
    match i {
        Input::Frame(_) => "<class 'pandas.DataFrame'>",
        Input::Array(_) => "<class 'numpy.ndarray'>",
        Input::Dict(_) => "<class 'dict'>",
        Input::Records(_) | Input::DictRows(_) => "<class 'list'>",
        Input::Other(c) => match c {
            Cell::List(_) => "<class 'list'>",
            Cell::Dict(_) => "<class 'dict'>",
            Cell::Str(_) => "<class 'str'>",
            Cell::Float(_) => "<class 'float'>",
            Cell::Int(_) | Cell::BigInt(_) => "<class 'int'>",
            Cell::Bool(_) => "<class 'bool'>",
            Cell::Null => "<class 'NoneType'>",
        },
    }
}

/// `df.to_numpy()`: row-major 2-D array with numpy's common dtype.
pub fn frame_to_numpy(f: &Frame) -> Array {
    let n = f.nrows;
    let m = f.columns.len();
    let kinds: Vec<&'static str> = f.columns.iter().map(|(_, c)| c.dtype_name()).collect();
    let all = |k: &str| kinds.iter().all(|x| *x == k);
    macro_rules! gather {
        ($variant:ident, $t:ty) => {{
            let mut v: Vec<$t> = Vec::with_capacity(n * m);
            for i in 0..n {
                for (_, c) in &f.columns {
                    if let Column::$variant(col) = c {
                        v.push(col[i].clone());
                    }
                }
            }
            Array::Typed(Tensor {
                shape: vec![n, m],
                data: TensorData::$variant(v),
            })
        }};
    }
    if m > 0 && all("float32") {
        return gather!(F32, f32);
    }
    if m > 0 && all("float64") {
        return gather!(F64, f64);
    }
    if m > 0 && all("int64") {
        return gather!(I64, i64);
    }
    if m > 0 && all("int32") {
        return gather!(I32, i32);
    }
    if m > 0 && all("bool") {
        return gather!(Bool, bool);
    }
    let numeric = kinds.iter().all(|k| {
        k.starts_with("int") || k.starts_with("uint") || k.starts_with("float") || *k == "bool"
    });
    if numeric {
        let mut v = Vec::with_capacity(n * m);
        for i in 0..n {
            for (_, c) in &f.columns {
                v.push(c.cell(i).as_f64().unwrap_or_else(|| {
                    if matches!(c.cell(i), Cell::Bool(true)) {
                        1.0
                    } else {
                        0.0
                    }
                }));
            }
        }
        return Array::Typed(Tensor {
            shape: vec![n, m],
            data: TensorData::F64(v),
        });
    }
    let mut cells = Vec::with_capacity(n * m);
    for i in 0..n {
        for (_, c) in &f.columns {
            cells.push(c.cell(i));
        }
    }
    Array::Cells {
        shape: vec![n, m],
        cells,
    }
}
