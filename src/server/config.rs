//! The server's settings, as the command line gives them.

use std::time::Duration;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Request timeout (`-t`).
    pub timeout: Duration,
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// How long requests are still served after a shutdown signal, readiness already 503.
    pub drain_delay: Duration,
    /// How long in-flight requests may take to finish once the listener is closed.
    pub graceful_timeout: Duration,
    /// How long a connection may wait idle for its next request, or take to send its
    /// headers, before it is closed (hyper's header-read timer runs from the moment the
    /// connection is ready for a request head, so it covers both).
    pub keep_alive_timeout: Duration,
    /// Total bytes of request bodies held at once (503 + `Retry-After` past it).
    pub max_inflight_bytes: usize,
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Connections kept beyond `max_connections` for health probes only.
    pub probe_connections: usize,
    /// Bodies at least this large are parsed on the blocking parse pool.
    pub blocking_parse_bytes: usize,
    /// Large bodies parsed at once.
    pub parse_threads: usize,
    /// HTTP/2 streams (gRPC calls) one gRPC connection may have open at once.
    pub grpc_max_streams: u32,
}
