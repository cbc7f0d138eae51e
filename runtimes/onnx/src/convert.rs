//! Conversions between `runtime_api` types and ort values.

use ort::value::{
    DynMapValueType, DynValue, Outlet, Tensor as OrtTensor, TensorElementType, ValueType,
};
use runtime_api::{DType, IoKind, IoSpec, MapKey, OutputValue, RuntimeError, Tensor, TensorData};

/// The runtime-api description of an ort input/output.
pub(crate) fn io_spec(outlet: &Outlet) -> IoSpec {
    let kind = match outlet.dtype() {
        ValueType::Tensor { ty, shape, .. } => IoKind::Tensor {
            dtype: dtype_of(*ty),
            shape: shape.iter().copied().collect(),
            type_string: format!("tensor({})", onnx_elem_name(*ty)),
        },
        other => IoKind::Other {
            type_string: onnx_type_string(other),
        },
    };
    IoSpec {
        name: outlet.name().to_string(),
        kind,
    }
}

fn dtype_of(ty: TensorElementType) -> Option<DType> {
    Some(match ty {
        TensorElementType::Bool => DType::Bool,
        TensorElementType::Int8 => DType::I8,
        TensorElementType::Int16 => DType::I16,
        TensorElementType::Int32 => DType::I32,
        TensorElementType::Int64 => DType::I64,
        TensorElementType::Uint8 => DType::U8,
        TensorElementType::Uint16 => DType::U16,
        TensorElementType::Uint32 => DType::U32,
        TensorElementType::Uint64 => DType::U64,
        TensorElementType::Float32 => DType::F32,
        TensorElementType::Float64 => DType::F64,
        TensorElementType::String => DType::Str,
        _ => return None,
    })
}

/// ONNX's own element names, as onnxruntime prints them in `tensor(<name>)`.
fn onnx_elem_name(ty: TensorElementType) -> &'static str {
    match ty {
        TensorElementType::Bool => "bool",
        TensorElementType::Int8 => "int8",
        TensorElementType::Int16 => "int16",
        TensorElementType::Int32 => "int32",
        TensorElementType::Int64 => "int64",
        TensorElementType::Uint8 => "uint8",
        TensorElementType::Uint16 => "uint16",
        TensorElementType::Uint32 => "uint32",
        TensorElementType::Uint64 => "uint64",
        TensorElementType::Float16 => "float16",
        TensorElementType::Bfloat16 => "bfloat16",
        TensorElementType::Float32 => "float",
        TensorElementType::Float64 => "double",
        TensorElementType::String => "string",
        _ => "unknown",
    }
}

fn onnx_type_string(ty: &ValueType) -> String {
    match ty {
        ValueType::Tensor { ty, .. } => format!("tensor({})", onnx_elem_name(*ty)),
        ValueType::Sequence(inner) => format!("seq({})", onnx_type_string(inner)),
        ValueType::Map { key, value } => format!(
            "map({},tensor({}))",
            onnx_elem_name(*key),
            onnx_elem_name(*value)
        ),
        ValueType::Optional(inner) => format!("optional({})", onnx_type_string(inner)),
    }
}

fn ort_err(e: ort::Error) -> RuntimeError {
    RuntimeError::Run(e.message().to_string())
}

/// Moves a tensor's buffer into an ort value (no element copy for numeric types).
pub(crate) fn to_ort(t: Tensor) -> Result<DynValue, RuntimeError> {
    let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
    let input = |e: ort::Error| RuntimeError::Input(e.message().to_string());
    Ok(match t.data {
        TensorData::Bool(v) => OrtTensor::from_array((shape, v)).map_err(input)?.into_dyn(),
        TensorData::I8(v) => OrtTensor::from_array((shape, v)).map_err(input)?.into_dyn(),
        TensorData::I16(v) => OrtTensor::from_array((shape, v)).map_err(input)?.into_dyn(),
        TensorData::I32(v) => OrtTensor::from_array((shape, v)).map_err(input)?.into_dyn(),
        TensorData::I64(v) => OrtTensor::from_array((shape, v)).map_err(input)?.into_dyn(),
        TensorData::U8(v) => OrtTensor::from_array((shape, v)).map_err(input)?.into_dyn(),
        TensorData::U16(v) => OrtTensor::from_array((shape, v)).map_err(input)?.into_dyn(),
        TensorData::U32(v) => OrtTensor::from_array((shape, v)).map_err(input)?.into_dyn(),
        TensorData::U64(v) => OrtTensor::from_array((shape, v)).map_err(input)?.into_dyn(),
        TensorData::F32(v) => OrtTensor::from_array((shape, v)).map_err(input)?.into_dyn(),
        TensorData::F64(v) => OrtTensor::from_array((shape, v)).map_err(input)?.into_dyn(),
        TensorData::F16(_) => {
            return Err(RuntimeError::Input(
                "float16 inputs are not supported".into(),
            ))
        }
        TensorData::Str(v) => OrtTensor::from_string_array((shape, &*v))
            .map_err(input)?
            .into_dyn(),
    })
}

