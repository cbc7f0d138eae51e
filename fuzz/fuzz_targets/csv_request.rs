//! `text/csv` bodies through the reader and enforcement, with and without a signature.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use mlflow_serve::payload::{self, BodyFormat, Limits};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let sigs = common::signatures();
    let sig = &sigs[pick as usize % sigs.len()];
    let Ok(req) = payload::parse(
        BodyFormat::Csv,
        body,
        sig.inputs.as_ref(),
        None,
        &Limits::default(),
    ) else {
        return;
    };
    let _ = mlflow_serve::enforce::enforce(req.input, sig.inputs.as_ref(), false, None, None);
});
