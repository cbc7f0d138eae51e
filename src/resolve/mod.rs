//! Model URI resolution: turn what `-m` names into a local model directory, choosing exactly
//! the model MLflow 3.17.2 would serve.
//!
//! - [`uri`] parses the URI forms as MLflow does.
//! - [`store`] answers run / logged model / registry lookups from SQLite, `./mlruns` or a
//!   tracking server.
//! - [`artifact`] finds the files (local in place; `mlflow-artifacts:`, S3, GCS, Azure, HTTP
//!   downloaded) and [`cache`] keeps downloads across restarts.
//! - [`client`] is the tracking server's HTTP client (auth, TLS, retries, deadline).
//!
//! Nothing here ever writes into a store: MLflow's `registered_model_meta` side effect is not
//! reproduced.

pub mod artifact;
pub mod cache;
pub mod client;
pub mod fetch;
pub mod store;
pub mod uri;

use std::path::PathBuf;
use std::time::Duration;

use client::{Deadline, ServerAuth};
use store::{canonical_stage, ModelStore, Store, StoreUris};
use uri::{ModelUri, Selector};

/// Why a model URI could not be resolved. The message is the cause only; the caller names
/// the URI.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The URI is malformed (MLflow's message).
    #[error("{0}")]
    InvalidUri(String),
    /// A scheme or store kind mlflow-serve does not read.
    #[error("the `{scheme}` scheme is not supported by mlflow-serve")]
    Unsupported {
        /// The scheme.
        scheme: String,
    },
    /// A run, logged model, registered model, version, alias or stage that does not exist
    /// (MLflow's message).
    #[error("{0}")]
    NotFound(String),
    /// A configuration problem (env vars, file store refused, …).
    #[error("{0}")]
    Config(String),
    /// The store could not be read.
    #[error("cannot read the tracking store {store}: {message}")]
    Store {
        /// The store URI or path.
        store: String,
        /// What went wrong.
        message: String,
    },
    /// The server could not be reached before the deadline.
    #[error("cannot reach {url}: {message}")]
    Unreachable {
        /// The URL.
        url: String,
        /// The last error.
        message: String,
    },
    /// The server's certificate was not accepted.
    #[error("TLS with {url} failed: {message}; set MLFLOW_TRACKING_SERVER_CERT_PATH to the CA bundle that signed the server's certificate (or MLFLOW_TRACKING_INSECURE_TLS=true to skip verification)")]
    Tls {
        /// The URL.
        url: String,
        /// The innermost cause.
        message: String,
    },
    /// The server refused our credentials.
    #[error("{url} refused the credentials (HTTP {status}): {message}; check MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD")]
    Auth {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// Any other error answer of a server.
    #[error("{url} answered HTTP {status}: {message}")]
    Remote {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// An object store error.
    #[error("cannot fetch {uri}: {message}")]
    Artifact {
        /// The artifact URI.
        uri: String,
        /// What went wrong.
        message: String,
    },
    /// A local file system error (cache).
    #[error("{what}: {message}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        message: String,
    },
    /// `--resolve-timeout` passed.
    #[error("gave up after {secs} s (--resolve-timeout){last}")]
    Timeout {
        /// The budget.
        secs: u64,
        /// What was being waited for, if known.
        last: String,
    },
}

/// An error and its sources on one line (each cause once, newlines flattened), and the
/// innermost cause alone.
pub fn cause_chain(e: &(dyn std::error::Error + 'static)) -> (String, String) {
    let mut line = e.to_string();
    let mut innermost = line.clone();
    let mut src = e.source();
    while let Some(s) = src {
        innermost = s.to_string();
        if !line.contains(&innermost) {
            line.push_str(": ");
            line.push_str(&innermost);
        }
        src = s.source();
    }
    (line.replace('\n', " "), innermost)
}

/// How to resolve.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// Where remote artifacts are cached.
    pub cache_dir: PathBuf,
    /// Overall budget, retries included.
    pub timeout: Duration,
    /// Bounds on a model's download.
    pub download_limits: cache::Limits,
}

/// A resolved model.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The local model directory.
    pub dir: PathBuf,
    /// The registered model name, for `models:/name/…` URIs.
    pub name: Option<String>,
    /// The registered version, for `models:/name/…` URIs.
    pub version: Option<String>,
}

