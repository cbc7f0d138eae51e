//! TorchScript backend for mlflow-serve, through `tch` on libtorch 2.13.
//!
//! [`TorchModel::load`] refuses anything that is not a TorchScript archive (eager pickles and
//! `torch.export` programs need Python) before libtorch is asked, then loads the module once
//! on the CPU in eval mode. Worker threads share it: a TorchScript module's `forward` is safe
//! to call from several threads, each [`TorchSession`] only holds a handle. Inputs are copied
//! once into a tensor libtorch owns (a module may keep its input or change it in place, so it
//! must never see the request's buffer); outputs are copied out once into the request's own
//! buffer. The server reaches this crate through
//! `runtimes/torch-plugin` (C ABI) and `runtimes/torch-loader` (its `Runtime`), so that it
//! never links libtorch itself.
#![deny(missing_docs)]

/// Archive inspection (no libtorch needed), re-exported from `runtime-torch-archive`.
pub use runtime_torch_archive as archive;
pub mod convert;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use runtime_api::{Param, RuntimeError};
use tch::jit::{CModule, IValue};

pub use archive::{ArchiveKind, ForwardArg};
pub use convert::{TensorView, TorchOutput};

/// A TorchScript module loaded once and shared by every worker.
pub struct TorchModel {
    module: Arc<CModule>,
    forward: Option<Vec<ForwardArg>>,
    path: PathBuf,
}

static THREADS: OnceLock<()> = OnceLock::new();

/// Sets libtorch's thread pools once per process: `intra_op` threads for one operator
/// (0 keeps libtorch's default) and a single inter-op thread (each worker is its own thread;
/// libtorch's inter-op pool would only compete with them and with ONNX Runtime's pools).
fn init_threads(intra_op: usize) {
    THREADS.get_or_init(|| {
        // SAFETY (both calls): plain setters without pointers; errors are read right after.
        if intra_op > 0 {
            if let Err(e) = torch_call(|| unsafe { torch_sys::at_set_num_threads(intra_op as i32) })
            {
                tracing::warn!(error = %e, "libtorch refused the intra-op thread count");
            }
        }
        // The simple graph executor: the profiling one re-profiles whenever the batch size
        // changes (every request, with dynamic batching) and measured ~20% slower per call
        // here; on the CPU both run the same kernels (libtorch does not fuse on the CPU by
        // default), so the answers are the same.
        tch::jit::set_profiling_mode(false);
        // Refused once libtorch has started inter-op work (then its pool is already sized).
        if let Err(e) = torch_call(|| unsafe { torch_sys::at_set_num_interop_threads(1) }) {
            tracing::debug!(error = %e, "libtorch kept its inter-op thread count");
        }
    });
}

/// Calls into torch-sys and reads libtorch's error for the call, without tch's panic.
fn torch_call(f: impl FnOnce()) -> Result<(), String> {
    f();
    // SAFETY: reads and clears the calling thread's last libtorch error; the string was
    // allocated with malloc by torch-sys's C++ wrapper and is freed here once.
    unsafe {
        let p = torch_sys::get_and_reset_last_err();
        if p.is_null() {
            return Ok(());
        }
        let text = std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned();
        libc::free(p.cast());
        Err(convert::torch_error(&text))
    }
}

impl TorchModel {
    /// Checks what `path` is, refuses eager pickles and `torch.export` archives with a
    /// conversion hint, and loads a TorchScript archive on the CPU.
    pub fn load(path: &Path, intra_op_threads: usize) -> Result<TorchModel, RuntimeError> {
        let forward = match archive::inspect(path) {
            ArchiveKind::TorchScript(args) => args,
            ArchiveKind::EagerPickle => {
                return Err(RuntimeError::NotRunnable(
                    "a pickled eager nn.Module, which only Python can load".into(),
                ))
            }
            ArchiveKind::Exported => {
                return Err(RuntimeError::NotRunnable(
                    "a torch.export program (a \"pt2\" archive), which libtorch cannot run without Python".into(),
                ))
            }
            ArchiveKind::Unknown(why) => {
                return Err(RuntimeError::NotRunnable(format!(
                    "not a TorchScript archive ({why})"
                )))
            }
        };
        init_threads(intra_op_threads);
        let mut module = CModule::load_on_device(path, tch::Device::Cpu).map_err(|e| {
            RuntimeError::Load(format!(
                "libtorch cannot load it: {}",
                convert::first_line(&e.to_string())
            ))
        })?;
        module
            .f_set_eval()
            .map_err(|e| RuntimeError::Load(convert::first_line(&e.to_string()).to_string()))?;
        Ok(TorchModel {
            module: Arc::new(module),
            forward,
            path: path.to_path_buf(),
        })
    }

    /// The `forward` arguments after `self`, when the archive's source could be read.
    pub fn forward_args(&self) -> Option<&[ForwardArg]> {
        self.forward.as_deref()
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A handle for one more worker thread.
    pub fn session(&self) -> TorchSession {
        TorchSession {
            module: self.module.clone(),
            forward: self.forward.clone(),
        }
    }
}

/// One worker's handle on the shared module.
pub struct TorchSession {
    module: Arc<CModule>,
    forward: Option<Vec<ForwardArg>>,
}

impl TorchSession {
    /// Runs `forward(input, *params)` on a copy of `input` that libtorch owns, so that a
    /// module that keeps or changes its input never touches the caller's buffer.
    pub fn forward(
        &mut self,
        input: TensorView<'_>,
        params: &[(String, Param)],
    ) -> Result<TorchOutput, RuntimeError> {
        let mut args = vec![IValue::Tensor(convert::to_torch(&input)?)];
        args.extend(self.param_args(params)?);
        let out = tch::no_grad(|| self.module.forward_is(&args))
            .map_err(|e| RuntimeError::Run(convert::torch_error(&e.to_string())))?;
        match out {
            IValue::Tensor(t) => TorchOutput::new(&t),
            other => Err(RuntimeError::UnsupportedOutput(
                convert::value_type(&other).to_string(),
            )),
        }
    }

    /// Positional arguments after the input tensor: each `forward` argument takes the param
    /// of its name or, when absent, its own default (left to TorchScript).
    fn param_args(&self, params: &[(String, Param)]) -> Result<Vec<IValue>, RuntimeError> {
        if params.is_empty() {
            return Ok(Vec::new());
        }
        let Some(forward) = &self.forward else {
            // The source could not be read: pass the params in the order MLflow gives them.
            return params
                .iter()
                .map(|(n, p)| convert::param_to_ivalue(n, p, None))
                .collect();
        };
        if let Some((name, _)) = params
            .iter()
            .find(|(n, _)| !forward.iter().skip(1).any(|a| a.name == *n))
        {
            return Err(RuntimeError::Input(format!(
                "RuntimeError: forward() Unknown keyword argument '{name}' for operator 'forward'. Schema: forward({})",
                forward
                    .iter()
                    .map(|a| format!("{}: {}", a.name, a.ty))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        // Positional order; stop at the last argument a param names (later ones keep their
        // defaults), and fill gaps before it from the source's defaults.
        let last = forward
            .iter()
            .rposition(|a| params.iter().any(|(n, _)| *n == a.name))
            .unwrap_or(0);
        let mut out = Vec::new();
        for arg in forward.iter().take(last + 1).skip(1) {
            match params.iter().find(|(n, _)| *n == arg.name) {
                Some((n, p)) => out.push(convert::param_to_ivalue(n, p, Some(&arg.ty))?),
                None => out.push(convert::default_to_ivalue(arg)?),
            }
        }
        Ok(out)
    }
}
