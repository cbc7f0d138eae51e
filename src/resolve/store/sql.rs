//! The SQL tracking store and model registry (schema of MLflow 3.17, alembic head
//! `dc11669786a5`), read-only. The lookups are plain SQL over [`SqlConnection`]; SQLite is the
//! one connection implemented (rusqlite, bundled). A PostgreSQL or MySQL connection would
//! implement the same trait and reuse every query.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use super::{no_alias, no_model_version, no_registered_model, ModelStore, ResolveError, RunInfo};

/// A row of text cells (`NULL` → `None`; numbers as their decimal text).
pub type Row = Vec<Option<String>>;

/// A read-only SQL connection: run a query with `?` placeholders bound to text.
pub trait SqlConnection: Send {
    /// The rows of a query.
    fn query(&self, sql: &str, params: &[&str]) -> Result<Vec<Row>, ResolveError>;
    /// Whether `table` has `column` (older schemas lack `workspace`).
    fn has_column(&self, table: &str, column: &str) -> Result<bool, ResolveError>;
}

/// A SQLite database opened read-only.
pub struct Sqlite {
    conn: Mutex<rusqlite::Connection>,
    uri: String,
}

impl Sqlite {
    fn err(&self, e: impl std::fmt::Display) -> ResolveError {
        ResolveError::Store {
            store: self.uri.clone(),
            message: e.to_string(),
        }
    }
}

impl SqlConnection for Sqlite {
    fn query(&self, sql: &str, params: &[&str]) -> Result<Vec<Row>, ResolveError> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| self.err("connection poisoned"))?;
        let mut stmt = conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let n = stmt.column_count();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params.iter()), |row| {
                (0..n)
                    .map(|i| {
                        Ok(match row.get_ref(i)? {
                            rusqlite::types::ValueRef::Null => None,
                            rusqlite::types::ValueRef::Integer(v) => Some(v.to_string()),
                            rusqlite::types::ValueRef::Real(v) => Some(v.to_string()),
                            rusqlite::types::ValueRef::Text(t)
                            | rusqlite::types::ValueRef::Blob(t) => {
                                Some(String::from_utf8_lossy(t).into_owned())
                            }
                        })
                    })
                    .collect::<Result<Row, rusqlite::Error>>()
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<Row>, _>>()
            .map_err(|e| self.err(e))
    }

    fn has_column(&self, table: &str, column: &str) -> Result<bool, ResolveError> {
        let rows = self.query(
            &format!("SELECT name FROM pragma_table_info('{table}')"),
            &[],
        )?;
        Ok(rows
            .iter()
            .any(|r| r.first().and_then(|c| c.as_deref()) == Some(column)))
    }
}

/// The SQL store over any [`SqlConnection`].
pub struct SqlStore {
    db: Box<dyn SqlConnection + Sync>,
    /// `AND workspace = 'default'` when the schema has workspaces (3.17), else empty.
    ws: &'static str,
}

/// `sqlite:///rel.db` → `rel.db`; `sqlite:////abs.db` → `/abs.db`; `sqlite://` → in memory.
fn sqlite_path(uri: &str) -> Result<PathBuf, ResolveError> {
    let rest = &uri["sqlite://".len()..];
    let path = rest.strip_prefix('/').unwrap_or(rest);
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() {
        return Err(ResolveError::Config(format!(
            "the tracking store {uri} is an in-memory database: it holds no models"
        )));
    }
    Ok(PathBuf::from(path))
}

impl SqlStore {
    /// Opens `sqlite:///…` read-only. A missing file is an error (MLflow would create an
    /// empty store; mlflow-serve never writes into a store).
    pub fn open_sqlite(uri: &str) -> Result<SqlStore, ResolveError> {
        let path = sqlite_path(uri)?;
        let store_err = |message: String| ResolveError::Store {
            store: uri.to_string(),
            message,
        };
        if !path.is_file() {
            let shown = std::path::absolute(&path).unwrap_or(path.clone());
            return Err(store_err(format!(
                "no database at {} (set MLFLOW_TRACKING_URI to your store)",
                shown.display()
            )));
        }
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(&path, flags)
            .map_err(|e| store_err(e.to_string()))?;
        // Another process may be writing: wait for its lock instead of failing.
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(|e| store_err(e.to_string()))?;
        let db = Sqlite {
            conn: Mutex::new(conn),
            uri: uri.to_string(),
        };
        let has_registry = db.has_column("model_versions", "name")?;
        if !has_registry {
            return Err(store_err(
                "not an MLflow store (no model_versions table)".to_string(),
            ));
        }
        let ws = if db.has_column("model_versions", "workspace")? {
            " AND workspace = 'default'"
        } else {
            ""
        };
        Ok(SqlStore {
            db: Box::new(db),
            ws,
        })
    }

