//! The skops file MLflow 3.17 writes for LightGBM's scikit-learn estimators (`model.skops`):
//! a zip of `schema.json` (a tree of typed nodes, skops-dev/skops `skops/io/_persist.py`) and
//! `.npy` arrays. It is read as data only: nothing is executed or unpickled. Every node must
//! be a plain data node or an object of an allowlisted class; anything else is refused,
//! naming it. What is taken: the Booster's LightGBM model string, `best_iteration`, and the
//! class labels of a classifier.

use std::io::Read;

use crate::{Classes, Limits, TreeError};

/// What a LightGBM estimator's skops file holds that prediction needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimator {
    /// `LGBMClassifier`, `LGBMRegressor` or `LGBMRanker`.
    pub class: String,
    /// The Booster's LightGBM text model.
    pub model_text: String,
    /// `best_iteration` (0 = none).
    pub best_iteration: usize,
    /// The classifier's labels (`classes_`), in label-encoder order.
    pub classes: Option<Classes>,
}

const ESTIMATORS: [&str; 3] = ["LGBMClassifier", "LGBMRegressor", "LGBMRanker"];

/// Classes an object node may have (module, class).
const ALLOWED_OBJECTS: [(&str, &str); 5] = [
    ("lightgbm.sklearn", "LGBMClassifier"),
    ("lightgbm.sklearn", "LGBMRegressor"),
    ("lightgbm.sklearn", "LGBMRanker"),
    ("lightgbm.basic", "Booster"),
    ("sklearn.preprocessing._label", "LabelEncoder"),
];

/// Types a `TypeNode` may name (dict key types, a defaultdict's factory).
const ALLOWED_TYPES: [(&str, &str); 7] = [
    ("builtins", "str"),
    ("builtins", "int"),
    ("builtins", "float"),
    ("collections", "OrderedDict"),
    ("numpy", "int64"),
    ("numpy", "str_"),
    ("numpy", "float64"),
];

const DATA_LOADERS: [&str; 7] = [
    "JsonNode",
    "DictNode",
    "ListNode",
    "TupleNode",
    "NdArrayNode",
    "DefaultDictNode",
    "OrderedDictNode",
];

/// Reads a LightGBM estimator from skops bytes.
pub fn read(bytes: &[u8], limits: &Limits) -> Result<Estimator, TreeError> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| TreeError::Format(format!("not a skops (zip) file: {e}")))?;
    // Deflate expands at most about 1032:1: a member may not claim more than that of the
    // archive (so a small file cannot make the reader allocate gigabytes).
    let limits = &Limits {
        max_member_bytes: limits.max_member_bytes.min(
            (bytes.len() as u64)
                .saturating_mul(1032)
                .saturating_add(1 << 20),
        ),
        ..limits.clone()
    };
    let schema = member(&mut zip, "schema.json", limits)?;
    let schema: serde_json::Value = serde_json::from_slice(&schema)
        .map_err(|e| TreeError::Format(format!("schema.json: {e}")))?;
    check(&schema, 0)?;
    let class = schema["__class__"].as_str().unwrap_or("");
    if !ESTIMATORS.contains(&class) || schema["__module__"].as_str() != Some("lightgbm.sklearn") {
        return Err(TreeError::Unsupported(format!(
            "a skops file holding {}.{class}: only LightGBM's LGBMClassifier, LGBMRegressor and LGBMRanker are read natively",
            schema["__module__"].as_str().unwrap_or("?")
        )));
    }
    let attrs = &schema["content"]["content"];
    let booster = &attrs["_Booster"]["content"]["content"];
    let model_text = json_node(&booster["_handle"])
        .and_then(|v| v.as_str().map(str::to_string))
        .ok_or_else(|| TreeError::Format("the estimator has no Booster model string".into()))?;
    let best_iteration = json_node(&booster["best_iteration"])
        .and_then(|v| v.as_u64())
        .unwrap_or(0) as usize;
    let classes = if class == "LGBMClassifier" {
        let node = &attrs["_classes"];
        let file = node["file"]
            .as_str()
            .ok_or_else(|| TreeError::Format("the classifier has no classes_ array".into()))?;
        let raw = member(&mut zip, file, limits)?;
        Some(npy(&raw)?)
    } else {
        None
    };
    Ok(Estimator {
        class: class.to_string(),
        model_text,
        best_iteration,
        classes,
    })
}

fn member(
    zip: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>,
    name: &str,
    limits: &Limits,
) -> Result<Vec<u8>, TreeError> {
    let f = zip
        .by_name(name)
        .map_err(|e| TreeError::Format(format!("skops member {name}: {e}")))?;
    let mut out = Vec::new();
    f.take(limits.max_member_bytes + 1)
        .read_to_end(&mut out)
        .map_err(|e| TreeError::Format(format!("skops member {name}: {e}")))?;
    if out.len() as u64 > limits.max_member_bytes {
        return Err(TreeError::Format(format!(
            "skops member {name} is larger than {} bytes",
            limits.max_member_bytes
        )));
    }
    Ok(out)
}

