//! One output row per input row: a model's answer (MLflow's [`Predictions`]) seen as named
//! prediction columns, and the kept input columns, each rendered as a JSON value (JSON
//! Lines), a CSV field, or an Arrow array (Parquet).
//!
//! Column names: a DataFrame answer keeps its columns (`0`, `1`, … for a 2-D array MLflow
//! turns into a DataFrame), a dict of outputs keeps the output names, and a single array is
//! the column `prediction`. A row of a multi-dimensional output is a nested list (JSON), its
//! JSON text (CSV) or a fixed-size list of the row's flattened values (Parquet); a map (a
//! ZipMap's probabilities) is an object (JSON) or its JSON text (CSV, Parquet).

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, FixedSizeListArray, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, Int8Array, StringArray, UInt16Array, UInt32Array,
    UInt64Array, UInt8Array,
};
use arrow_schema::Field;
use runtime_api::{MapKey, OutputValue, Tensor, TensorData};

use crate::flavor::predictions::{write_elem, write_map, write_nested, OutputColumn};
use crate::flavor::Predictions;
use crate::payload::{Cell, Column};
use crate::pyjson::write_cell_json;

/// The name of the single column of an answer that is one array.
pub const ARRAY_COLUMN: &str = "prediction";

/// Where one prediction column's value for each row is.
#[derive(Debug)]
pub enum Values<'a> {
    /// One element per row: row `r` is element `offset + r * stride`.
    Elem {
        /// The output's elements.
        data: &'a TensorData,
        /// The first row's element.
        offset: usize,
        /// Elements from one row to the next.
        stride: usize,
    },
    /// One sub-array per row, of shape `row_shape`, rows stored one after the other.
    Sub {
        /// The output's elements.
        data: &'a TensorData,
        /// The shape of one row.
        row_shape: Vec<usize>,
    },
    /// One map per row.
    Maps(&'a [Vec<(MapKey, f64)>]),
}

/// A named prediction column.
#[derive(Debug)]
pub struct PredColumn<'a> {
    /// The column's name in the output.
    pub name: String,
    /// Its values.
    pub values: Values<'a>,
}

/// The prediction columns of `predictions` for `nrows` input rows, or why the answer is not
/// one value per row.
pub fn columns(predictions: &Predictions, nrows: usize) -> Result<Vec<PredColumn<'_>>, String> {
    match predictions {
        Predictions::Records { columns, nrows: n } => {
            check_rows(*n, nrows)?;
            columns
                .iter()
                .map(|(name, col)| {
                    let values = match col {
                        OutputColumn::Flat(d) if d.len() == nrows => Values::Elem {
                            data: d,
                            offset: 0,
                            stride: 1,
                        },
                        OutputColumn::Flat(d) if nrows > 0 && d.len() % nrows == 0 => Values::Sub {
                            data: d,
                            row_shape: vec![d.len() / nrows],
                        },
                        OutputColumn::Flat(d) => return Err(not_per_row(name, d.len(), nrows)),
                        OutputColumn::Maps(m) => Values::Maps(m),
                    };
                    Ok(PredColumn {
                        name: name.clone(),
                        values,
                    })
                })
                .collect()
        }
        Predictions::Frame(t) => {
            let rows = t.shape.first().copied().unwrap_or(0);
            check_rows(rows, nrows)?;
            let cols = if t.shape.len() == 2 { t.shape[1] } else { 1 };
            Ok((0..cols)
                .map(|j| PredColumn {
                    name: j.to_string(),
                    values: Values::Elem {
                        data: &t.data,
                        offset: j,
                        stride: cols,
                    },
                })
                .collect())
        }
        Predictions::Array(t) => Ok(vec![tensor_column(ARRAY_COLUMN, t, nrows)?]),
        Predictions::Json(_) => {
            Err("the model answered a value that is not one row per input row".into())
        }
        Predictions::Dict(items) => items
            .iter()
            .map(|(name, v)| match v {
                OutputValue::Tensor(t) => tensor_column(name, t, nrows),
                OutputValue::SequenceOfMaps(m) => {
                    check_rows(m.len(), nrows)?;
                    Ok(PredColumn {
                        name: name.clone(),
                        values: Values::Maps(m),
                    })
                }
            })
            .collect(),
    }
}

fn tensor_column<'a>(name: &str, t: &'a Tensor, nrows: usize) -> Result<PredColumn<'a>, String> {
    let Some((&rows, rest)) = t.shape.split_first() else {
        return Err(format!(
            "the model answered one value for `{name}`, not one per row"
        ));
    };
    check_rows(rows, nrows).map_err(|e| format!("`{name}`: {e}"))?;
    let values = if rest.is_empty() {
        Values::Elem {
            data: &t.data,
            offset: 0,
            stride: 1,
        }
    } else {
        Values::Sub {
            data: &t.data,
            row_shape: rest.to_vec(),
        }
    };
    Ok(PredColumn {
        name: name.to_string(),
        values,
    })
}

fn check_rows(got: usize, nrows: usize) -> Result<(), String> {
    if got == nrows {
        Ok(())
    } else {
        Err(format!(
            "the model answered {got} rows for {nrows} input rows, not one per row"
        ))
    }
}

fn not_per_row(name: &str, len: usize, nrows: usize) -> String {
    format!("`{name}` holds {len} values for {nrows} input rows, not one per row")
}

