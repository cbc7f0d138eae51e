//! Thousands of random and malformed bodies: every answer must be 200 or 4xx (never a 5xx,
//! never a dropped connection) and the server must still answer `/ping` afterwards.

mod common;

use common::WINE;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn valid_bodies() -> Vec<(&'static str, String)> {
    let cols = serde_json::to_string(&WINE).unwrap();
    let row = "[7.4, 0.7, 0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4]";
    vec![
        ("application/json", format!("{{\"dataframe_split\": {{\"columns\": {cols}, \"data\": [{row}, {row}]}}}}")),
        ("application/json", "{\"dataframe_records\": [{\"fixed acidity\": 1, \"pH\": 3.2, \"alcohol\": null}], \"params\": {\"a\": [1]}}".to_string()),
        ("application/json", "{\"inputs\": {\"fixed acidity\": [1.0], \"pH\": [\"x\"]}}".to_string()),
        ("application/json", "{\"instances\": [{\"a\": [1, [2]]}, {\"a\": 1}]}".to_string()),
        ("application/json", format!("{{\"inputs\": [{row}, [1, 2, [3, [4]]]]}}")),
        ("text/csv", format!("{}\n7.4,0.7,0,1.9,0.076,11,34,0.9978,3.51,0.56,9.4\n", WINE.join(","))),
        ("application/vnd.apache.parquet", "PAR1\u{0}\u{0}garbagePAR1".to_string()),
    ]
}

const TOKENS: [&str; 24] = [
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "null",
    "true",
    "NaN",
    "-Infinity",
    "1e400",
    "-0",
    "123456789012345678901234567890",
    "\"dataframe_split\"",
    "\"data\"",
    "\"columns\"",
    "\"inputs\"",
    "\"instances\"",
    "\"params\"",
    "\u{1F600}",
    "\u{0}",
    "\n",
];

fn mutate(rng: &mut StdRng, body: &str) -> Vec<u8> {
    let mut b = body.as_bytes().to_vec();
    for _ in 0..rng.gen_range(1..6) {
        if b.is_empty() {
            b.extend_from_slice(TOKENS[rng.gen_range(0..TOKENS.len())].as_bytes());
            continue;
        }
        let at = rng.gen_range(0..b.len());
        match rng.gen_range(0..5) {
            0 => b.truncate(at),
            1 => b[at] = rng.gen(),
            2 => {
                let t = TOKENS[rng.gen_range(0..TOKENS.len())].as_bytes();
                b.splice(at..at, t.iter().copied());
            }
            3 => {
                let end = (at + rng.gen_range(1..20)).min(b.len());
                b.drain(at..end);
            }
            _ => {
                let end = (at + rng.gen_range(1..40)).min(b.len());
                let chunk = b[at..end].to_vec();
                b.splice(at..at, chunk);
            }
        }
    }
    b
}

