//! One worker process's life: started (and restarted) by a supervisor thread, watched for a
//! call past its deadline and for resident memory past its limit, killed and reaped when it
//! fails. The inference thread borrows the process's pipes for one call at a time.

use std::io::{BufReader, BufWriter};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{Health, WorkerConfig};

/// A live process's pipes: lent to one call at a time.
pub(crate) struct Io {
    pub(crate) stdin: BufWriter<ChildStdin>,
    pub(crate) stdout: BufReader<ChildStdout>,
}

/// Why the supervisor killed a process.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cause {
    /// A call ran past the call timeout.
    Timeout(Duration),
    /// Resident memory passed the limit.
    Memory {
        /// What it held.
        rss: u64,
        /// The limit.
        limit: u64,
    },
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Timeout(t) => write!(
                f,
                "it ran past the timeout of {} s and was killed",
                t.as_secs_f64()
            ),
            Cause::Memory { rss, limit } => write!(
                f,
                "its resident memory ({} MiB) passed --worker-memory ({} MiB) and it was killed",
                rss >> 20,
                limit >> 20
            ),
        }
    }
}

#[derive(Default)]
pub(crate) struct State {
    child: Option<Child>,
    pub(crate) io: Option<Io>,
    pub(crate) deadline: Option<Instant>,
    killed: Option<Cause>,
    pub(crate) stopping: bool,
    pub(crate) failures: u32,
    pub(crate) last_error: Option<String>,
    pub(crate) hello: Option<serde_json::Value>,
}

/// What the inference thread and the supervisor thread share.
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) cv: Condvar,
    pub(crate) config: WorkerConfig,
    pub(crate) health: Arc<Health>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a call's pipes failed: the process is killed (if it still runs) and reaped, and
    /// the reason is told in words; the supervisor starts a replacement.
    pub(crate) fn lost(&self, what: &str) -> String {
        let mut st = self.lock();
        st.deadline = None;
        let cause = st.killed.take();
        let status = st.child.take().map(reap);
        self.health.live.fetch_sub(1, Ordering::Relaxed);
        self.health.restarts.fetch_add(1, Ordering::Relaxed);
        self.cv.notify_all();
        drop(st);
        let reason = match (cause, status) {
            (Some(c), _) => c.to_string(),
            (None, Some(s)) => format!("it exited ({s})"),
            (None, None) => "it was gone".to_string(),
        };
        tracing::error!(worker = %self.config.name, reason = %reason, detail = what, "a Python worker was lost during a call; restarting it");
        reason
    }
}

/// Kills (if needed) and waits for a process, so that no zombie is left.
fn reap(mut child: Child) -> String {
    if let Ok(Some(status)) = child.try_wait() {
        return describe(status);
    }
    let _ = child.kill();
    match child.wait() {
        Ok(status) => describe(status),
        Err(e) => format!("wait failed: {e}"),
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(9)) => "killed by signal 9 (SIGKILL)".to_string(),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => status.to_string(),
    }
}

/// Resident memory of `pid` in bytes (`VmRSS` of `/proc/<pid>/status`).
fn rss_of(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Restarts after failed starts wait 0.5 s, doubling up to 30 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << failures.saturating_sub(1).min(6)))
        .min(Duration::from_secs(30))
}

