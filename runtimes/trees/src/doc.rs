//! A bounded reader of the two document encodings XGBoost writes: JSON (`model.json`) and
//! UBJSON (`model.ubj`, the same schema in binary, dmlc/xgboost `src/common/json.cc`).
//!
//! Both produce one [`Value`] tree. Bounds: nesting at most [`MAX_DEPTH`]; a declared array or
//! string length is checked against the bytes left before anything is allocated, so no input
//! makes the reader allocate more than a small multiple of its own size; every error names
//! the byte offset. Numbers keep their float32 reading beside the float64 one, because
//! XGBoost parses its JSON floats as float32 directly (a float64 detour can round twice).

use crate::TreeError;

/// Deepest nesting accepted (XGBoost models nest about 8 levels).
pub const MAX_DEPTH: usize = 64;

/// A document value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number, as float64 and as float32 (each read directly).
    Float(f64, f32),
    /// A string.
    Str(String),
    /// An array of values.
    Array(Vec<Value>),
    /// A typed UBJSON array of float32.
    F32s(Vec<f32>),
    /// A typed UBJSON array of integers (int8/uint8/int16/int32/int64).
    Ints(Vec<i64>),
    /// An object, keys in document order.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A string's text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// An integer (also an integral float, or a string holding an integer: XGBoost writes
    /// most scalar parameters as strings).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f, _) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            Value::Str(s) => s.trim().parse().ok(),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    /// A number as float32, read as XGBoost reads it.
    pub fn as_f32(&self) -> Option<f32> {
        match self {
            Value::Int(i) => Some(*i as f32),
            Value::Float(_, f) => Some(*f),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A number as float64.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f, _) => Some(*f),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// An array of numbers as float32 (typed or not).
    pub fn to_f32s(&self) -> Option<Vec<f32>> {
        match self {
            Value::F32s(v) => Some(v.clone()),
            Value::Ints(v) => Some(v.iter().map(|i| *i as f32).collect()),
            Value::Array(v) => v.iter().map(Value::as_f32).collect(),
            _ => None,
        }
    }

    /// An array of integers (typed or not).
    pub fn to_i64s(&self) -> Option<Vec<i64>> {
        match self {
            Value::Ints(v) => Some(v.clone()),
            Value::Array(v) => v.iter().map(Value::as_i64).collect(),
            Value::F32s(v) => v
                .iter()
                .map(|f| (f.fract() == 0.0).then_some(*f as i64))
                .collect(),
            _ => None,
        }
    }
}

fn bad(offset: usize, what: impl std::fmt::Display) -> TreeError {
    TreeError::Format(format!("at byte {offset}: {what}"))
}

/// Parses a JSON document.
pub fn parse_json(bytes: &[u8]) -> Result<Value, TreeError> {
    let mut p = Json { b: bytes, i: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != bytes.len() {
        return Err(bad(p.i, "trailing bytes after the document"));
    }
    Ok(v)
}

struct Json<'a> {
    b: &'a [u8],
    i: usize,
}

