//! JSON request bodies: a Python-exact scanner and the typed, signature-guided reader.

pub mod array;
mod errors;
pub mod frame;
pub mod request;
pub mod scan;
pub mod split;
pub mod tensor;
pub mod validate;

pub use request::{parse, REQUIRED_INPUT_FORMAT, SCORING_PROTOCOL_CHANGE_INFO};
