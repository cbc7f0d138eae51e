//! The batching queue as a pure state machine: no threads, no clock of its own, no model.
//! Workers ask it what to do at a given instant; it answers with a batch to run, a time to
//! wait until, or nothing to do.
//!
//! Rules: requests leave in arrival order; a batch takes queued requests while their rows fit
//! in `max_rows` (a single request larger than that runs alone); requests whose client is gone
//! are dropped without running; with `max_delay == 0` a batch is whatever is queued when a
//! worker is free, otherwise the oldest request waits at most `max_delay` for company.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A queued item that may be abandoned by its client (timeout, disconnect).
pub trait Abandonable {
    /// True when nobody waits for the result any more.
    fn abandoned(&self) -> bool;
}

struct Entry<T> {
    rows: usize,
    /// Whether it may share a runtime call with others.
    batchable: bool,
    enqueued: Instant,
    item: T,
}

/// What a free worker should do now.
#[derive(Debug)]
pub enum Next<T> {
    /// Run these items in one runtime call (one item: run it alone).
    Run(Vec<T>),
    /// Nothing is due before this instant (the oldest item's delay budget).
    WaitUntil(Instant),
    /// The queue is empty.
    Idle,
}

/// The queue is at capacity; the item is handed back.
#[derive(Debug)]
pub struct Full<T>(pub T);

/// Bounded FIFO of requests with a batching policy.
pub struct BatchQueue<T> {
    entries: VecDeque<Entry<T>>,
    capacity: usize,
    max_rows: usize,
    max_delay: Duration,
    dropped: u64,
}

impl<T: Abandonable> BatchQueue<T> {
    /// A queue holding at most `capacity` requests, merging up to `max_rows` rows per call
    /// (`max_rows <= 1` disables merging), waiting at most `max_delay` for more.
    pub fn new(capacity: usize, max_rows: usize, max_delay: Duration) -> Self {
        BatchQueue {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            max_rows,
            max_delay,
            dropped: 0,
        }
    }

    /// Requests waiting (abandoned ones included until a worker sweeps them).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Abandoned requests dropped so far without running.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Queues an item of `rows` rows; `batchable` says whether it may share a call.
    pub fn push(
        &mut self,
        item: T,
        rows: usize,
        batchable: bool,
        now: Instant,
    ) -> Result<(), Full<T>> {
        if self.entries.len() >= self.capacity {
            self.sweep();
            if self.entries.len() >= self.capacity {
                return Err(Full(item));
            }
        }
        self.entries.push_back(Entry {
            rows,
            batchable,
            enqueued: now,
            item,
        });
        Ok(())
    }

    fn sweep(&mut self) {
        let before = self.entries.len();
        self.entries.retain(|e| !e.item.abandoned());
        self.dropped += (before - self.entries.len()) as u64;
    }

