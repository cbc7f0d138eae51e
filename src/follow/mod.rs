//! Following a moving registry reference (`--follow`): when `models:/name@alias`,
//! `models:/name/<stage>` or `models:/name/latest` comes to name another version, that
//! version is downloaded, loaded and warmed up beside the one serving, then swapped in
//! atomically ([`crate::served::ModelSlot`]); requests that already took the old version
//! finish on it, and it is freed when the last one lets go.
//!
//! When to look: every `--follow-interval` (±10% jitter, so that a fleet does not poll in
//! step; 0 turns polling off), at once on a verified MLflow webhook ([`webhook`]) or on `SIGHUP`. Hints coalesce:
//! at most one check runs and one waits. A version that fails at any stage (resolve,
//! download, load, warm-up) never replaces the served one: it is logged, counted, and tried
//! again after a backoff (5 s doubling to 5 min; a `SIGHUP` retries at once). At most two
//! versions are held at once: a new candidate is only loaded once the previous old version
//! has been freed.

pub mod webhook;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::pipeline::{warm_up, LoadOptions, ServedModel, WarmUp};
use crate::resolve::{Context, MovingReference, ResolveError, ResolveOptions};
use crate::served::ModelIdentity;
use crate::served::{ModelSlot, ServedVersion};

/// Why the registry is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The polling interval passed.
    Poll,
    /// A failed version's backoff passed.
    Retry,
    /// A verified registry webhook arrived.
    Webhook,
    /// `SIGHUP`.
    Signal,
}

impl Trigger {
    fn label(self) -> &'static str {
        match self {
            Trigger::Poll => "poll",
            Trigger::Retry => "retry",
            Trigger::Webhook => "webhook",
            Trigger::Signal => "signal",
        }
    }
}

/// Asks the follower to look at the registry now (coalescing: while one request waits,
/// more are dropped).
#[derive(Clone)]
pub struct Hints(mpsc::Sender<Trigger>);

impl Hints {
    /// Asks for a check now.
    pub fn hint(&self, trigger: Trigger) {
        let _ = self.0.try_send(trigger);
    }
}

/// A stage of bringing in a new version, for logs and the failure counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Asking the registry what the reference names.
    Resolve,
    /// Fetching the version's files.
    Download,
    /// Loading the model and starting its sessions.
    Load,
    /// Scoring its serving input example.
    Warmup,
}

impl Stage {
    /// The label of `mlflow_serve_model_swap_failures_total`.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Resolve => "resolve",
            Stage::Download => "download",
            Stage::Load => "load",
            Stage::Warmup => "warmup",
        }
    }
}

/// How to follow.
#[derive(Clone)]
pub struct FollowOptions {
    /// Time between polls (before jitter).
    pub interval: Duration,
    /// Store access and download limits, as at start-up.
    pub resolve: ResolveOptions,
    /// How versions are loaded, as at start-up.
    pub load: LoadOptions,
    /// `--model-name`, if given (wins over the registered name for V2 clients).
    pub model_name: Option<String>,
    /// The model URI as `mlflow_serve_build_info` shows it (credentials removed).
    pub uri_label: String,
    /// The largest serving input example read for the warm-up.
    pub max_example_bytes: usize,
    /// The directory of the version served at start-up.
    pub initial_dir: PathBuf,
}

const BACKOFF_FIRST: Duration = Duration::from_secs(5);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// A version that failed, and when to try it again.
struct Failed {
    version: String,
    attempts: u32,
    next_try: Instant,
}

/// The follower task's state.
pub struct Follower {
    reference: MovingReference,
    slot: Arc<ModelSlot>,
    metrics: Arc<Metrics>,
    opts: FollowOptions,
    hints: mpsc::Receiver<Trigger>,
    failed: Option<Failed>,
    /// Waits until the last swapped-out version is freed.
    retiring: Option<tokio::task::JoinHandle<()>>,
    /// The directories of the versions served, oldest first: the current and the previous
    /// one are kept, older download-cache entries are removed (a follower that swaps every
    /// day would otherwise fill the disk).
    served_dirs: std::collections::VecDeque<PathBuf>,
}

impl Follower {
    /// A follower of `reference` swapping into `slot`, and the handle that hints it.
    pub fn new(
        reference: MovingReference,
        slot: Arc<ModelSlot>,
        metrics: Arc<Metrics>,
        opts: FollowOptions,
    ) -> (Follower, Hints) {
        let (tx, rx) = mpsc::channel(1);
        let served_dirs = std::collections::VecDeque::from([opts.initial_dir.clone()]);
        (
            Follower {
                served_dirs,
                reference,
                slot,
                metrics,
                opts,
                hints: rx,
                failed: None,
                retiring: None,
            },
            Hints(tx),
        )
    }

