//! The seam between async request handling and inference: a bounded queue drained by
//! dedicated OS threads, one runtime session each (ort's `Session::run` takes `&mut self`).
//! Tokio workers never run a model.
//!
//! Dynamic batching: requests of a batchable model (decided at load) that wait together are
//! merged into one runtime call of at most `max_rows` rows ([`queue`] decides, [`merge`]
//! concatenates and splits, `worker` runs them). If a merged call fails, its requests run again one by one so
//! only the faulty one fails. Requests whose client has gone (timeout, disconnect) are
//! dropped from the queue without running.

pub mod merge;
pub mod queue;
mod worker;

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use runtime_api::{OutputValue, Param, Runtime, RuntimeError, Tensor};
use tokio::sync::oneshot;

use merge::{rows_of, Named};
use queue::{Abandonable, BatchQueue};

type Reply = oneshot::Sender<Result<Named<OutputValue>, RuntimeError>>;

/// One inference request.
struct Job {
    feeds: Named<Tensor>,
    /// Inference params (requests with params never share a call).
    params: Vec<(String, Param)>,
    rows: usize,
    enqueued: Instant,
    reply: Reply,
}

impl Abandonable for Job {
    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }
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

/// Queueing and batching settings.
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// Requests that may wait before new ones get 503.
    pub capacity: usize,
    /// Rows per merged runtime call (`<= 1` disables merging).
    pub max_rows: usize,
    /// How long the oldest waiting request may wait for others (0: take what is queued).
    pub max_delay: Duration,
    /// How long an idle worker keeps polling the queue before it sleeps (0: sleep at once).
    pub idle_spin: Duration,
}

/// What one runtime call covered (for metrics and logs).
#[derive(Debug, Clone)]
pub struct BatchEvent {
    /// How long each request of the call waited in the queue.
    pub queue_waits: Vec<Duration>,
    /// Requests in the call.
    pub requests: usize,
    /// Rows in the call.
    pub rows: usize,
    /// Time spent in the runtime.
    pub compute: Duration,
}

/// Called after every runtime call.
pub type Observer = Arc<dyn Fn(&BatchEvent) + Send + Sync>;

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Workers inside a runtime call.
    busy: std::sync::atomic::AtomicUsize,
    /// Requests queued (mirrors the queue's length for lock-free polling).
    queued: std::sync::atomic::AtomicUsize,
    /// Requests admitted and not yet answered (see [`WorkerPool::admit`]).
    active: std::sync::atomic::AtomicUsize,
    /// Worker threads running.
    workers: std::sync::atomic::AtomicUsize,
    /// Set when the pool shuts down, so polling workers stop at once.
    stopping: std::sync::atomic::AtomicBool,
    /// Runtime calls that panicked (each answered its requests with an error).
    panics: std::sync::atomic::AtomicU64,
}

