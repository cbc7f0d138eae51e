//! Crossing the boundary: mlflow-serve tensors and params to libtorch values and back.

use runtime_api::{DType, Param, RuntimeError, Tensor, TensorData};
use tch::jit::IValue;
use tch::Kind;

use crate::archive::ForwardArg;

/// A libtorch-owned copy of `t` (like `torch.from_numpy(a).clone()`): nothing libtorch or
/// the module does with it can reach `t`'s buffer.
pub fn to_torch(t: &TensorView<'_>) -> Result<tch::Tensor, RuntimeError> {
    let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
    let n: usize = t.shape.iter().product();
    let kind = match t.dtype {
        DType::F32 => Kind::Float,
        DType::F64 => Kind::Double,
        DType::I64 => Kind::Int64,
        DType::I32 => Kind::Int,
        DType::I16 => Kind::Int16,
        DType::I8 => Kind::Int8,
        DType::U8 => Kind::Uint8,
        DType::Bool => Kind::Bool,
        // float16 is carried as f32 on our side: one conversion, as numpy would have it.
        DType::F16 => Kind::Float,
        DType::U16 | DType::U32 | DType::U64 | DType::Str => {
            return Err(RuntimeError::UnsupportedInputDtype(t.dtype))
        }
    };
    if t.bytes.len() != n * kind.elt_size_in_bytes() {
        return Err(RuntimeError::Input(format!(
            "a {} tensor of shape {:?} needs {} bytes, got {}",
            t.dtype,
            t.shape,
            n * kind.elt_size_in_bytes(),
            t.bytes.len()
        )));
    }
    let tensor = if n == 0 {
        // An empty buffer's pointer may dangle: let libtorch allocate.
        tch::Tensor::f_zeros(&shape, (kind, tch::Device::Cpu)).map_err(run_err)?
    } else {
        // Copied into a tensor libtorch owns: a module may keep its input (`self.last = x`)
        // or change it in place, and must never see the request's buffer, which is freed
        // (or reused) once the call returns. One memcpy per call (see the README).
        tch::Tensor::f_from_data_size(t.bytes, &shape, kind).map_err(run_err)?
    };
    if t.dtype == DType::F16 {
        return tensor.f_to_kind(Kind::Half).map_err(run_err);
    }
    Ok(tensor)
}

/// A borrowed view of an mlflow-serve tensor: its dtype, shape and element bytes.
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    /// Element type (`F16` elements are carried as f32 bytes).
    pub dtype: DType,
    /// Dimensions.
    pub shape: &'a [usize],
    /// The elements, row-major, native endianness (empty for `Str`).
    pub bytes: &'a [u8],
}

impl<'a> TensorView<'a> {
    /// Views `t`'s buffer without copying it.
    pub fn of(t: &'a Tensor) -> TensorView<'a> {
        let bytes = t.data.as_bytes();
        TensorView {
            dtype: t.dtype(),
            shape: &t.shape,
            bytes,
        }
    }
}

fn run_err(e: tch::TchError) -> RuntimeError {
    RuntimeError::Run(torch_error(&e.to_string()))
}

/// A `forward` result, contiguous on the CPU, ready to be copied out once.
pub struct TorchOutput {
    tensor: tch::Tensor,
    dtype: DType,
    shape: Vec<usize>,
}

impl TorchOutput {
    /// Checks the result's type (`preds.numpy()`'s refusals) and makes it contiguous.
    pub fn new(t: &tch::Tensor) -> Result<TorchOutput, RuntimeError> {
        let kind = t.f_kind().map_err(run_err)?;
        let (tensor, dtype) = match kind {
            Kind::Float => (t.f_contiguous(), DType::F32),
            Kind::Double => (t.f_contiguous(), DType::F64),
            Kind::Int64 => (t.f_contiguous(), DType::I64),
            Kind::Int => (t.f_contiguous(), DType::I32),
            Kind::Int16 => (t.f_contiguous(), DType::I16),
            Kind::Int8 => (t.f_contiguous(), DType::I8),
            Kind::Uint8 => (t.f_contiguous(), DType::U8),
            Kind::Bool => (t.f_contiguous(), DType::Bool),
            // float16 is carried as f32 values on our side.
            Kind::Half => (t.f_to_kind(Kind::Float), DType::F16),
            other => return Err(RuntimeError::UnsupportedOutputDtype(format!("{other:?}"))),
        };
        let tensor = tensor.map_err(run_err)?;
        let shape = tensor.size().iter().map(|&d| d.max(0) as usize).collect();
        Ok(TorchOutput {
            tensor,
            dtype,
            shape,
        })
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Bytes the elements take (`F16` as f32).
    pub fn nbytes(&self) -> usize {
        let elem = match self.dtype {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::F16 | DType::I32 => 4,
            DType::I16 => 2,
            _ => 1,
        };
        self.shape.iter().product::<usize>() * elem
    }

    /// Copies the elements straight from libtorch into `dst` (exactly [`Self::nbytes`]).
    pub fn read_into(&self, dst: &mut [u8]) -> Result<(), RuntimeError> {
        if dst.len() != self.nbytes() {
            return Err(RuntimeError::Run(format!(
                "output buffer of {} bytes for {} bytes",
                dst.len(),
                self.nbytes()
            )));
        }
        let n = self.shape.iter().product();
        if n == 0 {
            return Ok(());
        }
        self.tensor.f_copy_data_u8(dst, n).map_err(run_err)
    }

    /// The result as an mlflow-serve tensor (one copy, from libtorch into the new buffer).
    pub fn to_tensor(&self) -> Result<Tensor, RuntimeError> {
        let n: usize = self.shape.iter().product();
        macro_rules! read {
            ($ty:ty, $variant:ident) => {{
                let mut v: Vec<$ty> = vec![Default::default(); n];
                if n > 0 {
                    self.tensor.f_copy_data(&mut v, n).map_err(run_err)?;
                }
                TensorData::$variant(v)
            }};
        }
        let data = match self.dtype {
            DType::F32 => read!(f32, F32),
            DType::F16 => read!(f32, F16),
            DType::F64 => read!(f64, F64),
            DType::I64 => read!(i64, I64),
            DType::I32 => read!(i32, I32),
            DType::I16 => read!(i16, I16),
            DType::I8 => read!(i8, I8),
            DType::U8 => read!(u8, U8),
            DType::Bool => {
                // Read as bytes, then normalised: a Rust `bool` must be 0 or 1, which a
                // libtorch bool tensor's storage does not promise.
                let n = self.tensor.numel();
                let mut v = vec![0u8; n];
                self.tensor.f_copy_data_u8(&mut v, n).map_err(run_err)?;
                TensorData::Bool(v.into_iter().map(|b| b != 0).collect())
            }
            other => return Err(RuntimeError::Run(format!("unexpected output type {other}"))),
        };
        Tensor::new(self.shape.clone(), data)
    }
}

/// The type of a non-tensor `forward` result, in TorchScript's names (which are Python's).
pub fn value_type(v: &IValue) -> &'static str {
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
            p.type_name()
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
