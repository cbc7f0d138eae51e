//! HTTP client for a tracking server: MLflow's auth and TLS env vars, retries with backoff for
//! transient failures, and an overall deadline.

use std::time::{Duration, Instant};

use super::ResolveError;

/// The point in time by which resolution must be done.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    total: Duration,
}

impl Deadline {
    /// A deadline `total` from now.
    pub fn after(total: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + total,
            total,
        }
    }

    /// Time left (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// The budget this deadline was made with.
    pub fn total(&self) -> Duration {
        self.total
    }
}

/// Credentials and TLS settings of the tracking server (MLflow's env vars).
#[derive(Debug, Clone, Default)]
pub struct ServerAuth {
    /// `MLFLOW_TRACKING_TOKEN`: a bearer token.
    pub token: Option<String>,
    /// `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`: basic auth.
    pub basic: Option<(String, String)>,
    /// `MLFLOW_TRACKING_INSECURE_TLS=true`: skip certificate checks.
    pub insecure_tls: bool,
    /// `MLFLOW_TRACKING_SERVER_CERT_PATH`: a CA bundle to trust.
    pub ca_cert_path: Option<String>,
    /// `MLFLOW_HTTP_REQUEST_TIMEOUT`: seconds per request (default 120).
    pub request_timeout: Duration,
}

impl ServerAuth {
    /// Reads MLflow's env vars.
    pub fn from_env() -> ServerAuth {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let truthy = |k: &str| var(k).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        ServerAuth {
            token: var("MLFLOW_TRACKING_TOKEN"),
            basic: var("MLFLOW_TRACKING_USERNAME")
                .map(|u| (u, var("MLFLOW_TRACKING_PASSWORD").unwrap_or_default())),
            insecure_tls: truthy("MLFLOW_TRACKING_INSECURE_TLS"),
            ca_cert_path: var("MLFLOW_TRACKING_SERVER_CERT_PATH"),
            request_timeout: Duration::from_secs(
                var("MLFLOW_HTTP_REQUEST_TIMEOUT")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(120),
            ),
        }
    }
}

/// A JSON or byte answer from the server.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: bytes::Bytes,
}

/// An HTTP client bound to one server's base URL, its auth and a deadline.
#[derive(Clone)]
pub struct ServerClient {
    http: reqwest::Client,
    base: String,
    auth: ServerAuth,
    deadline: Deadline,
}

/// Installs ring as rustls' process-wide crypto provider, which reqwest and object_store
/// build their TLS configurations from (built without aws-lc-rs, they have no default of
/// their own). Idempotent; called before any HTTP client is made.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err only when a provider is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl ServerClient {
    /// A client for `base` (e.g. `http://host:5000/prefix`).
    pub fn new(base: &str, auth: ServerAuth, deadline: Deadline) -> Result<Self, ResolveError> {
        install_crypto_provider();
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Credentials go with every request: follow redirects only within the server's
            // own origin, so they never reach another host.
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let same = attempt.previous().first().is_some_and(|first| {
                    first.scheme() == attempt.url().scheme()
                        && first.host_str() == attempt.url().host_str()
                        && first.port_or_known_default() == attempt.url().port_or_known_default()
                });
                if same && attempt.previous().len() < 10 {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .user_agent(concat!("mlflow-serve/", env!("CARGO_PKG_VERSION")));
        if auth.insecure_tls {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        if let Some(path) = &auth.ca_cert_path {
            let pem = std::fs::read(path).map_err(|e| {
                ResolveError::Config(format!(
                    "cannot read MLFLOW_TRACKING_SERVER_CERT_PATH {path}: {e}"
                ))
            })?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                ResolveError::Config(format!("MLFLOW_TRACKING_SERVER_CERT_PATH {path}: {e}"))
            })? {
                b = b.add_root_certificate(cert);
            }
        }
        let http = b
            .build()
            .map_err(|e| ResolveError::Config(format!("cannot build an HTTP client: {e}")))?;
        Ok(ServerClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            auth,
            deadline,
        })
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// GET `<base><path>` with query parameters.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Reply, ResolveError> {
        let url = format!("{}{}", self.base, path);
        self.send(&url, |c| c.get(&url).query(query)).await
    }

    /// POST `<base><path>` with a JSON body.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Reply, ResolveError> {
        let url = format!("{}{}", self.base, path);
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.send(&url, |c| {
            c.post(&url)
                .header("Content-Type", "application/json")
                .body(bytes.clone())
        })
        .await
    }

    /// GET a URL and stream its body into `sink` (for artifact downloads).
    pub async fn download(
        &self,
        url: &str,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(), ResolveError> {
        let mut resp = self.send_retrying(url, |c| c.get(url)).await?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let body = read_bounded(resp, MAX_ERROR_BODY).await.unwrap_or_default();
            return Err(http_error(url, status, &body));
        }
        loop {
            let chunk = tokio::time::timeout(self.per_request(), resp.chunk())
                .await
                .map_err(|_| ResolveError::Unreachable {
                    url: url.to_string(),
                    message: "download stalled".into(),
                })?;
            match chunk {
                Ok(Some(c)) => sink(&c).map_err(|e| ResolveError::Io {
                    what: "writing a downloaded artifact".into(),
                    message: e.to_string(),
                })?,
                Ok(None) => return Ok(()),
                Err(e) => {
                    return Err(ResolveError::Unreachable {
                        url: url.to_string(),
                        message: super::cause_chain(&e).0,
                    })
                }
            }
        }
    }

    fn per_request(&self) -> Duration {
        self.auth
            .request_timeout
            .min(self.deadline.remaining())
            .max(Duration::from_millis(50))
    }

    fn authed(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let rb = rb.timeout(self.per_request());
        if let Some(t) = &self.auth.token {
            rb.bearer_auth(t)
        } else if let Some((u, p)) = &self.auth.basic {
            rb.basic_auth(u, Some(p))
        } else {
            rb
        }
    }

    /// Waits before the next attempt; false when the deadline leaves no room for one.
    async fn backoff(&self, attempt: &mut u32) -> bool {
        let remaining = self.deadline.remaining();
        if remaining <= Duration::from_millis(150) {
            return false;
        }
        // Back off exponentially, but keep a last attempt inside the deadline.
        let wait = Duration::from_millis(200u64 << (*attempt).min(5))
            .min(Duration::from_secs(5))
            .min(remaining - Duration::from_millis(100));
        *attempt += 1;
        tracing::debug!(
            attempt = *attempt,
            wait_ms = wait.as_millis() as u64,
            "retrying"
        );
        tokio::time::sleep(wait).await;
        true
    }

    async fn send(
        &self,
        url: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Reply, ResolveError> {
        let resp = self.send_retrying(url, build).await?;
        let status = resp.status().as_u16();
        let body = read_bounded(resp, MAX_REPLY_BYTES)
            .await
            .map_err(|message| ResolveError::Unreachable {
                url: url.to_string(),
                message,
            })?;
        Ok(Reply { status, body })
    }

    /// Sends until the answer is not transient (connection errors, 429, 5xx are retried with
    /// backoff inside the deadline; certificate errors are not).
    async fn send_retrying(
        &self,
        url: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ResolveError> {
        let mut attempt = 0u32;
        loop {
            match self.authed(build(&self.http)).send().await {
                Ok(resp) if is_transient_status(resp.status().as_u16()) => {
                    if self.backoff(&mut attempt).await {
                        continue;
                    }
                    let status = resp.status().as_u16();
                    let body = read_bounded(resp, MAX_ERROR_BODY).await.unwrap_or_default();
                    return Err(http_error(url, status, &body));
                }
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    if let Some(tls) = tls_failure(url, &e) {
                        return Err(tls);
                    }
                    if self.backoff(&mut attempt).await {
                        continue;
                    }
                    return Err(ResolveError::Unreachable {
                        url: url.to_string(),
                        message: super::cause_chain(&e).0,
                    });
                }
            }
        }
    }
}