impl Shared {
    fn new(config: &BatchConfig) -> Shared {
        Shared {
            state: Mutex::new(State {
                queue: BatchQueue::new(config.capacity, config.max_rows, config.max_delay),
                stopped: false,
                sleeping: 0,
            }),
            wake: Condvar::new(),
            busy: std::sync::atomic::AtomicUsize::new(0),
            queued: std::sync::atomic::AtomicUsize::new(0),
            active: std::sync::atomic::AtomicUsize::new(0),
            workers: std::sync::atomic::AtomicUsize::new(0),
            stopping: std::sync::atomic::AtomicBool::new(false),
            panics: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

struct State {
    queue: BatchQueue<Job>,
    stopped: bool,
    /// Workers blocked on the condition variable: a wake-up is a syscall, so it is only
    /// made when somebody sleeps.
    sleeping: usize,
}

/// A pool of runtime threads fed by a bounded batching queue.
pub struct WorkerPool {
    shared: Arc<Shared>,
    capacity: usize,
    batchable: bool,
    threads: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    /// Starts one thread per runtime. `batchable` says whether the model's calls may be merged.
    pub fn start(
        runtimes: Vec<Box<dyn Runtime>>,
        config: BatchConfig,
        batchable: bool,
        observer: Option<Observer>,
    ) -> WorkerPool {
        let shared = Arc::new(Shared::new(&config));
        let threads = runtimes
            .into_iter()
            .enumerate()
            .filter_map(|(i, rt)| {
                let shared = shared.clone();
                let observer = observer.clone();
                std::thread::Builder::new()
                    .name(format!("inference-{i}"))
                    .spawn(move || worker::worker(rt, &shared, observer, config.idle_spin))
                    .map_err(|e| tracing::error!(error = %e, "cannot start an inference thread"))
                    .ok()
            })
            .collect::<Vec<_>>();
        shared
            .workers
            .store(threads.len(), std::sync::atomic::Ordering::Relaxed);
        WorkerPool {
            shared,
            capacity: config.capacity,
            batchable,
            threads,
        }
    }

    /// Marks a request as being handled until the guard drops, from parsing to answer. An
    /// idle worker only polls for work while no more requests are being handled than there
    /// are workers: beyond that, the CPUs are better spent preparing them.
    pub fn admit(&self) -> Admission<'_> {
        self.shared
            .active
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Admission(&self.shared)
    }

    /// Workers inside a runtime call.
    pub fn busy_workers(&self) -> usize {
        self.shared.busy.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runtime calls that panicked since start.
    pub fn panics(&self) -> u64 {
        self.shared
            .panics
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Inference threads still running (readiness turns 503 at 0).
    pub fn live_workers(&self) -> usize {
        self.shared
            .workers
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Requests waiting for a worker.
    pub fn queue_depth(&self) -> usize {
        self.shared.state.lock().map(|s| s.queue.len()).unwrap_or(0)
    }

    fn submit(
        &self,
        feeds: Named<Tensor>,
        params: Vec<(String, Param)>,
    ) -> Result<oneshot::Receiver<Result<Named<OutputValue>, RuntimeError>>, PoolError> {
        let (reply, rx) = oneshot::channel();
        let rows = rows_of(&feeds).filter(|_| params.is_empty());
        let job = Job {
            rows: rows.unwrap_or(0),
            feeds,
            params,
            enqueued: Instant::now(),
            reply,
        };
        let batchable = self.batchable && rows.is_some();
        let mut state = self.shared.state.lock().map_err(|_| PoolError::Stopped)?;
        if state.stopped || self.live_workers() == 0 {
            return Err(PoolError::Stopped);
        }
        let rows = job.rows;
        state
            .queue
            .push(job, rows, batchable, Instant::now())
            .map_err(|_| PoolError::QueueFull(self.capacity))?;
        let sleeping = state.sleeping > 0;
        self.shared
            .queued
            .store(state.queue.len(), std::sync::atomic::Ordering::Release);
        drop(state);
        if sleeping {
            self.shared.wake.notify_one();
        }
        Ok(rx)
    }

    /// Queues a request and waits for its outputs without blocking the async worker.
    /// Dropping the returned future abandons the request: it will not run.
    pub async fn run(&self, feeds: Named<Tensor>) -> Result<Named<OutputValue>, PoolError> {
        self.run_with_params(feeds, Vec::new()).await
    }

    /// [`WorkerPool::run`] with inference params for the runtime.
    pub async fn run_with_params(
        &self,
        feeds: Named<Tensor>,
        params: Vec<(String, Param)>,
    ) -> Result<Named<OutputValue>, PoolError> {
        let rx = self.submit(feeds, params)?;
        Ok(rx.await.map_err(|_| PoolError::Stopped)??)
    }

    /// Runs a request synchronously from a non-async thread (start-up warm-up).
    pub fn run_blocking(
        &self,
        feeds: Named<Tensor>,
        params: Vec<(String, Param)>,
    ) -> Result<Named<OutputValue>, PoolError> {
        let rx = self.submit(feeds, params)?;
        Ok(rx.blocking_recv().map_err(|_| PoolError::Stopped)??)
    }
}

/// A request being handled (see [`WorkerPool::admit`]).
pub struct Admission<'a>(&'a Shared);

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0
            .active
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.shared
            .stopping
            .store(true, std::sync::atomic::Ordering::Release);
        if let Ok(mut s) = self.shared.state.lock() {
            s.stopped = true;
        }
        self.shared.wake.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::worker::{lightly_loaded, poll_for_work};
    use super::*;
    use runtime_api::{IoKind, IoSpec, TensorData};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A stand-in runtime for the engine's own logic: doubles `x` row by row, refuses any
    /// negative value, panics on NaN (a faulty backend), and holds its first call until released so that later requests queue up.
    struct Doubler {
        io: Vec<IoSpec>,
        gate: Option<std::sync::mpsc::Receiver<()>>,
        calls: Arc<AtomicUsize>,
        entered: Arc<AtomicUsize>,
    }

    impl Runtime for Doubler {
        fn inputs(&self) -> &[IoSpec] {
            &self.io
        }
        fn outputs(&self) -> &[IoSpec] {
            &self.io
        }
        fn run(&mut self, feeds: Named<Tensor>) -> Result<Named<OutputValue>, RuntimeError> {
            self.entered.fetch_add(1, Ordering::SeqCst);
            if let Some(g) = self.gate.take() {
                let _ = g.recv();
            }
            self.calls.fetch_add(1, Ordering::SeqCst);
            let (_, t) = &feeds[0];
            let TensorData::F32(v) = &t.data else {
                return Err(RuntimeError::Input("f32 expected".into()));
            };
            if v.iter().any(|x| *x < 0.0) {
                return Err(RuntimeError::Run("negative input".into()));
            }
            if v.iter().any(|x| x.is_nan()) {
                panic!("NaN reached the runtime");
            }
            let out = Tensor::new(
                t.shape.clone(),
                TensorData::F32(v.iter().map(|x| x * 2.0).collect()),
            )?;
            Ok(vec![("y".into(), OutputValue::Tensor(out))])
        }
    }

    thread_local! {
        static ENTERED: Arc<AtomicUsize> = Arc::new(AtomicUsize::new(0));
    }

    /// Waits until the runtime has started its first (held) call.
    async fn first_call_started() {
        let e = ENTERED.with(|e| e.clone());
        while e.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
    }

    fn rows(v: &[f32]) -> Named<Tensor> {
        vec![(
            "x".into(),
            Tensor::new(vec![v.len(), 1], TensorData::F32(v.to_vec())).unwrap(),
        )]
    }

    fn values(out: &Named<OutputValue>) -> Vec<f32> {
        match &out[0].1 {
            OutputValue::Tensor(Tensor {
                data: TensorData::F32(v),
                ..
            }) => v.clone(),
            other => panic!("{other:?}"),
        }
    }

    /// The pool, the gate that releases the first call, the call count, the batch events.
    type Harness = (
        WorkerPool,
        std::sync::mpsc::Sender<()>,
        Arc<AtomicUsize>,
        Arc<Mutex<Vec<BatchEvent>>>,
    );

    /// One float input with a variable first dimension: a batchable model.
    fn batch_input() -> Vec<IoSpec> {
        vec![IoSpec {
            name: "x".into(),
            kind: IoKind::Tensor {
                dtype: None,
                shape: vec![-1, 1],
                type_string: "tensor(float)".into(),
            },
        }]
    }

    fn pool(max_rows: usize) -> Harness {
        let (open, gate) = std::sync::mpsc::channel();
        let calls = Arc::new(AtomicUsize::new(0));
        let io = batch_input();
        let events: Arc<Mutex<Vec<BatchEvent>>> = Arc::default();
        let ev = events.clone();
        let observer: Observer = Arc::new(move |e: &BatchEvent| ev.lock().unwrap().push(e.clone()));
        let rt = Doubler {
            io,
            gate: Some(gate),
            calls: calls.clone(),
            entered: ENTERED.with(|e| e.clone()),
        };
        let cfg = BatchConfig {
            capacity: 16,
            max_rows,
            max_delay: Duration::ZERO,
            idle_spin: Duration::ZERO,
        };
        (
            WorkerPool::start(vec![Box::new(rt)], cfg, true, Some(observer)),
            open,
            calls,
            events,
        )
    }

    fn config(idle_spin: Duration) -> BatchConfig {
        BatchConfig {
            capacity: 16,
            max_rows: 64,
            max_delay: Duration::ZERO,
            idle_spin,
        }
    }

    #[test]
    fn polling_ends_when_work_arrives_or_the_budget_is_spent() {
        let shared = Shared::new(&config(Duration::ZERO));
        let t = Instant::now();
        poll_for_work(&shared, Duration::from_millis(3));
        assert!(t.elapsed() >= Duration::from_millis(3), "returned early");
        shared.queued.store(1, Ordering::Release);
        let t = Instant::now();
        poll_for_work(&shared, Duration::from_secs(60));
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "missed the queued request"
        );
        shared.queued.store(0, Ordering::Release);
        shared.stopping.store(true, Ordering::Release);
        let t = Instant::now();
        poll_for_work(&shared, Duration::from_secs(60));
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "kept polling at shutdown"
        );
    }

    #[test]
    fn workers_poll_only_while_requests_do_not_outnumber_them() {
        let (pool, _open, _calls, _events) = pool(64);
        assert!(lightly_loaded(&pool.shared), "idle");
        let first = pool.admit();
        assert!(lightly_loaded(&pool.shared), "one request, one worker");
        let second = pool.admit();
        assert!(!lightly_loaded(&pool.shared), "two requests, one worker");
        drop(first);
        assert!(lightly_loaded(&pool.shared));
        drop(second);
        assert_eq!(pool.shared.active.load(Ordering::Relaxed), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_polling_worker_answers_every_request_and_stops_promptly() {
        let io = batch_input();
        let rt = Doubler {
            io,
            gate: None,
            calls: Arc::default(),
            entered: Arc::default(),
        };
        // A long budget: every request after the first arrives while the worker polls.
        let pool = WorkerPool::start(
            vec![Box::new(rt)],
            config(Duration::from_secs(30)),
            true,
            None,
        );
        for i in 0..50 {
            let _handling = pool.admit();
            let out = pool.run(rows(&[i as f32])).await.unwrap();
            assert_eq!(values(&out), vec![2.0 * i as f32]);
        }
        let t = Instant::now();
        drop(pool);
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "shutdown waited for the poll budget"
        );
    }

    type Pending = tokio::task::JoinHandle<Result<Named<OutputValue>, PoolError>>;

    fn submit(pool: &Arc<WorkerPool>, v: &[f32]) -> Pending {
        let (p, feeds) = (pool.clone(), rows(v));
        tokio::spawn(async move { p.run(feeds).await })
    }

    /// Starts a first request that the runtime holds, then queues `queued` behind it.
    async fn queue_behind_first(
        pool: &Arc<WorkerPool>,
        queued: &[&[f32]],
    ) -> (Pending, Vec<Pending>) {
        let first = submit(pool, &[0.5]);
        first_call_started().await;
        let rest: Vec<_> = queued.iter().map(|v| submit(pool, v)).collect();
        while pool.queue_depth() < queued.len() {
            tokio::task::yield_now().await;
        }
        (first, rest)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_requests_merge_and_each_gets_its_own_rows() {
        let (pool, open, calls, events) = pool(64);
        let pool = Arc::new(pool);
        // The worker holds the first call; these three queue up and must be merged.
        let (first, rest) =
            queue_behind_first(&pool, &[&[1.0, 2.0], &[3.0], &[4.0, 5.0, 6.0]]).await;
        open.send(()).unwrap();
        assert_eq!(values(&first.await.unwrap().unwrap()), vec![1.0]);
        let got: Vec<Vec<f32>> = futures_util::future::join_all(rest)
            .await
            .into_iter()
            .map(|r| values(&r.unwrap().unwrap()))
            .collect();
        assert_eq!(got, vec![vec![2.0, 4.0], vec![6.0], vec![8.0, 10.0, 12.0]]);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "the three queued requests ran as one call"
        );
        let ev = events.lock().unwrap();
        assert_eq!((ev[1].requests, ev[1].rows), (3, 6));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_merged_call_is_retried_one_by_one_so_only_the_faulty_request_fails() {
        let (pool, open, _calls, _) = pool(64);
        let pool = Arc::new(pool);
        let (first, rest) = queue_behind_first(&pool, &[&[1.0], &[-1.0], &[3.0]]).await;
        open.send(()).unwrap();
        first.await.unwrap().unwrap();
        let got: Vec<_> = futures_util::future::join_all(rest)
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(values(got[0].as_ref().unwrap()), vec![2.0]);
        assert!(
            matches!(&got[1], Err(PoolError::Runtime(RuntimeError::Run(m))) if m == "negative input")
        );
        assert_eq!(values(got[2].as_ref().unwrap()), vec![6.0]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn abandoned_requests_never_reach_the_runtime() {
        let (pool, open, calls, _) = pool(1);
        let pool = Arc::new(pool);
        let (first, mut queued) = queue_behind_first(&pool, &[&[1.0]]).await;
        // A client that gives up (the HTTP timeout drops the future).
        let gone = queued.remove(0);
        gone.abort();
        let _ = gone.await;
        open.send(()).unwrap();
        first.await.unwrap().unwrap();
        assert_eq!(values(&pool.run(rows(&[2.0])).await.unwrap()), vec![4.0]);
        assert_eq!(calls.load(Ordering::SeqCst), 2, "the abandoned request ran");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_call_fails_only_its_requests_and_the_worker_goes_on() {
        let (pool, open, _calls, _) = pool(64);
        let pool = Arc::new(pool);
        let (first, rest) = queue_behind_first(&pool, &[&[1.0], &[f32::NAN], &[3.0]]).await;
        open.send(()).unwrap();
        first.await.unwrap().unwrap();
        let got: Vec<_> = futures_util::future::join_all(rest)
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(values(got[0].as_ref().unwrap()), vec![2.0]);
        assert!(
            matches!(&got[1], Err(PoolError::Runtime(RuntimeError::Panicked(m))) if m.contains("NaN")),
            "{:?}",
            got[1]
        );
        assert_eq!(values(got[2].as_ref().unwrap()), vec![6.0]);
        // The merged call and the faulty request's own call both panicked.
        assert_eq!(pool.panics(), 2);
        assert_eq!(pool.live_workers(), 1);
        // A lone panicking request, then the worker still answers.
        assert!(matches!(
            pool.run(rows(&[f32::NAN])).await,
            Err(PoolError::Runtime(RuntimeError::Panicked(_)))
        ));
        assert_eq!(values(&pool.run(rows(&[5.0])).await.unwrap()), vec![10.0]);
        assert_eq!(pool.panics(), 3);
    }
}
