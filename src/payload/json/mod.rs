//! JSON request bodies: a Python-exact scanner and the typed, signature-guided reader.

pub mod array;
pub mod request;
pub mod scan;

pub use request::{parse, REQUIRED_INPUT_FORMAT, SCORING_PROTOCOL_CHANGE_INFO};
