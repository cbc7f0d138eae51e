//! The container engine that builds an image: Docker or Podman, whichever answers.

use std::path::Path;
use std::process::{Command, Stdio};

use super::ImageError;

/// The engines tried, in order, when none is named.
pub const ENGINES: &[&str] = &["docker", "podman"];

/// The engine to use: `wanted` if given (it must answer `info`), else the first of
/// [`ENGINES`] that is installed and answers `info` (a `docker` client without a daemon does
/// not count).
pub fn find(wanted: Option<&str>) -> Result<String, ImageError> {
    let candidates: Vec<&str> = match wanted {
        Some(w) => vec![w],
        None => ENGINES.to_vec(),
    };
    let mut tried = Vec::new();
    for name in candidates {
        let ok = Command::new(name)
            .arg("info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match ok {
            Ok(s) if s.success() => return Ok(name.to_string()),
            Ok(s) => tried.push(format!("`{name} info` failed ({s})")),
            Err(_) => tried.push(format!("`{name}` is not installed")),
        }
    }
    Err(ImageError::NoEngine(format!(
        "no container engine answers: {} (install Docker or Podman, or name one with --container-engine)",
        tried.join("; ")
    )))
}

/// Runs `<engine> build -t <name> <dir>`, its output going to this process's stderr.
pub fn build(engine: &str, name: &str, dir: &Path) -> Result<(), ImageError> {
    let status = Command::new(engine)
        .arg("build")
        .arg("-t")
        .arg(name)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| ImageError::NoEngine(format!("cannot run `{engine}`: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(ImageError::BuildFailed {
            engine: engine.to_string(),
            status: status.to_string(),
        })
    }
}