    /// Decides what a free worker does at `now`.
    pub fn next(&mut self, now: Instant) -> Next<T> {
        self.sweep();
        let Some(first) = self.entries.front() else {
            return Next::Idle;
        };
        if !first.batchable || self.max_rows <= 1 || first.rows >= self.max_rows {
            let e = self.entries.pop_front().map(|e| e.item);
            return Next::Run(e.into_iter().collect());
        }
        // How many leading batchable entries fit in max_rows.
        let mut rows = 0;
        let mut take = 0;
        let mut blocked = false; // the next entry exists but cannot join
        for e in &self.entries {
            if !e.batchable || rows + e.rows > self.max_rows {
                blocked = true;
                break;
            }
            rows += e.rows;
            take += 1;
        }
        let oldest = first.enqueued;
        let due = self.max_delay.is_zero()
            || blocked
            || rows >= self.max_rows
            || now.saturating_duration_since(oldest) >= self.max_delay;
        if !due {
            return Next::WaitUntil(oldest + self.max_delay);
        }
        Next::Run(self.entries.drain(..take).map(|e| e.item).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[derive(Debug)]
    struct Req {
        id: u32,
        gone: Rc<Cell<bool>>,
    }
    impl Abandonable for Req {
        fn abandoned(&self) -> bool {
            self.gone.get()
        }
    }
    fn req(id: u32) -> Req {
        Req {
            id,
            gone: Rc::new(Cell::new(false)),
        }
    }
    fn ids(n: Next<Req>) -> Vec<u32> {
        match n {
            Next::Run(v) => v.into_iter().map(|r| r.id).collect(),
            other => panic!("expected a batch, got {other:?}"),
        }
    }

    #[test]
    fn merges_queued_requests_up_to_the_row_budget_in_order() {
        let t = Instant::now();
        let mut q = BatchQueue::new(100, 10, Duration::ZERO);
        for (i, rows) in [(1, 3), (2, 3), (3, 3), (4, 3)] {
            q.push(req(i), rows, true, t).unwrap();
        }
        assert_eq!(ids(q.next(t)), vec![1, 2, 3]); // 9 rows; the 4th would make 12
        assert_eq!(ids(q.next(t)), vec![4]);
        assert!(matches!(q.next(t), Next::Idle));
    }

    #[test]
    fn an_oversized_request_runs_alone_and_unbatchable_ones_never_merge() {
        let t = Instant::now();
        let mut q = BatchQueue::new(100, 10, Duration::ZERO);
        q.push(req(1), 50, true, t).unwrap();
        q.push(req(2), 1, true, t).unwrap();
        q.push(req(3), 1, false, t).unwrap();
        q.push(req(4), 1, true, t).unwrap();
        assert_eq!(ids(q.next(t)), vec![1]);
        assert_eq!(ids(q.next(t)), vec![2]); // stops before the unbatchable one
        assert_eq!(ids(q.next(t)), vec![3]);
        assert_eq!(ids(q.next(t)), vec![4]);
    }

    #[test]
    fn delay_waits_for_company_until_the_budget_or_a_full_batch() {
        let t = Instant::now();
        let d = Duration::from_millis(5);
        let mut q = BatchQueue::new(100, 4, d);
        q.push(req(1), 1, true, t).unwrap();
        match q.next(t) {
            Next::WaitUntil(at) => assert_eq!(at, t + d),
            other => panic!("{other:?}"),
        }
        q.push(req(2), 1, true, t + Duration::from_millis(1))
            .unwrap();
        assert!(matches!(
            q.next(t + Duration::from_millis(2)),
            Next::WaitUntil(_)
        ));
        assert_eq!(ids(q.next(t + d)), vec![1, 2]); // budget spent
                                                    // A full batch goes at once.
        for i in 3..7 {
            q.push(req(i), 1, true, t + d).unwrap();
        }
        assert_eq!(ids(q.next(t + d)), vec![3, 4, 5, 6]);
    }

    #[test]
    fn abandoned_requests_are_dropped_without_running() {
        let t = Instant::now();
        let mut q = BatchQueue::new(100, 10, Duration::ZERO);
        let a = req(1);
        let gone = a.gone.clone();
        q.push(a, 1, true, t).unwrap();
        q.push(req(2), 1, true, t).unwrap();
        gone.set(true);
        assert_eq!(ids(q.next(t)), vec![2]);
        assert_eq!(q.dropped(), 1);
    }

    #[test]
    fn capacity_is_bounded_but_abandoned_entries_make_room() {
        let t = Instant::now();
        let mut q = BatchQueue::new(2, 10, Duration::ZERO);
        let a = req(1);
        let gone = a.gone.clone();
        q.push(a, 1, true, t).unwrap();
        q.push(req(2), 1, true, t).unwrap();
        assert!(q.push(req(3), 1, true, t).is_err());
        gone.set(true);
        assert!(q.push(req(4), 1, true, t).is_ok());
        assert_eq!(ids(q.next(t)), vec![2, 4]);
    }

    #[test]
    fn batching_disabled_runs_one_by_one() {
        let t = Instant::now();
        let mut q = BatchQueue::new(10, 1, Duration::ZERO);
        q.push(req(1), 1, true, t).unwrap();
        q.push(req(2), 1, true, t).unwrap();
        assert_eq!(ids(q.next(t)), vec![1]);
        assert_eq!(ids(q.next(t)), vec![2]);
    }
}
