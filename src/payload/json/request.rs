//! Reading an `/invocations` JSON body into a typed [`Request`], guided by the signature
//! (protocol §1.5–§1.8). The document is validated first (so Python's syntax errors win);
//! this pass then reads the same bytes straight into typed buffers.

use std::borrow::Cow;

use runtime_api::DType;

use super::array::{convert_scalar, ArrayBuilder, Scalar};
use super::scan::{self, KeyIndex, Kind, Num, Scanner};
use crate::model::signature::{ColType, InputSchema, ParamSpec};
use crate::payload::data::{Array, ColName, Column, Frame, Input};
use crate::payload::{CellBudget, PayloadError, Request};
use crate::pyjson::{bytes_repr, join_bounded, str_repr, unicode_error_repr, Cell};

const FORMATS: [&str; 4] = [
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
];
const LLM_KEYS: [&str; 3] = ["messages", "prompt", "input"];

/// `The input must be a JSON dictionary with exactly one of the input fields {...}`.
pub const REQUIRED_INPUT_FORMAT: &str = "The input must be a JSON dictionary with exactly one of the input fields {'dataframe_records', 'dataframe_split', 'instances', 'inputs'}";

/// The fixed paragraph MLflow appends to protocol errors.
pub const SCORING_PROTOCOL_CHANGE_INFO: &str = "IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0. If you are seeing this error, you are likely using an outdated scoring request format. To resolve the error, either update your request format or adjust your MLflow Model's requirements file to specify an older version of MLflow (for example, change the 'mlflow' requirement specifier to 'mlflow==1.30.0'). If you are making a request using the MLflow client (e.g. via `mlflow.pyfunc.spark_udf()`), upgrade your MLflow client to a version >= 2.0 in order to use the new request format. For more information about the updated MLflow Model scoring protocol in MLflow 2.0, see https://mlflow.org/docs/latest/models.html#deploy-mlflow-models.";

fn invalid(msg: impl Into<String>) -> PayloadError {
    PayloadError::InvalidInput(msg.into())
}

/// Decodes the body like `json.loads(bytes)`: UTF-8 (with or without BOM), UTF-16/32 by BOM
/// or zero-byte pattern; anything else is a `UnicodeDecodeError`.
fn decode(body: &[u8]) -> Result<Cow<'_, str>, PayloadError> {
    let utf16 = |b: &[u8], le: bool| -> Option<String> {
        if !b.len().is_multiple_of(2) {
            return None;
        }
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units).ok()
    };
    let converted = match body {
        [0xEF, 0xBB, 0xBF, rest @ ..] => return utf8(body, rest),
        [0xFF, 0xFE, 0, 0, ..] | [0, 0, 0xFE, 0xFF, ..] => None,
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        [a, 0, b, 0, ..] if *a != 0 && *b != 0 => utf16(body, true),
        [0, a, 0, b, ..] if *a != 0 && *b != 0 => utf16(body, false),
        _ => return utf8(body, body),
    };
    converted
        .map(Cow::Owned)
        .ok_or_else(|| json_error(body, "UnicodeDecodeError('utf-16', ...)".to_string()))
}

fn utf8<'a>(whole: &[u8], b: &'a [u8]) -> Result<Cow<'a, str>, PayloadError> {
    match std::str::from_utf8(b) {
        Ok(s) => Ok(Cow::Borrowed(s)),
        Err(e) => Err(json_error(whole, unicode_error_repr(b, &e))),
    }
}

fn json_error(body: &[u8], repr: String) -> PayloadError {
    PayloadError::InvalidInput(format!(
        "Ensure that input is a valid JSON formatted string. Error: '{repr}'\nInput: \n{}\n",
        bytes_repr(body)
    ))
}

/// `repr(JSONDecodeError(...))`.
fn decode_error_repr(e: &scan::JsonError, doc: &str) -> String {
    format!("JSONDecodeError({})", str_repr(&e.python_message(doc)))
}

/// Parses a JSON `/invocations` body.
///
/// Python decodes the whole document first, so a syntax error anywhere wins over any other
/// error. The common case reads in one pass: the top-level keys come from a cheap structural
/// scan, then the typed pass reads (and checks) every byte; only when that pass fails is the
/// document validated, so that a syntax error is reported the way `json.loads` reports it.
/// Documents the structural scan cannot handle take the validate-first path.
pub fn parse(
    body: &[u8],
    schema: Option<&InputSchema>,
    params_schema: Option<&[ParamSpec]>,
    budget: CellBudget,
) -> Result<Request, PayloadError> {
    let doc = decode(body)?;
    if let Some(request) = read_streaming(&doc, schema, budget) {
        return Ok(request);
    }
    if let Some(keys) = scan::top_level_keys(&doc) {
        if !keys.iter().any(|k| LLM_KEYS.contains(&k.as_str())) {
            return match read_object(&doc, keys, schema, budget) {
                Ok(r) => Ok(r),
                Err(e) => {
                    scan::validate(&doc)
                        .map_err(|je| json_error(body, decode_error_repr(&je, &doc)))?;
                    Err(e)
                }
            };
        }
    }
    parse_validated(body, &doc, schema, params_schema, budget)
}

