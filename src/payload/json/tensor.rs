//! `instances` and `inputs` read as tensors: nested lists straight into a typed buffer of
//! the signature's dtype (or the one the values imply), dicts of named tensors, and the
//! records form of `inputs`.

use runtime_api::DType;

use super::array::{convert_scalar, ArrayBuilder, Scalar};
use super::errors::{internal, invalid};
use super::scan::{KeyIndex, Kind, Scanner};
use crate::model::signature::{ColType, InputSchema};
use crate::payload::data::{Array, Input};
use crate::payload::{CellBudget, PayloadError};
use crate::pyjson::Cell;

/// numpy dtype a spec converts to at parse time.
pub fn spec_dtype(schema: Option<&InputSchema>, name: Option<&str>) -> Option<DType> {
    match schema? {
        InputSchema::Columns(cols) => {
            let c = match name {
                Some(n) => cols.iter().find(|c| c.name.as_deref() == Some(n))?,
                None => cols.first()?,
            };
            match c.ty {
                ColType::Boolean => Some(DType::Bool),
                ColType::Integer => Some(DType::I32),
                ColType::Long => Some(DType::I64),
                ColType::Float => Some(DType::F32),
                ColType::Double => Some(DType::F64),
                ColType::String => Some(DType::Str),
                _ => None,
            }
        }
        InputSchema::Tensors(ts) => {
            let t = match name {
                Some(n) => ts.iter().find(|t| t.name.as_deref() == Some(n))?,
                None => ts.first()?,
            };
            t.dtype
        }
    }
}

fn finish_array(b: ArrayBuilder) -> Result<Array, PayloadError> {
    b.finish().map_err(invalid)
}

/// `inputs` / `instances` (TF-serving formats).
pub(super) fn read_tf(
    s: &mut Scanner<'_>,
    schema: Option<&InputSchema>,
    instances: bool,
    budget: CellBudget,
) -> Result<Input, PayloadError> {
    let unnamed = schema.is_some_and(|sc| !sc.has_names());
    let kind = s.kind().map_err(internal)?;
    let input = match kind {
        Kind::Object => {
            if unnamed {
                return Err(invalid("Failed to parse input data. This model contains an un-named  model signature which expects a single n-dimensional array or a single value as input, however, an input of type <class 'dict'> was found."));
            }
            let mut items: Vec<(String, Array)> = Vec::new();
            let mut index = KeyIndex::new();
            let mut key = s.object_open().map_err(internal)?;
            while let Some(k) = key {
                let mut b = ArrayBuilder::new(spec_dtype(schema, Some(&k)));
                b.value(s, 0).map_err(internal)?;
                let a = finish_array(b)?;
                match index.position(&k, items.len(), |i| Some(items[i].0.as_str())) {
                    Some(i) => items[i].1 = a,
                    None => {
                        index.push(&k, items.len());
                        items.push((k.into_owned(), a));
                    }
                }
                key = s.object_next().map_err(internal)?;
            }
            Input::Dict(items)
        }
        Kind::Array => {
            let start = s.pos;
            let nonempty = s.array_open().map_err(internal)?;
            if !nonempty {
                return Ok(Input::Other(Cell::List(Vec::new())));
            }
            let first_is_dict = s.kind().map_err(internal)? == Kind::Object;
            s.pos = start;
            let single_named_col = match schema {
                Some(InputSchema::Columns(c)) if c.len() == 1 => c[0].name.clone(),
                _ => None,
            };
            if first_is_dict {
                if instances {
                    read_instance_rows(s, schema)?
                } else {
                    read_input_records(s, schema, budget)?
                }
            } else if let Some(col) = single_named_col {
                let mut b = ArrayBuilder::new(spec_dtype(schema, Some(&col)));
                b.value(s, 0).map_err(internal)?;
                Input::Dict(vec![(col, finish_array(b)?)])
            } else {
                let mut b = ArrayBuilder::new(spec_dtype(schema, None));
                b.value(s, 0).map_err(internal)?;
                Input::Array(finish_array(b)?)
            }
        }
        _ => {
            let c = s.cell(1).map_err(internal)?;
            match (schema, spec_dtype(schema, None)) {
                (Some(InputSchema::Tensors(_)), Some(dt)) => {
                    let mut b = ArrayBuilder::new(Some(dt));
                    b.scalar(0, c);
                    Input::Array(finish_array(b)?)
                }
                (Some(InputSchema::Columns(cols)), Some(dt)) => {
                    Input::Other(converted_cell(&c, dt).map_err(|_| {
                        // `{input_data}` and `{spec}`: Python's str() of both
                        invalid(format!(
                            "Failed to convert data `{}` to type `{}` defined in the model signature.",
                            c.py_str_bounded(),
                            cols.first().map_or_else(String::new, |c| c.repr())
                        ))
                    })?)
                }
                _ => Input::Other(c),
            }
        }
    };
    if instances {
        if let Input::Dict(items) = &input {
            let lens: Vec<usize> = items
                .iter()
                .filter_map(|(_, a)| a.shape().first().copied())
                .collect();
            if lens.windows(2).any(|w| w[0] != w[1]) {
                return Err(invalid(
                    "The length of values for each input/column name are not the same",
                ));
            }
        }
    }
    Ok(input)
}

