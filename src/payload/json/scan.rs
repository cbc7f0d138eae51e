//! A byte-level JSON scanner with Python's `json` semantics and error messages.
//!
//! Python accepts `NaN`, `Infinity`, `-Infinity`, big integers and duplicate keys, and
//! reports errors as `Expecting value: line 1 column 2 (char 1)`. [`validate`] checks a whole
//! document first (so a syntax error anywhere wins, as with `json.loads`); the typed readers
//! in `request.rs` then walk the same bytes with [`Scanner`] knowing they are valid.

use std::borrow::Cow;

use crate::pyjson::Cell;

/// Objects with at most this many distinct keys are searched linearly (no hashing, the
/// common case); larger ones through a hash map, so that duplicate detection stays linear in
/// the body size whatever the number of keys.
const LINEAR_KEYS: usize = 16;

/// Finds a key among the distinct keys of one object (or the column names of a frame) seen
/// so far, in amortised constant time. The caller keeps the keys in its own order; this only
/// indexes them once there are more than a few.
#[derive(Debug, Default)]
pub struct KeyIndex {
    map: Option<std::collections::HashMap<String, usize>>,
}

impl KeyIndex {
    /// An empty index.
    pub fn new() -> KeyIndex {
        KeyIndex::default()
    }

    /// The position of `key` among the `n` keys seen so far (`key_at(i)` is the i-th, `None`
    /// for a label that no string key equals).
    pub fn position<'k>(
        &mut self,
        key: &str,
        n: usize,
        key_at: impl Fn(usize) -> Option<&'k str>,
    ) -> Option<usize> {
        if n <= LINEAR_KEYS && self.map.is_none() {
            return (0..n).find(|&i| key_at(i) == Some(key));
        }
        let map = self.map.get_or_insert_with(|| {
            let mut m = std::collections::HashMap::with_capacity(n * 2);
            for i in 0..n {
                if let Some(k) = key_at(i) {
                    m.entry(k.to_string()).or_insert(i);
                }
            }
            m
        });
        map.get(key).copied()
    }

    /// Records that `key` was appended at position `i` (call after a miss).
    pub fn push(&mut self, key: &str, i: usize) {
        if let Some(m) = &mut self.map {
            m.entry(key.to_string()).or_insert(i);
        }
    }
}

/// Nesting deeper than this is refused (Python would raise RecursionError near 1000).
pub const MAX_DEPTH: usize = 512;

/// A JSON syntax error at a byte offset, with Python's message text.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonError {
    /// `Expecting value`, `Extra data`, …
    pub msg: &'static str,
    /// Byte offset into the document.
    pub pos: usize,
}

impl JsonError {
    /// `msg: line L column C (char N)` computed on characters, as Python does.
    pub fn python_message(&self, doc: &str) -> String {
        let pos = self.pos.min(doc.len());
        let prefix = &doc.as_bytes()[..pos];
        let char_pos = prefix.iter().filter(|&&b| (b & 0xC0) != 0x80).count();
        let line = prefix.iter().filter(|&&b| b == b'\n').count() + 1;
        let col = match prefix.iter().rposition(|&b| b == b'\n') {
            Some(nl) => {
                prefix[nl + 1..]
                    .iter()
                    .filter(|&&b| (b & 0xC0) != 0x80)
                    .count()
                    + 1
            }
            None => char_pos + 1,
        };
        format!(
            "{}: line {} column {} (char {})",
            self.msg, line, col, char_pos
        )
    }
}

/// A number token: Python keeps integers exact and reads the rest as float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num<'a> {
    /// Fits i64.
    Int(i64),
    /// An integer literal beyond i64.
    BigInt(&'a str),
    /// A float literal or NaN/Infinity.
    Float(f64),
}

/// The kind of the next value, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `{`
    Object,
    /// `[`
    Array,
    /// `"`
    String,
    /// a number or NaN/Infinity
    Number,
    /// `true`/`false`
    Bool,
    /// `null`
    Null,
}