fn random_json(rng: &mut StdRng, depth: usize) -> String {
    match rng.gen_range(0..if depth > 4 { 4 } else { 7 }) {
        0 => "null".into(),
        1 => rng.gen::<f64>().to_string(),
        2 => format!(
            "\"{}\"",
            ["a", "x y", "é", "dataframe_split", "1.5"][rng.gen_range(0..5)]
        ),
        3 => rng.gen::<i64>().to_string(),
        4 | 5 => format!(
            "[{}]",
            (0..rng.gen_range(0..4))
                .map(|_| random_json(rng, depth + 1))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => {
            let keys = [
                "dataframe_split",
                "dataframe_records",
                "inputs",
                "instances",
                "params",
                "columns",
                "data",
                "index",
                "fixed acidity",
            ];
            let items: Vec<String> = (0..rng.gen_range(0..4))
                .map(|_| {
                    format!(
                        "\"{}\": {}",
                        keys[rng.gen_range(0..keys.len())],
                        random_json(rng, depth + 1)
                    )
                })
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

#[test]
fn malformed_bodies_get_4xx_and_the_server_survives() {
    for model in ["wine_cols", "wine_tensor", "typed_columns", "iris_zipmap"] {
        let mut server = common::Server::start(&common::model_dir(model), &[]);
        let mut rng = StdRng::seed_from_u64(0x5eed);
        let bases = valid_bodies();
        let content_types = [
            "application/json",
            "text/csv",
            "application/vnd.apache.parquet",
        ];
        let mut statuses = std::collections::BTreeMap::new();
        for i in 0..1500 {
            let (ct, body) = if i % 3 == 0 {
                (
                    content_types[rng.gen_range(0..3)],
                    random_json(&mut rng, 0).into_bytes(),
                )
            } else {
                let (ct, b) = &bases[rng.gen_range(0..bases.len())];
                let ct = if rng.gen_bool(0.1) {
                    content_types[rng.gen_range(0..3)]
                } else {
                    ct
                };
                (ct, mutate(&mut rng, b))
            };
            let r = server.request("POST", "/invocations", &[("Content-Type", ct)], &body);
            *statuses.entry(r.status).or_insert(0) += 1;
            assert!(
                r.status == 200 || (400..500).contains(&r.status),
                "{model}: status {} for body {:?}: {}",
                r.status,
                String::from_utf8_lossy(&body),
                String::from_utf8_lossy(&r.body)
            );
            if r.status != 200 {
                let ct = r.header("content-type").unwrap_or("");
                assert!(
                    ct.starts_with("application/json") || ct.starts_with("text/plain"),
                    "{ct}"
                );
            }
        }
        assert!(server.alive(), "{model}: server died");
        assert_eq!(server.request("GET", "/ping", &[], b"").status, 200);
        assert!(
            statuses.keys().any(|s| *s >= 400),
            "{model}: no error answers at all: {statuses:?}"
        );
    }
}

#[test]
fn oversized_body_gets_413() {
    let server = common::Server::start(
        &common::model_dir("wine_cols"),
        &["--max-body-bytes", "1000"],
    );
    let body = vec![b' '; 5000];
    let r = server.request(
        "POST",
        "/invocations",
        &[("Content-Type", "application/json")],
        &body,
    );
    assert_eq!(r.status, 413);
    assert!(String::from_utf8_lossy(&r.body).contains("--max-body-bytes"));
}

#[test]
fn broken_model_directories_fail_at_start_with_one_line() {
    let work = tempfile::tempdir().unwrap();
    let tmp = work.path();
    type Make = Box<dyn Fn(&std::path::Path)>;
    let cases: Vec<(&str, Make, &str)> = vec![
        (
            "no_mlmodel",
            Box::new(|_d: &std::path::Path| {}),
            "Could not find an \"MLmodel\" configuration file",
        ),
        (
            "bad_yaml",
            Box::new(|d: &std::path::Path| {
                std::fs::write(d.join("MLmodel"), "flavors: [oops").unwrap()
            }),
            "cannot parse",
        ),
        (
            "sklearn_only",
            Box::new(|d: &std::path::Path| {
                std::fs::write(
                    d.join("MLmodel"),
                    "flavors:\n  sklearn: {pickled_model: m.pkl}\n",
                )
                .unwrap()
            }),
            "skl2onnx",
        ),
        (
            "missing_onnx",
            Box::new(|d: &std::path::Path| {
                std::fs::write(d.join("MLmodel"), "flavors:\n  onnx: {data: model.onnx}\n").unwrap()
            }),
            "does not exist",
        ),
        (
            "corrupt_onnx",
            Box::new(|d: &std::path::Path| {
                std::fs::write(d.join("MLmodel"), "flavors:\n  onnx: {data: model.onnx}\n")
                    .unwrap();
                std::fs::write(d.join("model.onnx"), b"not a model").unwrap();
            }),
            "cannot load ONNX model",
        ),
        (
            "missing_external_data",
            Box::new(|d: &std::path::Path| {
                let src = common::model_dir("wine_mlp_external");
                for f in ["MLmodel", "model.onnx"] {
                    std::fs::copy(src.join(f), d.join(f)).unwrap();
                }
            }),
            "cannot load ONNX model",
        ),
    ];
    let mut cases = cases;
    cases.extend(hostile_tree_models());
    for (name, make, expect) in cases {
        let d = tmp.join(name);
        std::fs::create_dir_all(&d).unwrap();
        make(&d);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mlflow-serve"))
            .args(["models", "serve", "-m"])
            .arg(&d)
            .args(["-p", "0"])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name}: should fail");
        let line = one_error_line(name, &out.stderr);
        assert!(line.contains(expect), "{name}: {line:?} lacks {expect:?}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mlflow-serve"))
        .args(["models", "serve", "-m", "models:/wine-quality/Staging"])
        .current_dir(tmp)
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("MLFLOW_REGISTRY_URI")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let line = one_error_line("no store", &out.stderr);
    assert!(
        line.starts_with("mlflow-serve: error: cannot resolve model URI `models:/wine-quality/Staging`: cannot read the tracking store sqlite:///mlflow.db: no database at"),
        "{line}"
    );
}

/// Tree model files are hostile input too: each of these is refused at start with one line
/// naming the problem, never a hang, a panic or an allocation the file does not pay for.
#[allow(clippy::type_complexity)]
fn hostile_tree_models() -> Vec<(&'static str, Box<dyn Fn(&std::path::Path)>, &'static str)> {
    let xgb = |file: &'static str, bytes: Vec<u8>| -> Box<dyn Fn(&std::path::Path)> {
        Box::new(move |d: &std::path::Path| {
            std::fs::write(
                d.join("MLmodel"),
                format!(
                    "flavors:\n  xgboost: {{data: {file}, model_class: xgboost.core.Booster}}\n"
                ),
            )
            .unwrap();
            std::fs::write(d.join(file), &bytes).unwrap();
        })
    };
    let lgb = |file: &'static str,
               class: &'static str,
               bytes: Vec<u8>|
     -> Box<dyn Fn(&std::path::Path)> {
        Box::new(move |d: &std::path::Path| {
            let format = if file.ends_with(".pkl") {
                "cloudpickle"
            } else {
                "skops"
            };
            std::fs::write(
                d.join("MLmodel"),
                format!("flavors:\n  lightgbm: {{data: {file}, model_class: {class}, serialization_format: {format}}}\n"),
            )
            .unwrap();
            std::fs::write(d.join(file), &bytes).unwrap();
        })
    };
    // A real model whose first tree's root points back at itself, and one whose node 1
    // points at itself (a cycle).
    let real = std::fs::read(common::model_dir("xgb_multi_softprob").join("model.json")).unwrap();
    let text = String::from_utf8(real).unwrap();
    let to_root = text.replacen("\"left_children\":[1,", "\"left_children\":[0,", 1);
    let cyclic = text.replacen("\"left_children\":[1,3,", "\"left_children\":[1,1,", 1);
    assert!(
        to_root != text && cyclic != text,
        "the fixture's first tree starts [1,3,"
    );
    let lgb_text =
        std::fs::read_to_string(common::model_dir("lgb_binary").join("model.lgb")).unwrap();
    let backwards = lgb_text.replacen("left_child=", "left_child=0 ", 1);
    // UBJSON: an object whose typed float array declares 2^31 elements in a few bytes.
    let mut huge = b"{i\x01a[$d#l".to_vec();
    huge.extend_from_slice(&0x7fff_ffffi32.to_be_bytes());
    let mut deep = b"{\"a\": ".to_vec();
    deep.extend(std::iter::repeat_n(b'[', 100_000));
    let mut skops = Vec::new();
    {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(&mut skops));
        let opts = zip::write::SimpleFileOptions::default();
        z.start_file("schema.json", opts).unwrap();
        std::io::Write::write_all(
            &mut z,
            br#"{"__class__": "LGBMClassifier", "__module__": "lightgbm.sklearn", "__loader__": "ObjectNode", "content": {"__class__": "system", "__module__": "os", "__loader__": "FunctionNode", "content": "rm"}}"#,
        )
        .unwrap();
        z.finish().unwrap();
    }
    vec![
        (
            "xgb_child_is_root",
            xgb("model.json", to_root.into_bytes()),
            "outside 1..",
        ),
        (
            "xgb_cycle",
            xgb("model.json", cyclic.into_bytes()),
            "reached twice",
        ),
        ("xgb_huge_array", xgb("model.ubj", huge), "fewer bytes left"),
        (
            "xgb_deep_nesting",
            xgb("model.json", deep),
            "nesting deeper than",
        ),
        ("xgb_empty", xgb("model.xgb", Vec::new()), "empty"),
        (
            "xgb_truncated_legacy",
            xgb("model.xgb", b"binf\x00\x00".to_vec()),
            "bytes needed",
        ),
        (
            "lgb_backwards_child",
            lgb(
                "model.lgb",
                "lightgbm.basic.Booster",
                backwards.into_bytes(),
            ),
            "cannot load LightGBM model",
        ),
        (
            "lgb_pickle",
            lgb(
                "model.pkl",
                "lightgbm.sklearn.LGBMClassifier",
                b"\x80\x04".to_vec(),
            ),
            "skops",
        ),
        (
            "skops_function",
            lgb("model.skops", "lightgbm.sklearn.LGBMClassifier", skops),
            "FunctionNode of os.system",
        ),
    ]
}

/// The start-up failure as the README promises it: besides log records (one timestamped
/// line each), stderr holds exactly one line, `mlflow-serve: error: …`, and no panic.
fn one_error_line(name: &str, stderr: &[u8]) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    let is_log = |l: &str| {
        l.len() > 20 && l.as_bytes()[..4].iter().all(u8::is_ascii_digit) && l.as_bytes()[4] == b'-'
    };
    let rest: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !is_log(l))
        .collect();
    assert!(!stderr.contains("panicked"), "{name}: panicked: {stderr}");
    assert_eq!(rest.len(), 1, "{name}: not one error line: {stderr}");
    assert!(
        rest[0].starts_with("mlflow-serve: error: "),
        "{name}: {stderr}"
    );
    rest[0].to_string()
}

