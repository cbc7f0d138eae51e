//! Tracking stores and model registries, read-only: what a run, a logged model or a registered
//! model version points at. One trait, [`ModelStore`]; one implementation per backend:
//! [`sql`] (SQLite today; the queries are plain SQL so PostgreSQL/MySQL can join behind the
//! same trait), [`file`] (`./mlruns`) and [`rest`] (a tracking server).

pub mod file;
pub mod rest;
pub mod sql;

use std::path::{Path, PathBuf};

use super::client::{Deadline, ServerAuth, ServerClient};
use super::uri::file_uri_to_path;
use super::ResolveError;

/// What resolution needs to know about a run.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The run's artifact root URI.
    pub artifact_uri: String,
    /// Its experiment.
    pub experiment_id: String,
}

/// MLflow's model stages, canonical spelling.
pub const STAGES: [&str; 4] = ["None", "Staging", "Production", "Archived"];

/// `get_canonical_stage`: a stage as MLflow spells it, or MLflow's error.
pub fn canonical_stage(stage: &str) -> Result<&'static str, ResolveError> {
    STAGES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(stage))
        .copied()
        .ok_or_else(|| {
            ResolveError::NotFound(format!(
                "Invalid Model Version stage: {stage}. Value must be one of None, Staging, \
                 Production, Archived."
            ))
        })
}

/// MLflow's message for a registered model that does not exist.
pub fn no_registered_model(name: &str) -> ResolveError {
    ResolveError::NotFound(format!("Registered Model with name={name} not found"))
}

/// MLflow's message for a model version that does not exist (or was deleted).
pub fn no_model_version(name: &str, version: &str) -> ResolveError {
    ResolveError::NotFound(format!(
        "Model Version (name={name}, version={version}) not found"
    ))
}

/// MLflow's message for an alias that does not exist.
pub fn no_alias(alias: &str) -> ResolveError {
    ResolveError::NotFound(format!("Registered model alias {alias} not found."))
}

/// Read-only lookups a tracking store / model registry answers.
#[allow(async_fn_in_trait)]
pub trait ModelStore {
    /// A run's artifact URI and experiment (deleted runs included, as MLflow).
    async fn run(&self, run_id: &str) -> Result<RunInfo, ResolveError>;
    /// A logged model's artifact location.
    async fn logged_model(&self, model_id: &str) -> Result<String, ResolveError>;
    /// The artifact location of the newest logged model named `name` in `experiment_id`
    /// made by `run_id` (the `runs:/` fallback of MLflow 3).
    async fn run_logged_model(
        &self,
        experiment_id: &str,
        name: &str,
        run_id: &str,
    ) -> Result<Option<String>, ResolveError>;
    /// Fails with MLflow's message unless the registered model exists.
    async fn registered_model(&self, name: &str) -> Result<(), ResolveError>;
    /// `get_model_version_download_uri`: `storage_location`, else `source`.
    async fn version_download_uri(&self, name: &str, version: &str)
        -> Result<String, ResolveError>;
    /// The highest version per stage (deleted versions excluded), as `(stage, version)`.
    async fn latest_versions(&self, name: &str) -> Result<Vec<(String, u64)>, ResolveError>;
    /// The version an alias points at.
    async fn alias_version(&self, name: &str, alias: &str) -> Result<String, ResolveError>;
}

/// One of the supported backends.
pub enum Store {
    /// `sqlite:///…`
    Sql(sql::SqlStore),
    /// A `./mlruns` directory.
    File(file::FileStore),
    /// `http(s)://` tracking server.
    Rest(rest::RestStore),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Sql($s) => $e,
            Store::File($s) => $e,
            Store::Rest($s) => $e,
        }
    };
}

impl ModelStore for Store {
    async fn run(&self, run_id: &str) -> Result<RunInfo, ResolveError> {
        dispatch!(self, s => s.run(run_id).await)
    }
    async fn logged_model(&self, model_id: &str) -> Result<String, ResolveError> {
        dispatch!(self, s => s.logged_model(model_id).await)
    }
    async fn run_logged_model(
        &self,
        experiment_id: &str,
        name: &str,
        run_id: &str,
    ) -> Result<Option<String>, ResolveError> {
        dispatch!(self, s => s.run_logged_model(experiment_id, name, run_id).await)
    }
    async fn registered_model(&self, name: &str) -> Result<(), ResolveError> {
        dispatch!(self, s => s.registered_model(name).await)
    }
    async fn version_download_uri(
        &self,
        name: &str,
        version: &str,
    ) -> Result<String, ResolveError> {
        dispatch!(self, s => s.version_download_uri(name, version).await)
    }
    async fn latest_versions(&self, name: &str) -> Result<Vec<(String, u64)>, ResolveError> {
        dispatch!(self, s => s.latest_versions(name).await)
    }
    async fn alias_version(&self, name: &str, alias: &str) -> Result<String, ResolveError> {
        dispatch!(self, s => s.alias_version(name, alias).await)
    }
}