/// A cursor over a (valid UTF-8) document.
pub struct Scanner<'a> {
    /// The document.
    pub doc: &'a str,
    b: &'a [u8],
    /// Current byte offset.
    pub pos: usize,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `doc`.
    pub fn new(doc: &'a str) -> Self {
        Scanner {
            doc,
            b: doc.as_bytes(),
            pos: 0,
        }
    }

    /// Skips JSON whitespace.
    #[inline]
    pub fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.pos) {
            if c == b' ' || c == b'\n' || c == b'\r' || c == b'\t' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// The next byte, if any.
    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn err<T>(&self, msg: &'static str, pos: usize) -> Result<T, JsonError> {
        Err(JsonError { msg, pos })
    }

    /// The common number in one tight pass: after whitespace, `-?digits(.digits)?` with at
    /// most 19 digits, no exponent and no leading zero, whose value the fast path gives
    /// exactly (a float mantissa below 2^53 with at most 22 decimals; an int that fits i64).
    /// Anything else returns `None` with the cursor on the value, for [`Scanner::number`]
    /// (or [`Scanner::kind`]) to handle.
    #[inline]
    pub fn plain_number(&mut self) -> Option<Num<'a>> {
        self.ws();
        let b = self.b;
        let mut p = self.pos;
        let negative = b.get(p) == Some(&b'-');
        p += usize::from(negative);
        let int_start = p;
        let mut mantissa: u64 = 0;
        while let Some(&c) = b.get(p) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d));
            p += 1;
        }
        let int_len = p - int_start;
        if int_len == 0 || (int_len > 1 && b[int_start] == b'0') {
            return None;
        }
        let mut frac = 0;
        if b.get(p) == Some(&b'.') {
            let frac_start = p + 1;
            let mut q = frac_start;
            while let Some(&c) = b.get(q) {
                let d = c.wrapping_sub(b'0');
                if d > 9 {
                    break;
                }
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d));
                q += 1;
            }
            frac = q - frac_start;
            if frac == 0 {
                return None;
            }
            p = q;
        }
        if matches!(b.get(p), Some(b'e' | b'E')) || int_len + frac > 19 {
            return None;
        }
        let num = if frac > 0 {
            if mantissa >= 1 << 53 || frac >= POW10.len() {
                return None;
            }
            let x = mantissa as f64 / POW10[frac];
            Num::Float(if negative { -x } else { x })
        } else {
            let i = i64::try_from(mantissa).ok()?;
            Num::Int(if negative { -i } else { i })
        };
        self.pos = p;
        Some(num)
    }

    /// Kind of the value at the cursor (after whitespace), or `Expecting value`.
    pub fn kind(&mut self) -> Result<Kind, JsonError> {
        self.ws();
        match self.peek() {
            Some(b'{') => Ok(Kind::Object),
            Some(b'[') => Ok(Kind::Array),
            Some(b'"') => Ok(Kind::String),
            Some(b't') if self.b[self.pos..].starts_with(b"true") => Ok(Kind::Bool),
            Some(b'f') if self.b[self.pos..].starts_with(b"false") => Ok(Kind::Bool),
            Some(b'n') if self.b[self.pos..].starts_with(b"null") => Ok(Kind::Null),
            Some(b'N') if self.b[self.pos..].starts_with(b"NaN") => Ok(Kind::Number),
            Some(b'I') if self.b[self.pos..].starts_with(b"Infinity") => Ok(Kind::Number),
            Some(b'-') if self.b[self.pos..].starts_with(b"-Infinity") => Ok(Kind::Number),
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let next = if c == b'-' {
                    self.b.get(self.pos + 1).copied()
                } else {
                    Some(c)
                };
                if next.is_some_and(|d| d.is_ascii_digit()) {
                    Ok(Kind::Number)
                } else {
                    self.err("Expecting value", self.pos)
                }
            }
            _ => self.err("Expecting value", self.pos),
        }
    }

    /// Reads a number (the cursor is on it).
    pub fn number(&mut self) -> Result<Num<'a>, JsonError> {
        match self.number_span::<true>()? {
            NumSpan::Special(x) => Ok(Num::Float(x)),
            NumSpan::Text {
                start,
                end,
                float,
                digits,
            } => {
                // Clinger's fast path: an integer mantissa below 2^53 and a power of ten up to
                // 10^22 are both exact doubles, so one IEEE division is correctly rounded,
                // the same double `float()` gives. Anything else takes the full parser.
                if let Some(Digits {
                    mantissa,
                    frac,
                    negative,
                }) = digits
                {
                    if float && mantissa < (1 << 53) && (frac as usize) < POW10.len() {
                        let x = mantissa as f64 / POW10[frac as usize];
                        return Ok(Num::Float(if negative { -x } else { x }));
                    }
                    if !float && frac == 0 && mantissa <= i64::MAX as u64 {
                        let i = mantissa as i64;
                        return Ok(Num::Int(if negative { -i } else { i }));
                    }
                }
                let text = &self.doc[start..end];
                if float {
                    Ok(Num::Float(text.parse::<f64>().unwrap_or(f64::NAN)))
                } else {
                    match text.parse::<i64>() {
                        Ok(i) => Ok(Num::Int(i)),
                        Err(_) => Ok(Num::BigInt(text)),
                    }
                }
            }
        }
    }

    /// Moves past a number without converting it (validation pass).
    pub fn skip_number(&mut self) -> Result<(), JsonError> {
        self.number_span::<false>().map(|_| ())
    }

    /// Finds the extent of the number under the cursor, as Python's scanner does, and moves
    /// past it.
    /// `DIGITS`: also gather the digits for `number`'s fast path (not needed to skip).
    fn number_span<const DIGITS: bool>(&mut self) -> Result<NumSpan, JsonError> {
        self.ws();
        let start = self.pos;
        let rest = &self.b[self.pos..];
        match rest.first() {
            Some(b'N') if rest.starts_with(b"NaN") => {
                self.pos += 3;
                return Ok(NumSpan::Special(f64::NAN));
            }
            Some(b'I') if rest.starts_with(b"Infinity") => {
                self.pos += 8;
                return Ok(NumSpan::Special(f64::INFINITY));
            }
            Some(b'-') if rest.starts_with(b"-Infinity") => {
                self.pos += 9;
                return Ok(NumSpan::Special(f64::NEG_INFINITY));
            }
            _ => {}
        }
        let b = self.b;
        let mut p = self.pos;
        let negative = b.get(p) == Some(&b'-');
        if negative {
            p += 1;
        }
        // The decimal digits as an integer mantissa (wrapping; only used when there are at
        // most 19 of them, which cannot overflow), for `number`'s fast path.
        let mut mantissa: u64 = 0;
        let int_start = p;
        match b.get(p) {
            Some(b'0') => p += 1,
            Some(c) if c.is_ascii_digit() => {
                while p < b.len() && b[p].is_ascii_digit() {
                    if DIGITS {
                        mantissa = mantissa
                            .wrapping_mul(10)
                            .wrapping_add(u64::from(b[p] - b'0'));
                    }
                    p += 1;
                }
            }
            _ => return self.err("Expecting value", start),
        }
        let mut ndigits = p - int_start;
        let mut float = false;
        let mut frac: u32 = 0;
        if b.get(p) == Some(&b'.') && b.get(p + 1).is_some_and(|c| c.is_ascii_digit()) {
            float = true;
            p += 1;
            let frac_start = p;
            while p < b.len() && b[p].is_ascii_digit() {
                if DIGITS {
                    mantissa = mantissa
                        .wrapping_mul(10)
                        .wrapping_add(u64::from(b[p] - b'0'));
                }
                p += 1;
            }
            ndigits += p - frac_start;
            frac = u32::try_from(p - frac_start).unwrap_or(u32::MAX);
        }
        let mut exponent = false;
        if matches!(b.get(p), Some(b'e') | Some(b'E')) {
            let mut q = p + 1;
            if matches!(b.get(q), Some(b'+') | Some(b'-')) {
                q += 1;
            }
            if b.get(q).is_some_and(|c| c.is_ascii_digit()) {
                while q < b.len() && b[q].is_ascii_digit() {
                    q += 1;
                }
                float = true;
                exponent = true;
                p = q;
            }
        }
        self.pos = p;
        Ok(NumSpan::Text {
            start,
            end: p,
            float,
            digits: (DIGITS && !exponent && ndigits <= 19).then_some(Digits {
                mantissa,
                frac,
                negative,
            }),
        })
    }

    /// Reads a string literal (the cursor is on its opening quote).
    pub fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.ws();
        let start = self.pos;
        let mut p = start + 1;
        // fast path: no escapes
        while let Some(&c) = self.b.get(p) {
            match c {
                b'"' => {
                    self.pos = p + 1;
                    return Ok(Cow::Borrowed(&self.doc[start + 1..p]));
                }
                b'\\' => break,
                c if c < 0x20 => return self.err("Invalid control character at", p),
                _ => p += 1,
            }
        }
        if p >= self.b.len() {
            return self.err("Unterminated string starting at", start);
        }
        let mut out = String::with_capacity(p - start + 16);
        out.push_str(&self.doc[start + 1..p]);
        loop {
            let Some(&c) = self.b.get(p) else {
                return self.err("Unterminated string starting at", start);
            };
            match c {
                b'"' => {
                    self.pos = p + 1;
                    return Ok(Cow::Owned(out));
                }
                b'\\' => {
                    let Some(&e) = self.b.get(p + 1) else {
                        return self.err("Unterminated string starting at", start);
                    };
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4(p + 2).ok_or(JsonError {
                                msg: "Invalid \\uXXXX escape",
                                pos: p + 1,
                            })?;
                            p += 6;
                            if (0xD800..0xDC00).contains(&hi)
                                && self.b.get(p) == Some(&b'\\')
                                && self.b.get(p + 1) == Some(&b'u')
                            {
                                if let Some(lo) =
                                    self.hex4(p + 2).filter(|lo| (0xDC00..0xE000).contains(lo))
                                {
                                    let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                    out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                                    p += 6;
                                    continue;
                                }
                            }
                            out.push(char::from_u32(hi).unwrap_or('\u{FFFD}'));
                            continue;
                        }
                        _ => return self.err("Invalid \\escape", p),
                    }
                    p += 2;
                }
                c if c < 0x20 => return self.err("Invalid control character at", p),
                _ => {
                    let run_start = p;
                    while self
                        .b
                        .get(p)
                        .is_some_and(|&c| c != b'"' && c != b'\\' && c >= 0x20)
                    {
                        p += 1;
                    }
                    out.push_str(&self.doc[run_start..p]);
                }
            }
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let s = self.doc.get(at..at + 4)?;
        if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(s, 16).ok()
    }

    /// Reads `true`/`false`.
    pub fn boolean(&mut self) -> Result<bool, JsonError> {
        self.ws();
        if self.b[self.pos..].starts_with(b"true") {
            self.pos += 4;
            Ok(true)
        } else if self.b[self.pos..].starts_with(b"false") {
            self.pos += 5;
            Ok(false)
        } else {
            self.err("Expecting value", self.pos)
        }
    }

    /// Reads `null`.
    pub fn null(&mut self) -> Result<(), JsonError> {
        self.ws();
        if self.b[self.pos..].starts_with(b"null") {
            self.pos += 4;
            Ok(())
        } else {
            self.err("Expecting value", self.pos)
        }
    }

    /// Consumes `[`; returns false if the array is empty (and consumes `]`).
    pub fn array_open(&mut self) -> Result<bool, JsonError> {
        self.ws();
        self.pos += 1;
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// After an element: true if another follows (consumes `,`), false at `]`.
    pub fn array_next(&mut self) -> Result<bool, JsonError> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b']') => {
                self.pos += 1;
                Ok(false)
            }
            _ => self.err("Expecting ',' delimiter", self.pos),
        }
    }

    /// Consumes `{`; returns the first key, or None for `{}`.
    pub fn object_open(&mut self) -> Result<Option<Cow<'a, str>>, JsonError> {
        self.ws();
        self.pos += 1;
        self.ws();
        match self.peek() {
            Some(b'}') => {
                self.pos += 1;
                Ok(None)
            }
            Some(b'"') => Ok(Some(self.key()?)),
            _ => self.err(
                "Expecting property name enclosed in double quotes",
                self.pos,
            ),
        }
    }

    fn key(&mut self) -> Result<Cow<'a, str>, JsonError> {
        let k = self.string()?;
        self.ws();
        if self.peek() != Some(b':') {
            return self.err("Expecting ':' delimiter", self.pos);
        }
        self.pos += 1;
        Ok(k)
    }

    /// After a member value: the next key, or None at `}`.
    pub fn object_next(&mut self) -> Result<Option<Cow<'a, str>>, JsonError> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                self.ws();
                if self.peek() != Some(b'"') {
                    return self.err(
                        "Expecting property name enclosed in double quotes",
                        self.pos,
                    );
                }
                Ok(Some(self.key()?))
            }
            Some(b'}') => {
                self.pos += 1;
                Ok(None)
            }
            _ => self.err("Expecting ',' delimiter", self.pos),
        }
    }

    /// Reads any value into a [`Cell`] (slow path).
    pub fn cell(&mut self, depth: usize) -> Result<Cell, JsonError> {
        if depth > MAX_DEPTH {
            return self.err("Maximum nesting depth exceeded", self.pos);
        }
        Ok(match self.kind()? {
            Kind::Null => {
                self.null()?;
                Cell::Null
            }
            Kind::Bool => Cell::Bool(self.boolean()?),
            Kind::Number => match self.number()? {
                Num::Int(i) => Cell::Int(i),
                Num::BigInt(s) => Cell::BigInt(s.to_string()),
                Num::Float(f) => Cell::Float(f),
            },
            Kind::String => Cell::Str(self.string()?.into_owned()),
            Kind::Array => {
                let mut v = Vec::new();
                if self.array_open()? {
                    loop {
                        v.push(self.cell(depth + 1)?);
                        if !self.array_next()? {
                            break;
                        }
                    }
                }
                Cell::List(v)
            }
            Kind::Object => {
                let mut kv: Vec<(String, Cell)> = Vec::new();
                let mut index = KeyIndex::new();
                let mut key = self.object_open()?;
                while let Some(k) = key {
                    let v = self.cell(depth + 1)?;
                    match index.position(&k, kv.len(), |i| Some(kv[i].0.as_str())) {
                        Some(i) => kv[i].1 = v,
                        None => {
                            index.push(&k, kv.len());
                            kv.push((k.into_owned(), v));
                        }
                    }
                    key = self.object_next()?;
                }
                Cell::Dict(kv)
            }
        })
    }

    /// Skips any value.
    pub fn skip(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return self.err("Maximum nesting depth exceeded", self.pos);
        }
        match self.kind()? {
            Kind::Null => self.null(),
            Kind::Bool => self.boolean().map(|_| ()),
            Kind::Number => self.skip_number(),
            Kind::String => self.string().map(|_| ()),
            Kind::Array => {
                if self.array_open()? {
                    loop {
                        self.skip(depth + 1)?;
                        if !self.array_next()? {
                            break;
                        }
                    }
                }
                Ok(())
            }
            Kind::Object => {
                let mut key = self.object_open()?;
                while key.is_some() {
                    self.skip(depth + 1)?;
                    key = self.object_next()?;
                }
                Ok(())
            }
        }
    }
}

