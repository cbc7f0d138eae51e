//! XGBoost model files: UBJSON and JSON documents (told apart by content), the learner's
//! fields, trees (children, categories, DART weights), gblinear; then scoring what was read.
#![no_main]

mod trees;

use libfuzzer_sys::fuzz_target;
use runtime_trees::{read_model, FileKind, Limits};

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = read_model(data, FileKind::XGBoost, &Limits::default()) {
        trees::exercise(&model);
    }
});
