//! Model URI resolution. This release serves local directories and `file:` URIs; the
//! tracking/registry schemes (`runs:/`, `models:/`, object stores) come with issue #3.

use std::path::PathBuf;

/// A URI that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A scheme that is recognised but not implemented yet.
    #[error("model URI `{uri}`: the `{scheme}` scheme is not supported yet; pass a local model directory or a file: URI")]
    Unsupported {
        /// The URI.
        uri: String,
        /// Its scheme.
        scheme: String,
    },
    /// A malformed `file:` URI.
    #[error("model URI `{0}` is not a valid file: URI")]
    BadFileUri(String),
}

/// Turns a model URI into a local directory.
pub fn resolve(uri: &str) -> Result<PathBuf, ResolveError> {
    if let Some(rest) = uri.strip_prefix("file:") {
        if rest.starts_with("//") {
            let u = url::Url::parse(uri).map_err(|_| ResolveError::BadFileUri(uri.into()))?;
            return u
                .to_file_path()
                .map_err(|_| ResolveError::BadFileUri(uri.into()));
        }
        return Ok(PathBuf::from(rest));
    }
    if let Some((scheme, _)) = uri.split_once(':') {
        let is_scheme = scheme.len() > 1
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if is_scheme {
            return Err(ResolveError::Unsupported {
                uri: uri.into(),
                scheme: scheme.into(),
            });
        }
    }
    Ok(PathBuf::from(uri))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_file_uris() {
        assert_eq!(resolve("/a/b").unwrap(), PathBuf::from("/a/b"));
        assert_eq!(resolve("file:///a/b").unwrap(), PathBuf::from("/a/b"));
        assert_eq!(resolve("file:rel/x").unwrap(), PathBuf::from("rel/x"));
        assert!(matches!(
            resolve("models:/wine/1"),
            Err(ResolveError::Unsupported { .. })
        ));
        assert!(matches!(
            resolve("s3://b/k"),
            Err(ResolveError::Unsupported { .. })
        ));
    }
}