/// The top-level object's keys (in order, first occurrence) found by a structural scan that
/// only tracks strings and brackets, without checking scalars: a few instructions per byte
/// against [`validate`]'s full check. `None` when `doc` is not an object, when the scan meets
/// anything unexpected, or when nesting comes near [`MAX_DEPTH`]: the caller then validates
/// first, as before. A document this accepts may still be invalid JSON; the typed pass that
/// follows checks every byte it reads and falls back to [`validate`] on any error.
pub fn top_level_keys(doc: &str) -> Option<Vec<String>> {
    let mut s = Scanner::new(doc);
    if s.kind().ok()? != Kind::Object {
        return None;
    }
    let mut keys: Vec<String> = Vec::new();
    let mut index = KeyIndex::new();
    let mut key = s.object_open().ok()?;
    while let Some(k) = key {
        if index
            .position(&k, keys.len(), |i| Some(keys[i].as_str()))
            .is_none()
        {
            index.push(&k, keys.len());
            keys.push(k.into_owned());
        }
        s.pos = structural_skip(s.b, s.pos)?;
        key = s.object_next().ok()?;
    }
    Some(keys)
}

/// Moves past one value by brackets and string quotes only; `None` on EOF or deep nesting.
fn structural_skip(b: &[u8], mut p: usize) -> Option<usize> {
    while matches!(b.get(p), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        p += 1;
    }
    let mut depth = 0usize;
    loop {
        match *b.get(p)? {
            b'"' => {
                p += 1;
                loop {
                    match *b.get(p)? {
                        b'\\' => p += 2,
                        b'"' => break,
                        _ => p += 1,
                    }
                }
                p += 1;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH / 2 {
                    return None;
                }
                p += 1;
            }
            b']' | b'}' if depth == 0 => return Some(p),
            b']' | b'}' => {
                depth -= 1;
                p += 1;
            }
            b',' if depth == 0 => return Some(p),
            _ => p += 1,
        }
        if depth == 0 && matches!(b.get(p.saturating_sub(1)), Some(b'"' | b']' | b'}')) {
            return Some(p);
        }
    }
}

