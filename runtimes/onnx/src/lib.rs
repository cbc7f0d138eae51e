//! ONNX Runtime backend for mlflow-serve, through `ort` with `load-dynamic`.
//!
//! `libonnxruntime.so` is not linked at build time: [`find_library`] locates it at start-up
//! (flag, `ORT_DYLIB_PATH`, next to the executable, the project's `.local/onnxruntime`, a
//! Python site-packages) and [`OnnxModel::load`] initialises ort from it once per process.
//! Each worker thread owns its own [`OnnxSession`] because `Session::run` takes `&mut self`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod convert;
mod locate;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use runtime_api::{IoSpec, OutputValue, Runtime, RuntimeError, Tensor};

pub use locate::{find_library, LibrarySearch};

/// The session options MLflow honours from the `onnx` flavor's `onnx_session_options`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionOptions {
    /// `intra_op_num_threads` (0 = ONNX Runtime's default).
    pub intra_op_threads: usize,
    /// `inter_op_num_threads` (0 = ONNX Runtime's default).
    pub inter_op_threads: usize,
    /// `execution_mode: parallel`.
    pub parallel_execution: bool,
    /// `graph_optimization_level` (1, 2, 99); `None` keeps ONNX Runtime's default (all).
    pub graph_optimization_level: Option<i64>,
    /// `extra_session_config` entries.
    pub config_entries: Vec<(String, String)>,
}

/// A model file plus the options every worker session is built with.
pub struct OnnxModel {
    path: PathBuf,
    options: SessionOptions,
    env: Environment,
}

static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

fn environment(lib: &Path) -> Result<Environment, RuntimeError> {
    let env = ENVIRONMENT.get_or_init(|| {
        let builder = ort::init_from(lib)
            .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", lib.display()))?;
        builder
            .with_name("mlflow-serve")
            .build()
            .map_err(|e| format!("cannot initialise ONNX Runtime from {}: {e}", lib.display()))
    });
    env.clone().map_err(RuntimeError::Load)
}

impl OnnxModel {
    /// Initialises ONNX Runtime from `lib` (once per process) and checks that the model
    /// builds a session. The model is opened by path so that external-data files resolve
    /// relative to its directory.
    pub fn load(
        lib: &Path,
        model: &Path,
        options: SessionOptions,
    ) -> Result<(OnnxModel, OnnxSession), RuntimeError> {
        let env = environment(lib)?;
        let model = OnnxModel {
            path: model.to_path_buf(),
            options,
            env,
        };
        let first = model.session()?;
        Ok((model, first))
    }

    /// Builds one more session (one per worker thread).
    pub fn session(&self) -> Result<OnnxSession, RuntimeError> {
        let err = |e: ort::Error<ort::session::builder::SessionBuilder>| {
            RuntimeError::Load(e.to_string())
        };
        let o = &self.options;
        let mut b = Session::builder(&self.env).map_err(|e| RuntimeError::Load(e.to_string()))?;
        if o.intra_op_threads > 0 {
            b = b.with_intra_threads(o.intra_op_threads).map_err(err)?;
        }
        if o.inter_op_threads > 0 {
            b = b.with_inter_threads(o.inter_op_threads).map_err(err)?;
        }
        if o.parallel_execution {
            b = b.with_parallel_execution(true).map_err(err)?;
        }
        if let Some(level) = o.graph_optimization_level {
            let level = match level {
                1 => GraphOptimizationLevel::Level1,
                2 => GraphOptimizationLevel::Level2,
                3 => GraphOptimizationLevel::Level3,
                _ => GraphOptimizationLevel::All,
            };
            b = b.with_optimization_level(level).map_err(err)?;
        }
        for (k, v) in &o.config_entries {
            b = b.with_config_entry(k, v).map_err(err)?;
        }
        let session = b
            .commit_from_file(&self.path)
            .map_err(|e| RuntimeError::Load(e.to_string()))?;
        let inputs = session.inputs().iter().map(convert::io_spec).collect();
        let outputs = session.outputs().iter().map(convert::io_spec).collect();
        Ok(OnnxSession {
            session,
            inputs,
            outputs,
        })
    }
}

/// One ort session, owned by one worker thread.
pub struct OnnxSession {
    session: Session,
    inputs: Vec<IoSpec>,
    outputs: Vec<IoSpec>,
}

impl Runtime for OnnxSession {
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
        let mut values = Vec::with_capacity(feeds.len());
        for (name, tensor) in feeds {
            values.push((name, convert::to_ort(tensor)?));
        }
        let outputs = self
            .session
            .run(values)
            .map_err(|e| RuntimeError::Run(e.message().to_string()))?;
        let mut result = Vec::with_capacity(outputs.len());
        for (name, value) in outputs.iter() {
            result.push((name.to_string(), convert::from_ort(&value)?));
        }
        Ok(result)
    }
}
