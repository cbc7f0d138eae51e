//! Python-compatible text: `json.dumps` output (MLflow's response format) and the `repr`
//! forms of floats, strings and bytes that MLflow embeds in its messages.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

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
fn write_f64_general(out: &mut Vec<u8>, x: f64) {
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
    let mut b = itoa_buf();
    out.extend_from_slice(b.format(x).as_bytes());
}

/// Appends an unsigned integer.
pub fn write_u64(out: &mut Vec<u8>, x: u64) {
    let mut b = itoa_buf();
    out.extend_from_slice(b.format(x).as_bytes());
}

fn itoa_buf() -> ItoaBuf {
    ItoaBuf(String::with_capacity(20))
}

struct ItoaBuf(String);
impl ItoaBuf {
    fn format<T: std::fmt::Display>(&mut self, x: T) -> &str {
        self.0.clear();
        let _ = write!(self.0, "{x}");
        &self.0
    }
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

/// Default for [`max_error_data`]: the longest rendering of request data (a `repr`, a list
/// of keys, the body of a decode error) embedded in one error message, in bytes.
pub const DEFAULT_MAX_ERROR_DATA: usize = 4096;

static MAX_ERROR_DATA: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_ERROR_DATA);

/// Sets the process-wide cap on data embedded in messages (`--max-error-data-bytes`).
pub fn set_max_error_data(bytes: usize) {
    MAX_ERROR_DATA.store(bytes.max(16), Ordering::Relaxed);
}

/// The longest rendering of request data embedded in one message; longer renderings are cut
/// there and end with `...`. Python embeds the whole value, so a large hostile body would
/// otherwise produce a message several times its size.
pub fn max_error_data() -> usize {
    MAX_ERROR_DATA.load(Ordering::Relaxed)
}

/// A string that stops growing at [`max_error_data`] bytes and then ends with `...`: every
/// `repr` of request data is built through one, so building a message costs at most the cap.
#[derive(Debug)]
pub struct Bounded {
    out: String,
    limit: usize,
    full: bool,
}

impl Default for Bounded {
    fn default() -> Self {
        Bounded::new()
    }
}

impl Bounded {
    /// An empty rendering capped at [`max_error_data`].
    pub fn new() -> Bounded {
        Bounded::with_limit(max_error_data())
    }

    /// An empty rendering capped at `limit` bytes.
    pub fn with_limit(limit: usize) -> Bounded {
        Bounded {
            out: String::new(),
            limit,
            full: false,
        }
    }

    /// True once the cap was reached: callers stop rendering.
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Appends `s` whole, or marks the rendering full (nothing more is appended).
    pub fn push_str(&mut self, s: &str) -> bool {
        if self.full {
            return false;
        }
        if self.out.len() + s.len() > self.limit {
            self.full = true;
            self.out.push_str("...");
            return false;
        }
        self.out.push_str(s);
        true
    }

    /// Appends one character (see [`Bounded::push_str`]).
    pub fn push(&mut self, c: char) -> bool {
        let mut b = [0u8; 4];
        self.push_str(c.encode_utf8(&mut b))
    }

    /// The rendering.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Python's `repr(str)`: single quotes unless the text holds `'` and no `"`; cut at
/// [`max_error_data`] with `...`.
pub fn str_repr(s: &str) -> String {
    let mut out = Bounded::new();
    str_repr_into(&mut out, s);
    out.finish()
}

/// [`str_repr`] appended to a bounded rendering.
pub fn str_repr_into(out: &mut Bounded, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    let mut esc = String::with_capacity(4);
    for ch in s.chars() {
        let ok = match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                esc.clear();
                esc.push('\\');
                esc.push(c);
                out.push_str(&esc)
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f || (0x80..0xa0).contains(&(c as u32)) => {
                esc.clear();
                let _ = write!(esc, "\\x{:02x}", c as u32);
                out.push_str(&esc)
            }
            c => out.push(c),
        };
        if !ok {
            return;
        }
    }
    out.push(quote);
}

/// Python's `repr(bytes)`: `b'...'` with `\xNN` escapes; cut at [`max_error_data`] with `...`
/// (only the bytes that fit are looked at, plus one scan for the quote choice).
pub fn bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = Bounded::new();
    out.push('b');
    out.push(quote as char);
    let mut esc = String::with_capacity(4);
    for &c in b {
        let ok = match c {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            c if c == quote => {
                esc.clear();
                esc.push('\\');
                esc.push(c as char);
                out.push_str(&esc)
            }
            0x20..=0x7e => out.push(c as char),
            c => {
                esc.clear();
                let _ = write!(esc, "\\x{:02x}", c);
                out.push_str(&esc)
            }
        };
        if !ok {
            return out.finish();
        }
    }
    out.push(quote as char);
    out.finish()
}

