//! The typed request data: pandas-like frames with typed columns, n-dimensional arrays,
//! and [`Cell`] (from `pyjson`) only where a column's cells are heterogeneous.

use runtime_api::{Tensor, TensorData};

use crate::pyjson::{join_bounded, str_repr, Cell};

/// A column label: pandas uses strings for named columns and integers for positional ones.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColName {
    /// A named column.
    Str(String),
    /// A positional column (`0`, `1`, …).
    Int(i64),
    /// Any other label (a missing one, NaN; a MultiIndex tuple): Python's `repr()` of it
    /// (as lists print it) and pandas' header text for it.
    Other {
        /// `nan`, `('a',)`.
        repr: String,
        /// `NaN`, `('a',)`.
        header: String,
    },
}

impl ColName {
    /// The label as MLflow prints it in lists (`'a'` or `0`).
    pub fn py_repr(&self) -> String {
        match self {
            ColName::Str(s) => str_repr(s),
            ColName::Int(i) => i.to_string(),
            ColName::Other { repr, .. } => repr.clone(),
        }
    }

    /// The label as a JSON object key (`"0"` for integers).
    pub fn as_key(&self) -> String {
        match self {
            ColName::Str(s) => s.clone(),
            ColName::Int(i) => i.to_string(),
            ColName::Other { header, .. } => header.clone(),
        }
    }

    /// True when the label equals the named column `name`.
    pub fn is(&self, name: &str) -> bool {
        matches!(self, ColName::Str(s) if s == name)
    }
}

/// A typed column, with pandas' dtype semantics.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Column {
    Bool(Vec<bool>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    /// pandas `str` dtype (missing values are NaN, kept as `None`).
    Str(Vec<Option<String>>),
    /// bytes (Parquet binary, decoded base64).
    Bytes(Vec<Option<Vec<u8>>>),
    /// pandas `object` dtype: anything.
    Object(Vec<Cell>),
}