fn converted_cell(c: &Cell, dt: DType) -> Result<Cell, String> {
    Ok(match convert_scalar(c, dt)? {
        Scalar::F(f) => Cell::Float(if dt == DType::F32 { f as f32 as f64 } else { f }),
        Scalar::I(i) => Cell::Int(i as i64),
        Scalar::B(b) => Cell::Bool(b),
        Scalar::S(s) => Cell::Str(s),
    })
}

/// `instances: [{...}, ...]`: rows transposed into one array per key.
fn read_instance_rows(
    s: &mut Scanner<'_>,
    schema: Option<&InputSchema>,
) -> Result<Input, PayloadError> {
    let mut builders: Vec<(String, ArrayBuilder, usize)> = Vec::new();
    let mut index = KeyIndex::new();
    s.array_open().map_err(internal)?;
    loop {
        if s.kind().map_err(internal)? != Kind::Object {
            let c = s.cell(2).map_err(internal)?;
            return Err(invalid(format!(
                "Expected a dictionary row, got {}",
                c.py_type()
            )));
        }
        let mut key = s.object_open().map_err(internal)?;
        while let Some(k) = key {
            let i = match index.position(&k, builders.len(), |i| Some(builders[i].0.as_str())) {
                Some(i) => i,
                None => {
                    index.push(&k, builders.len());
                    let dt = spec_dtype(schema, Some(&k));
                    builders.push((k.into_owned(), ArrayBuilder::new(dt), 0));
                    builders.len() - 1
                }
            };
            builders[i].1.value(s, 1).map_err(internal)?;
            builders[i].2 += 1;
            key = s.object_next().map_err(internal)?;
        }
        if !s.array_next().map_err(internal)? {
            break;
        }
    }
    let counts: Vec<usize> = builders.iter().map(|b| b.2).collect();
    if counts.windows(2).any(|w| w[0] != w[1]) {
        return Err(invalid(
            "The length of values for each input/column name are not the same",
        ));
    }
    let mut items = Vec::with_capacity(builders.len());
    for (name, mut b, n) in builders {
        b.outer(n);
        items.push((name, finish_array(b)?));
    }
    Ok(Input::Dict(items))
}

/// `inputs: [{...}, ...]`: a list of records whose cells are converted with their column's dtype.
fn read_input_records(
    s: &mut Scanner<'_>,
    schema: Option<&InputSchema>,
    budget: CellBudget,
) -> Result<Input, PayloadError> {
    let Cell::List(rows) = s.cell(1).map_err(internal)? else {
        return Err(invalid("expected a list"));
    };
    // Enforcement turns the records into a frame padded with nulls: bound it first.
    let mut names: Vec<&str> = Vec::new();
    let mut index = KeyIndex::new();
    for (r, row) in rows.iter().enumerate() {
        let Cell::Dict(kv) = row else { break };
        for (k, _) in kv {
            if index.position(k, names.len(), |i| Some(names[i])).is_none() {
                budget.check(r + 1, names.len() + 1)?;
                index.push(k, names.len());
                names.push(k);
            }
        }
    }
    budget.check(rows.len(), names.len())?;
    drop(names);
    if let Some(InputSchema::Tensors(specs)) = schema {
        if specs.first().is_some_and(|t| t.name.is_some())
            && rows.iter().all(|r| matches!(r, Cell::Dict(_)))
        {
            // `_cast_schema_type`: each value becomes `np.array(value, dtype)` of its name's
            // spec (no dtype for a name the signature lacks); the list stays a list.
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let Cell::Dict(kv) = row else { continue };
                let mut arrays = Vec::with_capacity(kv.len());
                for (k, v) in kv {
                    let mut b = ArrayBuilder::new(spec_dtype(schema, Some(&k)));
                    b.cell(0, v);
                    arrays.push((k, finish_array(b)?));
                }
                out.push(arrays);
            }
            return Ok(Input::DictRows(out));
        }
    }
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Cell::Dict(kv) = row else {
            return Ok(Input::Other(Cell::List(
                out.into_iter().map(Cell::Dict).collect(),
            )));
        };
        let mut conv = Vec::with_capacity(kv.len());
        for (k, v) in kv {
            let v = match spec_dtype(schema, Some(&k)) {
                Some(dt) => converted_cell(&v, dt).map_err(invalid)?,
                None => v,
            };
            conv.push((k, v));
        }
        out.push(conv);
    }
    Ok(Input::Records(out))
}
