//! An enforced input as the worker's feeds (named as `worker.py` reads them): a DataFrame's
//! columns as one-dimensional tensors (they cross as one Arrow record batch, and merge with
//! other requests' rows when the model is batchable), arrays as tensors, and what has no typed
//! buffer (object cells, nested values, a list of records) as JSON text.

use base64::Engine;
use runtime_api::{Tensor, TensorData};

use crate::enforce::Enforced;
use crate::payload::{Array, Cell, ColName, Column, Frame};
use crate::pyjson::{write_cell_json, write_i64, write_str};

/// The feeds for one enforced input.
pub fn feeds(input: Enforced) -> Vec<(String, Tensor)> {
    match input {
        Enforced::Frame(f) => frame(f),
        Enforced::RecordList(f) => vec![scalar_json("r:", &records(&f))],
        Enforced::Array(a) => vec![array("a:", "A:", a)],
        Enforced::Dict(items) => items
            .into_iter()
            .map(|(name, a)| array(&format!("d:{name}"), &format!("D:{name}"), a))
            .collect(),
        Enforced::Other(c) => vec![scalar_json("v:", &json(&c))],
    }
}

/// The marker of a call whose params are an empty dict (not `None`): a scalar feed, so the
/// request is never merged.
pub fn empty_params() -> (String, Tensor) {
    scalar_json("P:", "{}")
}

fn label(name: &ColName) -> String {
    let mut out = Vec::new();
    match name {
        ColName::Str(s) => write_str(&mut out, s),
        ColName::Int(i) => write_i64(&mut out, *i),
        ColName::Other { header, .. } => write_str(&mut out, header),
    }
    String::from_utf8(out).unwrap_or_default()
}

fn column(rows: usize, data: TensorData) -> Tensor {
    Tensor {
        shape: vec![rows],
        data,
    }
}

fn frame(f: Frame) -> Vec<(String, Tensor)> {
    let n = f.nrows;
    let mut out = Vec::with_capacity(f.columns.len());
    for (name, col) in f.columns {
        let l = label(&name);
        let data = match col {
            Column::Bool(v) => TensorData::Bool(v),
            Column::I8(v) => TensorData::I8(v),
            Column::I16(v) => TensorData::I16(v),
            Column::I32(v) => TensorData::I32(v),
            Column::I64(v) => TensorData::I64(v),
            Column::U8(v) => TensorData::U8(v),
            Column::U16(v) => TensorData::U16(v),
            Column::U32(v) => TensorData::U32(v),
            Column::U64(v) => TensorData::U64(v),
            Column::F32(v) => TensorData::F32(v),
            Column::F64(v) => TensorData::F64(v),
            Column::Str(v) => {
                let missing: Vec<bool> = v.iter().map(Option::is_none).collect();
                let strings = v.into_iter().map(Option::unwrap_or_default).collect();
                out.push((format!("c:{l}"), column(n, TensorData::Str(strings))));
                if missing.iter().any(|m| *m) {
                    out.push((format!("n:{l}"), column(n, TensorData::Bool(missing))));
                }
                continue;
            }
            Column::Bytes(v) => {
                let missing: Vec<bool> = v.iter().map(Option::is_none).collect();
                let b64 = base64::engine::general_purpose::STANDARD;
                let texts = v
                    .iter()
                    .map(|b| b.as_deref().map(|b| b64.encode(b)).unwrap_or_default())
                    .collect();
                out.push((format!("b:{l}"), column(n, TensorData::Str(texts))));
                if missing.iter().any(|m| *m) {
                    out.push((format!("n:{l}"), column(n, TensorData::Bool(missing))));
                }
                continue;
            }
            Column::Object(cells) => TensorData::Str(cells.iter().map(json).collect()),
        };
        let tag = if matches!(data, TensorData::Str(_)) {
            "j"
        } else {
            "c"
        };
        out.push((format!("{tag}:{l}"), column(n, data)));
    }
    out
}

