//! `text/csv` bodies, read like `pandas.read_csv(dtype=<schema types>)` (`mlflow/pyfunc/scoring_server/__init__.py`, `parse_csv_input`).

use crate::model::signature::{ColType, InputSchema};
use crate::payload::data::{ColName, Column, Frame};
use crate::payload::{CellBudget, PayloadError};
use crate::pyjson::{py_float, py_int, Cell};

const NA_TOKENS: [&str; 19] = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

/// pandas' `read_csv` failure, as MLflow's `parse_csv_input` words it.
pub fn fail(e: impl std::fmt::Display) -> PayloadError {
    PayloadError::ParseFailure {
        message: format!(
            "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid CSV-formatted Pandas DataFrame produced using the `pandas.DataFrame.to_csv()` method. Error: '{e}'"
        ),
        trace: format!("mlflow-serve: CSV parse error: {e}"),
    }
}

fn is_na(s: &str) -> bool {
    NA_TOKENS.contains(&s)
}

/// Parses a CSV body into a frame, typed by the schema where it names the column.
pub fn parse(
    body: &[u8],
    schema: Option<&InputSchema>,
    budget: CellBudget,
) -> Result<Frame, PayloadError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        PayloadError::InvalidInput(format!(
            "Ensure that input is a valid UTF-8 encoded string. Error: '{}'",
            crate::pyjson::unicode_error_repr(body, &e)
        ))
    })?;
    let col_specs = match schema {
        Some(InputSchema::Tensors(_)) => {
            return Err(fail(
                "TensorSpec only supports numpy types, use numpy_types() instead",
            ))
        }
        Some(InputSchema::Columns(c)) => {
            if c.iter().any(|c| matches!(c.ty, ColType::Complex(_))) {
                return Err(fail(
                    "Failed to get pandas types as some of the inputs types are not DataType.",
                ));
            }
            if c.iter().any(|c| c.ty == ColType::Datetime) {
                return Err(fail("the dtype datetime64[ns] is not supported for parsing, pass this column using parse_dates instead"));
            }
            Some(c)
        }
        None => None,
    };
    if let Some(row) = unterminated_quote_row(text.as_bytes()) {
        return Err(fail(format!(
            "Error tokenizing data. C error: EOF inside string starting at row {row}"
        )));
    }
    let mut rdr = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    // One record buffer, reused; each column's text in one arena (no allocation per cell).
    let mut rec = ::csv::StringRecord::new();
    let header = loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => return Err(fail("No columns to parse from file")),
            Err(e) => return Err(fail(e)),
            Ok(true) if blank(&rec) => continue,
            Ok(true) => break rec.clone(),
        }
    };
    let names = dedup_names(
        header
            .iter()
            .enumerate()
            .map(|(i, h)| {
                if h.is_empty() {
                    format!("Unnamed: {i}")
                } else {
                    h.to_string()
                }
            })
            .collect(),
    );
    let ncols = names.len();
    let mut raw: Vec<RawColumn> = (0..ncols).map(|_| RawColumn::default()).collect();
    let mut nrows = 0;
    // Fields per row: the header's, or the first row's when it is longer (its leading
    // fields are then the index); a later row may be shorter, never longer.
    let mut width: Option<usize> = None;
    loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Err(e) => return Err(fail(e)),
            Ok(true) => {}
        }
        if blank(&rec) {
            continue;
        }
        // Short rows are padded to the header's width: bound the cells before they exist.
        budget.check(nrows + 1, ncols)?;
        let w = *width.get_or_insert(rec.len().max(ncols));
        if rec.len() > w {
            let line = pandas_line(
                text,
                rec.position().map_or(text.len(), |p| p.byte() as usize),
            );
            return Err(fail(format!(
                "Error tokenizing data. C error: Expected {w} fields in line {line}, saw {}\n",
                rec.len()
            )));
        }
        let skip = w - ncols;
        for (i, col) in raw.iter_mut().enumerate() {
            let v = rec.get(skip + i).unwrap_or("");
            col.push((!is_na(v)).then_some(v));
        }
        nrows += 1;
    }
    let mut columns = Vec::with_capacity(ncols);
    for (i, (name, raw)) in names.into_iter().zip(raw).enumerate() {
        let values = raw.values();
        let ty = col_specs
            .and_then(|c| c.iter().find(|c| c.name.as_deref() == Some(name.as_str())))
            .map(|c| &c.ty);
        let col = match ty {
            Some(t) => typed(&values, t, i)?,
            None => infer(&values),
        };
        columns.push((ColName::Str(name), col));
    }
    Ok(Frame { columns, nrows })
}

