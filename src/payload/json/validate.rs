//! Whole-document checks: [`validate`] (what `json.loads` accepts, with its error) and
//! [`top_level_keys`] (a cheap structural scan for the common one-pass path).

use super::scan::{JsonError, KeyIndex, Kind, Scanner, MAX_DEPTH};

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
