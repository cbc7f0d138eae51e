//! Flags of `models build-docker` and `models generate-dockerfile`.

use std::path::PathBuf;

use clap::Args;

use super::model::{MlflowCompat, ModelArgs, RuntimeLibs};

/// What `build-docker` and `generate-dockerfile` put into an image.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// The model, resolved exactly as `models serve` resolves it and copied into the image
    /// (served from `/opt/ml/model` with no network access at start). Without `-m`, the
    /// image serves a model directory mounted at `/opt/ml/model`.
    #[command(flatten)]
    pub model: ModelArgs,
    /// `onnx` (libonnxruntime only) or `torch` (adds the TorchScript plugin and libtorch's CPU
    /// libraries). Default: `torch` for a `pytorch` model, else `onnx`.
    #[arg(long, value_enum)]
    pub target: Option<crate::image::Target>,
    /// The `FROM` image. The executable is copied in, so the base needs its glibc or newer
    /// (checked for the default, Debian 12's 2.36).
    #[arg(long = "base-image", env = "MLFLOW_SERVE_BASE_IMAGE", default_value = crate::image::DEFAULT_BASE_IMAGE)]
    pub base_image: String,
    /// The runtime libraries copied into the image: the ones `serve` would load.
    #[command(flatten)]
    pub libs: RuntimeLibs,
    /// libtorch's directory (holding `lib/libtorch_cpu.so`) to copy (`torch` target).
    /// Default: next to the plugin, else the project's `.local/libtorch/torch`.
    #[arg(long = "libtorch", env = "LIBTORCH")]
    pub libtorch: Option<PathBuf>,
    /// MLflow's flags that are accepted and ignored.
    #[command(flatten)]
    pub compat: MlflowCompat,
}

/// Flags of `models build-docker` (MLflow's, plus `--target`, `--base-image` and
/// `--container-engine`).
#[derive(Debug, Args)]
pub struct BuildDockerArgs {
    /// What goes into the image.
    #[command(flatten)]
    pub image: ImageArgs,
    /// Name (and tag) of the image.
    #[arg(short = 'n', long = "name", default_value = "mlflow-pyfunc")]
    pub name: String,
    /// `docker` or `podman`. Default: the first of the two that is installed and answers `info`.
    #[arg(long = "container-engine", env = "MLFLOW_SERVE_CONTAINER_ENGINE")]
    pub container_engine: Option<String>,
    /// Keep the build context in this directory instead of a temporary one.
    #[arg(long = "context-dir")]
    pub context_dir: Option<PathBuf>,
}

/// Flags of `models generate-dockerfile` (MLflow's, plus `--target` and `--base-image`).
#[derive(Debug, Args)]
pub struct GenerateDockerfileArgs {
    /// What goes into the image.
    #[command(flatten)]
    pub image: ImageArgs,
    /// Directory the build context is written to.
    #[arg(
        short = 'd',
        long = "output-directory",
        default_value = "mlflow-dockerfile"
    )]
    pub output_directory: PathBuf,
}
