//! `dataframe_split`: `pd.DataFrame(index=, columns=, data=)` as pandas 3.1 builds it for
//! every shape of `data` (rows, records, a dict of columns or of row objects, a scalar with
//! an index, `null`), `index`/`columns` as lists, dicts or MultiIndex arrays, one row
//! broadcast to a longer index. Found by `tests/golden/sweep.py`, recorded from MLflow in
//! `tests/golden/sweep_*.json`; every size is checked against the cell budget before it is
//! built, and every key lookup is hashed (linear in the body).

use std::collections::HashMap;

use super::errors::{internal, invalid, py_type_of};
use super::frame::{read_list, ColBuf, Rows};
use super::scan::{KeyIndex, Kind, Scanner};
use crate::payload::data::{ColName, Column, Frame, Input};
use crate::payload::{CellBudget, PayloadError};
use crate::pyjson::{join_bounded, str_repr, Cell};

fn split_error(msg: String) -> PayloadError {
    invalid(format!(
        "Provided dataframe_split field is not a valid dataframe representation in 'split' format. Error: '{msg}'"
    ))
}

/// One value of a `dataframe_split` `data` object (`pd.DataFrame(data=dict)`).
enum DictValue {
    /// A list: the column's values.
    List(ColBuf, usize),
    /// An object: values by row label.
    Dict(Vec<(String, Cell)>),
    /// Anything else: broadcast to every row.
    Scalar(Cell),
}

/// What `data` of a `dataframe_split` holds.
enum SplitData {
    Rows(Rows),
    Dict(Vec<(String, DictValue)>),
    Scalar(Cell),
    Null,
}

fn read_split_data(s: &mut Scanner<'_>, budget: CellBudget) -> Result<SplitData, PayloadError> {
    match s.kind().map_err(internal)? {
        Kind::Array => Ok(SplitData::Rows(read_list(s, budget, split_error)?)),
        Kind::Null => {
            s.null().map_err(internal)?;
            Ok(SplitData::Null)
        }
        Kind::Object => {
            let mut entries: Vec<(String, DictValue)> = Vec::new();
            let mut seen: HashMap<String, usize> = HashMap::new();
            let mut key = s.object_open().map_err(internal)?;
            while let Some(k) = key {
                let value = match s.kind().map_err(internal)? {
                    Kind::Array => {
                        let mut buf = ColBuf::Empty { nulls: 0 };
                        let mut n = 0;
                        if s.array_open().map_err(internal)? {
                            loop {
                                n += 1;
                                budget.check(n, entries.len() + 1)?;
                                buf.read(s)?;
                                if !s.array_next().map_err(internal)? {
                                    break;
                                }
                            }
                        }
                        DictValue::List(buf, n)
                    }
                    Kind::Object => match s.cell(3).map_err(internal)? {
                        Cell::Dict(d) => DictValue::Dict(d),
                        other => DictValue::Scalar(other),
                    },
                    _ => DictValue::Scalar(s.cell(2).map_err(internal)?),
                };
                // a repeated key: the last one wins, where the first one was
                match seen.get(&*k) {
                    Some(&i) => entries[i].1 = value,
                    None => {
                        seen.insert(k.to_string(), entries.len());
                        entries.push((k.into_owned(), value));
                    }
                }
                key = s.object_next().map_err(internal)?;
            }
            Ok(SplitData::Dict(entries))
        }
        _ => Ok(SplitData::Scalar(s.cell(2).map_err(internal)?)),
    }
}

/// The number of rows an `index` gives (`None`: no index, pandas' default).
fn read_index(s: &mut Scanner<'_>) -> Result<Option<usize>, PayloadError> {
    match s.cell(2).map_err(internal)? {
        Cell::Null => Ok(None),
        // a list of lists is a MultiIndex: one level per inner list
        Cell::List(v) => match v.first() {
            Some(Cell::List(first)) => {
                let n = first.len();
                if v.iter().any(|c| matches!(c, Cell::List(l) if l.len() != n)) {
                    return Err(split_error("all arrays must be same length".into()));
                }
                Ok(Some(n))
            }
            _ => Ok(Some(v.len())),
        },
        Cell::Dict(d) => Ok(Some(d.len())),
        other => Err(split_error(format!(
            "Index(...) must be called with a collection of some kind, {} was passed",
            other.py_repr()
        ))),
    }
}

