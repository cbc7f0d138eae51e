//! The download cache: remote model directories are downloaded once into
//! `<cache>/<label>-<key>/`, where the key hashes the artifact URI and the listing (names,
//! sizes, ETags). A restart of the same version finds its entry; a new version (new URI) or
//! changed files (new listing) get a new one. Downloads go to a temporary sibling that is
//! renamed into place only once every file is complete, so a partial download never counts.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::artifact::{Remote, RemoteFile};
use super::ResolveError;

/// Files of one source to put into a cache entry.
pub enum Source<'a> {
    /// Files to download.
    Remote(&'a Remote, Vec<RemoteFile>),
    /// Files to copy from a local directory.
    Local(PathBuf, Vec<RemoteFile>),
}

/// Artifacts larger than this in total get progress lines on stderr.
const PROGRESS_BYTES: u64 = 16 * 1024 * 1024;

/// A cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

/// The default cache root: `$XDG_CACHE_HOME/mlflow-serve/models`, else
/// `~/.cache/mlflow-serve/models`, else a directory under the system temp dir.
pub fn default_root() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .unwrap_or_else(std::env::temp_dir);
    base.join("mlflow-serve").join("models")
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ResolveError {
    let what = what.into();
    move |e| ResolveError::Io {
        what,
        message: e.to_string(),
    }
}

/// A relative path from a listing, refused when it could escape the entry.
fn safe_rel(rel: &str) -> Result<PathBuf, ResolveError> {
    let mut out = PathBuf::new();
    for seg in rel.split('/') {
        if seg.is_empty() || seg == "." {
            continue;
        }
        if seg == ".." || seg.contains('\\') || seg.contains('\0') {
            return Err(ResolveError::Artifact {
                uri: rel.to_string(),
                message: "unsafe artifact path".into(),
            });
        }
        out.push(seg);
    }
    if out.as_os_str().is_empty() {
        return Err(ResolveError::Artifact {
            uri: rel.to_string(),
            message: "empty artifact path".into(),
        });
    }
    Ok(out)
}

/// A short readable label for an entry: the URI's last two path segments, sanitised.
fn label(uri: &str) -> String {
    let segs: Vec<&str> = uri
        .split(['/', '\n'])
        .filter(|s| !s.is_empty() && !s.ends_with(':'))
        .collect();
    let tail = segs[segs.len().saturating_sub(2)..].join("-");
    let clean: String = tail
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    if clean.is_empty() {
        "model".into()
    } else {
        clean
    }
}

