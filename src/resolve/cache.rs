//! The download cache: remote model directories are downloaded once into
//! `<cache>/<label>-<key>/`, where the key hashes the artifact URI and the listing (names,
//! sizes, ETags). A restart of the same version finds its entry; a new version (new URI) or
//! changed files (new listing) get a new one. Downloads go to a temporary sibling that is
//! renamed into place only once every file is complete, so a partial download never counts.
//!
//! Bounds: a model may list at most [`Limits::max_files`] files of at most
//! [`Limits::max_bytes`] in all, and a download stops as soon as a file passes its listed
//! size. An existing entry is checked against the listing (names and sizes) before it is
//! used, and rebuilt when it does not match. A partial directory holds a lock for as long as
//! its download runs, so a sweep removes only the partials whose process is gone.

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

impl Source<'_> {
    /// The listing.
    fn files(&self) -> &[RemoteFile] {
        match self {
            Source::Remote(_, f) | Source::Local(_, f) => f,
        }
    }
}

/// Artifacts larger than this in total get progress lines on stderr.
const PROGRESS_BYTES: u64 = 16 * 1024 * 1024;

/// Bounds on one model's download (or one `models predict` input's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes a model's files may hold in all (`--max-model-bytes`).
    pub max_bytes: u64,
    /// Most files a model may list (`--max-model-files`).
    pub max_files: usize,
    /// What is downloaded, and so which flags a refusal names.
    pub subject: Subject,
}

/// What a download is, for the messages that refuse it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Subject {
    /// A model (`--max-model-bytes`, `--max-model-files`).
    #[default]
    Model,
    /// The input file of `models predict` (`--max-input-bytes`; one file).
    Input,
}

impl Subject {
    /// The thing downloaded, the flag bounding its bytes and the one bounding its files.
    fn words(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Subject::Model => ("the model", "--max-model-bytes", "--max-model-files"),
            Subject::Input => ("the input", "--max-input-bytes", "--max-input-bytes"),
        }
    }
}

/// Default of `--max-model-bytes`.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 30;
/// Default of `--max-model-files`.
pub const DEFAULT_MAX_FILES: usize = 100_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: DEFAULT_MAX_BYTES,
            max_files: DEFAULT_MAX_FILES,
            subject: Subject::Model,
        }
    }
}

/// A cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    limits: Limits,
}

/// The lock file inside a partial download directory.
const LOCK: &str = ".mlflow-serve-download.lock";

/// The default cache root: `$XDG_CACHE_HOME/mlflow-serve/models`, else
/// `~/.cache/mlflow-serve/models`, else (no home directory) a directory of this user's own
/// under the system temp dir. Never a shared directory: when that private one cannot be
/// made or is not this user's, the answer is an error naming it and why (start-up fails).
pub fn default_root() -> Result<PathBuf, ResolveError> {
    let home = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        });
    let base = match home {
        Some(base) => base,
        None => private_temp_base()?,
    };
    Ok(base.join("mlflow-serve").join("models"))
}

