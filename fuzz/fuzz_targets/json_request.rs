//! JSON `/invocations` bodies through the reader and signature enforcement, under each
//! signature kind: every input must give a request or an error, never a panic, and cost
//! no more than its cell budget.
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
        BodyFormat::Json,
        body,
        sig.inputs.as_ref(),
        sig.params.as_deref(),
        &Limits::default(),
    ) else {
        return;
    };
    let _ = mlflow_serve::enforce::enforce(
        req.input,
        sig.inputs.as_ref(),
        true,
        req.params,
        sig.params.as_deref(),
    );
});
