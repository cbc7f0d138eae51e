//! Crossing the boundary: mlflow-serve tensors and params to libtorch values and back.

use runtime_api::{Param, RuntimeError, Tensor, TensorData};
use tch::jit::IValue;
use tch::Kind;

use crate::archive::ForwardArg;

/// numpy's refusal, which `torch.from_numpy` raises for dtypes libtorch has no type for.
const FROM_NUMPY: &str = "The only supported types are: float64, float32, float16, complex64, complex128, int64, int32, int16, int8, uint64, uint32, uint16, uint8, and bool.";

/// A libtorch tensor over `t`'s own buffer (no copy), like `torch.from_numpy`.
///
/// The result borrows `t`'s memory: it must be dropped, and anything computed from it copied
/// out, before `t` is dropped. [`crate::TorchSession::run_with_params`] keeps both in scope.
pub fn to_torch(t: &Tensor) -> Result<tch::Tensor, RuntimeError> {
    let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
    let (ptr, kind): (*const u8, Kind) = match &t.data {
        TensorData::F32(v) => (v.as_ptr().cast(), Kind::Float),
        TensorData::F64(v) => (v.as_ptr().cast(), Kind::Double),
        TensorData::I64(v) => (v.as_ptr().cast(), Kind::Int64),
        TensorData::I32(v) => (v.as_ptr().cast(), Kind::Int),
        TensorData::I16(v) => (v.as_ptr().cast(), Kind::Int16),
        TensorData::I8(v) => (v.as_ptr().cast(), Kind::Int8),
        TensorData::U8(v) => (v.as_ptr().cast(), Kind::Uint8),
        TensorData::Bool(v) => (v.as_ptr().cast(), Kind::Bool),
        TensorData::F16(v) => {
            // float16 is carried as f32 on our side: one conversion, as numpy would have it.
            let wide = tch::Tensor::f_from_slice(v).map_err(run_err)?;
            return wide
                .f_reshape(&shape)
                .and_then(|w| w.f_to_kind(Kind::Half))
                .map_err(run_err);
        }
        TensorData::U16(_) | TensorData::U32(_) | TensorData::U64(_) => {
            return Err(RuntimeError::Input(format!(
                "TypeError: libtorch (through tch) has no {} tensors; send a signed integer type",
                t.dtype()
            )))
        }
        TensorData::Str(_) => {
            return Err(RuntimeError::Input(format!(
                "TypeError: can't convert np.ndarray of type numpy.object_. {FROM_NUMPY}"
            )))
        }
    };
    if t.data.is_empty() {
        // An empty buffer's pointer is dangling: let libtorch allocate.
        return tch::Tensor::f_zeros(&shape, (kind, tch::Device::Cpu)).map_err(run_err);
    }
    // SAFETY: `ptr` points at `product(shape)` initialised elements of `kind` (Rust's bool is
    // one byte holding 0 or 1, as libtorch's), and the caller keeps `t` alive and unmoved for
    // as long as the returned tensor or anything viewing it exists (see above).
    unsafe { tch::Tensor::f_from_blob(ptr, &shape, &[], kind, tch::Device::Cpu) }.map_err(run_err)
}

fn run_err(e: tch::TchError) -> RuntimeError {
    RuntimeError::Run(torch_error(&e.to_string()))
}

macro_rules! copy_out {
    ($t:expr, $n:expr, $ty:ty, $variant:ident) => {{
        let mut v: Vec<$ty> = vec![Default::default(); $n];
        $t.f_copy_data(&mut v, $n).map_err(run_err)?;
        TensorData::$variant(v)
    }};
}