/// Shared state of one resolution.
pub struct Context {
    /// Tracking and registry URIs in effect.
    pub uris: StoreUris,
    /// Tracking server auth and TLS.
    pub auth: ServerAuth,
    /// When to give up.
    pub deadline: Deadline,
    /// The download cache.
    pub cache: cache::Cache,
}

impl Context {
    fn tracking(&self) -> Result<Store, ResolveError> {
        store::open(&self.uris.tracking, false, &self.auth, self.deadline)
    }

    fn registry(&self) -> Result<Store, ResolveError> {
        store::open(&self.uris.registry, true, &self.auth, self.deadline)
    }
}

impl Context {
    /// The stores named by the environment, with `opts.timeout` from now.
    pub fn from_env(opts: &ResolveOptions) -> Context {
        Context {
            uris: StoreUris::from_env(),
            auth: ServerAuth::from_env(),
            deadline: Deadline::after(opts.timeout),
            cache: cache::Cache::with_limits(opts.cache_dir.clone(), opts.download_limits),
        }
    }
}

/// Resolves `uri` with the stores named by the environment, within `opts.timeout`.
pub async fn resolve(uri: &str, opts: &ResolveOptions) -> Result<Resolved, ResolveError> {
    resolve_with(uri, &Context::from_env(opts)).await
}

/// A registry reference whose version can change while it is served: `models:/name@alias`,
/// `models:/name/<stage>` or `models:/name/latest` (`--follow`).
#[derive(Debug, Clone)]
pub struct MovingReference {
    name: String,
    selector: Selector,
    sub_path: String,
}

impl MovingReference {
    /// The reference `uri` names, `None` when it always names the same files (a version
    /// number, a run, a logged model, a path); an error when it is not a model URI.
    pub fn parse(uri: &str) -> Result<Option<MovingReference>, ResolveError> {
        Ok(match uri::parse(uri)? {
            ModelUri::Registered {
                name,
                selector,
                sub_path,
            } if !matches!(selector, Selector::Version(_)) => Some(MovingReference {
                name,
                selector,
                sub_path,
            }),
            _ => None,
        })
    }

    /// The registered model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version the reference names now (MLflow's choice), within the context's deadline.
    pub async fn current_version(&self, ctx: &Context) -> Result<String, ResolveError> {
        within(ctx, self.version_now(ctx)).await
    }

    async fn version_now(&self, ctx: &Context) -> Result<String, ResolveError> {
        let registry = ctx.registry()?;
        registry.registered_model(&self.name).await?;
        version_of(&registry, &self.name, &self.selector).await
    }

    /// The files of `version` of the registered model (downloaded or cached), within the
    /// context's deadline.
    pub async fn fetch(&self, version: &str, ctx: &Context) -> Result<Resolved, ResolveError> {
        within(ctx, async {
            let registry = ctx.registry()?;
            fetch_version(&registry, &self.name, version, &self.sub_path, ctx).await
        })
        .await
    }
}

/// `work` within the context's deadline.
async fn within<T>(
    ctx: &Context,
    work: impl std::future::Future<Output = Result<T, ResolveError>>,
) -> Result<T, ResolveError> {
    let budget = ctx.deadline.total();
    match tokio::time::timeout(budget, work).await {
        Ok(r) => r,
        Err(_) => Err(ResolveError::Timeout {
            secs: budget.as_secs(),
            last: String::new(),
        }),
    }
}

/// The version `selector` names in the registry now.
async fn version_of(
    registry: &Store,
    name: &str,
    selector: &Selector,
) -> Result<String, ResolveError> {
    match selector {
        Selector::Version(v) => Ok(v.clone()),
        Selector::Latest => latest(registry, name, None).await,
        Selector::Stage(s) => latest(registry, name, Some(s)).await,
        Selector::Alias(a) if a.eq_ignore_ascii_case("latest") => {
            latest(registry, name, None).await
        }
        Selector::Alias(a) => registry.alias_version(name, a).await,
    }
}

/// The files of one registered version.
async fn fetch_version(
    registry: &Store,
    name: &str,
    version: &str,
    sub_path: &str,
    ctx: &Context,
) -> Result<Resolved, ResolveError> {
    let source = registry.version_download_uri(name, version).await?;
    let dir = resolve_source(&source, sub_path, ctx).await?;
    tracing::info!(model = %crate::redact::loggable(name), version = %crate::redact::loggable(version), dir = %dir.display(), "resolved registered model");
    Ok(Resolved {
        dir,
        name: Some(name.to_string()),
        version: Some(version.to_string()),
    })
}