/// The largest reply of a tracking server or registry read whole (a listing page, a model
/// version): past it the reply is refused, never buffered.
pub const MAX_REPLY_BYTES: usize = 64 << 20;

/// The part of an error answer that is read (its message is cut shorter still).
const MAX_ERROR_BODY: usize = 64 << 10;

/// The longest server message carried into an error.
const MAX_MESSAGE_CHARS: usize = 1000;

/// Reads a reply's body up to `limit` bytes: refused past it (a declared length at once), an
/// error body cut there.
async fn read_bounded(mut resp: reqwest::Response, limit: usize) -> Result<bytes::Bytes, String> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        if limit == MAX_ERROR_BODY {
            // an error answer: its first bytes are enough for a message
        } else {
            return Err(format!("the reply is larger than {limit} bytes"));
        }
    }
    let mut out = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| super::cause_chain(&e).0)? {
        let room = limit - out.len();
        if chunk.len() > room {
            if limit == MAX_ERROR_BODY {
                out.extend_from_slice(&chunk[..room]);
                break;
            }
            return Err(format!("the reply is larger than {limit} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// A certificate problem is not transient: report it at once, with the innermost cause.
fn tls_failure(url: &str, e: &(dyn std::error::Error + 'static)) -> Option<ResolveError> {
    let innermost = super::cause_chain(e).1;
    let lower = innermost.to_ascii_lowercase();
    (lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")).then(
        || ResolveError::Tls {
            url: url.split('?').next().unwrap_or(url).to_string(),
            message: innermost,
        },
    )
}

/// 429 and 5xx gateway-ish statuses are retried (as MLflow's client does).
fn is_transient_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// An error answer of the server as a [`ResolveError`], with MLflow's message when the body
/// is MLflow's error JSON.
pub fn http_error(url: &str, status: u16, body: &[u8]) -> ResolveError {
    #[derive(serde::Deserialize)]
    struct MlflowError {
        error_code: Option<String>,
        message: Option<String>,
    }
    let parsed: Option<MlflowError> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|p| p.message.as_deref())
        .map(|m| {
            if m.chars().count() > MAX_MESSAGE_CHARS {
                format!(
                    "{}...",
                    m.chars().take(MAX_MESSAGE_CHARS).collect::<String>()
                )
            } else {
                m.to_string()
            }
        })
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let short: String = text.chars().take(200).collect();
            if short.is_empty() {
                format!("HTTP {status}")
            } else {
                short
            }
        });
    let code = parsed.and_then(|p| p.error_code).unwrap_or_default();
    match status {
        401 | 403 => ResolveError::Auth {
            url: url.to_string(),
            status,
            message,
        },
        // MLflow's RestException reads "<error_code>: <message>".
        404 if code == "RESOURCE_DOES_NOT_EXIST" => {
            ResolveError::NotFound(format!("{code}: {message}"))
        }
        400 if code == "INVALID_PARAMETER_VALUE" || code == "RESOURCE_DOES_NOT_EXIST" => {
            ResolveError::NotFound(format!("{code}: {message}"))
        }
        _ => ResolveError::Remote {
            url: url.to_string(),
            status,
            message,
        },
    }
}
