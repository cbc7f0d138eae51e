//! Request parsing: Content-Type rules, then JSON / CSV / Parquet bodies into a typed
//! [`Request`] (protocol §1.4–§1.10). Knows MLflow's formats, nothing of the runtime.

pub mod csv;
pub mod data;
pub mod json;
pub mod parquet;

pub use data::{Array, Cell, ColName, Column, Frame, Input};

use crate::model::signature::{InputSchema, ParamSpec};

/// A parsed `/invocations` request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The input data.
    pub input: Input,
    /// `params` (JSON only), `None` when absent or null.
    pub params: Option<Cell>,
    /// True for unified-LLM payloads, answered without the `predictions` wrapper.
    pub unwrapped: bool,
}

/// Why a body could not be turned into a request. Mapped to HTTP in `http::response`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PayloadError {
    /// 400 BAD_REQUEST `Invalid input. <msg>`.
    #[error("Invalid input. {0}")]
    InvalidInput(String),
    /// 400 BAD_REQUEST with the message as is.
    #[error("{0}")]
    BadRequest(String),
    /// 400 BAD_REQUEST with a `stack_trace` (CSV / Parquet parse failures).
    #[error("{message}")]
    ParseFailure {
        /// The message.
        message: String,
        /// Our stand-in for Python's traceback.
        trace: String,
    },
    /// 415 with a plain-text body.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// No Content-Type header (MLflow crashes with 500; we answer 415, see README).
    #[error("This predictor only supports the following content types: Types: ['text/csv', 'application/json', 'application/vnd.apache.parquet']. Got no Content-Type header.")]
    MissingContentType,
}

/// The body formats `/invocations` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json`
    Json,
    /// `text/csv`
    Csv,
    /// `application/vnd.apache.parquet`
    Parquet,
}

/// Applies MLflow's Content-Type algorithm (§1.4) to the raw header value.
pub fn body_format(content_type: Option<&str>) -> Result<BodyFormat, PayloadError> {
    let Some(ct) = content_type else {
        return Err(PayloadError::MissingContentType);
    };
    let mut parts = ct.split(';').map(str::trim);
    let mime = parts.next().unwrap_or("");
    let params: Vec<(&str, &str)> = parts
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let mut charset = "utf-8".to_string();
    for (k, v) in &params {
        if *k == "charset" {
            charset = v.to_lowercase();
        }
    }
    if charset != "utf-8" {
        return Err(PayloadError::UnsupportedMediaType(
            "The scoring server only supports UTF-8".into(),
        ));
    }
    let mut unknown: Vec<&str> = Vec::new();
    for (k, _) in &params {
        if *k != "charset" && !unknown.contains(k) {
            unknown.push(k);
        }
    }
    if !unknown.is_empty() {
        return Err(PayloadError::UnsupportedMediaType(format!(
            "Unrecognized content type parameters: {}. {}",
            unknown.join(", "),
            json::SCORING_PROTOCOL_CHANGE_INFO
        )));
    }
    match mime {
        "application/json" => Ok(BodyFormat::Json),
        "text/csv" => Ok(BodyFormat::Csv),
        "application/vnd.apache.parquet" => Ok(BodyFormat::Parquet),
        _ => Err(PayloadError::UnsupportedMediaType(format!(
            "This predictor only supports the following content types: Types: ['text/csv', 'application/json', 'application/vnd.apache.parquet']. Got '{ct}'."
        ))),
    }
}

/// Parses a body of the given format.
pub fn parse(
    format: BodyFormat,
    body: &[u8],
    schema: Option<&InputSchema>,
    params_schema: Option<&[ParamSpec]>,
) -> Result<Request, PayloadError> {
    match format {
        BodyFormat::Json => json::parse(body, schema, params_schema),
        BodyFormat::Csv => Ok(Request {
            input: Input::Frame(csv::parse(body, schema)?),
            params: None,
            unwrapped: false,
        }),
        BodyFormat::Parquet => Ok(Request {
            input: Input::Frame(parquet::parse(body)?),
            params: None,
            unwrapped: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_rules() {
        assert_eq!(
            body_format(Some("application/json; charset=UTF-8")),
            Ok(BodyFormat::Json)
        );
        assert_eq!(
            body_format(Some("application/json ; charset=utf-8")),
            Ok(BodyFormat::Json)
        );
        assert!(
            matches!(body_format(Some("text/plain; charset=latin-1")), Err(PayloadError::UnsupportedMediaType(m)) if m.contains("UTF-8"))
        );
        assert!(
            matches!(body_format(Some("application/json;")), Err(PayloadError::UnsupportedMediaType(m)) if m.starts_with("Unrecognized content type parameters: . "))
        );
        assert!(matches!(
            body_format(Some("APPLICATION/JSON")),
            Err(PayloadError::UnsupportedMediaType(_))
        ));
    }
}
