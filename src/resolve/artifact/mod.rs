//! Artifact repositories: where a model's files live, how to list them and how to stream
//! one. Local paths and `file:` URIs are used in place (never copied, never written);
//! [`fetch`](super::fetch) downloads remote ones into the [`cache`](super::cache).

pub mod object;
pub mod proxy;

use std::path::{Path, PathBuf};

use super::client::{ServerAuth, ServerClient};
use super::uri::local_path;
use super::{Context, ResolveError};

/// One remote file: its path relative to the listed directory, its size and, when the store
/// gives one, a version tag (ETag).
#[derive(Debug, Clone)]
pub struct RemoteFile {
    /// Path relative to the directory, `/`-separated.
    pub rel: String,
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// ETag or similar, when known.
    pub tag: Option<String>,
}

/// The refusal of a listing past `max` entries.
pub(crate) fn too_many(max: usize) -> ResolveError {
    ResolveError::Config(format!(
        "the model's listing passed --max-model-files ({max}) files and directories before it ended"
    ))
}

/// A remote artifact directory.
pub enum Remote {
    /// `mlflow-artifacts:` (and `http(s)://…/api/2.0/mlflow-artifacts/artifacts/…`) through a
    /// tracking server's artifact proxy.
    Proxy(proxy::ProxyDir),
    /// `s3://`, `gs://`, `wasbs://`/`abfss://`, plain `http(s)://` via `object_store`.
    Object(object::ObjectDir),
}

impl Remote {
    /// Every file under the directory (empty when it does not exist), counted while the
    /// listing is walked: more than `max_entries` files and directories is refused before
    /// the rest is asked for (`--max-model-files`).
    pub async fn list(&self, max_entries: usize) -> Result<Vec<RemoteFile>, ResolveError> {
        match self {
            Remote::Proxy(p) => p.list(max_entries).await,
            Remote::Object(o) => o.list(max_entries).await,
        }
    }

    /// The file `rel` in the directory, if it exists (a tracking server's proxy is listed,
    /// within `max_entries`).
    pub async fn stat(
        &self,
        rel: &str,
        max_entries: usize,
    ) -> Result<Option<RemoteFile>, ResolveError> {
        match self {
            Remote::Proxy(p) => Ok(p
                .list(max_entries)
                .await?
                .into_iter()
                .find(|f| f.rel == rel)),
            Remote::Object(o) => o.stat(rel).await,
        }
    }

    /// Streams one listed file into `sink`, chunk by chunk.
    pub async fn download(
        &self,
        file: &RemoteFile,
        sink: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
    ) -> Result<(), ResolveError> {
        match self {
            Remote::Proxy(p) => p.download(file, sink).await,
            Remote::Object(o) => o.download(file, sink).await,
        }
    }
}

/// Where an artifact URI points.
pub enum Location {
    /// A local directory or file.
    Local(PathBuf),
    /// A remote directory, with its URI (the cache key's base).
    Remote(Box<Remote>, String),
}

/// Joins a sub-path onto an artifact URI the way MLflow does (`posixpath.join`).
pub fn join(uri: &str, sub: &str) -> String {
    let sub = sub.trim_matches('/');
    if sub.is_empty() {
        uri.to_string()
    } else {
        format!("{}/{}", uri.trim_end_matches('/'), sub)
    }
}

/// The repository behind an artifact URI.
pub fn locate(uri: &str, ctx: &Context) -> Result<Location, ResolveError> {
    if let Some(p) = local_path(uri) {
        return Ok(Location::Local(p));
    }
    let scheme = uri.split(':').next().unwrap_or("").to_ascii_lowercase();
    let remote = match scheme.as_str() {
        "mlflow-artifacts" => Remote::Proxy(proxy::ProxyDir::from_mlflow_artifacts(uri, ctx)?),
        "http" | "https" if uri.contains(proxy::ENDPOINT) => {
            let client = ServerClient::new(
                uri.split(proxy::ENDPOINT).next().unwrap_or(uri),
                ServerAuth::from_env(),
                ctx.deadline,
            )?;
            Remote::Proxy(proxy::ProxyDir::from_http(uri, client))
        }
        "s3" | "s3a" | "gs" | "wasbs" | "wasb" | "abfss" | "abfs" | "http" | "https" => {
            Remote::Object(object::ObjectDir::open(uri, ctx)?)
        }
        other => {
            return Err(ResolveError::Unsupported {
                scheme: other.to_string(),
            })
        }
    };
    Ok(Location::Remote(Box::new(remote), uri.to_string()))
}

/// Whether an artifact URI names something that exists (a local path, or a non-empty remote
/// directory).
pub async fn exists(uri: &str, ctx: &Context) -> Result<bool, ResolveError> {
    match locate(uri, ctx)? {
        Location::Local(p) => Ok(p.exists()),
        Location::Remote(r, _) => Ok(!r.list(ctx.cache.limits().max_files).await?.is_empty()),
    }
}

/// Every file under a local directory, as a listing.
pub fn local_listing(dir: &Path) -> Result<Vec<RemoteFile>, ResolveError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| ResolveError::Io {
            what: format!("listing {}", d.display()),
            message: e.to_string(),
        })?;
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(RemoteFile {
                    rel: rel.to_string_lossy().replace('\\', "/"),
                    size: e.metadata().ok().map(|m| m.len()),
                    tag: None,
                });
            }
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}
