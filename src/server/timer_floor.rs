//! A timer that is always due soon, so that per-request timers never wake the runtime.
//!
//! Tokio's time driver wakes itself (an eventfd `write`, then an `epoll_wait` that returns
//! at once) whenever a timer is set earlier than the driver's next planned wake-up, even
//! when it is set from a thread that is running, not parked. hyper re-arms its header timer
//! (`--keep-alive-timeout`) for every request and each request sets its `-t` timeout; when
//! no other timer is due sooner, that was about 0.6 `write` and 0.3 extra `epoll_wait` per
//! request on the V2 binary path (`perf trace -s`). A timer that fires every `period` (at most
//! half the shortest per-request timer) keeps the planned wake-up nearer than any of them.

use std::time::Duration;

/// Ticks every `period` until dropped.
pub async fn keep_near(period: Duration) {
    let mut ticks = tokio::time::interval(period.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
    }
}

/// The period for a runtime whose shortest per-request timer is `shortest`: half of it, at
/// most one second (one wake-up a second when idle).
pub fn period(shortest: Duration) -> Duration {
    (shortest / 2).min(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_is_half_the_shortest_timer_and_at_most_a_second() {
        assert_eq!(period(Duration::from_secs(5)), Duration::from_secs(1));
        assert_eq!(
            period(Duration::from_millis(500)),
            Duration::from_millis(250)
        );
    }
}
