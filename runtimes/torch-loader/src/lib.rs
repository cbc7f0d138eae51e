//! The server's side of the TorchScript backend: finds the plugin `libmlflow_serve_torch.so`
//! (built from `runtimes/torch-plugin`, which links libtorch), loads it when a `pytorch` model
//! is served, and wraps it in the [`Runtime`] trait. The server binary itself never links
//! libtorch: ONNX models pay nothing for it, and a missing plugin or libtorch is one clear
//! error naming every place that was looked at.
#![deny(missing_docs)]

use std::ffi::{c_char, c_void, CStr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use runtime_api::plugin_abi::{self, RawError, RawMeta, RawTensor, ABI_VERSION, MAX_DIMS};
use runtime_api::{
    DType, IoKind, IoSpec, OutputValue, Param, Runtime, RuntimeError, Tensor, TensorData,
};

/// The plugin's file name.
pub const PLUGIN_FILE: &str = "libmlflow_serve_torch.so";

/// Where the plugin search looked, for the error message when nothing was found.
#[derive(Debug, Default)]
pub struct PluginSearch {
    /// Every path that was tried, in order.
    pub tried: Vec<PathBuf>,
}

/// Finds the plugin: an explicit file or directory (flag / `MLFLOW_SERVE_TORCH_PLUGIN`) wins;
/// then the executable's directory, its `lib/`, `../lib/` and `..` (where `cargo build`
/// and an install put it).
pub fn find_plugin(explicit: Option<&Path>) -> Result<PathBuf, PluginSearch> {
    let mut search = PluginSearch::default();
    let candidates: Vec<PathBuf> = match explicit {
        Some(p) if p.is_dir() => vec![p.join(PLUGIN_FILE)],
        Some(p) => vec![p.to_path_buf()],
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .map(|dir| {
                vec![
                    dir.join(PLUGIN_FILE),
                    dir.join("lib").join(PLUGIN_FILE),
                    dir.join("../lib").join(PLUGIN_FILE),
                    // target/<profile>/deps/ (test and bench executables)
                    dir.join("..").join(PLUGIN_FILE),
                ]
            })
            .unwrap_or_default(),
    };
    for c in candidates {
        if c.is_file() {
            return Ok(c);
        }
        search.tried.push(c);
    }
    Err(search)
}

type AbiVersion = unsafe extern "C" fn() -> u32;
type Load = unsafe extern "C" fn(*const u8, usize, usize, *mut RawError) -> *mut c_void;
type Free = unsafe extern "C" fn(*mut c_void);
type NewSession = unsafe extern "C" fn(*const c_void) -> *mut c_void;
type Forward = unsafe extern "C" fn(
    *mut c_void,
    *const RawTensor,
    *const u8,
    usize,
    *mut RawError,
) -> *mut c_void;
type OutputMeta = unsafe extern "C" fn(*const c_void, *mut RawMeta) -> u32;
type OutputRead = unsafe extern "C" fn(*const c_void, *mut u8, usize, *mut RawError) -> u32;
type StringFree = unsafe extern "C" fn(*mut c_char);

/// A loaded plugin: the library and its functions (kept alive by every model and session).
pub struct Plugin {
    load: Load,
    model_free: Free,
    session: NewSession,
    session_free: Free,
    forward: Forward,
    output_meta: OutputMeta,
    output_read: OutputRead,
    output_free: Free,
    string_free: StringFree,
    path: PathBuf,
    // Last: the functions above point into it.
    _lib: libloading::Library,
}

impl Plugin {
    /// Loads the plugin at `path` and checks its ABI version. A libtorch the plugin cannot
    /// find shows up here, in the dynamic loader's words.
    pub fn open(path: &Path) -> Result<Arc<Plugin>, RuntimeError> {
        let load_err = |e: libloading::Error| {
            RuntimeError::Load(format!(
                "cannot load the TorchScript plugin {}: {e}",
                path.display()
            ))
        };
        // SAFETY: loading a library runs its initialisers; the plugin is ours, built from
        // runtimes/torch-plugin (libtorch's own initialisers register its operators).
        let lib = unsafe { libloading::Library::new(path) }.map_err(load_err)?;
        macro_rules! sym {
            ($name:literal, $ty:ty) => {
                // SAFETY: the symbol has this signature in the plugin (runtime_api::plugin_abi).
                *unsafe { lib.get::<$ty>($name) }.map_err(load_err)?
            };
        }
        let version: AbiVersion = sym!(b"ms_torch_abi_version", AbiVersion);
        // SAFETY: a plain function without arguments.
        let got = unsafe { version() };
        if got != ABI_VERSION {
            return Err(RuntimeError::Load(format!(
                "the TorchScript plugin {} speaks ABI {got}, this server {ABI_VERSION}: rebuild both (`make setup-torch`)",
                path.display()
            )));
        }
        Ok(Arc::new(Plugin {
            load: sym!(b"ms_torch_load", Load),
            model_free: sym!(b"ms_torch_model_free", Free),
            session: sym!(b"ms_torch_session", NewSession),
            session_free: sym!(b"ms_torch_session_free", Free),
            forward: sym!(b"ms_torch_forward", Forward),
            output_meta: sym!(b"ms_torch_output_meta", OutputMeta),
            output_read: sym!(b"ms_torch_output_read", OutputRead),
            output_free: sym!(b"ms_torch_output_free", Free),
            string_free: sym!(b"ms_torch_string_free", StringFree),
            path: path.to_path_buf(),
            _lib: lib,
        }))
    }

    /// The plugin file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Turns a filled `RawError` into a [`RuntimeError`], freeing its message.
    fn take_error(&self, e: RawError) -> RuntimeError {
        let text = if e.message.is_null() {
            "the TorchScript plugin failed without a message".to_string()
        } else {
            // SAFETY: a NUL-terminated string the plugin allocated; freed right after.
            let t = unsafe { CStr::from_ptr(e.message) }
                .to_string_lossy()
                .into_owned();
            // SAFETY: allocated by the plugin, freed once.
            unsafe { (self.string_free)(e.message) };
            t
        };
        match e.kind {
            1 => RuntimeError::Load(text),
            2 => RuntimeError::Input(text),
            4 => RuntimeError::Panicked(
                text.trim_start_matches("the inference worker panicked: ")
                    .to_string(),
            ),
            5 => RuntimeError::NotRunnable(text),
            6 => RuntimeError::UnsupportedOutput(text),
            7 => match DType::from_numpy_name(&text) {
                Some(d) => RuntimeError::UnsupportedInputDtype(d),
                None => RuntimeError::Input(text),
            },
            8 => RuntimeError::UnsupportedOutputDtype(text),
            _ => RuntimeError::Run(text),
        }
    }
}

fn no_error() -> RawError {
    RawError {
        kind: 0,
        message: std::ptr::null_mut(),
    }
}

/// A TorchScript model loaded by the plugin.
pub struct TorchModel {
    plugin: Arc<Plugin>,
    ptr: *mut c_void,
}

// SAFETY: the plugin's model is immutable after loading and only read to make sessions.
unsafe impl Send for TorchModel {}
// SAFETY: as above.
unsafe impl Sync for TorchModel {}

impl TorchModel {
    /// Loads `path` (refusing eager pickles and `.pt2` programs, as the plugin explains) with
    /// `intra_op_threads` libtorch threads (0 keeps libtorch's default).
    pub fn load(
        plugin: &Arc<Plugin>,
        path: &Path,
        intra_op_threads: usize,
    ) -> Result<TorchModel, RuntimeError> {
        let text = path.to_string_lossy();
        let mut err = no_error();
        // SAFETY: the path bytes live for the call; `err` is writable.
        let ptr = unsafe { (plugin.load)(text.as_ptr(), text.len(), intra_op_threads, &mut err) };
        if ptr.is_null() {
            return Err(plugin.take_error(err));
        }
        Ok(TorchModel {
            plugin: plugin.clone(),
            ptr,
        })
    }

    /// A session for one more worker thread.
    pub fn session(&self) -> Result<TorchSession, RuntimeError> {
        // SAFETY: `self.ptr` is a live model.
        let ptr = unsafe { (self.plugin.session)(self.ptr) };
        if ptr.is_null() {
            return Err(RuntimeError::Load(
                "the TorchScript plugin could not make a session".into(),
            ));
        }
        let io = |name: &str| IoSpec {
            name: name.to_string(),
            kind: IoKind::Tensor {
                dtype: None,
                shape: vec![-1],
                type_string: "Tensor".to_string(),
            },
        };
        Ok(TorchSession {
            plugin: self.plugin.clone(),
            ptr,
            inputs: vec![io("input")],
            outputs: vec![io("output")],
        })
    }
}

impl Drop for TorchModel {
    fn drop(&mut self) {
        // SAFETY: a live model, freed once.
        unsafe { (self.plugin.model_free)(self.ptr) }
    }
}

/// One worker's session: runs `forward` through the plugin.
pub struct TorchSession {
    plugin: Arc<Plugin>,
    ptr: *mut c_void,
    inputs: Vec<IoSpec>,
    outputs: Vec<IoSpec>,
}

// SAFETY: a session is used by one thread at a time (`&mut self`); the plugin allows moving it.
unsafe impl Send for TorchSession {}

impl Drop for TorchSession {
    fn drop(&mut self) {
        // SAFETY: a live session, freed once.
        unsafe { (self.plugin.session_free)(self.ptr) }
    }
}

fn input_bytes(t: &Tensor) -> &[u8] {
    t.data.as_bytes()
}

/// A zeroed buffer of `n` elements, filled by the plugin through its bytes.
fn read_typed<T: bytemuck::Pod + Default>(
    n: usize,
    fill: impl FnOnce(&mut [u8]) -> Result<(), RuntimeError>,
) -> Result<Vec<T>, RuntimeError> {
    let mut v = vec![T::default(); n];
    fill(bytemuck::cast_slice_mut(&mut v))?;
    Ok(v)
}

fn params_json(params: &[(String, Param)]) -> Vec<u8> {
    fn value(p: &Param) -> serde_json::Value {
        match p {
            Param::None => serde_json::Value::Null,
            Param::Bool(b) => (*b).into(),
            Param::Int(i) => (*i).into(),
            Param::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Param::Str(s) => s.clone().into(),
            Param::List(items) => items.iter().map(value).collect(),
        }
    }
    let pairs: Vec<serde_json::Value> = params
        .iter()
        .map(|(k, v)| serde_json::Value::Array(vec![k.clone().into(), value(v)]))
        .collect();
    serde_json::to_vec(&pairs).unwrap_or_default()
}

impl Runtime for TorchSession {
    fn inputs(&self) -> &[IoSpec] {
        &self.inputs
    }

    fn outputs(&self) -> &[IoSpec] {
        &self.outputs
    }

    fn run(
        &mut self,
        feeds: Vec<(String, Tensor)>,
    ) -> Result<Vec<(String, OutputValue)>, RuntimeError> {
        self.run_with_params(feeds, &[])
    }

    fn run_with_params(
        &mut self,
        feeds: Vec<(String, Tensor)>,
        params: &[(String, Param)],
    ) -> Result<Vec<(String, OutputValue)>, RuntimeError> {
        let [(_, input)] = feeds.as_slice() else {
            return Err(RuntimeError::Input(format!(
                "a TorchScript model takes one input tensor, got {}",
                feeds.len()
            )));
        };
        let bytes = input_bytes(input);
        let raw = RawTensor {
            dtype: plugin_abi::code(input.dtype()),
            ndim: input.shape.len(),
            shape: input.shape.as_ptr(),
            data: bytes.as_ptr(),
            nbytes: bytes.len(),
        };
        let json = if params.is_empty() {
            Vec::new()
        } else {
            params_json(params)
        };
        let p = &self.plugin;
        let mut err = no_error();
        // SAFETY: the session is ours (&mut self); `raw` and the buffers it points at, and
        // `json`, live until the end of this function, after the output has been read.
        let out = unsafe { (p.forward)(self.ptr, &raw, json.as_ptr(), json.len(), &mut err) };
        if out.is_null() {
            return Err(p.take_error(err));
        }
        let result = read_output(p, out);
        // SAFETY: a live output, freed once (after reading: it may view `input`'s buffer).
        unsafe { (p.output_free)(out) };
        Ok(vec![("output".to_string(), OutputValue::Tensor(result?))])
    }
}

fn read_output(p: &Plugin, out: *mut c_void) -> Result<Tensor, RuntimeError> {
    let mut meta = RawMeta {
        dtype: 0,
        ndim: 0,
        shape: [0; MAX_DIMS],
        nbytes: 0,
    };
    // SAFETY: a live output and a writable RawMeta.
    if unsafe { (p.output_meta)(out, &mut meta) } != 0 {
        return Err(RuntimeError::Run(format!(
            "the model returned a tensor of more than {MAX_DIMS} dimensions"
        )));
    }
    let shape = meta.shape[..meta.ndim.min(MAX_DIMS)].to_vec();
    let n: usize = shape.iter().product();
    let fill = |dst: &mut [u8]| -> Result<(), RuntimeError> {
        if dst.len() != meta.nbytes {
            return Err(RuntimeError::Run("output size mismatch".into()));
        }
        let mut err = no_error();
        // SAFETY: `dst` is writable for its length; the output is live.
        if unsafe { (p.output_read)(out, dst.as_mut_ptr(), dst.len(), &mut err) } != 0 {
            return Err(p.take_error(err));
        }
        Ok(())
    };
    let dtype = plugin_abi::dtype(meta.dtype)
        .ok_or_else(|| RuntimeError::Run(format!("unknown output dtype code {}", meta.dtype)))?;
    let data = match dtype {
        DType::F32 => TensorData::F32(read_typed(n, fill)?),
        DType::F16 => TensorData::F16(read_typed(n, fill)?),
        DType::F64 => TensorData::F64(read_typed(n, fill)?),
        DType::I64 => TensorData::I64(read_typed(n, fill)?),
        DType::I32 => TensorData::I32(read_typed(n, fill)?),
        DType::I16 => TensorData::I16(read_typed(n, fill)?),
        DType::I8 => TensorData::I8(read_typed(n, fill)?),
        DType::U8 => TensorData::U8(read_typed(n, fill)?),
        // Read as bytes and normalised: any non-zero byte is true.
        DType::Bool => TensorData::Bool(
            read_typed::<u8>(n, fill)?
                .into_iter()
                .map(|b| b != 0)
                .collect(),
        ),
        other => {
            return Err(RuntimeError::Run(format!(
                "unexpected output dtype {other}"
            )))
        }
    };
    Tensor::new(shape, data)
}
