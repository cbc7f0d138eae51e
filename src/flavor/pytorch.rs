//! `mlflow.pytorch` pyfunc semantics (`_PyTorchWrapper.predict`, §4.2).
//!
//! A DataFrame becomes one float32 tensor (`df.to_numpy(dtype=float32)`) and the answer is a
//! DataFrame with columns `0..k-1` (records); an array keeps its own dtype and the answer is
//! the output array; lists and dicts are refused. Params reach `forward` as keyword arguments.

use runtime_api::{OutputValue, Param, Tensor, TensorData};

use super::predictions::Predictions;
use super::FlavorError;
use crate::enforce::Enforced;
use crate::payload::{Array, Cell, Column, Frame};

/// How the predictions are shaped, decided by the input's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStyle {
    /// DataFrame input: `DataFrame(preds.numpy())` with the input's index → records.
    Records {
        /// Rows of the input frame (the index the output must match).
        rows: usize,
    },
    /// ndarray input: `preds.numpy()` → nested lists.
    Array,
}

const LIST_OR_DICT: &str = "TypeError: The PyTorch flavor does not support List or Dict input types. Please use a pandas.DataFrame or a numpy.ndarray";
const FROM_NUMPY: &str = "TypeError: can't convert np.ndarray of type numpy.object_. The only supported types are: float64, float32, float16, complex64, complex128, int64, int32, int16, int8, uint64, uint32, uint16, uint8, and bool.";

/// The input tensor for the model and the output style.
pub fn feeds(enforced: Enforced) -> Result<(Vec<(String, Tensor)>, OutputStyle), FlavorError> {
    let (tensor, style) = match enforced {
        Enforced::Frame(f) => {
            let rows = f.nrows;
            (frame_to_f32(&f)?, OutputStyle::Records { rows })
        }
        Enforced::Array(Array::Typed(t)) => (t, OutputStyle::Array),
        Enforced::Array(Array::Cells { .. }) => return Err(FlavorError::model(FROM_NUMPY)),
        Enforced::Dict(_) => return Err(FlavorError::model(LIST_OR_DICT)),
        Enforced::Other(Cell::List(_) | Cell::Dict(_)) => {
            return Err(FlavorError::model(LIST_OR_DICT))
        }
        Enforced::Other(_) => return Err(FlavorError::model(FROM_NUMPY)),
    };
    Ok((vec![("input".to_string(), tensor)], style))
}

/// Enforced params as `forward` receives them; `device` is refused as MLflow refuses it.
pub fn params(params: Vec<(String, Cell)>) -> Result<Vec<(String, Param)>, FlavorError> {
    if params.iter().any(|(k, _)| k == "device") {
        return Err(FlavorError::model("ValueError: device' can no longer be specified as an inference parameter. It must be specified at load time. Please specify the device at load time, for example: `mlflow.pyfunc.load_model(model_uri, model_config={'device': 'cuda'})`."));
    }
    Ok(params.into_iter().map(|(k, v)| (k, to_param(v))).collect())
}

fn to_param(c: Cell) -> Param {
    match c {
        Cell::Null => Param::None,
        Cell::Bool(b) => Param::Bool(b),
        Cell::Int(i) => Param::Int(i),
        Cell::Float(f) => Param::Float(f),
        Cell::Str(s) => Param::Str(s),
        Cell::List(items) => Param::List(items.into_iter().map(to_param).collect()),
        other => Param::Str(other.py_str()),
    }
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

/// Turns the model's output tensor into MLflow's predictions.
pub fn predictions(
    outputs: Vec<(String, OutputValue)>,
    style: OutputStyle,
) -> Result<Predictions, FlavorError> {
    let Some((_, OutputValue::Tensor(t))) = outputs.into_iter().next() else {
        return Err(FlavorError::model(
            "TypeError: Expected PyTorch model to output a single output tensor",
        ));
    };
    match style {
        OutputStyle::Array => Ok(Predictions::Array(t)),
        OutputStyle::Records { rows } => {
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
        let (feeds, style) = feeds(Enforced::Frame(f)).unwrap();
        assert_eq!(style, OutputStyle::Records { rows: 2 });
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
        let rec = OutputStyle::Records { rows: 2 };
        assert!(predictions(t(vec![2, 3]), rec).is_ok());
        assert!(predictions(t(vec![2]), rec).is_ok());
        assert!(predictions(t(vec![3]), rec).is_err());
        assert!(predictions(t(vec![2, 1, 1]), rec).is_err());
        assert!(predictions(t(vec![]), rec).is_err());
        assert!(predictions(t(vec![]), OutputStyle::Array).is_ok());
    }
}
