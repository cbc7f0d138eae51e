//! Backpressure over HTTP on the compute-bound CNN fixture: a full queue answers 503 at
//! once with `Retry-After`; a request over `-t` answers 504; the server keeps serving.

mod common;

use common::{model_dir, Server};

fn images(n: usize) -> Vec<u8> {
    let row = vec!["0.5"; 28].join(",");
    let image = format!("[{}]", vec![format!("[{row}]"); 28].join(","));
    format!(
        r#"{{"inputs": [{}]}}"#,
        vec![format!("[{image}]"); n].join(",")
    )
    .into_bytes()
}

const JSON: [(&str, &str); 1] = [("Content-Type", "application/json")];

#[test]
fn a_full_queue_sheds_load_with_503_and_retry_after() {
    let server = Server::start(
        &model_dir("cnn_mnist"),
        &[
            "--max-queue",
            "1",
            "--workers",
            "1",
            "--max-batch-rows",
            "1",
            "--intra-op-threads",
            "1",
        ],
    );
    let body = images(600);
    let port = server.port;
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let b = body.clone();
            std::thread::spawn(move || {
                common::http(port, "POST", "/invocations", &JSON, &b).expect("request")
            })
        })
        .collect();
    let answers: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let shed: Vec<_> = answers.iter().filter(|r| r.status == 503).collect();
    assert!(
        !shed.is_empty(),
        "no request was shed: {:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(answers.iter().all(|r| r.status == 200 || r.status == 503));
    for r in shed {
        assert_eq!(r.header("retry-after"), Some("1"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error_code"], "TEMPORARILY_UNAVAILABLE");
    }
    assert_eq!(
        server
            .request("POST", "/invocations", &JSON, &images(1))
            .status,
        200
    );
}

#[test]
fn a_request_over_the_timeout_gets_504_and_the_server_goes_on() {
    let server = Server::start(
        &model_dir("cnn_mnist"),
        &["-t", "1", "--intra-op-threads", "1"],
    );
    let r = server.request("POST", "/invocations", &JSON, &images(4000));
    assert_eq!(r.status, 504);
    assert_eq!(r.body, b"Request processing time exceeded limit");
    // The runtime cannot be interrupted: requests queued behind the long call may time out
    // too, but once it is done the server answers normally.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let ok = loop {
        let r = server.request("POST", "/invocations", &JSON, &images(2));
        if r.status == 200 || std::time::Instant::now() > deadline {
            break r;
        }
        assert_eq!(r.status, 504);
    };
    assert_eq!(ok.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&ok.body).unwrap();
    assert_eq!(v["predictions"]["logits"].as_array().unwrap().len(), 2);
}
