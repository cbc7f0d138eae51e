//! The errors the typed readers (`request`, `frame`, `split`, `tensor`) share: MLflow's
//! invalid-input message, a scanner error on an already validated document, and the Python
//! type name of a JSON value as messages quote it.

use super::scan::{JsonError, Kind, Num, Scanner};
use crate::payload::PayloadError;

/// MLflow's `InvalidInput` with `msg`.
pub(super) fn invalid(msg: impl Into<String>) -> PayloadError {
    PayloadError::InvalidInput(msg.into())
}

/// The document was validated, so scanner errors here are internal.
pub(super) fn internal(e: JsonError) -> PayloadError {
    PayloadError::BadRequest(format!("Invalid input. {}", e.msg))
}

/// The Python type of the value at the cursor (`list`, `dict`, `str`, `int`, …), the
/// cursor left where it was.
pub(super) fn py_type_of(kind: Kind, s: &mut Scanner<'_>) -> &'static str {
    match kind {
        Kind::Array => "list",
        Kind::Object => "dict",
        Kind::String => "str",
        Kind::Bool => "bool",
        Kind::Null => "NoneType",
        Kind::Number => {
            let save = s.pos;
            let t = match s.number() {
                Ok(Num::Float(_)) => "float",
                _ => "int",
            };
            s.pos = save;
            t
        }
    }
}
