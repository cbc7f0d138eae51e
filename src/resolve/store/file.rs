//! The file store (`./mlruns`, opted in by `MLFLOW_ALLOW_FILE_STORE=true`), read-only, with
//! the layout and lookup rules of MLflow 3.17's `FileStore` and file `ModelRegistry`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{no_alias, no_model_version, no_registered_model, ModelStore, ResolveError, RunInfo};

/// A `mlruns` directory.
pub struct FileStore {
    root: PathBuf,
}

#[derive(Deserialize)]
struct RunMeta {
    artifact_uri: Option<String>,
    experiment_id: Option<serde_yaml::Value>,
}

#[derive(Deserialize)]
struct LoggedModelMeta {
    artifact_location: Option<String>,
    name: Option<String>,
    source_run_id: Option<String>,
    creation_timestamp: Option<i64>,
    lifecycle_stage: Option<String>,
}

#[derive(Deserialize)]
struct VersionMeta {
    current_stage: Option<String>,
    storage_location: Option<String>,
    source: Option<String>,
    version: Option<serde_yaml::Value>,
}

fn yaml_text(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Number(n) => n.to_string(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

impl FileStore {
    /// A store rooted at `root`.
    pub fn new(root: PathBuf) -> FileStore {
        FileStore { root }
    }

    fn read_yaml<T: for<'de> Deserialize<'de>>(&self, path: &Path) -> Result<T, ResolveError> {
        let text = std::fs::read_to_string(path).map_err(|e| ResolveError::Store {
            store: self.root.display().to_string(),
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        serde_yaml::from_str(&text).map_err(|e| ResolveError::Store {
            store: self.root.display().to_string(),
            message: format!("malformed {}: {e}", path.display()),
        })
    }

    /// Experiment directories, active then deleted (`.trash`), as MLflow searches them.
    fn experiment_dirs(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for base in [self.root.clone(), self.root.join(".trash")] {
            if let Ok(entries) = std::fs::read_dir(&base) {
                let mut dirs: Vec<PathBuf> = entries
                    .flatten()
                    .filter(|e| {
                        let n = e.file_name();
                        let n = n.to_string_lossy();
                        !n.starts_with('.') && n != "models" && e.path().is_dir()
                    })
                    .map(|e| e.path())
                    .collect();
                dirs.sort();
                out.extend(dirs);
            }
        }
        out
    }

    fn registered_dir(&self, name: &str) -> PathBuf {
        self.root.join("models").join(name)
    }
}

/// A name used as a path component must not escape its directory.
fn safe_component(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0'])
}

impl ModelStore for FileStore {
    async fn run(&self, run_id: &str) -> Result<RunInfo, ResolveError> {
        let not_found = || ResolveError::NotFound(format!("Run '{run_id}' not found"));
        if !safe_component(run_id) {
            return Err(not_found());
        }
        for exp in self.experiment_dirs() {
            let meta = exp.join(run_id).join("meta.yaml");
            if meta.is_file() {
                let m: RunMeta = self.read_yaml(&meta)?;
                return Ok(RunInfo {
                    artifact_uri: m.artifact_uri.unwrap_or_default(),
                    experiment_id: m.experiment_id.as_ref().map(yaml_text).unwrap_or_else(|| {
                        exp.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    }),
                });
            }
        }
        Err(not_found())
    }

    async fn logged_model(&self, model_id: &str) -> Result<String, ResolveError> {
        let not_found = || ResolveError::NotFound(format!("Model '{model_id}' not found"));
        if !safe_component(model_id) {
            return Err(not_found());
        }
        for exp in self.experiment_dirs() {
            let meta = exp.join("models").join(model_id).join("meta.yaml");
            if meta.is_file() {
                let m: LoggedModelMeta = self.read_yaml(&meta)?;
                if m.lifecycle_stage.as_deref() == Some("deleted") {
                    break;
                }
                return m.artifact_location.ok_or_else(not_found);
            }
        }
        Err(not_found())
    }

    async fn run_logged_model(
        &self,
        experiment_id: &str,
        name: &str,
        run_id: &str,
    ) -> Result<Option<String>, ResolveError> {
        if !safe_component(experiment_id) {
            return Ok(None);
        }
        let mut found: Vec<(i64, String)> = Vec::new();
        for base in [self.root.clone(), self.root.join(".trash")] {
            let dir = base.join(experiment_id).join("models");
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let meta = e.path().join("meta.yaml");
                if !meta.is_file() {
                    continue;
                }
                let m: LoggedModelMeta = self.read_yaml(&meta)?;
                if m.name.as_deref() == Some(name)
                    && m.source_run_id.as_deref() == Some(run_id)
                    && m.lifecycle_stage.as_deref() != Some("deleted")
                {
                    if let Some(loc) = m.artifact_location {
                        found.push((m.creation_timestamp.unwrap_or(0), loc));
                    }
                }
            }
        }
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        Ok(found.into_iter().next().map(|(_, loc)| loc))
    }

    async fn registered_model(&self, name: &str) -> Result<(), ResolveError> {
        if safe_component(name) && self.registered_dir(name).join("meta.yaml").is_file() {
            Ok(())
        } else {
            Err(no_registered_model(name))
        }
    }

    async fn version_download_uri(
        &self,
        name: &str,
        version: &str,
    ) -> Result<String, ResolveError> {
        let v: u64 = version
            .parse()
            .map_err(|_| no_model_version(name, version))?;
        let meta = self
            .registered_dir(name)
            .join(format!("version-{v}"))
            .join("meta.yaml");
        if !safe_component(name) || !meta.is_file() {
            return Err(no_model_version(name, version));
        }
        let m: VersionMeta = self.read_yaml(&meta)?;
        if m.current_stage.as_deref() == Some("Deleted_Internal") {
            return Err(no_model_version(name, version));
        }
        m.storage_location
            .filter(|s| !s.is_empty())
            .or(m.source.filter(|s| !s.is_empty()))
            .ok_or_else(|| no_model_version(name, version))
    }

    async fn latest_versions(&self, name: &str) -> Result<Vec<(String, u64)>, ResolveError> {
        self.registered_model(name).await?;
        let mut best: BTreeMap<String, u64> = BTreeMap::new();
        let entries =
            std::fs::read_dir(self.registered_dir(name)).map_err(|e| ResolveError::Store {
                store: self.root.display().to_string(),
                message: e.to_string(),
            })?;
        for e in entries.flatten() {
            let fname = e.file_name();
            let Some(n) = fname
                .to_string_lossy()
                .strip_prefix("version-")
                .map(str::to_string)
            else {
                continue;
            };
            let meta = e.path().join("meta.yaml");
            if !meta.is_file() {
                continue;
            }
            let m: VersionMeta = self.read_yaml(&meta)?;
            let stage = m.current_stage.unwrap_or_else(|| "None".into());
            if stage == "Deleted_Internal" {
                continue;
            }
            let v = m
                .version
                .as_ref()
                .map(yaml_text)
                .unwrap_or(n)
                .parse::<u64>()
                .ok();
            if let Some(v) = v {
                let slot = best.entry(stage).or_insert(v);
                *slot = (*slot).max(v);
            }
        }
        Ok(best.into_iter().collect())
    }

    async fn alias_version(&self, name: &str, alias: &str) -> Result<String, ResolveError> {
        if !safe_component(alias) {
            return Err(no_alias(alias));
        }
        let path = self.registered_dir(name).join("aliases").join(alias);
        match std::fs::read_to_string(&path) {
            Ok(v) => Ok(v.trim().to_string()),
            Err(_) => Err(no_alias(alias)),
        }
    }
}
