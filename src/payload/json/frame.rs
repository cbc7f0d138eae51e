//! `dataframe_split` and `dataframe_records` read straight into typed columns: one buffer
//! per column, typed by the first row (or the signature), widened as pandas would when a
//! later row disagrees, with the cell budget checked before anything is padded.

use super::request::{internal, invalid, py_type_of};
use super::scan::{KeyIndex, Kind, Num, Scanner};
use crate::payload::data::{ColName, Column, Frame, Input};
use crate::payload::{CellBudget, PayloadError};
use crate::pyjson::{join_bounded, str_repr, Cell};

/// A column under construction: stays an i64 or f64 buffer while cells are numbers (pandas
/// would infer int64/float64), and falls back to cells for anything else.
#[derive(Debug)]
enum ColBuf {
    Empty { nulls: usize },
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Cells(Vec<Cell>),
}

impl ColBuf {
    fn len(&self) -> usize {
        match self {
            ColBuf::Empty { nulls } => *nulls,
            ColBuf::Ints(v) => v.len(),
            ColBuf::Floats(v) => v.len(),
            ColBuf::Cells(v) => v.len(),
        }
    }

    fn into_cells(self) -> Vec<Cell> {
        match self {
            ColBuf::Empty { nulls } => vec![Cell::Null; nulls],
            ColBuf::Ints(v) => v.into_iter().map(Cell::Int).collect(),
            ColBuf::Floats(v) => v.into_iter().map(Cell::Float).collect(),
            ColBuf::Cells(v) => v,
        }
    }

    #[inline]
    fn push_num(&mut self, n: Num<'_>) {
        match (&mut *self, n) {
            (ColBuf::Ints(v), Num::Int(i)) => v.push(i),
            (ColBuf::Floats(v), Num::Int(i)) => v.push(i as f64),
            (ColBuf::Floats(v), Num::Float(f)) => v.push(f),
            (ColBuf::Ints(v), Num::Float(f)) => {
                let mut w: Vec<f64> = v.iter().map(|&i| i as f64).collect();
                w.push(f);
                *self = ColBuf::Floats(w);
            }
            (ColBuf::Empty { nulls: 0 }, Num::Int(i)) => *self = ColBuf::Ints(vec![i]),
            (ColBuf::Empty { nulls: 0 }, Num::Float(f)) => *self = ColBuf::Floats(vec![f]),
            (_, n) => self.push_cell(match n {
                Num::Int(i) => Cell::Int(i),
                Num::BigInt(s) => Cell::BigInt(s.to_string()),
                Num::Float(f) => Cell::Float(f),
            }),
        }
    }

    fn push_null(&mut self) {
        match self {
            ColBuf::Empty { nulls } => *nulls += 1,
            ColBuf::Ints(v) => {
                let mut w: Vec<f64> = v.iter().map(|&i| i as f64).collect();
                w.push(f64::NAN);
                *self = ColBuf::Floats(w);
            }
            ColBuf::Floats(v) => v.push(f64::NAN),
            ColBuf::Cells(v) => v.push(Cell::Null),
        }
    }

    fn push_cell(&mut self, c: Cell) {
        if c == Cell::Null {
            return self.push_null();
        }
        if let ColBuf::Cells(v) = self {
            v.push(c);
            return;
        }
        let mut cells = std::mem::replace(self, ColBuf::Empty { nulls: 0 }).into_cells();
        cells.reserve_exact(1);
        cells.push(c);
        *self = ColBuf::Cells(cells);
    }

    fn read(&mut self, s: &mut Scanner<'_>) -> Result<(), PayloadError> {
        if let Some(n) = s.plain_number() {
            self.push_num(n);
            return Ok(());
        }
        match s.kind().map_err(internal)? {
            Kind::Number => {
                let n = s.number().map_err(internal)?;
                self.push_num(n);
            }
            Kind::Null => {
                s.null().map_err(internal)?;
                self.push_null();
            }
            _ => {
                let c = s.cell(2).map_err(internal)?;
                self.push_cell(c);
            }
        }
        Ok(())
    }

    /// Makes room for `n` more cells (a guess from the first row's size).
    fn reserve(&mut self, n: usize) {
        match self {
            ColBuf::Empty { .. } => {}
            ColBuf::Ints(v) => v.reserve(n),
            ColBuf::Floats(v) => v.reserve(n),
            ColBuf::Cells(v) => v.reserve(n),
        }
    }

    fn pad(&mut self, n: usize) {
        while self.len() < n {
            self.push_null();
        }
    }

    fn finish(self) -> Column {
        match self {
            ColBuf::Ints(v) => Column::I64(v),
            ColBuf::Floats(v) => Column::F64(v),
            other => Column::infer(other.into_cells()),
        }
    }
}

/// Upper bound on the rows pre-allocated from the first row's size.
const MAX_ROWS_GUESS: usize = 1 << 20;

/// Rows tend to be alike: sizes the columns for as many more rows as the rest of the
/// document would hold if they were as long as the first one (which began at `first_row`).
fn reserve_like_first_row(bufs: &mut [ColBuf], s: &Scanner<'_>, first_row: usize) {
    let row_bytes = (s.pos - first_row).max(1) + 1;
    let guess = ((s.doc.len() - s.pos) / row_bytes).min(MAX_ROWS_GUESS);
    for b in bufs {
        b.reserve(guess);
    }
}

