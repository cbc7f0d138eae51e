//! `application/vnd.apache.parquet` bodies: the footer, pages and encodings of untrusted
//! files, under the decoded-size bound.
//!
//! Found by this target and kept in `fuzz/regressions/`: panics in parquet/arrow-ipc 57.3.2's
//! footer and schema readers (contained: `payload::parquet::parse` answers them as parse
//! errors, so here a panic while parsing is left to that containment, as in production),
//! allocation aborts from footer lists declaring billions of elements (fixed upstream in
//! parquet 60), and a dictionary page declaring 300 M values that made parquet 60.1 reserve
//! 2.4 GB (refused by `check_pages` before decoding). Aborts, out-of-memory and panics in
//! enforcement are crashes.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use mlflow_serve::payload::{self, BodyFormat, Limits};

thread_local! {
    static IN_PARSE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Panics raised while `payload::parse` reads a Parquet body are contained by it (it wraps
/// the whole read in `catch_unwind` and answers 400): they are not crashes. Any panic
/// elsewhere (enforcement) still goes to libFuzzer's hook and is reported.
fn contain_parse_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_PARSE.with(|f| f.get()) {
                fuzzer_hook(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    contain_parse_panics();
    let sigs = common::signatures();
    IN_PARSE.with(|f| f.set(true));
    let parsed = payload::parse(BodyFormat::Parquet, data, None, None, &Limits::default());
    IN_PARSE.with(|f| f.set(false));
    if let Ok(req) = parsed {
        let _ =
            mlflow_serve::enforce::enforce(req.input, sigs[1].inputs.as_ref(), false, None, None);
    }
});
