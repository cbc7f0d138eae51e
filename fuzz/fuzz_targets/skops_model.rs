//! skops archives of LightGBM estimators: zip members (size-bounded), the schema's node
//! allowlist, `.npy` class labels, the embedded model string; then scoring what was read.
#![no_main]

mod trees;

use libfuzzer_sys::fuzz_target;
use runtime_trees::{read_model, FileKind, Limits};

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = read_model(data, FileKind::LightGBMSkops, &Limits::default()) {
        trees::exercise(&model);
    }
});
