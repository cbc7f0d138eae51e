//! What the server serves right now: one loaded model version and the name/version clients
//! address it by, behind a slot that a version swap replaces atomically.
//!
//! A request takes the current version once, when it starts ([`ModelSlot::current`]), and
//! keeps it (an `Arc`) until its answer is written: it is parsed, enforced, queued, run and
//! serialized by that version alone, whatever is installed meanwhile. A swap
//! ([`ModelSlot::install`]) only changes what the next request takes; the old version lives on
//! until its last request lets go of it, and its worker threads stop when it is dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::pipeline::ServedModel;

/// One loaded, warmed-up model version.
pub struct ServedVersion {
    /// The model and its worker pool (its own queue: batches never mix versions).
    pub model: ServedModel,
    /// The name and registry version it answers as.
    pub identity: ModelIdentity,
}

impl ServedVersion {
    /// The registry version, if the model came from a registry.
    pub fn version(&self) -> Option<&str> {
        self.identity.version.as_deref()
    }
}

/// The slot holding the version being served (empty while the first one loads).
#[derive(Default)]
pub struct ModelSlot {
    current: RwLock<Option<Arc<ServedVersion>>>,
    /// Panicked runtime calls of versions already freed.
    retired_panics: AtomicU64,
    retired_restarts: AtomicU64,
}

impl ModelSlot {
    /// An empty slot.
    pub fn new() -> ModelSlot {
        ModelSlot::default()
    }

    /// The version new requests go to, if one is installed.
    pub fn current(&self) -> Option<Arc<ServedVersion>> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Installs `version` for every request that starts from now on, and hands back the one
    /// it replaces (still serving the requests that took it).
    pub fn install(&self, version: Arc<ServedVersion>) -> Option<Arc<ServedVersion>> {
        let mut g = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        g.replace(version)
    }

    /// Records a swapped-out version's last counts, just before it is freed.
    pub fn retired(&self, version: &ServedVersion) {
        self.retired_panics
            .fetch_add(version.model.panics(), Ordering::Relaxed);
        self.retired_restarts
            .fetch_add(version.model.worker_restarts(), Ordering::Relaxed);
    }

    /// Python worker processes restarted, over every version served since start.
    pub fn worker_restarts(&self) -> u64 {
        self.retired_restarts.load(Ordering::Relaxed)
            + self.current().map_or(0, |v| v.model.worker_restarts())
    }

    /// Runtime calls that panicked, over every version served since start (a swapped-out
    /// version's are added when it is freed).
    pub fn panics(&self) -> u64 {
        self.retired_panics.load(Ordering::Relaxed) + self.current().map_or(0, |v| v.model.panics())
    }
}

/// The name and version a served model is addressed by (Open Inference Protocol paths,
/// gRPC requests, KServe V1's `{name}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelIdentity {
    /// `--model-name`, else the registered model's name, else the model directory's name.
    pub name: String,
    /// The registry version, when the model came from one.
    pub version: Option<String>,
}

impl ModelIdentity {
    /// The identity of a model: an explicit name wins over the registry's, which wins over
    /// the directory's.
    pub fn new(
        explicit: Option<&str>,
        registered: Option<&str>,
        version: Option<&str>,
        dir: &std::path::Path,
    ) -> ModelIdentity {
        let name = explicit
            .filter(|n| !n.is_empty())
            .or(registered)
            .map(str::to_string)
            .unwrap_or_else(|| {
                dir.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "model".to_string())
            });
        ModelIdentity {
            name,
            version: version.map(str::to_string),
        }
    }

    /// Whether a V2 path's `{name}` and optional `{version}` address this model.
    pub fn matches(&self, name: &str, version: Option<&str>) -> bool {
        name == self.name && version.is_none_or(|v| self.version.as_deref() == Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn explicit_then_registered_then_directory() {
        let dir = Path::new("/opt/ml/model");
        assert_eq!(
            ModelIdentity::new(Some("svc"), Some("wine"), Some("3"), dir).name,
            "svc"
        );
        assert_eq!(
            ModelIdentity::new(None, Some("wine"), Some("3"), dir).name,
            "wine"
        );
        assert_eq!(ModelIdentity::new(None, None, None, dir).name, "model");
        assert_eq!(
            ModelIdentity::new(Some(""), None, None, Path::new("/x/wine_cols/")).name,
            "wine_cols"
        );
    }

    #[test]
    fn versions_must_match_when_asked() {
        let id = ModelIdentity::new(None, Some("wine"), Some("3"), Path::new("/m"));
        assert!(id.matches("wine", None));
        assert!(id.matches("wine", Some("3")));
        assert!(!id.matches("wine", Some("4")));
        assert!(!id.matches("other", None));
        let local = ModelIdentity::new(None, None, None, Path::new("/m/wine_cols"));
        assert!(local.matches("wine_cols", None));
        assert!(!local.matches("wine_cols", Some("1")));
    }
}