/// Which store URIs are in effect: MLflow's precedence and 3.17 defaults.
#[derive(Debug, Clone)]
pub struct StoreUris {
    /// `MLFLOW_TRACKING_URI`, else `./mlruns` when it holds experiment data, else
    /// `sqlite:///mlflow.db`.
    pub tracking: String,
    /// `MLFLOW_REGISTRY_URI`, else the tracking URI.
    pub registry: String,
}

impl StoreUris {
    /// From the environment and the current directory, as MLflow 3.17.2 decides.
    pub fn from_env() -> StoreUris {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let tracking = var("MLFLOW_TRACKING_URI").unwrap_or_else(default_tracking_uri);
        let registry = var("MLFLOW_REGISTRY_URI").unwrap_or_else(|| tracking.clone());
        StoreUris { tracking, registry }
    }
}

/// `_get_default_tracking_uri`: `./mlruns` if it holds a digit-named directory with a
/// `meta.yaml`, else `sqlite:///mlflow.db`.
fn default_tracking_uri() -> String {
    let has_data = std::fs::read_dir("mlruns")
        .map(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_digit())
                    && e.path().is_dir()
                    && e.path().join("meta.yaml").exists()
            })
        })
        .unwrap_or(false);
    if has_data {
        "./mlruns".into()
    } else {
        "sqlite:///mlflow.db".into()
    }
}

/// Whether `MLFLOW_ALLOW_FILE_STORE` opts in to the file store.
fn file_store_allowed() -> bool {
    std::env::var("MLFLOW_ALLOW_FILE_STORE")
        .map(|v| v.eq_ignore_ascii_case("true") || v == "1")
        .unwrap_or(false)
}

/// MLflow 3.17's refusal of the filesystem backend.
fn file_store_refusal(registry: bool) -> ResolveError {
    let what = if registry {
        "The filesystem model registry backend (e.g., './mlruns') is in maintenance mode"
    } else {
        "The filesystem tracking backend (e.g., './mlruns') is in maintenance mode"
    };
    ResolveError::Config(format!(
        "{what} and will not receive further updates. Please migrate to a database backend \
         (e.g., 'sqlite:///mlflow.db') to access the latest MLflow features. The `mlflow \
         migrate-filestore` tool migrates your existing data losslessly. See \
         https://mlflow.org/docs/latest/self-hosting/migrate-from-file-store for migration \
         guidance. If the filesystem backend is required for your workflow, set \
         `MLFLOW_ALLOW_FILE_STORE=true` to opt out of this exception."
    ))
}

/// Opens the store a tracking or registry URI names.
pub fn open(
    uri: &str,
    registry: bool,
    auth: &ServerAuth,
    deadline: Deadline,
) -> Result<Store, ResolveError> {
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("sqlite://") {
        return sql::SqlStore::open_sqlite(uri).map(Store::Sql);
    }
    for scheme in ["postgresql", "postgres", "mysql", "mssql"] {
        if lower.starts_with(&format!("{scheme}:")) || lower.starts_with(&format!("{scheme}+")) {
            return Err(ResolveError::Unsupported {
                scheme: format!("{scheme} tracking store"),
            });
        }
    }
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let client = ServerClient::new(uri, auth.clone(), deadline)?;
        return Ok(Store::Rest(rest::RestStore::new(client)));
    }
    if lower.starts_with("databricks") {
        return Err(ResolveError::Unsupported {
            scheme: "databricks".into(),
        });
    }
    let root: PathBuf = if lower.starts_with("file:") {
        file_uri_to_path(uri)?
    } else if lower.contains("://") {
        return Err(ResolveError::Unsupported {
            scheme: uri.split(':').next().unwrap_or(uri).to_string(),
        });
    } else {
        Path::new(uri).to_path_buf()
    };
    if !file_store_allowed() {
        return Err(file_store_refusal(registry));
    }
    Ok(Store::File(file::FileStore::new(root)))
}
