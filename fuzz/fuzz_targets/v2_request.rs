//! Open Inference Protocol requests, from untrusted bytes to MLflow's enforced input: V2 REST
//! bodies (JSON, or JSON then binary tensors, with an Inference-Header-Content-Length taken
//! from the input) and serialized gRPC `ModelInferRequest`s, under each signature kind and
//! content type. Every input must give a request or an error, never a panic, and allocate in
//! proportion to its size.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use mlflow_serve::oip::metadata::model_content_type;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Some((&mode, body)) = rest.split_first() else {
        return;
    };
    let sigs = common::signatures();
    let sig = &sigs[pick as usize % sigs.len()];
    let limits = mlflow_serve::payload::Limits::default();
    let declared = sig.params.as_deref().unwrap_or_default();
    let request = match mode % 3 {
        0 => mlflow_serve::oip::rest::parse_request(body, None, &limits, declared),
        // binary: the JSON part is the first `mode` bytes (a length the fuzzer chooses)
        1 => mlflow_serve::oip::rest::parse_request(body, Some(mode as usize), &limits, declared),
        _ => mlflow_serve::grpc::convert::decode_request(body, &limits),
    };
    let Ok(request) = request else {
        return;
    };
    let schema = sig.inputs.as_ref();
    let Ok((input, params)) = request.into_input(schema, model_content_type(schema)) else {
        return;
    };
    if let Err(e) = mlflow_serve::enforce::enforce(input, schema, false, params, sig.params.as_deref()) {
        // The message (with its bounded printouts of the data) must be bounded too.
        assert!(e.to_string().len() < 64 * 1024);
    }
});
