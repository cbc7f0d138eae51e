//! `MLmodel` files: YAML (aliases, odd types), flavors, signatures and session options.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mlflow_serve::model::mlmodel::MlModel;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = MlModel::parse(Path::new("/m"), Path::new("/m/MLmodel"), text);
    }
});
