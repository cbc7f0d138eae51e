//! The inference thread: waits for work (polling briefly first when the load is light),
//! takes a batch from the queue, runs it on its runtime session with panics contained, and
//! answers each request with its own rows; a failed merged call is retried request by
//! request so that only the faulty one fails.

use std::time::{Duration, Instant};

use runtime_api::{Runtime, RuntimeError, Tensor};

use super::merge::{merge_feeds, split_outputs, Named};
use super::queue::Next;
use super::{BatchEvent, Job, Observer, Shared};

pub(super) fn worker(
    mut rt: Box<dyn Runtime>,
    shared: &Shared,
    observer: Option<Observer>,
    idle_spin: Duration,
) {
    // However this thread ends, the pool stops counting it (readiness turns 503 at 0).
    struct Alive<'a>(&'a Shared);
    impl Drop for Alive<'_> {
        fn drop(&mut self) {
            self.0
                .workers
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let _alive = Alive(shared);
    loop {
        let (jobs, more) = {
            let Ok(mut state) = shared.state.lock() else {
                return;
            };
            let mut spun = false;
            let jobs = loop {
                let next = state.queue.next(Instant::now());
                shared
                    .queued
                    .store(state.queue.len(), std::sync::atomic::Ordering::Release);
                match next {
                    Next::Run(jobs) => break jobs,
                    Next::WaitUntil(at) => {
                        let wait = at.saturating_duration_since(Instant::now());
                        state.sleeping += 1;
                        state = match shared.wake.wait_timeout(state, wait) {
                            Ok((s, _)) => s,
                            Err(_) => return,
                        };
                        state.sleeping -= 1;
                    }
                    Next::Idle => {
                        if state.stopped {
                            return;
                        }
                        if !spun && !idle_spin.is_zero() && lightly_loaded(shared) {
                            spun = true;
                            drop(state);
                            poll_for_work(shared, idle_spin);
                            state = match shared.state.lock() {
                                Ok(s) => s,
                                Err(_) => return,
                            };
                            continue;
                        }
                        state.sleeping += 1;
                        state = match shared.wake.wait(state) {
                            Ok(s) => s,
                            Err(_) => return,
                        };
                        state.sleeping -= 1;
                    }
                }
            };
            (jobs, !state.queue.is_empty() && state.sleeping > 0)
        };
        // Others are queued too: let a sleeping worker look at them.
        if more {
            shared.wake.notify_one();
        }
        shared
            .busy
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        execute(rt.as_mut(), jobs, observer.as_ref(), shared);
        shared
            .busy
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// True when every request being handled could have a worker of its own.
pub(super) fn lightly_loaded(shared: &Shared) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    shared.active.load(Relaxed) <= shared.workers.load(Relaxed)
}

/// Polls the queue length for up to `budget` without taking the lock, yielding the CPU to
/// any other runnable thread between polls. A request that arrives meanwhile is picked up
/// without a futex wake-up, which on a virtual machine costs the request 20-80 µs once the
/// CPU has gone idle.
pub(super) fn poll_for_work(shared: &Shared, budget: Duration) {
    let until = Instant::now() + budget;
    let mut polls = 0u32;
    while shared.queued.load(std::sync::atomic::Ordering::Acquire) == 0
        && !shared.stopping.load(std::sync::atomic::Ordering::Acquire)
    {
        std::hint::spin_loop();
        polls = polls.wrapping_add(1);
        if polls.is_multiple_of(4) {
            if Instant::now() >= until {
                return;
            }
            std::thread::yield_now();
        }
    }
}

/// Runs `call`, turning a panic into [`RuntimeError::Panicked`] (counted) so that it fails
/// the requests of this call only; the worker goes on with its session, which the unwinding
/// Rust code left untouched (runtimes keep their state in the backend's own objects).
fn contained<T>(
    shared: &Shared,
    call: impl FnOnce() -> Result<T, RuntimeError>,
) -> Result<T, RuntimeError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(r) => r,
        Err(payload) => {
            shared
                .panics
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let what = match crate::panic_message(payload.as_ref()) {
                m if m.is_empty() => "unknown panic".to_string(),
                m => m,
            };
            tracing::error!(panic = %what, "a runtime call panicked; its requests get 500 and the worker goes on");
            Err(RuntimeError::Panicked(what))
        }
    }
}

fn run_one(rt: &mut dyn Runtime, job: Job, observer: Option<&Observer>, shared: &Shared) {
    let started = Instant::now();
    let rows = job.rows;
    let waited = started.saturating_duration_since(job.enqueued);
    let (feeds, params) = (job.feeds, job.params);
    let out = contained(shared, || rt.run_with_params(feeds, &params));
    if let Some(o) = observer {
        o(&BatchEvent {
            queue_waits: vec![waited],
            requests: 1,
            rows,
            compute: started.elapsed(),
        });
    }
    let _ = job.reply.send(out);
}

fn execute(rt: &mut dyn Runtime, mut jobs: Vec<Job>, observer: Option<&Observer>, shared: &Shared) {
    if jobs.len() == 1 {
        if let Some(job) = jobs.pop() {
            run_one(rt, job, observer, shared);
        }
        return;
    }
    let rows: Vec<usize> = jobs.iter().map(|j| j.rows).collect();
    let feeds: Vec<Named<Tensor>> = jobs
        .iter_mut()
        .map(|j| std::mem::take(&mut j.feeds))
        .collect();
    if let Some(merged) = merge_feeds(&feeds) {
        let started = Instant::now();
        let result = contained(shared, || rt.run(merged));
        if let Some(o) = observer {
            o(&BatchEvent {
                queue_waits: jobs
                    .iter()
                    .map(|j| started.saturating_duration_since(j.enqueued))
                    .collect(),
                requests: jobs.len(),
                rows: rows.iter().sum(),
                compute: started.elapsed(),
            });
        }
        match result.map(|out| split_outputs(out, &rows)) {
            Ok(Some(per)) => {
                for (job, out) in jobs.into_iter().zip(per) {
                    let _ = job.reply.send(Ok(out));
                }
                return;
            }
            Ok(None) => tracing::debug!("merged outputs not aligned with rows; running one by one"),
            Err(e) => tracing::debug!(error = %e, "merged call failed; running one by one"),
        }
    }
    // Isolation: run each request alone so only a faulty one fails.
    for (mut job, f) in jobs.into_iter().zip(feeds) {
        if job.reply.is_closed() {
            continue;
        }
        job.feeds = f;
        run_one(rt, job, observer, shared);
    }
}