/// The value of a `JsonNode` (its `content` is JSON text).
fn json_node(node: &serde_json::Value) -> Option<serde_json::Value> {
    if node["__loader__"].as_str() != Some("JsonNode") {
        return None;
    }
    serde_json::from_str(node["content"].as_str()?).ok()
}

/// Refuses any node that is not plain data or an allowlisted object.
fn check(node: &serde_json::Value, depth: usize) -> Result<(), TreeError> {
    if depth > 32 {
        return Err(TreeError::Format("skops schema nested too deeply".into()));
    }
    match node {
        serde_json::Value::Object(m) => {
            if let Some(loader) = m.get("__loader__").and_then(|l| l.as_str()) {
                let module = m.get("__module__").and_then(|v| v.as_str()).unwrap_or("");
                let class = m.get("__class__").and_then(|v| v.as_str()).unwrap_or("");
                let ok = DATA_LOADERS.contains(&loader)
                    || (loader == "ObjectNode" && ALLOWED_OBJECTS.contains(&(module, class)))
                    || (loader == "TypeNode" && ALLOWED_TYPES.contains(&(module, class)));
                if !ok {
                    return Err(TreeError::Unsupported(format!(
                        "a skops file with a {loader} of {module}.{class}, which mlflow-serve does not read natively"
                    )));
                }
            }
            for v in m.values() {
                check(v, depth + 1)?;
            }
            Ok(())
        }
        serde_json::Value::Array(a) => a.iter().try_for_each(|v| check(v, depth + 1)),
        _ => Ok(()),
    }
}

/// A 1-D `.npy` array of integers, floats, booleans or fixed-width unicode strings.
pub fn npy(raw: &[u8]) -> Result<Classes, TreeError> {
    let bad = |m: &str| TreeError::Format(format!("classes_ array: {m}"));
    if !raw.starts_with(b"\x93NUMPY") || raw.len() < 10 {
        return Err(bad("not an .npy file"));
    }
    let (hlen, start): (usize, usize) = match raw[6] {
        1 => (u16::from_le_bytes([raw[8], raw[9]]) as usize, 10),
        2 | 3 if raw.len() >= 12 => (
            u32::from_le_bytes([raw[8], raw[9], raw[10], raw[11]]) as usize,
            12,
        ),
        _ => return Err(bad("unknown .npy version")),
    };
    let header = raw
        .get(start..start.saturating_add(hlen))
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad("bad header"))?;
    let data = &raw[start + hlen..];
    let descr = header
        .split("'descr':")
        .nth(1)
        .and_then(|s| s.split('\'').nth(1))
        .ok_or_else(|| bad("no descr"))?;
    if header.contains("'fortran_order': True") {
        return Err(bad("Fortran order"));
    }
    let shape = header
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .map(|s| s.trim().trim_start_matches('('))
        .ok_or_else(|| bad("no shape"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|d| !d.trim().is_empty())
        .map(|d| d.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("bad shape"))?;
    if dims.len() != 1 {
        return Err(bad("not one-dimensional"));
    }
    let n = dims[0];
    let width = match descr {
        "<i8" | "<u8" | "<f8" => 8,
        "<i4" | "<u4" | "<f4" => 4,
        "|b1" | "|i1" | "|u1" => 1,
        d if d.starts_with("<U") => d[2..].parse::<usize>().map_err(|_| bad("bad descr"))? * 4,
        other => {
            return Err(TreeError::Unsupported(format!(
                "class labels of numpy dtype {other}"
            )))
        }
    };
    if n.checked_mul(width) != Some(data.len()) {
        return Err(bad("size does not match its shape"));
    }
    let chunks = data.chunks_exact(width.max(1));
    Ok(match descr {
        "<i8" => Classes::Int(
            chunks
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect(),
        ),
        "<u8" => Classes::Int(
            chunks
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()) as i64)
                .collect(),
        ),
        "<i4" => Classes::Int(
            chunks
                .map(|c| i32::from_le_bytes(c.try_into().unwrap_or_default()) as i64)
                .collect(),
        ),
        "<u4" => Classes::Int(
            chunks
                .map(|c| u32::from_le_bytes(c.try_into().unwrap_or_default()) as i64)
                .collect(),
        ),
        "|i1" => Classes::Int(chunks.map(|c| c[0] as i8 as i64).collect()),
        "|u1" => Classes::Int(chunks.map(|c| c[0] as i64).collect()),
        "<f8" => Classes::Float(
            chunks
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect(),
        ),
        "<f4" => Classes::Float(
            chunks
                .map(|c| f32::from_le_bytes(c.try_into().unwrap_or_default()) as f64)
                .collect(),
        ),
        "|b1" => Classes::Bool(chunks.map(|c| c[0] != 0).collect()),
        _ => Classes::Str(
            chunks
                .map(|c| {
                    c.chunks_exact(4)
                        .map(|u| u32::from_le_bytes([u[0], u[1], u[2], u[3]]))
                        .take_while(|u| *u != 0)
                        .map(|u| char::from_u32(u).unwrap_or('\u{fffd}'))
                        .collect()
                })
                .collect(),
        ),
    })
}
