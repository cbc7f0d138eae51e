//! Request parsing: Content-Type rules, then JSON / CSV / Parquet bodies into a typed
//! [`Request`] (`mlflow/pyfunc/scoring_server/__init__.py`, `invocations`). Knows MLflow's
//! formats, nothing of the runtime.

pub mod csv;
pub mod data;
pub mod json;
pub mod parquet;

pub use crate::pyjson::Cell;
pub use data::{Array, ColName, Column, Frame, Input};

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

/// Default for [`Limits::cells_per_byte`].
pub const DEFAULT_CELLS_PER_BYTE: usize = 1;

/// Every body may expand to at least this many cells (small bodies are never refused).
pub const MIN_CELL_BUDGET: usize = 1 << 20;

/// Bounds on what one body may cost while it is parsed, set from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Cells (rows × columns, padding included) a frame may hold per byte of body, at least
    /// [`MIN_CELL_BUDGET`] in all (`--max-cells-per-byte`). pandas pads ragged
    /// `dataframe_split` rows, sparse records and short CSV rows with nulls: without a bound a
    /// few bytes of body could stand for millions of cells.
    pub cells_per_byte: usize,
    /// Input tensors (and requested outputs) one Open Inference Protocol request may name
    /// (`--max-tensors`).
    pub max_tensors: usize,
    /// Dimensions a tensor's declared shape may have (`--max-tensor-rank`; never above
    /// numpy's 64).
    pub max_rank: usize,
}

/// Default for [`Limits::max_tensors`].
pub const DEFAULT_MAX_TENSORS: usize = 1024;

/// Default for [`Limits::max_rank`]: numpy's own limit (`NPY_MAXDIMS` in numpy 2), so that no
/// request MLflow could take is refused.
pub const DEFAULT_MAX_RANK: usize = crate::pyjson::ndarray::MAX_DIMS;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cells_per_byte: DEFAULT_CELLS_PER_BYTE,
            max_tensors: DEFAULT_MAX_TENSORS,
            max_rank: DEFAULT_MAX_RANK,
        }
    }
}

impl Limits {
    /// The cell budget of a body of `len` bytes.
    pub fn budget(&self, len: usize) -> CellBudget {
        CellBudget {
            max_cells: len.saturating_mul(self.cells_per_byte).max(MIN_CELL_BUDGET),
            body_len: len,
        }
    }
}

/// How many cells one body may expand to; checked before the cells are allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellBudget {
    /// The most cells (rows × columns) the body's frame may hold.
    pub max_cells: usize,
    body_len: usize,
}

impl CellBudget {
    /// No bound (tools and tests that read trusted input).
    pub fn unlimited() -> CellBudget {
        CellBudget {
            max_cells: usize::MAX,
            body_len: 0,
        }
    }

    /// The most bytes a binary body (Parquet) may decode to: 8 per cell of the budget.
    pub fn max_bytes(&self) -> usize {
        self.max_cells.saturating_mul(8)
    }

    /// The refusal of a body that decodes to more than [`CellBudget::max_bytes`].
    pub fn bytes_exceeded(&self, bytes: u64) -> PayloadError {
        PayloadError::LimitExceeded(format!(
            "The request decodes to at least {bytes} bytes, more than the {} bytes allowed for a body of {} bytes (8 per cell of --max-cells-per-byte).",
            self.max_bytes(),
            self.body_len
        ))
    }

    /// Refuses a frame of `rows` × `cols` cells beyond the budget.
    #[inline]
    pub fn check(&self, rows: usize, cols: usize) -> Result<(), PayloadError> {
        match rows.checked_mul(cols) {
            Some(n) if n <= self.max_cells => Ok(()),
            _ => Err(PayloadError::LimitExceeded(format!(
                "The request expands to at least {rows} rows x {cols} columns, more than the {} cells allowed for a body of {} bytes (--max-cells-per-byte; missing cells of ragged or sparse rows count as they are filled with nulls).",
                self.max_cells, self.body_len
            ))),
        }
    }
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
    /// 413 `REQUEST_LIMIT_EXCEEDED`: the body would expand beyond a limit when parsed.
    #[error("{0}")]
    LimitExceeded(String),
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

/// Applies MLflow's Content-Type algorithm (`invocations` in `mlflow/pyfunc/scoring_server/__init__.py`) to the raw header value.
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
    // MLflow takes a set of the other names (in no stable order); first occurrences here,
    // found with a hash set (linear in the header's length), listed into a bounded rendering.
    let mut seen = std::collections::HashSet::new();
    let mut unknown = crate::pyjson::Bounded::new();
    for (k, _) in &params {
        if *k != "charset" && seen.insert(*k) {
            if seen.len() > 1 {
                unknown.push_str(", ");
            }
            if !unknown.push_str(k) {
                break;
            }
        }
    }
    if !seen.is_empty() {
        return Err(PayloadError::UnsupportedMediaType(format!(
            "Unrecognized content type parameters: {}. {}",
            unknown.finish(),
            json::SCORING_PROTOCOL_CHANGE_INFO
        )));
    }
    match mime {
        "application/json" => Ok(BodyFormat::Json),
        "text/csv" => Ok(BodyFormat::Csv),
        "application/vnd.apache.parquet" => Ok(BodyFormat::Parquet),
        _ => Err(PayloadError::UnsupportedMediaType(format!(
            "This predictor only supports the following content types: Types: ['text/csv', 'application/json', 'application/vnd.apache.parquet']. Got '{}'.",
            crate::pyjson::bounded(ct)
        ))),
    }
}

/// Parses a body of the given format.
pub fn parse(
    format: BodyFormat,
    body: &[u8],
    schema: Option<&InputSchema>,
    params_schema: Option<&[ParamSpec]>,
    limits: &Limits,
) -> Result<Request, PayloadError> {
    let budget = limits.budget(body.len());
    match format {
        BodyFormat::Json => json::parse(body, schema, params_schema, budget),
        BodyFormat::Csv => Ok(Request {
            input: Input::Frame(csv::parse(body, schema, budget)?),
            params: None,
            unwrapped: false,
        }),
        BodyFormat::Parquet => Ok(Request {
            input: Input::Frame(parquet::parse(body, budget)?),
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
