//! LightGBM text models: header, tree blocks (children, decision types, category bitsets,
//! linear leaves), objectives; then scoring what was read.
#![no_main]

mod trees;

use libfuzzer_sys::fuzz_target;
use runtime_trees::{read_model, FileKind, Limits};

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = read_model(data, FileKind::LightGBM, &Limits::default()) {
        trees::exercise(&model);
    }
});