/// A column of `n` copies of one value, typed as pandas types a broadcast scalar.
fn broadcast(cell: &Cell, n: usize) -> Column {
    Column::infer(vec![cell.clone(); n])
}

/// A one-row column repeated to `n` rows (pandas broadcasts a single row to the index); a
/// column of `n` rows as it is.
fn repeat_row(col: Column, n: usize) -> Column {
    if col.len() == n {
        col
    } else {
        col.take(&vec![0; n])
    }
}

/// pandas' refusal of `values` rows for an index of `n` labels.
fn index_mismatch(values: usize, n: usize) -> PayloadError {
    split_error(format!(
        "Length of values ({values}) does not match length of index ({n})"
    ))
}

pub(super) fn read_split(s: &mut Scanner<'_>, budget: CellBudget) -> Result<Input, PayloadError> {
    let kind = s.kind().map_err(internal)?;
    if kind != Kind::Object {
        let got = if kind == Kind::Array {
            "list".to_string()
        } else {
            format!("type <class '{}'>", py_type_of(kind, s))
        };
        return Err(invalid(format!(
            "Dataframe split format must be a dictionary. Got {got}."
        )));
    }
    let mut columns: Option<Vec<ColName>> = None;
    let mut data: Option<SplitData> = None;
    let mut index_len: Option<usize> = None;
    let mut keys: Vec<String> = Vec::new();
    let mut index = KeyIndex::new();
    let mut key = s.object_open().map_err(internal)?;
    while let Some(k) = key {
        if index
            .position(&k, keys.len(), |i| Some(keys[i].as_str()))
            .is_none()
        {
            index.push(&k, keys.len());
            keys.push(k.to_string());
        }
        match &*k {
            // `"columns": null` is pandas' default labels, as if absent
            "columns" if s.kind().map_err(internal)? == Kind::Null => {
                s.skip(2).map_err(internal)?;
                columns = None;
            }
            "columns" => columns = Some(read_labels(s)?),
            "data" => data = Some(read_split_data(s, budget)?),
            "index" => index_len = read_index(s)?,
            _ => s.skip(2).map_err(internal)?,
        }
        key = s.object_next().map_err(internal)?;
    }
    let data = match data {
        Some(d)
            if keys
                .iter()
                .all(|k| ["columns", "data", "index"].contains(&k.as_str())) =>
        {
            d
        }
        _ => {
            let set = join_bounded(keys.iter().map(|k| str_repr(k)), ", ");
            return Err(invalid(format!(
                "Dataframe split format must have 'data' field and optionally 'columns' and 'index' fields. Got {{{set}}}.'"
            )));
        }
    };
    if let Some(e) = s.lone_surrogate.take() {
        // pandas' string columns are UTF-8 (pyarrow): a lone surrogate cannot be stored.
        return Err(split_error(e));
    }
    let frame = match data {
        SplitData::Rows(rows) => frame_from_rows(rows, columns, index_len, budget)?,
        SplitData::Dict(entries) => frame_from_dict(entries, columns, index_len, budget)?,
        SplitData::Scalar(cell) => match (columns, index_len) {
            (Some(labels), Some(n)) => {
                budget.check(n, labels.len())?;
                let columns = labels
                    .into_iter()
                    .map(|l| (l, broadcast(&cell, n)))
                    .collect();
                Frame { columns, nrows: n }
            }
            _ => {
                return Err(split_error(
                    "DataFrame constructor not properly called!".into(),
                ))
            }
        },
        SplitData::Null => {
            let n = index_len.unwrap_or(0);
            let labels = columns.unwrap_or_default();
            budget.check(n, labels.len())?;
            let columns = labels
                .into_iter()
                .map(|l| (l, Column::Object(vec![Cell::Null; n])))
                .collect();
            Frame { columns, nrows: n }
        }
    };
    Ok(Input::Frame(frame))
}

