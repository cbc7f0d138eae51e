//! The top-level Dockerfile builds from what it copies: every input of the crate's build
//! (`build.rs` and each file it declares with `cargo:rerun-if-changed`, as recorded by the
//! build that ran before this test) is copied into the `sources` stage and not left out of
//! the build context by `.dockerignore`. (`make test-container` builds the image itself; this
//! catches a missing input in seconds.)

mod common;

use std::path::Path;

/// The paths COPY'd from the build context (not `--from=` another stage).
fn copied(dockerfile: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in dockerfile.lines() {
        let Some(rest) = line.trim().strip_prefix("COPY ") else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        if words.iter().any(|w| w.starts_with("--from")) {
            continue;
        }
        let sources: Vec<&str> = words
            .iter()
            .filter(|w| !w.starts_with("--"))
            .copied()
            .collect();
        if let Some((_dest, srcs)) = sources.split_last() {
            out.extend(srcs.iter().map(|s| s.trim_end_matches('/').to_string()));
        }
    }
    out
}

/// Whether `.dockerignore` leaves `path` out of the context (its last matching rule wins; a
/// rule matches the path or a parent directory).
fn ignored(dockerignore: &str, path: &str) -> bool {
    let mut out = false;
    for rule in dockerignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (keep, pattern) = match rule.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, rule),
        };
        let pattern = pattern.trim_start_matches("**/");
        if path == pattern || path.starts_with(&format!("{pattern}/")) {
            out = !keep;
        }
    }
    out
}

/// The files the last build's build script said it reads, relative to the repository.
fn build_inputs(root: &Path) -> Vec<String> {
    let mut inputs = vec!["build.rs".to_string()];
    let build = root.join("target/debug/build");
    let dirs = std::fs::read_dir(&build).expect("target/debug/build: run after a build");
    for dir in dirs.flatten() {
        let name = dir.file_name().to_string_lossy().into_owned();
        if !name.starts_with("mlflow-serve-") || name.starts_with("mlflow-serve-torch") {
            continue;
        }
        let Ok(output) = std::fs::read_to_string(dir.path().join("output")) else {
            continue;
        };
        for line in output.lines() {
            if let Some(p) = line.strip_prefix("cargo:rerun-if-changed=") {
                if !inputs.iter().any(|i| i == p) {
                    inputs.push(p.to_string());
                }
            }
        }
    }
    inputs
}

#[test]
fn the_image_build_gets_every_input_of_the_crate_build() {
    let root = common::root();
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let dockerignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    let copied = copied(&dockerfile);
    let inputs = build_inputs(&root);
    assert!(
        inputs.len() > 1,
        "no build-script inputs found (expected the gRPC proto): {inputs:?}"
    );
    for input in &inputs {
        assert!(root.join(input).exists(), "{input} does not exist");
        assert!(
            copied
                .iter()
                .any(|c| input == c || input.starts_with(&format!("{c}/"))),
            "the Dockerfile does not copy {input} (copies {copied:?})"
        );
        assert!(
            !ignored(&dockerignore, input),
            ".dockerignore leaves {input} out of the build context"
        );
    }
}

#[test]
fn the_checks_themselves_tell_copied_from_ignored() {
    let docker = "COPY Cargo.toml build.rs ./\nCOPY --from=x /a /b\nCOPY --chown=1:1 src src\n";
    assert_eq!(copied(docker), vec!["Cargo.toml", "build.rs", "src"]);
    let ignore = "schemas\n!schemas/a.proto\n**/__pycache__\n";
    assert!(ignored(ignore, "schemas/openapi.yaml"));
    assert!(!ignored(ignore, "schemas/a.proto"));
    assert!(!ignored(ignore, "build.rs"));
    assert!(ignored(ignore, "__pycache__"));
}
