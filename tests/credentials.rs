//! What the binary sends to the hosts it downloads from: credentials written into
//! `MLFLOW_TRACKING_URI` reach the tracking server and no other host (an `mlflow-artifacts`
//! URI naming another host, a redirect to another origin), never appear in its output, and
//! a file longer than its listing (or a model past `--max-model-bytes`) is cut off at once.
//! The other side is a recording peer (`common::peer`) that answers what a hostile or
//! misconfigured server would.

mod common;

use std::time::{Duration, Instant};

use common::peer::{Peer, Reply};
use common::stores::{serve_with_log, work_dir, Outcome};

const SECRET: &str = "pw-7f3a9c-secret";

fn basic() -> String {
    // base64("alice:pw-7f3a9c-secret")
    let raw = format!("alice:{SECRET}");
    let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in raw.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(table[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

fn not_found() -> Reply {
    Reply::Fixed(
        404,
        vec![("Content-Type".into(), "application/json".into())],
        br#"{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "not here"}"#.to_vec(),
    )
}

fn failed(outcome: Outcome, log: &str) -> String {
    assert!(
        !log.contains(SECRET),
        "the secret leaked into the output: {log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    match outcome {
        Outcome::Failed(code, lines) => {
            assert_ne!(code, 0);
            lines.join("\n")
        }
        Outcome::Served(p) => panic!("expected a failure, served {p}"),
    }
}

#[test]
fn tracking_uri_credentials_reach_the_tracking_server_and_no_other_host() {
    let dir = work_dir("credentials-hosts");
    let tracking = Peer::start(|_| not_found());
    let other = Peer::start(|_| not_found());
    let uri = format!("http://alice:{SECRET}@127.0.0.1:{}", tracking.port);
    let envs = [("MLFLOW_TRACKING_URI", uri.as_str())];
    let args = ["--resolve-timeout", "10"];

    // The tracking server itself gets them (so the check below can see them if they are sent).
    let (o, log) = serve_with_log(
        "mlflow-artifacts:/1/models/m-1/artifacts",
        &dir,
        &envs,
        &args,
    );
    failed(o, &log);
    let seen = tracking.seen();
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|s| s.header("authorization") == Some(basic().as_str())),
        "{seen:?}"
    );

    // An mlflow-artifacts URI naming another host: the request goes there, without them.
    let (o, log) = serve_with_log(
        &format!(
            "mlflow-artifacts://127.0.0.1:{}/1/models/m-1/artifacts",
            other.port
        ),
        &dir,
        &envs,
        &args,
    );
    failed(o, &log);
    let seen = other.seen();
    assert!(!seen.is_empty(), "the other host was never asked");
    assert!(
        seen.iter().all(|s| s.header("authorization").is_none()),
        "{seen:?}"
    );
}

#[test]
fn redirects_are_followed_within_the_origin_only() {
    let dir = work_dir("credentials-redirects");
    let elsewhere = Peer::start(|_| not_found());
    let away = elsewhere.port;
    // Every registry call is redirected to another origin.
    let tracking = Peer::start(move |head| {
        let target = head.split(' ').nth(1).unwrap_or("/").to_string();
        Reply::Fixed(
            302,
            vec![(
                "Location".into(),
                format!("http://127.0.0.1:{away}{target}"),
            )],
            Vec::new(),
        )
    });
    let uri = format!("http://alice:{SECRET}@127.0.0.1:{}", tracking.port);
    let envs = [("MLFLOW_TRACKING_URI", uri.as_str())];
    let (o, log) = serve_with_log(
        "models:/wine-quality/1",
        &dir,
        &envs,
        &["--resolve-timeout", "10"],
    );
    let line = failed(o, &log);
    assert!(!tracking.seen().is_empty());
    assert!(
        elsewhere.seen().is_empty(),
        "followed a redirect to another origin: {:?} ({line})",
        elsewhere.seen()
    );

    // A redirect within the same origin is followed, with the credentials.
    let same = Peer::start(|head| {
        let target = head.split(' ').nth(1).unwrap_or("/").to_string();
        if target.starts_with("/moved") {
            not_found()
        } else {
            Reply::Fixed(
                302,
                vec![("Location".into(), format!("/moved{target}"))],
                Vec::new(),
            )
        }
    });
    let uri = format!("http://alice:{SECRET}@127.0.0.1:{}", same.port);
    let envs = [("MLFLOW_TRACKING_URI", uri.as_str())];
    let (o, log) = serve_with_log(
        "models:/wine-quality/1",
        &dir,
        &envs,
        &["--resolve-timeout", "10"],
    );
    failed(o, &log);
    let moved: Vec<_> = same
        .seen()
        .into_iter()
        .filter(|s| s.target().starts_with("/moved"))
        .collect();
    assert!(!moved.is_empty(), "{:?}", same.seen());
    assert!(moved
        .iter()
        .all(|s| s.header("authorization") == Some(basic().as_str())));
}

/// A tracking server whose artifact listing says `listed` (or nothing) for `MLmodel` and
/// whose download of it never ends.
fn endless_artifacts(listed: Option<u64>) -> Peer {
    Peer::start(move |head| {
        let target = head.split(' ').nth(1).unwrap_or("/");
        if target.contains('?') {
            let size = listed.map_or(String::new(), |n| format!(r#", "file_size": {n}"#));
            Reply::Fixed(
                200,
                vec![("Content-Type".into(), "application/json".into())],
                format!(r#"{{"files": [{{"path": "MLmodel", "is_dir": false{size}}}]}}"#)
                    .into_bytes(),
            )
        } else {
            Reply::Endless(4 << 30)
        }
    })
}

#[test]
fn a_download_past_its_listed_size_or_the_model_budget_stops_at_once() {
    for (listed, extra, expect) in [
        (Some(100), vec![], "more bytes than the 100 listed"),
        (
            None,
            vec!["--max-model-bytes", "1000000"],
            "more than --max-model-bytes (1000000) in all",
        ),
    ] {
        let dir = work_dir("credentials-oversize");
        let peer = endless_artifacts(listed);
        let uri = format!("http://127.0.0.1:{}", peer.port);
        let cache = dir.join("cache");
        let cache_s = cache.display().to_string();
        let envs = [
            ("MLFLOW_TRACKING_URI", uri.as_str()),
            ("MLFLOW_SERVE_MODEL_CACHE", cache_s.as_str()),
        ];
        let mut args = vec!["--resolve-timeout", "60"];
        args.extend(extra);
        let started = Instant::now();
        let (o, log) = serve_with_log(
            "mlflow-artifacts:/1/models/m-1/artifacts",
            &dir,
            &envs,
            &args,
        );
        let line = failed(o, &log);
        assert!(line.contains(expect), "{line}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
        // Give the peer a moment to notice the hang-up and log what it wrote.
        let deadline = Instant::now() + Duration::from_secs(10);
        let written = loop {
            if let Some(s) = peer.seen().into_iter().find(|s| !s.target().contains('?')) {
                break s.written;
            }
            assert!(Instant::now() < deadline, "the download never ended");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            written < 256 << 20,
            "{written} bytes sent before the client stopped"
        );
        // Nothing half-downloaded is left to be mistaken for a model.
        let left: Vec<_> = std::fs::read_dir(&cache)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{left:?}");
    }
}