/// Without a home directory, a directory of this user's own under the system temp dir
/// (`mlflow-serve-<uid>`, mode 0700), never a shared one another user could have prepared.
fn private_temp_base() -> Result<PathBuf, ResolveError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let refuse = |dir: &Path, why: String| {
        ResolveError::Io {
        what: format!(
            "the model cache: no HOME or XDG_CACHE_HOME, and the private directory {} cannot be used ({why}); set --model-cache",
            dir.display()
        ),
        message: "refusing a shared directory".into(),
    }
    };
    let tmp = std::env::temp_dir();
    let uid = std::fs::metadata("/proc/self")
        .map_err(|e| refuse(&tmp, format!("this process's user is unknown: {e}")))?
        .uid();
    let dir = tmp.join(format!("mlflow-serve-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    let meta = std::fs::symlink_metadata(&dir).map_err(|e| refuse(&dir, e.to_string()))?;
    if !meta.is_dir() {
        return Err(refuse(&dir, "it is not a directory".into()));
    }
    if meta.uid() != uid {
        return Err(refuse(
            &dir,
            format!(
                "it belongs to user {}, not to this user ({uid})",
                meta.uid()
            ),
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| refuse(&dir, format!("cannot make it private: {e}")))?;
    }
    Ok(dir)
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
    // Never a credential in a directory name: no userinfo, no query string or fragment.
    let redacted = crate::redact::redact(uri);
    let base = redacted.split(['?', '#']).next().unwrap_or("");
    let segs: Vec<&str> = base
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
    /// A cache rooted at `root` (created on first use), with default download bounds.
    pub fn new(root: PathBuf) -> Cache {
        Cache::with_limits(root, Limits::default())
    }

    /// A cache rooted at `root` with these download bounds.
    pub fn with_limits(root: PathBuf, limits: Limits) -> Cache {
        Cache { root, limits }
    }

    /// Refuses listings beyond the file-count or total-size bound, before any download.
    fn check_listing(&self, key_uri: &str, sources: &[Source<'_>]) -> Result<(), ResolveError> {
        let files: usize = sources.iter().map(|s| s.files().len()).sum();
        let bytes = sources
            .iter()
            .flat_map(|s| s.files())
            .filter_map(|f| f.size)
            .fold(0u64, u64::saturating_add);
        let (what, bytes_flag, files_flag) = self.limits.subject.words();
        if files > self.limits.max_files {
            return Err(ResolveError::Artifact {
                uri: key_uri.to_string(),
                message: format!(
                    "{what} lists {files} files, more than {files_flag} ({})",
                    self.limits.max_files
                ),
            });
        }
        if bytes > self.limits.max_bytes {
            return Err(ResolveError::Artifact {
                uri: key_uri.to_string(),
                message: format!(
                    "{what}'s files hold {bytes} bytes, more than {bytes_flag} ({})",
                    self.limits.max_bytes
                ),
            });
        }
        Ok(())
    }

    /// True when `entry` holds every listed file with its listed size (the last source
    /// wins for a name listed twice).
    fn entry_matches(entry: &Path, sources: &[Source<'_>]) -> bool {
        let mut want: std::collections::HashMap<String, Option<u64>> = Default::default();
        for f in sources.iter().flat_map(|s| s.files()) {
            want.insert(f.rel.clone(), f.size);
        }
        want.iter().all(|(rel, size)| {
            let Ok(rel) = safe_rel(rel) else {
                return false;
            };
            match std::fs::symlink_metadata(entry.join(rel)) {
                Ok(m) => m.is_file() && size.is_none_or(|s| s == m.len()),
                Err(_) => false,
            }
        })
    }

    /// The bounds on what a model may hold.
    pub fn limits(&self) -> Limits {
        self.limits
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
        self.check_listing(key_uri, sources)?;
        let entry = self.entry_dir(key_uri, sources);
        if entry.is_dir() {
            if Self::entry_matches(&entry, sources) {
                tracing::info!(uri = %crate::redact::redact(key_uri), cache = %entry.display(), "model found in the download cache");
                return Ok(entry);
            }
            tracing::warn!(cache = %entry.display(), "the cached model does not match its listing (files missing or of another size); downloading it again");
            let aside = entry.with_extension(format!("damaged-{}", std::process::id()));
            if std::fs::rename(&entry, &aside).is_ok() {
                let _ = std::fs::remove_dir_all(&aside);
            }
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
        // Held until this function returns: the partial is ours while the lock is.
        let lock = std::fs::File::create(tmp.path().join(LOCK))
            .map_err(io(format!("creating a lock in {}", tmp.path().display())))?;
        lock.try_lock()
            .map_err(|e| io(format!("locking {}", tmp.path().display()))(e.into()))?;
        let max_bytes = self.limits.max_bytes;
        let (_, bytes_flag, _) = self.limits.subject.words();
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
        let shown = crate::redact::redact(key_uri);
        if loud {
            eprintln!(
                "mlflow-serve: downloading {shown} ({:.1} MiB) into {}",
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
                        let listed = f.size;
                        remote
                            .download(f, &mut |chunk| {
                                got += chunk.len() as u64;
                                done += chunk.len() as u64;
                                if listed.is_some_and(|want| got > want) {
                                    return Err(std::io::Error::other(format!(
                                        "more bytes than the {} listed",
                                        listed.unwrap_or(0)
                                    )));
                                }
                                if done > max_bytes {
                                    return Err(std::io::Error::other(format!(
                                        "more than {bytes_flag} ({max_bytes}) in all"
                                    )));
                                }
                                if loud && last_report.elapsed() >= Duration::from_secs(2) {
                                    last_report = Instant::now();
                                    eprintln!(
                                        "mlflow-serve: downloading {shown}: {:.1}/{:.1} MiB",
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
                "mlflow-serve: downloaded {shown} ({:.1} MiB) in {:.1} s",
                done as f64 / 1048576.0,
                started.elapsed().as_secs_f64()
            );
        }
        let _ = std::fs::remove_file(tmp.path().join(LOCK));
        drop(lock);
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

    /// Removes partial downloads whose process is gone: their lock can be taken (a live
    /// download holds it, however slow it is). A partial without a lock file is one whose
    /// process died before it made one, or one that finished and is being renamed: it is
    /// left alone unless it is over an hour old.
    fn sweep_stale_partials(&self) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        for e in entries.flatten() {
            if !e.file_name().to_string_lossy().starts_with(".partial-") {
                continue;
            }
            let stale = match std::fs::File::open(e.path().join(LOCK)) {
                Ok(f) => f.try_lock().is_ok(),
                Err(_) => e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > Duration::from_secs(3600)),
            };
            if stale {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_a_cache_directory_name() {
        for uri in [
            "https://alice:pa/ss@host/a/model?sig=SECRET",
            "https://alice:pa)ss@host/models/m#token=SECRET",
            "https://host/a/model?X-Amz-Signature=SECRET&x=1",
        ] {
            let name = label(uri);
            assert!(
                !name.contains("SECRET") && !name.contains("alice") && !name.contains("ss"),
                "{uri} -> {name}"
            );
        }
        assert_eq!(label("s3://bucket/models/wine"), "models-wine");
    }

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
