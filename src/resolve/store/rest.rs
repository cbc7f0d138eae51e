//! A tracking server over its REST API: the endpoints `mlflow server` 3.17.2 answers
//! (`mlflow/server/handlers.py`; the client side is `mlflow/store/model_registry/rest_store.py`
//! and `mlflow/store/tracking/rest_store.py`).

use serde::Deserialize;
use serde_json::json;

use super::super::client::{http_error, Reply, ServerClient};
use super::{ModelStore, ResolveError, RunInfo};

/// A tracking server.
pub struct RestStore {
    client: ServerClient,
}

impl RestStore {
    /// A store behind `client`'s base URL.
    pub fn new(client: ServerClient) -> RestStore {
        RestStore { client }
    }

    /// The HTTP client (shared with the `mlflow-artifacts:` repository).
    pub fn client(&self) -> &ServerClient {
        &self.client
    }

    fn decode<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        reply: Reply,
    ) -> Result<T, ResolveError> {
        let url = format!("{}{}", self.client.base(), path);
        if !(200..300).contains(&reply.status) {
            return Err(http_error(&url, reply.status, &reply.body));
        }
        serde_json::from_slice(&reply.body).map_err(|e| ResolveError::Remote {
            url,
            status: reply.status,
            message: format!("unexpected answer ({e}); is this an MLflow tracking server?"),
        })
    }

    async fn get<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ResolveError> {
        let reply = self.client.get(path, query).await?;
        self.decode(path, reply)
    }

    async fn post<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<T, ResolveError> {
        let reply = self.client.post_json(path, &body).await?;
        self.decode(path, reply)
    }
}

#[derive(Deserialize)]
struct RunReply {
    run: RunBody,
}
#[derive(Deserialize)]
struct RunBody {
    info: RunInfoBody,
}
#[derive(Deserialize)]
struct RunInfoBody {
    artifact_uri: Option<String>,
    experiment_id: Option<String>,
}

#[derive(Deserialize)]
struct LoggedModelReply {
    model: LoggedModelBody,
}
#[derive(Deserialize)]
struct LoggedModelBody {
    info: LoggedModelInfo,
}
#[derive(Deserialize)]
struct LoggedModelInfo {
    artifact_uri: Option<String>,
    source_run_id: Option<String>,
}

#[derive(Deserialize)]
struct SearchReply {
    #[serde(default)]
    models: Vec<LoggedModelBody>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct DownloadUriReply {
    artifact_uri: Option<String>,
}

#[derive(Deserialize)]
struct LatestReply {
    #[serde(default)]
    model_versions: Vec<VersionBody>,
}
#[derive(Deserialize)]
struct VersionBody {
    version: serde_json::Value,
    current_stage: Option<String>,
}

#[derive(Deserialize)]
struct AliasReply {
    model_version: VersionBody,
}

fn version_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl ModelStore for RestStore {
    async fn run(&self, run_id: &str) -> Result<RunInfo, ResolveError> {
        let r: RunReply = self
            .get(
                "/api/2.0/mlflow/runs/get",
                &[("run_uuid", run_id), ("run_id", run_id)],
            )
            .await?;
        Ok(RunInfo {
            artifact_uri: r.run.info.artifact_uri.unwrap_or_default(),
            experiment_id: r.run.info.experiment_id.unwrap_or_default(),
        })
    }

    async fn logged_model(&self, model_id: &str) -> Result<String, ResolveError> {
        let path = format!(
            "/api/2.0/mlflow/logged-models/{}",
            url::form_urlencoded::byte_serialize(model_id.as_bytes()).collect::<String>()
        );
        let r: LoggedModelReply = self.get(&path, &[]).await?;
        r.model.info.artifact_uri.ok_or_else(|| {
            ResolveError::NotFound(format!("Logged model with ID '{model_id}' not found."))
        })
    }

    async fn run_logged_model(
        &self,
        experiment_id: &str,
        name: &str,
        run_id: &str,
    ) -> Result<Option<String>, ResolveError> {
        let filter = format!("name = '{}'", name.replace('\'', "\\'"));
        let mut token: Option<String> = None;
        for _page in 0..1000 {
            let mut body = json!({"experiment_ids": [experiment_id], "filter": filter});
            if let Some(t) = &token {
                body["page_token"] = json!(t);
            }
            let r: SearchReply = self
                .post("/api/2.0/mlflow/logged-models/search", body)
                .await?;
            if let Some(m) = r
                .models
                .into_iter()
                .find(|m| m.info.source_run_id.as_deref() == Some(run_id))
            {
                return Ok(m.info.artifact_uri);
            }
            match r.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(None)
    }

    async fn registered_model(&self, name: &str) -> Result<(), ResolveError> {
        let _: serde_json::Value = self
            .get("/api/2.0/mlflow/registered-models/get", &[("name", name)])
            .await?;
        Ok(())
    }

    async fn version_download_uri(
        &self,
        name: &str,
        version: &str,
    ) -> Result<String, ResolveError> {
        let r: DownloadUriReply = self
            .get(
                "/api/2.0/mlflow/model-versions/get-download-uri",
                &[("name", name), ("version", version)],
            )
            .await?;
        r.artifact_uri
            .filter(|u| !u.is_empty())
            .ok_or_else(|| super::no_model_version(name, version))
    }

    async fn latest_versions(&self, name: &str) -> Result<Vec<(String, u64)>, ResolveError> {
        let r: LatestReply = self
            .post(
                "/api/2.0/mlflow/registered-models/get-latest-versions",
                json!({ "name": name }),
            )
            .await?;
        Ok(r.model_versions
            .into_iter()
            .filter_map(|v| {
                let n = version_text(&v.version).parse().ok()?;
                Some((v.current_stage.unwrap_or_else(|| "None".into()), n))
            })
            .collect())
    }

    async fn alias_version(&self, name: &str, alias: &str) -> Result<String, ResolveError> {
        let r: AliasReply = self
            .get(
                "/api/2.0/mlflow/registered-models/alias",
                &[("name", name), ("alias", alias)],
            )
            .await?;
        Ok(version_text(&r.model_version.version))
    }
}