/// pandas' renaming of repeated header names (`a`, `a` → `a`, `a.1`), as `read_csv` does.
fn dedup_names(mut names: Vec<String>) -> Vec<String> {
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for name in names.iter_mut() {
        let mut col = name.clone();
        let mut cur = counts.get(&col).copied().unwrap_or(0);
        while cur > 0 {
            counts.insert(col.clone(), cur + 1);
            col = format!("{col}.{cur}");
            cur = counts.get(&col).copied().unwrap_or(0);
        }
        counts.insert(col.clone(), cur + 1);
        *name = col;
    }
    names
}

/// A line pandas skips (`skip_blank_lines`): empty, or only spaces and tabs.
fn blank(rec: &::csv::StringRecord) -> bool {
    rec.len() == 1
        && rec
            .get(0)
            .is_some_and(|f| f.trim_matches([' ', '\t']).is_empty())
}

/// One column's fields as read: their text in one arena, each field's span (`None`: NA).
#[derive(Default)]
struct RawColumn {
    text: String,
    spans: Vec<Option<(usize, usize)>>,
}

impl RawColumn {
    fn push(&mut self, v: Option<&str>) {
        self.spans.push(v.map(|v| {
            let start = self.text.len();
            self.text.push_str(v);
            (start, self.text.len())
        }));
    }

    fn values(&self) -> Vec<Option<&str>> {
        self.spans
            .iter()
            .map(|s| s.and_then(|(a, b)| self.text.get(a..b)))
            .collect()
    }
}

fn typed(values: &[Option<&str>], ty: &ColType, idx: usize) -> Result<Column, PayloadError> {
    match ty {
        ColType::Double | ColType::Float => {
            let v = typed_float(
                values,
                if *ty == ColType::Float {
                    "float32"
                } else {
                    "float64"
                },
                idx,
            )?;
            Ok(if *ty == ColType::Float {
                Column::F32(v.into_iter().map(|x| x as f32).collect())
            } else {
                Column::F64(v)
            })
        }
        ColType::Integer | ColType::Long => typed_int(values, *ty == ColType::Integer, idx),
        ColType::Boolean => typed_bool(values, idx),
        _ => Ok(Column::Object(
            values
                .iter()
                .map(|x| {
                    x.map(|s| Cell::Str(s.to_string()))
                        .unwrap_or(Cell::Float(f64::NAN))
                })
                .collect(),
        )),
    }
}

/// What pandas' C parser makes of one field of a numeric column.
#[derive(Clone, Copy)]
enum Token {
    Int(i128),
    Float(f64),
    Bool(bool),
    Other,
}

fn token(s: &str) -> Token {
    if s.contains('_') {
        return Token::Other;
    }
    if let Some(i) = py_int(s) {
        return Token::Int(i);
    }
    if let Some(f) = py_float(s) {
        return Token::Float(f);
    }
    if s.eq_ignore_ascii_case("true") {
        Token::Bool(true)
    } else if s.eq_ignore_ascii_case("false") {
        Token::Bool(false)
    } else {
        Token::Other
    }
}

/// The dtype pandas' C parser gives a whole column before the schema's cast: int64 (or
/// uint64), float64, bool (its true/false words, any case), else object.
#[derive(Clone, Copy, PartialEq)]
enum Parsed {
    Int,
    Float,
    Bool,
    Object,
}

fn parsed_dtype(tokens: &[Option<Token>]) -> Parsed {
    let present = || tokens.iter().flatten();
    if present().all(|t| matches!(t, Token::Int(_))) && present().next().is_some() {
        Parsed::Int
    } else if present().all(|t| matches!(t, Token::Int(_) | Token::Float(_))) {
        // (a column of missing values only is float64 NaN)
        Parsed::Float
    } else if present().all(|t| matches!(t, Token::Bool(_))) {
        Parsed::Bool
    } else {
        Parsed::Object
    }
}

/// `read_csv(dtype=float64|float32)` of one column: numbers and the parser's true/false
/// words; an object column is converted by Python's `float()`, whose first refusal is
/// pandas' message, and otherwise refused as an unsafe cast.
fn typed_float(values: &[Option<&str>], user: &str, idx: usize) -> Result<Vec<f64>, PayloadError> {
    let tokens: Vec<Option<Token>> = values.iter().map(|v| v.map(token)).collect();
    if parsed_dtype(&tokens) == Parsed::Object {
        for v in values.iter().flatten() {
            if py_float(v).is_none() {
                return Err(fail(format!(
                    "could not convert string to float: {}",
                    crate::pyjson::str_repr(v)
                )));
            }
        }
        return Err(fail(format!(
            "cannot safely convert passed user dtype of {user} for object dtyped data in column {idx}"
        )));
    }
    Ok(tokens
        .iter()
        .map(|t| match t {
            Some(Token::Int(i)) => *i as f64,
            Some(Token::Float(f)) => *f,
            Some(Token::Bool(b)) => f64::from(u8::from(*b)),
            None | Some(Token::Other) => f64::NAN,
        })
        .collect())
}