impl Values<'_> {
    /// Appends row `row`'s value as JSON (MLflow's number format and separators).
    pub fn write_json(&self, out: &mut Vec<u8>, row: usize) {
        match self {
            Values::Elem {
                data,
                offset,
                stride,
            } => write_elem(out, data, offset + row * stride),
            Values::Sub { data, row_shape } => {
                let len: usize = row_shape.iter().product();
                write_nested(out, data, row_shape, &mut (row * len));
            }
            Values::Maps(m) => write_map(out, &m[row]),
        }
    }

    /// Appends row `row`'s value as CSV field text: a string as it is, a number as in JSON,
    /// a list or map as its JSON text.
    pub fn write_text(&self, out: &mut Vec<u8>, row: usize) {
        match self {
            Values::Elem {
                data: TensorData::Str(v),
                offset,
                stride,
            } => out.extend_from_slice(v[offset + row * stride].as_bytes()),
            other => other.write_json(out, row),
        }
    }

    /// The column as an Arrow array of `nrows` rows.
    pub fn to_arrow(&self, nrows: usize) -> ArrayRef {
        match self {
            Values::Elem {
                data,
                offset,
                stride,
            } => elements(data, |r| offset + r * stride, nrows),
            Values::Sub { data, row_shape } => {
                let len: usize = row_shape.iter().product();
                let child = elements(data, |i| i, nrows * len);
                let field = Arc::new(Field::new("item", child.data_type().clone(), false));
                Arc::new(FixedSizeListArray::new(field, len as i32, child, None))
            }
            Values::Maps(m) => {
                let texts: Vec<String> = m[..nrows]
                    .iter()
                    .map(|row| {
                        let mut out = Vec::new();
                        write_map(&mut out, row);
                        String::from_utf8_lossy(&out).into_owned()
                    })
                    .collect();
                Arc::new(StringArray::from(texts))
            }
        }
    }
}

/// `n` elements of `data`, element `i` taken from `at(i)`, as a typed Arrow array.
fn elements(data: &TensorData, at: impl Fn(usize) -> usize, n: usize) -> ArrayRef {
    macro_rules! pick {
        ($v:expr, $arr:ty) => {
            Arc::new(<$arr>::from((0..n).map(|i| $v[at(i)]).collect::<Vec<_>>())) as ArrayRef
        };
    }
    match data {
        TensorData::Bool(v) => pick!(v, BooleanArray),
        TensorData::I8(v) => pick!(v, Int8Array),
        TensorData::I16(v) => pick!(v, Int16Array),
        TensorData::I32(v) => pick!(v, Int32Array),
        TensorData::I64(v) => pick!(v, Int64Array),
        TensorData::U8(v) => pick!(v, UInt8Array),
        TensorData::U16(v) => pick!(v, UInt16Array),
        TensorData::U32(v) => pick!(v, UInt32Array),
        TensorData::U64(v) => pick!(v, UInt64Array),
        TensorData::F16(v) | TensorData::F32(v) => pick!(v, Float32Array),
        TensorData::F64(v) => pick!(v, Float64Array),
        TensorData::Str(v) => Arc::new(StringArray::from(
            (0..n).map(|i| v[at(i)].as_str()).collect::<Vec<_>>(),
        )),
    }
}

/// Appends a kept input cell as CSV field text: strings as they are, missing values empty,
/// anything else as JSON.
pub fn write_cell_text(out: &mut Vec<u8>, column: &Column, row: usize) {
    match column {
        Column::Str(v) => {
            if let Some(s) = &v[row] {
                out.extend_from_slice(s.as_bytes());
            }
        }
        Column::Bytes(v) => {
            if let Some(b) = &v[row] {
                out.extend_from_slice(b);
            }
        }
        Column::Object(v) => match &v[row] {
            Cell::Null => {}
            Cell::Str(s) => out.extend_from_slice(s.as_bytes()),
            other => write_cell_json(out, other),
        },
        other => write_cell_json(out, &other.cell(row)),
    }
}

/// A kept input column as an Arrow array (an `object` column as the JSON text of each value).
pub fn column_to_arrow(column: &Column) -> ArrayRef {
    match column {
        Column::Bool(v) => Arc::new(BooleanArray::from(v.clone())),
        Column::I8(v) => Arc::new(Int8Array::from(v.clone())),
        Column::I16(v) => Arc::new(Int16Array::from(v.clone())),
        Column::I32(v) => Arc::new(Int32Array::from(v.clone())),
        Column::I64(v) => Arc::new(Int64Array::from(v.clone())),
        Column::U8(v) => Arc::new(UInt8Array::from(v.clone())),
        Column::U16(v) => Arc::new(UInt16Array::from(v.clone())),
        Column::U32(v) => Arc::new(UInt32Array::from(v.clone())),
        Column::U64(v) => Arc::new(UInt64Array::from(v.clone())),
        Column::F32(v) => Arc::new(Float32Array::from(v.clone())),
        Column::F64(v) => Arc::new(Float64Array::from(v.clone())),
        Column::Str(v) => Arc::new(StringArray::from(
            v.iter().map(|s| s.as_deref()).collect::<Vec<_>>(),
        )),
        Column::Bytes(v) => Arc::new(BinaryArray::from(
            v.iter().map(|b| b.as_deref()).collect::<Vec<_>>(),
        )),
        Column::Object(v) => Arc::new(StringArray::from(
            v.iter()
                .map(|c| match c {
                    Cell::Null => None,
                    Cell::Str(s) => Some(s.clone()),
                    other => {
                        let mut out = Vec::new();
                        write_cell_json(&mut out, other);
                        Some(String::from_utf8_lossy(&out).into_owned())
                    }
                })
                .collect::<Vec<_>>(),
        )),
    }
}
