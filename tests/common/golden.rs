//! What the golden tests share (`golden_replay`, `predict_parity`, `kserve_v1`): the
//! recorded golden files, a case's request body, how a message is compared with MLflow's,
//! and the committed parity figures a run must reproduce.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

/// The golden files (`*.json`) of `dir`, sorted; at least `min` of them.
pub fn files(dir: &Path, min: usize) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= min,
        "{} golden files in {}, expected at least {min}",
        files.len(),
        dir.display()
    );
    files
}

/// A golden file, parsed.
pub fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A case's request body (`body_b64`, else `body`), if it has one.
pub fn body(case: &Value) -> Option<Vec<u8>> {
    match (
        case.get("body_b64").and_then(Value::as_str),
        case.get("body").and_then(Value::as_str),
    ) {
        (Some(b), _) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .expect("body_b64 is base64"),
        ),
        (None, Some(b)) => Some(b.as_bytes().to_vec()),
        _ => None,
    }
}

/// The part of a message after Python's rendering of the data (`Failed to predict data
/// '…'. \nError: …`, `… of data '…' with schema '…'`), for the cases listed as printing the
/// data differently.
pub fn without_data(m: &str) -> String {
    if let Some(i) = m.rfind("' with schema '") {
        return m[i..].to_string();
    }
    if let Some(rest) = m.strip_prefix("Failed to predict data '") {
        if let Some(i) = rest.find("'. \nError: ") {
            return rest[i..].to_string();
        }
    }
    m.to_string()
}

