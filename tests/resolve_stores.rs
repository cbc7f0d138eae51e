//! Model URI resolution against real stores made by real MLflow 3.17.2: a SQLite store, a
//! file store, a real `mlflow server` (REST + artifact proxy, with and without basic auth) and
//! moto's S3 server. For every URI form, mlflow-serve must serve the version MLflow serves
//! (each version predicts differently), or fail like MLflow with one line and a non-zero exit.

mod common;

use std::time::{Duration, Instant};

use common::stores::{
    check_cases, make_stores, mlflow_server, moto_server, serve_outcome, snapshot, work_dir,
    Outcome,
};

fn failed_line(o: Outcome) -> String {
    match o {
        Outcome::Failed(code, lines) => {
            assert_ne!(code, 0);
            assert_eq!(lines.len(), 1, "one line expected: {lines:?}");
            assert!(!lines[0].contains("panicked"), "{lines:?}");
            lines[0].clone()
        }
        Outcome::Served(p) => panic!("expected a failure, served {p}"),
    }
}

#[test]
fn sqlite_store_resolves_every_uri_like_mlflow() {
    let dir = work_dir("sqlite");
    let db = format!("sqlite:///{}", dir.join("mlflow.db").display());
    let manifest = make_stores(&dir, &["registry", &db], &[]);
    let before = snapshot(&dir.join("mlruns"));
    let db_before = std::fs::metadata(dir.join("mlflow.db"))
        .unwrap()
        .modified()
        .unwrap();

    let n = check_cases(&manifest, &dir, &[("MLFLOW_TRACKING_URI", &db)]);
    assert!(n >= 25, "{n} cases");
    // The default store (no MLFLOW_TRACKING_URI) is ./mlflow.db in the working directory.
    assert!(matches!(
        serve_outcome("models:/wine-quality/Staging", &dir, &[], &[]),
        Outcome::Served(p) if (p - 45.6275).abs() < 1e-3
    ));
    // Registry URI separate from the tracking URI.
    assert!(matches!(
        serve_outcome(
            "models:/wine-quality@champion",
            &dir,
            &[("MLFLOW_TRACKING_URI", "http://127.0.0.1:9"), ("MLFLOW_REGISTRY_URI", &db)],
            &[]
        ),
        Outcome::Served(p) if (p - 35.6275).abs() < 1e-3
    ));

    // Nothing was written into the store (MLflow writes registered_model_meta: we don't).
    assert_eq!(before, snapshot(&dir.join("mlruns")));
    assert_eq!(
        db_before,
        std::fs::metadata(dir.join("mlflow.db"))
            .unwrap()
            .modified()
            .unwrap()
    );

    // Missing artifacts of a registered version: a clear line, no crash.
    let v5 = manifest["versions"]["5"]["model_id"].as_str().unwrap();
    let exp = manifest["experiment_id"].as_str().unwrap();
    std::fs::remove_dir_all(dir.join("mlruns").join(exp).join("models").join(v5)).unwrap();
    let line = failed_line(serve_outcome(
        "models:/wine-quality/5",
        &dir,
        &[("MLFLOW_TRACKING_URI", &db)],
        &[],
    ));
    assert!(line.contains("No such file or directory"), "{line}");

    // No database where the tracking URI points.
    let line = failed_line(serve_outcome(
        "models:/wine-quality/1",
        &dir,
        &[("MLFLOW_TRACKING_URI", "sqlite:///no-such.db")],
        &[],
    ));
    assert!(line.contains("no database at"), "{line}");
    // mlflow-artifacts: needs an http(s) tracking URI (MLflow's message).
    let line = failed_line(serve_outcome(
        "mlflow-artifacts:/1/models/m-x/artifacts",
        &dir,
        &[("MLFLOW_TRACKING_URI", &db)],
        &[],
    ));
    assert!(
        line.contains("When an mlflow-artifacts URI was supplied, the tracking URI must be a valid http or https URI"),
        "{line}"
    );

    // Another process holding the write lock: resolution waits for it instead of failing.
    let mut locker = std::process::Command::new(common::stores::python())
        .args([
            "-c",
            "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); \
             c.execute('BEGIN EXCLUSIVE'); c.execute(\"UPDATE registered_models SET description='x' WHERE name='wine-lonely'\"); \
             print('locked', flush=True); time.sleep(3); c.execute('ROLLBACK')",
        ])
        .arg(dir.join("mlflow.db"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 6];
    std::io::Read::read_exact(locker.stdout.as_mut().unwrap(), &mut first).unwrap();
    assert_eq!(&first, b"locked");
    let started = Instant::now();
    assert!(matches!(
        serve_outcome("models:/wine-quality/2", &dir, &[("MLFLOW_TRACKING_URI", &db)], &[]),
        Outcome::Served(p) if (p - 25.6275).abs() < 1e-3
    ));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the lock was not held?"
    );
    assert!(locker.wait().unwrap().success());
}

