//! A byte-level JSON scanner with Python's `json` semantics and error messages.
//!
//! Python accepts `NaN`, `Infinity`, `-Infinity`, big integers and duplicate keys, and
//! reports errors as `Expecting value: line 1 column 2 (char 1)`. [`Scanner`] walks a
//! document value by value and checks every byte it reads; the typed readers (`frame`,
//! `tensor`) drive it. Numbers are read by its `number` submodule and duplicate keys found
//! by `keys` ([`KeyIndex`]); whole-document checks are the sibling module `validate`, built
//! on this scanner.

use std::borrow::Cow;

use crate::pyjson::Cell;

mod keys;
mod number;

pub use keys::KeyIndex;
pub use number::Num;

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
    pub(super) b: &'a [u8],
    /// Current byte offset.
    pub pos: usize,
    /// The first lone surrogate escape (`\ud800`) read, as Python's UTF-8 encoder reports
    /// it (`'utf-8' codec can't encode character '\ud800' in position 0: …`); the string
    /// itself holds U+FFFD in its place.
    pub lone_surrogate: Option<String>,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `doc`.
    pub fn new(doc: &'a str) -> Self {
        Scanner {
            doc,
            b: doc.as_bytes(),
            pos: 0,
            lone_surrogate: None,
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

    pub(super) fn err<T>(&self, msg: &'static str, pos: usize) -> Result<T, JsonError> {
        Err(JsonError { msg, pos })
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
                            if (0xD800..0xE000).contains(&hi) && self.lone_surrogate.is_none() {
                                self.lone_surrogate = Some(format!(
                                    "'utf-8' codec can't encode character '\\u{hi:04x}' in position {}: surrogates not allowed",
                                    out.chars().count()
                                ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::json::validate::validate;

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
