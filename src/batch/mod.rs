//! The seam between async request handling and inference: a bounded job queue drained by
//! dedicated OS threads, one runtime session each (ort's `Session::run` takes `&mut self`).
//! Tokio workers never run a model. Dynamic batching (issue 5) plugs in here.

use std::thread::JoinHandle;

use crossbeam_channel::{Sender, TrySendError};
use runtime_api::{OutputValue, Runtime, RuntimeError, Tensor};
use tokio::sync::oneshot;

/// One inference call.
struct Job {
    feeds: Vec<(String, Tensor)>,
    reply: oneshot::Sender<Result<Vec<(String, OutputValue)>, RuntimeError>>,
}

/// Why a job did not run.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The queue is full: shed load (503).
    #[error("the inference queue is full ({0} requests waiting); retry later")]
    QueueFull(usize),
    /// The workers are gone (shutdown).
    #[error("the inference workers have stopped")]
    Stopped,
    /// The runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// A pool of runtime threads fed by a bounded queue.
pub struct WorkerPool {
    tx: Option<Sender<Job>>,
    capacity: usize,
    threads: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    /// Starts one thread per runtime; at most `queue_capacity` jobs wait.
    pub fn start(runtimes: Vec<Box<dyn Runtime>>, queue_capacity: usize) -> WorkerPool {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(queue_capacity);
        let threads = runtimes
            .into_iter()
            .enumerate()
            .map(|(i, mut rt)| {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("inference-{i}"))
                    .spawn(move || {
                        for job in rx {
                            if job.reply.is_closed() {
                                continue; // the client went away or timed out: skip the work
                            }
                            let out = rt.run(job.feeds);
                            let _ = job.reply.send(out);
                        }
                    })
                    .expect("spawning an inference thread at start-up")
            })
            .collect();
        WorkerPool {
            tx: Some(tx),
            capacity: queue_capacity,
            threads,
        }
    }

    /// Queues a job and waits for its outputs without blocking the async worker.
    pub async fn run(
        &self,
        feeds: Vec<(String, Tensor)>,
    ) -> Result<Vec<(String, OutputValue)>, PoolError> {
        let (reply, rx) = oneshot::channel();
        let tx = self.tx.as_ref().ok_or(PoolError::Stopped)?;
        match tx.try_send(Job { feeds, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(PoolError::QueueFull(self.capacity)),
            Err(TrySendError::Disconnected(_)) => return Err(PoolError::Stopped),
        }
        Ok(rx.await.map_err(|_| PoolError::Stopped)??)
    }

    /// Runs a job synchronously from a non-async thread (start-up warm-up).
    pub fn run_blocking(
        &self,
        feeds: Vec<(String, Tensor)>,
    ) -> Result<Vec<(String, OutputValue)>, PoolError> {
        let (reply, rx) = oneshot::channel();
        let tx = self.tx.as_ref().ok_or(PoolError::Stopped)?;
        tx.send(Job { feeds, reply })
            .map_err(|_| PoolError::Stopped)?;
        Ok(rx.blocking_recv().map_err(|_| PoolError::Stopped)??)
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.tx.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