impl Cache {
    /// A cache rooted at `root` (created on first use).
    pub fn new(root: PathBuf) -> Cache {
        Cache { root }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The entry directory for `key_uri` with these sources' listings.
    pub fn entry_dir(&self, key_uri: &str, sources: &[Source<'_>]) -> PathBuf {
        let mut h = Sha256::new();
        h.update(key_uri.as_bytes());
        for s in sources {
            let files = match s {
                Source::Remote(_, f) => f,
                Source::Local(p, f) => {
                    h.update(p.to_string_lossy().as_bytes());
                    f
                }
            };
            h.update(b"\0--\0");
            for f in files {
                h.update(f.rel.as_bytes());
                h.update(b"\0");
                h.update(f.size.unwrap_or(u64::MAX).to_le_bytes());
                h.update(f.tag.as_deref().unwrap_or("").as_bytes());
                h.update(b"\0");
            }
        }
        let digest = h.finalize();
        let hex: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
        self.root.join(format!("{}-{hex}", label(key_uri)))
    }

    /// Returns the complete entry for these sources, downloading it first when needed.
    /// Later sources overwrite same-named files of earlier ones.
    pub async fn materialize(
        &self,
        key_uri: &str,
        sources: &[Source<'_>],
    ) -> Result<PathBuf, ResolveError> {
        let entry = self.entry_dir(key_uri, sources);
        if entry.is_dir() {
            tracing::info!(uri = key_uri, cache = %entry.display(), "model found in the download cache");
            return Ok(entry);
        }
        std::fs::create_dir_all(&self.root).map_err(io(format!(
            "creating the model cache {}",
            self.root.display()
        )))?;
        self.sweep_stale_partials();
        let name = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".partial-{name}-"))
            .tempdir_in(&self.root)
            .map_err(io(format!(
                "creating a directory in {}",
                self.root.display()
            )))?;
        let total: u64 = sources
            .iter()
            .filter_map(|s| match s {
                Source::Remote(_, f) => Some(f.iter().filter_map(|f| f.size).sum::<u64>()),
                Source::Local(..) => None,
            })
            .sum();
        let mut done = 0u64;
        let started = Instant::now();
        let mut last_report = Instant::now();
        let loud = total >= PROGRESS_BYTES;
        if loud {
            eprintln!(
                "mlflow-serve: downloading {key_uri} ({:.1} MiB) into {}",
                total as f64 / 1048576.0,
                entry.display()
            );
        }
        for source in sources {
            match source {
                Source::Remote(remote, files) => {
                    for f in files {
                        let dst = tmp.path().join(safe_rel(&f.rel)?);
                        if let Some(parent) = dst.parent() {
                            std::fs::create_dir_all(parent)
                                .map_err(io(format!("creating {}", parent.display())))?;
                        }
                        let mut out = std::fs::File::create(&dst)
                            .map_err(io(format!("creating {}", dst.display())))?;
                        let mut got = 0u64;
                        remote
                            .download(f, &mut |chunk| {
                                got += chunk.len() as u64;
                                done += chunk.len() as u64;
                                if loud && last_report.elapsed() >= Duration::from_secs(2) {
                                    last_report = Instant::now();
                                    eprintln!(
                                        "mlflow-serve: downloading {key_uri}: {:.1}/{:.1} MiB",
                                        done as f64 / 1048576.0,
                                        total as f64 / 1048576.0
                                    );
                                }
                                std::io::Write::write_all(&mut out, chunk)
                            })
                            .await?;
                        out.sync_all()
                            .map_err(io(format!("writing {}", dst.display())))?;
                        if let Some(want) = f.size {
                            if want != got {
                                return Err(ResolveError::Artifact {
                                    uri: key_uri.to_string(),
                                    message: format!(
                                        "download of {} incomplete: {got} of {want} bytes",
                                        f.rel
                                    ),
                                });
                            }
                        }
                    }
                }
                Source::Local(dir, files) => {
                    for f in files {
                        let rel = safe_rel(&f.rel)?;
                        let dst = tmp.path().join(&rel);
                        if let Some(parent) = dst.parent() {
                            std::fs::create_dir_all(parent)
                                .map_err(io(format!("creating {}", parent.display())))?;
                        }
                        std::fs::copy(dir.join(&rel), &dst)
                            .map_err(io(format!("copying {}", dir.join(&rel).display())))?;
                    }
                }
            }
        }
        if loud {
            eprintln!(
                "mlflow-serve: downloaded {key_uri} ({:.1} MiB) in {:.1} s",
                done as f64 / 1048576.0,
                started.elapsed().as_secs_f64()
            );
        }
        let tmp_path = tmp.keep();
        match std::fs::rename(&tmp_path, &entry) {
            Ok(()) => Ok(entry),
            Err(_) if entry.is_dir() => {
                // Another process finished the same entry first: use theirs.
                let _ = std::fs::remove_dir_all(&tmp_path);
                Ok(entry)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp_path);
                Err(io(format!("moving the download into {}", entry.display()))(
                    e,
                ))
            }
        }
    }

    /// Removes partial downloads left by processes that died more than an hour ago.
    fn sweep_stale_partials(&self) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        for e in entries.flatten() {
            if !e.file_name().to_string_lossy().starts_with(".partial-") {
                continue;
            }
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(3600));
            if old {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_key_follows_uri_and_listing() {
        let c = Cache::new(PathBuf::from("/c"));
        let f = |size| {
            vec![RemoteFile {
                rel: "MLmodel".into(),
                size: Some(size),
                tag: None,
            }]
        };
        let a = c.entry_dir("s3://b/m-1/artifacts", &[Source::Local("/x".into(), f(1))]);
        let b = c.entry_dir("s3://b/m-1/artifacts", &[Source::Local("/x".into(), f(1))]);
        let d = c.entry_dir("s3://b/m-2/artifacts", &[Source::Local("/x".into(), f(1))]);
        let e = c.entry_dir("s3://b/m-1/artifacts", &[Source::Local("/x".into(), f(2))]);
        assert_eq!(a, b);
        assert_ne!(a, d);
        assert_ne!(a, e);
        assert!(a
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("m-1-artifacts-"));
    }

    #[test]
    fn unsafe_paths_are_refused() {
        assert!(safe_rel("../x").is_err());
        assert!(safe_rel("a/../../x").is_err());
        assert_eq!(safe_rel("/a//b").unwrap(), PathBuf::from("a/b"));
    }
}