    /// Follows until the process ends.
    pub async fn run(mut self) {
        tracing::info!(
            model = %self.reference.name(),
            interval_s = self.opts.interval.as_secs_f64(),
            "following the registry reference"
        );
        // `--follow-interval 0`: no polling, only webhooks and SIGHUP.
        let polling = !self.opts.interval.is_zero();
        let next = |interval| {
            Instant::now()
                + if polling {
                    jittered(interval)
                } else {
                    Duration::from_secs(365 * 86_400)
                }
        };
        let mut next_poll = next(self.opts.interval);
        loop {
            let retry_at = self.failed.as_ref().map(|f| f.next_try);
            let wake = retry_at.map_or(next_poll, |r| r.min(next_poll));
            let trigger = tokio::select! {
                _ = tokio::time::sleep_until(wake.into()) => {
                    if Instant::now() >= next_poll { Trigger::Poll } else { Trigger::Retry }
                }
                hint = self.hints.recv() => match hint {
                    Some(t) => t,
                    None => return,
                },
            };
            if trigger == Trigger::Poll {
                next_poll = next(self.opts.interval);
            }
            let outcome = self.check(trigger).await;
            self.metrics
                .registry_checks
                .with_label_values(&[trigger.label(), outcome])
                .inc();
        }
    }

    /// Looks at the registry once and swaps if the reference names another version.
    async fn check(&mut self, trigger: Trigger) -> &'static str {
        let ctx = Context::from_env(&self.opts.resolve);
        let serving = self
            .slot
            .current()
            .and_then(|v| v.version().map(str::to_string));
        let from = serving.clone().unwrap_or_else(|| "none".into());
        let version = match self.reference.current_version(&ctx).await {
            Ok(v) => v,
            Err(e) => {
                let message = crate::redact::redact(&e.to_string());
                if matches!(e, ResolveError::NotFound(_)) {
                    tracing::warn!(model = %self.reference.name(), serving = %crate::redact::loggable(&from.to_string()), error = %crate::redact::loggable(&message.to_string()), "the followed reference names no version now (alias or stage removed?); keeping the served version");
                } else {
                    tracing::warn!(model = %self.reference.name(), serving = %crate::redact::loggable(&from.to_string()), error = %crate::redact::loggable(&message.to_string()), "cannot read the registry; keeping the served version");
                }
                self.metrics
                    .swap_failures
                    .with_label_values(&[Stage::Resolve.label()])
                    .inc();
                return "failed";
            }
        };
        if serving.as_deref() == Some(version.as_str()) {
            if self.failed.take().is_some() {
                tracing::info!(version = %crate::redact::loggable(&version.to_string()), "the reference is back on the served version");
            }
            return "unchanged";
        }
        if let Some(f) = &self.failed {
            if f.version == version && Instant::now() < f.next_try && trigger != Trigger::Signal {
                tracing::debug!(version = %crate::redact::loggable(&version.to_string()), "new version failed before; waiting for its backoff");
                return "backoff";
            }
        }
        // At most two versions at once: the previous old one must be gone first.
        if let Some(r) = self.retiring.take() {
            let _ = r.await;
        }
        tracing::info!(model = %self.reference.name(), from = %crate::redact::loggable(&from.to_string()), to = %crate::redact::loggable(&version.to_string()), trigger = trigger.label(), "the reference names a new version: loading it beside the served one");
        let started = Instant::now();
        match self.bring_in(&version, &ctx).await {
            Ok((new, dir)) => {
                self.served_dirs.push_back(dir);
                self.evict_old_downloads(ctx.cache.root());
                let took = started.elapsed();
                let old = self.slot.install(Arc::new(new));
                self.failed = None;
                self.metrics.swaps.inc();
                self.metrics.swap_seconds.observe(took.as_secs_f64());
                self.metrics.set_build_info(
                    &self.opts.uri_label,
                    Some(self.reference.name()),
                    Some(&version),
                );
                tracing::info!(model = %self.reference.name(), from = %crate::redact::loggable(&from.to_string()), to = %crate::redact::loggable(&version.to_string()), swap_ms = took.as_millis() as u64, "swapped: new requests go to the new version; requests in flight finish on the old one");
                if let Some(old) = old {
                    self.retiring = Some(tokio::spawn(retire(old, self.slot.clone())));
                }
                "changed"
            }
            Err((stage, message)) => {
                let attempts = match &self.failed {
                    Some(f) if f.version == version => f.attempts + 1,
                    _ => 1,
                };
                let backoff = backoff(attempts);
                tracing::error!(model = %self.reference.name(), version = %crate::redact::loggable(&version.to_string()), stage = stage.label(), error = %crate::redact::loggable(&message.to_string()), attempts, retry_in_s = backoff.as_secs(), "the new version cannot be served; keeping the served version");
                self.metrics
                    .swap_failures
                    .with_label_values(&[stage.label()])
                    .inc();
                self.failed = Some(Failed {
                    version,
                    attempts,
                    next_try: Instant::now() + backoff,
                });
                "failed"
            }
        }
    }

    /// Removes the download-cache entries of versions older than the previous one (never a
    /// directory outside the cache, such as a local artifact store, nor one a kept version
    /// uses; the version before the previous was freed before the new one was loaded).
    fn evict_old_downloads(&mut self, cache_root: &Path) {
        while self.served_dirs.len() > 2 {
            let Some(old) = self.served_dirs.pop_front() else {
                break;
            };
            let in_cache = old.parent() == Some(cache_root)
                && old
                    .file_name()
                    .is_some_and(|n| !n.to_string_lossy().starts_with('.'));
            if !in_cache || self.served_dirs.contains(&old) {
                continue;
            }
            match std::fs::remove_dir_all(&old) {
                Ok(()) => {
                    tracing::info!(dir = %old.display(), "removed the download of a version no longer served")
                }
                Err(e) => {
                    tracing::warn!(dir = %old.display(), error = %e, "cannot remove the download of a version no longer served")
                }
            }
        }
    }

    /// Downloads, loads and warms up `version`; answers it with its directory.
    async fn bring_in(
        &self,
        version: &str,
        ctx: &Context,
    ) -> Result<(ServedVersion, PathBuf), (Stage, String)> {
        let resolved = self
            .reference
            .fetch(version, ctx)
            .await
            .map_err(|e| (Stage::Download, crate::redact::redact(&e.to_string())))?;
        let identity = ModelIdentity::new(
            self.opts.model_name.as_deref(),
            resolved.name.as_deref(),
            resolved.version.as_deref(),
            &resolved.dir,
        );
        let load = self.opts.load.clone();
        let max_example = self.opts.max_example_bytes;
        let dir = resolved.dir.clone();
        let join = |e: tokio::task::JoinError| format!("the loading task failed: {e}");
        let model = tokio::task::spawn_blocking(move || ServedModel::load(&dir, &load))
            .await
            .map_err(|e| (Stage::Load, join(e)))?
            .map_err(|e| (Stage::Load, crate::redact::redact(&e.to_string())))?;
        let (model, warmed) = tokio::task::spawn_blocking(move || {
            let warmed = warm_up(&model, max_example);
            (model, warmed)
        })
        .await
        .map_err(|e| (Stage::Warmup, join(e)))?;
        match warmed {
            Ok(WarmUp::Scored) => {}
            Ok(WarmUp::NoExample) => {
                tracing::info!(version = %crate::redact::loggable(version), "the new version has no serving input example: swapped in without a warm-up")
            }
            Err(e) => return Err((Stage::Warmup, e)),
        }
        Ok((ServedVersion { model, identity }, resolved.dir))
    }
}

