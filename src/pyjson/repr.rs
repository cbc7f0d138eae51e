//! Python `repr` forms that MLflow embeds in its messages (`str`, `bytes`, `float`, shape
//! tuples, `UnicodeDecodeError`), each cut at [`max_error_data`] bytes.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

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

    /// Appends as much of `s` as fits (cut at a character boundary), then, if that was not
    /// all of it, `...` and the rendering is full: a rendering cut mid-line, as one cut
    /// after it was written would read.
    pub fn push_cut(&mut self, s: &str) -> bool {
        if self.full {
            return false;
        }
        if self.out.len() + s.len() <= self.limit {
            self.out.push_str(s);
            return true;
        }
        let mut cut = self.limit.saturating_sub(self.out.len()).min(s.len());
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.out.push_str(&s[..cut]);
        self.out.push_str("...");
        self.full = true;
        false
    }

    /// Appends one character (see [`Bounded::push_str`]).
    pub fn push(&mut self, c: char) -> bool {
        let mut b = [0u8; 4];
        self.push_str(c.encode_utf8(&mut b))
    }

    /// The rendering so far.
    pub fn as_str(&self) -> &str {
        &self.out
    }

    /// The rendering.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Request data echoed as it is in a message (a name, a datatype, a header), cut at
/// [`max_error_data`] bytes with `...` before it is formatted into the message.
pub fn bounded(s: &str) -> std::borrow::Cow<'_, str> {
    let cap = max_error_data();
    if s.len() <= cap {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut cut = cap;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    std::borrow::Cow::Owned(format!("{}...", &s[..cut]))
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

/// Python's `repr(float)`, with `nan`, `inf` and `-inf` (the JSON writer's `NaN` and
/// `Infinity` are `json.dumps` spellings, not `repr`'s).
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else {
        super::write::f64_repr(x)
    }
}

/// Python's `repr` of a shape tuple: `()`, `(11,)`, `(-1, 11)`.
pub fn shape_repr<T: std::fmt::Display>(shape: &[T]) -> String {
    match shape.len() {
        0 => "()".into(),
        1 => format!("({},)", shape[0]),
        _ => {
            let mut out = Bounded::new();
            out.push('(');
            let mut item = String::new();
            for (i, d) in shape.iter().enumerate() {
                item.clear();
                if i > 0 {
                    item.push_str(", ");
                }
                let _ = write!(item, "{d}");
                if !out.push_str(&item) {
                    return out.finish();
                }
            }
            out.push(')');
            out.finish()
        }
    }
}

/// `str(UnicodeDecodeError(...))` for bytes that are not UTF-8, positions relative to `b`:
/// `'utf-8' codec can't decode byte 0xff in position 7: invalid start byte`.
pub fn unicode_error_str(b: &[u8], e: &std::str::Utf8Error) -> String {
    let (start, end, reason) = utf8_error_span(b, e);
    if end - start == 1 {
        format!(
            "'utf-8' codec can't decode byte 0x{:02x} in position {start}: {reason}",
            b[start]
        )
    } else {
        format!(
            "'utf-8' codec can't decode bytes in position {start}-{}: {reason}",
            end - 1
        )
    }
}

/// Where Python's UTF-8 decoder stops on `b` and why: `(start, end, reason)`.
fn utf8_error_span(b: &[u8], e: &std::str::Utf8Error) -> (usize, usize, &'static str) {
    let start = e.valid_up_to();
    let lead = b[start];
    match e.error_len() {
        None => (start, b.len(), "unexpected end of data"),
        Some(_) if (0x80..0xC2).contains(&lead) || lead >= 0xF5 => {
            (start, start + 1, "invalid start byte")
        }
        Some(n) => (start, start + n, "invalid continuation byte"),
    }
}

/// `UnicodeDecodeError('utf-8', b'...', start, end, 'reason')`.
pub fn unicode_error_repr(b: &[u8], e: &std::str::Utf8Error) -> String {
    let (start, end, reason) = utf8_error_span(b, e);
    format!(
        "UnicodeDecodeError('utf-8', {}, {start}, {end}, '{reason}')",
        bytes_repr(b)
    )
}