#[test]
fn file_store_resolves_every_uri_like_mlflow_when_allowed() {
    let dir = work_dir("filestore");
    let uri = format!("file://{}", dir.join("mlruns").display());
    let allow = [("MLFLOW_ALLOW_FILE_STORE", "true")];
    let manifest = make_stores(&dir, &["registry", &uri], &allow);
    let before = snapshot(&dir.join("mlruns"));

    let n = check_cases(
        &manifest,
        &dir,
        &[
            ("MLFLOW_TRACKING_URI", &uri),
            ("MLFLOW_ALLOW_FILE_STORE", "true"),
        ],
    );
    assert!(n >= 25, "{n} cases");
    assert_eq!(
        before,
        snapshot(&dir.join("mlruns")),
        "the store was written to"
    );

    // ./mlruns with experiments is the default store, as in MLflow 3.17.
    assert!(matches!(
        serve_outcome("models:/wine-quality/Production", &dir, &allow, &[]),
        Outcome::Served(p) if (p - 25.6275).abs() < 1e-3
    ));
    // Without MLFLOW_ALLOW_FILE_STORE the file store is refused with MLflow's message.
    for env in [vec![("MLFLOW_TRACKING_URI", uri.as_str())], vec![]] {
        let line = failed_line(serve_outcome("models:/wine-quality/1", &dir, &env, &[]));
        assert!(
            line.contains(
                "The filesystem model registry backend (e.g., './mlruns') is in maintenance mode"
            ) && line.contains("MLFLOW_ALLOW_FILE_STORE=true"),
            "{line}"
        );
    }
    let run_id = manifest["run_id"].as_str().unwrap();
    let line = failed_line(serve_outcome(
        &format!("runs:/{run_id}/model"),
        &dir,
        &[],
        &[],
    ));
    assert!(
        line.contains("The filesystem tracking backend (e.g., './mlruns') is in maintenance mode"),
        "{line}"
    );
}

