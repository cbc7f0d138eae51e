//! Object stores through the `object_store` crate: `s3://` (with `MLFLOW_S3_ENDPOINT_URL` for
//! S3-compatible servers), `gs://`, `wasbs://`/`abfss://` and plain `http(s)://` (WebDAV-style
//! listing). Credentials come from each cloud's usual env vars.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::{
    path::Path as ObjPath, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig,
};

use super::super::{Context, ResolveError};
use super::RemoteFile;

/// A directory (key prefix) in an object store.
pub struct ObjectDir {
    store: Arc<dyn ObjectStore>,
    prefix: ObjPath,
    uri: String,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

fn truthy(k: &str) -> bool {
    env(k).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

impl ObjectDir {
    /// Opens the store an artifact URI names.
    pub fn open(uri: &str, ctx: &Context) -> Result<ObjectDir, ResolveError> {
        let err = |e: &dyn std::fmt::Display| ResolveError::Artifact {
            uri: uri.to_string(),
            message: e.to_string(),
        };
        let parsed = url::Url::parse(uri).map_err(|e| err(&e))?;
        let scheme = parsed.scheme().to_ascii_lowercase();
        let remaining = ctx.deadline.remaining().max(Duration::from_secs(1));
        let retry = RetryConfig {
            max_retries: 10,
            retry_timeout: remaining,
            ..RetryConfig::default()
        };
        crate::resolve::client::install_crypto_provider();
        let mut client = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(10))
            .with_timeout(Duration::from_secs(120).min(remaining.max(Duration::from_secs(5))));
        let prefix_path = parsed.path().trim_matches('/').to_string();
        let store: Arc<dyn ObjectStore> = match scheme.as_str() {
            "s3" | "s3a" => {
                let bucket = parsed.host_str().unwrap_or_default();
                let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
                if env("AWS_REGION").is_none() && env("AWS_DEFAULT_REGION").is_none() {
                    b = b.with_region("us-east-1");
                }
                if let Some(endpoint) = env("MLFLOW_S3_ENDPOINT_URL") {
                    client = client.with_allow_http(endpoint.starts_with("http://"));
                    b = b
                        .with_endpoint(endpoint)
                        .with_virtual_hosted_style_request(false);
                }
                if truthy("MLFLOW_S3_IGNORE_TLS") {
                    client = client.with_allow_invalid_certificates(true);
                }
                Arc::new(
                    b.with_client_options(client)
                        .with_retry(retry)
                        .build()
                        .map_err(|e| err(&e))?,
                )
            }
            "gs" => {
                let bucket = parsed.host_str().unwrap_or_default();
                let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(bucket);
                if let Some(path) = env("GOOGLE_APPLICATION_CREDENTIALS") {
                    b = b.with_application_credentials(path);
                }
                Arc::new(
                    b.with_client_options(client)
                        .with_retry(retry)
                        .build()
                        .map_err(|e| err(&e))?,
                )
            }
            "wasbs" | "wasb" | "abfss" | "abfs" => {
                // MLflow's form: wasbs://<container>@<account>.blob.core.windows.net/<path>
                let as_abfss = format!("abfss://{}", &uri[uri.find("://").map_or(0, |i| i + 3)..]);
                let mut b =
                    object_store::azure::MicrosoftAzureBuilder::from_env().with_url(as_abfss);
                if let Some(key) = env("AZURE_STORAGE_ACCESS_KEY") {
                    b = b.with_access_key(key);
                }
                if let Some(conn) = env("AZURE_STORAGE_CONNECTION_STRING") {
                    for part in conn.split(';') {
                        match part.split_once('=') {
                            Some(("AccountName", v)) => b = b.with_account(v),
                            Some(("AccountKey", v)) => b = b.with_access_key(v),
                            Some(("BlobEndpoint", v)) => b = b.with_endpoint(v.to_string()),
                            _ => {}
                        }
                    }
                }
                Arc::new(
                    b.with_client_options(client)
                        .with_retry(retry)
                        .build()
                        .map_err(|e| err(&e))?,
                )
            }
            "http" | "https" => {
                let mut root = parsed.clone();
                root.set_path("");
                Arc::new(
                    object_store::http::HttpBuilder::new()
                        .with_url(root.as_str())
                        .with_client_options(client.with_allow_http(scheme == "http"))
                        .with_retry(retry)
                        .build()
                        .map_err(|e| err(&e))?,
                )
            }
            other => {
                return Err(ResolveError::Unsupported {
                    scheme: other.to_string(),
                })
            }
        };
        let prefix_path = super::super::uri::percent_decode(&prefix_path).unwrap_or(prefix_path);
        Ok(ObjectDir {
            store,
            prefix: ObjPath::from(prefix_path),
            uri: uri.to_string(),
        })
    }

    fn err(&self, e: object_store::Error) -> ResolveError {
        match e {
            object_store::Error::Unauthenticated { .. }
            | object_store::Error::PermissionDenied { .. } => ResolveError::Auth {
                url: self.uri.clone(),
                status: 403,
                message: super::super::cause_chain(&e).0,
            },
            other => ResolveError::Artifact {
                uri: self.uri.clone(),
                message: super::super::cause_chain(&other).0,
            },
        }
    }

    /// Every object below the prefix.
    pub async fn list(&self, max_entries: usize) -> Result<Vec<RemoteFile>, ResolveError> {
        let mut stream = self.store.list(Some(&self.prefix));
        let mut out = Vec::new();
        let base = self.prefix.as_ref();
        while let Some(item) = stream.next().await {
            let meta = match item {
                Ok(m) => m,
                Err(object_store::Error::NotFound { .. }) => break,
                Err(e) => return Err(self.err(e)),
            };
            let loc = meta.location.as_ref();
            let rel = if base.is_empty() {
                loc
            } else {
                match loc.strip_prefix(base).and_then(|r| r.strip_prefix('/')) {
                    Some(r) => r,
                    None => continue,
                }
            };
            if rel.is_empty() {
                continue;
            }
            if out.len() >= max_entries {
                return Err(super::too_many(max_entries));
            }
            out.push(RemoteFile {
                rel: rel.to_string(),
                size: Some(meta.size),
                tag: meta.e_tag.or(meta.version),
            });
        }
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(out)
    }

    /// The object `rel` below the prefix, if it exists (one `HEAD`, which plain HTTP servers
    /// answer too, where listing needs WebDAV).
    pub async fn stat(&self, rel: &str) -> Result<Option<RemoteFile>, ResolveError> {
        let loc = if self.prefix.as_ref().is_empty() {
            ObjPath::from(rel)
        } else {
            ObjPath::from(format!("{}/{rel}", self.prefix.as_ref()))
        };
        match self.store.head(&loc).await {
            Ok(meta) => Ok(Some(RemoteFile {
                rel: rel.to_string(),
                size: Some(meta.size),
                tag: meta.e_tag.or(meta.version),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Streams one object into `sink`.
    pub async fn download(
        &self,
        file: &RemoteFile,
        sink: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
    ) -> Result<(), ResolveError> {
        let loc = ObjPath::from(format!("{}/{}", self.prefix.as_ref(), file.rel));
        let got = self.store.get(&loc).await.map_err(|e| self.err(e))?;
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.err(e))?;
            sink(&chunk).map_err(|e| ResolveError::Io {
                what: format!("writing {}", file.rel),
                message: e.to_string(),
            })?;
        }
        Ok(())
    }
}