/// Copies a libtorch result into an mlflow-serve tensor (`preds.numpy()`).
pub fn from_torch(t: &tch::Tensor) -> Result<Tensor, RuntimeError> {
    let t = t.f_contiguous().map_err(run_err)?;
    let shape: Vec<usize> = t.size().iter().map(|&d| d.max(0) as usize).collect();
    let n: usize = shape.iter().product();
    let kind = t.f_kind().map_err(run_err)?;
    let data = match kind {
        Kind::Float => copy_out!(t, n, f32, F32),
        Kind::Double => copy_out!(t, n, f64, F64),
        Kind::Int64 => copy_out!(t, n, i64, I64),
        Kind::Int => copy_out!(t, n, i32, I32),
        Kind::Int16 => copy_out!(t, n, i16, I16),
        Kind::Int8 => copy_out!(t, n, i8, I8),
        Kind::Uint8 => copy_out!(t, n, u8, U8),
        Kind::Bool => copy_out!(t, n, bool, Bool),
        Kind::Half => {
            let wide = t.f_to_kind(Kind::Float).map_err(run_err)?;
            let mut v = vec![0f32; n];
            wide.f_copy_data(&mut v, n).map_err(run_err)?;
            TensorData::F16(v)
        }
        other => {
            return Err(RuntimeError::Run(format!(
                "TypeError: Got unsupported ScalarType {other:?}"
            )))
        }
    };
    Tensor::new(shape, data)
}

/// Python's type name of a non-tensor `forward` result.
pub fn py_type(v: &IValue) -> &'static str {
    match v {
        IValue::None => "NoneType",
        IValue::Tensor(_) => "torch.Tensor",
        IValue::Double(_) => "float",
        IValue::Int(_) => "int",
        IValue::Bool(_) => "bool",
        IValue::Tuple(_) => "tuple",
        IValue::String(_) => "str",
        IValue::GenericDict(_) => "dict",
        IValue::Device(_) => "torch.device",
        IValue::Object(_) => "torch.ScriptObject",
        IValue::IntList(_)
        | IValue::DoubleList(_)
        | IValue::BoolList(_)
        | IValue::StringList(_)
        | IValue::TensorList(_)
        | IValue::GenericList(_) => "list",
        _ => "object",
    }
}

/// A param as TorchScript receives it for an argument of type `ty` (Python's own implicit
/// conversions: an `int` is accepted where a `float` is declared).
pub fn param_to_ivalue(name: &str, p: &Param, ty: Option<&str>) -> Result<IValue, RuntimeError> {
    let ty = ty.map(|t| t.trim_start_matches("Optional[").trim_end_matches(']'));
    let mismatch = |want: &str| {
        RuntimeError::Input(format!(
            "RuntimeError: forward() Expected a value of type '{want}' for argument '{name}' but instead found type '{}'.",
            p.py_type()
        ))
    };
    Ok(match (p, ty) {
        (Param::None, _) => IValue::None,
        (Param::Int(i), Some("float")) => IValue::Double(*i as f64),
        (Param::Float(_), Some("int")) => return Err(mismatch("int")),
        (Param::Bool(b), _) => IValue::Bool(*b),
        (Param::Int(i), _) => IValue::Int(*i),
        (Param::Float(f), _) => IValue::Double(*f),
        (Param::Str(s), _) => IValue::String(s.clone()),
        (Param::List(items), ty) => {
            let inner = ty
                .and_then(|t| t.strip_prefix("List["))
                .map(|t| t.trim_end_matches(']'));
            list_to_ivalue(items, inner).ok_or_else(|| mismatch(ty.unwrap_or("List")))?
        }
    })
}