impl Column {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Column::Bool(v) => v.len(),
            Column::I8(v) => v.len(),
            Column::I16(v) => v.len(),
            Column::I32(v) => v.len(),
            Column::I64(v) => v.len(),
            Column::U8(v) => v.len(),
            Column::U16(v) => v.len(),
            Column::U32(v) => v.len(),
            Column::U64(v) => v.len(),
            Column::F32(v) => v.len(),
            Column::F64(v) => v.len(),
            Column::Str(v) => v.len(),
            Column::Bytes(v) => v.len(),
            Column::Object(v) => v.len(),
        }
    }

    /// True when the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pandas/numpy dtype name (`float64`, `str`, `object`).
    pub fn dtype_name(&self) -> &'static str {
        match self {
            Column::Bool(_) => "bool",
            Column::I8(_) => "int8",
            Column::I16(_) => "int16",
            Column::I32(_) => "int32",
            Column::I64(_) => "int64",
            Column::U8(_) => "uint8",
            Column::U16(_) => "uint16",
            Column::U32(_) => "uint32",
            Column::U64(_) => "uint64",
            Column::F32(_) => "float32",
            Column::F64(_) => "float64",
            Column::Str(_) => "str",
            Column::Bytes(_) | Column::Object(_) => "object",
        }
    }

    /// Infers the pandas dtype of a list of JSON cells (`pd.DataFrame` construction).
    pub fn infer(cells: Vec<Cell>) -> Column {
        let mut nulls = 0usize;
        let (mut ints, mut floats, mut bools, mut strs, mut other) = (0, 0, 0, 0, 0);
        // integers in uint64's upper half (beyond int64), and whether any int is negative
        let (mut u64s, mut negative) = (0, false);
        for c in &cells {
            match c {
                Cell::Null => nulls += 1,
                Cell::Int(i) => {
                    ints += 1;
                    negative |= *i < 0;
                }
                Cell::Float(_) => floats += 1,
                Cell::Bool(_) => bools += 1,
                Cell::Str(_) => strs += 1,
                Cell::BigInt(s) if s.parse::<u64>().is_ok() => u64s += 1,
                Cell::BigInt(_) | Cell::List(_) | Cell::Dict(_) => other += 1,
            }
        }
        let n = cells.len();
        if n == 0 {
            return Column::Object(cells);
        }
        if u64s > 0 && other == 0 && bools == 0 && strs == 0 {
            // numpy: integers up to 2**64 - 1 make a uint64 column unless one is negative
            // (then object); with a float or a missing value, float64.
            if nulls == 0 && floats == 0 && !negative {
                return Column::U64(
                    cells
                        .iter()
                        .map(|c| match c {
                            Cell::Int(i) => *i as u64,
                            Cell::BigInt(s) => s.parse().unwrap_or(0),
                            _ => 0,
                        })
                        .collect(),
                );
            }
            if nulls + floats > 0 {
                return Column::F64(
                    cells
                        .iter()
                        .map(|c| c.as_f64().unwrap_or(f64::NAN))
                        .collect(),
                );
            }
            return Column::Object(cells);
        }
        if other == 0 && bools == 0 && strs == 0 && ints + floats > 0 {
            if nulls == 0 && floats == 0 {
                return Column::I64(
                    cells
                        .iter()
                        .map(|c| if let Cell::Int(i) = c { *i } else { 0 })
                        .collect(),
                );
            }
            return Column::F64(
                cells
                    .iter()
                    .map(|c| c.as_f64().unwrap_or(f64::NAN))
                    .collect(),
            );
        }
        if bools == n {
            return Column::Bool(
                cells
                    .iter()
                    .map(|c| matches!(c, Cell::Bool(true)))
                    .collect(),
            );
        }
        if strs > 0 && strs + nulls == n {
            return Column::Str(
                cells
                    .into_iter()
                    .map(|c| match c {
                        Cell::Str(s) => Some(s),
                        _ => None,
                    })
                    .collect(),
            );
        }
        Column::Object(cells)
    }

    /// The rows at `idx`, in that order (messages show a frame's first and last rows).
    pub fn take(&self, idx: &[usize]) -> Column {
        fn pick<T: Clone>(v: &[T], idx: &[usize]) -> Vec<T> {
            idx.iter().map(|&i| v[i].clone()).collect()
        }
        match self {
            Column::Bool(v) => Column::Bool(pick(v, idx)),
            Column::I8(v) => Column::I8(pick(v, idx)),
            Column::I16(v) => Column::I16(pick(v, idx)),
            Column::I32(v) => Column::I32(pick(v, idx)),
            Column::I64(v) => Column::I64(pick(v, idx)),
            Column::U8(v) => Column::U8(pick(v, idx)),
            Column::U16(v) => Column::U16(pick(v, idx)),
            Column::U32(v) => Column::U32(pick(v, idx)),
            Column::U64(v) => Column::U64(pick(v, idx)),
            Column::F32(v) => Column::F32(pick(v, idx)),
            Column::F64(v) => Column::F64(pick(v, idx)),
            Column::Str(v) => Column::Str(pick(v, idx)),
            Column::Bytes(v) => Column::Bytes(pick(v, idx)),
            Column::Object(v) => Column::Object(pick(v, idx)),
        }
    }

    /// The cell at `i` as a [`Cell`] (slow path, for messages and object handling).
    pub fn cell(&self, i: usize) -> Cell {
        match self {
            Column::Bool(v) => Cell::Bool(v[i]),
            Column::I8(v) => Cell::Int(v[i] as i64),
            Column::I16(v) => Cell::Int(v[i] as i64),
            Column::I32(v) => Cell::Int(v[i] as i64),
            Column::I64(v) => Cell::Int(v[i]),
            Column::U8(v) => Cell::Int(v[i] as i64),
            Column::U16(v) => Cell::Int(v[i] as i64),
            Column::U32(v) => Cell::Int(v[i] as i64),
            Column::U64(v) => i64::try_from(v[i])
                .map(Cell::Int)
                .unwrap_or_else(|_| Cell::BigInt(v[i].to_string())),
            Column::F32(v) => Cell::Float(v[i] as f64),
            Column::F64(v) => Cell::Float(v[i]),
            Column::Str(v) => v[i].clone().map(Cell::Str).unwrap_or(Cell::Float(f64::NAN)),
            Column::Bytes(v) => v[i]
                .as_ref()
                .map(|b| Cell::Str(String::from_utf8_lossy(b).into_owned()))
                .unwrap_or(Cell::Null),
            Column::Object(v) => v[i].clone(),
        }
    }

    /// The column as a 1-D tensor when its dtype maps onto one.
    pub fn to_tensor_data(&self) -> Option<TensorData> {
        Some(match self {
            Column::Bool(v) => TensorData::Bool(v.clone()),
            Column::I8(v) => TensorData::I8(v.clone()),
            Column::I16(v) => TensorData::I16(v.clone()),
            Column::I32(v) => TensorData::I32(v.clone()),
            Column::I64(v) => TensorData::I64(v.clone()),
            Column::U8(v) => TensorData::U8(v.clone()),
            Column::U16(v) => TensorData::U16(v.clone()),
            Column::U32(v) => TensorData::U32(v.clone()),
            Column::U64(v) => TensorData::U64(v.clone()),
            Column::F32(v) => TensorData::F32(v.clone()),
            Column::F64(v) => TensorData::F64(v.clone()),
            Column::Str(v) if v.iter().all(Option::is_some) => {
                TensorData::Str(v.iter().flatten().cloned().collect())
            }
            Column::Object(v) if v.iter().all(|c| matches!(c, Cell::Str(_))) => TensorData::Str(
                v.iter()
                    .map(|c| {
                        if let Cell::Str(s) = c {
                            s.clone()
                        } else {
                            String::new()
                        }
                    })
                    .collect(),
            ),
            _ => return None,
        })
    }
}

