//! The plugin finds libtorch without LD_LIBRARY_PATH: an rpath to `libtorch/torch/lib` next
//! to it (a relocated install) and to the libtorch it was built against (reported by
//! runtime-torch's build script as DEP_MLFLOW_SERVE_TORCH_LIB_DIR).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_MLFLOW_SERVE_TORCH_LIB_DIR");
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/libtorch/torch/lib");
    if let Ok(dir) = std::env::var("DEP_MLFLOW_SERVE_TORCH_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
