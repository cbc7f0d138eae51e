//! The contract between mlflow-serve and its inference backends.
//!
//! A backend (ONNX Runtime, libtorch, …) loads a model once and then runs it on
//! dedicated threads: the [`Runtime`] trait is deliberately synchronous and knows
//! nothing of HTTP or MLflow. Data crosses the boundary as [`Tensor`]s — a dtype, a
//! shape and one contiguous buffer — and comes back as [`OutputValue`]s.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::fmt;

/// Element type of a tensor, named like numpy dtypes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// `bool`
    Bool,
    /// `int8`
    I8,
    /// `int16`
    I16,
    /// `int32`
    I32,
    /// `int64`
    I64,
    /// `uint8`
    U8,
    /// `uint16`
    U16,
    /// `uint32`
    U32,
    /// `uint64`
    U64,
    /// `float16` (carried as f32 values on the Rust side)
    F16,
    /// `float32`
    F32,
    /// `float64`
    F64,
    /// `str` (UTF-8 strings)
    Str,
}

impl DType {
    /// The numpy name of the dtype (`float32`, `int64`, `str`, …).
    pub fn numpy_name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::F16 => "float16",
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::Str => "str",
        }
    }

    /// Parses a numpy dtype name as written in MLflow signatures.
    pub fn from_numpy_name(name: &str) -> Option<DType> {
        Some(match name {
            "bool" => DType::Bool,
            "int8" => DType::I8,
            "int16" => DType::I16,
            "int32" => DType::I32,
            "int64" => DType::I64,
            "uint8" => DType::U8,
            "uint16" => DType::U16,
            "uint32" => DType::U32,
            "uint64" => DType::U64,
            "float16" => DType::F16,
            "float32" => DType::F32,
            "float64" => DType::F64,
            "str" => DType::Str,
            _ => return None,
        })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.numpy_name())
    }
}

/// The contiguous element buffer of a [`Tensor`].
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum TensorData {
    Bool(Vec<bool>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    /// float16 values, widened to f32 on the Rust side.
    F16(Vec<f32>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Str(Vec<String>),
}

impl TensorData {
    /// The elements' bytes, row-major, native endianness, without a copy (`F16` elements are
    /// carried as f32; `Str` has none). The one byte view of tensor memory in the workspace:
    /// `bytemuck` checks that every element type is plain data.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            TensorData::Bool(v) => bytemuck::cast_slice(v),
            TensorData::I8(v) => bytemuck::cast_slice(v),
            TensorData::I16(v) => bytemuck::cast_slice(v),
            TensorData::I32(v) => bytemuck::cast_slice(v),
            TensorData::I64(v) => bytemuck::cast_slice(v),
            TensorData::U8(v) => v,
            TensorData::U16(v) => bytemuck::cast_slice(v),
            TensorData::U32(v) => bytemuck::cast_slice(v),
            TensorData::U64(v) => bytemuck::cast_slice(v),
            TensorData::F16(v) | TensorData::F32(v) => bytemuck::cast_slice(v),
            TensorData::F64(v) => bytemuck::cast_slice(v),
            TensorData::Str(_) => &[],
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::Bool(v) => v.len(),
            TensorData::I8(v) => v.len(),
            TensorData::I16(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::U16(v) => v.len(),
            TensorData::U32(v) => v.len(),
            TensorData::U64(v) => v.len(),
            TensorData::F16(v) => v.len(),
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::Str(v) => v.len(),
        }
    }

    /// True when the buffer holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::Bool(_) => DType::Bool,
            TensorData::I8(_) => DType::I8,
            TensorData::I16(_) => DType::I16,
            TensorData::I32(_) => DType::I32,
            TensorData::I64(_) => DType::I64,
            TensorData::U8(_) => DType::U8,
            TensorData::U16(_) => DType::U16,
            TensorData::U32(_) => DType::U32,
            TensorData::U64(_) => DType::U64,
            TensorData::F16(_) => DType::F16,
            TensorData::F32(_) => DType::F32,
            TensorData::F64(_) => DType::F64,
            TensorData::Str(_) => DType::Str,
        }
    }
}

