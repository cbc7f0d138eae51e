//! Parsing model URIs exactly as MLflow 3.17.2 does (`_get_root_uri_and_artifact_path`,
//! `ModelsArtifactRepository.split_models_uri`, `_parse_model_uri`, `parse_runs_uri`).

use std::path::{Path, PathBuf};

use super::ResolveError;

/// What a model URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelUri {
    /// A local directory (a plain path or a `file:` URI).
    Local(PathBuf),
    /// `runs:/<run_id>/<path>`.
    Run {
        /// The run id.
        run_id: String,
        /// The run-relative path (may be empty).
        path: String,
    },
    /// `models:/<name>/<version|stage|latest>` or `models:/<name>@<alias>`.
    Registered {
        /// The registered model name.
        name: String,
        /// Which version.
        selector: Selector,
        /// A path inside the model directory (usually empty).
        sub_path: String,
    },
    /// `models:/<model_id>` (MLflow 3 logged model).
    Logged {
        /// The logged model id (normally `m-<32 hex>`).
        model_id: String,
        /// A path inside the model directory (usually empty).
        sub_path: String,
    },
    /// An artifact repository URI: `s3://`, `gs://`, `mlflow-artifacts:`, `http(s)://`, …
    Artifact(String),
}

/// How a `models:/<name>/…` URI picks a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// An explicit version number (digits, as written).
    Version(String),
    /// The highest version in a stage (as written; canonicalised at lookup).
    Stage(String),
    /// The highest version over all stages.
    Latest,
    /// A registered model alias.
    Alias(String),
}

/// Python's `urllib.parse.urlparse` essentials: (scheme, netloc, path). `allow_fragments`
/// as in Python; query strings are dropped from the path like Python does.
fn urlparse(uri: &str, allow_fragments: bool) -> (String, String, String) {
    let (scheme, mut rest) = match uri.split_once(':') {
        Some((s, r))
            if !s.is_empty()
                && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (s.to_ascii_lowercase(), r)
        }
        _ => (String::new(), uri),
    };
    let mut netloc = String::new();
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        netloc = after[..end].to_string();
        rest = &after[end..];
    }
    if allow_fragments {
        if let Some(i) = rest.find('#') {
            rest = &rest[..i];
        }
    }
    if let Some(i) = rest.find('?') {
        rest = &rest[..i];
    }
    (scheme, netloc, rest.to_string())
}

/// MLflow's "Not a proper models:/ URI" message.
pub fn improper_models_uri(uri: &str) -> String {
    format!(
        "Not a proper models:/ URI: {uri}. Models URIs must be of the form 'models:/name/suffix' \
         or 'models:/name@alias' where suffix is a version, stage, or the string 'latest' and \
         where alias is a registered model alias. Only one of suffix or alias can be defined at \
         a time."
    )
}

fn improper_runs_uri(uri: &str) -> String {
    format!(
        "Not a proper runs:/ URI: {uri}. Runs URIs must be of the form \
         'runs:/<run_id>/run-relative/path/to/artifact'"
    )
}

/// `ModelsArtifactRepository.split_models_uri`: (root, path inside the model).
fn split_models_uri(uri: &str) -> (String, String) {
    let uri = uri.trim_end_matches('/');
    let (_, netloc, path) = urlparse(uri, true);
    if path.matches('/').count() >= 2 && !path.ends_with('/') {
        let splits: Vec<&str> = path.splitn(4, '/').collect();
        let cut = if splits.get(1).is_some_and(|s| s.contains('@')) {
            2
        } else {
            3
        };
        let cut = cut.min(splits.len());
        let base = if netloc.is_empty() {
            "models:".to_string()
        } else {
            format!("models://{netloc}")
        };
        return (
            format!("{base}{}", splits[..cut].join("/")),
            splits[cut..].join("/"),
        );
    }
    (uri.to_string(), String::new())
}