/// `pd.DataFrame(index=, columns=, data=list)`.
fn frame_from_rows(
    rows: Rows,
    labels: Option<Vec<ColName>>,
    index_len: Option<usize>,
    budget: CellBudget,
) -> Result<Frame, PayloadError> {
    let flat = matches!(rows, Rows::Flat { .. });
    let records = matches!(rows, Rows::Records { .. });
    let (cols, nrows) = rows.into_columns();
    if flat {
        let implied = labels.as_ref().map_or(1, Vec::len);
        if implied != 1 || index_len.is_some_and(|n| n != nrows) {
            return Err(split_error(format!(
                "Shape of passed values is ({nrows}, 1), indices imply ({}, {implied})",
                index_len.unwrap_or(nrows)
            )));
        }
    }
    let cols: Vec<(ColName, Option<ColBuf>)> = match labels {
        // records: the labels choose columns by name, a missing one is all NaN
        Some(labels) if records => {
            let mut by_name: HashMap<ColName, ColBuf> = cols.into_iter().collect();
            labels
                .into_iter()
                .map(|l| {
                    let b = by_name.remove(&l);
                    (l, Some(b.unwrap_or(ColBuf::Floats(vec![f64::NAN; nrows]))))
                })
                .collect()
        }
        Some(labels) => {
            if nrows > 0 && labels.len() != cols.len() {
                return Err(split_error(format!(
                    "{} columns passed, passed data had {} columns",
                    labels.len(),
                    cols.len()
                )));
            }
            let mut bufs = cols.into_iter().map(|(_, b)| b);
            labels.into_iter().map(|l| (l, bufs.next())).collect()
        }
        None => cols.into_iter().map(|(n, b)| (n, Some(b))).collect(),
    };
    let rows_out = match index_len {
        None => nrows,
        Some(n) if n == nrows || nrows <= 1 => n,
        Some(n) => return Err(index_mismatch(nrows, n)),
    };
    budget.check(rows_out, cols.len())?;
    let columns = cols
        .into_iter()
        .map(|(label, b)| {
            let col = match b {
                Some(mut b) if nrows > 0 => {
                    b.pad(nrows);
                    repeat_row(b.finish(), rows_out)
                }
                _ => Column::Object(vec![Cell::Null; rows_out]),
            };
            (label, col)
        })
        .collect();
    Ok(Frame {
        columns,
        nrows: rows_out,
    })
}

/// `pd.DataFrame(index=, columns=, data=dict)`: one column per key (or per label, in the
/// labels' order, a missing one all NaN), lists of one length, scalars broadcast.
fn frame_from_dict(
    entries: Vec<(String, DictValue)>,
    labels: Option<Vec<ColName>>,
    index_len: Option<usize>,
    budget: CellBudget,
) -> Result<Frame, PayloadError> {
    let chosen: Vec<(ColName, Option<DictValue>)> = match labels {
        Some(labels) => {
            let mut by_key: HashMap<String, DictValue> = entries.into_iter().collect();
            labels
                .into_iter()
                .map(|l| {
                    let v = match &l {
                        ColName::Str(name) => by_key.remove(name),
                        ColName::Int(_) | ColName::Other { .. } => None,
                    };
                    (l, v)
                })
                .collect()
        }
        None => entries
            .into_iter()
            .map(|(k, v)| (ColName::Str(k), Some(v)))
            .collect(),
    };
    let dicts = chosen
        .iter()
        .filter(|(_, v)| matches!(v, Some(DictValue::Dict(_))))
        .count();
    let present = chosen.iter().filter(|(_, v)| v.is_some()).count();
    if dicts > 0 && dicts < present {
        return Err(split_error(
            "Mixing dicts with non-Series may lead to ambiguous ordering.".into(),
        ));
    }
    if dicts > 0 {
        return frame_from_dict_of_dicts(chosen, index_len, budget);
    }
    let list_lens: Vec<usize> = chosen
        .iter()
        .filter_map(|(_, v)| match v {
            Some(DictValue::List(_, n)) => Some(*n),
            _ => None,
        })
        .collect();
    let nrows = match index_len {
        Some(n) => {
            if let Some(bad) = list_lens.iter().find(|&&l| l != n && l != 1) {
                return Err(index_mismatch(*bad, n));
            }
            n
        }
        None => match list_lens.first() {
            Some(&l) => {
                if list_lens.iter().any(|&m| m != l) {
                    return Err(split_error("All arrays must be of the same length".into()));
                }
                l
            }
            None if present > 0 => {
                return Err(split_error(
                    "If using all scalar values, you must pass an index".into(),
                ))
            }
            None => 0,
        },
    };
    budget.check(nrows, chosen.len())?;
    let columns = chosen
        .into_iter()
        .map(|(label, v)| {
            let col = match v {
                Some(DictValue::List(b, _)) => repeat_row(b.finish(), nrows),
                Some(DictValue::Scalar(c)) => broadcast(&c, nrows),
                Some(DictValue::Dict(_)) | None => Column::Object(vec![Cell::Null; nrows]),
            };
            (label, col)
        })
        .collect();
    Ok(Frame { columns, nrows })
}

