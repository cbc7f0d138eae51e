//! Stage 1: `cast_df_types_according_to_schema` — pandas `astype` on dataframe payloads.

use crate::enforce::EnforceError;
use crate::model::signature::{ColType, InputSchema};
use crate::payload::{Cell, ColName, Column, Frame};
use crate::pyjson::str_repr;
use crate::pyjson::{py_float, py_int};

fn exc(kind: &str, msg: &str) -> String {
    format!("{kind}({})", str_repr(msg))
}

/// Casts the frame's schema columns (by name, or positionally for unnamed specs).
pub fn parse_time_cast(mut frame: Frame, schema: &InputSchema) -> Result<Frame, EnforceError> {
    match schema {
        InputSchema::Columns(specs) => {
            let named = specs.first().is_some_and(|s| s.name.is_some());
            for (i, spec) in specs.iter().enumerate() {
                let pos = match &spec.name {
                    Some(n) if named => frame.position(n),
                    _ => (i < frame.columns.len()).then_some(i),
                };
                if let Some(p) = pos {
                    let (label, col) = std::mem::replace(
                        &mut frame.columns[p],
                        (ColName::Int(0), Column::Bool(Vec::new())),
                    );
                    let cast = cast_column(col, &spec.ty).map_err(|error| EnforceError::Cast {
                        column: label.as_key(),
                        ty: spec.ty.numpy_name(),
                        error,
                    })?;
                    frame.columns[p] = (label, cast);
                }
            }
        }
        InputSchema::Tensors(specs) => {
            let single_unnamed = specs.len() == 1 && specs[0].name.is_none();
            for p in 0..frame.columns.len() {
                let spec = if single_unnamed {
                    Some(&specs[0])
                } else {
                    specs
                        .iter()
                        .find(|s| s.name.as_deref().is_some_and(|n| frame.columns[p].0.is(n)))
                };
                let Some(spec) = spec else { continue };
                let Some(ty) = tensor_coltype(&spec.dtype_name) else {
                    continue;
                };
                let (label, col) = std::mem::replace(
                    &mut frame.columns[p],
                    (ColName::Int(0), Column::Bool(Vec::new())),
                );
                if matches!(&col, Column::Object(cells) if matches!(cells.first(), Some(Cell::List(_))))
                {
                    frame.columns[p] = (label, col);
                    continue;
                }
                let cast = cast_tensor_column(col, &ty, &spec.dtype_name).map_err(|error| {
                    EnforceError::Cast {
                        column: label.as_key(),
                        ty: spec.dtype_name.clone(),
                        error,
                    }
                })?;
                frame.columns[p] = (label, cast);
            }
        }
    }
    Ok(frame)
}

fn tensor_coltype(dtype: &str) -> Option<ColType> {
    Some(match dtype {
        "float64" => ColType::Double,
        "float32" | "float16" => ColType::Float,
        "int64" => ColType::Long,
        "int32" | "int16" | "int8" | "uint8" | "uint16" | "uint32" | "uint64" => ColType::Integer,
        "bool" => ColType::Boolean,
        _ => return None,
    })
}

fn cast_tensor_column(col: Column, ty: &ColType, dtype: &str) -> Result<Column, String> {
    let c = cast_column(
        col,
        if matches!(ty, ColType::Integer) {
            &ColType::Long
        } else {
            ty
        },
    )?;
    Ok(match (c, dtype) {
        (Column::I64(v), "int32") => Column::I32(v.into_iter().map(|x| x as i32).collect()),
        (Column::I64(v), "int16") => Column::I16(v.into_iter().map(|x| x as i16).collect()),
        (Column::I64(v), "int8") => Column::I8(v.into_iter().map(|x| x as i8).collect()),
        (Column::I64(v), "uint8") => Column::U8(v.into_iter().map(|x| x as u8).collect()),
        (Column::I64(v), "uint16") => Column::U16(v.into_iter().map(|x| x as u16).collect()),
        (Column::I64(v), "uint32") => Column::U32(v.into_iter().map(|x| x as u32).collect()),
        (Column::I64(v), "uint64") => Column::U64(v.into_iter().map(|x| x as u64).collect()),
        (c, _) => c,
    })
}

