//! `_enforce_params_schema` (`mlflow/models/utils.py`): defaults, exact types with the allowed widenings.

use crate::model::signature::{ColType, ParamSpec, ParamType};
use crate::payload::Cell;

fn dtype_name(t: &ColType) -> String {
    format!("DataType.{}", t.name())
}

fn py_class(c: &Cell) -> String {
    format!("<class '{}'>", c.py_type())
}

fn convert_scalar(v: &Cell, t: &ColType) -> Result<Cell, String> {
    if matches!(v, Cell::List(_) | Cell::Dict(_)) {
        return Err(format!(
            "Value must be a scalar for type `{}`, got `{}`",
            dtype_name(t),
            v.py_repr()
        ));
    }
    let unsafe_conv = || {
        format!(
            "Can not safely convert `{}` to `{}` for value `{}`",
            py_class(v),
            dtype_name(t),
            v.py_str()
        )
    };
    Ok(match (t, v) {
        (ColType::String, Cell::Str(_)) => v.clone(),
        (ColType::Boolean, Cell::Bool(_)) => v.clone(),
        (ColType::Integer | ColType::Long, Cell::Int(_) | Cell::BigInt(_)) => v.clone(),
        (ColType::Float | ColType::Double, Cell::Float(_)) => v.clone(),
        (ColType::Float | ColType::Double, Cell::Int(i)) => Cell::Float(*i as f64),
        (ColType::Datetime, Cell::Str(s)) => {
            if is_iso_datetime(s) {
                v.clone()
            } else {
                return Err(format!(
                    "Failed to convert value `{s}` from type `{}` to `{}`",
                    py_class(v),
                    dtype_name(t)
                ));
            }
        }
        (ColType::Datetime, _) => {
            return Err(format!(
                "Failed to convert value `{}` from type `{}` to `{}`",
                v.py_repr(),
                py_class(v),
                dtype_name(t)
            ))
        }
        _ => return Err(unsafe_conv()),
    })
}

fn is_iso_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    if !(digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10))
    {
        return s.len() >= 4
            && digits(0..4)
            && (s.len() == 4 || (b[4] == b'-' && digits(5..7) && s.len() == 7));
    }
    s.len() == 10 || matches!(b.get(10), Some(b'T') | Some(b' '))
}

/// How a param value failed.
enum ParamFailure {
    /// Wrong shape: reported as is.
    Shape(String),
    /// Wrong type: wrapped in `Failed to validate type and shape for …`.
    Type(String),
}
use ParamFailure::{Shape, Type};

/// Validates request params against the schema; returns the params the model receives:
/// `None` when MLflow passes `None` (no params and no params schema), an empty dict for
/// params sent to a model without a params schema (MLflow drops them, passing `{}`).
pub fn enforce(
    params: Option<Cell>,
    schema: Option<&[ParamSpec]>,
) -> Result<super::Params, String> {
    let Some(schema) = schema else {
        return Ok(params.map(|_| Vec::new()));
    };
    let given: Vec<(String, Cell)> = match params {
        None => Vec::new(),
        Some(Cell::Dict(kv)) => kv,
        Some(other) => {
            return Err(format!(
                "Parameters must be a dictionary. Got type '{}'.",
                other.py_type()
            ))
        }
    };
    let mut out = Vec::with_capacity(schema.len());
    let mut errors = Vec::new();
    for spec in schema {
        let Some((_, v)) = given.iter().find(|(k, _)| *k == spec.name) else {
            out.push((spec.name.clone(), spec.default.clone()));
            continue;
        };
        // MLflow lets `None` through for a scalar param; an array param refuses it below
        // ("received NoneType with ndim 0").
        if *v == Cell::Null && !spec.is_list {
            out.push((spec.name.clone(), Cell::Null));
            continue;
        }
        let result = match &spec.ty {
            ParamType::Object => Ok(v.clone()),
            ParamType::Scalar(t) if spec.is_list => match v {
                Cell::List(items) => {
                    if items.iter().any(|i| matches!(i, Cell::List(_))) {
                        Err(Shape(format!("Value must be a 1D array with shape (-1,) for param {}, received list with ndim 2", spec.repr())))
                    } else {
                        // `None` items pass, as MLflow passes them
                        items
                            .iter()
                            .map(|i| match i {
                                Cell::Null => Ok(Cell::Null),
                                i => convert_scalar(i, t),
                            })
                            .collect::<Result<Vec<_>, _>>()
                            .map(Cell::List)
                            .map_err(Type)
                    }
                }
                other => Err(Shape(format!(
                    "Value must be a 1D array with shape (-1,) for param {}, received {} with ndim 0",
                    spec.repr(),
                    other.py_type()
                ))),
            },
            ParamType::Scalar(t) => convert_scalar(v, t).map_err(Type),
        };
        let detail = match result {
            Ok(c) => {
                out.push((spec.name.clone(), c));
                continue;
            }
            Err(Shape(e)) => e,
            Err(Type(e)) => format!(
                "Failed to validate type and shape for {}, error: {e}",
                spec.repr()
            ),
        };
        errors.push(format!(
            "({}, {})",
            crate::pyjson::str_repr(&spec.name),
            crate::pyjson::str_repr(&detail)
        ));
    }
    if !errors.is_empty() {
        return Err(format!(
            "Invalid parameters found: {{{}}}",
            errors.join(", ")
        ));
    }
    Ok(Some(out))
}