fn array(typed: &str, cells_name: &str, a: Array) -> (String, Tensor) {
    match a {
        Array::Typed(t) => (typed.to_string(), t),
        Array::Cells { shape, cells } => {
            let mut out = Vec::new();
            nested(&mut out, &cells, &shape, &mut 0);
            scalar_json(cells_name, &String::from_utf8(out).unwrap_or_default())
        }
    }
}

fn nested(out: &mut Vec<u8>, cells: &[Cell], shape: &[usize], at: &mut usize) {
    match shape.split_first() {
        None => {
            if let Some(c) = cells.get(*at) {
                write_cell_json(out, c);
            }
            *at += 1;
        }
        Some((&n, rest)) => {
            out.push(b'[');
            for i in 0..n {
                if i > 0 {
                    out.push(b',');
                }
                nested(out, cells, rest, at);
            }
            out.push(b']');
        }
    }
}

/// A list of records as MLflow hands it to the model: one dict per row, keys in column order.
fn records(f: &Frame) -> String {
    let mut out = vec![b'['];
    for row in 0..f.nrows {
        if row > 0 {
            out.push(b',');
        }
        out.push(b'{');
        for (j, (name, col)) in f.columns.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            write_str(&mut out, &name.as_key());
            out.push(b':');
            write_cell_json(&mut out, &cell_at(col, row));
        }
        out.push(b'}');
    }
    out.push(b']');
    String::from_utf8(out).unwrap_or_default()
}

fn cell_at(col: &Column, i: usize) -> Cell {
    match col {
        Column::Bool(v) => Cell::Bool(v[i]),
        Column::I8(v) => Cell::Int(v[i].into()),
        Column::I16(v) => Cell::Int(v[i].into()),
        Column::I32(v) => Cell::Int(v[i].into()),
        Column::I64(v) => Cell::Int(v[i]),
        Column::U8(v) => Cell::Int(v[i].into()),
        Column::U16(v) => Cell::Int(v[i].into()),
        Column::U32(v) => Cell::Int(v[i].into()),
        Column::U64(v) => i64::try_from(v[i]).map_or(Cell::BigInt(v[i].to_string()), Cell::Int),
        Column::F32(v) => Cell::Float(v[i].into()),
        Column::F64(v) => Cell::Float(v[i]),
        Column::Str(v) => v[i].clone().map_or(Cell::Float(f64::NAN), Cell::Str),
        Column::Bytes(v) => v[i].as_ref().map_or(Cell::Null, |b| {
            Cell::Str(String::from_utf8_lossy(b).into_owned())
        }),
        Column::Object(v) => v[i].clone(),
    }
}

fn scalar_json(name: &str, text: &str) -> (String, Tensor) {
    (
        name.to_string(),
        Tensor {
            shape: vec![],
            data: TensorData::Str(vec![text.to_string()]),
        },
    )
}

/// A cell as JSON that Python's `json.loads` reads back to the same value (NaN and the
/// infinities in Python's spelling).
fn json(c: &Cell) -> String {
    let mut out = Vec::new();
    write_cell_json(&mut out, c);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_becomes_one_column_feed_each_with_masks_for_missing_strings() {
        let f = Frame {
            columns: vec![
                (ColName::Str("x".into()), Column::F64(vec![1.0, 2.0])),
                (ColName::Int(3), Column::Str(vec![Some("a".into()), None])),
                (
                    ColName::Str("o".into()),
                    Column::Object(vec![Cell::List(vec![Cell::Int(1)]), Cell::Float(f64::NAN)]),
                ),
            ],
            nrows: 2,
        };
        let names: Vec<String> = feeds(Enforced::Frame(f))
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["c:\"x\"", "c:3", "n:3", "j:\"o\""]);
    }

    #[test]
    fn values_without_rows_are_scalar_feeds_so_they_are_never_merged() {
        let (name, t) = feeds(Enforced::Other(Cell::Str("hi".into()))).remove(0);
        assert_eq!((name.as_str(), t.shape.len()), ("v:", 0));
        assert_eq!(t.data, TensorData::Str(vec!["\"hi\"".into()]));
    }
}
