//! From an artifact URI to a local directory: a local store's path as it is, a remote
//! repository's files downloaded into (or found in) the [`cache`](super::cache).

use std::path::PathBuf;

use super::artifact::{local_listing, locate, Location};
use super::cache::Source;
use super::{Context, ResolveError};

/// A local directory holding the artifacts at `uri`: the path itself for local stores, a
/// cache entry for remote ones.
pub async fn fetch(uri: &str, ctx: &Context) -> Result<PathBuf, ResolveError> {
    match locate(uri, ctx)? {
        Location::Local(p) => {
            if p.exists() {
                Ok(p)
            } else {
                Err(ResolveError::NotFound(format!(
                    "No such file or directory: '{}'",
                    p.display()
                )))
            }
        }
        Location::Remote(remote, uri) => {
            let files = remote.list(ctx.cache.limits().max_files).await?;
            if files.is_empty() {
                return Err(ResolveError::NotFound(format!(
                    "no artifacts found at {uri}"
                )));
            }
            ctx.cache
                .materialize(&uri, &[Source::Remote(&remote, files)])
                .await
        }
    }
}

/// A local copy of the one file at `uri` (an input to score, say): a local path as it is, a
/// remote object (`s3://`, `gs://`, `wasbs://`/`abfss://`, `http(s)://`, `mlflow-artifacts:`)
/// downloaded into the cache with the same credentials as models.
pub async fn fetch_file(uri: &str, ctx: &Context) -> Result<PathBuf, ResolveError> {
    let not_found = || ResolveError::NotFound(format!("no file at {}", crate::redact::redact(uri)));
    let Some((parent, name)) = uri.rsplit_once('/').filter(|(_, n)| !n.is_empty()) else {
        return Err(not_found());
    };
    match locate(parent, ctx)? {
        Location::Local(p) => {
            let p = p.join(name);
            if p.is_file() {
                Ok(p)
            } else {
                Err(not_found())
            }
        }
        Location::Remote(remote, _) => {
            let file = remote
                .stat(name, ctx.cache.limits().max_files)
                .await?
                .ok_or_else(not_found)?;
            let entry = ctx
                .cache
                .materialize(uri, &[Source::Remote(&remote, vec![file])])
                .await?;
            Ok(entry.join(name))
        }
    }
}

/// Copies (or downloads) several artifact directories into one cache entry, later ones over
/// earlier ones (the `runs:/` case where both the run and its logged model hold files).
pub async fn fetch_merged(uris: &[&str], ctx: &Context) -> Result<PathBuf, ResolveError> {
    let located = uris
        .iter()
        .map(|u| locate(u, ctx))
        .collect::<Result<Vec<_>, _>>()?;
    let mut sources = Vec::new();
    for loc in &located {
        sources.push(match loc {
            Location::Local(p) => Source::Local(p.clone(), local_listing(p)?),
            Location::Remote(r, _) => {
                Source::Remote(r, r.list(ctx.cache.limits().max_files).await?)
            }
        });
    }
    ctx.cache.materialize(&uris.join("\n"), &sources).await
}
