//! The command line: `models serve`, `models predict`, `models build-docker`,
//! `models generate-dockerfile` and SageMaker's `serve`, with MLflow 3.17.2's flags and env
//! vars. The flags several commands share are defined once (`model.rs`: the model and how it
//! is resolved, the runtimes, MLflow's ignored flags) and flattened into each command's.

mod image;
mod model;
mod predict;
mod serve;

use clap::{Parser, Subcommand};

pub use image::{BuildDockerArgs, GenerateDockerfileArgs, ImageArgs};
pub use model::{MlflowCompat, ModelArgs, RuntimeArgs, RuntimeLibs};
pub use predict::PredictArgs;
pub use serve::ServeArgs;

/// A fast, drop-in replacement for `mlflow models serve` (ONNX and TorchScript models).
#[derive(Debug, Parser)]
#[command(name = "mlflow-serve", version, about, disable_help_subcommand = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands (mirroring `mlflow`'s).
// Parsed once at start-up: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy MLflow models locally.
    Models {
        /// The models subcommand.
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// SageMaker's container contract (`docker run IMAGE serve`): `models serve` of
    /// `/opt/ml/model` on `0.0.0.0:8080` (`SAGEMAKER_BIND_TO_PORT` overrides the port). Any
    /// `models serve` flag may follow and wins over these defaults.
    #[command(disable_help_flag = true)]
    Serve {
        /// Flags passed on to `models serve`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Where SageMaker mounts the model, and where the container image puts one.
pub const SAGEMAKER_MODEL_DIR: &str = "/opt/ml/model";

impl Command {
    /// The `models serve` flags a command stands for: SageMaker's `serve` is `models serve`
    /// with the model directory, host and port of SageMaker's contract unless given.
    pub fn into_serve_args(self) -> Result<ServeArgs, clap::Error> {
        match self {
            Command::Models {
                command: ModelsCommand::Serve(args),
            } => Ok(args),
            Command::Models { .. } => {
                Err(clap::Error::new(clap::error::ErrorKind::InvalidSubcommand))
            }
            Command::Serve { args } => {
                let given = |names: &[&str]| {
                    args.iter().any(|a| {
                        names
                            .iter()
                            .any(|n| a == n || a.starts_with(&format!("{n}=")))
                    })
                };
                let mut argv: Vec<String> =
                    vec!["mlflow-serve".into(), "models".into(), "serve".into()];
                if !given(&["-m", "--model-uri"]) {
                    argv.extend(["-m".into(), SAGEMAKER_MODEL_DIR.into()]);
                }
                if !given(&["-h", "--host"]) {
                    argv.extend(["-h".into(), "0.0.0.0".into()]);
                }
                if !given(&["-p", "--port"]) {
                    let port = std::env::var("SAGEMAKER_BIND_TO_PORT")
                        .ok()
                        .filter(|p| !p.trim().is_empty())
                        .unwrap_or_else(|| "8080".into());
                    argv.extend(["-p".into(), port]);
                }
                argv.extend(args);
                let Cli { command } = Cli::try_parse_from(argv)?;
                match command {
                    Command::Models {
                        command: ModelsCommand::Serve(args),
                    } => Ok(args),
                    _ => Err(clap::Error::new(clap::error::ErrorKind::InvalidSubcommand)),
                }
            }
        }
    }
}

/// `mlflow-serve models …`
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Serve a model over HTTP with MLflow's scoring protocol.
    #[command(disable_help_flag = true)]
    Serve(ServeArgs),
    /// Build a container image whose entrypoint serves the model on port 8080 (`docker run
    /// IMAGE`), with Docker or Podman, whichever is installed and answers.
    BuildDocker(BuildDockerArgs),
    /// Write the build context of that image (Dockerfile, this executable and its runtime
    /// libraries, the model) into a directory, without building it.
    GenerateDockerfile(GenerateDockerfileArgs),
    /// Score a file with a model, as `mlflow models predict` does: MLflow's
    /// `{"predictions": …}` document on stdout or in `-o`.
    Predict(PredictArgs),
}

/// A secret given on the command line or in the environment: never printed (`Debug` shows
/// `***`).
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Secret, String> {
        if s.is_empty() {
            Err("the secret is empty".into())
        } else {
            Ok(Secret(s.to_string()))
        }
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A tensor rank limit: 1 to 64 (numpy's most dimensions; more could never be served).
fn parse_rank(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=crate::pyjson::ndarray::MAX_DIMS).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{s}` must be a whole number from 1 to {}",
            crate::pyjson::ndarray::MAX_DIMS
        )),
    }
}

/// A count that must be 1 or more (0 would serve nothing, and is not raised silently).
fn at_least_one<T: std::str::FromStr + PartialOrd + From<u8>>(s: &str) -> Result<T, String> {
    match s.trim().parse::<T>() {
        Ok(n) if n >= T::from(1) => Ok(n),
        Ok(_) => Err(format!("`{s}` must be 1 or more")),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

/// `--keep-alive-timeout`: seconds, at least 0.1 (a shorter idle timer would close
/// connections between a client's requests).
fn parse_keep_alive(s: &str) -> Result<f64, String> {
    let v = parse_seconds(s)?;
    if v < 0.1 {
        return Err(format!("`{s}` must be at least 0.1 seconds"));
    }
    Ok(v)
}

/// A number of seconds (or milliseconds) from a flag or env var: finite and not negative, so
/// that a typo such as `inf` or `-1` is a start-up error rather than a panic or a timer that
/// never fires.
fn parse_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{s}` must be a finite number, 0 or more"));
    }
    if v > 1e9 {
        return Err(format!("`{s}` is too large (at most 1e9)"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(argv: &[&str]) -> ServeArgs {
        let Cli { command } = Cli::try_parse_from(argv).unwrap();
        command.into_serve_args().unwrap()
    }

    #[test]
    fn sagemaker_serve_defaults() {
        let args = serve_args(&["mlflow-serve", "serve"]);
        assert_eq!(args.model.uri(), SAGEMAKER_MODEL_DIR);
        assert_eq!(args.host, "0.0.0.0");
        // `-m` wins over the default
        let args = serve_args(&["mlflow-serve", "serve", "-m", "models:/m/1", "-p", "9"]);
        assert_eq!((args.model.uri(), args.port), ("models:/m/1", 9));
    }

    #[test]
    fn zero_counts_are_refused_not_raised() {
        for flag in [
            "-t",
            "-w",
            "--max-queue",
            "--max-batch-rows",
            "--max-connections",
            "--grpc-max-streams",
            "--resolve-timeout",
            "--webhook-replay-capacity",
        ] {
            let err =
                Cli::try_parse_from(["mlflow-serve", "models", "serve", "-m", "x", flag, "0"])
                    .unwrap_err()
                    .to_string();
            assert!(err.contains("must be 1 or more"), "{flag}: {err}");
        }
        let err = Cli::try_parse_from([
            "mlflow-serve",
            "models",
            "serve",
            "-m",
            "x",
            "--keep-alive-timeout",
            "0",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("at least 0.1"), "{err}");
    }

    #[test]
    fn every_model_command_takes_the_download_limits_and_mlflow_flags() {
        let tail = [
            "--max-model-bytes",
            "5",
            "--max-model-files",
            "6",
            "--env-manager",
            "local",
            "--install-mlflow",
        ];
        for head in [
            &["mlflow-serve", "models", "serve", "-m", "x"][..],
            &["mlflow-serve", "models", "predict", "-m", "x"][..],
            &["mlflow-serve", "models", "build-docker", "-m", "x"][..],
            &["mlflow-serve", "models", "generate-dockerfile", "-m", "x"][..],
        ] {
            let argv: Vec<&str> = head.iter().chain(tail.iter()).copied().collect();
            let Cli { command } = Cli::try_parse_from(&argv).unwrap();
            let Command::Models { command } = command else {
                panic!("{argv:?}")
            };
            let (model, compat) = match &command {
                ModelsCommand::Serve(a) => (&a.model, &a.compat),
                ModelsCommand::Predict(a) => (&a.model, &a.compat),
                ModelsCommand::BuildDocker(a) => (&a.image.model, &a.image.compat),
                ModelsCommand::GenerateDockerfile(a) => (&a.image.model, &a.image.compat),
            };
            let limits = model.resolve_options().unwrap().download_limits;
            assert_eq!((limits.max_bytes, limits.max_files), (5, 6), "{argv:?}");
            assert_eq!(compat.given(), ["--install-mlflow"], "{argv:?}");
            assert_eq!(
                compat.env_manager,
                Some(crate::flavor::python::env::EnvManager::Local),
                "{argv:?}"
            );
        }
        // -m is required where a model must be served, optional for an image
        assert!(Cli::try_parse_from(["mlflow-serve", "models", "serve"]).is_err());
        assert!(Cli::try_parse_from(["mlflow-serve", "models", "predict"]).is_err());
        assert!(Cli::try_parse_from(["mlflow-serve", "models", "generate-dockerfile"]).is_ok());
    }

    #[test]
    fn durations_must_be_finite_and_not_negative() {
        for bad in ["inf", "-inf", "NaN", "nan", "-1", "1e400", "x", "", "2e9"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_seconds("0"), Ok(0.0));
        assert_eq!(parse_seconds("2.5"), Ok(2.5));
        let err = Cli::try_parse_from([
            "mlflow-serve",
            "models",
            "serve",
            "-m",
            "x",
            "--drain-delay",
            "inf",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("finite"), "{err}");
    }
}