/// Cell value as f64 per `astype(float)`.
fn cell_to_f64(c: &Cell) -> Result<f64, String> {
    match c {
        Cell::Null => Ok(f64::NAN),
        Cell::Bool(b) => Ok(*b as i64 as f64),
        Cell::Int(i) => Ok(*i as f64),
        Cell::BigInt(s) => Ok(s.parse().unwrap_or(f64::INFINITY)),
        Cell::Float(f) => Ok(*f),
        Cell::Str(s) => py_float(s).ok_or_else(|| {
            exc(
                "ValueError",
                &format!("could not convert string to float: {}", str_repr(s)),
            )
        }),
        Cell::List(_) | Cell::Dict(_) => Err(exc(
            "ValueError",
            "setting an array element with a sequence.",
        )),
    }
}

fn cell_to_i64(c: &Cell) -> Result<i64, String> {
    match c {
        Cell::Null => Err(exc(
            "TypeError",
            "int() argument must be a string, a bytes-like object or a real number, not 'NoneType'",
        )),
        Cell::Bool(b) => Ok(*b as i64),
        Cell::Int(i) => Ok(*i),
        Cell::BigInt(_) => Err(exc(
            "OverflowError",
            "Python int too large to convert to C long",
        )),
        Cell::Float(f) if f.is_nan() => {
            Err(exc("ValueError", "cannot convert float NaN to integer"))
        }
        Cell::Float(f) if f.is_infinite() => Err(exc(
            "OverflowError",
            "cannot convert float infinity to integer",
        )),
        Cell::Float(f) => Ok(f.trunc() as i64),
        Cell::Str(s) => py_int(s).map(|i| i as i64).ok_or_else(|| {
            exc(
                "ValueError",
                &format!("invalid literal for int() with base 10: {}", str_repr(s)),
            )
        }),
        Cell::List(_) | Cell::Dict(_) => Err(exc(
            "ValueError",
            "setting an array element with a sequence.",
        )),
    }
}

fn truthy(c: &Cell) -> bool {
    match c {
        Cell::Null => false,
        Cell::Bool(b) => *b,
        Cell::Int(i) => *i != 0,
        Cell::BigInt(_) => true,
        Cell::Float(f) => *f != 0.0,
        Cell::Str(s) => !s.is_empty(),
        Cell::List(v) => !v.is_empty(),
        Cell::Dict(v) => !v.is_empty(),
    }
}

const NAN_INT: &str =
    "IntCastingNaNError('Cannot convert non-finite values (NA or inf) to integer')";

fn to_f64s(col: Column) -> Result<Vec<f64>, String> {
    Ok(match col {
        Column::F64(v) => v,
        Column::F32(v) => v.into_iter().map(f64::from).collect(),
        Column::I64(v) => v.into_iter().map(|x| x as f64).collect(),
        Column::I32(v) => v.into_iter().map(f64::from).collect(),
        Column::Bool(v) => v.into_iter().map(|b| b as i64 as f64).collect(),
        other => (0..other.len())
            .map(|i| cell_to_f64(&other.cell(i)))
            .collect::<Result<_, _>>()?,
    })
}

/// `Series.astype(<numpy type of ty>)`.
pub fn cast_column(col: Column, ty: &ColType) -> Result<Column, String> {
    Ok(match ty {
        ColType::Double => Column::F64(to_f64s(col)?),
        ColType::Float => Column::F32(to_f64s(col)?.into_iter().map(|x| x as f32).collect()),
        ColType::Long | ColType::Integer => {
            let v: Vec<i64> = match col {
                Column::I64(v) => v,
                Column::I32(v) => v.into_iter().map(i64::from).collect(),
                Column::Bool(v) => v.into_iter().map(|b| b as i64).collect(),
                Column::F64(v) => {
                    if v.iter().any(|x| !x.is_finite()) {
                        return Err(NAN_INT.into());
                    }
                    v.into_iter().map(|x| x.trunc() as i64).collect()
                }
                Column::F32(v) => {
                    if v.iter().any(|x| !x.is_finite()) {
                        return Err(NAN_INT.into());
                    }
                    v.into_iter().map(|x| x.trunc() as i64).collect()
                }
                other => (0..other.len())
                    .map(|i| cell_to_i64(&other.cell(i)))
                    .collect::<Result<_, _>>()?,
            };
            if *ty == ColType::Integer {
                Column::I32(v.into_iter().map(|x| x as i32).collect())
            } else {
                Column::I64(v)
            }
        }
        ColType::Boolean => match col {
            Column::Bool(v) => Column::Bool(v),
            other => Column::Bool((0..other.len()).map(|i| truthy(&other.cell(i))).collect()),
        },
        ColType::String => match col {
            Column::Str(v) => Column::Str(v),
            other => Column::Object((0..other.len()).map(|i| other.cell(i)).collect()),
        },
        _ => col,
    })
}
