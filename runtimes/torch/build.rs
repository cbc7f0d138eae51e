//! Makes binaries find libtorch without LD_LIBRARY_PATH: torch-sys reports the libtorch it
//! linked against (DEP_TCH_LIBTORCH_LIB); this crate's own tests get an rpath to it, and the
//! directory is passed on to the mlflow-serve package (DEP_MLFLOW_SERVE_TORCH_LIB_DIR), whose
//! build script gives the server binary the same rpath.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        println!("cargo:lib_dir={dir}");
    }
}
