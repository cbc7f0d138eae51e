//! Admission before work: what the server agrees to hold at once. Connections are limited
//! by one semaphore for the whole process, taken right after `accept` (each listener holds
//! at most one accepted connection waiting for a slot; more wait in the kernel's queue),
//! with a small reserve beyond it that serves health probes only, so that idle connections
//! holding every slot cannot make a liveness probe fail; request bodies
//! count against one global byte budget from their first byte to their answer, and a body
//! that would pass it is refused at once (503 + `Retry-After`) instead of being buffered.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ServeError;

/// Waits for a connection, then for a connection slot for it. Accepting first means a slot
/// is only ever held by a connection: the listeners of one process share one set of slots
/// (`--max-connections` for the process), and a listener waiting for its next connection
/// holds none, so an idle listener cannot starve the others. While every slot is taken, each
/// listener holds at most the one connection it accepted; the rest wait in the kernel's
/// queue.
pub async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> std::io::Result<(TcpStream, OwnedSemaphorePermit)> {
    let (stream, _) = listener.accept().await?;
    let permit = slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| std::io::Error::other("connection slots closed"))?;
    Ok((stream, permit))
}

/// The slot a connection holds: one of `--max-connections`, or, once those are all taken,
/// one of the few `--probe-connections` kept for health probes (which then serve probes
/// only, close after one request and wait a short time for it).
#[derive(Debug)]
pub enum Slot {
    /// An ordinary connection.
    Regular(OwnedSemaphorePermit),
    /// A connection taken from the probe reserve.
    Probe(OwnedSemaphorePermit),
}

impl Slot {
    /// True for a connection of the probe reserve.
    pub fn is_probe(&self) -> bool {
        matches!(self, Slot::Probe(_))
    }
}

/// Waits for a connection, then for a slot for it (as [`accept`]): an ordinary one, else
/// one of the probe reserve, whichever frees first (an ordinary one when both are free).
pub async fn accept_slot(
    listener: &TcpListener,
    regular: &Arc<Semaphore>,
    probes: &Arc<Semaphore>,
) -> std::io::Result<(TcpStream, Slot)> {
    let closed = |_| std::io::Error::other("connection slots closed");
    let (stream, _) = listener.accept().await?;
    let slot = match regular.clone().try_acquire_owned() {
        Ok(p) => Slot::Regular(p),
        Err(_) => tokio::select! {
            biased;
            p = regular.clone().acquire_owned() => Slot::Regular(p.map_err(closed)?),
            p = probes.clone().acquire_owned() => Slot::Probe(p.map_err(closed)?),
        },
    };
    Ok((stream, slot))
}

/// The global budget of request-body bytes held at once.
#[derive(Clone, Debug)]
pub struct BodyBudget {
    held: Arc<Held>,
    limit: usize,
}

#[derive(Debug)]
struct Held {
    bytes: AtomicUsize,
    gauge: Option<prometheus::IntGauge>,
}

impl Held {
    fn publish(&self, now: usize) {
        if let Some(g) = &self.gauge {
            g.set(now as i64);
        }
    }
}

/// Bytes of one request held against the [`BodyBudget`]; given back on drop.
#[derive(Debug)]
pub struct Reservation {
    held: Arc<Held>,
    bytes: usize,
}

impl BodyBudget {
    /// A budget of `limit` bytes, published on `gauge` when given.
    pub fn new(limit: usize, gauge: Option<prometheus::IntGauge>) -> BodyBudget {
        BodyBudget {
            held: Arc::new(Held {
                bytes: AtomicUsize::new(0),
                gauge,
            }),
            limit,
        }
    }

    /// Bytes held now.
    pub fn held(&self) -> usize {
        self.held.bytes.load(Ordering::Relaxed)
    }

    /// An empty reservation.
    pub fn reservation(&self) -> Reservation {
        Reservation {
            held: self.held.clone(),
            bytes: 0,
        }
    }

    /// Adds `more` bytes to `r`, or refuses when the budget would be passed.
    pub fn grow(&self, r: &mut Reservation, more: usize) -> Result<(), ServeError> {
        let mut now = self.held.bytes.load(Ordering::Relaxed);
        loop {
            let next = now.saturating_add(more);
            if next > self.limit {
                return Err(ServeError::Busy {
                    held: now,
                    limit: self.limit,
                });
            }
            match self.held.bytes.compare_exchange_weak(
                now,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.held.publish(next);
                    r.bytes += more;
                    return Ok(());
                }
                Err(actual) => now = actual,
            }
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let before = self.held.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
        self.held.publish(before - self.bytes);
    }
}

/// Reads a body of at most `limit` bytes (413 beyond it, at once when `Content-Length` says
/// so), holding its bytes against `budget` as they arrive (503 when the budget is full).
pub async fn read_body(
    mut body: Incoming,
    limit: usize,
    budget: &BodyBudget,
) -> Result<(Bytes, Reservation), ServeError> {
    let declared = body.size_hint().exact();
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ServeError::BodyTooLarge(limit));
    }
    let mut held = budget.reservation();
    let declared = declared.map_or(0, |n| n as usize);
    budget.grow(&mut held, declared)?;
    // The common case is one frame: kept as it is, no copy. More frames are gathered.
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ServeError::BodyRead(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        total += data.len();
        if total > limit {
            return Err(ServeError::BodyTooLarge(limit));
        }
        if total > held.bytes {
            let more = total - held.bytes;
            budget.grow(&mut held, more)?;
        }
        match first.take() {
            None if buf.is_empty() => first = Some(data),
            None => buf.extend_from_slice(&data),
            Some(f) => {
                buf.reserve(declared.max(total));
                buf.extend_from_slice(&f);
                buf.extend_from_slice(&data);
            }
        }
    }
    let body = match first {
        Some(f) => f,
        None => buf.freeze(),
    };
    Ok((body, held))
}

/// Increments a gauge now and decrements it when dropped, whatever path the request takes.
pub struct GaugeGuard(prometheus::IntGauge);

impl GaugeGuard {
    /// Increments `gauge` until the guard drops.
    pub fn inc(gauge: &prometheus::IntGauge) -> GaugeGuard {
        gauge.inc();
        GaugeGuard(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_past_its_limit_and_frees_on_drop() {
        let b = BodyBudget::new(100, None);
        let mut r1 = b.reservation();
        b.grow(&mut r1, 60).unwrap();
        let mut r2 = b.reservation();
        assert!(matches!(
            b.grow(&mut r2, 50),
            Err(ServeError::Busy {
                held: 60,
                limit: 100
            })
        ));
        b.grow(&mut r2, 40).unwrap();
        assert_eq!(b.held(), 100);
        drop(r1);
        assert_eq!(b.held(), 40);
        drop(r2);
        assert_eq!(b.held(), 0);
    }
}
