//! Finding `libonnxruntime` at start-up without any network access.

use std::path::{Path, PathBuf};

/// The library file name on this platform.
#[cfg(target_os = "macos")]
const LIB_NAMES: &[&str] = &["libonnxruntime.dylib"];
#[cfg(not(target_os = "macos"))]
const LIB_NAMES: &[&str] = &[
    "libonnxruntime.so",
    "libonnxruntime.so.1",
    "libonnxruntime.so.1.31.1",
];

/// Where the search looked, for the error message when nothing was found.
#[derive(Debug, Default)]
pub struct LibrarySearch {
    /// Every path that was tried, in order.
    pub tried: Vec<PathBuf>,
}

/// Finds `libonnxruntime`: an explicit path (flag or `ORT_DYLIB_PATH`) wins; then the
/// executable's directory (and its `lib/`), the project's `.local/onnxruntime/lib` (looked
/// up from the executable and from the working directory), and the `onnxruntime/capi`
/// folder of Python site-packages (`VIRTUAL_ENV`, `PYTHONPATH`, `~/.local`, `/usr/lib`).
pub fn find_library(explicit: Option<&Path>) -> Result<PathBuf, LibrarySearch> {
    let mut search = LibrarySearch::default();
    if let Some(p) = explicit {
        let candidates: Vec<PathBuf> = if p.is_dir() {
            LIB_NAMES.iter().map(|n| p.join(n)).collect()
        } else {
            vec![p.to_path_buf()]
        };
        for c in candidates {
            if c.is_file() {
                return Ok(c);
            }
            search.tried.push(c);
        }
        return Err(search);
    }
    for dir in candidate_dirs() {
        for name in LIB_NAMES {
            let c = dir.join(name);
            if c.is_file() {
                return Ok(c);
            }
        }
        search.tried.push(dir);
    }
    Err(search)
}

fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            dirs.push(dir.to_path_buf());
            dirs.push(dir.join("lib"));
            // target/{debug,release}/ (or target/*/deps) inside a checkout of this project
            for up in dir.ancestors().skip(1).take(3) {
                dirs.push(up.join(".local/onnxruntime/lib"));
            }
        }
    }
    if let Ok(cwd) = std::env::current_dir() {
        dirs.push(cwd.join(".local/onnxruntime/lib"));
    }
    let mut site = Vec::new();
    if let Ok(venv) = std::env::var("VIRTUAL_ENV") {
        site.extend(python_site_dirs(Path::new(&venv).join("lib")));
    }
    if let Ok(pp) = std::env::var("PYTHONPATH") {
        site.extend(pp.split(':').filter(|s| !s.is_empty()).map(PathBuf::from));
    }
    if let Ok(home) = std::env::var("HOME") {
        site.extend(python_site_dirs(Path::new(&home).join(".local/lib")));
    }
    site.extend(python_site_dirs(PathBuf::from("/usr/local/lib")));
    site.extend(python_site_dirs(PathBuf::from("/usr/lib")));
    site.push(PathBuf::from("/usr/lib/python3/dist-packages"));
    dirs.extend(site.into_iter().map(|s| s.join("onnxruntime/capi")));
    dirs
}

/// `<lib>/python3.*/site-packages` directories.
fn python_site_dirs(lib: PathBuf) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&lib) {
        for e in entries.flatten() {
            let name = e.file_name();
            if name.to_string_lossy().starts_with("python3") {
                out.push(e.path().join("site-packages"));
                out.push(e.path().join("dist-packages"));
            }
        }
    }
    out.sort();
    out
}
