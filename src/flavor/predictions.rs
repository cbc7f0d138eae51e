//! MLflow predictions and their byte-exact JSON (`json.dump(..., cls=NumpyEncoder)` in `mlflow/pyfunc/scoring_server/__init__.py`, `predictions_to_json`).

use runtime_api::{MapKey, OutputValue, TensorData};

use crate::pyjson::{write_f64, write_i64, write_str, write_u64};

/// One output column of a records-style answer.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputColumn {
    /// A tensor output, flattened (`reshape(-1)`).
    Flat(TensorData),
    /// A sequence-of-maps output (ZipMap): one dict per row.
    Maps(Vec<Vec<(MapKey, f64)>>),
}

impl OutputColumn {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            OutputColumn::Flat(d) => d.len(),
            OutputColumn::Maps(m) => m.len(),
        }
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a model returned, in MLflow's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Predictions {
    /// A DataFrame → `to_dict(orient="records")`.
    Records {
        /// Columns in output order.
        columns: Vec<(String, OutputColumn)>,
        /// Row count.
        nrows: usize,
    },
    /// A dict of arrays → `{name: nested list}`.
    Dict(Vec<(String, OutputValue)>),
    /// One array → nested lists (`ndarray.tolist()`).
    Array(runtime_api::Tensor),
    /// `DataFrame(array)` of a 1-D or 2-D array: columns `0..k-1` → records.
    Frame(runtime_api::Tensor),
    /// JSON text MLflow itself rendered (a Python model's answer of any other kind).
    Json(String),
}

pub(crate) fn write_elem(out: &mut Vec<u8>, d: &TensorData, i: usize) {
    match d {
        TensorData::Bool(v) => out.extend_from_slice(if v[i] { b"true" } else { b"false" }),
        TensorData::I8(v) => write_i64(out, v[i] as i64),
        TensorData::I16(v) => write_i64(out, v[i] as i64),
        TensorData::I32(v) => write_i64(out, v[i] as i64),
        TensorData::I64(v) => write_i64(out, v[i]),
        TensorData::U8(v) => write_u64(out, v[i] as u64),
        TensorData::U16(v) => write_u64(out, v[i] as u64),
        TensorData::U32(v) => write_u64(out, v[i] as u64),
        TensorData::U64(v) => write_u64(out, v[i]),
        TensorData::F16(v) | TensorData::F32(v) => write_f64(out, v[i] as f64),
        TensorData::F64(v) => write_f64(out, v[i]),
        TensorData::Str(v) => write_str(out, &v[i]),
    }
}

pub(crate) fn write_map(out: &mut Vec<u8>, m: &[(MapKey, f64)]) {
    out.push(b'{');
    for (j, (k, v)) in m.iter().enumerate() {
        if j > 0 {
            out.extend_from_slice(b", ");
        }
        match k {
            MapKey::Int(i) => write_str(out, &i.to_string()),
            MapKey::Str(s) => write_str(out, s),
        }
        out.extend_from_slice(b": ");
        write_f64(out, *v);
    }
    out.push(b'}');
}

pub(crate) fn write_nested(out: &mut Vec<u8>, d: &TensorData, shape: &[usize], offset: &mut usize) {
    match shape.split_first() {
        None => {
            write_elem(out, d, *offset);
            *offset += 1;
        }
        Some((&n, rest)) => {
            out.push(b'[');
            for j in 0..n {
                if j > 0 {
                    out.extend_from_slice(b", ");
                }
                write_nested(out, d, rest, offset);
            }
            out.push(b']');
        }
    }
}

/// Writes `open item, item, ... close` with Python's `", "` separator.
fn write_seq<T>(
    out: &mut Vec<u8>,
    open: u8,
    close: u8,
    items: impl IntoIterator<Item = T>,
    mut each: impl FnMut(&mut Vec<u8>, T),
) {
    out.push(open);
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        each(out, item);
    }
    out.push(close);
}

/// Each `"name": ` rendered once, for answers that repeat the keys on every row.
fn rendered_keys<'a>(names: impl Iterator<Item = &'a str>) -> Vec<Vec<u8>> {
    names
        .map(|name| {
            let mut key = Vec::with_capacity(name.len() + 4);
            write_key(&mut key, name);
            key
        })
        .collect()
}

/// Writes `"name": ` (a JSON key with Python's separator).
fn write_key(out: &mut Vec<u8>, name: &str) {
    write_str(out, name);
    out.extend_from_slice(b": ");
}

impl Predictions {
    /// Appends the value serialized as MLflow does (without the `predictions` wrapper).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Predictions::Records { columns, nrows } => {
                let keys = rendered_keys(columns.iter().map(|(name, _)| name.as_str()));
                write_seq(out, b'[', b']', 0..*nrows, |out, i| {
                    write_seq(
                        out,
                        b'{',
                        b'}',
                        columns.iter().zip(&keys),
                        |out, ((_, col), key)| {
                            out.extend_from_slice(key);
                            match col {
                                OutputColumn::Flat(d) => write_elem(out, d, i),
                                OutputColumn::Maps(m) => write_map(out, &m[i]),
                            }
                        },
                    )
                })
            }
            Predictions::Array(t) => write_nested(out, &t.data, &t.shape, &mut 0),
            Predictions::Frame(t) => {
                let rows = t.shape.first().copied().unwrap_or(0);
                let cols = if t.shape.len() == 2 { t.shape[1] } else { 1 };
                let names: Vec<String> = (0..cols).map(|j| j.to_string()).collect();
                let keys = rendered_keys(names.iter().map(String::as_str));
                write_seq(out, b'[', b']', 0..rows, |out, i| {
                    write_seq(out, b'{', b'}', keys.iter().enumerate(), |out, (j, key)| {
                        out.extend_from_slice(key);
                        write_elem(out, &t.data, i * cols + j);
                    })
                })
            }
            Predictions::Json(text) => out.extend_from_slice(text.as_bytes()),
            Predictions::Dict(items) => write_seq(out, b'{', b'}', items, |out, (name, v)| {
                write_key(out, name);
                match v {
                    OutputValue::Tensor(t) => write_nested(out, &t.data, &t.shape, &mut 0),
                    OutputValue::SequenceOfMaps(ms) => {
                        write_seq(out, b'[', b']', ms, |out, m| write_map(out, m))
                    }
                }
            }),
        }
    }

    /// A guess at the JSON's length (about 24 bytes per value, capped), so the body is
    /// written without reallocating.
    fn size_hint(&self) -> usize {
        const PER_VALUE: usize = 24;
        const CAP: usize = 64 << 20;
        let values = match self {
            Predictions::Records { columns, nrows } => columns.len() * nrows,
            Predictions::Dict(items) => items
                .iter()
                .map(|(_, v)| match v {
                    OutputValue::Tensor(t) => t.data.len(),
                    OutputValue::SequenceOfMaps(m) => m.len(),
                })
                .sum(),
            Predictions::Array(t) | Predictions::Frame(t) => t.data.len(),
            Predictions::Json(text) => return text.len(),
        };
        values.saturating_mul(PER_VALUE).min(CAP)
    }

    /// `{"predictions": ...}` (or the bare value for unified-LLM payloads).
    pub fn to_body(&self, unwrapped: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.size_hint());
        if !unwrapped {
            out.extend_from_slice(b"{\"predictions\": ");
        }
        self.write_json(&mut out);
        if !unwrapped {
            out.push(b'}');
        }
        out
    }
}
