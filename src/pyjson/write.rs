//! `json.dumps` output, as MLflow writes its responses: floats in Python's `repr` form,
//! strings with Python's escapes.

use super::Cell;

use std::fmt::Write as _;

/// Appends `x` the way Python's `repr(float)` / `json.dumps` print it: shortest round-trip
/// digits, `.0` on integral values, exponent form outside `[1e-4, 1e16)`, and the bare
/// tokens `NaN`, `Infinity`, `-Infinity`.
pub fn write_f64(out: &mut Vec<u8>, x: f64) {
    // Where Python prints positional notation, ryu's shortest digits are already Python's
    // text (`0.0001`, `100.0`, `-0.0`); elsewhere the exponent form differs (`1e-05`).
    let a = x.abs();
    if a == 0.0 || (1e-4..1e16).contains(&a) {
        let mut buf = ryu::Buffer::new();
        out.extend_from_slice(buf.format_finite(x).as_bytes());
        return;
    }
    write_f64_general(out, x);
}

/// [`write_f64`] for any value, from ryu's digits and Python's layout rules.
pub(crate) fn write_f64_general(out: &mut Vec<u8>, x: f64) {
    if x.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if x.is_infinite() {
        out.extend_from_slice(if x > 0.0 { b"Infinity" } else { b"-Infinity" });
        return;
    }
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(x);
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    // Split ryu's output into significant digits and a decimal point position `decpt`
    // such that value = 0.d1d2d3... * 10^decpt.
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    let (int_part, frac_part) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, ""),
    };
    // At most 17 significant digits plus ryu's padding zeros: 32 bytes on the stack.
    let mut buf = [0u8; 32];
    let mut n = 0;
    for &d in int_part.as_bytes().iter().chain(frac_part.as_bytes()) {
        if n < buf.len() {
            buf[n] = d;
            n += 1;
        }
    }
    let mut decpt = int_part.len() as i32 + exp;
    let mut digits = &buf[..n];
    // strip leading zeros (e.g. "0.001")
    while digits.len() > 1 && digits[0] == b'0' {
        digits = &digits[1..];
        decpt -= 1;
    }
    while digits.len() > 1 && digits[digits.len() - 1] == b'0' {
        digits = &digits[..digits.len() - 1];
    }
    if neg {
        out.push(b'-');
    }
    if digits == b"0" {
        out.extend_from_slice(b"0.0");
        return;
    }
    if decpt > -4 && decpt <= 16 {
        if decpt <= 0 {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-decpt) as usize));
            out.extend_from_slice(digits);
        } else if decpt as usize >= digits.len() {
            out.extend_from_slice(digits);
            out.extend(std::iter::repeat_n(b'0', decpt as usize - digits.len()));
            out.extend_from_slice(b".0");
        } else {
            out.extend_from_slice(&digits[..decpt as usize]);
            out.push(b'.');
            out.extend_from_slice(&digits[decpt as usize..]);
        }
    } else {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        let e = decpt - 1;
        let _ = write!(
            VecWriter(out),
            "e{}{:02}",
            if e < 0 { '-' } else { '+' },
            e.abs()
        );
    }
}

/// `repr(float)` as a `String`.
pub fn f64_repr(x: f64) -> String {
    let mut v = Vec::with_capacity(24);
    write_f64(&mut v, x);
    String::from_utf8(v).unwrap_or_default()
}

/// Appends an integer.
pub fn write_i64(out: &mut Vec<u8>, x: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(x).as_bytes());
}

/// Appends an unsigned integer.
pub fn write_u64(out: &mut Vec<u8>, x: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(x).as_bytes());
}

struct VecWriter<'a>(&'a mut Vec<u8>);
impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Appends `s` as a JSON string literal with Python's `ensure_ascii=True` escaping.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    out.push(b'"');
    for ch in s.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            ' '..='~' => out.push(ch as u8),
            _ => {
                let mut units = [0u16; 2];
                for u in ch.encode_utf16(&mut units) {
                    let _ = write!(VecWriter(out), "\\u{:04x}", u);
                }
            }
        }
    }
    out.push(b'"');
}

/// Appends a cell as JSON (Python's separators; NaN as `NaN`, as `json.dumps` writes it).
pub fn write_cell_json(out: &mut Vec<u8>, cell: &Cell) {
    match cell {
        Cell::Null => out.extend_from_slice(b"null"),
        Cell::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Cell::Int(i) => write_i64(out, *i),
        Cell::BigInt(digits) => out.extend_from_slice(digits.as_bytes()),
        Cell::Float(x) => write_f64(out, *x),
        Cell::Str(s) => write_str(out, s),
        Cell::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_cell_json(out, item);
            }
            out.push(b']');
        }
        Cell::Dict(items) => {
            out.push(b'{');
            for (i, (k, v)) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_str(out, k);
                out.extend_from_slice(b": ");
                write_cell_json(out, v);
            }
            out.push(b'}');
        }
    }
}
