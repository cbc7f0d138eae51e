//! What the two tree flavors (`xgboost`, `lightgbm`) share: the model file read once under a
//! bound and shared by every worker, a DataFrame turned into the row-major float64 matrix the
//! libraries build from it (`DMatrix(df)`; LightGBM's `_data_from_pandas`), and the params
//! passed on to the runtime.

use std::path::Path;
use std::sync::Arc;

use runtime_api::{OutputValue, Param, Runtime, Tensor, TensorData};
use runtime_trees::{Answer, FileKind, Limits, Model, TreeSession};

use super::{FlavorError, Loaded, Predictions, RuntimeOptions};
use crate::model::LoadError;
use crate::payload::{Cell, Column, Frame};

/// The largest tree model file read (the biggest boosted models are a few hundred MB).
pub const MAX_TREE_MODEL_BYTES: u64 = 8 << 30;

/// Reads and parses a tree model file, refusing what the reader refuses with its reason.
pub fn read_model(path: &Path, kind: FileKind, label: &'static str) -> Result<Model, LoadError> {
    let bytes = crate::model::mlmodel::read_bounded(path, MAX_TREE_MODEL_BYTES)?;
    runtime_trees::read_model(&bytes, kind, &Limits::default()).map_err(|e| LoadError::Runtime {
        kind: label,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// One session per worker over one shared model; rows are independent, so requests merge.
pub fn loaded(
    model: Model,
    answer: Answer,
    opts: &RuntimeOptions,
    flavor: Box<dyn super::Flavor>,
) -> Loaded {
    let model = Arc::new(model);
    let runtimes: Vec<Box<dyn Runtime>> = (0..opts.workers.max(1))
        .map(|_| Box::new(TreeSession::new(model.clone(), answer)) as Box<dyn Runtime>)
        .collect();
    let inputs = runtimes[0].inputs().to_vec();
    let outputs = runtimes[0].outputs().to_vec();
    Loaded {
        flavor,
        runtimes,
        inputs,
        outputs,
        batchable: true,
        processes: None,
    }
}

/// The dtype names pandas prints for a column the libraries refuse.
pub fn pandas_dtype(c: &Column) -> &'static str {
    match c {
        Column::Str(_) => "str",
        _ => "object",
    }
}

/// The frame as a row-major float64 matrix (bools as 0/1, missing as NaN), or the names and
/// pandas dtypes of the columns that are not numeric.
pub fn frame_matrix(f: &Frame) -> Result<Tensor, Vec<(String, &'static str)>> {
    let (rows, cols) = (f.nrows, f.columns.len());
    let bad: Vec<(String, &'static str)> = f
        .columns
        .iter()
        .filter(|(_, c)| matches!(c, Column::Str(_) | Column::Bytes(_) | Column::Object(_)))
        .map(|(n, c)| (n.as_key(), pandas_dtype(c)))
        .collect();
    if !bad.is_empty() {
        return Err(bad);
    }
    let mut out = vec![0f64; rows * cols];
    for (j, (_, col)) in f.columns.iter().enumerate() {
        macro_rules! cast {
            ($v:expr) => {
                for (i, x) in $v.iter().enumerate() {
                    out[i * cols + j] = *x as f64;
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
                    out[i * cols + j] = f64::from(u8::from(*b));
                }
            }
            Column::Str(_) | Column::Bytes(_) | Column::Object(_) => {}
        }
    }
    Tensor::new(vec![rows, cols], TensorData::F64(out)).map_err(|_| Vec::new())
}

/// A numeric array as float64 (strings, which the libraries refuse, as NaN).
pub fn array_matrix(t: Tensor) -> Tensor {
    use runtime_api::TensorData as D;
    let data: Vec<f64> = match t.data {
        D::F64(v) => v,
        D::F32(v) | D::F16(v) => v.into_iter().map(f64::from).collect(),
        D::I8(v) => v.into_iter().map(f64::from).collect(),
        D::I16(v) => v.into_iter().map(f64::from).collect(),
        D::I32(v) => v.into_iter().map(f64::from).collect(),
        D::I64(v) => v.into_iter().map(|x| x as f64).collect(),
        D::U8(v) => v.into_iter().map(f64::from).collect(),
        D::U16(v) => v.into_iter().map(f64::from).collect(),
        D::U32(v) => v.into_iter().map(f64::from).collect(),
        D::U64(v) => v.into_iter().map(|x| x as f64).collect(),
        D::Bool(v) => v.into_iter().map(|b| f64::from(u8::from(b))).collect(),
        D::Str(v) => vec![f64::NAN; v.len()],
    };
    Tensor {
        shape: t.shape,
        data: D::F64(data),
    }
}

/// An enforced param as the runtime takes it.
pub fn to_param(c: Cell) -> Param {
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

/// The tree runtime's one output as MLflow's answer: the library's array, whatever the
/// input kind (a numpy array becomes `{"predictions": [...]}`).
pub fn predictions(outputs: Vec<(String, OutputValue)>) -> Result<Predictions, FlavorError> {
    match outputs.into_iter().next() {
        Some((_, OutputValue::Tensor(t))) => Ok(Predictions::Array(t)),
        _ => Err(FlavorError::model(
            "the tree runtime returned no predictions",
        )),
    }
}
