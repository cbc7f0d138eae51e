//! Python worker processes behind the [`Runtime`] trait.
//!
//! Each [`PythonRuntime`] owns one worker process running a program its caller gives (the
//! flavor that needs Python ships it; this crate knows processes and tensors, not what the
//! program does with them). A supervisor thread per process starts it, waits (bounded) for
//! its hello, restarts it when it dies, kills it when a call runs past the call timeout or
//! its resident memory passes the limit, and reaps every process it started, so no zombie is
//! left. The worker speaks the framed protocol of [`wire`] on its stdin and stdout: frames
//! cross as Arrow IPC record batches, other tensors and every answer as raw buffers.
//!
//! A failure that costs the process (death, hang, memory, a broken message) fails the call
//! in flight with [`RuntimeError::WorkerLost`]; the replacement starts at once. [`Health`]
//! counts live processes and restarts for readiness and metrics.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod arrow_table;
mod supervisor;
pub mod wire;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use runtime_api::{IoSpec, OutputValue, Param, Runtime, RuntimeError, Tensor};

use supervisor::{Shared, State};

/// How to start and bound one worker process.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The Python interpreter.
    pub python: PathBuf,
    /// The worker program.
    pub script: PathBuf,
    /// Arguments after the program.
    pub args: Vec<OsString>,
    /// Extra environment.
    pub env: Vec<(OsString, OsString)>,
    /// How long loading may take before the process is killed.
    pub start_timeout: Duration,
    /// How long one call may take before the process is killed (`None`: no bound).
    pub call_timeout: Option<Duration>,
    /// Resident memory (bytes) past which the process is killed and restarted.
    pub memory_limit: Option<u64>,
    /// The largest answer body read.
    pub max_reply_bytes: u64,
    /// A name for logs (`python worker 1`).
    pub name: String,
}

/// Live processes and restarts of a pool of workers (shared by its runtimes).
#[derive(Debug, Default)]
pub struct Health {
    live: AtomicUsize,
    restarts: AtomicU64,
}

impl Health {
    /// Processes ready or in a call.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Processes lost (died, killed for a hang or for memory) since start.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }
}

/// One supervised worker process as a [`Runtime`].
pub struct PythonRuntime {
    shared: Arc<Shared>,
    supervisor: Option<std::thread::JoinHandle<()>>,
    inputs: Vec<IoSpec>,
    outputs: Vec<IoSpec>,
}

impl PythonRuntime {
    /// Starts the supervisor, which starts the process (see [`PythonRuntime::wait_ready`]).
    pub fn start(config: WorkerConfig, health: Arc<Health>) -> Result<PythonRuntime, RuntimeError> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
            config,
            health,
        });
        let s = shared.clone();
        let supervisor = std::thread::Builder::new()
            .name(format!("{}-supervisor", shared.config.name))
            .spawn(move || supervisor::supervise(s))
            .map_err(|e| RuntimeError::Load(format!("cannot start a thread: {e}")))?;
        Ok(PythonRuntime {
            shared,
            supervisor: Some(supervisor),
            inputs: Vec::new(),
            outputs: Vec::new(),
        })
    }

    /// Waits for the first start to end: the worker's hello, or why it could not start.
    pub fn wait_ready(&self) -> Result<serde_json::Value, RuntimeError> {
        let mut st = self.shared.lock();
        loop {
            if let Some(h) = &st.hello {
                return Ok(h.clone());
            }
            if let Some(e) = &st.last_error {
                return Err(RuntimeError::Load(e.clone()));
            }
            st = self.shared.cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Borrows the live process's pipes, waiting (at most the start timeout) for one being
    /// started; none when the last start failed.
    fn take_io(&self) -> Result<supervisor::Io, RuntimeError> {
        let until = Instant::now() + self.shared.config.start_timeout;
        let mut st = self.shared.lock();
        loop {
            if let Some(io) = st.io.take() {
                st.deadline = self.shared.config.call_timeout.map(|t| Instant::now() + t);
                self.shared.cv.notify_all();
                return Ok(io);
            }
            let now = Instant::now();
            // A replacement that failed to start fails calls at once (the supervisor keeps
            // trying, with backoff); one still starting is waited for.
            if now >= until || st.stopping || st.failures > 0 {
                let why = st
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "it is still starting".into());
                return Err(RuntimeError::WorkerLost(format!(
                    "no Python worker is ready: {why}"
                )));
            }
            st = self
                .shared
                .cv
                .wait_timeout(st, until - now)
                .map(|(s, _)| s)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

impl Drop for PythonRuntime {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.cv.notify_all();
        if let Some(h) = self.supervisor.take() {
            let _ = h.join();
        }
    }
}

fn param_json(p: &Param) -> serde_json::Value {
    match p {
        Param::None => serde_json::Value::Null,
        Param::Bool(b) => (*b).into(),
        Param::Int(i) => (*i).into(),
        Param::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            // JSON has no NaN: the worker reads this spelling back as a float.
            .unwrap_or_else(|| serde_json::json!({ "float": f.to_string() })),
        Param::Str(s) => s.clone().into(),
        Param::List(v) => v.iter().map(param_json).collect(),
    }
}

impl Runtime for PythonRuntime {
    fn inputs(&self) -> &[IoSpec] {
        &self.inputs
    }

    fn outputs(&self) -> &[IoSpec] {
        &self.outputs
    }

    fn run(
        &mut self,
        feeds: Vec<(String, Tensor)>,
    ) -> Result<Vec<(String, OutputValue)>, RuntimeError> {
        self.run_with_params(feeds, &[])
    }

    fn run_with_params(
        &mut self,
        feeds: Vec<(String, Tensor)>,
        params: &[(String, Param)],
    ) -> Result<Vec<(String, OutputValue)>, RuntimeError> {
        let params: serde_json::Map<String, serde_json::Value> = params
            .iter()
            .map(|(k, v)| (k.clone(), param_json(v)))
            .collect();
        let (header, body) = wire::encode_request(feeds, params.into())
            .map_err(|e| RuntimeError::Input(e.to_string()))?;
        let mut io = self.take_io()?;
        let max = self.shared.config.max_reply_bytes;
        let reply = wire::write_message(&mut io.stdin, &header, &body)
            .map_err(wire::WireError::from)
            .and_then(|()| wire::read_message(&mut io.stdout, max));
        let (header, body) = match reply {
            Ok(r) => r,
            Err(e) => {
                drop(io);
                let reason = self.shared.lost(&e.to_string());
                return Err(RuntimeError::WorkerLost(format!(
                    "The Python worker serving this request was lost: {reason}. It is being restarted."
                )));
            }
        };
        {
            let mut st = self.shared.lock();
            st.deadline = None;
            st.io = Some(io);
        }
        if header.get("ok").and_then(|v| v.as_bool()) != Some(true) {
            let error = header.get("error").cloned().unwrap_or_default();
            return Err(RuntimeError::Run(error.to_string()));
        }
        let entries: Vec<wire::Entry> = serde_json::from_value(
            header.get("outputs").cloned().unwrap_or_default(),
        )
        .map_err(|e| RuntimeError::Run(format!("malformed outputs from the worker: {e}")))?;
        let outputs =
            wire::decode_outputs(entries, &body).map_err(|e| RuntimeError::Run(e.to_string()))?;
        Ok(outputs
            .into_iter()
            .map(|(n, t)| (n, OutputValue::Tensor(t)))
            .collect())
    }
}
