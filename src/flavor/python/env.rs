//! Which Python runs a model's workers (`--env-manager`, as MLflow's): `local` is the
//! interpreter given by `--python` (else `python3` on `PATH`); `virtualenv` (MLflow's default)
//! and `uv` build the model's own environment from its `python_env.yaml` / `requirements.txt`
//! with `uv`, once per distinct requirement set, under the cache; `conda` is refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::model::mlmodel::PythonFlavor;
use crate::model::{LoadError, MlModel};

/// MLflow's `--env-manager` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EnvManager {
    /// The interpreter given by `--python`, else `python3` on `PATH`.
    Local,
    /// The model's environment, built with `uv` (MLflow's default).
    #[default]
    Virtualenv,
    /// The model's environment, built with `uv`.
    Uv,
    /// Refused: conda environments are not built here.
    Conda,
}

/// Where the workers' interpreter comes from, and how long building it may take.
#[derive(Debug, Clone, Default)]
pub struct EnvOptions {
    /// The manager.
    pub manager: EnvManager,
    /// `--python`: the interpreter for `local` (and the base for `uv`'s environments).
    pub python: Option<PathBuf>,
    /// Where built environments are kept (`<model cache>/python-envs`).
    pub envs_dir: PathBuf,
    /// The bound on building one environment.
    pub build_timeout: Duration,
}

fn failed(reason: String) -> LoadError {
    LoadError::Runtime {
        kind: "Python",
        path: PathBuf::from("python_env.yaml"),
        reason,
    }
}

/// The interpreter the model's workers run.
pub fn interpreter(
    model: &MlModel,
    flavor: &PythonFlavor,
    opts: &EnvOptions,
) -> Result<PathBuf, LoadError> {
    match opts.manager {
        EnvManager::Local => Ok(opts.python.clone().unwrap_or_else(|| "python3".into())),
        EnvManager::Conda => Err(failed(
            "--env-manager conda is not supported: mlflow-serve builds the model's environment from its python_env.yaml and requirements.txt with uv (--env-manager virtualenv, the default, or uv), or runs it in an existing Python (--env-manager local --python PATH)".into(),
        )),
        EnvManager::Virtualenv | EnvManager::Uv => build(model, flavor, opts),
    }
}

