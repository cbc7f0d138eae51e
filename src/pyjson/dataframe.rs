//! pandas' `repr()` of a DataFrame, as a server process prints it (`DataFrameFormatter` and
//! `StringFormatter` with pandas' defaults outside a terminal: 80 columns, middle columns
//! replaced by `...` until the table fits, more than 60 rows shown as the first and last 5,
//! `[N rows x M columns]` after a cut table; floats with 6 decimals, trailing zeros trimmed
//! equally in a column, scientific when values are tiny or long and large). Checked against
//! pandas' own printouts in `tests/fixtures/pandas_reprs.json`.

use super::Bounded;

/// One column's values, as pandas holds them.
#[derive(Debug, Clone)]
pub enum Values<'a> {
    /// float64
    F64(&'a [f64]),
    /// float32
    F32(&'a [f32]),
    /// Any integer dtype, widened.
    Int(Vec<i128>),
    /// bool
    Bool(&'a [bool]),
    /// str (missing: NaN)
    Text(Vec<Option<&'a str>>),
    /// object: each cell as printed, with its leading space ([`object_cell`]).
    Other(Vec<String>),
}

impl Values<'_> {
    fn len(&self) -> usize {
        match self {
            Values::F64(v) => v.len(),
            Values::F32(v) => v.len(),
            Values::Int(v) => v.len(),
            Values::Bool(v) => v.len(),
            Values::Text(v) => v.len(),
            Values::Other(v) => v.len(),
        }
    }

    /// Numeric dtypes get a space before their header.
    fn numeric(&self) -> bool {
        matches!(
            self,
            Values::F64(_) | Values::F32(_) | Values::Int(_) | Values::Bool(_)
        )
    }
}

/// A labelled column.
#[derive(Debug, Clone)]
pub struct Col<'a> {
    /// `str()` of the column label.
    pub label: String,
    /// The values.
    pub values: Values<'a>,
}

use super::Cell;

const WIDTH: usize = 80;
const MAX_ROWS: usize = 60;
const MIN_ROWS: usize = 10;
const MAX_COLWIDTH: usize = 50;
const DIGITS: usize = 6;

/// `repr(df)` for a frame of `nrows` rows (a RangeIndex). `int_labels`: the column labels
/// are integers (an integer Index pads them to one width, left-justified).
pub fn frame_repr(cols: &[Col<'_>], nrows: usize, int_labels: bool) -> String {
    if cols.is_empty() || nrows == 0 {
        let labels: Vec<&str> = cols.iter().map(|c| c.label.as_str()).collect();
        let index = if nrows == 0 {
            "[]".to_string()
        } else {
            format!(
                "[{}]",
                (0..nrows.min(100))
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let mut out = Bounded::new();
        out.push_cut("Empty DataFrame\nColumns: [");
        for (i, l) in labels.iter().enumerate() {
            if (i > 0 && !out.push_cut(", ")) || !out.push_cut(l) {
                return out.finish();
            }
        }
        out.push_cut(&format!("]\nIndex: {index}"));
        return out.finish();
    }
    let cut_rows = nrows > MAX_ROWS;
    let half = MIN_ROWS / 2;
    // The rows shown, and where their values are: the values hold every row, or (a
    // preview) only the first and last 5 of a longer frame.
    let labels: Vec<usize> = if cut_rows {
        (0..half).chain(nrows - half..nrows).collect()
    } else {
        (0..nrows).collect()
    };
    let held = cols.first().map_or(nrows, |c| c.values.len());
    let rows: Vec<usize> = if held == nrows {
        labels.clone()
    } else {
        (0..labels.len().min(held)).collect()
    };
    let label_width = if int_labels {
        cols.iter().map(|c| c.label.len()).max().unwrap_or(0)
    } else {
        0
    };
    let formatted: Vec<Vec<String>> = cols.iter().map(|c| column(c, &rows, label_width)).collect();
    let index = index_column(&labels);

    // pandas 3.1 `_fit_strcols_to_terminal_width`: every column formatted, then middle
    // columns dropped (Python's `round(n / 2)` each time) until the table and the `...`
    // column fit in 80 characters, at least two kept.
    let all: Vec<usize> = (0..cols.len()).collect();
    let strcols = assemble(&index, &formatted, &all, None, cut_rows);
    let mut lens: Vec<usize> = strcols.iter().map(|c| width_of(c)).collect();
    let total = lens.iter().sum::<usize>() + lens.len() - 1;
    let mut adj_dif = total as i64 - WIDTH as i64 + 1;
    let mut cut_cols = false;
    let mut out = Bounded::new();
    if adj_dif <= 0 {
        adjoin(&mut out, &strcols)
    } else {
        adj_dif += 5;
        while adj_dif > 0 && lens.len() > 1 {
            let mid = round_half_even(lens.len() as f64 / 2.0);
            adj_dif -= lens.remove(mid) as i64 + 1;
        }
        let fitted = (lens.len() - 1).max(2);
        if fitted >= cols.len() {
            adjoin(&mut out, &strcols)
        } else {
            cut_cols = true;
            let keep = fitted / 2;
            let mut kept: Vec<Vec<String>> = strcols[..keep + 1].to_vec();
            kept.push(vec![" ...".to_string(); strcols[0].len()]);
            kept.extend_from_slice(&strcols[strcols.len() - keep..]);
            adjoin(&mut out, &kept)
        }
    };
    if cut_rows || cut_cols {
        out.push_cut(&format!("\n\n[{nrows} rows x {} columns]", cols.len()));
    }
    out.finish()
}

fn width_of(col: &[String]) -> usize {
    col.iter().map(|s| s.chars().count()).max().unwrap_or(0)
}

fn round_half_even(x: f64) -> usize {
    let r = x.round();
    if (x - x.trunc() - 0.5).abs() < f64::EPSILON && r as usize % 2 == 1 {
        (r - 1.0) as usize
    } else {
        r as usize
    }
}

/// The string columns: index, the shown columns (with the `...` column after `dots_at` of
/// them), and the `..` row when rows were cut.
fn assemble(
    index: &[String],
    formatted: &[Vec<String>],
    shown: &[usize],
    dots_at: Option<usize>,
    cut_rows: bool,
) -> Vec<Vec<String>> {
    let mut out = vec![index.to_vec()];
    for (k, &c) in shown.iter().enumerate() {
        if dots_at == Some(k) {
            out.push(vec![" ...".to_string(); index.len()]);
        }
        out.push(formatted[c].clone());
    }
    if cut_rows {
        // after the header and the first 5 rows
        let at = 1 + MIN_ROWS / 2;
        for (ix, col) in out.iter_mut().enumerate() {
            let is_dot_col = dots_at.is_some_and(|k| ix == k + 1);
            let width = col[at - 1].chars().count();
            let dots = if width > 3 || is_dot_col { "..." } else { ".." };
            let cell = if ix == 0 {
                ljust(dots, width)
            } else if is_dot_col {
                rjust(dots, 4)
            } else {
                rjust(dots, width)
            };
            col.insert(at, cell);
        }
    }
    out
}

/// pandas' `adjoin(1, *strcols)`: each column but the last left-justified to its width + 1,
/// written into the bounded rendering (it stops at `--max-error-data-bytes`).
fn adjoin(out: &mut Bounded, cols: &[Vec<String>]) {
    let n = cols.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| width_of(c) + usize::from(i + 1 < cols.len()))
        .collect();
    let mut line = String::new();
    for r in 0..n {
        line.clear();
        if r > 0 {
            line.push('\n');
        }
        for (c, w) in cols.iter().zip(&widths) {
            let cell = c.get(r).map_or("", String::as_str);
            line.push_str(cell);
            let pad = w.saturating_sub(cell.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
        if !out.push_cut(&line) {
            return;
        }
    }
}

/// `s` right-justified to `width` characters (Python's `str.rjust`).
fn rjust(s: &str, width: usize) -> String {
    let pad = width.saturating_sub(s.chars().count());
    let mut out = String::with_capacity(s.len() + pad);
    out.extend(std::iter::repeat_n(' ', pad));
    out.push_str(s);
    out
}

/// `s` left-justified to `width` characters (Python's `str.ljust`).
fn ljust(s: &str, width: usize) -> String {
    let pad = width.saturating_sub(s.chars().count());
    let mut out = String::with_capacity(s.len() + pad);
    out.push_str(s);
    out.extend(std::iter::repeat_n(' ', pad));
    out
}

fn index_column(rows: &[usize]) -> Vec<String> {
    let labels: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    let w = labels.iter().map(String::len).max().unwrap_or(0);
    let mut out = vec![String::new()];
    out.extend(labels.iter().map(|l| format!("{l:<w$}")));
    out
}

/// A column's header and cells, right-justified to one width.
/// pandas' `pprint_thing(…, escape_chars=("\t", "\r", "\n"))`: those three printed as
/// two-character escapes in headers and text cells.
fn escaped(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\t', '\r', '\n']) {
        s.replace('\t', "\\t")
            .replace('\r', "\\r")
            .replace('\n', "\\n")
            .into()
    } else {
        s.into()
    }
}

fn column(c: &Col<'_>, rows: &[usize], label_width: usize) -> Vec<String> {
    // A label longer than a message's whole rendering of data cannot be shown: cut there
    // (and padding is done by hand: `format!` refuses widths past 65 535 with a panic).
    let label = ljust(&super::bounded(&escaped(&c.label)), label_width);
    let header = if c.values.numeric() {
        format!(" {label}")
    } else {
        label
    };
    let header_width = header.chars().count();
    let cells = cells(&c.values, rows);
    let mut width = cells
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0)
        .max(header_width);
    if width > MAX_COLWIDTH {
        width = MAX_COLWIDTH;
    }
    let mut out = Vec::with_capacity(cells.len() + 1);
    let values: Vec<String> = cells
        .into_iter()
        .map(|s| {
            if s.chars().count() > width {
                let cut: String = s.chars().take(width - 3).collect();
                format!("{cut}...")
            } else {
                s
            }
        })
        .map(|s| rjust(&s, width))
        .collect();
    let width = width.max(header_width);
    out.push(rjust(&header, width));
    out.extend(values);
    out
}

fn cells(values: &Values<'_>, rows: &[usize]) -> Vec<String> {
    match values {
        Values::F64(v) => floats(&rows.iter().map(|&r| v[r]).collect::<Vec<_>>()),
        Values::F32(v) => floats(&rows.iter().map(|&r| f64::from(v[r])).collect::<Vec<_>>()),
        Values::Int(v) => rows
            .iter()
            .map(|&r| {
                let x = v[r];
                if x < 0 {
                    x.to_string()
                } else {
                    format!(" {x}")
                }
            })
            .collect(),
        Values::Bool(v) => rows
            .iter()
            .map(|&r| if v[r] { " True" } else { " False" }.to_string())
            .collect(),
        // Cut before escaping: a cell is shown in at most MAX_COLWIDTH characters, so a
        // longer one is cut the same whatever follows.
        Values::Text(v) => rows
            .iter()
            .map(|&r| {
                let raw = v[r].unwrap_or("NaN");
                let head = match raw.char_indices().nth(MAX_COLWIDTH + 1) {
                    Some((i, _)) => &raw[..i],
                    None => raw,
                };
                format!(" {}", escaped(head))
            })
            .collect(),
        Values::Other(v) => rows.iter().map(|&r| v[r].clone()).collect(),
    }
}

/// An object column's cell as a pandas printout shows it (`GenericArrayFormatter` with
/// `pprint_thing`): a float as `" .6f"` with trailing zeros trimmed (`NaN` when missing),
/// `None`, other scalars as `str()`; lists with bare strings and dicts with quoted ones,
/// 100 items then `...`, three levels deep and then Python's `str()`. With its leading
/// space (a float's sign takes the place of it).
pub fn object_cell(c: &Cell) -> String {
    match c {
        Cell::Float(x) if x.is_nan() => " NaN".into(),
        Cell::Float(x) if x.is_infinite() => format!(" {}", if *x > 0.0 { "inf" } else { "-inf" }),
        Cell::Float(x) => {
            let s = if x.is_sign_negative() {
                format!("{x:.6}")
            } else {
                format!(" {x:.6}")
            };
            let t = s.trim_end_matches('0');
            if t.ends_with('.') {
                format!("{t}0")
            } else {
                t.to_string()
            }
        }
        other => format!(" {}", pprint(other, 0, false, true)),
    }
}

/// pandas' `pprint_thing` (`display.max_seq_items` 100, `display.pprint_nest_depth` 3).
fn pprint(c: &Cell, level: usize, quote: bool, escape: bool) -> String {
    const MAX_ITEMS: usize = 100;
    const NEST_DEPTH: usize = 3;
    match c {
        Cell::List(items) if level < NEST_DEPTH => {
            let mut body: Vec<String> = items
                .iter()
                .take(MAX_ITEMS)
                .map(|i| pprint(i, level + 1, quote, escape))
                .collect();
            if items.len() > MAX_ITEMS {
                body.push("...".into());
            }
            format!("[{}]", body.join(", "))
        }
        // a dict's keys and values are quoted, and no longer escaped
        Cell::Dict(kv) if level < NEST_DEPTH => {
            let mut body: Vec<String> = kv
                .iter()
                .take(MAX_ITEMS)
                .map(|(k, v)| {
                    format!(
                        "{}: {}",
                        pprint(&Cell::Str(k.clone()), level + 1, true, false),
                        pprint(v, level + 1, true, false)
                    )
                })
                .collect();
            if kv.len() > MAX_ITEMS {
                body.push("...".into());
            }
            format!("{{{}}}", body.join(", "))
        }
        Cell::Str(s) => {
            let s = if escape {
                escaped(s)
            } else {
                s.as_str().into()
            };
            if quote {
                format!("'{s}'")
            } else {
                s.into_owned()
            }
        }
        other => other.py_str(),
    }
}

/// Python's `"{: .6f}"` / `"{: .6e}"` of a float.
fn fixed(x: f64, sci: bool) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    let sign = if x.is_sign_negative() { "-" } else { " " };
    let a = x.abs();
    if a.is_infinite() {
        return format!("{sign}inf");
    }
    if !sci {
        return format!("{sign}{a:.DIGITS$}");
    }
    let s = format!("{a:.DIGITS$e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = exp.parse().unwrap_or(0);
    format!(
        "{sign}{mant}e{}{:02}",
        if e < 0 { '-' } else { '+' },
        e.unsigned_abs()
    )
}

fn is_number_with_decimal(s: &str) -> bool {
    let t = s.trim_start();
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    match t.split_once('.') {
        Some((int, frac)) => {
            !int.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// pandas' `_trim_zeros_float`: trailing zeros cut equally from every decimal number while
/// all end in 0, one kept after the point.
fn trim_zeros(mut v: Vec<String>) -> Vec<String> {
    loop {
        let numbers: Vec<&String> = v.iter().filter(|s| is_number_with_decimal(s)).collect();
        if numbers.is_empty() || !numbers.iter().all(|s| s.ends_with('0')) {
            break;
        }
        for s in v.iter_mut() {
            if is_number_with_decimal(s) {
                s.pop();
            }
        }
    }
    for s in v.iter_mut() {
        if is_number_with_decimal(s) && s.ends_with('.') {
            s.push('0');
        }
    }
    v
}

/// `FloatArrayFormatter` (fixed width, 6 digits, leading space).
fn floats(v: &[f64]) -> Vec<String> {
    let plain = trim_zeros(v.iter().map(|&x| fixed(x, false)).collect());
    let too_long = plain.iter().map(String::len).max().unwrap_or(0) > DIGITS + 6;
    let large = v.iter().any(|x| x.abs() > 1e6);
    let small = v
        .iter()
        .any(|x| x.abs() < 10f64.powi(-(DIGITS as i32)) && x.abs() > 0.0);
    if small || (too_long && large) {
        trim_zeros(v.iter().map(|&x| fixed(x, true)).collect())
    } else {
        plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recorded JSON value as the cell MLflow's frame holds (`"nan"`: a float NaN).
    fn json_cell(v: &serde_json::Value) -> Cell {
        match v {
            serde_json::Value::Null => Cell::Null,
            serde_json::Value::Bool(b) => Cell::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Cell::Int(i),
                None => Cell::Float(n.as_f64().unwrap()),
            },
            serde_json::Value::String(s) if s == "nan" => Cell::Float(f64::NAN),
            serde_json::Value::String(s) => Cell::Str(s.clone()),
            serde_json::Value::Array(a) => Cell::List(a.iter().map(json_cell).collect()),
            serde_json::Value::Object(o) => {
                Cell::Dict(o.iter().map(|(k, v)| (k.clone(), json_cell(v))).collect())
            }
        }
    }

    /// Every printout in `tests/fixtures/pandas_reprs.json` (`record_pandas_reprs.py`).
    #[test]
    fn repr_is_pandas() {
        let recorded: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/pandas_reprs.json")).unwrap();
        let mut wrong = Vec::new();
        for case in recorded["cases"].as_array().unwrap() {
            let nrows = case["nrows"].as_u64().unwrap() as usize;
            let raw = case["columns"].as_array().unwrap();
            let mut f64s = Vec::new();
            let mut f32s = Vec::new();
            let mut bools = Vec::new();
            for c in raw {
                let vals = c["values"].as_array().unwrap();
                let fl: Vec<f64> = vals
                    .iter()
                    .map(|x| match x.as_str() {
                        Some("nan") => f64::NAN,
                        Some("inf") => f64::INFINITY,
                        Some("-inf") => f64::NEG_INFINITY,
                        Some(s) => s.parse().unwrap_or(0.0),
                        None => 0.0,
                    })
                    .collect();
                f32s.push(fl.iter().map(|&x| x as f32).collect::<Vec<f32>>());
                f64s.push(fl);
                bools.push(
                    vals.iter()
                        .map(|x| x.as_bool() == Some(true))
                        .collect::<Vec<bool>>(),
                );
            }
            let cols: Vec<Col<'_>> = raw
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let vals = c["values"].as_array().unwrap();
                    let label = match &c["label"] {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let values = match c["dtype"].as_str().unwrap() {
                        "float64" => Values::F64(&f64s[i]),
                        "float32" => Values::F32(&f32s[i]),
                        "bool" => Values::Bool(&bools[i]),
                        "object" if vals.iter().any(|x| x.get("json").is_some()) => Values::Other(
                            vals.iter()
                                .map(|x| object_cell(&json_cell(&x["json"])))
                                .collect(),
                        ),
                        "str" | "object" => Values::Text(vals.iter().map(|x| x.as_str()).collect()),
                        _ => Values::Int(
                            vals.iter()
                                .map(|x| x.as_str().unwrap().parse().unwrap())
                                .collect(),
                        ),
                    };
                    Col { label, values }
                })
                .collect();
            let int_labels = raw.iter().all(|c| c["label"].is_number());
            let ours = frame_repr(&cols, nrows, int_labels);
            let theirs = case["repr"].as_str().unwrap();
            if ours != theirs {
                wrong.push(format!("pandas:\n{theirs}\n-- ours:\n{ours}"));
            }
        }
        assert!(
            wrong.is_empty(),
            "{} differ:\n{}",
            wrong.len(),
            wrong.join("\n\n")
        );
    }
}