impl Json<'_> {
    fn ws(&mut self) {
        while self
            .b
            .get(self.i)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, TreeError> {
        if depth > MAX_DEPTH {
            return Err(bad(self.i, format_args!("nesting deeper than {MAX_DEPTH}")));
        }
        match self.b.get(self.i) {
            None => Err(bad(self.i, "unexpected end of the document")),
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.eat(b"}") {
                    return Ok(Value::Object(members));
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return Err(bad(self.i, "expected a key"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if !self.eat(b":") {
                        return Err(bad(self.i, "expected ':'"));
                    }
                    self.ws();
                    let v = self.value(depth + 1)?;
                    members.push((k, v));
                    self.ws();
                    if self.eat(b",") {
                        continue;
                    }
                    if self.eat(b"}") {
                        return Ok(Value::Object(members));
                    }
                    return Err(bad(self.i, "expected ',' or '}'"));
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b"]") {
                    return Ok(Value::Array(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(b",") {
                        continue;
                    }
                    if self.eat(b"]") {
                        return Ok(Value::Array(items));
                    }
                    return Err(bad(self.i, "expected ',' or ']'"));
                }
            }
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') if self.eat(b"true") => Ok(Value::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Value::Bool(false)),
            Some(b'n') if self.eat(b"null") => Ok(Value::Null),
            Some(c) if *c == b'-' || c.is_ascii_digit() => self.number(),
            Some(_) => Err(bad(self.i, "unexpected character")),
        }
    }

    fn number(&mut self) -> Result<Value, TreeError> {
        let start = self.i;
        let mut float = false;
        while let Some(c) = self.b.get(self.i) {
            match c {
                b'0'..=b'9' | b'-' | b'+' => {}
                b'.' | b'e' | b'E' => float = true,
                _ => break,
            }
            self.i += 1;
        }
        // Only ASCII bytes were taken.
        let text =
            std::str::from_utf8(&self.b[start..self.i]).map_err(|_| bad(start, "bad number"))?;
        if !float {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Value::Int(i));
            }
        }
        match (text.parse::<f64>(), text.parse::<f32>()) {
            (Ok(d), Ok(f)) => Ok(Value::Float(d, f)),
            _ => Err(bad(start, format_args!("bad number {text:?}"))),
        }
    }

    fn string(&mut self) -> Result<String, TreeError> {
        let start = self.i;
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.b.get(self.i) {
                None => return Err(bad(start, "unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return String::from_utf8(out).map_err(|_| bad(start, "string is not UTF-8"));
                }
                Some(b'\\') => {
                    let esc = *self
                        .b
                        .get(self.i + 1)
                        .ok_or_else(|| bad(self.i, "bad escape"))?;
                    self.i += 2;
                    match esc {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hex = self
                                .b
                                .get(self.i..self.i + 4)
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .ok_or_else(|| bad(self.i, "bad \\u escape"))?;
                            self.i += 4;
                            let c = char::from_u32(hex).unwrap_or('\u{fffd}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(bad(self.i - 1, "bad escape")),
                    }
                }
                Some(c) => {
                    out.push(*c);
                    self.i += 1;
                }
            }
        }
    }
}

/// Parses a UBJSON document (draft 12, with the optimized `$type#count` containers XGBoost
/// writes for its arrays).
pub fn parse_ubjson(bytes: &[u8]) -> Result<Value, TreeError> {
    let mut p = Ubj { b: bytes, i: 0 };
    let marker = p.byte()?;
    let v = p.value(marker, 0)?;
    if p.i != bytes.len() {
        return Err(bad(p.i, "trailing bytes after the document"));
    }
    Ok(v)
}

struct Ubj<'a> {
    b: &'a [u8],
    i: usize,
}

impl Ubj<'_> {
    fn byte(&mut self) -> Result<u8, TreeError> {
        let c = *self
            .b
            .get(self.i)
            .ok_or_else(|| bad(self.i, "unexpected end of the document"))?;
        self.i += 1;
        Ok(c)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], TreeError> {
        let end = self
            .i
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| bad(self.i, format_args!("{n} bytes declared, fewer left")))?;
        let s = &self.b[self.i..end];
        self.i = end;
        Ok(s)
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], TreeError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn int_of(&mut self, marker: u8) -> Result<Option<i64>, TreeError> {
        Ok(Some(match marker {
            b'i' => i8::from_be_bytes(self.be()?) as i64,
            b'U' => u8::from_be_bytes(self.be()?) as i64,
            b'I' => i16::from_be_bytes(self.be()?) as i64,
            b'l' => i32::from_be_bytes(self.be()?) as i64,
            b'L' => i64::from_be_bytes(self.be()?),
            _ => return Ok(None),
        }))
    }

    fn length(&mut self) -> Result<usize, TreeError> {
        let at = self.i;
        let m = self.byte()?;
        let n = self
            .int_of(m)?
            .ok_or_else(|| bad(at, "a length must be an integer"))?;
        usize::try_from(n).map_err(|_| bad(at, format_args!("negative length {n}")))
    }

    fn string(&mut self) -> Result<String, TreeError> {
        let at = self.i;
        let n = self.length()?;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| bad(at, "string is not UTF-8"))
    }

    fn value(&mut self, marker: u8, depth: usize) -> Result<Value, TreeError> {
        if depth > MAX_DEPTH {
            return Err(bad(self.i, format_args!("nesting deeper than {MAX_DEPTH}")));
        }
        let at = self.i.saturating_sub(1);
        if let Some(i) = self.int_of(marker)? {
            return Ok(Value::Int(i));
        }
        match marker {
            b'Z' => Ok(Value::Null),
            b'T' => Ok(Value::Bool(true)),
            b'F' => Ok(Value::Bool(false)),
            b'd' => {
                let f = f32::from_be_bytes(self.be()?);
                Ok(Value::Float(f as f64, f))
            }
            b'D' => {
                let d = f64::from_be_bytes(self.be()?);
                Ok(Value::Float(d, d as f32))
            }
            b'C' => Ok(Value::Str((self.byte()? as char).to_string())),
            b'S' | b'H' => Ok(Value::Str(self.string()?)),
            b'[' => self.array(depth),
            b'{' => self.object(depth),
            other => Err(bad(at, format_args!("unknown UBJSON marker 0x{other:02x}"))),
        }
    }

    /// The optional `$type` and `#count` of a container.
    fn header(&mut self) -> Result<(Option<u8>, Option<usize>), TreeError> {
        let mut ty = None;
        if self.b.get(self.i) == Some(&b'$') {
            self.i += 1;
            ty = Some(self.byte()?);
        }
        let mut count = None;
        if self.b.get(self.i) == Some(&b'#') {
            self.i += 1;
            count = Some(self.length()?);
        } else if ty.is_some() {
            return Err(bad(self.i, "a typed container needs a count"));
        }
        Ok((ty, count))
    }

    fn array(&mut self, depth: usize) -> Result<Value, TreeError> {
        let (ty, count) = self.header()?;
        match (ty, count) {
            (Some(t), Some(n)) => {
                let width = match t {
                    b'i' | b'U' => 1,
                    b'I' => 2,
                    b'l' | b'd' => 4,
                    b'L' | b'D' => 8,
                    // Other element types: at least one byte each.
                    _ => 1,
                };
                let need = n
                    .checked_mul(width)
                    .filter(|need| *need <= self.b.len() - self.i)
                    .ok_or_else(|| {
                        bad(
                            self.i,
                            format_args!("array of {n} elements declared, fewer bytes left"),
                        )
                    })?;
                let _ = need;
                match t {
                    b'd' => {
                        let raw = self.take(n * 4)?;
                        Ok(Value::F32s(
                            raw.chunks_exact(4)
                                .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                                .collect(),
                        ))
                    }
                    b'i' | b'U' | b'I' | b'l' | b'L' => {
                        let mut v = Vec::with_capacity(n);
                        for _ in 0..n {
                            v.push(self.int_of(t)?.unwrap_or(0));
                        }
                        Ok(Value::Ints(v))
                    }
                    _ => {
                        let mut v = Vec::with_capacity(n.min(self.b.len() - self.i));
                        for _ in 0..n {
                            v.push(self.value(t, depth + 1)?);
                        }
                        Ok(Value::Array(v))
                    }
                }
            }
            (None, Some(n)) => {
                if n > self.b.len() - self.i {
                    return Err(bad(
                        self.i,
                        format_args!("array of {n} elements declared, fewer bytes left"),
                    ));
                }
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    let m = self.byte()?;
                    v.push(self.value(m, depth + 1)?);
                }
                Ok(Value::Array(v))
            }
            _ => {
                let mut v = Vec::new();
                loop {
                    let m = self.byte()?;
                    if m == b']' {
                        return Ok(Value::Array(v));
                    }
                    v.push(self.value(m, depth + 1)?);
                }
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, TreeError> {
        let (ty, count) = self.header()?;
        let mut members = Vec::new();
        match count {
            Some(n) => {
                if n > self.b.len() - self.i {
                    return Err(bad(
                        self.i,
                        format_args!("object of {n} members declared, fewer bytes left"),
                    ));
                }
                for _ in 0..n {
                    let k = self.string()?;
                    let m = match ty {
                        Some(t) => t,
                        None => self.byte()?,
                    };
                    members.push((k, self.value(m, depth + 1)?));
                }
            }
            None => loop {
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    break;
                }
                let k = self.string()?;
                let m = self.byte()?;
                members.push((k, self.value(m, depth + 1)?));
            },
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_reads_floats_as_float32_directly() {
        let v = parse_json(br#"{"a": [0.41538402, 1e-45, -3], "b": "x\u0041"}"#).unwrap();
        let a = v.get("a").unwrap().to_f32s().unwrap();
        assert_eq!(a, vec![0.41538402f32, 1e-45f32, -3.0]);
        assert_eq!(v.get("b").unwrap().as_str(), Some("xA"));
    }

    #[test]
    fn hostile_documents_are_errors() {
        assert!(parse_json(&[b'['; 1000]).is_err());
        assert!(parse_json(b"{\"a\":").is_err());
        // A typed array declaring 2^31 floats in a few bytes.
        let mut doc = b"[$d#l".to_vec();
        doc.extend_from_slice(&0x7fff_ffffi32.to_be_bytes());
        assert!(parse_ubjson(&doc).is_err());
        let mut doc = b"[#L".to_vec();
        doc.extend_from_slice(&(-5i64).to_be_bytes());
        assert!(parse_ubjson(&doc).is_err());
        assert!(parse_ubjson(&[b'['; 1000]).is_err());
    }

    #[test]
    fn ubjson_typed_arrays() {
        let mut doc = b"{i\x01a[$d#i\x02".to_vec();
        doc.extend_from_slice(&1.5f32.to_be_bytes());
        doc.extend_from_slice(&(-2.0f32).to_be_bytes());
        doc.extend_from_slice(b"i\x01bSi\x02hi}");
        let v = parse_ubjson(&doc).unwrap();
        assert_eq!(v.get("a"), Some(&Value::F32s(vec![1.5, -2.0])));
        assert_eq!(v.get("b").and_then(Value::as_str), Some("hi"));
    }
}
