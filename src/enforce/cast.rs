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
    match IntDtype::of(dtype) {
        Some(t) => cast_int(col, t),
        None => cast_column(col, ty),
    }
}

/// The integer dtypes numpy casts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntDtype {
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
}

impl IntDtype {
    fn of(dtype: &str) -> Option<IntDtype> {
        Some(match dtype {
            "int8" => IntDtype::I8,
            "int16" => IntDtype::I16,
            "int32" => IntDtype::I32,
            "int64" => IntDtype::I64,
            "uint8" => IntDtype::U8,
            "uint16" => IntDtype::U16,
            "uint32" => IntDtype::U32,
            "uint64" => IntDtype::U64,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            IntDtype::I8 => "int8",
            IntDtype::I16 => "int16",
            IntDtype::I32 => "int32",
            IntDtype::I64 => "int64",
            IntDtype::U8 => "uint8",
            IntDtype::U16 => "uint16",
            IntDtype::U32 => "uint32",
            IntDtype::U64 => "uint64",
        }
    }

    /// The smallest and largest value of the dtype.
    fn bounds(self) -> (i128, i128) {
        match self {
            IntDtype::I8 => (i8::MIN.into(), i8::MAX.into()),
            IntDtype::I16 => (i16::MIN.into(), i16::MAX.into()),
            IntDtype::I32 => (i32::MIN.into(), i32::MAX.into()),
            IntDtype::I64 => (i64::MIN.into(), i64::MAX.into()),
            IntDtype::U8 => (0, u8::MAX.into()),
            IntDtype::U16 => (0, u16::MAX.into()),
            IntDtype::U32 => (0, u32::MAX.into()),
            IntDtype::U64 => (0, u64::MAX.into()),
        }
    }

    /// Values already reduced to the dtype (two's complement, as numpy's integer casts
    /// wrap), as a column.
    fn column(self, v: Vec<i128>) -> Column {
        match self {
            IntDtype::I8 => Column::I8(v.into_iter().map(|x| x as i8).collect()),
            IntDtype::I16 => Column::I16(v.into_iter().map(|x| x as i16).collect()),
            IntDtype::I32 => Column::I32(v.into_iter().map(|x| x as i32).collect()),
            IntDtype::I64 => Column::I64(v.into_iter().map(|x| x as i64).collect()),
            IntDtype::U8 => Column::U8(v.into_iter().map(|x| x as u8).collect()),
            IntDtype::U16 => Column::U16(v.into_iter().map(|x| x as u16).collect()),
            IntDtype::U32 => Column::U32(v.into_iter().map(|x| x as u32).collect()),
            IntDtype::U64 => Column::U64(v.into_iter().map(|x| x as u64).collect()),
        }
    }

    /// numpy's cast of a finite double, which is C's conversion on x86-64: in range it
    /// truncates; out of range the conversion instruction answers its "integer indefinite"
    /// value (the lowest integer of its width), and the narrow types keep the low bits of a
    /// 32-bit conversion. Recorded from numpy in `tests/fixtures/numpy_casts.json`.
    fn convert_f64(self, x: f64) -> i128 {
        const TWO_63: f64 = 9_223_372_036_854_775_808.0;
        let c32 = || -> i128 {
            if x > -2_147_483_649.0 && x < 2_147_483_648.0 {
                x.trunc() as i128
            } else {
                i32::MIN.into()
            }
        };
        let c64 = || -> i128 {
            if (-TWO_63..TWO_63).contains(&x) {
                x.trunc() as i128
            } else {
                i64::MIN.into()
            }
        };
        match self {
            IntDtype::I8 | IntDtype::I16 | IntDtype::I32 | IntDtype::U8 | IntDtype::U16 => c32(),
            IntDtype::I64 | IntDtype::U32 => c64(),
            IntDtype::U64 if (TWO_63..2.0 * TWO_63).contains(&x) => x.trunc() as i128,
            IntDtype::U64 if x >= 2.0 * TWO_63 => 0,
            IntDtype::U64 => c64(),
        }
    }
}

/// `Series.astype(<integer dtype>)`: typed integers wrap, finite floats convert as numpy's C
/// casts do, NaN/inf are refused (pandas), and Python objects go through `int()` and must fit
/// the dtype (numpy's `OverflowError`s).
fn cast_int(col: Column, t: IntDtype) -> Result<Column, String> {
    fn wide<T: Into<i128> + Copy>(v: &[T]) -> Vec<i128> {
        v.iter().map(|&x| x.into()).collect()
    }
    let v: Vec<i128> = match &col {
        Column::I8(v) => wide(v),
        Column::I16(v) => wide(v),
        Column::I32(v) => wide(v),
        Column::I64(v) => wide(v),
        Column::U8(v) => wide(v),
        Column::U16(v) => wide(v),
        Column::U32(v) => wide(v),
        Column::U64(v) => wide(v),
        Column::Bool(v) => v.iter().map(|&b| i128::from(b)).collect(),
        Column::F64(v) => floats(v.iter().copied(), t)?,
        Column::F32(v) => floats(v.iter().map(|&x| f64::from(x)), t)?,
        other => (0..other.len())
            .map(|i| py_int_in(&other.cell(i), t))
            .collect::<Result<_, _>>()?,
    };
    Ok(t.column(v))
}

/// A float column cast to an integer dtype: pandas refuses non-finite values, and negative
/// ones for an unsigned dtype; the rest convert as numpy's C casts do.
fn floats(v: impl Iterator<Item = f64> + Clone, t: IntDtype) -> Result<Vec<i128>, String> {
    if v.clone().any(|x| !x.is_finite()) {
        return Err(NAN_INT.into());
    }
    if t.bounds().0 == 0 && v.clone().any(|x| x < 0.0) {
        return Err(exc(
            "ValueError",
            &format!("Cannot losslessly cast from float64 to {}", t.name()),
        ));
    }
    Ok(v.map(|x| t.convert_f64(x)).collect())
}

/// numpy's conversion of one Python object to an integer dtype: `int()` of it, then a range
/// check (`OverflowError`s with numpy's texts).
fn py_int_in(c: &Cell, t: IntDtype) -> Result<i128, String> {
    let v = cell_to_int(c)?;
    let (lo, hi) = t.bounds();
    if (lo..=hi).contains(&v) {
        return Ok(v);
    }
    // numpy converts through C `long` first (`unsigned long` too for uint32 and uint64).
    let c_long = i128::from(i64::MIN)..=i128::from(i64::MAX);
    let c_ulong = 0..=i128::from(u64::MAX);
    let wide_unsigned = matches!(t, IntDtype::U32 | IntDtype::U64);
    if !(c_long.contains(&v) || wide_unsigned && c_ulong.contains(&v)) {
        return Err(exc(
            "OverflowError",
            "Python int too large to convert to C long",
        ));
    }
    Err(exc(
        "OverflowError",
        &format!("Python integer {v} out of bounds for {}", t.name()),
    ))
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
        Cell::List(_) => Err(exc(
            "ValueError",
            "setting an array element with a sequence.",
        )),
        Cell::Dict(_) => Err(exc(
            "TypeError",
            "float() argument must be a string or a real number, not 'dict'",
        )),
    }
}

