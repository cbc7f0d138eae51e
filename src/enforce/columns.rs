//! Stage 2 for column-based signatures: presence, order, and the lossless dtype table (`mlflow/models/utils.py`, `_enforce_named_col_schema`, `_enforce_mlflow_datatype`).

use crate::model::signature::{ColSpec, ColType};
use crate::payload::{Array, Cell, ColName, Column, Frame, Input};
use runtime_api::TensorData;

/// A list of records as `pandas.DataFrame(list_of_dicts)`: columns in first-seen order,
/// missing cells null. Linear in the number of cells (the parser bounded rows × columns).
pub fn records_to_frame(rows: Vec<Vec<(String, Cell)>>) -> Frame {
    let mut names: Vec<String> = Vec::new();
    let mut index = crate::payload::json::scan::KeyIndex::new();
    let nrows = rows.len();
    let mut cols: Vec<Vec<Cell>> = Vec::new();
    for (r, row) in rows.into_iter().enumerate() {
        for (k, v) in row {
            let i = match index.position(&k, names.len(), |i| Some(names[i].as_str())) {
                Some(i) => i,
                None => {
                    index.push(&k, names.len());
                    names.push(k);
                    cols.push(Vec::with_capacity(nrows));
                    names.len() - 1
                }
            };
            let col = &mut cols[i];
            if col.len() < r {
                col.resize(r, Cell::Null);
            }
            // A record's keys are distinct (the JSON reader keeps the last of duplicates).
            if col.len() == r {
                col.push(v);
            } else {
                col[r] = v;
            }
        }
    }
    for col in &mut cols {
        col.resize(nrows, Cell::Null);
    }
    Frame {
        columns: names
            .into_iter()
            .zip(cols)
            .map(|(n, c)| (ColName::Str(n), Column::infer(c)))
            .collect(),
        nrows,
    }
}

fn tensor_to_columns(shape: &[usize], data: &TensorData) -> Result<Vec<Column>, String> {
    let (n, m) = match shape.len() {
        0 => (1, 1),
        1 => (shape[0], 1),
        2 => (shape[0], shape[1]),
        _ => {
            return Err(format!(
                "Must pass 2-d input. shape={}",
                crate::pyjson::shape_repr(shape)
            ))
        }
    };
    macro_rules! split {
        ($v:expr, $variant:ident) => {
            (0..m)
                .map(|j| Column::$variant((0..n).map(|i| $v[i * m + j].clone()).collect()))
                .collect()
        };
    }
    Ok(match data {
        TensorData::F64(v) => split!(v, F64),
        TensorData::F32(v) => split!(v, F32),
        TensorData::F16(v) => split!(v, F32),
        TensorData::I64(v) => split!(v, I64),
        TensorData::I32(v) => split!(v, I32),
        TensorData::I16(v) => split!(v, I16),
        TensorData::I8(v) => split!(v, I8),
        TensorData::U64(v) => split!(v, U64),
        TensorData::U32(v) => split!(v, U32),
        TensorData::U16(v) => split!(v, U16),
        TensorData::U8(v) => split!(v, U8),
        TensorData::Bool(v) => split!(v, Bool),
        TensorData::Str(v) => (0..m)
            .map(|j| Column::Str((0..n).map(|i| Some(v[i * m + j].clone())).collect()))
            .collect(),
    })
}

/// Normalises any input into a DataFrame as `_enforce_schema` does for column signatures.
pub fn to_frame(input: Input) -> Result<Frame, String> {
    const CAST: &str = "This model contains a column-based signature, which suggests a DataFrame input. There was an error casting the input data to a DataFrame: ";
    Ok(match input {
        Input::Frame(f) => f,
        Input::Records(r) => records_to_frame(r),
        // Only read for a named tensor signature (payload::json::tensor).
        Input::DictRows(_) => return Err(format!("{CAST}a list of dicts of arrays")),
        Input::Array(a) => array_frame(&a).map_err(|e| format!("{CAST}{e}"))?,
        Input::Dict(items) => {
            if items.is_empty() {
                return Ok(Frame::default());
            }
            // `pd.DataFrame(dict)`: arrays of one length; 0-d values (scalars) broadcast
            let lens: Vec<usize> = items
                .iter()
                .filter_map(|(_, a)| a.shape().first().copied())
                .collect();
            let nrows = match lens.first() {
                None => 1,
                Some(&n) if lens.iter().all(|&l| l == n) => n,
                Some(_) => return Err(format!("{CAST}All arrays must be of the same length")),
            };
            let mut columns = Vec::with_capacity(items.len());
            for (name, a) in items {
                let col = if a.shape().len() > 1 {
                    // MLflow hands pandas nested lists: an object column of lists
                    Column::Object(vec![Cell::List(Vec::new()); nrows])
                } else {
                    let col = array_frame(&a)
                        .map_err(|e| format!("{CAST}{e}"))?
                        .columns
                        .pop()
                        .map(|c| c.1)
                        .unwrap_or(Column::Object(vec![]));
                    if a.shape().is_empty() && nrows != 1 {
                        col.take(&vec![0; nrows])
                    } else {
                        col
                    }
                };
                columns.push((ColName::Str(name), col));
            }
            Frame { columns, nrows }
        }
        Input::Other(Cell::List(v)) if v.is_empty() => Frame::default(),
        Input::Other(Cell::Dict(kv)) => records_to_frame(vec![kv]),
        Input::Other(c) => Frame {
            columns: vec![(ColName::Int(0), Column::infer(vec![c]))],
            nrows: 1,
        },
    })
}