    fn first(&self, sql: &str, params: &[&str]) -> Result<Option<Row>, ResolveError> {
        Ok(self.db.query(sql, params)?.into_iter().next())
    }
}

fn cell(row: &Row, i: usize) -> Option<String> {
    row.get(i).cloned().flatten().filter(|s| !s.is_empty())
}

impl ModelStore for SqlStore {
    async fn run(&self, run_id: &str) -> Result<RunInfo, ResolveError> {
        let row = self
            .first(
                "SELECT artifact_uri, experiment_id FROM runs WHERE run_uuid = ?",
                &[run_id],
            )?
            .ok_or_else(|| ResolveError::NotFound(format!("Run with id={run_id} not found")))?;
        Ok(RunInfo {
            artifact_uri: cell(&row, 0).unwrap_or_default(),
            experiment_id: cell(&row, 1).unwrap_or_default(),
        })
    }

    async fn logged_model(&self, model_id: &str) -> Result<String, ResolveError> {
        self.first(
            "SELECT artifact_location FROM logged_models WHERE model_id = ? \
             AND (lifecycle_stage IS NULL OR lifecycle_stage <> 'deleted')",
            &[model_id],
        )?
        .and_then(|r| cell(&r, 0))
        .ok_or_else(|| {
            ResolveError::NotFound(format!("Logged model with ID '{model_id}' not found."))
        })
    }

    async fn run_logged_model(
        &self,
        experiment_id: &str,
        name: &str,
        run_id: &str,
    ) -> Result<Option<String>, ResolveError> {
        Ok(self
            .first(
                "SELECT artifact_location FROM logged_models WHERE CAST(experiment_id AS TEXT) = ? \
                 AND name = ? AND source_run_id = ? \
                 AND (lifecycle_stage IS NULL OR lifecycle_stage <> 'deleted') \
                 ORDER BY creation_timestamp_ms DESC, model_id LIMIT 1",
                &[experiment_id, name, run_id],
            )?
            .and_then(|r| cell(&r, 0)))
    }

    async fn registered_model(&self, name: &str) -> Result<(), ResolveError> {
        let sql = format!(
            "SELECT name FROM registered_models WHERE name = ?{}",
            self.ws
        );
        match self.first(&sql, &[name])? {
            Some(_) => Ok(()),
            None => Err(no_registered_model(name)),
        }
    }

    async fn version_download_uri(
        &self,
        name: &str,
        version: &str,
    ) -> Result<String, ResolveError> {
        let sql = format!(
            "SELECT storage_location, source FROM model_versions WHERE name = ? \
             AND CAST(version AS TEXT) = ? AND COALESCE(current_stage, 'None') <> 'Deleted_Internal'{}",
            self.ws
        );
        let version_norm = version.trim_start_matches('0');
        let version_norm = if version_norm.is_empty() {
            "0"
        } else {
            version_norm
        };
        let row = self
            .first(&sql, &[name, version_norm])?
            .ok_or_else(|| no_model_version(name, version))?;
        cell(&row, 0)
            .or_else(|| cell(&row, 1))
            .ok_or_else(|| no_model_version(name, version))
    }

    async fn latest_versions(&self, name: &str) -> Result<Vec<(String, u64)>, ResolveError> {
        let sql = format!(
            "SELECT current_stage, MAX(version) FROM model_versions WHERE name = ? \
             AND COALESCE(current_stage, 'None') <> 'Deleted_Internal'{} GROUP BY current_stage",
            self.ws
        );
        Ok(self
            .db
            .query(&sql, &[name])?
            .into_iter()
            .filter_map(|r| {
                let stage = cell(&r, 0).unwrap_or_else(|| "None".into());
                let v = cell(&r, 1)?.parse().ok()?;
                Some((stage, v))
            })
            .collect())
    }

    async fn alias_version(&self, name: &str, alias: &str) -> Result<String, ResolveError> {
        let sql = format!(
            "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?{}",
            self.ws
        );
        self.first(&sql, &[name, alias])?
            .and_then(|r| cell(&r, 0))
            .ok_or_else(|| no_alias(alias))
    }
}
