//! The TorchScript backend as a plugin: `libmlflow_serve_torch.so`, loaded by mlflow-serve
//! (`--features torch`) only when it serves a `pytorch` model. The server binary never links
//! libtorch, so an ONNX model never pays for it (no 400 MB library mapped, no libtorch start-up)
//! and a missing libtorch is reported by the server, naming where it looked.
//!
//! The C ABI (types in `runtime_api::plugin_abi`):
//!
//! | function | does |
//! |---|---|
//! | `ms_torch_abi_version() -> u32` | `ABI_VERSION` the plugin was built with |
//! | `ms_torch_load(path, len, intra_op, *err) -> model` | inspect, refuse or load a model file |
//! | `ms_torch_model_free(model)` | |
//! | `ms_torch_session(model) -> session` | a handle for one worker thread |
//! | `ms_torch_session_free(session)` | |
//! | `ms_torch_forward(session, *input, params_json, len, *err) -> output` | run `forward`; the input is borrowed for the call and copied into libtorch |
//! | `ms_torch_output_meta(output, *meta)` | dtype, shape, size of the result |
//! | `ms_torch_output_read(output, dst, nbytes, *err)` | copy the result into the caller's buffer |
//! | `ms_torch_output_free(output)` | |
//! | `ms_torch_string_free(s)` | free an error message |
//!
//! Every function catches panics: none crosses the boundary.
#![deny(missing_docs)]

use std::ffi::{c_char, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use runtime_api::plugin_abi::{self, RawError, RawMeta, RawTensor, ABI_VERSION, MAX_DIMS};
use runtime_api::{Param, RuntimeError};
use runtime_torch::{TensorView, TorchModel, TorchOutput, TorchSession};

fn report(err: *mut RawError, e: RuntimeError) {
    if err.is_null() {
        return;
    }
    let kind = match e {
        RuntimeError::Load(_) => 1,
        RuntimeError::Input(_) => 2,
        // A plugin runs in-process: it has no worker to lose; reported as a run error.
        RuntimeError::Run(_) | RuntimeError::WorkerLost(_) => 3,
        RuntimeError::Panicked(_) => 4,
        RuntimeError::NotRunnable(_) => 5,
        RuntimeError::UnsupportedOutput(_) => 6,
        RuntimeError::UnsupportedInputDtype(_) => 7,
        RuntimeError::UnsupportedOutputDtype(_) => 8,
    };
    // Structured errors carry their payload alone; the loader rebuilds the variant.
    let text = match &e {
        RuntimeError::NotRunnable(t)
        | RuntimeError::UnsupportedOutput(t)
        | RuntimeError::UnsupportedOutputDtype(t) => t.clone(),
        RuntimeError::UnsupportedInputDtype(d) => d.numpy_name().to_string(),
        other => other.to_string(),
    }
    .replace('\0', " ");
    let message = CString::new(text).map_or(std::ptr::null_mut(), CString::into_raw);
    // SAFETY: the caller passes a valid, writable RawError (or null, handled above).
    unsafe {
        (*err).kind = kind;
        (*err).message = message;
    }
}

/// Runs `f`, turning an error or a panic into `err` and a null result.
fn guarded<T>(err: *mut RawError, f: impl FnOnce() -> Result<*mut T, RuntimeError>) -> *mut T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            report(err, e);
            std::ptr::null_mut()
        }
        Err(_) => {
            report(
                err,
                RuntimeError::Panicked("inside the TorchScript plugin".into()),
            );
            std::ptr::null_mut()
        }
    }
}

/// The ABI version this plugin implements.
#[no_mangle]
pub extern "C" fn ms_torch_abi_version() -> u32 {
    ABI_VERSION
}

/// Loads the model file at `path` (`len` UTF-8 bytes) with `intra_op` libtorch threads.
///
/// # Safety
/// `path` points at `len` readable bytes; `err` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn ms_torch_load(
    path: *const u8,
    len: usize,
    intra_op: usize,
    err: *mut RawError,
) -> *mut c_void {
    guarded(err, || {
        // SAFETY: guaranteed by the caller.
        let bytes = unsafe { std::slice::from_raw_parts(path, len) };
        let path = std::str::from_utf8(bytes)
            .map_err(|_| RuntimeError::Load("the model path is not UTF-8".into()))?;
        let model = TorchModel::load(Path::new(path), intra_op)?;
        Ok(Box::into_raw(Box::new(model)).cast())
    })
}

/// Frees a model (sessions keep the module alive on their own).
///
/// # Safety
/// `model` came from `ms_torch_load` and is freed once.
#[no_mangle]
pub unsafe extern "C" fn ms_torch_model_free(model: *mut c_void) {
    if !model.is_null() {
        // SAFETY: guaranteed by the caller.
        let _ = catch_unwind(|| drop(unsafe { Box::from_raw(model.cast::<TorchModel>()) }));
    }
}

/// A session for one worker thread.
///
/// # Safety
/// `model` came from `ms_torch_load` and is alive.
#[no_mangle]
pub unsafe extern "C" fn ms_torch_session(model: *const c_void) -> *mut c_void {
    // SAFETY: guaranteed by the caller.
    let model = unsafe { &*model.cast::<TorchModel>() };
    catch_unwind(AssertUnwindSafe(|| {
        Box::into_raw(Box::new(model.session())).cast()
    }))
    .unwrap_or(std::ptr::null_mut())
}

