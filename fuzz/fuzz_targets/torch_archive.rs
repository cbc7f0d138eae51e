//! TorchScript archive inspection: zip central directories, deflated members (zip bombs are
//! read with a size bound), pickle opcodes and the printed `forward` source.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = runtime_torch_archive::inspect_reader(std::io::Cursor::new(data));
});
