//! Container images of one model: `models generate-dockerfile` writes a build context,
//! `models build-docker` writes one and builds it with Docker or Podman.
//!
//! The context holds the model directory (resolved exactly as `serve` resolves `-m`, so the
//! image needs no registry or tracking server at start), the executable that is running,
//! the runtime libraries it loads (libonnxruntime; for the `torch` target the TorchScript
//! plugin and libtorch's CPU libraries), and a Dockerfile with the same runtime conventions
//! as the project's own (`Dockerfile.template`): distroless base, non-root, port 8080,
//! `ENTRYPOINT` the binary, `CMD ["serve"]`.
//!
//! - [`context`] assembles the directory;
//! - [`engine`] finds a working `docker` or `podman` and runs the build.

pub mod context;
pub mod engine;

use std::path::{Path, PathBuf};

use crate::model::mlmodel::{Flavor, LoadError, MlModel};
use crate::resolve::{resolve, ResolveError, ResolveOptions};

/// Why an image or its build context could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A runtime library the image needs was not found on this machine.
    #[error("{0}")]
    MissingLibrary(String),
    /// The target cannot be built by this executable.
    #[error("{0}")]
    Unsupported(String),
    /// The model directory holds something that cannot be copied (a link out of it).
    #[error("{0}")]
    BadModel(String),
    /// The model URI could not be resolved.
    #[error("cannot resolve model URI `{uri}`: {source}")]
    Resolve {
        /// The URI as given.
        uri: String,
        /// The cause.
        source: ResolveError,
    },
    /// The resolved directory is not a model this server can run.
    #[error("cannot serve model `{uri}`: {source}")]
    Model {
        /// The URI as given.
        uri: String,
        /// The cause.
        source: LoadError,
    },
    /// Neither Docker nor Podman answers.
    #[error("{0}")]
    NoEngine(String),
    /// The engine's build failed.
    #[error("`{engine} build` failed ({status})")]
    BuildFailed {
        /// `docker` or `podman`.
        engine: String,
        /// Its exit status.
        status: String,
    },
}

/// What the image can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// ONNX models (`onnx` flavor): libonnxruntime only.
    Onnx,
    /// ONNX and TorchScript models: adds the plugin and libtorch's CPU libraries.
    Torch,
    /// Models run in Python workers: a slim Debian Python image with the model's
    /// requirements installed with uv at build time (ONNX models are served there too).
    Python,
}

impl Target {
    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Target::Onnx => "onnx",
            Target::Torch => "torch",
            Target::Python => "python",
        }
    }
}

/// The base image of generated Dockerfiles: glibc 2.36, libstdc++, CA certificates, no shell,
/// a `nonroot` user (65532). The executable is copied in, so it must not need a newer glibc.
pub const DEFAULT_BASE_IMAGE: &str = "gcr.io/distroless/cc-debian12:nonroot";

/// The base image of the `python` target for a model saved with Python `minor` (`3.11`):
/// the official slim Debian 12 Python image (glibc 2.36, as [`DEFAULT_BASE_IMAGE`]).
pub fn python_base_image(minor: &str) -> String {
    format!("docker.io/library/python:{minor}-slim-bookworm")
}

/// What the `python` target installs when no model is baked in (a mounted model brings its
/// own requirements only at run time): MLflow, the version mlflow-serve follows.
pub const PYTHON_DEFAULT_REQUIREMENTS: &str = "mlflow==3.17.2\n";

/// The uv release that builds the Python image's environment (from PyPI).
pub const UV_VERSION: &str = "0.13.9";

/// The glibc of [`DEFAULT_BASE_IMAGE`] (Debian 12).
pub const DEFAULT_BASE_GLIBC: (u32, u32) = (2, 36);

/// What to put into a model's image.
#[derive(Debug, Clone)]
pub struct Request {
    /// The model URI (`-m`), or none for an image that serves a mounted `/opt/ml/model`.
    pub model_uri: Option<String>,
    /// The target, or none to follow the model's flavor.
    pub target: Option<Target>,
    /// The `FROM` image.
    pub base_image: String,
    /// libonnxruntime to copy, else the one `serve` would load.
    pub onnxruntime_lib: Option<PathBuf>,
    /// The TorchScript plugin to copy, else the one `serve` would load.
    pub torch_plugin: Option<PathBuf>,
    /// libtorch's directory, else found next to the plugin.
    pub libtorch: Option<PathBuf>,
    /// How the model URI is resolved (cache, deadline, download limits), as for `serve`.
    pub resolve: ResolveOptions,
}

/// A written build context.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The target written.
    pub target: Target,
    /// The registered model name and version, when resolved from a registry.
    pub registered: Option<(String, String)>,
}

/// Resolves the model (if any) exactly as `serve` does, checks that it can be served, and
/// writes the build context into `dir`.
pub async fn prepare(
    dir: &Path,
    command: &'static str,
    req: &Request,
) -> Result<Prepared, ImageError> {
    let mut model_dir = None;
    let mut registered = None;
    let mut flavor_target = Target::Onnx;
    let mut python_minor = "3.11".to_string();
    if let Some(uri) = &req.model_uri {
        let resolved = resolve(uri, &req.resolve)
            .await
            .map_err(|source| ImageError::Resolve {
                uri: crate::redact::redact(uri),
                source,
            })?;
        let model = MlModel::load(&resolved.dir).map_err(|source| ImageError::Model {
            uri: crate::redact::redact(uri),
            source,
        })?;
        match &model.flavor {
            Flavor::PyTorch(_) => flavor_target = Target::Torch,
            Flavor::Python(p) => {
                flavor_target = Target::Python;
                if let Some(v) = &p.python_version {
                    python_minor = v.split('.').take(2).collect::<Vec<_>>().join(".");
                }
            }
            _ => {}
        }
        registered = resolved.name.clone().zip(resolved.version.clone());
        model_dir = Some(resolved.dir);
    }
    let target = req.target.unwrap_or(flavor_target);
    if target == Target::Onnx && flavor_target == Target::Torch {
        return Err(ImageError::Unsupported(
            "the model is a `pytorch` model: the `onnx` target cannot serve it (use --target torch)".into(),
        ));
    }
    if target != Target::Python && flavor_target == Target::Python {
        return Err(ImageError::Unsupported(format!(
            "the model runs in Python workers: the `{}` target cannot serve it (use --target python)",
            target.name()
        )));
    }
    let python_base;
    let base_image = if target == Target::Python && req.base_image == DEFAULT_BASE_IMAGE {
        python_base = python_base_image(&python_minor);
        &python_base
    } else {
        &req.base_image
    };
    let uri = req.model_uri.as_deref().map(crate::redact::redact);
    let spec = context::Spec {
        command,
        model_dir: model_dir.as_deref(),
        model_uri: uri.as_deref(),
        target,
        base_image,
        onnxruntime_lib: req.onnxruntime_lib.as_deref(),
        torch_plugin: req.torch_plugin.as_deref(),
        libtorch: req.libtorch.as_deref(),
        model_limits: req.resolve.download_limits,
    };
    context::write(dir, &spec)?;
    Ok(Prepared { target, registered })
}