/// The common case in a single pass over the bytes: a top-level object with exactly one
/// input format key (plus `params` or other keys), no LLM keys, and a typed read that
/// succeeds. `None` for anything else, which the callers then answer exactly (error
/// precedence included) through the key scan or the validate-first path.
fn read_streaming(doc: &str, schema: Option<&InputSchema>, budget: CellBudget) -> Option<Request> {
    let mut s = Scanner::new(doc);
    if s.kind().ok()? != Kind::Object {
        return None;
    }
    let mut format: Option<Cow<'_, str>> = None;
    let mut input = None;
    let mut params = None;
    let mut key = s.object_open().ok()?;
    while let Some(k) = key {
        if LLM_KEYS.contains(&&*k) {
            return None;
        }
        if FORMATS.contains(&&*k) {
            if format.as_deref().is_some_and(|f| f != k) {
                return None;
            }
            input = Some(read_input(&k, &mut s, schema, budget).ok()?);
            format = Some(k);
        } else if k == "params" {
            params = Some(s.cell(1).ok()?);
        } else {
            s.skip(1).ok()?;
        }
        key = s.object_next().ok()?;
    }
    s.ws();
    if s.pos != doc.len() {
        return None;
    }
    Some(Request {
        input: input?,
        params: params.filter(|p| *p != Cell::Null),
        unwrapped: false,
    })
}

/// The validate-first path: `json.loads`' checks, then the typed read.
fn parse_validated(
    body: &[u8],
    doc: &str,
    schema: Option<&InputSchema>,
    params_schema: Option<&[ParamSpec]>,
    budget: CellBudget,
) -> Result<Request, PayloadError> {
    let keys = scan::validate(doc).map_err(|e| json_error(body, decode_error_repr(&e, doc)))?;
    let mut s = Scanner::new(doc);
    let Some(keys) = keys else {
        let what = match s.kind().unwrap_or(Kind::Null) {
            Kind::Array => {
                return Err(invalid(format!(
                    "{REQUIRED_INPUT_FORMAT}. Received a list."
                )))
            }
            Kind::String => "str",
            Kind::Bool => "bool",
            Kind::Null => "NoneType",
            Kind::Number => match s.number() {
                Ok(Num::Float(_)) => "float",
                _ => "int",
            },
            Kind::Object => "dict",
        };
        return Err(invalid(format!(
            "{REQUIRED_INPUT_FORMAT}. Received unexpected input type '<class '{what}'>."
        )));
    };

    if keys.iter().any(|k| LLM_KEYS.contains(&k.as_str())) {
        return parse_llm(&mut s, params_schema);
    }
    read_object(doc, keys, schema, budget)
}

/// Reads the top-level object (whose keys are `keys`) into a typed request, checking every
/// byte it reads, trailing whitespace included.
fn read_object(
    doc: &str,
    keys: Vec<String>,
    schema: Option<&InputSchema>,
    budget: CellBudget,
) -> Result<Request, PayloadError> {
    let mut s = Scanner::new(doc);
    let formats: Vec<&String> = keys
        .iter()
        .filter(|k| FORMATS.contains(&k.as_str()))
        .collect();
    if formats.len() != 1 {
        let list = formats
            .iter()
            .map(|k| str_repr(k))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(PayloadError::BadRequest(format!(
            "{REQUIRED_INPUT_FORMAT}. Received dictionary with input fields: [{list}]. {SCORING_PROTOCOL_CHANGE_INFO}"
        )));
    }
    let format = formats[0].as_str();
    let mut input = None;
    let mut params = None;
    let mut key = s.object_open().map_err(internal)?;
    while let Some(k) = key {
        if k == format {
            input = Some(read_input(format, &mut s, schema, budget)?);
        } else if k == "params" {
            params = Some(s.cell(1).map_err(internal)?);
        } else {
            s.skip(1).map_err(internal)?;
        }
        key = s.object_next().map_err(internal)?;
    }
    s.ws();
    if s.pos != doc.len() {
        return Err(internal(scan::JsonError {
            msg: "Extra data",
            pos: s.pos,
        }));
    }
    let input = input.ok_or_else(|| PayloadError::BadRequest("missing input".into()))?;
    let params = params.filter(|p| *p != Cell::Null);
    Ok(Request {
        input,
        params,
        unwrapped: false,
    })
}

/// Reads the value of the input format key `format` (one of [`FORMATS`]).
fn read_input(
    format: &str,
    s: &mut Scanner<'_>,
    schema: Option<&InputSchema>,
    budget: CellBudget,
) -> Result<Input, PayloadError> {
    match format {
        "dataframe_split" => read_split(s, budget),
        "dataframe_records" => read_records(s, budget),
        "inputs" => read_tf(s, schema, false, budget),
        _ => read_tf(s, schema, true, budget),
    }
}

/// The document was validated, so scanner errors here are internal.
fn internal(e: scan::JsonError) -> PayloadError {
    PayloadError::BadRequest(format!("Invalid input. {}", e.msg))
}