/// A pandas-like DataFrame: ordered, labelled, typed columns of equal length.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frame {
    /// The columns in order.
    pub columns: Vec<(ColName, Column)>,
    /// Number of rows (kept separately so that a frame without columns still has a length).
    pub nrows: usize,
}

impl Frame {
    /// Index of the named column (the last one when labels repeat, as pandas would select all).
    pub fn position(&self, name: &str) -> Option<usize> {
        self.columns.iter().rposition(|(n, _)| n.is(name))
    }

    /// pandas' `repr()` of the frame, as MLflow's messages show it (`Failed to predict data
    /// '...'`): at most 10 rows and 80 columns of text, whatever the frame's size.
    pub fn describe(&self) -> String {
        self.describe_as(self.nrows)
    }

    /// The frame's printout when it holds the first and last 5 rows of a frame of `nrows`
    /// rows (a [`Preview`]), or all of them (`nrows` = its own).
    fn describe_as(&self, nrows: usize) -> String {
        use crate::pyjson::dataframe::{frame_repr, Col, Values};
        let ints: Vec<Vec<i128>> = self
            .columns
            .iter()
            .map(|(_, c)| widened_column(c).unwrap_or_default())
            .collect();
        let cols: Vec<Col<'_>> = self
            .columns
            .iter()
            .zip(ints)
            .map(|((name, col), ints)| Col {
                label: name.as_key(),
                values: match col {
                    Column::F64(v) => Values::F64(v),
                    Column::F32(v) => Values::F32(v),
                    Column::Bool(v) => Values::Bool(v),
                    Column::Str(v) => Values::Text(v.iter().map(Option::as_deref).collect()),
                    Column::Bytes(v) => Values::Other(
                        v.iter()
                            .map(|b| {
                                format!(
                                    " {}",
                                    b.as_deref()
                                        .map_or("None".into(), crate::pyjson::bytes_repr)
                                )
                            })
                            .collect(),
                    ),
                    Column::Object(v) => Values::Other(
                        v.iter()
                            .map(crate::pyjson::dataframe::object_cell)
                            .collect(),
                    ),
                    _ => Values::Int(ints),
                },
            })
            .collect();
        let int_labels = self
            .columns
            .iter()
            .all(|(n, _)| matches!(n, ColName::Int(_)));
        frame_repr(&cols, nrows, int_labels)
    }
}

/// An n-dimensional array as numpy would build it from JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Array {
    /// A typed, dense array.
    Typed(Tensor),
    /// An object/str array of cells (no dtype given and not numeric), with its shape.
    Cells {
        /// Dimensions.
        shape: Vec<usize>,
        /// Row-major cells.
        cells: Vec<Cell>,
    },
}