/// Every chosen value an object: rows are the union of their keys in order of first
/// appearance, a key a column lacks is NaN.
fn frame_from_dict_of_dicts(
    chosen: Vec<(ColName, Option<DictValue>)>,
    index_len: Option<usize>,
    budget: CellBudget,
) -> Result<Frame, PayloadError> {
    let mut row_keys: Vec<&str> = Vec::new();
    let mut row_of: HashMap<&str, usize> = HashMap::new();
    for (_, v) in &chosen {
        if let Some(DictValue::Dict(d)) = v {
            for (k, _) in d {
                if !row_of.contains_key(k.as_str()) {
                    row_of.insert(k, row_keys.len());
                    row_keys.push(k);
                }
            }
        }
    }
    let nrows = row_keys.len();
    if let Some(n) = index_len.filter(|&n| n != nrows) {
        return Err(index_mismatch(nrows, n));
    }
    budget.check(nrows, chosen.len())?;
    let columns = chosen
        .iter()
        .map(|(label, v)| {
            let mut cells = vec![Cell::Null; nrows];
            if let Some(DictValue::Dict(d)) = v {
                // (a repeated key: the last one wins)
                for (k, c) in d {
                    if let Some(&r) = row_of.get(k.as_str()) {
                        cells[r] = c.clone();
                    }
                }
            }
            (label.clone(), Column::infer(cells))
        })
        .collect();
    Ok(Frame { columns, nrows })
}

fn read_labels(s: &mut Scanner<'_>) -> Result<Vec<ColName>, PayloadError> {
    let label = |c: Cell| match c {
        Cell::Str(s) => ColName::Str(s),
        Cell::Int(i) => ColName::Int(i),
        // pandas turns a missing label into NaN
        Cell::Null => ColName::Other {
            repr: "nan".into(),
            header: "NaN".into(),
        },
        // a list of lists is a MultiIndex: labels are tuples
        Cell::List(level) => {
            let items: Vec<String> = level.iter().map(Cell::py_repr).collect();
            let repr = if items.len() == 1 {
                format!("({},)", items[0])
            } else {
                format!("({})", items.join(", "))
            };
            ColName::Other {
                header: repr.clone(),
                repr,
            }
        }
        other => ColName::Str(other.py_repr()),
    };
    match s.cell(2).map_err(internal)? {
        Cell::List(v) => {
            if let Some(Cell::List(_)) = v.first() {
                // MultiIndex from arrays: one label per position, one level per list
                let n = match v.first() {
                    Some(Cell::List(l)) => l.len(),
                    _ => 0,
                };
                let levels: Vec<Vec<Cell>> = v
                    .into_iter()
                    .map(|c| match c {
                        Cell::List(l) => l,
                        other => vec![other],
                    })
                    .collect();
                return Ok((0..n)
                    .map(|i| {
                        label(Cell::List(
                            levels
                                .iter()
                                .map(|l| l.get(i).cloned().unwrap_or(Cell::Null))
                                .collect(),
                        ))
                    })
                    .collect());
            }
            Ok(v.into_iter().map(label).collect())
        }
        Cell::Dict(d) => Ok(d.into_iter().map(|(k, _)| ColName::Str(k)).collect()),
        other => Err(split_error(format!(
            "Index(...) must be called with a collection of some kind, {} was passed",
            other.py_repr()
        ))),
    }
}