/// Frees a session.
///
/// # Safety
/// `session` came from `ms_torch_session` and is freed once.
#[no_mangle]
pub unsafe extern "C" fn ms_torch_session_free(session: *mut c_void) {
    if !session.is_null() {
        // SAFETY: guaranteed by the caller.
        let _ = catch_unwind(|| drop(unsafe { Box::from_raw(session.cast::<TorchSession>()) }));
    }
}

fn param(v: serde_json::Value) -> Param {
    match v {
        serde_json::Value::Null => Param::None,
        serde_json::Value::Bool(b) => Param::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) if !n.is_f64() => Param::Int(i),
            _ => Param::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Param::Str(s),
        serde_json::Value::Array(a) => Param::List(a.into_iter().map(param).collect()),
        serde_json::Value::Object(_) => Param::Str(v.to_string()),
    }
}

/// Runs `forward` on the borrowed `input` with params given as a JSON list of
/// `[name, value]` pairs. The result may view the input's memory: read it out before the
/// input buffer is freed.
///
/// # Safety
/// `session` is alive and used by one thread at a time; `input` and its buffers are valid for
/// the call; `params` points at `len` bytes (or is null with `len` 0); `err` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn ms_torch_forward(
    session: *mut c_void,
    input: *const RawTensor,
    params: *const u8,
    len: usize,
    err: *mut RawError,
) -> *mut c_void {
    guarded(err, || {
        // SAFETY: guaranteed by the caller.
        let (session, input) = unsafe { (&mut *session.cast::<TorchSession>(), &*input) };
        let dtype = plugin_abi::dtype(input.dtype)
            .ok_or_else(|| RuntimeError::Input(format!("unknown dtype code {}", input.dtype)))?;
        // SAFETY: guaranteed by the caller (null pointers only with zero lengths).
        let (shape, bytes) = unsafe {
            (
                if input.ndim == 0 {
                    &[][..]
                } else {
                    std::slice::from_raw_parts(input.shape, input.ndim)
                },
                if input.nbytes == 0 {
                    &[][..]
                } else {
                    std::slice::from_raw_parts(input.data, input.nbytes)
                },
            )
        };
        let params: Vec<(String, Param)> = if len == 0 {
            Vec::new()
        } else {
            // SAFETY: guaranteed by the caller.
            let text = unsafe { std::slice::from_raw_parts(params, len) };
            let pairs: Vec<(String, serde_json::Value)> = serde_json::from_slice(text)
                .map_err(|e| RuntimeError::Input(format!("bad params: {e}")))?;
            pairs.into_iter().map(|(k, v)| (k, param(v))).collect()
        };
        let out = session.forward(
            TensorView {
                dtype,
                shape,
                bytes,
            },
            &params,
        )?;
        Ok(Box::into_raw(Box::new(out)).cast())
    })
}

/// Describes a result. Returns 0, or 1 when it has more than `MAX_DIMS` dimensions.
///
/// # Safety
/// `output` came from `ms_torch_forward` and is alive; `meta` is writable.
#[no_mangle]
pub unsafe extern "C" fn ms_torch_output_meta(output: *const c_void, meta: *mut RawMeta) -> u32 {
    // SAFETY: guaranteed by the caller.
    let (out, meta) = unsafe { (&*output.cast::<TorchOutput>(), &mut *meta) };
    let shape = out.shape();
    if shape.len() > MAX_DIMS {
        return 1;
    }
    meta.dtype = plugin_abi::code(out.dtype());
    meta.ndim = shape.len();
    meta.shape[..shape.len()].copy_from_slice(shape);
    meta.nbytes = out.nbytes();
    0
}

/// Copies a result into `dst` (`nbytes` as given by `ms_torch_output_meta`). Returns 0 on
/// success, else 1 with `err` filled.
///
/// # Safety
/// `output` is alive; `dst` points at `nbytes` writable bytes; `err` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn ms_torch_output_read(
    output: *const c_void,
    dst: *mut u8,
    nbytes: usize,
    err: *mut RawError,
) -> u32 {
    let done = guarded(err, || {
        // SAFETY: guaranteed by the caller.
        let out = unsafe { &*output.cast::<TorchOutput>() };
        let dst = if nbytes == 0 {
            &mut [][..]
        } else {
            // SAFETY: guaranteed by the caller.
            unsafe { std::slice::from_raw_parts_mut(dst, nbytes) }
        };
        out.read_into(dst)?;
        Ok(std::ptr::NonNull::<u8>::dangling().as_ptr())
    });
    u32::from(done.is_null())
}

/// Frees a result.
///
/// # Safety
/// `output` came from `ms_torch_forward` and is freed once.
#[no_mangle]
pub unsafe extern "C" fn ms_torch_output_free(output: *mut c_void) {
    if !output.is_null() {
        // SAFETY: guaranteed by the caller.
        let _ = catch_unwind(|| drop(unsafe { Box::from_raw(output.cast::<TorchOutput>()) }));
    }
}

/// Frees a message from a `RawError`.
///
/// # Safety
/// `s` came from this plugin and is freed once.
#[no_mangle]
pub unsafe extern "C" fn ms_torch_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: guaranteed by the caller.
        drop(unsafe { CString::from_raw(s) });
    }
}