/// The requirement lines of the model (`python_env.yaml`'s build dependencies and
/// dependencies, a `-r file` expanded from the model directory), and its Python version.
fn requirements(
    model: &MlModel,
    flavor: &PythonFlavor,
) -> Result<(Vec<String>, Option<String>), LoadError> {
    let read = |rel: &str| -> Result<String, LoadError> {
        let bytes = crate::model::mlmodel::read_bounded(&model.dir.join(rel), 1 << 20)?;
        String::from_utf8(bytes).map_err(|e| failed(format!("{rel} is not UTF-8: {e}")))
    };
    let mut lines = Vec::new();
    let mut python = flavor.python_version.clone();
    let env_file = flavor
        .virtualenv
        .as_deref()
        .filter(|f| model.dir.join(f).is_file());
    let deps: Vec<String> = match env_file {
        Some(f) => {
            let env: serde_yaml::Value =
                serde_yaml::from_str(&read(f)?).map_err(|e| failed(format!("{f}: {e}")))?;
            if let Some(v) = env.get("python").and_then(|v| v.as_str()) {
                python = Some(v.to_string());
            }
            let list = |k: &str| -> Vec<String> {
                env.get(k)
                    .and_then(|v| v.as_sequence())
                    .map(|s| {
                        s.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let mut all = list("build_dependencies");
            all.extend(list("dependencies"));
            all
        }
        None => vec!["-r requirements.txt".to_string()],
    };
    for dep in deps {
        match dep.strip_prefix("-r ") {
            Some(file) => {
                let file = file.trim();
                if !crate::model::mlmodel::is_inside(&model.dir, file) {
                    return Err(failed(format!("{file} is outside the model directory")));
                }
                if model.dir.join(file).is_file() {
                    lines.extend(
                        read(file)?
                            .lines()
                            .map(str::trim)
                            .filter(|l| !l.is_empty() && !l.starts_with('#'))
                            .map(str::to_string),
                    );
                }
            }
            None => lines.push(dep),
        }
    }
    Ok((lines, python))
}

/// `major.minor` of a version (`3.11.7` → `3.11`): uv picks an installed interpreter of that
/// minor version (MLflow's pyenv would install the exact patch release).
fn minor(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

fn build(model: &MlModel, flavor: &PythonFlavor, opts: &EnvOptions) -> Result<PathBuf, LoadError> {
    let (reqs, python) = requirements(model, flavor)?;
    let python = python.map(|v| minor(&v));
    let mut h = Sha256::new();
    h.update(python.as_deref().unwrap_or("").as_bytes());
    for r in &reqs {
        h.update(b"\n");
        h.update(r.as_bytes());
    }
    let key: String = h
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = opts.envs_dir.join(&key);
    let bin = dir.join("bin").join("python");
    if dir.join(".ready").is_file() && bin.exists() {
        tracing::info!(env = %dir.display(), "using the model's Python environment built earlier");
        return Ok(bin);
    }
    std::fs::create_dir_all(&opts.envs_dir)
        .map_err(|e| failed(format!("cannot create {}: {e}", opts.envs_dir.display())))?;
    let tmp = opts
        .envs_dir
        .join(format!("{key}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let uv = uv_binary(opts)?;
    let started = Instant::now();
    let deadline = started + opts.build_timeout;
    tracing::info!(requirements = reqs.len(), python = python.as_deref().unwrap_or("any"), env = %dir.display(), "building the model's Python environment with uv (once per requirement set)");
    let mut venv = Command::new(&uv);
    venv.arg("venv").arg("--quiet").arg(&tmp);
    if let Some(v) = &python {
        venv.arg("--python").arg(v);
    }
    run_bounded(venv, deadline, "uv venv")?;
    let reqs_file = tmp.join("requirements.txt");
    std::fs::write(&reqs_file, reqs.join("\n"))
        .map_err(|e| failed(format!("cannot write {}: {e}", reqs_file.display())))?;
    let mut install = Command::new(&uv);
    install
        .args(["pip", "install", "--python"])
        .arg(tmp.join("bin").join("python"))
        .arg("-r")
        .arg(&reqs_file);
    run_bounded(install, deadline, "uv pip install")?;
    std::fs::write(tmp.join(".ready"), b"")
        .map_err(|e| failed(format!("cannot mark {}: {e}", tmp.display())))?;
    // A server that built the same set meanwhile wins; ours is dropped.
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "the model's Python environment is ready"
    );
    Ok(bin)
}

/// `MLFLOW_SERVE_UV`, else `uv` next to `--python`, else `uv` on `PATH`.
fn uv_binary(opts: &EnvOptions) -> Result<PathBuf, LoadError> {
    if let Some(p) = std::env::var_os("MLFLOW_SERVE_UV") {
        return Ok(PathBuf::from(p));
    }
    // Not canonicalized: a venv's `python` is a link, and its `uv` sits beside the link.
    if let Some(beside) = opts
        .python
        .as_deref()
        .and_then(Path::parent)
        .map(|d| d.join("uv"))
    {
        if beside.is_file() {
            return Ok(beside);
        }
    }
    let on_path = std::env::var_os("PATH").map(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("uv"))
            .find(|u| u.is_file())
    });
    on_path.flatten().ok_or_else(|| {
        failed("--env-manager virtualenv/uv builds the model's environment with uv, which is not on PATH: `pip install uv` (or set MLFLOW_SERVE_UV), or run the model in an existing Python with --env-manager local --python PATH".into())
    })
}

/// Runs a command with its output in the log (stderr), killed at `deadline`.
fn run_bounded(mut cmd: Command, deadline: Instant, what: &str) -> Result<(), LoadError> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| failed(format!("cannot run {what}: {e}")))?;
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => return Ok(()),
            Ok(Some(s)) => return Err(failed(format!("{what} failed ({s}); its output is above"))),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!(
                    "{what} did not finish within --env-build-timeout; killed"
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(failed(format!("{what}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(files: &[(&str, &str)]) -> (tempfile::TempDir, MlModel, PythonFlavor) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let mlmodel = "flavors:\n  python_function: {loader_module: mlflow.sklearn, python_version: 3.11.7, env: {virtualenv: python_env.yaml}}\n";
        std::fs::write(dir.path().join("MLmodel"), mlmodel).unwrap();
        let m = MlModel::load(dir.path()).unwrap();
        let crate::model::mlmodel::Flavor::Python(f) = m.flavor.clone() else {
            panic!("{:?}", m.flavor)
        };
        (dir, m, f)
    }

    #[test]
    fn requirements_come_from_python_env_yaml_with_its_r_files_expanded() {
        let (_d, m, f) = model(&[
            (
                "python_env.yaml",
                "python: 3.11.7\nbuild_dependencies:\n- pip==23.2.1\ndependencies:\n- -r requirements.txt\n- extra==1\n",
            ),
            ("requirements.txt", "# pinned\nmlflow==3.17.2\n\nscikit-learn==1.9.1\n"),
        ]);
        let (reqs, python) = requirements(&m, &f).unwrap();
        assert_eq!(
            reqs,
            [
                "pip==23.2.1",
                "mlflow==3.17.2",
                "scikit-learn==1.9.1",
                "extra==1"
            ]
        );
        assert_eq!(python.as_deref().map(minor), Some("3.11".to_string()));
    }

    #[test]
    fn a_requirements_file_outside_the_model_is_refused() {
        let (_d, m, f) = model(&[(
            "python_env.yaml",
            "python: 3.11.7\ndependencies:\n- -r ../../etc/passwd\n",
        )]);
        let err = requirements(&m, &f).unwrap_err().to_string();
        assert!(err.contains("outside the model directory"), "{err}");
    }

    #[test]
    fn conda_is_refused_before_anything_is_built() {
        let (_d, m, f) = model(&[("python_env.yaml", "python: 3.11.7\n")]);
        let opts = EnvOptions {
            manager: EnvManager::Conda,
            ..Default::default()
        };
        let err = interpreter(&m, &f, &opts).unwrap_err().to_string();
        assert!(
            err.contains("--env-manager conda is not supported"),
            "{err}"
        );
    }
}