/// `_parse_model_uri` on a root `models:` URI.
fn parse_models_root(root: &str, sub_path: String) -> Result<ModelUri, ResolveError> {
    let bad = || ResolveError::InvalidUri(improper_models_uri(root));
    let (scheme, _, path) = urlparse(root, false);
    if scheme != "models" || !path.starts_with('/') || path.len() <= 1 {
        return Err(bad());
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if parts.len() > 2 || parts[0].trim().is_empty() {
        return Err(bad());
    }
    if parts.len() == 2 {
        let (name, suffix) = (parts[0].to_string(), parts[1]);
        if suffix.trim().is_empty() {
            return Err(bad());
        }
        let selector = if !suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_digit()) {
            Selector::Version(suffix.to_string())
        } else if suffix.eq_ignore_ascii_case("latest") {
            Selector::Latest
        } else {
            Selector::Stage(suffix.to_string())
        };
        return Ok(ModelUri::Registered {
            name,
            selector,
            sub_path,
        });
    }
    if path.contains('@') {
        let Some((name, alias)) = parts[0].rsplit_once('@') else {
            return Err(bad());
        };
        if alias.trim().is_empty() {
            return Err(bad());
        }
        return Ok(ModelUri::Registered {
            name: name.to_string(),
            selector: Selector::Alias(alias.to_string()),
            sub_path,
        });
    }
    Ok(ModelUri::Logged {
        model_id: parts[0].to_string(),
        sub_path,
    })
}

/// `RunsArtifactRepository.parse_runs_uri`: (run id, run-relative path).
fn parse_runs_uri(uri: &str) -> Result<ModelUri, ResolveError> {
    let bad = || ResolveError::InvalidUri(improper_runs_uri(uri));
    let (scheme, _, path) = urlparse(uri, true);
    if scheme != "runs" || !path.starts_with('/') || path.len() <= 1 {
        return Err(bad());
    }
    let path = &path[1..];
    let (run_id, rest) = path.split_once('/').unwrap_or((path, ""));
    if run_id.is_empty() {
        return Err(bad());
    }
    Ok(ModelUri::Run {
        run_id: run_id.to_string(),
        path: rest.to_string(),
    })
}

/// Parses a model URI the way `mlflow models serve -m` does.
pub fn parse(uri: &str) -> Result<ModelUri, ResolveError> {
    if Path::new(uri).exists() {
        return Ok(ModelUri::Local(PathBuf::from(uri)));
    }
    let (scheme, _, _) = urlparse(uri, true);
    match scheme.as_str() {
        "" => Ok(ModelUri::Local(PathBuf::from(uri))),
        "file" => file_uri_to_path(uri).map(ModelUri::Local),
        "models" => {
            let (root, sub_path) = split_models_uri(uri);
            parse_models_root(&root, sub_path)
        }
        "runs" => parse_runs_uri(uri),
        "mlflow-artifacts" | "s3" | "gs" | "wasbs" | "abfss" | "http" | "https" => {
            Ok(ModelUri::Artifact(uri.to_string()))
        }
        other => Err(ResolveError::Unsupported {
            scheme: other.to_string(),
        }),
    }
}