fn array_frame(a: &Array) -> Result<Frame, String> {
    let (shape, cols) = match a {
        Array::Typed(t) => (t.shape.clone(), tensor_to_columns(&t.shape, &t.data)?),
        Array::Cells { shape, cells } => {
            let m = if shape.len() >= 2 { shape[1] } else { 1 };
            let n = shape.first().copied().unwrap_or(1);
            let cols = (0..m)
                .map(|j| {
                    Column::infer(
                        (0..n)
                            .map(|i| cells.get(i * m + j).cloned().unwrap_or(Cell::Null))
                            .collect(),
                    )
                })
                .collect();
            (shape.clone(), cols)
        }
    };
    let nrows = shape.first().copied().unwrap_or(1);
    Ok(Frame {
        columns: cols
            .into_iter()
            .enumerate()
            .map(|(i, c)| (ColName::Int(i as i64), c))
            .collect(),
        nrows,
    })
}

/// Checks presence and types; returns the frame in schema order with extra columns dropped.
pub fn enforce(input: Input, specs: &[ColSpec]) -> Result<Frame, String> {
    let mut frame = to_frame(input)?;
    let named = specs.first().is_some_and(|s| s.name.is_some());
    if !named {
        if frame.columns.len() < specs.len() {
            return Err(format!(
                "Model inference is missing inputs. The model signature declares {} inputs  but the provided value only has {} inputs. Note: the inputs were not named in the signature so we can only verify their count.",
                specs.len(),
                frame.columns.len()
            ));
        }
        frame.columns.truncate(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let (label, col) = std::mem::replace(
                &mut frame.columns[i],
                (ColName::Int(0), Column::Bool(vec![])),
            );
            let col = enforce_column(col, &spec.ty, &label.as_key())?;
            frame.columns[i] = (label, col);
        }
        return Ok(frame);
    }
    let missing: Vec<&str> = specs
        .iter()
        .filter(|s| s.required)
        .filter_map(|s| s.name.as_deref())
        .filter(|n| frame.position(n).is_none())
        .collect();
    if !missing.is_empty() {
        let list = missing
            .iter()
            .map(|m| crate::pyjson::str_repr(m))
            .collect::<Vec<_>>()
            .join(", ");
        let mut msg = format!("Model is missing inputs [{list}].");
        let extra: Vec<String> = frame
            .columns
            .iter()
            .filter(|(n, _)| {
                !specs
                    .iter()
                    .any(|s| s.name.as_deref().is_some_and(|sn| n.is(sn)))
            })
            .map(|(n, _)| n.py_repr())
            .collect();
        if !extra.is_empty() {
            msg.push_str(&format!(
                " Note that there were extra inputs: [{}].",
                extra.join(", ")
            ));
        }
        return Err(msg);
    }
    let nrows = frame.nrows;
    let mut cols = std::mem::take(&mut frame.columns);
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        let Some(name) = spec.name.as_deref() else {
            continue;
        };
        let Some(p) = cols.iter().rposition(|(n, _)| n.is(name)) else {
            continue;
        };
        if cols.iter().filter(|(n, _)| n.is(name)).count() > 1 {
            // pandas: `df[name]` of a duplicated label is a DataFrame, and MLflow's
            // `values.dtype` on it raises.
            return Err("'DataFrame' object has no attribute 'dtype'".into());
        }
        let (label, col) = cols.swap_remove(p);
        out.push((label, enforce_column(col, &spec.ty, name)?));
    }
    Ok(Frame {
        columns: out,
        nrows,
    })
}

fn numpy_target(ty: &ColType) -> &'static str {
    match ty {
        ColType::Boolean => "bool",
        ColType::Integer => "int32",
        ColType::Long => "int64",
        ColType::Float => "float32",
        ColType::Double => "float64",
        ColType::String => "str",
        ColType::Binary => "bytes",
        ColType::Datetime => "datetime64[ns]",
        ColType::Complex(_) => "object",
    }
}