#[test]
fn tracking_server_rest_and_artifact_proxy_resolve_like_mlflow() {
    let dir = work_dir("rest");
    let server = mlflow_server(&dir, &[], &[]);
    let url = format!("http://127.0.0.1:{}", server.port);
    let manifest = make_stores(&dir, &["registry", &url], &[("MLFLOW_TRACKING_URI", &url)]);
    let cache = dir.join("cache");
    let cache_s = cache.display().to_string();
    let envs = [
        ("MLFLOW_TRACKING_URI", url.as_str()),
        ("MLFLOW_SERVE_MODEL_CACHE", cache_s.as_str()),
    ];
    let n = check_cases(&manifest, &dir, &envs);
    assert!(n >= 25, "{n} cases");

    // mlflow-artifacts: URIs directly, in both spellings.
    let v3 = manifest["versions"]["3"]["model_id"].as_str().unwrap();
    let exp = manifest["experiment_id"].as_str().unwrap();
    for uri in [
        format!("mlflow-artifacts:/{exp}/models/{v3}/artifacts"),
        format!(
            "mlflow-artifacts://127.0.0.1:{}/{exp}/models/{v3}/artifacts",
            server.port
        ),
    ] {
        assert!(
            matches!(serve_outcome(&uri, &dir, &envs, &[]), Outcome::Served(p) if (p - 35.6275).abs() < 1e-3),
            "{uri}"
        );
    }

    // The same store behind HTTPS with a self-signed certificate: refused by default, accepted
    // with MLFLOW_TRACKING_SERVER_CERT_PATH or MLFLOW_TRACKING_INSECURE_TLS.
    {
        let (tls, cert) = common::stores::mlflow_tls_server(&dir);
        let https = format!("https://127.0.0.1:{}", tls.port);
        let cert_s = cert.display().to_string();
        let tls_cache = dir.join("tls-cache").display().to_string();
        let base = [
            ("MLFLOW_TRACKING_URI", https.as_str()),
            ("MLFLOW_SERVE_MODEL_CACHE", tls_cache.as_str()),
        ];
        let line = failed_line(serve_outcome(
            "models:/wine-quality/Staging",
            &dir,
            &base,
            &["--resolve-timeout", "5"],
        ));
        assert!(
            line.contains("certificate") || line.contains("UnknownIssuer"),
            "{line}"
        );
        for extra in [
            ("MLFLOW_TRACKING_SERVER_CERT_PATH", cert_s.as_str()),
            ("MLFLOW_TRACKING_INSECURE_TLS", "true"),
        ] {
            let mut envs = base.to_vec();
            envs.push(extra);
            assert!(
                matches!(
                    serve_outcome("models:/wine-quality/Staging", &dir, &envs, &[]),
                    Outcome::Served(p) if (p - 45.6275).abs() < 1e-3
                ),
                "{extra:?}"
            );
        }
    }

    // The download cache: a restart of the same version does not download again.
    let entries = |c: &std::path::Path| {
        let mut v: Vec<_> = std::fs::read_dir(c)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = entries(&cache);
    assert!(
        before.iter().all(|e| !e.starts_with(".partial")),
        "{before:?}"
    );
    let versions_served = before.len();
    drop(server);
    // With the server gone, a cached version still needs the registry: it fails fast and clearly.
    let started = Instant::now();
    let line = failed_line(serve_outcome(
        "models:/wine-quality/3",
        &dir,
        &envs,
        &["--resolve-timeout", "3"],
    ));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(
        line.contains("cannot reach") || line.contains("gave up after 3 s"),
        "{line}"
    );
    assert_eq!(entries(&cache).len(), versions_served);
}

#[test]
fn tracking_server_with_basic_auth_accepts_good_and_refuses_bad_credentials() {
    let dir = work_dir("auth");
    let admin = [
        ("MLFLOW_AUTH_ADMIN_PASSWORD", "s3cret-admin-pw"),
        ("MLFLOW_FLASK_SERVER_SECRET_KEY", "test-secret"),
    ];
    let server = mlflow_server(&dir, &admin, &["--app-name", "basic-auth"]);
    let url = format!("http://127.0.0.1:{}", server.port);
    let creds = [
        ("MLFLOW_TRACKING_URI", url.as_str()),
        ("MLFLOW_TRACKING_USERNAME", "admin"),
        ("MLFLOW_TRACKING_PASSWORD", "s3cret-admin-pw"),
    ];
    let manifest = make_stores(&dir, &["registry", &url, "--minimal"], &creds);
    let staging = manifest["cases"]["models:/wine-quality/Staging"]["prediction"]
        .as_f64()
        .unwrap();
    assert!(matches!(
        serve_outcome("models:/wine-quality/Staging", &dir, &creds, &[]),
        Outcome::Served(p) if (p - staging).abs() < 1e-3
    ));
    for bad in [
        vec![
            ("MLFLOW_TRACKING_URI", url.as_str()),
            ("MLFLOW_TRACKING_USERNAME", "admin"),
            ("MLFLOW_TRACKING_PASSWORD", "wrong"),
        ],
        vec![("MLFLOW_TRACKING_URI", url.as_str())],
    ] {
        let line = failed_line(serve_outcome(
            "models:/wine-quality/Staging",
            &dir,
            &bad,
            &[],
        ));
        assert!(
            line.contains("refused the credentials (HTTP 401)"),
            "{line}"
        );
    }
}

#[test]
fn unreachable_tracking_server_fails_within_the_resolve_timeout() {
    let dir = work_dir("unreachable");
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let line = failed_line(serve_outcome(
        "models:/wine-quality/Staging",
        &dir,
        &[("MLFLOW_TRACKING_URI", &url)],
        &["--resolve-timeout", "2"],
    ));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1800), "no retries? {took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(line.contains(&format!("cannot reach {url}")), "{line}");
    assert!(
        line.contains("Connection refused") || line.contains("connect"),
        "{line}"
    );

    // Credentials written into the tracking URI never reach the error line.
    let secret_url = format!("http://alice:pw-s3cr3t@127.0.0.1:{port}");
    let (outcome, log) = common::stores::serve_with_log(
        "models:/wine-quality/Staging",
        &dir,
        &[("MLFLOW_TRACKING_URI", &secret_url)],
        &["--resolve-timeout", "1"],
    );
    assert!(matches!(outcome, Outcome::Failed(..)), "{outcome:?}");
    assert!(!log.contains("pw-s3cr3t"), "the password leaked: {log}");
    assert!(log.contains("http://***@127.0.0.1"), "{log}");
}