/// Python's `int()` of a JSON value (beyond 128 bits: "too large", as numpy then says).
fn cell_to_int(c: &Cell) -> Result<i128, String> {
    let too_large = || exc("OverflowError", "Python int too large to convert to C long");
    match c {
        Cell::Null => Err(exc(
            "TypeError",
            "int() argument must be a string, a bytes-like object or a real number, not 'NoneType'",
        )),
        Cell::Bool(b) => Ok(i128::from(*b)),
        Cell::Int(i) => Ok(i128::from(*i)),
        Cell::BigInt(s) => s.parse::<i128>().map_err(|_| too_large()),
        Cell::Float(f) if f.is_nan() => {
            Err(exc("ValueError", "cannot convert float NaN to integer"))
        }
        Cell::Float(f) if f.is_infinite() => Err(exc(
            "OverflowError",
            "cannot convert float infinity to integer",
        )),
        Cell::Float(f) if f.abs() < 1.7e38 => Ok(f.trunc() as i128),
        Cell::Float(_) => Err(too_large()),
        Cell::Str(s) => py_int(s).ok_or_else(|| {
            exc(
                "ValueError",
                &format!("invalid literal for int() with base 10: {}", str_repr(s)),
            )
        }),
        Cell::List(_) | Cell::Dict(_) => Err(exc(
            "TypeError",
            &format!(
                "int() argument must be a string, a bytes-like object or a real number, not '{}'",
                c.py_type()
            ),
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

/// pandas' refusal of NaN/inf in an integer cast (pandas 3.1's text, as MLflow 3.17.2 runs it).
const NAN_INT: &str = "IntCastingNaNError(\"Cannot convert non-finite values (NA or inf) to integer. Replace or remove non-finite values or cast to an integer type that supports these values (e.g. 'Int64')\")";

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
        ColType::Long => cast_int(col, IntDtype::I64)?,
        ColType::Integer => cast_int(col, IntDtype::I32)?,
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

#[cfg(test)]
mod numpy_casts {
    use super::*;

    /// Every cast numpy/pandas made in `tests/fixtures/numpy_casts.json`
    /// (`record_numpy_casts.py`) is made the same here: value for value, error for error.
    #[test]
    fn integer_casts_are_numpys() {
        let recorded: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/numpy_casts.json")).unwrap();
        let mut wrong = Vec::new();
        let cases = recorded["cases"].as_array().unwrap();
        for case in cases {
            let input = &case["input"];
            let cell = if let Some(f) = input.get("float") {
                let f = f.as_str().unwrap();
                Cell::Float(match f {
                    "nan" => f64::NAN,
                    "inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    x => x.parse().unwrap(),
                })
            } else if let Some(i) = input.get("int") {
                let i = i.as_str().unwrap();
                i.parse::<i64>()
                    .map(Cell::Int)
                    .unwrap_or_else(|_| Cell::BigInt(i.to_string()))
            } else if let Some(s) = input.get("str") {
                Cell::Str(s.as_str().unwrap().to_string())
            } else {
                Cell::from_serde(&input["json"])
            };
            let col = match (case["column"].as_str().unwrap(), &cell) {
                ("float64", Cell::Float(f)) => Column::F64(vec![*f]),
                ("int64", Cell::Int(i)) => Column::I64(vec![*i]),
                ("object", c) => Column::Object(vec![c.clone()]),
                other => panic!("unexpected case {other:?}"),
            };
            let dtype = case["dtype"].as_str().unwrap();
            let got = match cast_int(col, IntDtype::of(dtype).unwrap()) {
                Ok(c) => match c.cell(0) {
                    Cell::Int(i) => format!("value {i}"),
                    Cell::BigInt(s) => format!("value {s}"),
                    other => format!("value {other:?}"),
                },
                Err(e) => format!("error {e}"),
            };
            let want = match (case.get("value"), case.get("error")) {
                (Some(v), _) => format!("value {}", v.as_str().unwrap()),
                (_, Some(e)) => format!("error {}", e.as_str().unwrap()),
                _ => unreachable!(),
            };
            if got != want {
                wrong.push(format!(
                    "{} {input} -> {dtype}: numpy {want}, ours {got}",
                    case["column"]
                ));
            }
        }
        assert!(
            wrong.is_empty(),
            "{} of {} casts differ from numpy:\n{}",
            wrong.len(),
            cases.len(),
            wrong.join("\n")
        );
    }
}
