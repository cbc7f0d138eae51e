//! Python's `float(str)` and `int(str)` (base 10), as MLflow's casts call them on strings.

/// Python's `float(str)`: surrounding whitespace, an optional sign, `nan`/`inf`/`infinity` in
/// any case, and `_` only between two digits (`1_0` but not `1__0`, `_1`, `1_` or `1_.5`).
pub fn py_float(s: &str) -> Option<f64> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if unsigned.len() + 1 < lower.len() {
        return None; // more than one sign
    }
    if matches!(unsigned, "nan" | "inf" | "infinity") {
        let negative = lower.starts_with('-');
        return Some(match (unsigned, negative) {
            ("nan", _) => f64::NAN,
            (_, true) => f64::NEG_INFINITY,
            _ => f64::INFINITY,
        });
    }
    if t.is_empty()
        || !t
            .bytes()
            .all(|c| c.is_ascii_digit() || b"+-.eE_".contains(&c))
    {
        return None;
    }
    without_underscores(t)?.parse::<f64>().ok()
}

/// Python's `int(str)` in base 10, as i128 so that callers can range-check it: whitespace,
/// an optional sign, digits with `_` only between two digits. `None` beyond i128.
pub fn py_int(s: &str) -> Option<i128> {
    let t = s.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit() || c == b'_') {
        return None;
    }
    // Beyond i128 this answers `None`, as for text that is not an int at all.
    without_underscores(t)?.parse::<i128>().ok()
}

/// `s` without its underscores, or `None` when one is not between two ASCII digits.
fn without_underscores(s: &str) -> Option<std::borrow::Cow<'_, str>> {
    if !s.contains('_') {
        return Some(std::borrow::Cow::Borrowed(s));
    }
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let before = i > 0 && b[i - 1].is_ascii_digit();
            let after = b.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !(before && after) {
                return None;
            }
        }
    }
    Some(std::borrow::Cow::Owned(s.replace('_', "")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python's own answers, recorded by `tests/fixtures/record_python_numbers.py`.
    #[test]
    fn float_and_int_of_strings_match_python() {
        let recorded: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/python_numbers.json")).unwrap();
        let cases = recorded["cases"].as_array().unwrap();
        assert!(cases.len() > 50);
        for case in cases {
            let s = case["s"].as_str().unwrap();
            let want_float = case["float"].as_str().map(|r| match r {
                "nan" => f64::NAN,
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                r => r.parse::<f64>().unwrap(),
            });
            let got = py_float(s);
            match (got, want_float) {
                (Some(g), Some(w)) => assert!(
                    (g.is_nan() && w.is_nan()) || g.to_bits() == w.to_bits(),
                    "float({s:?}): {g:?} vs Python's {w:?}"
                ),
                (g, w) => assert_eq!(
                    g.is_some(),
                    w.is_some(),
                    "float({s:?}): {g:?} vs Python's {w:?}"
                ),
            }
            let want_int = case["int"].as_str();
            let got = py_int(s);
            match want_int {
                // Beyond i128 Python still has an int; py_int answers None there.
                Some(w) if w.trim_start_matches('-').len() > 38 => {
                    assert_eq!(
                        got.map(|g| g.to_string()),
                        w.parse::<i128>().ok().map(|v| v.to_string()),
                        "int({s:?})"
                    )
                }
                w => assert_eq!(got.map(|g| g.to_string()).as_deref(), w, "int({s:?})"),
            }
        }
    }
}