macro_rules! extract {
    ($value:expr, $t:ty, $variant:ident) => {{
        let (shape, data) = $value.try_extract_tensor::<$t>().map_err(ort_err)?;
        let shape = shape.iter().map(|&d| d.max(0) as usize).collect();
        Tensor {
            shape,
            data: TensorData::$variant(data.to_vec()),
        }
    }};
}

/// Copies an ort output into a runtime-api value.
pub(crate) fn from_ort(value: &DynValue) -> Result<OutputValue, RuntimeError> {
    match value.dtype() {
        ValueType::Tensor { ty, .. } => {
            let t = match ty {
                TensorElementType::Bool => extract!(value, bool, Bool),
                TensorElementType::Int8 => extract!(value, i8, I8),
                TensorElementType::Int16 => extract!(value, i16, I16),
                TensorElementType::Int32 => extract!(value, i32, I32),
                TensorElementType::Int64 => extract!(value, i64, I64),
                TensorElementType::Uint8 => extract!(value, u8, U8),
                TensorElementType::Uint16 => extract!(value, u16, U16),
                TensorElementType::Uint32 => extract!(value, u32, U32),
                TensorElementType::Uint64 => extract!(value, u64, U64),
                TensorElementType::Float32 => extract!(value, f32, F32),
                TensorElementType::Float64 => extract!(value, f64, F64),
                TensorElementType::String => {
                    let (shape, data) = value.try_extract_strings().map_err(ort_err)?;
                    let shape = shape.iter().map(|&d| d.max(0) as usize).collect();
                    Tensor {
                        shape,
                        data: TensorData::Str(data),
                    }
                }
                other => {
                    return Err(RuntimeError::Run(format!(
                        "output element type {other} is not supported"
                    )))
                }
            };
            Ok(OutputValue::Tensor(t))
        }
        ValueType::Sequence(inner) if inner.is_map() => {
            let maps = value
                .try_extract_sequence::<DynMapValueType>()
                .map_err(ort_err)?;
            let mut rows = Vec::with_capacity(maps.len());
            for map in &maps {
                let mut row: Vec<(MapKey, f64)> = match map.dtype() {
                    ValueType::Map {
                        key: TensorElementType::Int64,
                        value: TensorElementType::Float32,
                    } => map
                        .try_extract_key_values::<i64, f32>()
                        .map_err(ort_err)?
                        .into_iter()
                        .map(|(k, v)| (MapKey::Int(k), v as f64))
                        .collect(),
                    ValueType::Map {
                        key: TensorElementType::String,
                        value: TensorElementType::Float32,
                    } => map
                        .try_extract_key_values::<String, f32>()
                        .map_err(ort_err)?
                        .into_iter()
                        .map(|(k, v)| (MapKey::Str(k), v as f64))
                        .collect(),
                    ValueType::Map {
                        key: TensorElementType::Int64,
                        value: TensorElementType::Float64,
                    } => map
                        .try_extract_key_values::<i64, f64>()
                        .map_err(ort_err)?
                        .into_iter()
                        .map(|(k, v)| (MapKey::Int(k), v))
                        .collect(),
                    ValueType::Map {
                        key: TensorElementType::String,
                        value: TensorElementType::Float64,
                    } => map
                        .try_extract_key_values::<String, f64>()
                        .map_err(ort_err)?
                        .into_iter()
                        .map(|(k, v)| (MapKey::Str(k), v))
                        .collect(),
                    other => {
                        return Err(RuntimeError::Run(format!(
                            "map output {other} is not supported"
                        )))
                    }
                };
                row.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
                rows.push(row);
            }
            Ok(OutputValue::SequenceOfMaps(rows))
        }
        other => Err(RuntimeError::Run(format!(
            "output type {} is not supported",
            onnx_type_string(other)
        ))),
    }
}
