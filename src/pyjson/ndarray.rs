//! numpy's `str()` and `repr()` of an array, as MLflow's messages embed them
//! (`numpy/_core/arrayprint.py` with its default options: precision 8, `maxprec` floats,
//! line width 75, summarisation with `...` beyond 1000 elements, 3 edge items). Checked
//! against numpy's own printouts in `tests/fixtures/numpy_reprs.json`. Every printout is
//! written into a [`Bounded`] rendering: it stops at `--max-error-data-bytes` while it is
//! written, and shapes deeper than numpy's [`MAX_DIMS`] are never walked.

use super::repr::Bounded;

/// An array's elements, row-major.
#[derive(Debug, Clone, Copy)]
pub enum Elems<'a> {
    /// float64
    F64(&'a [f64]),
    /// float32 (printed with float32's shortest digits)
    F32(&'a [f32]),
    /// Any integer dtype, widened.
    Int(&'a [i128]),
    /// bool
    Bool(&'a [bool]),
}

const LINE_WIDTH: usize = 75;
const THRESHOLD: usize = 1000;
const EDGE_ITEMS: usize = 3;
const PRECISION: usize = 8;

/// numpy's most dimensions (`NPY_MAXDIMS` in numpy 2): no numpy array has more, and the
/// printer refuses deeper shapes rather than recurse once per dimension.
pub const MAX_DIMS: usize = 64;

/// `str(array)`, written into a [`Bounded`] rendering that stops at
/// [`super::max_error_data`] bytes (nothing past the cap is formatted).
pub fn array_str(shape: &[usize], elems: Elems<'_>) -> String {
    if shape.is_empty() {
        // numpy prints a 0-d array as `str()` of its scalar: Python's float repr (`5.0`),
        // float32 with its own shortest digits
        return match elems {
            Elems::F64(v) => v.first().map_or(String::new(), |x| super::float_repr(*x)),
            Elems::F32(v) => v.first().map_or(String::new(), |x| {
                super::float_repr(x.to_string().parse::<f64>().unwrap_or(f64::NAN))
            }),
            Elems::Int(v) => v.first().map_or(String::new(), i128::to_string),
            Elems::Bool(v) => v.first().map_or(String::new(), |b| {
                if *b { "True" } else { "False" }.to_string()
            }),
        };
    }
    let mut out = Bounded::new();
    array2string(&mut out, shape, elems, " ", "", LINE_WIDTH);
    out.finish()
}

/// `repr(array)`; `dtype` is numpy's name of the element type (`float32`, `int64`, …).
/// Written into a [`Bounded`] rendering, as [`array_str`].
pub fn array_repr(shape: &[usize], elems: Elems<'_>, dtype: &str) -> String {
    let size = shape.iter().try_fold(1usize, |a, &n| a.checked_mul(n));
    let prefix = "array(";
    let mut out = Bounded::new();
    out.push_str(prefix);
    let empty_nd = size == Some(0) && shape != [0];
    if empty_nd {
        out.push_str("[]");
    } else {
        array2string(&mut out, shape, elems, ", ", prefix, LINE_WIDTH - 1);
    }
    if out.is_full() {
        return out.finish();
    }
    let mut extras = Vec::new();
    if empty_nd || size.is_none_or(|n| n > THRESHOLD) {
        extras.push(format!("shape={}", super::shape_repr(shape)));
    }
    let implied = matches!(dtype, "float64" | "int64" | "bool");
    if !implied || size == Some(0) {
        extras.push(format!("dtype={dtype}"));
    }
    if extras.is_empty() {
        out.push(')');
        return out.finish();
    }
    out.push(',');
    let extra = format!("{})", extras.join(", "));
    let arr = out.as_str();
    let last_line = arr.len() - arr.rfind('\n').map_or(0, |i| i + 1);
    if last_line + extra.len() + 1 > LINE_WIDTH {
        out.push('\n');
        out.push_str(&" ".repeat(prefix.len()));
    } else {
        out.push(' ');
    }
    out.push_str(&extra);
    out.finish()
}

fn array2string(
    out: &mut Bounded,
    shape: &[usize],
    elems: Elems<'_>,
    separator: &str,
    prefix: &str,
    width: usize,
) {
    if shape.len() > MAX_DIMS {
        // No numpy array has this many dimensions: callers refuse such shapes first.
        out.push_str("[...]");
        return;
    }
    let Some(size) = shape.iter().try_fold(1usize, |a, &n| a.checked_mul(n)) else {
        out.push_str("[...]");
        return;
    };
    if size == 0 {
        out.push_str("[]");
        return;
    }
    let summarize = size > THRESHOLD;
    // The elements that are printed decide the format (numpy formats the edges only).
    let shown = shown_indices(shape, summarize);
    let f = Formatter::new(elems, &shown);
    let next_line_prefix = format!(" {}", " ".repeat(prefix.len()));
    let mut index = Vec::with_capacity(shape.len());
    recurse(
        &Layout {
            shape,
            separator,
            summarize,
            f: &f,
        },
        &mut index,
        &next_line_prefix,
        width,
        out,
    );
}

struct Layout<'a, 'b> {
    shape: &'a [usize],
    separator: &'a str,
    summarize: bool,
    f: &'a Formatter<'b>,
}

impl Layout<'_, '_> {
    fn offset(&self, index: &[usize]) -> usize {
        index
            .iter()
            .zip(self.shape)
            .fold(0, |acc, (&i, &n)| acc * n + i)
    }

    /// The indices shown along an axis of length `n`: all, or the edges around `...`.
    fn axis(&self, n: usize) -> (Vec<usize>, bool) {
        if self.summarize && 2 * EDGE_ITEMS < n {
            let mut v: Vec<usize> = (0..EDGE_ITEMS).collect();
            v.extend(n - EDGE_ITEMS..n);
            (v, true)
        } else {
            ((0..n).collect(), false)
        }
    }
}

/// Writes the sub-array at `index` (`[` … `]`, its first line without the hanging indent,
/// as numpy's `_formatArray`). Recursion depth is the rank, at most [`MAX_DIMS`]; it stops
/// as soon as `out` is full.
fn recurse(
    l: &Layout<'_, '_>,
    index: &mut Vec<usize>,
    hanging: &str,
    width: usize,
    out: &mut Bounded,
) {
    let axis = index.len();
    let axes_left = l.shape.len() - axis;
    if axes_left == 0 {
        // a 0-d array: its one element
        out.push_str(&l.f.format(l.offset(index)));
        return;
    }
    let next_hanging = format!("{hanging} ");
    let next_width = width.saturating_sub(1);
    let (items, summary) = l.axis(l.shape[axis]);
    out.push('[');
    if axes_left == 1 {
        let elem_width = width.saturating_sub(l.separator.trim_end().len().max(1));
        let mut line = hanging.to_string();
        let mut first_line = true;
        for (k, &i) in items.iter().enumerate() {
            if out.is_full() {
                return;
            }
            if summary && k == EDGE_ITEMS {
                extend_line(out, &mut line, "...", elem_width, hanging, &mut first_line);
                line.push_str(l.separator);
            }
            index.push(i);
            let word = l.f.format(l.offset(index));
            index.pop();
            extend_line(out, &mut line, &word, elem_width, hanging, &mut first_line);
            if k + 1 != items.len() {
                line.push_str(l.separator);
            }
        }
        emit_line(out, &line, hanging, &mut first_line);
    } else {
        let line_sep = format!("{}{}", l.separator.trim_end(), "\n".repeat(axes_left - 1));
        for (k, &i) in items.iter().enumerate() {
            if out.is_full() {
                return;
            }
            if summary && k == EDGE_ITEMS {
                out.push_str(hanging);
                out.push_str("...");
                out.push_str(&line_sep);
            }
            if k > 0 {
                out.push_str(hanging);
            }
            index.push(i);
            recurse(l, index, &next_hanging, next_width, out);
            index.pop();
            if k + 1 < items.len() {
                out.push_str(&line_sep);
            }
        }
    }
    out.push(']');
}

/// Appends `word` to the line being built, first writing the line out when the word would
/// pass `width` (numpy's `_extendLine`).
fn extend_line(
    out: &mut Bounded,
    line: &mut String,
    word: &str,
    width: usize,
    hanging: &str,
    first_line: &mut bool,
) {
    if line.len() + word.len() > width && line.len() > hanging.len() {
        emit_line(out, line.trim_end(), hanging, first_line);
        out.push('\n');
        line.clear();
        line.push_str(hanging);
    }
    line.push_str(word);
}

/// Writes a finished line; the sub-array's first line goes without its hanging indent.
fn emit_line(out: &mut Bounded, text: &str, hanging: &str, first_line: &mut bool) {
    if std::mem::take(first_line) {
        out.push_str(text.get(hanging.len()..).unwrap_or(""));
    } else {
        out.push_str(text);
    }
}

/// The flat offsets of the elements numpy prints (all, or the summarised edges).
fn shown_indices(shape: &[usize], summarize: bool) -> Vec<usize> {
    let mut out = vec![0usize];
    for &n in shape {
        let axis: Vec<usize> = if summarize && 2 * EDGE_ITEMS < n {
            (0..EDGE_ITEMS).chain(n - EDGE_ITEMS..n).collect()
        } else {
            (0..n).collect()
        };
        out = out
            .iter()
            .flat_map(|&o| axis.iter().map(move |&i| o * n + i))
            .collect();
    }
    out
}

/// numpy's per-array element format.
enum Formatter<'a> {
    Float(FloatFormat<'a>),
    Int { v: &'a [i128], width: usize },
    Bool { v: &'a [bool] },
}

struct FloatFormat<'a> {
    elems: Elems<'a>,
    exp: bool,
    pad_left: usize,
    pad_right: usize,
    /// Scientific: digits after the point (all values), and exponent digits.
    precision: usize,
    exp_size: usize,
}

impl<'a> Formatter<'a> {
    fn new(elems: Elems<'a>, shown: &[usize]) -> Formatter<'a> {
        match elems {
            Elems::Int(v) => {
                let width = shown
                    .iter()
                    .map(|&i| v[i].to_string().len())
                    .max()
                    .unwrap_or(0);
                Formatter::Int { v, width }
            }
            Elems::Bool(v) => Formatter::Bool { v },
            Elems::F64(_) | Elems::F32(_) => Formatter::Float(FloatFormat::new(elems, shown)),
        }
    }

    fn format(&self, i: usize) -> String {
        match self {
            Formatter::Int { v, width } => format!("{:>width$}", v[i]),
            Formatter::Bool { v } => (if v[i] { " True" } else { "False" }).to_string(),
            Formatter::Float(f) => f.format(i),
        }
    }
}

fn value(elems: Elems<'_>, i: usize) -> f64 {
    match elems {
        Elems::F64(v) => v[i],
        Elems::F32(v) => f64::from(v[i]),
        Elems::Int(v) => v[i] as f64,
        Elems::Bool(v) => f64::from(u8::from(v[i])),
    }
}

impl<'a> FloatFormat<'a> {
    fn new(elems: Elems<'a>, shown: &[usize]) -> FloatFormat<'a> {
        let finite: Vec<usize> = shown
            .iter()
            .copied()
            .filter(|&i| value(elems, i).is_finite())
            .collect();
        let abs_nonzero: Vec<f64> = finite
            .iter()
            .map(|&i| value(elems, i).abs())
            .filter(|&x| x != 0.0)
            .collect();
        let exp = match (
            abs_nonzero.iter().copied().reduce(f64::max),
            abs_nonzero.iter().copied().reduce(f64::min),
        ) {
            (Some(max), Some(min)) => max >= 1e8 || min < 1e-4 || max / min > 1e3,
            _ => false,
        };
        let mut f = FloatFormat {
            elems,
            exp,
            pad_left: 0,
            pad_right: 0,
            precision: 0,
            exp_size: 0,
        };
        if finite.is_empty() {
            // only nan/inf
        } else if exp {
            let strs: Vec<String> = finite
                .iter()
                .map(|&i| scientific_unique(elems, i))
                .collect();
            let mut exp_len = 0;
            for s in &strs {
                let (mant, e) = s.split_once('e').unwrap_or((s, "+00"));
                let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
                f.pad_left = f.pad_left.max(int.len());
                f.precision = f.precision.max(frac.len());
                exp_len = exp_len.max(e.len());
            }
            f.exp_size = exp_len - 1;
            f.pad_right = f.exp_size + 2 + f.precision;
        } else {
            for &i in &finite {
                let s = positional_unique(elems, i);
                let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
                f.pad_left = f.pad_left.max(int.len());
                f.pad_right = f.pad_right.max(frac.len());
            }
        }
        if finite.len() != shown.len() {
            let neginf = shown.iter().any(|&i| value(elems, i) == f64::NEG_INFINITY);
            let offset = f.pad_right + 1;
            f.pad_left = f
                .pad_left
                .max(3usize.saturating_sub(offset))
                .max((3 + usize::from(neginf)).saturating_sub(offset));
        }
        f
    }

    fn format(&self, i: usize) -> String {
        let x = value(self.elems, i);
        if !x.is_finite() {
            let s = if x.is_nan() {
                "nan"
            } else if x > 0.0 {
                "inf"
            } else {
                "-inf"
            };
            let width = self.pad_left + self.pad_right + 1;
            return format!("{s:>width$}");
        }
        if self.exp {
            let s = scientific_unique(self.elems, i);
            let (mant, e) = s.split_once('e').unwrap_or((&s, "+00"));
            let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
            let (sign, digits) = e.split_at(1);
            let exp_digits = format!("{digits:0>width$}", width = self.exp_size);
            format!(
                "{int:>pl$}.{frac:0<pr$}e{sign}{exp_digits}",
                pl = self.pad_left,
                pr = self.precision
            )
        } else {
            let s = positional_unique(self.elems, i);
            let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
            format!(
                "{int:>pl$}.{frac:<pr$}",
                pl = self.pad_left,
                pr = self.pad_right
            )
        }
    }
}

/// dragon4 positional, unique digits up to 8 after the point, trailing zeros trimmed (the
/// point kept): `1.`, `0.55`, `-0.`.
fn positional_unique(elems: Elems<'_>, i: usize) -> String {
    let (shortest, capped) = match elems {
        Elems::F32(v) => (format!("{}", v[i]), format!("{:.*}", PRECISION, v[i])),
        _ => {
            let x = value(elems, i);
            (format!("{x}"), format!("{x:.PRECISION$}"))
        }
    };
    let s = match shortest.split_once('.') {
        Some((_, frac)) if frac.len() > PRECISION => capped,
        _ => shortest,
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').to_string()
    } else {
        format!("{s}.")
    };
    s
}

/// dragon4 scientific, unique digits up to 8 after the point, as `d.ddde±XX`.
fn scientific_unique(elems: Elems<'_>, i: usize) -> String {
    let (shortest, capped) = match elems {
        Elems::F32(v) => (format!("{:e}", v[i]), format!("{:.*e}", PRECISION, v[i])),
        _ => {
            let x = value(elems, i);
            (format!("{x:e}"), format!("{x:.PRECISION$e}"))
        }
    };
    let (mant, exp) = shortest.split_once('e').unwrap_or((&shortest, "0"));
    let (mant, exp) = match mant.split_once('.') {
        Some((_, frac)) if frac.len() > PRECISION => {
            let (m, e) = capped.split_once('e').unwrap_or((&capped, "0"));
            (m.to_string(), e.to_string())
        }
        _ => (mant.to_string(), exp.to_string()),
    };
    let mant = if mant.contains('.') {
        mant.trim_end_matches('0').to_string()
    } else {
        format!("{mant}.")
    };
    let e: i32 = exp.parse().unwrap_or(0);
    format!(
        "{mant}e{}{:02}",
        if e < 0 { '-' } else { '+' },
        e.unsigned_abs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_and_large_arrays_print_bounded_without_recursing_past_numpys_rank() {
        let one = [1.5f64];
        // numpy's deepest array: 64 levels of brackets, no underflow of the line width.
        let s = array_str(&[1; MAX_DIMS], Elems::F64(&one));
        assert!(s.starts_with(&"[".repeat(MAX_DIMS)), "{s}");
        // Deeper than numpy: never walked.
        assert_eq!(array_str(&[1; 100_000], Elems::F64(&one)), "[...]");
        assert!(array_repr(&[1; 100_000], Elems::F64(&one), "float64").len() < 8192);
        // A large printout stops at the cap while it is written.
        let many: Vec<f64> = (0..20_000).map(f64::from).collect();
        let shape = [2, 2, 5, 1000];
        let s = array_str(&shape, Elems::F64(&many));
        assert!(
            s.len() <= crate::pyjson::max_error_data() + 3,
            "{}",
            s.len()
        );
    }

    /// Every printout in `tests/fixtures/numpy_reprs.json` (`record_numpy_reprs.py`).
    #[test]
    fn str_and_repr_are_numpys() {
        let recorded: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/numpy_reprs.json")).unwrap();
        let mut wrong = Vec::new();
        for case in recorded["cases"].as_array().unwrap() {
            let dtype = case["dtype"].as_str().unwrap();
            let shape: Vec<usize> = case["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap() as usize)
                .collect();
            let values = case["values"].as_array().unwrap();
            let floats: Vec<f64> = values
                .iter()
                .filter_map(|v| v.as_str())
                .map(|s| match s {
                    "nan" => f64::NAN,
                    "inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    s => s.parse().unwrap_or(0.0),
                })
                .collect();
            let f32s: Vec<f32> = floats.iter().map(|&x| x as f32).collect();
            let ints: Vec<i128> = values
                .iter()
                .filter_map(|v| v.as_str())
                .filter_map(|s| s.parse().ok())
                .collect();
            let bools: Vec<bool> = values.iter().filter_map(|v| v.as_bool()).collect();
            let elems = match dtype {
                "float64" => Elems::F64(&floats),
                "float32" => Elems::F32(&f32s),
                "bool" => Elems::Bool(&bools),
                _ => Elems::Int(&ints),
            };
            let (s, r) = (array_str(&shape, elems), array_repr(&shape, elems, dtype));
            if s != case["str"].as_str().unwrap() {
                wrong.push(format!(
                    "str {dtype} {shape:?}:\n{}\n-- ours:\n{s}",
                    case["str"].as_str().unwrap()
                ));
            }
            if r != case["repr"].as_str().unwrap() {
                wrong.push(format!(
                    "repr {dtype} {shape:?}:\n{}\n-- ours:\n{r}",
                    case["repr"].as_str().unwrap()
                ));
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
