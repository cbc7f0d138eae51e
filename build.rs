//! With the `torch` feature, gives the mlflow-serve binary (and its tests and benches) an
//! rpath to libtorch so that it starts without LD_LIBRARY_PATH: first `libtorch/torch/lib`
//! next to the executable (a relocated install: copy `.local/libtorch` there), then the
//! libtorch it was built against (reported by runtime-torch's build script).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_MLFLOW_SERVE_TORCH_LIB_DIR");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/libtorch/torch/lib");
    if let Ok(dir) = std::env::var("DEP_MLFLOW_SERVE_TORCH_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