/// Without HOME or XDG_CACHE_HOME the model cache is a private directory under the temp dir;
/// when that cannot be used (here a file stands where it should be), start-up fails naming
/// it, and no shared directory is used instead. When it can, it is made with mode 0700.
#[test]
fn the_model_cache_never_falls_back_to_a_shared_directory() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let tmp = tempfile::tempdir().unwrap();
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    let private = tmp.path().join(format!("mlflow-serve-{uid}"));
    std::fs::write(&private, b"someone else's").unwrap();
    let run = |args: &[&str], stdin: std::process::Stdio| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mlflow-serve"))
            .args(args)
            .env_remove("HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("MLFLOW_SERVE_MODEL_CACHE")
            .env("TMPDIR", tmp.path())
            .env("NO_COLOR", "1")
            .stdin(stdin)
            .output()
            .unwrap()
    };
    let model = common::model_dir("wine_cols");
    let model = model.to_str().unwrap();
    for args in [
        &["models", "serve", "-m", model, "-p", "0"][..],
        &["models", "predict", "-m", model],
        &["models", "generate-dockerfile", "-m", model, "-d"],
    ] {
        let mut args = args.to_vec();
        let out_dir = tmp.path().join("context");
        if args.last() == Some(&"-d") {
            args.push(out_dir.to_str().unwrap());
        }
        let out = run(&args, std::process::Stdio::null());
        assert!(!out.status.success(), "{args:?}");
        let line = one_error_line("cache", &out.stderr);
        assert!(
            line.contains(&format!(
                "{} cannot be used (it is not a directory)",
                private.display()
            )),
            "{args:?}: {line}"
        );
        assert!(line.contains("--model-cache"), "{line}");
    }
    // The private directory usable: made 0700 and used.
    std::fs::remove_file(&private).unwrap();
    let example =
        std::fs::File::open(common::model_dir("wine_cols").join("serving_input_example.json"));
    let out = run(
        &["models", "predict", "-m", model, "-q"],
        example.unwrap().into(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = std::fs::metadata(&private).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
}

/// The download limits and their env vars apply to the image commands too (once: built-in
/// defaults whatever was set), and the refusal names the flag.
#[test]
fn image_commands_take_the_model_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let model = common::model_dir("wine_cols");
    for (flag, env) in [(true, false), (false, true)] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mlflow-serve"));
        cmd.args(["models", "generate-dockerfile", "-m"])
            .arg(&model)
            .arg("-d")
            .arg(tmp.path().join("ctx"));
        if flag {
            cmd.args(["--max-model-files", "1"]);
        }
        if env {
            cmd.env("MLFLOW_SERVE_MAX_MODEL_FILES", "1");
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains("--max-model-files"), "{stderr}");
    }
}

/// MLflow's flags that mean nothing here are accepted by every command that takes `-m` and
/// named once in the log (their values never: they may hold secrets). `--env-manager` is
/// not one of them: it chooses the Python of models run in Python workers (a native model
/// takes it and needs no Python).
#[test]
fn ignored_mlflow_flags_are_named_once_in_the_log() {
    let model = common::model_dir("wine_cols");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mlflow-serve"))
        .args(["models", "predict", "-m"])
        .arg(&model)
        .args([
            "-q",
            "--env-manager",
            "virtualenv",
            "--install-mlflow",
            "--env",
            "TOKEN=s3cr3t",
        ])
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdin(std::fs::File::open(model.join("serving_input_example.json")).unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("flag=\"--env-manager\""),
        "--env-manager is used, not ignored: {stderr}"
    );
    for flag in ["--install-mlflow", "--env"] {
        let named = stderr
            .lines()
            .filter(|l| {
                l.contains("accepted and ignored") && l.ends_with(&format!("flag=\"{flag}\""))
            })
            .count();
        assert_eq!(named, 1, "{flag}: {stderr}");
    }
    assert!(
        !stderr.contains("s3cr3t"),
        "a value reached the log: {stderr}"
    );
}