#[test]
fn s3_artifacts_from_an_s3_compatible_server_resolve_and_cache() {
    let dir = work_dir("s3");
    let moto = moto_server(&dir);
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let db = format!("sqlite:///{}", dir.join("s3.db").display());
    let aws = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("MLFLOW_S3_ENDPOINT_URL", endpoint.as_str()),
    ];
    let manifest = make_stores(&dir, &["s3", &db, "mlflow-bucket"], &aws);
    let cache = dir.join("cache");
    let cache_s = cache.display().to_string();
    let mut envs = aws.to_vec();
    envs.push(("MLFLOW_TRACKING_URI", &db));
    envs.push(("MLFLOW_SERVE_MODEL_CACHE", &cache_s));
    let n = check_cases(&manifest, &dir, &envs);
    assert_eq!(n, 4);

    // One cache entry per artifact location; serving again reuses it untouched.
    let list = || -> Vec<(String, std::time::SystemTime)> {
        let mut v: Vec<_> = std::fs::read_dir(&cache)
            .unwrap()
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::metadata(e.path().join("MLmodel"))
                        .unwrap()
                        .modified()
                        .unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let first = list();
    assert_eq!(first.len(), 1, "{first:?}");
    let uri = manifest["artifact_uri"].as_str().unwrap();
    assert!(matches!(
        serve_outcome(uri, &dir, &envs, &[]),
        Outcome::Served(_)
    ));
    assert_eq!(list(), first, "the cached model was downloaded again");

    // A leftover partial download is never used as a model.
    std::fs::create_dir_all(cache.join(".partial-x-123")).unwrap();
    assert!(matches!(
        serve_outcome(uri, &dir, &envs, &[]),
        Outcome::Served(_)
    ));

    // A damaged entry (a file of another size than listed) is downloaded again.
    let entry = cache.join(&first[0].0);
    std::fs::write(entry.join("MLmodel"), "damaged").unwrap();
    assert!(matches!(
        serve_outcome(uri, &dir, &envs, &[]),
        Outcome::Served(_)
    ));
    assert_ne!(
        std::fs::read_to_string(entry.join("MLmodel")).unwrap(),
        "damaged",
        "the damaged entry was served"
    );
    assert_eq!(list().len(), 1);

    // A partial whose lock nobody holds (its process died) is swept by the next download;
    // one without a lock file (too young to judge) is left alone.
    let dead = cache.join(".partial-dead-456");
    std::fs::create_dir_all(&dead).unwrap();
    std::fs::write(dead.join(".mlflow-serve-download.lock"), "").unwrap();

    // Download bounds: a listing past --max-model-bytes or --max-model-files fails at once.
    let fresh = dir.join("cache-bounds").display().to_string();
    let mut bounded = envs.clone();
    bounded.retain(|(k, _)| *k != "MLFLOW_SERVE_MODEL_CACHE");
    bounded.push(("MLFLOW_SERVE_MODEL_CACHE", &fresh));
    let line = failed_line(serve_outcome(
        uri,
        &dir,
        &bounded,
        &["--max-model-bytes", "100"],
    ));
    assert!(line.contains("--max-model-bytes (100)"), "{line}");
    let line = failed_line(serve_outcome(
        uri,
        &dir,
        &bounded,
        &["--max-model-files", "2"],
    ));
    assert!(line.contains("--max-model-files (2)"), "{line}");

    // Changed files at the same URI (a different listing) make a new entry.
    let out = std::process::Command::new(common::stores::python())
        .args([
            "-c",
            "import boto3,os,sys; boto3.client('s3', endpoint_url=os.environ['MLFLOW_S3_ENDPOINT_URL']).put_object(Bucket='mlflow-bucket', Key=sys.argv[1], Body=b'extra')",
        ])
        .arg(format!("{}/extra.txt", uri.trim_start_matches("s3://mlflow-bucket/")))
        .envs(aws.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(matches!(
        serve_outcome(uri, &dir, &envs, &[]),
        Outcome::Served(_)
    ));
    assert_eq!(list().len(), 2);
    assert!(!dead.exists(), "the dead partial was not swept");
    assert!(cache.join(".partial-x-123").exists());

    // A large artifact prints progress lines on stderr while it downloads.
    let copy = r#"
import boto3, os, sys
s3 = boto3.client('s3', endpoint_url=os.environ['MLFLOW_S3_ENDPOINT_URL'])
src = sys.argv[1]
for o in s3.list_objects_v2(Bucket='mlflow-bucket', Prefix=src + '/')['Contents']:
    key = 'big/model/' + o['Key'][len(src) + 1:]
    s3.copy_object(Bucket='mlflow-bucket', Key=key, CopySource={'Bucket': 'mlflow-bucket', 'Key': o['Key']})
s3.put_object(Bucket='mlflow-bucket', Key='big/model/weights.bin', Body=os.urandom(20 * 1024 * 1024))
"#;
    let out = std::process::Command::new(common::stores::python())
        .args(["-c", copy])
        .arg(uri.trim_start_matches("s3://mlflow-bucket/"))
        .envs(aws.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (outcome, log) =
        common::stores::serve_with_log("s3://mlflow-bucket/big/model", &dir, &envs, &[]);
    assert!(matches!(outcome, Outcome::Served(_)), "{outcome:?}");
    assert!(
        log.contains("mlflow-serve: downloading s3://mlflow-bucket/big/model (20.0 MiB)")
            && log.contains("mlflow-serve: downloaded s3://mlflow-bucket/big/model (20.0 MiB)"),
        "{log}"
    );

    // Wrong endpoint: fails within the timeout with one line.
    let mut bad = envs.clone();
    bad.retain(|(k, _)| *k != "MLFLOW_S3_ENDPOINT_URL");
    let closed = format!("http://127.0.0.1:{}", common::free_port());
    bad.push(("MLFLOW_S3_ENDPOINT_URL", &closed));
    let fresh = dir.join("cache2").display().to_string();
    bad.retain(|(k, _)| *k != "MLFLOW_SERVE_MODEL_CACHE");
    bad.push(("MLFLOW_SERVE_MODEL_CACHE", &fresh));
    let started = Instant::now();
    let line = failed_line(serve_outcome(uri, &dir, &bad, &["--resolve-timeout", "3"]));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(line.contains(uri), "{line}");
}