fn parse_llm(
    s: &mut Scanner<'_>,
    params_schema: Option<&[ParamSpec]>,
) -> Result<Request, PayloadError> {
    let Cell::Dict(all) = s.cell(0).map_err(internal)? else {
        return Err(PayloadError::BadRequest("expected an object".into()));
    };
    let names: Vec<&str> = params_schema
        .map(|p| p.iter().map(|p| p.name.as_str()).collect())
        .unwrap_or_default();
    let (params, data): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|(k, _)| names.contains(&k.as_str()));
    Ok(Request {
        input: Input::Other(Cell::Dict(data)),
        params: Some(Cell::Dict(params)),
        unwrapped: true,
    })
}

fn py_type_of(kind: Kind, s: &mut Scanner<'_>) -> &'static str {
    match kind {
        Kind::Array => "list",
        Kind::Object => "dict",
        Kind::String => "str",
        Kind::Bool => "bool",
        Kind::Null => "NoneType",
        Kind::Number => {
            let save = s.pos;
            let t = match s.number() {
                Ok(Num::Float(_)) => "float",
                _ => "int",
            };
            s.pos = save;
            t
        }
    }
}

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

fn split_error(msg: String) -> PayloadError {
    invalid(format!(
        "Provided dataframe_split field is not a valid dataframe representation in 'split' format. Error: '{msg}'"
    ))
}

fn read_split(s: &mut Scanner<'_>, budget: CellBudget) -> Result<Input, PayloadError> {
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

fn read_records(s: &mut Scanner<'_>, budget: CellBudget) -> Result<Input, PayloadError> {
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
        loop {
            match s.kind().map_err(internal)? {
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
fn read_tf(
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
                (Some(_), Some(dt)) => Input::Other(converted_cell(&c, dt).map_err(|_| {
                    invalid(format!(
                        "Failed to convert data `{}` to type `{}` defined in the model signature.",
                        c.py_repr(),
                        dt
                    ))
                })?),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::signature::Signature;

    /// The validate-first answer, the reference the one-pass path must reproduce.
    fn reference(body: &[u8], schema: Option<&InputSchema>) -> Result<Request, PayloadError> {
        let doc = decode(body)?;
        parse_validated(body, &doc, schema, None, CellBudget::unlimited())
    }

    fn bodies() -> Vec<Vec<u8>> {
        let seeds = [
            r#"{"dataframe_split": {"columns": ["a", "b"], "data": [[1.5, 2], [3, 4.25]]}}"#,
            r#"{"dataframe_records": [{"a": 1, "b": "x"}, {"a": null, "b": true}], "params": {"k": [1, 2]}}"#,
            r#"{"inputs": [[1.0, 2.0], [3.0, -4e3]], "extra": {"deep": [[["s\"q"]]]}}"#,
            r#"{"instances": [{"a": [1, 2]}, {"a": [3, 4]}]}"#,
            r#"{"inputs": {"a": [1, 2], "b": ["x", "y"]}, "params": null}"#,
            r#" {"dataframe_split": {"data": [[NaN, Infinity, -Infinity]]}} "#,
        ];
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let noise = b"{}[],:\"\\ 0123456789.eE+-tfnaulsxNI";
        for seed in seeds {
            let b = seed.as_bytes();
            out.push(b.to_vec());
            for cut in 0..b.len() {
                out.push(b[..cut].to_vec());
                let mut del = b.to_vec();
                del.remove(cut);
                out.push(del);
            }
            for _ in 0..400 {
                let mut m = b.to_vec();
                for _ in 0..1 + next() % 3 {
                    let at = (next() as usize) % (m.len() + 1);
                    let c = noise[(next() as usize) % noise.len()];
                    if next() % 2 == 0 && at < m.len() {
                        m[at] = c;
                    } else {
                        m.insert(at, c);
                    }
                }
                out.push(m);
            }
        }
        for depth in [100, 300, 600] {
            let deep = format!(
                r#"{{"inputs": [[1.0, 2.0]], "x": {}1{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            out.push(deep.clone().into_bytes());
            out.push(deep.as_bytes()[..deep.len() - 3].to_vec());
        }
        out
    }

    #[test]
    fn one_pass_parse_answers_exactly_as_validate_first() {
        let cols = Signature::from_json_strings(
            Some(r#"[{"type": "double", "name": "a"}, {"type": "long", "name": "b"}]"#),
            None,
            None,
        )
        .unwrap();
        let tensor = Signature::from_json_strings(
            Some(r#"[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}}]"#),
            None,
            None,
        )
        .unwrap();
        let mut checked = 0;
        for body in bodies() {
            for schema in [None, cols.inputs.as_ref(), tensor.inputs.as_ref()] {
                let got = parse(&body, schema, None, CellBudget::unlimited());
                let want = reference(&body, schema);
                assert_eq!(
                    format!("{got:?}"),
                    format!("{want:?}"),
                    "body {:?}",
                    String::from_utf8_lossy(&body)
                );
                checked += 1;
            }
        }
        assert!(checked > 5000, "{checked}");
    }
}
