//! MLflow's schema enforcement (`mlflow/models/utils.py`, `_enforce_schema`): the lossy parse-time cast of dataframe
//! payloads, then the lossless predict-time checks, tensor shape/dtype checks and params.

pub mod cast;
pub mod columns;
pub mod params;
pub mod tensors;

use crate::model::signature::{InputSchema, ParamSpec};
use crate::payload::{Cell, Frame, Input};

/// The params a model receives (name, value), in the params schema's order: `None` where
/// MLflow passes the model `params=None`.
pub type Params = Option<Vec<(String, Cell)>>;

/// Enforced input, ready for a flavor.
#[derive(Debug, Clone, PartialEq)]
pub enum Enforced {
    /// A frame in schema order (column signatures, or no signature).
    Frame(Frame),
    /// A list of records (`inputs: [{...}, ...]`) sent without a signature: MLflow hands the
    /// model the list itself. The frame pandas would build from it rides along for flavors
    /// that read a list of records as one (ONNX, PyTorch); the tree flavors refuse the list
    /// as XGBoost and LightGBM do.
    RecordList(Frame),
    /// A single array (unnamed tensor signature, or no signature).
    Array(crate::payload::Array),
    /// Named arrays (named tensor signatures, or dicts without signature).
    Dict(Vec<(String, crate::payload::Array)>),
    /// Anything else (no signature): passed to the flavor, which refuses it.
    Other(Cell),
}

/// A rejected input. Mapped to HTTP in `http::response`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnforceError {
    /// Parse-time cast failure: 400 BAD_REQUEST (`Invalid input. Data is not compatible…`).
    #[error("Invalid input. Data is not compatible with model signature. Failed to convert column {column} to type '{ty}'. Error: '{error}'")]
    Cast {
        /// Column label.
        column: String,
        /// numpy type name.
        ty: String,
        /// Python exception repr.
        error: String,
    },
    /// Predict-time schema failure: 400 INVALID_PARAMETER_VALUE / KAM01.
    #[error("Failed to predict data '{data}'. \nError: Failed to enforce schema of data '{data}' with schema '{schema}'. Error: {message}")]
    Schema {
        /// Rendering of the data.
        data: String,
        /// Schema repr.
        schema: String,
        /// The inner message.
        message: String,
    },
    /// Params failure: 400 INVALID_PARAMETER_VALUE / KAM00.
    #[error("Failed to predict data '{data}'. \nError: {message}")]
    Params {
        /// Rendering of the data.
        data: String,
        /// The message.
        message: String,
    },
}

/// Runs both enforcement stages and the params check.
///
/// `parse_cast` is true for JSON dataframe payloads (stage 1 applies); CSV bodies were
/// typed while reading and Parquet bodies get no parse-time cast, as in MLflow.
pub fn enforce(
    input: Input,
    schema: Option<&InputSchema>,
    parse_cast: bool,
    params: Option<Cell>,
    params_schema: Option<&[ParamSpec]>,
) -> Result<(Enforced, Params), EnforceError> {
    let input = match (input, schema, parse_cast) {
        (Input::Frame(f), Some(s), true) => Input::Frame(cast::parse_time_cast(f, s)?),
        (i, _, _) => i,
    };
    // MLflow shows the data as the scoring server parsed it (after the parse-time cast);
    // printed only if something fails.
    let shown = input.preview();
    let enforced = match schema {
        None => match input {
            Input::Frame(f) => Enforced::Frame(f),
            Input::Array(a) => Enforced::Array(a),
            Input::Dict(d) => Enforced::Dict(d),
            Input::Records(r) => Enforced::RecordList(columns::records_to_frame(r)),
            Input::Other(c) => Enforced::Other(c),
            // Only read for a named tensor signature (payload::json::tensor).
            Input::DictRows(_) => {
                return Err(EnforceError::Schema {
                    data: shown.describe(),
                    schema: String::new(),
                    message: "a list of dicts of arrays needs a tensor signature".into(),
                })
            }
        },
        Some(s) => {
            let schema_err = |message: String| EnforceError::Schema {
                data: shown.describe(),
                schema: s.repr(),
                message,
            };
            match s {
                InputSchema::Columns(specs) => {
                    Enforced::Frame(columns::enforce(input, specs).map_err(schema_err)?)
                }
                InputSchema::Tensors(specs) => {
                    tensors::enforce(input, specs).map_err(schema_err)?
                }
            }
        }
    };
    let params =
        params::enforce(params, params_schema).map_err(|message| EnforceError::Params {
            data: shown.describe(),
            message,
        })?;
    Ok((enforced, params))
}
