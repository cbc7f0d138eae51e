//! The tracking server's artifact proxy (`mlflow server --artifacts-destination …`):
//! `mlflow-artifacts:/<path>` and `mlflow-artifacts://host:port/<path>`.

use super::super::client::{http_error, ServerAuth, ServerClient};
use super::super::{Context, ResolveError};
use super::RemoteFile;

/// The proxy's REST endpoint, below the server's base URL.
pub const ENDPOINT: &str = "/api/2.0/mlflow-artifacts/artifacts";

/// A directory on the artifact proxy.
pub struct ProxyDir {
    client: ServerClient,
    /// Path below the endpoint, without leading or trailing `/`.
    root: String,
}

fn encode_path(p: &str) -> String {
    p.split('/')
        .map(|seg| {
            url::form_urlencoded::byte_serialize(seg.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl ProxyDir {
    /// `mlflow-artifacts:` URIs need an http(s) tracking URI (MLflow's rule and message).
    pub fn from_mlflow_artifacts(uri: &str, ctx: &Context) -> Result<ProxyDir, ResolveError> {
        let tracking = &ctx.uris.tracking;
        let t = url::Url::parse(tracking)
            .ok()
            .filter(|t| matches!(t.scheme(), "http" | "https"));
        let Some(t) = t else {
            return Err(ResolveError::Config(format!(
                "When an mlflow-artifacts URI was supplied, the tracking URI must be a valid \
                 http or https URI, but it was currently set to {tracking}. Perhaps you forgot \
                 to set the tracking URI to the running MLflow server. To set the tracking URI, \
                 set the MLFLOW_TRACKING_URI environment variable to the desired tracking URI, \
                 e.g. `export MLFLOW_TRACKING_URI=http://localhost:5000`."
            )));
        };
        let rest = &uri["mlflow-artifacts:".len()..];
        let (host, path) = match rest.strip_prefix("//") {
            Some(r) => {
                let end = r.find('/').unwrap_or(r.len());
                (Some(&r[..end]), &r[end..])
            }
            None => (None, rest),
        };
        let mut base = t.clone();
        if let Some(h) = host.filter(|h| !h.is_empty()) {
            let (hn, port) = match h.rsplit_once(':') {
                Some((a, p)) if p.chars().all(|c| c.is_ascii_digit()) => (a, p.parse().ok()),
                _ => (h, None),
            };
            if base.set_host(Some(hn)).is_err() || base.set_port(port).is_err() {
                return Err(ResolveError::InvalidUri(format!("invalid host in {uri}")));
            }
            // Credentials written into MLFLOW_TRACKING_URI belong to the tracking server:
            // never send them to another host.
            if t.host_str() != base.host_str()
                || t.port_or_known_default() != base.port_or_known_default()
            {
                let _ = base.set_username("");
                let _ = base.set_password(None);
            }
        }
        let base = base.as_str().trim_end_matches('/').to_string();
        let client = ServerClient::new(&base, ServerAuth::from_env(), ctx.deadline)?;
        let root = percent_decode(path.trim_matches('/'));
        Ok(ProxyDir { client, root })
    }

    /// `http(s)://host/prefix/api/2.0/mlflow-artifacts/artifacts/<path>`.
    pub fn from_http(uri: &str, client: ServerClient) -> ProxyDir {
        let tail = uri.split(ENDPOINT).nth(1).unwrap_or("");
        ProxyDir {
            client,
            root: percent_decode(tail.trim_matches('/')),
        }
    }

    /// Lists every file below the directory, recursively (MLflow lists one level per call).
    pub async fn list(&self, max_entries: usize) -> Result<Vec<RemoteFile>, ResolveError> {
        #[derive(serde::Deserialize)]
        struct Listing {
            #[serde(default)]
            files: Vec<Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            path: String,
            #[serde(default)]
            is_dir: bool,
            file_size: Option<serde_json::Value>,
        }
        let mut out = Vec::new();
        let mut pending = vec![String::new()];
        while let Some(rel) = pending.pop() {
            let full = super::join(&self.root, &rel);
            let reply = self.client.get(ENDPOINT, &[("path", &full)]).await?;
            if reply.status == 404 {
                continue;
            }
            if !(200..300).contains(&reply.status) {
                return Err(http_error(
                    &format!("{}{}", self.client.base(), ENDPOINT),
                    reply.status,
                    &reply.body,
                ));
            }
            let listing: Listing =
                serde_json::from_slice(&reply.body).map_err(|e| ResolveError::Remote {
                    url: format!("{}{}", self.client.base(), ENDPOINT),
                    status: reply.status,
                    message: format!("unexpected artifact listing: {e}"),
                })?;
            for f in listing.files {
                let name = f.path.rsplit('/').next().unwrap_or(&f.path).to_string();
                if name.is_empty() || name == "." || name == ".." {
                    continue;
                }
                let child = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                if out.len() + pending.len() >= max_entries {
                    return Err(super::too_many(max_entries));
                }
                if f.is_dir {
                    pending.push(child);
                } else {
                    let size = f.file_size.and_then(|v| match v {
                        serde_json::Value::Number(n) => n.as_u64(),
                        serde_json::Value::String(s) => s.parse().ok(),
                        _ => None,
                    });
                    out.push(RemoteFile {
                        rel: child,
                        size,
                        tag: None,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(out)
    }

    /// Streams one file into `sink`.
    pub async fn download(
        &self,
        file: &RemoteFile,
        sink: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
    ) -> Result<(), ResolveError> {
        let url = format!(
            "{}{}/{}",
            self.client.base(),
            ENDPOINT,
            encode_path(&super::join(&self.root, &file.rel))
        );
        self.client.download(&url, sink).await
    }
}

fn percent_decode(s: &str) -> String {
    super::super::uri::percent_decode(s).unwrap_or_else(|| s.to_string())
}