/// Checks that `doc` is one JSON value with only whitespace around it, like `json.loads`.
/// Where a number is in the document, or a non-finite literal.
enum NumSpan {
    Special(f64),
    Text {
        start: usize,
        end: usize,
        float: bool,
        /// The digits as an integer, when there is no exponent and at most 19 digits.
        digits: Option<Digits>,
    },
}

/// A number's decimal digits read as one integer: `-12.345` is 12345, 3 fraction digits.
#[derive(Clone, Copy)]
struct Digits {
    mantissa: u64,
    frac: u32,
    negative: bool,
}

/// The powers of ten that are exact doubles.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Returns the top-level object's keys (in order, first occurrence) when it is an object.
pub fn validate(doc: &str) -> Result<Option<Vec<String>>, JsonError> {
    let mut s = Scanner::new(doc);
    let keys = if s.kind()? == Kind::Object {
        let mut keys: Vec<String> = Vec::new();
        let mut index = KeyIndex::new();
        let mut key = s.object_open()?;
        while let Some(k) = key {
            if index
                .position(&k, keys.len(), |i| Some(keys[i].as_str()))
                .is_none()
            {
                index.push(&k, keys.len());
                keys.push(k.into_owned());
            }
            s.skip(1)?;
            key = s.object_next()?;
        }
        Some(keys)
    } else {
        s.skip(0)?;
        None
    };
    s.ws();
    if s.pos < doc.len() {
        return Err(JsonError {
            msg: "Extra data",
            pos: s.pos,
        });
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(doc: &str) -> String {
        validate(doc).unwrap_err().python_message(doc)
    }

    #[test]
    fn python_messages() {
        assert_eq!(
            msg("{bad json"),
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
        );
        assert_eq!(msg(""), "Expecting value: line 1 column 1 (char 0)");
        assert_eq!(
            msg("{\"dataframe_split\": {\"columns\": [\"a"),
            "Unterminated string starting at: line 1 column 34 (char 33)"
        );
        assert_eq!(
            msg("{\"a\": 1 \"b\": 2}"),
            "Expecting ',' delimiter: line 1 column 9 (char 8)"
        );
        assert_eq!(
            msg("{\"a\": \"\\q\"}"),
            "Invalid \\escape: line 1 column 8 (char 7)"
        );
        assert_eq!(
            msg("{\"a\": \"x\ty\"}"),
            "Invalid control character at: line 1 column 9 (char 8)"
        );
        assert_eq!(
            msg("{\n  \"a\": 1,\n  \"b\": \n}"),
            "Expecting value: line 4 column 1 (char 20)"
        );
        assert_eq!(
            msg("{\"é\": [1, }"),
            "Expecting value: line 1 column 11 (char 10)"
        );
        assert_eq!(msg("{} x"), "Extra data: line 1 column 4 (char 3)");
        assert_eq!(
            msg("[1, 2"),
            "Expecting ',' delimiter: line 1 column 6 (char 5)"
        );
        assert_eq!(msg("-"), "Expecting value: line 1 column 1 (char 0)");
    }

    #[test]
    fn fast_path_numbers_equal_the_full_parser() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "0.0",
            "-0.0",
            "7.4",
            "0.1",
            "0.3",
            "1.001",
            "9007199254740993",
            "9007199254740992.5",
            "123456789012345678",
            "1234567890123456789",
            "12345678901234567890",
            "-9223372036854775808",
            "9223372036854775807",
            "9223372036854775808",
            "0.0000000000000000000001",
            "1.00000000000000000000001",
            "4.9406564584124654e-324",
            "1e22",
            "1.5E+3",
            "-2.5e-3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..20000 {
            let int = next() % 10u64.pow((next() % 17) as u32 + 1);
            let frac_digits = (next() % 20) as usize;
            let frac = next() % 10u64.pow(frac_digits.min(19) as u32).max(1);
            let sign = if next() % 2 == 0 { "-" } else { "" };
            texts.push(if frac_digits == 0 {
                format!("{sign}{int}")
            } else {
                format!("{sign}{int}.{frac:0frac_digits$}")
            });
        }
        let odd = [
            "01", "00.5", "-01.5", "1.", "1.e5", "-", "-x", " 7.5", "2.5e3", "0.5E1",
        ];
        for t in texts.iter().map(String::as_str).chain(odd) {
            // The one-pass reader agrees with `number` or declines, leaving the cursor.
            let mut s = Scanner::new(t);
            match s.plain_number() {
                Some(n) => {
                    let mut full = Scanner::new(t);
                    assert_eq!(Some(n), full.number().ok(), "{t}");
                    assert_eq!(s.pos, full.pos, "{t}");
                }
                None => assert_eq!(s.pos, t.len() - t.trim_start().len(), "{t}"),
            }
        }
        for t in texts {
            let got = Scanner::new(&t).number().unwrap();
            let is_float = t.contains(['.', 'e', 'E']);
            match got {
                Num::Float(x) => {
                    assert!(is_float, "{t}");
                    let want: f64 = t.parse().unwrap();
                    assert_eq!(x.to_bits(), want.to_bits(), "{t}");
                }
                Num::Int(i) => assert_eq!(Ok(i), t.parse::<i64>(), "{t}"),
                Num::BigInt(b) => {
                    assert_eq!(b, t);
                    assert!(t.parse::<i64>().is_err(), "{t}");
                }
            }
        }
    }

    #[test]
    fn accepts_python_extensions() {
        assert!(validate("[NaN, Infinity, -Infinity, 123456789012345678901234567890]").is_ok());
        let keys = validate("{\"b\": 1, \"a\": 2, \"b\": 3}").unwrap().unwrap();
        assert_eq!(keys, vec!["b", "a"]);
    }
}
