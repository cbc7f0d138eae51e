//! The Open Inference Protocol (KServe V2): what the model is called and what it looks like
//! to V2 clients (`tritonclient`, KServe). [`metadata`] maps the MLflow signature (or, without
//! one, the runtime's graph) to V2 tensor metadata as MLServer's MLflow runtime does;
//! [`infer`] turns a V2 inference request into MLflow's input and MLflow's predictions into V2
//! outputs, whatever the transport; [`tensor`] reads and writes tensor elements (JSON or raw
//! bytes); [`rest`] is the REST body (JSON and Triton's binary extension). The routes
//! themselves are in `http::v2`.

pub mod infer;
pub mod metadata;
pub mod rest;
pub mod tensor;

/// The name and version V2 clients address the served model by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelIdentity {
    /// `--model-name`, else the registered model's name, else the model directory's name.
    pub name: String,
    /// The registry version, when the model came from one.
    pub version: Option<String>,
}

impl ModelIdentity {
    /// The identity of a model: an explicit name wins over the registry's, which wins over
    /// the directory's.
    pub fn new(
        explicit: Option<&str>,
        registered: Option<&str>,
        version: Option<&str>,
        dir: &std::path::Path,
    ) -> ModelIdentity {
        let name = explicit
            .filter(|n| !n.is_empty())
            .or(registered)
            .map(str::to_string)
            .unwrap_or_else(|| {
                dir.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "model".to_string())
            });
        ModelIdentity {
            name,
            version: version.map(str::to_string),
        }
    }

    /// Whether a V2 path's `{name}` and optional `{version}` address this model.
    pub fn matches(&self, name: &str, version: Option<&str>) -> bool {
        name == self.name && version.is_none_or(|v| self.version.as_deref() == Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn explicit_then_registered_then_directory() {
        let dir = Path::new("/opt/ml/model");
        assert_eq!(
            ModelIdentity::new(Some("svc"), Some("wine"), Some("3"), dir).name,
            "svc"
        );
        assert_eq!(
            ModelIdentity::new(None, Some("wine"), Some("3"), dir).name,
            "wine"
        );
        assert_eq!(ModelIdentity::new(None, None, None, dir).name, "model");
        assert_eq!(
            ModelIdentity::new(Some(""), None, None, Path::new("/x/wine_cols/")).name,
            "wine_cols"
        );
    }

    #[test]
    fn versions_must_match_when_asked() {
        let id = ModelIdentity::new(None, Some("wine"), Some("3"), Path::new("/m"));
        assert!(id.matches("wine", None));
        assert!(id.matches("wine", Some("3")));
        assert!(!id.matches("wine", Some("4")));
        assert!(!id.matches("other", None));
        let local = ModelIdentity::new(None, None, None, Path::new("/m/wine_cols"));
        assert!(local.matches("wine_cols", None));
        assert!(!local.matches("wine_cols", Some("1")));
    }
}