/// Why `dict(record)` fails for a record that is not a JSON object (`None`: it is an empty
/// record). Key/value pair lists, which `dict()` would read, are refused too: a deliberate
/// divergence (README).
fn not_a_record(record: &Cell) -> Option<String> {
    let pair_error = |len: usize| {
        Some(format!(
            "dictionary update sequence element #0 has length {len}; 2 is required"
        ))
    };
    match record {
        Cell::Null => Some("'NoneType' object is not iterable".into()),
        Cell::Bool(_) => Some("'bool' object is not iterable".into()),
        Cell::Int(_) | Cell::BigInt(_) => Some("'int' object is not iterable".into()),
        Cell::Float(_) => Some("'float' object is not iterable".into()),
        Cell::Str(s) if s.is_empty() => None,
        Cell::Str(_) => pair_error(1),
        Cell::List(items) => match items.first() {
            None => None,
            Some(Cell::List(pair)) if pair.len() != 2 => pair_error(pair.len()),
            Some(Cell::Str(s)) if s.chars().count() != 2 => pair_error(s.chars().count()),
            Some(Cell::List(_) | Cell::Str(_) | Cell::Dict(_)) => {
                Some("mlflow-serve does not read records given as key/value pairs".into())
            }
            Some(_) => {
                Some("cannot convert dictionary update sequence element #0 to a sequence".into())
            }
        },
        Cell::Dict(_) => None,
    }
}

