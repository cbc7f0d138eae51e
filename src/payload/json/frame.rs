//! `dataframe_records`, and the lists of rows both formats hold, read straight into typed
//! columns: one buffer per column, typed by the first row (or the signature), widened as
//! pandas would when a later row disagrees, with the cell budget checked before anything is
//! padded. A list is built as `pd.DataFrame(data=list)` builds it, decided by its first
//! element (rows, records, or one column of scalars).

use super::errors::{internal, invalid, py_type_of};
use super::scan::{KeyIndex, Kind, Num, Scanner};
use crate::payload::data::{ColName, Column, Frame, Input};
use crate::payload::{CellBudget, PayloadError};
use crate::pyjson::Cell;

/// A column under construction: stays an i64 or f64 buffer while cells are numbers (pandas
/// would infer int64/float64), and falls back to cells for anything else.
#[derive(Debug)]
pub(super) enum ColBuf {
    Empty { nulls: usize },
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Cells(Vec<Cell>),
}

impl ColBuf {
    pub(super) fn len(&self) -> usize {
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

    pub(super) fn push_cell(&mut self, c: Cell) {
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

    pub(super) fn read(&mut self, s: &mut Scanner<'_>) -> Result<(), PayloadError> {
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

    pub(super) fn pad(&mut self, n: usize) {
        while self.len() < n {
            self.push_null();
        }
    }

    /// Pads to `n` rows with what pandas puts where a record lacks the key: NaN (a float),
    /// not None. It matters for object columns: `bool(nan)` is True where `bool(None)` is
    /// False, so a boolean column with a missing value reads True in MLflow.
    pub(super) fn pad_missing(&mut self, n: usize) {
        if self.len() >= n {
            return;
        }
        match self {
            ColBuf::Ints(_) | ColBuf::Floats(_) => self.pad(n),
            ColBuf::Empty { nulls } => {
                // missing (and earlier None) before any value: NaN, as a float column
                let mut v = vec![f64::NAN; *nulls];
                v.resize(n, f64::NAN);
                *self = ColBuf::Floats(v);
            }
            ColBuf::Cells(v) => v.resize(n, Cell::Float(f64::NAN)),
        }
    }

    pub(super) fn finish(self) -> Column {
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

fn records_error(msg: String) -> PayloadError {
    invalid(format!(
        "Provided dataframe_records field is not a valid dataframe representation in 'records' format. Error: '{msg}'"
    ))
}

/// A JSON list given to `pd.DataFrame(data=…)`: pandas picks the construction from the
/// list's first element.
pub(super) enum Rows {
    /// First element a list (or an empty list): rows of cells, padded with nulls. A later
    /// object row gives its keys, a string its characters (`list(row)`); a scalar has no
    /// `len()`.
    Lists { bufs: Vec<ColBuf>, nrows: usize },
    /// First element an object: records, a later non-object through `dict(row)`.
    Records {
        names: Vec<ColName>,
        bufs: Vec<ColBuf>,
        nrows: usize,
    },
    /// First element a scalar or string: one column holding every element as it is.
    Flat { buf: ColBuf, nrows: usize },
}

/// Reads a JSON list (the scanner is at its `[`) as `pd.DataFrame(data=list)` would.
/// `wrap` turns pandas' own exception text into the request's error.
pub(super) fn read_list(
    s: &mut Scanner<'_>,
    budget: CellBudget,
    wrap: fn(String) -> PayloadError,
) -> Result<Rows, PayloadError> {
    if !s.array_open().map_err(internal)? {
        return Ok(Rows::Lists {
            bufs: Vec::new(),
            nrows: 0,
        });
    }
    let first_row = s.pos;
    match s.kind().map_err(internal)? {
        Kind::Array => read_list_rows(s, budget, first_row, wrap),
        Kind::Object => read_record_rows(s, budget, first_row, wrap),
        _ => {
            let mut buf = ColBuf::Empty { nulls: 0 };
            let mut nrows = 0;
            loop {
                buf.read(s)?;
                nrows += 1;
                if nrows == 1 {
                    reserve_like_first_row(std::slice::from_mut(&mut buf), s, first_row);
                }
                if !s.array_next().map_err(internal)? {
                    break;
                }
            }
            Ok(Rows::Flat { buf, nrows })
        }
    }
}

/// Puts the next cell of a row in column `i`, growing the frame by a column when needed.
fn column_for(
    bufs: &mut Vec<ColBuf>,
    i: usize,
    nrows: usize,
    budget: CellBudget,
) -> Result<&mut ColBuf, PayloadError> {
    if bufs.len() <= i {
        budget.check(nrows + 1, i + 1)?;
        let mut b = ColBuf::Empty { nulls: 0 };
        b.pad(nrows);
        bufs.push(b);
    }
    Ok(&mut bufs[i])
}

fn read_list_rows(
    s: &mut Scanner<'_>,
    budget: CellBudget,
    first_row: usize,
    wrap: fn(String) -> PayloadError,
) -> Result<Rows, PayloadError> {
    let mut bufs: Vec<ColBuf> = Vec::new();
    let mut nrows = 0usize;
    loop {
        let mut i = 0;
        match s.kind().map_err(internal)? {
            Kind::Array => {
                if s.array_open().map_err(internal)? {
                    loop {
                        column_for(&mut bufs, i, nrows, budget)?.read(s)?;
                        i += 1;
                        if !s.array_next().map_err(internal)? {
                            break;
                        }
                    }
                }
            }
            Kind::Object => {
                // `list(row)` of a dict: its keys
                let mut key = s.object_open().map_err(internal)?;
                while let Some(k) = key {
                    let cell = Cell::Str(k.into_owned());
                    s.skip(2).map_err(internal)?;
                    column_for(&mut bufs, i, nrows, budget)?.push_cell(cell);
                    i += 1;
                    key = s.object_next().map_err(internal)?;
                }
            }
            Kind::String => {
                // `list(row)` of a string: its characters
                let text = s.string().map_err(internal)?;
                for ch in text.chars() {
                    column_for(&mut bufs, i, nrows, budget)?.push_cell(Cell::Str(ch.to_string()));
                    i += 1;
                }
            }
            kind => {
                let t = py_type_of(kind, s);
                return Err(wrap(format!("object of type '{t}' has no len()")));
            }
        }
        if i < bufs.len() {
            budget.check(nrows + 1, bufs.len())?;
        }
        for b in bufs.iter_mut().skip(i) {
            b.push_null();
        }
        nrows += 1;
        if nrows == 1 {
            reserve_like_first_row(&mut bufs, s, first_row);
        }
        if !s.array_next().map_err(internal)? {
            break;
        }
    }
    Ok(Rows::Lists { bufs, nrows })
}

fn read_record_rows(
    s: &mut Scanner<'_>,
    budget: CellBudget,
    first_row: usize,
    wrap: fn(String) -> PayloadError,
) -> Result<Rows, PayloadError> {
    let mut names: Vec<ColName> = Vec::new();
    let mut index = KeyIndex::new();
    let mut bufs: Vec<ColBuf> = Vec::new();
    let mut nrows = 0usize;
    loop {
        if s.kind().map_err(internal)? == Kind::Object {
            let mut key = s.object_open().map_err(internal)?;
            while let Some(k) = key {
                let found = index.position(&k, names.len(), |i| match &names[i] {
                    ColName::Str(s) => Some(s.as_str()),
                    ColName::Int(_) | ColName::Other { .. } => None,
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
                bufs[i].pad_missing(nrows);
                if bufs[i].len() > nrows {
                    // duplicate key inside one record: last wins
                    let c = s.cell(2).map_err(internal)?;
                    let mut cells =
                        std::mem::replace(&mut bufs[i], ColBuf::Empty { nulls: 0 }).into_cells();
                    cells.pop();
                    let mut nb = ColBuf::Cells(cells);
                    nb.push_cell(c);
                    bufs[i] = nb;
                } else {
                    bufs[i].read(s)?;
                }
                key = s.object_next().map_err(internal)?;
            }
        } else {
            // pandas builds the records with `dict(record)`
            let record = s.cell(2).map_err(internal)?;
            if let Some(e) = not_a_record(&record) {
                return Err(wrap(e));
            }
            // `dict([])`, `dict("")`: a row of missing values
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
    Ok(Rows::Records { names, bufs, nrows })
}

impl Rows {
    /// The frame with pandas' default labels (`0, 1, …` for rows given as lists).
    pub(super) fn into_columns(self) -> (Vec<(ColName, ColBuf)>, usize) {
        match self {
            Rows::Lists { bufs, nrows } => (
                bufs.into_iter()
                    .enumerate()
                    .map(|(i, b)| (ColName::Int(i as i64), b))
                    .collect(),
                nrows,
            ),
            Rows::Records { names, bufs, nrows } => (names.into_iter().zip(bufs).collect(), nrows),
            Rows::Flat { buf, nrows } => (vec![(ColName::Int(0), buf)], nrows),
        }
    }
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
    let (cols, nrows) = read_list(s, budget, records_error)?.into_columns();
    if let Some(e) = s.lone_surrogate.take() {
        return Err(records_error(e));
    }
    let columns = cols
        .into_iter()
        .map(|(n, mut b)| {
            b.pad_missing(nrows);
            (n, b.finish())
        })
        .collect();
    Ok(Input::Frame(Frame { columns, nrows }))
}