fn list_to_ivalue(items: &[Param], inner: Option<&str>) -> Option<IValue> {
    let all = |f: fn(&Param) -> bool| items.iter().all(f);
    Some(match inner {
        Some("float") => IValue::DoubleList(
            items
                .iter()
                .map(|p| match p {
                    Param::Int(i) => Some(*i as f64),
                    Param::Float(f) => Some(*f),
                    _ => None,
                })
                .collect::<Option<_>>()?,
        ),
        _ if all(|p| matches!(p, Param::Bool(_))) => IValue::BoolList(
            items
                .iter()
                .filter_map(|p| match p {
                    Param::Bool(b) => Some(*b),
                    _ => None,
                })
                .collect(),
        ),
        _ if all(|p| matches!(p, Param::Int(_))) => IValue::IntList(
            items
                .iter()
                .filter_map(|p| match p {
                    Param::Int(i) => Some(*i),
                    _ => None,
                })
                .collect(),
        ),
        _ if all(|p| matches!(p, Param::Float(_) | Param::Int(_))) => IValue::DoubleList(
            items
                .iter()
                .filter_map(|p| match p {
                    Param::Float(f) => Some(*f),
                    Param::Int(i) => Some(*i as f64),
                    _ => None,
                })
                .collect(),
        ),
        _ if all(|p| matches!(p, Param::Str(_))) => IValue::StringList(
            items
                .iter()
                .filter_map(|p| match p {
                    Param::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
        ),
        _ => return None,
    })
}

/// The default an argument's source declares (`1.`, `0`, `False`, `"x"`, `None`), for an
/// argument that comes before one a param names.
pub fn default_to_ivalue(arg: &ForwardArg) -> Result<IValue, RuntimeError> {
    let missing = || {
        RuntimeError::Input(format!(
            "RuntimeError: forward() is missing value for argument '{}'.",
            arg.name
        ))
    };
    let d = arg.default.as_deref().ok_or_else(missing)?.trim();
    let ty = arg.ty.as_str();
    Ok(match d {
        "None" => IValue::None,
        "True" => IValue::Bool(true),
        "False" => IValue::Bool(false),
        _ if d.starts_with('"') || d.starts_with('\'') => {
            IValue::String(d[1..d.len().saturating_sub(1)].to_string())
        }
        _ if ty == "int" => IValue::Int(d.parse().map_err(|_| missing())?),
        _ if ty == "float" => IValue::Double(d.parse().map_err(|_| missing())?),
        _ => return Err(missing()),
    })
}

/// The first line of a message.
pub fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
}

/// libtorch's message without its C++ backtrace.
pub fn torch_error(s: &str) -> String {
    let s = s.strip_prefix("Internal torch error: ").unwrap_or(s);
    let mut out = Vec::new();
    for line in s.lines() {
        if line.starts_with("Exception raised from") || line.trim_start().starts_with("frame #") {
            break;
        }
        out.push(line);
    }
    out.join("\n").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_follow_python_conversions() {
        let p = param_to_ivalue("scale", &Param::Int(2), Some("float")).unwrap();
        assert!(matches!(p, IValue::Double(x) if x == 2.0));
        let e = param_to_ivalue("shift", &Param::Float(1.5), Some("int")).unwrap_err();
        assert!(e
            .to_string()
            .contains("Expected a value of type 'int' for argument 'shift'"));
        let l = param_to_ivalue(
            "w",
            &Param::List(vec![Param::Int(1), Param::Float(2.5)]),
            Some("List[float]"),
        )
        .unwrap();
        assert!(matches!(l, IValue::DoubleList(v) if v == vec![1.0, 2.5]));
    }

    #[test]
    fn defaults_parse_from_source_text() {
        let arg = |ty: &str, d: &str| ForwardArg {
            name: "a".into(),
            ty: ty.into(),
            default: Some(d.into()),
        };
        assert!(
            matches!(default_to_ivalue(&arg("float", "1.")).unwrap(), IValue::Double(x) if x == 1.0)
        );
        assert!(matches!(
            default_to_ivalue(&arg("int", "0")).unwrap(),
            IValue::Int(0)
        ));
        assert!(matches!(
            default_to_ivalue(&arg("bool", "False")).unwrap(),
            IValue::Bool(false)
        ));
        assert!(default_to_ivalue(&ForwardArg {
            name: "b".into(),
            ty: "int".into(),
            default: None
        })
        .is_err());
    }

    #[test]
    fn torch_errors_lose_their_backtrace() {
        let e = "Internal torch error: The following operation failed in the TorchScript interpreter.\nRuntimeError: mat1 and mat2 shapes cannot be multiplied\nException raised from foo at bar.cpp:1\nframe #0: baz";
        assert_eq!(
            torch_error(e),
            "The following operation failed in the TorchScript interpreter.\nRuntimeError: mat1 and mat2 shapes cannot be multiplied"
        );
    }
}
