//! Graceful drain: readiness turns 503 at the signal, serving goes on for the drain delay.

use std::sync::Arc;
use std::time::Duration;

use super::state::AppState;

/// Resolves once `signal` fires and the drain delay has passed; readiness turns 503 at
/// the signal.
pub async fn drain_on(
    signal: impl std::future::Future<Output = ()>,
    app: Arc<AppState>,
    drain_delay: Duration,
) {
    signal.await;
    app.start_draining();
    tracing::info!(
        drain_delay_s = drain_delay.as_secs_f64(),
        "shutdown requested: readiness is now 503; still serving during the drain delay"
    );
    tokio::time::sleep(drain_delay).await;
}