/// Resolves `uri` with an explicit context.
pub async fn resolve_with(uri: &str, ctx: &Context) -> Result<Resolved, ResolveError> {
    within(ctx, resolve_inner(uri, ctx)).await
}

async fn resolve_inner(uri: &str, ctx: &Context) -> Result<Resolved, ResolveError> {
    let parsed = uri::parse(uri)?;
    let plain = |dir| Resolved {
        dir,
        name: None,
        version: None,
    };
    match parsed {
        ModelUri::Local(p) => Ok(plain(p)),
        ModelUri::Artifact(u) => fetch::fetch(&u, ctx).await.map(plain),
        ModelUri::Logged { model_id, sub_path } => {
            let tracking = ctx.tracking()?;
            let loc = tracking.logged_model(&model_id).await?;
            fetch::fetch(&artifact::join(&loc, &sub_path), ctx)
                .await
                .map(plain)
        }
        ModelUri::Run { run_id, path } => resolve_run(&run_id, &path, ctx).await.map(plain),
        ModelUri::Registered {
            name,
            selector,
            sub_path,
        } => {
            let registry = ctx.registry()?;
            registry.registered_model(&name).await?;
            let version = version_of(&registry, &name, &selector).await?;
            fetch_version(&registry, &name, &version, &sub_path, ctx).await
        }
    }
}

/// `_get_latest_model_version`: the highest version in `stage` (or over all stages).
async fn latest(
    registry: &Store,
    name: &str,
    stage: Option<&String>,
) -> Result<String, ResolveError> {
    let wanted = stage.map(|s| canonical_stage(s)).transpose()?;
    let versions = registry.latest_versions(name).await?;
    versions
        .iter()
        .filter(|(st, _)| wanted.is_none_or(|w| w.eq_ignore_ascii_case(st)))
        .map(|(_, v)| *v)
        .max()
        .map(|v| v.to_string())
        .ok_or_else(|| {
            let stage_str = stage
                .map(|s| format!(" and stage '{s}'"))
                .unwrap_or_default();
            ResolveError::NotFound(format!(
                "No versions of model with name '{name}'{stage_str} found"
            ))
        })
}

/// A model version's download URI: a logged model (`models:/m-…`), a run URI (MLflow 2
/// registrations) or an artifact location.
async fn resolve_source(source: &str, sub: &str, ctx: &Context) -> Result<PathBuf, ResolveError> {
    match uri::parse(source)? {
        ModelUri::Logged { model_id, sub_path } => {
            let loc = ctx.tracking()?.logged_model(&model_id).await?;
            let sub = artifact::join(&sub_path, sub);
            fetch::fetch(&artifact::join(&loc, &sub), ctx).await
        }
        ModelUri::Run { run_id, path } => {
            Box::pin(resolve_run(&run_id, &artifact::join(&path, sub), ctx)).await
        }
        _ => fetch::fetch(&artifact::join(source, sub), ctx).await,
    }
}

/// `runs:/<run_id>/<path>` in MLflow 3: the run's own artifacts and/or the logged model of
/// that run named by the first path segment (its files win on a clash).
async fn resolve_run(run_id: &str, path: &str, ctx: &Context) -> Result<PathBuf, ResolveError> {
    let tracking = ctx.tracking()?;
    let run = tracking.run(run_id).await?;
    let run_uri = artifact::join(&run.artifact_uri, path);
    let run_has = !run.artifact_uri.is_empty() && artifact::exists(&run_uri, ctx).await?;
    let mut model_uri = None;
    if !path.is_empty() {
        let (name, rest) = path.split_once('/').unwrap_or((path, ""));
        if let Some(loc) = tracking
            .run_logged_model(&run.experiment_id, name, run_id)
            .await?
        {
            let u = artifact::join(&loc, rest);
            if artifact::exists(&u, ctx).await? {
                model_uri = Some(u);
            }
        }
    }
    match (run_has, model_uri) {
        (true, None) => fetch::fetch(&run_uri, ctx).await,
        (false, Some(m)) => fetch::fetch(&m, ctx).await,
        (true, Some(m)) => fetch::fetch_merged(&[&run_uri, &m], ctx).await,
        (false, None) => {
            let last = path.rsplit('/').next().unwrap_or(path);
            Err(ResolveError::NotFound(format!(
                "Failed to download artifacts from path {}, please ensure that the path is correct.",
                crate::pyjson::str_repr(last)
            )))
        }
    }
}