/// `read_csv(dtype=bool)` of one column: the true/false words, or numbers that are all 0
/// and 1; anything else is an unsafe cast from the parser's dtype.
fn typed_bool(values: &[Option<&str>], idx: usize) -> Result<Column, PayloadError> {
    let tokens: Vec<Option<Token>> = values.iter().map(|v| v.map(token)).collect();
    let parsed = parsed_dtype(&tokens);
    let unsafe_cast = |parsed: &str| {
        fail(format!(
            "cannot safely convert passed user dtype of bool for {parsed} dtyped data in column {idx}"
        ))
    };
    let na = || fail(format!("Bool column has NA values in column {idx}"));
    if !tokens.is_empty() && tokens.iter().all(Option::is_none) {
        return Err(na());
    }
    let mut out = Vec::with_capacity(tokens.len());
    for t in &tokens {
        out.push(match (parsed, t) {
            (Parsed::Bool, Some(Token::Bool(b))) => *b,
            (Parsed::Bool, _) => return Err(na()),
            (Parsed::Int, Some(Token::Int(0))) => false,
            (Parsed::Int, Some(Token::Int(1))) => true,
            (Parsed::Int, _) => return Err(unsafe_cast("int64")),
            (Parsed::Float, Some(Token::Int(i))) if *i == 0 || *i == 1 => *i == 1,
            (Parsed::Float, Some(Token::Float(f))) if *f == 0.0 || *f == 1.0 => *f == 1.0,
            (Parsed::Float, _) => return Err(unsafe_cast("float64")),
            (Parsed::Object, _) => return Err(unsafe_cast("object")),
        });
    }
    Ok(Column::Bool(out))
}

/// `read_csv(dtype=int32|int64)` of one column, as pandas does it: the parser's own dtype
/// first (int64, uint64, float64, bool or object), then the safe cast to the requested dtype.
/// Integral floats (`1.0`, `1e3`) and the true/false words are accepted; a value the dtype
/// cannot hold is refused, never wrapped.
fn typed_int(values: &[Option<&str>], int32: bool, idx: usize) -> Result<Column, PayloadError> {
    let user = if int32 { "int32" } else { "int64" };
    let unsafe_cast = |parsed: &str| {
        fail(format!(
            "cannot safely convert passed user dtype of {user} for {parsed} dtyped data in column {idx}"
        ))
    };
    let na = || fail(format!("Integer column has NA values in column {idx}"));
    let tokens: Vec<Option<Token>> = values.iter().map(|v| v.map(token)).collect();
    let (lo, hi): (i128, i128) = if int32 {
        (i32::MIN.into(), i32::MAX.into())
    } else {
        (i64::MIN.into(), i64::MAX.into())
    };
    match parsed_dtype(&tokens) {
        Parsed::Object => {
            // An object column: Python's int() of each value in turn, and then the cast is
            // never "safe" (a string is not equal to its integer).
            for v in values {
                match v {
                    None => return Err(na()),
                    Some(s) if py_int(s).is_none() => {
                        return Err(fail(format!(
                            "invalid literal for int() with base 10: {}",
                            crate::pyjson::str_repr(s)
                        )))
                    }
                    _ => {}
                }
            }
            Err(unsafe_cast("object"))
        }
        Parsed::Bool => {
            let mut out = Vec::with_capacity(values.len());
            for t in &tokens {
                match t {
                    Some(Token::Bool(b)) => out.push(i128::from(*b)),
                    _ => return Err(unsafe_cast("<class 'numpy.bool'>")),
                }
            }
            Ok(int_column(out, int32))
        }
        Parsed::Float => {
            // A float64 column: every value must be integral and fit the dtype.
            let mut out = Vec::with_capacity(values.len());
            let mut missing = false;
            for t in &tokens {
                let x = match t {
                    Some(Token::Int(i)) => *i as f64,
                    Some(Token::Float(f)) => *f,
                    _ => {
                        missing = true;
                        continue;
                    }
                };
                if x.is_nan() {
                    missing = true;
                    continue;
                }
                if x.fract() != 0.0 || !x.is_finite() || x < lo as f64 || x >= -(lo as f64) {
                    return Err(unsafe_cast("float64"));
                }
                out.push(x as i128);
            }
            if missing {
                return Err(na());
            }
            Ok(int_column(out, int32))
        }
        Parsed::Int => {
            let mut out = Vec::with_capacity(values.len());
            for t in &tokens {
                match t {
                    Some(Token::Int(i)) => out.push(*i),
                    _ => return Err(na()),
                }
            }
            if let Some(&v) = out.iter().find(|v| !(lo..=hi).contains(*v)) {
                let parsed = if (i64::MIN.into()..=i64::MAX.into()).contains(&v) {
                    "int64"
                } else if (0..=u64::MAX.into()).contains(&v) {
                    "uint64"
                } else {
                    return Err(fail("Overflow"));
                };
                return Err(unsafe_cast(parsed));
            }
            Ok(int_column(out, int32))
        }
    }
}

