//! [`Cell`]: a Python value as `json.loads` builds it (None, bool, int, float, str, list,
//! dict), used where no typed buffer fits (mixed columns, params, nested lists), with
//! Python's `type`, `repr` and `str` of it.

use super::repr::{float_repr, str_repr_into, Bounded};

/// One JSON value where no typed buffer fits (mixed columns, params, nested lists).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer that fits i64.
    Int(i64),
    /// An integer beyond i64 (decimal digits, optional leading `-`).
    BigInt(String),
    /// A float (incl. NaN/Infinity tokens).
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<Cell>),
    /// An object, keys in payload order (duplicates resolved: last wins).
    Dict(Vec<(String, Cell)>),
}

impl Cell {
    /// Python's class name of the value (`int`, `str`, `NoneType`, …).
    pub fn py_type(&self) -> &'static str {
        match self {
            Cell::Null => "NoneType",
            Cell::Bool(_) => "bool",
            Cell::Int(_) | Cell::BigInt(_) => "int",
            Cell::Float(_) => "float",
            Cell::Str(_) => "str",
            Cell::List(_) => "list",
            Cell::Dict(_) => "dict",
        }
    }

    /// Python `repr` of the value, cut at [`crate::pyjson::max_error_data`] bytes with `...`.
    pub fn py_repr(&self) -> String {
        let mut out = Bounded::new();
        self.repr_into(&mut out);
        out.finish()
    }

    /// Appends the `repr`, stopping as soon as the rendering is full.
    fn repr_into(&self, out: &mut Bounded) {
        match self {
            Cell::Null => {
                out.push_str("None");
            }
            Cell::Bool(b) => {
                out.push_str(if *b { "True" } else { "False" });
            }
            Cell::Int(i) => {
                out.push_str(&i.to_string());
            }
            Cell::BigInt(s) => {
                out.push_str(s);
            }
            Cell::Float(f) => {
                out.push_str(&float_repr(*f));
            }
            Cell::Str(s) => str_repr_into(out, s),
            Cell::List(v) => {
                out.push('[');
                for (i, c) in v.iter().enumerate() {
                    if out.is_full() || (i > 0 && !out.push_str(", ")) {
                        return;
                    }
                    c.repr_into(out);
                }
                out.push(']');
            }
            Cell::Dict(kv) => {
                out.push('{');
                for (i, (k, v)) in kv.iter().enumerate() {
                    if out.is_full() || (i > 0 && !out.push_str(", ")) {
                        return;
                    }
                    str_repr_into(out, k);
                    if !out.push_str(": ") {
                        return;
                    }
                    v.repr_into(out);
                }
                out.push('}');
            }
        }
    }

    /// Python `str()` of the value (`repr` except that strings are bare).
    pub fn py_str(&self) -> String {
        match self {
            Cell::Str(s) => s.clone(),
            other => other.py_repr(),
        }
    }

    /// [`Cell::py_str`] for a message: cut at [`super::max_error_data`] with `...`.
    pub fn py_str_bounded(&self) -> String {
        match self {
            Cell::Str(s) => {
                let mut out = super::Bounded::new();
                for ch in s.chars() {
                    if !out.push(ch) {
                        break;
                    }
                }
                out.finish()
            }
            other => other.py_repr(),
        }
    }

    /// Converts a serde_json value (used only for MLmodel defaults, never on requests).
    pub fn from_serde(v: &serde_json::Value) -> Cell {
        match v {
            serde_json::Value::Null => Cell::Null,
            serde_json::Value::Bool(b) => Cell::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Cell::Int(i),
                None => match n.as_u64() {
                    Some(u) => Cell::BigInt(u.to_string()),
                    None => Cell::Float(n.as_f64().unwrap_or(f64::NAN)),
                },
            },
            serde_json::Value::String(s) => Cell::Str(s.clone()),
            serde_json::Value::Array(a) => Cell::List(a.iter().map(Cell::from_serde).collect()),
            serde_json::Value::Object(o) => Cell::Dict(
                o.iter()
                    .map(|(k, v)| (k.clone(), Cell::from_serde(v)))
                    .collect(),
            ),
        }
    }

    /// The value as f64 when it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::BigInt(s) => s.parse::<f64>().ok(),
            Cell::Float(f) => Some(*f),
            _ => None,
        }
    }
}