/// The supervisor thread: keeps one process alive until `stopping`.
pub(crate) fn supervise(shared: Arc<Shared>) {
    let cfg = &shared.config;
    loop {
        let mut st = shared.lock();
        if st.stopping {
            break;
        }
        if st.child.is_none() {
            if st.failures > 0 {
                let wait = backoff(st.failures);
                st = shared
                    .cv
                    .wait_timeout(st, wait)
                    .map(|(s, _)| s)
                    .unwrap_or_else(|p| p.into_inner().0);
                if st.stopping {
                    break;
                }
            }
            drop(st);
            let started = start(&shared);
            let mut st = shared.lock();
            match started {
                Ok((child, io, hello)) => {
                    st.child = Some(child);
                    st.io = Some(io);
                    st.hello = Some(hello);
                    st.failures = 0;
                    st.last_error = None;
                    shared.health.live.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(worker = %cfg.name, "Python worker ready");
                }
                Err(message) => {
                    st.failures += 1;
                    tracing::error!(worker = %cfg.name, failures = st.failures, error = %message, "a Python worker could not start");
                    st.last_error = Some(message);
                }
            }
            shared.cv.notify_all();
            continue;
        }
        let now = Instant::now();
        let pid = st.child.as_ref().map(|c| c.id());
        if st.killed.is_none() {
            let cause = match (st.deadline, cfg.call_timeout) {
                (Some(d), Some(t)) if now >= d => Some(Cause::Timeout(t)),
                _ => None,
            }
            .or_else(|| {
                let limit = cfg.memory_limit?;
                let rss = rss_of(pid?)?;
                (rss > limit).then_some(Cause::Memory { rss, limit })
            });
            if let Some(cause) = cause {
                if let Some(c) = st.child.as_mut() {
                    let _ = c.kill();
                }
                st.killed = Some(cause);
            }
        }
        // Dead while idle (killed for memory, or by anything else): replace it now.
        if st.io.is_some() {
            let exited = st
                .child
                .as_mut()
                .is_some_and(|c| !matches!(c.try_wait(), Ok(None)));
            if exited {
                st.io = None;
                let cause = st.killed.take();
                let status = st.child.take().map(reap).unwrap_or_default();
                shared.health.live.fetch_sub(1, Ordering::Relaxed);
                shared.health.restarts.fetch_add(1, Ordering::Relaxed);
                let reason = cause.map_or(format!("it exited ({status})"), |c| c.to_string());
                tracing::error!(worker = %cfg.name, reason = %reason, "an idle Python worker was lost; restarting it");
                continue;
            }
        }
        let mut wait = Duration::from_millis(if cfg.memory_limit.is_some() { 100 } else { 500 });
        if let Some(d) = st.deadline {
            wait = wait.min(d.saturating_duration_since(now) + Duration::from_millis(1));
        }
        drop(
            shared
                .cv
                .wait_timeout(st, wait)
                .unwrap_or_else(|p| p.into_inner()),
        );
    }
    // Stopping: close the pipes (the worker exits at end of input), give it a moment, kill.
    let (child, io) = {
        let mut st = shared.lock();
        (st.child.take(), st.io.take())
    };
    drop(io);
    if let Some(mut child) = child {
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        reap(child);
        shared.health.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Spawns a process and waits (bounded) for its hello.
fn start(shared: &Shared) -> Result<(Child, Io, serde_json::Value), String> {
    let cfg = &shared.config;
    let mut child = Command::new(&cfg.python)
        .arg(&cfg.script)
        .args(&cfg.args)
        .envs(cfg.env.iter().map(|(k, v)| (k, v)))
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", cfg.python.display()))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        reap(child);
        return Err("the worker's pipes could not be opened".into());
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let max = cfg.max_reply_bytes;
    let reader = std::thread::Builder::new()
        .name("python-hello".into())
        .spawn(move || {
            let mut stdout = BufReader::with_capacity(1 << 16, stdout);
            let hello = crate::wire::read_message(&mut stdout, max);
            let _ = tx.send((hello, stdout));
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    let until = Instant::now() + cfg.start_timeout;
    let got = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(got) => break Some(got),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break None,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if Instant::now() >= until || shared.lock().stopping {
                    break None;
                }
            }
        }
    };
    let Some((hello, stdout)) = got else {
        let _ = child.kill();
        let _ = reader.join();
        let status = reap(child);
        return Err(format!(
            "the worker did not load the model within {} s ({status})",
            cfg.start_timeout.as_secs()
        ));
    };
    let _ = reader.join();
    match hello {
        Ok((h, _)) if h.get("ok").and_then(|v| v.as_bool()) == Some(true) => Ok((
            child,
            Io {
                stdin: BufWriter::with_capacity(1 << 16, stdin),
                stdout,
            },
            h,
        )),
        Ok((h, _)) => {
            let message = match h.get("error") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => "the worker refused to start".into(),
            };
            reap(child);
            Err(message)
        }
        Err(e) => {
            let status = reap(child);
            Err(format!(
                "the worker exited ({status}) before loading the model ({e})"
            ))
        }
    }
}