/// The line pandas' tokenizer names for the record starting at byte `at`: records counted
/// from 1 (the header), blank lines included, a quoted line break not.
fn pandas_line(text: &str, at: usize) -> usize {
    let mut quoted = false;
    let mut line = 1;
    for &b in &text.as_bytes()[..at.min(text.len())] {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => line += 1,
            _ => {}
        }
    }
    line
}

fn int_column(v: Vec<i128>, int32: bool) -> Column {
    if int32 {
        Column::I32(v.into_iter().map(|x| x as i32).collect())
    } else {
        Column::I64(v.into_iter().map(|x| x as i64).collect())
    }
}

/// The line (0 = the header) on which a quoted field opens and never closes, as pandas' C
/// tokenizer reports it; `None` when every quoted field is closed. A quote only opens a
/// field at its start; inside one, `""` is a literal quote. The csv crate would read such a
/// field to the end of the body instead of failing.
fn unterminated_quote_row(b: &[u8]) -> Option<usize> {
    let mut row = 0usize;
    let mut field_start = true;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' if field_start => {
                let opened = row;
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Some(opened),
                        Some(b'"') if b.get(i + 1) == Some(&b'"') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                field_start = false;
            }
            b',' => field_start = true,
            b'\n' => {
                row += 1;
                field_start = true;
            }
            b'\r' => {
                if b.get(i + 1) != Some(&b'\n') {
                    row += 1;
                }
                field_start = true;
            }
            _ => field_start = false,
        }
        i += 1;
    }
    None
}

/// pandas' own inference (the C parser's): int64 (uint64 beyond it, else text), float64,
/// bool (its true/false words, any case), else str.
fn infer(values: &[Option<&str>]) -> Column {
    if values.is_empty() {
        // a header-only file: pandas' empty columns are `object`
        return Column::Object(Vec::new());
    }
    if values.iter().all(Option::is_none) {
        return Column::F64(vec![f64::NAN; values.len()]);
    }
    let tokens: Vec<Option<Token>> = values.iter().map(|v| v.map(token)).collect();
    let complete = values.iter().all(Option::is_some);
    let text = || Column::Str(values.iter().map(|x| x.map(str::to_string)).collect());
    match parsed_dtype(&tokens) {
        Parsed::Int => {
            let ints: Vec<i128> = tokens
                .iter()
                .map(|t| match t {
                    Some(Token::Int(i)) => *i,
                    _ => 0,
                })
                .collect();
            let i64s = i128::from(i64::MIN)..=i128::from(i64::MAX);
            if !complete {
                if tokens
                    .iter()
                    .flatten()
                    .all(|t| matches!(t, Token::Int(i) if i64s.contains(i)))
                {
                    return Column::F64(
                        tokens
                            .iter()
                            .map(|t| match t {
                                Some(Token::Int(i)) => *i as f64,
                                _ => f64::NAN,
                            })
                            .collect(),
                    );
                }
                return text();
            }
            if ints.iter().all(|i| i64s.contains(i)) {
                Column::I64(ints.into_iter().map(|i| i as i64).collect())
            } else if ints.iter().all(|i| (0..=i128::from(u64::MAX)).contains(i)) {
                Column::U64(ints.into_iter().map(|i| i as u64).collect())
            } else {
                // beyond int64 and uint64: pandas keeps the text
                text()
            }
        }
        Parsed::Float => Column::F64(
            tokens
                .iter()
                .map(|t| match t {
                    Some(Token::Int(i)) => *i as f64,
                    Some(Token::Float(f)) => *f,
                    _ => f64::NAN,
                })
                .collect(),
        ),
        Parsed::Bool if complete => Column::Bool(
            tokens
                .iter()
                .map(|t| matches!(t, Some(Token::Bool(true))))
                .collect(),
        ),
        _ => text(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unterminated_quotes_are_found_on_pandas_row() {
        assert_eq!(unterminated_quote_row(b"a,b\n\"1,2\n"), Some(1));
        assert_eq!(unterminated_quote_row(b"a,b\n1,\"2\n"), Some(1));
        assert_eq!(unterminated_quote_row(b"\"a,b\n1,2\n"), Some(0));
        assert_eq!(unterminated_quote_row(b"a,b\r\n\r\n1,\"x"), Some(2));
        assert_eq!(unterminated_quote_row(b"a,b\n\"x\"\"y\",2\n"), None);
        assert_eq!(unterminated_quote_row(b"a,b\n\"multi\nline\",2\n"), None);
        assert_eq!(unterminated_quote_row(b"a,b\nx\"y,2\n"), None);
        assert_eq!(unterminated_quote_row(b""), None);
    }
}