/// `file:///abs`, `file:/abs`, `file:rel` → a path (percent-decoded).
pub fn file_uri_to_path(uri: &str) -> Result<PathBuf, ResolveError> {
    let rest = &uri[5..];
    if rest.starts_with("//") {
        let u = url::Url::parse(uri)
            .map_err(|e| ResolveError::InvalidUri(format!("invalid file: URI {uri}: {e}")))?;
        return u
            .to_file_path()
            .map_err(|_| ResolveError::InvalidUri(format!("invalid file: URI {uri}")));
    }
    Ok(PathBuf::from(
        percent_decode(rest).unwrap_or_else(|| rest.to_string()),
    ))
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A local path or `file:` URI as a path; `None` for any other scheme.
pub fn local_path(uri: &str) -> Option<PathBuf> {
    let (scheme, _, _) = urlparse(uri, true);
    match scheme.as_str() {
        "" => Some(PathBuf::from(uri)),
        "file" => file_uri_to_path(uri).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(name: &str, selector: Selector) -> ModelUri {
        ModelUri::Registered {
            name: name.into(),
            selector,
            sub_path: String::new(),
        }
    }

    /// The valid cases of MLflow's `test_parse_models_uri_with_*` tests.
    #[test]
    fn models_uris_parse_like_mlflow() {
        use Selector::*;
        let cases = [
            ("models:/AdsModel1/0", reg("AdsModel1", Version("0".into()))),
            (
                "models:/Ads Model 1/12345",
                reg("Ads Model 1", Version("12345".into())),
            ),
            (
                "models:/12345abcde/1",
                reg("12345abcde", Version("1".into())),
            ),
            (
                "models:/AdsModel1/Production",
                reg("AdsModel1", Stage("Production".into())),
            ),
            (
                "models:/Ads Model 1/None",
                reg("Ads Model 1", Stage("None".into())),
            ),
            ("models:/AdsModel1/latest", reg("AdsModel1", Latest)),
            ("models:/Ads.Model-1/LATEST", reg("Ads.Model-1", Latest)),
            (
                "models:/AdsModel1@Champion",
                reg("AdsModel1", Alias("Champion".into())),
            ),
            (
                "models:/Ads Model 1@challenger",
                reg("Ads Model 1", Alias("challenger".into())),
            ),
            (
                "models:/NameWith@IntheMiddle@Alias",
                reg("NameWith@IntheMiddle", Alias("Alias".into())),
            ),
            (
                "models://profile@databricks/AdsModel1/Staging",
                reg("AdsModel1", Stage("Staging".into())),
            ),
            (
                "models:/m-0123456789abcdef0123456789abcdef",
                ModelUri::Logged {
                    model_id: "m-0123456789abcdef0123456789abcdef".into(),
                    sub_path: String::new(),
                },
            ),
        ];
        for (uri, want) in cases {
            assert_eq!(parse(uri).unwrap(), want, "{uri}");
        }
    }

    #[test]
    fn sub_paths_split_like_mlflow() {
        assert_eq!(
            parse("models:/A/1/sub/path").unwrap(),
            ModelUri::Registered {
                name: "A".into(),
                selector: Selector::Version("1".into()),
                sub_path: "sub/path".into()
            }
        );
        assert_eq!(
            parse("models:/A@champ/sub").unwrap(),
            ModelUri::Registered {
                name: "A".into(),
                selector: Selector::Alias("champ".into()),
                sub_path: "sub".into()
            }
        );
        // `models:/Name@Alias/Stage` is name `Name@Alias` … split first as an alias root.
        assert_eq!(
            parse("models:/Name@Alias/Stage").unwrap(),
            ModelUri::Registered {
                name: "Name".into(),
                selector: Selector::Alias("Alias".into()),
                sub_path: "Stage".into()
            }
        );
        // Trailing slashes are stripped: what remains is a logged-model id, as in MLflow.
        assert_eq!(
            parse("models:/wine-quality/").unwrap(),
            ModelUri::Logged {
                model_id: "wine-quality".into(),
                sub_path: String::new()
            }
        );
    }

    #[test]
    fn invalid_models_uris_give_mlflows_message() {
        for (uri, root) in [
            ("models:/Name@", "models:/Name@"),
            ("models:Name/1", "models:Name/1"),
            ("models:/", "models:"),
            ("models://////wine-quality/4", "models://"),
        ] {
            match parse(uri) {
                Err(ResolveError::InvalidUri(m)) => {
                    assert_eq!(m, improper_models_uri(root), "{uri}")
                }
                other => panic!("{uri}: {other:?}"),
            }
        }
    }

    #[test]
    fn runs_and_artifact_uris() {
        assert_eq!(
            parse("runs:/abc/model").unwrap(),
            ModelUri::Run {
                run_id: "abc".into(),
                path: "model".into()
            }
        );
        assert_eq!(
            parse("runs:/abc/a/b/model").unwrap(),
            ModelUri::Run {
                run_id: "abc".into(),
                path: "a/b/model".into()
            }
        );
        assert!(matches!(
            parse("runs:/"),
            Err(ResolveError::InvalidUri(m)) if m.starts_with("Not a proper runs:/ URI: runs:/.")
        ));
        assert_eq!(
            parse("s3://b/k/model").unwrap(),
            ModelUri::Artifact("s3://b/k/model".into())
        );
        assert_eq!(
            parse("mlflow-artifacts:/1/x").unwrap(),
            ModelUri::Artifact("mlflow-artifacts:/1/x".into())
        );
        assert!(matches!(
            parse("hdfs://nn/x"),
            Err(ResolveError::Unsupported { .. })
        ));
    }

    #[test]
    fn local_paths() {
        assert_eq!(
            parse("/no/such/a/b").unwrap(),
            ModelUri::Local("/no/such/a/b".into())
        );
        assert_eq!(
            parse("file:///a/b%20c").unwrap(),
            ModelUri::Local("/a/b c".into())
        );
        assert_eq!(
            parse("file:rel/x").unwrap(),
            ModelUri::Local("rel/x".into())
        );
        assert_eq!(parse("rel/x").unwrap(), ModelUri::Local("rel/x".into()));
    }
}