/// Items joined with `sep`, bounded like every rendering of request data (a list of keys
/// or column names taken from the body).
pub fn join_bounded<I, S>(items: I, sep: &str) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = Bounded::new();
    for (i, item) in items.into_iter().enumerate() {
        if (i > 0 && !out.push_str(sep)) || !out.push_str(item.as_ref()) {
            break;
        }
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(x: f64) -> String {
        f64_repr(x)
    }

    #[test]
    fn floats_like_python() {
        assert_eq!(r(1e16), "1e+16");
        assert_eq!(r(1e15), "1000000000000000.0");
        assert_eq!(r(1e-5), "1e-05");
        assert_eq!(r(0.0001), "0.0001");
        assert_eq!(r(1.5e-10), "1.5e-10");
        assert_eq!(r(100.0), "100.0");
        assert_eq!(r(-0.0), "-0.0");
        assert_eq!(r(0.0), "0.0");
        assert_eq!(r(0.1f32 as f64), "0.10000000149011612");
        assert_eq!(r(6.043787956237793), "6.043787956237793");
        assert_eq!(r(-1.1771970720806994e18), "-1.1771970720806994e+18");
        assert_eq!(r(123456.789), "123456.789");
        assert_eq!(r(f64::NAN), "NaN");
        assert_eq!(r(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(r(2.5e-5), "2.5e-05");
        assert_eq!(r(1.7976931348623157e308), "1.7976931348623157e+308");
        assert_eq!(r(5e-324), "5e-324");
    }

    #[test]
    fn positional_fast_path_equals_the_general_layout() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut values = vec![0.0, -0.0, 1e-4, -1e-4, 9.999999999999998e15, 1e16, 1.0, 0.1];
        for _ in 0..50_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let x = f64::from_bits(rng);
            values.push(x);
            // Also values of ordinary magnitude, where the fast path applies.
            values.push((rng % 1_000_000_007) as f64 / 10f64.powi((rng % 12) as i32));
        }
        for x in values.into_iter().filter(|x| x.is_finite()) {
            let (mut fast, mut general) = (Vec::new(), Vec::new());
            write_f64(&mut fast, x);
            write_f64_general(&mut general, x);
            assert_eq!(fast, general, "{x:e}");
        }
    }

    #[test]
    fn strings_like_python() {
        let mut v = Vec::new();
        write_str(&mut v, "é☃😀\"\\\n\u{7f}/");
        assert_eq!(
            String::from_utf8(v).unwrap(),
            r#""\u00e9\u2603\ud83d\ude00\"\\\n\u007f/""#
        );
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("a\\b"), "'a\\\\b'");
        assert_eq!(bytes_repr(b"{'a': 1}"), "b\"{'a': 1}\"");
        assert_eq!(bytes_repr(b"\xc3\xa9\n"), "b'\\xc3\\xa9\\n'");
    }

    #[test]
    fn renderings_of_request_data_are_bounded() {
        let big = "x".repeat(10 * DEFAULT_MAX_ERROR_DATA);
        let r = str_repr(&big);
        assert!(r.len() <= DEFAULT_MAX_ERROR_DATA + 3, "{}", r.len());
        assert!(r.starts_with("'xxx") && r.ends_with("x..."));
        let b = bytes_repr(&vec![0x80u8; 10 * DEFAULT_MAX_ERROR_DATA]);
        assert!(b.len() <= DEFAULT_MAX_ERROR_DATA + 3);
        assert!(b.starts_with("b'\\x80") && b.ends_with("\\x80..."));
        // Small values keep Python's exact text.
        assert_eq!(str_repr(&"y".repeat(100)), format!("'{}'", "y".repeat(100)));
        let keys: Vec<String> = (0..100_000).map(|i| format!("'k{i}'")).collect();
        let j = join_bounded(&keys, ", ");
        assert!(j.len() <= DEFAULT_MAX_ERROR_DATA + 3 && j.ends_with("..."));
        assert_eq!(join_bounded(["'a'", "'b'"], ", "), "'a', 'b'");
    }
}
