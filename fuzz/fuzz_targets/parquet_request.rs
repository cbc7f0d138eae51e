//! `application/vnd.apache.parquet` bodies: the footer, pages and encodings of untrusted
//! files, under the decoded-size bound.
//!
//! parquet 57.3.2 and arrow-ipc 57.3.2 panic on some malformed footers (an `unwrap` in the
//! thrift decoder, an index in the embedded Arrow schema reader, a capacity overflow in the
//! schema builder; found by this target, kept in `fuzz/regressions/`). The server contains
//! such panics (`payload::parquet::parse` answers them as parse errors), so here a panic
//! while parsing is left to that containment, as in production. Aborts (an allocation
//! failure: a footer declaring huge lists, now refused by `check_footer`) and panics in
//! enforcement are still crashes.
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