fn split_error(msg: String) -> PayloadError {
    invalid(format!(
        "Provided dataframe_split field is not a valid dataframe representation in 'split' format. Error: '{msg}'"
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
    let mut data: Option<(Vec<ColBuf>, usize)> = None;
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
            "data" => data = Some(read_rows(s, budget)?),
            "index" => {
                index_len = Some(match s.cell(2).map_err(internal)? {
                    Cell::List(v) => v.len(),
                    _ => 1,
                })
            }
            _ => s.skip(2).map_err(internal)?,
        }
        key = s.object_next().map_err(internal)?;
    }
    let (bufs, nrows) = match data {
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
    let ncols = bufs.len();
    let labels = match columns {
        Some(c) => {
            if nrows > 0 && c.len() != ncols {
                return Err(split_error(format!(
                    "{} columns passed, passed data had {ncols} columns",
                    c.len()
                )));
            }
            c
        }
        None => (0..ncols as i64).map(ColName::Int).collect(),
    };
    if let Some(n) = index_len {
        if n != nrows && !(nrows == 0 && labels.is_empty()) {
            return Err(split_error(format!(
                "Length of values ({nrows}) does not match length of index ({n})"
            )));
        }
    }
    if let Some(e) = s.lone_surrogate.take() {
        // pandas' string columns are UTF-8 (pyarrow): a lone surrogate cannot be stored.
        return Err(split_error(e));
    }
    let mut cols: Vec<(ColName, Column)> = Vec::with_capacity(labels.len());
    let mut bufs = bufs.into_iter();
    for label in labels {
        let col = match bufs.next() {
            Some(mut b) => {
                b.pad(nrows);
                b.finish()
            }
            None => Column::Object(vec![Cell::Null; nrows]),
        };
        cols.push((label, col));
    }
    Ok(Input::Frame(Frame {
        columns: cols,
        nrows,
    }))
}

fn read_labels(s: &mut Scanner<'_>) -> Result<Vec<ColName>, PayloadError> {
    match s.cell(2).map_err(internal)? {
        Cell::List(v) => Ok(v
            .into_iter()
            .map(|c| match c {
                Cell::Str(s) => ColName::Str(s),
                Cell::Int(i) => ColName::Int(i),
                other => ColName::Str(other.py_repr()),
            })
            .collect()),
        other => Err(split_error(format!(
            "Index(...) must be called with a collection of some kind, {} was passed",
            other.py_repr()
        ))),
    }
}

/// Reads `data`: a list of rows (lists), or a list of scalars (one column).
fn read_rows(
    s: &mut Scanner<'_>,
    budget: CellBudget,
) -> Result<(Vec<ColBuf>, usize), PayloadError> {
    if s.kind().map_err(internal)? != Kind::Array {
        let c = s.cell(2).map_err(internal)?;
        return Err(split_error(format!(
            "DataFrame constructor not properly called! (got {})",
            c.py_type()
        )));
    }
    let mut bufs: Vec<ColBuf> = Vec::new();
    let mut nrows = 0usize;
    if s.array_open().map_err(internal)? {
        let first_row = s.pos;
        loop {
            if s.kind().map_err(internal)? == Kind::Array {
                let mut i = 0;
                if s.array_open().map_err(internal)? {
                    loop {
                        if bufs.len() <= i {
                            budget.check(nrows + 1, i + 1)?;
                            let mut b = ColBuf::Empty { nulls: 0 };
                            b.pad(nrows);
                            bufs.push(b);
                        }
                        bufs[i].read(s)?;
                        i += 1;
                        if !s.array_next().map_err(internal)? {
                            break;
                        }
                    }
                }
                if i < bufs.len() {
                    budget.check(nrows + 1, bufs.len())?;
                }
                for b in bufs.iter_mut().skip(i) {
                    b.push_null();
                }
            } else {
                if bufs.is_empty() {
                    bufs.push(ColBuf::Empty { nulls: nrows });
                }
                bufs[0].read(s)?;
                if bufs.len() > 1 {
                    budget.check(nrows + 1, bufs.len())?;
                }
                for b in bufs.iter_mut().skip(1) {
                    b.push_null();
                }
            }
            nrows += 1;
            if nrows == 1 {
                reserve_like_first_row(&mut bufs, s, first_row);
            }
            if !s.array_next().map_err(internal)? {
                break;
            }
        }
    }
    Ok((bufs, nrows))
}

pub(super) fn read_records(s: &mut Scanner<'_>, budget: CellBudget) -> Result<Input, PayloadError> {
    let kind = s.kind().map_err(internal)?;
    if kind != Kind::Array {
        let got = if kind == Kind::Object {
            "dictionary".to_string()
        } else {
            format!("type <class '{}'>", py_type_of(kind, s))
        };
        return Err(invalid(format!(
            "Dataframe records format must be a list of records. Got {got}."
        )));
    }
    let mut names: Vec<ColName> = Vec::new();
    let mut index = KeyIndex::new();
    let mut bufs: Vec<ColBuf> = Vec::new();
    let mut nrows = 0usize;
    if s.array_open().map_err(internal)? {
        let first_row = s.pos;
        // pandas builds a list whose first record is a dict with `dict(record)` of each.
        let dict_rows = s.kind().map_err(internal)? == Kind::Object;
        loop {
            let kind = s.kind().map_err(internal)?;
            if dict_rows && kind != Kind::Object {
                let record = s.cell(2).map_err(internal)?;
                if let Some(e) = not_a_record(&record) {
                    return Err(invalid(format!(
                        "Provided dataframe_records field is not a valid dataframe representation in 'records' format. Error: '{e}'"
                    )));
                }
                // `dict([])`, `dict("")`: a row of missing values
                nrows += 1;
                budget.check(nrows, names.len())?;
                if !s.array_next().map_err(internal)? {
                    break;
                }
                continue;
            }
            match kind {
                Kind::Object => {
                    let mut key = s.object_open().map_err(internal)?;
                    while let Some(k) = key {
                        let found = index.position(&k, names.len(), |i| match &names[i] {
                            ColName::Str(s) => Some(s.as_str()),
                            ColName::Int(_) => None,
                        });
                        let i = match found {
                            Some(i) => i,
                            None => {
                                budget.check(nrows + 1, names.len() + 1)?;
                                index.push(&k, names.len());
                                names.push(ColName::Str(k.into_owned()));
                                bufs.push(ColBuf::Empty { nulls: 0 });
                                bufs.len() - 1
                            }
                        };
                        bufs[i].pad(nrows);
                        if bufs[i].len() > nrows {
                            // duplicate key inside one record: last wins
                            let c = s.cell(2).map_err(internal)?;
                            let mut cells =
                                std::mem::replace(&mut bufs[i], ColBuf::Empty { nulls: 0 })
                                    .into_cells();
                            cells.pop();
                            let mut nb = ColBuf::Cells(cells);
                            nb.push_cell(c);
                            bufs[i] = nb;
                        } else {
                            bufs[i].read(s)?;
                        }
                        key = s.object_next().map_err(internal)?;
                    }
                }
                Kind::Array => {
                    let mut i = 0;
                    if s.array_open().map_err(internal)? {
                        loop {
                            if names.len() <= i {
                                budget.check(nrows + 1, i + 1)?;
                                names.push(ColName::Int(i as i64));
                                bufs.push(ColBuf::Empty { nulls: 0 });
                            }
                            bufs[i].pad(nrows);
                            bufs[i].read(s)?;
                            i += 1;
                            if !s.array_next().map_err(internal)? {
                                break;
                            }
                        }
                    }
                }
                _ => {
                    if names.is_empty() {
                        names.push(ColName::Int(0));
                        bufs.push(ColBuf::Empty { nulls: 0 });
                    }
                    bufs[0].pad(nrows);
                    bufs[0].read(s)?;
                }
            }
            nrows += 1;
            budget.check(nrows, names.len())?;
            if nrows == 1 {
                reserve_like_first_row(&mut bufs, s, first_row);
            }
            if !s.array_next().map_err(internal)? {
                break;
            }
        }
    }
    if let Some(e) = s.lone_surrogate.take() {
        return Err(invalid(format!(
            "Provided dataframe_records field is not a valid dataframe representation in 'records' format. Error: '{e}'"
        )));
    }
    let columns = names
        .into_iter()
        .zip(bufs)
        .map(|(n, mut b)| {
            b.pad(nrows);
            (n, b.finish())
        })
        .collect();
    Ok(Input::Frame(Frame { columns, nrows }))
}