/// IEEE 754 half precision (the bits of a `float16`) widened exactly to `f32`, as
/// `F16` elements are carried on the Rust side.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // subnormal: normalise
            let mut e = 127 - 15 + 1;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | ((e as u32) << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

/// A dense, row-major n-dimensional array.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first. An empty shape is a scalar (one element).
    pub shape: Vec<usize>,
    /// The elements in row-major order; `data.len()` equals the product of `shape`.
    pub data: TensorData,
}

impl Tensor {
    /// Builds a tensor, checking that the buffer matches the shape.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Tensor, RuntimeError> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(RuntimeError::Input(format!(
                "tensor of shape {shape:?} needs {n} elements, got {}",
                data.len()
            )));
        }
        Ok(Tensor { shape, data })
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }
}

/// Key of a map output (ONNX `map(int64, …)` or `map(string, …)`).
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum MapKey {
    /// Integer key.
    Int(i64),
    /// String key.
    Str(String),
}

/// One model output.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputValue {
    /// A dense tensor.
    Tensor(Tensor),
    /// A sequence of maps with float values (e.g. sklearn's ZipMap), keys in ascending order.
    SequenceOfMaps(Vec<Vec<(MapKey, f64)>>),
}

/// What the runtime knows about one graph input or output.
#[derive(Debug, Clone, PartialEq)]
pub struct IoSpec {
    /// Name in the graph.
    pub name: String,
    /// Kind and element type.
    pub kind: IoKind,
}

/// The kind of a graph input or output.
#[derive(Debug, Clone, PartialEq)]
pub enum IoKind {
    /// A tensor of the given element type; `-1` marks a dynamic dimension.
    Tensor {
        /// Element type, `None` when the runtime's type has no [`DType`] (bfloat16, complex…).
        dtype: Option<DType>,
        /// Declared shape.
        shape: Vec<i64>,
        /// The runtime's own type string (`tensor(float)`).
        type_string: String,
    },
    /// Anything else (sequences, maps, optionals), with the runtime's type string.
    Other {
        /// The runtime's own type string (`seq(map(int64,tensor(float)))`).
        type_string: String,
    },
}

impl IoSpec {
    /// The type string as the backend prints it (`tensor(float)`).
    pub fn type_string(&self) -> &str {
        match &self.kind {
            IoKind::Tensor { type_string, .. } | IoKind::Other { type_string } => type_string,
        }
    }
}

/// Errors a runtime reports.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The model could not be loaded.
    #[error("{0}")]
    Load(String),
    /// The inputs do not fit the model (wrong name, dtype, rank).
    #[error("{0}")]
    Input(String),
    /// The backend failed while running the model.
    #[error("{0}")]
    Run(String),
    /// The runtime call panicked; the panic was contained to the requests of that call.
    #[error("the inference worker panicked: {0}")]
    Panicked(String),
    /// The model file is of a kind this backend cannot run (what it is, in the backend's
    /// words); the caller may say how to convert it.
    #[error("{0}")]
    NotRunnable(String),
    /// The model returned something other than one tensor: the kind of value it returned,
    /// in the backend's own type names (`tuple`, `list`, `dict`, …).
    #[error("the model returned a {0}, not a single tensor")]
    UnsupportedOutput(String),
    /// An input tensor of a dtype the backend has no tensor type for.
    #[error("the backend has no {0} tensors")]
    UnsupportedInputDtype(DType),
    /// An output tensor of a type this crate has no [`DType`] for, in the backend's name.
    #[error("the model returned a {0} tensor, which has no dtype here")]
    UnsupportedOutputDtype(String),
    /// The process running the model was lost during the call (it died, or was killed for
    /// a hang or for memory) and is being replaced; the message says which.
    #[error("{0}")]
    WorkerLost(String),
}

/// A scalar or list argument passed to a model beside its tensors (MLflow inference params;
/// TorchScript `forward` keyword arguments).
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// Python `None`.
    None,
    /// `bool`.
    Bool(bool),
    /// `int`.
    Int(i64),
    /// `float`.
    Float(f64),
    /// `str`.
    Str(String),
    /// `list` of params.
    List(Vec<Param>),
}