/// The lossless table (`_enforce_mlflow_datatype`) for one column.
pub fn enforce_column(col: Column, ty: &ColType, name: &str) -> Result<Column, String> {
    let col = match (col, ty) {
        // an object column of doubles goes through `pd.to_numeric` (MLflow's Decimal branch,
        // which every object dtype takes)
        (Column::Object(cells), ColType::Double) => match Column::infer(cells) {
            Column::Object(cells) => to_numeric(cells, name)?,
            inferred => inferred,
        },
        (Column::Object(cells), t) if !matches!(t, ColType::String | ColType::Binary) => {
            let inferred = Column::infer(cells);
            if matches!(inferred, Column::Object(_)) && *t == ColType::Boolean {
                return Ok(inferred);
            }
            inferred
        }
        (c, _) => c,
    };
    let ok = matches!(
        (ty, &col),
        (ColType::String, Column::Str(_) | Column::Object(_))
            | (
                ColType::Binary,
                Column::Str(_) | Column::Object(_) | Column::Bytes(_)
            )
            | (ColType::Complex(_), _)
            | (ColType::Boolean, Column::Bool(_))
            | (ColType::Integer, Column::I32(_))
            | (ColType::Long, Column::I64(_))
            | (ColType::Float, Column::F32(_))
            | (ColType::Double, Column::F64(_))
    );
    if ok {
        return Ok(col);
    }
    let widened = match (ty, col) {
        (ColType::Integer, Column::I8(v)) => Column::I32(v.into_iter().map(i32::from).collect()),
        (ColType::Integer, Column::I16(v)) => Column::I32(v.into_iter().map(i32::from).collect()),
        (ColType::Integer, Column::U8(v)) => Column::I32(v.into_iter().map(i32::from).collect()),
        (ColType::Integer, Column::U16(v)) => Column::I32(v.into_iter().map(i32::from).collect()),
        (ColType::Long, Column::I8(v)) => Column::I64(v.into_iter().map(i64::from).collect()),
        (ColType::Long, Column::I16(v)) => Column::I64(v.into_iter().map(i64::from).collect()),
        (ColType::Long, Column::I32(v)) => Column::I64(v.into_iter().map(i64::from).collect()),
        (ColType::Long, Column::U8(v)) => Column::I64(v.into_iter().map(i64::from).collect()),
        (ColType::Long, Column::U16(v)) => Column::I64(v.into_iter().map(i64::from).collect()),
        (ColType::Long, Column::U32(v)) => Column::I64(v.into_iter().map(i64::from).collect()),
        (ColType::Double, Column::F32(v)) => Column::F64(v.into_iter().map(f64::from).collect()),
        (ColType::Double, Column::I8(v)) => Column::F64(v.into_iter().map(f64::from).collect()),
        (ColType::Double, Column::I16(v)) => Column::F64(v.into_iter().map(f64::from).collect()),
        (ColType::Double, Column::I32(v)) => Column::F64(v.into_iter().map(f64::from).collect()),
        (ColType::Double, Column::U8(v)) => Column::F64(v.into_iter().map(f64::from).collect()),
        (ColType::Double, Column::U16(v)) => Column::F64(v.into_iter().map(f64::from).collect()),
        (ColType::Double, Column::U32(v)) => Column::F64(v.into_iter().map(f64::from).collect()),
        (ColType::Double, Column::I64(v)) if v.iter().all(|&x| x == 0 || x == 1) => {
            Column::F64(v.into_iter().map(|x| x as f64).collect())
        }
        (ColType::Float, Column::I64(v)) if v.iter().all(|&x| x == 0 || x == 1) => {
            Column::F32(v.into_iter().map(|x| x as f32).collect())
        }
        (_, col) => {
            let mut msg = format!(
                "Incompatible input types for column {name}. Can not safely convert {} to {}.",
                // pandas 3 names its string dtype `str` (mixed columns stay `object`)
                col.dtype_name(),
                numpy_target(ty)
            );
            if let Column::F64(v) = &col {
                if matches!(ty, ColType::Integer | ColType::Long)
                    && v.iter().any(|x| x.is_nan())
                    && v.iter().filter(|x| !x.is_nan()).all(|x| x.fract() == 0.0)
                {
                    msg.push_str(" Hint: the type mismatch is likely caused by missing values. Integer columns in python can not represent missing values and are therefore encoded as floats. The best way to avoid this problem is to infer the model schema based on a realistic data sample (training dataset) that includes missing values. Alternatively, you can declare integer columns as doubles (float64) whenever these columns may have missing values. See `Handling Integers With Missing Values <https://www.mlflow.org/docs/latest/models.html#handling-integers-with-missing-values>`_ for more details.");
                }
            }
            return Err(msg);
        }
    };
    Ok(widened)
}

/// `pd.to_numeric(values, errors="raise")` of an object column, as MLflow words its failure.
fn to_numeric(cells: Vec<Cell>, name: &str) -> Result<Column, String> {
    let mut out = Vec::with_capacity(cells.len());
    for (i, c) in cells.iter().enumerate() {
        out.push(match c {
            Cell::Null => f64::NAN,
            Cell::Bool(b) => f64::from(u8::from(*b)),
            Cell::Int(_) | Cell::BigInt(_) | Cell::Float(_) => c.as_f64().unwrap_or(f64::NAN),
            Cell::Str(s) => match crate::pyjson::py_float(s) {
                Some(x) => x,
                None => {
                    return Err(format!(
                        "Failed to convert column {name} from type object to double."
                    ))
                }
            },
            Cell::List(_) | Cell::Dict(_) => {
                return Err(format!("Invalid object type at position {i}"))
            }
        });
    }
    Ok(Column::F64(out))
}