impl Array {
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Array::Typed(t) => &t.shape,
            Array::Cells { shape, .. } => shape,
        }
    }

    /// numpy dtype name (`float32`, `<U…` reported as `str`, `object`).
    pub fn dtype_name(&self) -> String {
        match self {
            Array::Typed(t) => t.dtype().numpy_name().to_string(),
            Array::Cells { cells, .. } => {
                if !cells.is_empty() && cells.iter().all(|c| matches!(c, Cell::Str(_))) {
                    "str".into()
                } else {
                    "object".into()
                }
            }
        }
    }

    /// A short numpy-like rendering for messages.
    pub fn describe(&self) -> String {
        format!(
            "array(shape={}, dtype={})",
            crate::pyjson::shape_repr(self.shape()),
            self.dtype_name()
        )
    }

    /// numpy's `str()` of the array (as MLflow's messages show a bare array), or the short
    /// rendering where numpy's would not be bounded or is not reproduced (object arrays).
    pub fn numpy_str(&self) -> String {
        self.numpy(|shape, elems, _| crate::pyjson::ndarray::array_str(shape, elems))
    }

    /// numpy's `repr()` of the array (as MLflow's messages show one inside a dict).
    pub fn numpy_repr(&self) -> String {
        self.numpy(crate::pyjson::ndarray::array_repr)
    }

    fn numpy(
        &self,
        print: impl FnOnce(&[usize], crate::pyjson::ndarray::Elems<'_>, &str) -> String,
    ) -> String {
        use crate::pyjson::ndarray::Elems;
        /// More printed elements than this and the short form is used instead: numpy only
        /// summarises axes longer than 6, so a deep tensor of short axes prints whole.
        const MAX_PRINTED: usize = 20_000;
        let Array::Typed(t) = self else {
            return self.describe();
        };
        if t.shape.len() > crate::pyjson::ndarray::MAX_DIMS {
            return self.describe();
        }
        let summarised = t.shape.iter().product::<usize>() > 1000;
        let printed = t.shape.iter().fold(1usize, |acc, &n| {
            acc.saturating_mul(if summarised && n > 6 { 6 } else { n })
        });
        if printed > MAX_PRINTED {
            return self.describe();
        }
        let dtype = self.dtype_name();
        let ints: Vec<i128>;
        let elems = match &t.data {
            TensorData::F64(v) => Elems::F64(v),
            TensorData::F32(v) | TensorData::F16(v) => Elems::F32(v),
            TensorData::Bool(v) => Elems::Bool(v),
            TensorData::Str(_) => return self.describe(),
            other => match widened(other) {
                Some(v) => {
                    ints = v;
                    Elems::Int(&ints)
                }
                None => return self.describe(),
            },
        };
        // Written into a rendering bounded by --max-error-data-bytes, as every rendering of
        // request data.
        print(&t.shape, elems, &dtype)
    }
}

/// What a request carries once parsed (DataFrame, ndarray, dict of arrays, or other: what pyfunc hands a flavor).
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A DataFrame (dataframe_split/records, CSV, Parquet).
    Frame(Frame),
    /// A single ndarray (`inputs`/`instances` lists).
    Array(Array),
    /// A dict of arrays (`inputs`/`instances` objects).
    Dict(Vec<(String, Array)>),
    /// A list of records (`inputs: [{...}, ...]`), converted to a frame by enforcement.
    Records(Vec<Vec<(String, Cell)>>),
    /// A list of dicts of arrays: `inputs: [{...}, ...]` for a named tensor signature, each
    /// value converted as `np.array(value, dtype)` (MLflow's `_cast_schema_type`), which
    /// enforcement then refuses as a list.
    DictRows(Vec<Vec<(String, Array)>>),
    /// Any other value (empty list, scalar, LLM payload…).
    Other(Cell),
}

/// An integer tensor's elements widened to `i128` (numpy and pandas print every integer
/// dtype alike); `None` for other element types.
fn widened(d: &TensorData) -> Option<Vec<i128>> {
    match d {
        TensorData::I8(v) => w(v),
        TensorData::I16(v) => w(v),
        TensorData::I32(v) => w(v),
        TensorData::I64(v) => w(v),
        TensorData::U8(v) => w(v),
        TensorData::U16(v) => w(v),
        TensorData::U32(v) => w(v),
        TensorData::U64(v) => w(v),
        _ => None,
    }
}

/// An integer column's values widened to `i128`; `None` for other dtypes.
fn widened_column(c: &Column) -> Option<Vec<i128>> {
    match c {
        Column::I8(v) => w(v),
        Column::I16(v) => w(v),
        Column::I32(v) => w(v),
        Column::I64(v) => w(v),
        Column::U8(v) => w(v),
        Column::U16(v) => w(v),
        Column::U32(v) => w(v),
        Column::U64(v) => w(v),
        _ => None,
    }
}

fn w<T: Copy + Into<i128>>(v: &[T]) -> Option<Vec<i128>> {
    Some(v.iter().map(|&x| x.into()).collect())
}