/// Waits until no request holds `old`, then frees it (its worker threads stop) off the
/// async workers.
async fn retire(old: Arc<ServedVersion>, slot: Arc<ModelSlot>) {
    let version = old.version().unwrap_or_default().to_string();
    let since = Instant::now();
    while Arc::strong_count(&old) > 1 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    slot.retired(&old);
    let _ = tokio::task::spawn_blocking(move || drop(old)).await;
    tracing::info!(version = %crate::redact::loggable(&version.to_string()), after_ms = since.elapsed().as_millis() as u64, "the previous version finished its last request and was freed");
}

/// 5 s, 10 s, 20 s, … up to 5 min.
fn backoff(attempts: u32) -> Duration {
    BACKOFF_FIRST
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(16))
        .min(BACKOFF_MAX)
}

/// `interval` ±10%, from the process's random hasher keys (no shared seed across a fleet).
fn jittered(interval: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    let unit = (h.finish() % 10_001) as f64 / 10_000.0; // 0 ..= 1
    interval.mul_f64(0.9 + 0.2 * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(2), Duration::from_secs(10));
        assert_eq!(backoff(4), Duration::from_secs(40));
        assert_eq!(backoff(7), Duration::from_secs(300));
        assert_eq!(backoff(100), Duration::from_secs(300));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let base = Duration::from_secs(30);
        let seen: Vec<Duration> = (0..200).map(|_| jittered(base)).collect();
        assert!(seen
            .iter()
            .all(|d| *d >= Duration::from_secs(27) && *d <= Duration::from_secs(33)));
        // Not constant: a fleet started together spreads out.
        assert!(seen.iter().any(|d| *d != seen[0]));
    }
}
