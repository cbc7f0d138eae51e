//! What a Python worker sends back (it runs the model's own code, so its bytes are not
//! trusted): the framed message, its JSON header, and the raw output buffers it declares.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runtime_python::wire::{decode_outputs, read_message, Entry};

fuzz_target!(|data: &[u8]| {
    let mut r = data;
    if let Ok((header, body)) = read_message(&mut r, 1 << 20) {
        if let Some(outputs) = header.get("outputs") {
            if let Ok(entries) = serde_json::from_value::<Vec<Entry>>(outputs.clone()) {
                let _ = decode_outputs(entries, &body);
            }
        }
    }
});