/// What a message shows of an input, kept before enforcement consumes the input: a copy of
/// a small input, the first and last 5 rows of a long frame (all pandas prints), or the
/// printout itself for large arrays. Cheap to take on every request; printed only on error.
#[derive(Debug, Clone)]
pub enum Preview {
    /// The whole input.
    Whole(Input),
    /// The first and last 5 rows of a frame of `nrows` rows.
    Frame {
        /// Those rows.
        rows: Frame,
        /// The frame's length.
        nrows: usize,
    },
    /// Already printed.
    Text(String),
}

impl Preview {
    /// The printout MLflow embeds (`Failed to predict data '…'`).
    pub fn describe(&self) -> String {
        match self {
            Preview::Whole(i) => i.describe(),
            Preview::Frame { rows, nrows } => rows.describe_as(*nrows),
            Preview::Text(t) => t.clone(),
        }
    }
}

/// Frames longer than this print their first and last 5 rows only (pandas' `max_rows`).
const PRINTED_ROWS: usize = 60;
/// Arrays of more elements than this print their edges only (numpy's `threshold`).
const PRINTED_ELEMENTS: usize = 1000;

impl Input {
    /// What [`describe`](Self::describe) needs of the input, taken cheaply.
    pub fn preview(&self) -> Preview {
        match self {
            Input::Frame(f) if f.nrows > PRINTED_ROWS => {
                let idx: Vec<usize> = (0..5).chain(f.nrows - 5..f.nrows).collect();
                Preview::Frame {
                    rows: Frame {
                        columns: f
                            .columns
                            .iter()
                            .map(|(n, c)| (n.clone(), c.take(&idx)))
                            .collect(),
                        nrows: idx.len(),
                    },
                    nrows: f.nrows,
                }
            }
            Input::Array(a) if a.shape().iter().product::<usize>() > PRINTED_ELEMENTS => {
                Preview::Text(self.describe())
            }
            Input::Dict(d)
                if d.iter()
                    .map(|(_, a)| a.shape().iter().product::<usize>())
                    .sum::<usize>()
                    > PRINTED_ELEMENTS =>
            {
                Preview::Text(self.describe())
            }
            Input::Records(_) | Input::DictRows(_) | Input::Other(_) => {
                Preview::Text(self.describe())
            }
            other => Preview::Whole(other.clone()),
        }
    }

    /// The `str(data)` rendering MLflow embeds in `Failed to predict data '…'` (approximate).
    pub fn describe(&self) -> String {
        match self {
            Input::Frame(f) => f.describe(),
            Input::Array(a) => a.numpy_str(),
            Input::Dict(d) => dict_repr(d),
            Input::DictRows(rows) => format!(
                "[{}]",
                join_bounded(rows.iter().map(|d| dict_repr(d)), ", ")
            ),
            Input::Records(r) => format!("[{} records]", r.len()),
            Input::Other(c) => c.py_repr(),
        }
    }
}

/// Python's repr of a dict of arrays: `{'name': array([...], dtype=float32), ...}`.
fn dict_repr(d: &[(String, Array)]) -> String {
    format!(
        "{{{}}}",
        join_bounded(
            d.iter()
                .map(|(k, a)| format!("{}: {}", str_repr(k), a.numpy_repr())),
            ", "
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long frame's preview (its first and last 5 rows) prints as the whole frame does.
    #[test]
    fn a_preview_prints_as_the_whole_input() {
        for nrows in [1, 60, 61, 70, 1000] {
            let frame = Frame {
                columns: vec![
                    (
                        ColName::Str("x".into()),
                        Column::F64((0..nrows).map(|i| i as f64 * 1.5).collect()),
                    ),
                    (
                        ColName::Str("n".into()),
                        Column::I64((0..nrows as i64).collect()),
                    ),
                    (
                        ColName::Str("s".into()),
                        Column::Str(
                            (0..nrows)
                                .map(|i| (i % 3 > 0).then(|| format!("v{i}")))
                                .collect(),
                        ),
                    ),
                ],
                nrows,
            };
            let whole = frame.describe();
            let input = Input::Frame(frame);
            assert_eq!(input.preview().describe(), whole, "{nrows} rows");
            if nrows > 60 {
                assert!(
                    whole.ends_with(&format!("[{nrows} rows x 3 columns]")),
                    "{whole}"
                );
                assert!(matches!(input.preview(), Preview::Frame { .. }));
            }
        }
    }
}