impl Param {
    /// The value's type as a scripting backend names it in its own messages (TorchScript:
    /// `int`, `float`, `str`, `list`, `NoneType`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Param::None => "NoneType",
            Param::Bool(_) => "bool",
            Param::Int(_) => "int",
            Param::Float(_) => "float",
            Param::Str(_) => "str",
            Param::List(_) => "list",
        }
    }
}

/// A loaded model instance, owned by one worker thread.
///
/// Implementations must not spawn work back onto the caller's async runtime; `run` is called
/// from a dedicated OS thread and may block for as long as the model needs.
pub trait Runtime: Send {
    /// The graph inputs, in graph order, as far as the backend can know them. A backend whose
    /// model format does not declare them (a TorchScript `forward` takes untyped tensors)
    /// reports one placeholder per argument, with `dtype: None` and shape `[-1]`: callers
    /// must then take dtypes and shapes from elsewhere (the MLflow signature).
    fn inputs(&self) -> &[IoSpec];
    /// The graph outputs, in graph order, with the same caveat as [`Runtime::inputs`].
    fn outputs(&self) -> &[IoSpec];
    /// Runs the model on named feeds and returns every output, in graph order.
    fn run(
        &mut self,
        feeds: Vec<(String, Tensor)>,
    ) -> Result<Vec<(String, OutputValue)>, RuntimeError>;

    /// Runs the model with inference params beside the feeds. Backends that take no params
    /// (ONNX Runtime: MLflow ignores them) keep this default, which drops them.
    fn run_with_params(
        &mut self,
        feeds: Vec<(String, Tensor)>,
        params: &[(String, Param)],
    ) -> Result<Vec<(String, OutputValue)>, RuntimeError> {
        let _ = params;
        self.run(feeds)
    }
}

/// The C ABI between mlflow-serve and a runtime plugin loaded at run time (the TorchScript
/// backend is one: it links libtorch, which the server itself never does). Both sides use
/// these definitions; the plugin exports `extern "C"` functions named in its crate docs.
pub mod plugin_abi {
    use super::DType;

    /// Bumped on any change of the functions or structs below.
    pub const ABI_VERSION: u32 = 2;

    /// Most dimensions an output may have.
    pub const MAX_DIMS: usize = 16;

    /// The dtypes in ABI order (a dtype's code is its index).
    pub const DTYPES: [DType; 13] = [
        DType::Bool,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::F16,
        DType::F32,
        DType::F64,
        DType::Str,
    ];

    /// The ABI code of a dtype.
    pub fn code(d: DType) -> u32 {
        DTYPES.iter().position(|x| *x == d).unwrap_or(0) as u32
    }

    /// The dtype of an ABI code.
    pub fn dtype(code: u32) -> Option<DType> {
        DTYPES.get(code as usize).copied()
    }

    /// An input tensor lent to the plugin for one call: row-major element bytes.
    #[repr(C)]
    pub struct RawTensor {
        /// [`code`] of the dtype (`F16` elements as f32 bytes).
        pub dtype: u32,
        /// Number of dimensions.
        pub ndim: usize,
        /// `ndim` dimensions.
        pub shape: *const usize,
        /// The elements.
        pub data: *const u8,
        /// Bytes at `data`.
        pub nbytes: usize,
    }

    /// What a plugin call reports: `kind` 0 = success, 1 = load, 2 = input, 3 = run error,
    /// 4 = a panic contained inside the plugin, 5 = a model file the backend cannot run,
    /// 6 = an output that is not one tensor (the message is the value's type name),
    /// 7 = an input dtype the backend lacks (the message is its numpy name), 8 = an output
    /// tensor type with no dtype (the message is the backend's name for it);
    /// `message` is a NUL-terminated string the plugin allocated (free it with the plugin's
    /// string-free function), or null.
    #[repr(C)]
    pub struct RawError {
        /// 0 on success.
        pub kind: u32,
        /// The message, or null.
        pub message: *mut std::ffi::c_char,
    }

    /// An output's description.
    #[repr(C)]
    pub struct RawMeta {
        /// [`code`] of the dtype (`F16` elements as f32 bytes).
        pub dtype: u32,
        /// Number of dimensions (at most [`MAX_DIMS`]).
        pub ndim: usize,
        /// The dimensions.
        pub shape: [usize; MAX_DIMS],
        /// Bytes the elements take.
        pub nbytes: usize,
    }
}