/// The items of the collection starting at `open` (a `[` or `{`) of `m`, split on `, ` at
/// its top level (quotes and nested brackets respected), and the index just past its end.
fn items(m: &str, open: usize) -> Option<(Vec<&str>, usize)> {
    let b = m.as_bytes();
    let (mut depth, mut quote, mut start) = (0i32, None::<u8>, open + 1);
    let mut out = Vec::new();
    let mut i = open;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(_) if c == b'\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                b'\'' | b'"' => quote = Some(c),
                b'[' | b'{' | b'(' => depth += 1,
                b']' | b'}' | b')' => {
                    depth -= 1;
                    if depth == 0 {
                        out.push(&m[start..i]);
                        return Some((out, i + 1));
                    }
                }
                b',' if depth == 1 && b.get(i + 1) == Some(&b' ') => {
                    out.push(&m[start..i]);
                    start = i + 2;
                }
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// The opening bracket (`[` or `{`) of the innermost collection that holds byte `at` of `m`.
fn enclosing(m: &str, at: usize) -> Option<usize> {
    let b = m.as_bytes();
    let mut depth = 0;
    for i in (0..at.min(b.len())).rev() {
        match b[i] {
            b']' | b'}' | b')' => depth += 1,
            b'[' | b'{' | b'(' if depth > 0 => depth -= 1,
            b'[' | b'{' => return Some(i),
            _ => {}
        }
    }
    None
}

/// Whether two messages are the same but for the order of the items of one collection
/// they print from a Python set (a set's order is the hash order of MLflow's process, which
/// changes from run to run; MLflow prints some as `{…}`, some as a list made from one): the
/// text around that collection identical, its items the same (an anagram of the items, or
/// one item more or less, is a difference).
pub fn same_but_set_order(expected: &str, actual: &str) -> bool {
    if expected == actual {
        return true;
    }
    let prefix = expected
        .bytes()
        .zip(actual.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let Some(open) = enclosing(expected, prefix) else {
        return false;
    };
    let (Some((mut e, e_end)), Some((mut a, a_end))) = (items(expected, open), items(actual, open))
    else {
        return false;
    };
    e.sort_unstable();
    a.sort_unstable();
    e == a && expected[e_end..] == actual[a_end..]
}

/// How a message is compared with MLflow's (a case's `compare`, one mode or several joined
/// by `+`): `exact` (the default); `set` (the same but for the order of a printed Python
/// set); `exception` (up to the quoted text of a library's exception, `Error: '…`, whose
/// wording differs between pandas and us); `predict` (after Python's rendering of the data,
/// for cases listed as printing it differently). A lenient mode that is no longer needed (the
/// messages are identical, or would compare equal without it) is an error naming it, so that
/// the lists of known differences only shrink.
pub fn compare_message(compare: &str, expected: &str, actual: &str) -> Result<(), String> {
    let modes: Vec<&str> = compare.split('+').filter(|m| *m != "exact").collect();
    for m in &modes {
        assert!(
            matches!(*m, "set" | "exception" | "predict"),
            "unknown compare mode {m:?}"
        );
    }
    let same = |modes: &[&str]| {
        let (mut e, mut a) = (expected.to_string(), actual.to_string());
        if modes.contains(&"predict") {
            (e, a) = (without_data(&e), without_data(&a));
        }
        if modes.contains(&"exception") {
            let cut = |m: &str| {
                m.find("Error: '")
                    .map_or(m.to_string(), |i| m[..i].to_string())
            };
            (e, a) = (cut(&e), cut(&a));
        }
        if modes.contains(&"set") {
            same_but_set_order(&e, &a)
        } else {
            e == a
        }
    };
    if !same(&modes) {
        return Err(format!(
            "message differs ({compare}):\n  mlflow:       {expected:?}\n  mlflow-serve: {actual:?}"
        ));
    }
    // `set` may pass by chance (the order differs from run to run); the others are listed
    // differences, which must still differ.
    for dropped in ["predict", "exception"] {
        if modes.contains(&dropped) {
            let fewer: Vec<&str> = modes.iter().copied().filter(|m| *m != dropped).collect();
            if same(&fewer) {
                return Err(format!(
                    "listed as `{dropped}` but the message now compares without it: take \
                     `{dropped}` off this case (tests/golden/record.py and its golden)"
                ));
            }
        }
    }
    Ok(())
}

/// The committed figures of a parity test: cases compared and error messages identical to
/// MLflow's, character for character. A run must reproduce both: fewer means a regression,
/// more means the figure (and the README) must be raised to the new count.
pub fn assert_figures(what: &str, cases: usize, identical: usize, expected: (usize, usize)) {
    let (want_cases, want_identical) = expected;
    eprintln!("{what}: {cases} cases compared, {identical} error messages identical");
    assert_eq!(
        cases, want_cases,
        "{what}: {cases} cases compared, the committed figure is {want_cases}; \
         fewer means cases were lost, more means the figure must be raised"
    );
    assert_eq!(
        identical, want_identical,
        "{what}: {identical} error messages identical to MLflow's, the committed figure is \
         {want_identical}; fewer is a regression (GOLDEN_SHOW_MESSAGES=1 lists the others), \
         more means the figure (and the README's) must be raised"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_compare_as_sets_not_as_characters() {
        let a = "Got {'extra', 'data'}.'";
        assert!(same_but_set_order(a, "Got {'data', 'extra'}.'"));
        // an anagram of the items is not the same set
        assert!(!same_but_set_order(a, "Got {'extar', 'data'}.'"));
        assert!(!same_but_set_order(a, "Got {'data'}.'"));
        assert!(!same_but_set_order(a, "got {'data', 'extra'}.'"));
        assert!(!same_but_set_order(a, "Got {'data', 'extra'}.' "));
        // a list made from a set, items with quotes, commas and brackets inside
        let l = "extra inputs: [('b',), (\"it's, [x]\", 1)].";
        assert!(same_but_set_order(
            l,
            "extra inputs: [(\"it's, [x]\", 1), ('b',)]."
        ));
        assert!(!same_but_set_order(
            l,
            "extra inputs: [(\"it's, [y]\", 1), ('b',)]."
        ));
    }

    #[test]
    fn a_lenient_mode_that_is_not_needed_is_an_error() {
        let m = "Failed to predict data 'x'. \nError: boom";
        assert!(compare_message("exact", m, m).is_ok());
        assert!(compare_message("predict", m, m).is_err());
        let other = "Failed to predict data 'y'. \nError: boom";
        assert!(compare_message("predict", m, other).is_ok());
        assert!(compare_message("exact", m, other).is_err());
    }
}
