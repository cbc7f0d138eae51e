//! The abuse suite: the real binary under an address-space limit (`prlimit --as`), one
//! hostile input of each class, each answered within a bounded time, with a bounded rise of
//! peak resident memory (`VmHWM`), a bounded answer, and a live `/ping` afterwards. Plus
//! admission (body budget, connection limit, idle connections), large bodies parsed off the
//! async workers, model directories that point outside themselves, and bad configuration.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{model_dir, Server, WINE};

/// Address space the server may use: its idle peak is about 1.5 GB of mappings (ONNX Runtime,
/// thread stacks, allocator arenas), so this leaves 1.5 GB for requests.
const ADDRESS_SPACE: u64 = 3 << 30;

fn wine_split() -> String {
    let cols: Vec<String> = WINE.iter().map(|c| format!("\"{c}\"")).collect();
    format!(
        "{{\"columns\": [{}], \"data\": [[7, 0.27, 0.36, 20.7, 0.045, 45, 170, 1.001, 3, 0.45, 8.8]]}}",
        cols.join(", ")
    )
}

/// The wine columns as a `dataframe_split` `data` object of one-row columns.
fn wine_columns() -> String {
    WINE.iter()
        .map(|c| format!("\"{c}\": [1.0]"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `n` extra one-row columns for a `data` object.
fn keys_as_columns(prefix: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("\"{prefix}{i}\": [0]"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn wine_record() -> String {
    let vals = [
        7.0, 0.27, 0.36, 20.7, 0.045, 45.0, 170.0, 1.001, 3.0, 0.45, 8.8,
    ];
    let kv: Vec<String> = WINE
        .iter()
        .zip(vals)
        .map(|(c, v)| format!("\"{c}\": {v}"))
        .collect();
    kv.join(", ")
}

/// What one hostile request cost the server.
struct Cost {
    status: u16,
    body: Vec<u8>,
    took: Duration,
    hwm_rise_mb: f64,
}

fn send(server: &mut Server, content_type: &str, body: &[u8]) -> Cost {
    send_to(
        server,
        "/invocations",
        &[("Content-Type", content_type)],
        body,
    )
}

/// Checks a hostile request's cost and prints it (the closing note quotes these lines).
fn bounded(
    class: &str,
    cost: &Cost,
    body_len: usize,
    max_secs: f64,
    max_rise_mb: f64,
    max_answer: usize,
) {
    eprintln!(
        "abuse: {class}: {} bytes in -> {} ({} bytes out) in {:.3} s, VmHWM +{:.1} MB",
        body_len,
        cost.status,
        cost.body.len(),
        cost.took.as_secs_f64(),
        cost.hwm_rise_mb
    );
    assert!(
        cost.took.as_secs_f64() < max_secs,
        "{class}: took {:?}",
        cost.took
    );
    assert!(
        cost.hwm_rise_mb < max_rise_mb,
        "{class}: peak RSS rose {:.1} MB",
        cost.hwm_rise_mb
    );
    assert!(
        cost.body.len() <= max_answer,
        "{class}: answer of {} bytes",
        cost.body.len()
    );
}

fn error_code(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).expect("a JSON error body");
    v["error_code"].as_str().unwrap_or_default().to_string()
}

fn limited_wine(extra: &[&str]) -> Server {
    let mut server = Server::start_limited(&model_dir("wine_cols"), extra, ADDRESS_SPACE);
    // One ordinary request first, so the baseline peak includes a request's working set.
    let body = format!("{{\"dataframe_split\": {}}}", wine_split());
    let c = send(&mut server, "application/json", body.as_bytes());
    assert_eq!(c.status, 200, "{}", String::from_utf8_lossy(&c.body));
    server
}

#[test]
fn objects_with_hundreds_of_thousands_of_keys_answer_in_linear_time() {
    let mut server = limited_wine(&[]);
    let keys = |prefix: &str, n: usize| -> String {
        (0..n)
            .map(|i| format!("\"{prefix}{i}\": 0"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let n = 300_000;
    let cases = [
        (
            "top-level keys",
            format!(
                "{{{}, \"dataframe_split\": {}}}",
                keys("k", n),
                wine_split()
            ),
            200,
        ),
        (
            "params keys",
            format!(
                "{{\"dataframe_split\": {}, \"params\": {{{}}}}}",
                wine_split(),
                keys("p", n)
            ),
            200,
        ),
        (
            "dataframe_records column names",
            format!(
                "{{\"dataframe_records\": [{{{}, {}}}]}}",
                wine_record(),
                keys("c", n)
            ),
            200,
        ),
        (
            "inputs record keys",
            format!("{{\"inputs\": [{{{}, {}}}]}}", wine_record(), keys("c", n)),
            200,
        ),
        (
            "instances row keys",
            format!(
                "{{\"instances\": [{{{}, {}}}]}}",
                wine_record(),
                keys("c", n)
            ),
            200,
        ),
        (
            "dataframe_split object keys",
            format!(
                "{{\"dataframe_split\": {{{}, \"data\": [[1]]}}}}",
                keys("s", n)
            ),
            400,
        ),
        (
            "dataframe_split data given as columns",
            format!(
                "{{\"dataframe_split\": {{\"data\": {{{}, {}}}}}}}",
                wine_columns(),
                keys_as_columns("c", n)
            ),
            200,
        ),
        (
            "dataframe_split columns choosing among record keys",
            format!(
                "{{\"dataframe_split\": {{\"columns\": [{}], \"data\": [{{{}, {}}}]}}}}",
                (0..n)
                    .map(|i| format!("\"c{i}\""))
                    .chain(WINE.iter().map(|c| format!("\"{c}\"")))
                    .collect::<Vec<_>>()
                    .join(", "),
                keys("c", n),
                wine_record()
            ),
            200,
        ),
        (
            // (a column short: the frame is built, then refused with a bounded printout)
            "dataframe_split data as objects of rows",
            format!(
                "{{\"dataframe_split\": {{\"data\": {{{}}}}}}}",
                WINE[..10]
                    .iter()
                    .map(|c| format!("\"{c}\": {{{}}}", keys("r", n / 10)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            400,
        ),
    ];
    for (class, body, want) in cases {
        let c = send(&mut server, "application/json", body.as_bytes());
        assert_eq!(
            c.status,
            want,
            "{class}: {}",
            String::from_utf8_lossy(&c.body[..c.body.len().min(300)])
        );
        // Quadratic duplicate detection took minutes on these; linear takes milliseconds
        // (the bound leaves room for a debug build on a busy machine).
        bounded(class, &c, body.len(), 10.0, 400.0, 64 * 1024);
    }
}

#[test]
fn padded_frames_are_refused_before_they_expand() {
    let mut server = limited_wine(&[]);
    let wide: Vec<String> = (0..2000).map(|i| i.to_string()).collect();
    let ragged = format!(
        "{{\"dataframe_split\": {{\"data\": [[{}]{}]}}}}",
        wide.join(","),
        ",[]".repeat(400_000)
    );
    let sparse_records = format!(
        "{{\"dataframe_records\": [{}]}}",
        (0..150_000)
            .map(|i| format!("{{\"c{i}\":1}}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let sparse_inputs = format!(
        "{{\"inputs\": [{}]}}",
        (0..150_000)
            .map(|i| format!("{{\"c{i}\":1}}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let header: Vec<String> = (0..20_000).map(|i| format!("c{i}")).collect();
    let csv = format!("{}\n{}", header.join(","), "1\n".repeat(500_000));
    let cases = [
        ("ragged dataframe_split rows", "application/json", ragged),
        (
            "sparse dataframe_records",
            "application/json",
            sparse_records,
        ),
        ("sparse inputs records", "application/json", sparse_inputs),
        ("wide CSV header over short rows", "text/csv", csv),
    ];
    for (class, ct, body) in cases {
        let c = send(&mut server, ct, body.as_bytes());
        assert_eq!(
            c.status,
            413,
            "{class}: {}",
            String::from_utf8_lossy(&c.body)
        );
        assert_eq!(error_code(&c.body), "REQUEST_LIMIT_EXCEEDED", "{class}");
        bounded(class, &c, body.len(), 10.0, 150.0, 4096);
    }
    // The same shapes at a reasonable size keep MLflow's answer (pandas pads with NaN).
    let small = format!(
        "{{\"dataframe_split\": {{\"columns\": [{}], \"data\": [[7, 0.27, 0.36, 20.7, 0.045, 45, 170, 1.001, 3, 0.45, 8.8], [7]]}}}}",
        WINE.iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let c = send(&mut server, "application/json", small.as_bytes());
    assert_eq!(c.status, 200, "{}", String::from_utf8_lossy(&c.body));
}

/// A Parquet file of `rows` copies of one `len`-byte string, dictionary-encoded: a few
/// kilobytes that decode to `rows × len` bytes.
fn parquet_bomb(rows: usize, len: usize) -> Vec<u8> {
    parquet_bomb_with(rows, len, parquet::basic::Compression::UNCOMPRESSED)
}

/// [`parquet_bomb`] with the pages compressed (a long string of one letter shrinks to a few
/// kilobytes with Snappy).
fn parquet_bomb_with(rows: usize, len: usize, compression: parquet::basic::Compression) -> Vec<u8> {
    use arrow_array::{DictionaryArray, Int32Array, RecordBatch, StringArray};
    use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
    use parquet::file::properties::WriterProperties;
    use std::sync::Arc;
    let values = StringArray::from(vec!["x".repeat(len)]);
    let keys = Int32Array::from(vec![0; rows]);
    let dict = DictionaryArray::try_new(keys, Arc::new(values)).unwrap();
    let batch = RecordBatch::try_from_iter([("s", Arc::new(dict) as _)]).unwrap();
    let mut out = Vec::new();
    // Without the Arrow schema in the footer, a reader sees a plain UTF-8 column.
    let opts = ArrowWriterOptions::new()
        .with_skip_arrow_metadata(true)
        .with_properties(
            WriterProperties::builder()
                .set_compression(compression)
                .set_dictionary_page_size_limit(64 << 20)
                .build(),
        );
    let mut w = ArrowWriter::try_new_with_options(&mut out, batch.schema(), opts).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

#[test]
fn parquet_that_decodes_to_gigabytes_is_refused_while_decoding() {
    let mut server = limited_wine(&[]);
    // 1 Mi rows of one 32 KiB string: 32 GiB decoded.
    let bomb = parquet_bomb(1 << 20, 32 << 10);
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let c = send(&mut server, "application/vnd.apache.parquet", &bomb);
    assert_eq!(c.status, 413, "{}", String::from_utf8_lossy(&c.body));
    assert_eq!(error_code(&c.body), "REQUEST_LIMIT_EXCEEDED");
    bounded("parquet dictionary bomb", &c, bomb.len(), 10.0, 200.0, 4096);
    // A compressed file of ~70 KB whose dictionary holds one 1.4 MB string that 1 024 rows
    // reference: once +1.47 GB decoded in the first batch before the budget was checked.
    let bomb = parquet_bomb_with(1024, 1_400_000, parquet::basic::Compression::SNAPPY);
    assert!(bomb.len() < 200_000, "{}", bomb.len());
    let c = send(&mut server, "application/vnd.apache.parquet", &bomb);
    assert_eq!(c.status, 413, "{}", String::from_utf8_lossy(&c.body));
    bounded(
        "parquet long dictionary value",
        &c,
        bomb.len(),
        10.0,
        100.0,
        4096,
    );
    // More rows than the cell budget: refused from the footer, before decoding.
    let rows = parquet_bomb(2 << 20, 8);
    let c = send(&mut server, "application/vnd.apache.parquet", &rows);
    assert_eq!(c.status, 413, "{}", String::from_utf8_lossy(&c.body));
    bounded("parquet row bomb", &c, rows.len(), 10.0, 100.0, 4096);
    // Every file that crashed or blew up the decoder under fuzzing (a panic, an allocation
    // abort, gigabytes reserved from a page header) is refused like any bad file.
    let mut found = 0;
    for entry in std::fs::read_dir(common::root().join("fuzz/regressions")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("parquet_request--") {
            continue;
        }
        found += 1;
        let crash = std::fs::read(&path).unwrap();
        let c = send(&mut server, "application/vnd.apache.parquet", &crash);
        // A bad file (400), or one that declares more than the budget allows (413).
        assert!(
            c.status == 400 || c.status == 413,
            "{name}: {} {}",
            c.status,
            String::from_utf8_lossy(&c.body)
        );
        bounded(&name, &c, crash.len(), 10.0, 50.0, 4096);
    }
    assert!(found >= 5, "{found} Parquet regressions");
}

#[test]
fn error_messages_embed_a_bounded_rendering_of_the_data() {
    let mut server = limited_wine(&[]);
    let invalid_utf8 = vec![0x80u8; 20 << 20];
    let c = send(&mut server, "application/json", &invalid_utf8);
    assert_eq!(c.status, 400);
    let msg = String::from_utf8_lossy(&c.body);
    assert!(msg.contains("UnicodeDecodeError"), "{msg}");
    assert!(msg.contains("..."), "the rendering is cut");
    bounded(
        "20 MB of invalid UTF-8",
        &c,
        invalid_utf8.len(),
        10.0,
        150.0,
        32 * 1024,
    );
    let big_string = format!("{{\"inputs\": \"{}\"}}", "A".repeat(20 << 20));
    let c = send(&mut server, "application/json", big_string.as_bytes());
    bounded(
        "a 20 MB string scalar",
        &c,
        big_string.len(),
        10.0,
        200.0,
        32 * 1024,
    );
    let bad_columns = format!(
        "{{\"dataframe_split\": {{\"columns\": {{{}}}, \"data\": [[1]]}}}}",
        (0..200_000)
            .map(|i| format!("\"k{i}\": {i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let c = send(&mut server, "application/json", bad_columns.as_bytes());
    assert_eq!(c.status, 400);
    bounded(
        "a 200k-entry dict where columns go",
        &c,
        bad_columns.len(),
        10.0,
        200.0,
        32 * 1024,
    );
    // A frame printed in the message with a 2 MB column label (once a panic: `format!`
    // refuses padding widths past 65 535) and 2 MB strings in its cells.
    let cols: Vec<String> = WINE[..10].iter().map(|c| format!("\"{c}\"")).collect();
    let long = "L".repeat(2 << 20);
    let frame = format!(
        "{{\"dataframe_split\": {{\"columns\": [{}, \"{long}\", \"s\"], \"data\": [[7, 0.27, 0.36, 20.7, 0.045, 45, 170, 1.001, 3, 0.45, 8.8, \"{long}\"]]}}}}",
        cols.join(", ")
    );
    let c = send(&mut server, "application/json", frame.as_bytes());
    assert_eq!(c.status, 400, "{}", String::from_utf8_lossy(&c.body));
    bounded(
        "a printed frame with a 2 MB label and a 2 MB cell",
        &c,
        frame.len(),
        10.0,
        100.0,
        32 * 1024,
    );
    let deep = format!(
        "{{\"inputs\": {}1{}}}",
        "[".repeat(1 << 20),
        "]".repeat(1 << 20)
    );
    let c = send(&mut server, "application/json", deep.as_bytes());
    assert_eq!(c.status, 400);
    bounded("1 Mi nested arrays", &c, deep.len(), 10.0, 100.0, 32 * 1024);
}

/// Opens a request whose body never finishes: its declared bytes are held by the server.
fn hold_body(port: u16, declared: usize) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n{{\"da"
    )
    .unwrap();
    s
}

#[test]
fn bodies_in_flight_are_bounded_and_the_excess_is_refused_at_once() {
    let mb = 1 << 20;
    let mut server = limited_wine(&[
        "--max-body-bytes",
        &mb.to_string(),
        "--max-inflight-bytes",
        &(2 * mb).to_string(),
    ]);
    let held: Vec<TcpStream> = (0..2).map(|_| hold_body(server.port, mb)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let body = format!("{{\"dataframe_split\": {}}}", wine_split());
    let r = server.request(
        "POST",
        "/invocations",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(error_code(&r.body), "TEMPORARILY_UNAVAILABLE");
    assert!(started.elapsed() < Duration::from_secs(2));
    let metrics = String::from_utf8(server.request("GET", "/metrics", &[], b"").body).unwrap();
    assert!(
        metrics.contains(&format!("mlflow_serve_body_bytes_in_flight {}", 2 * mb)),
        "held bytes are published"
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    let c = send(&mut server, "application/json", body.as_bytes());
    assert_eq!(c.status, 200, "the budget is given back");
}

#[test]
fn thousands_of_idle_connections_do_not_stop_ping() {
    let server = Server::start_limited(&model_dir("wine_cols"), &[], ADDRESS_SPACE);
    let idle: Vec<TcpStream> = (0..2000)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    let started = Instant::now();
    assert_eq!(server.request("GET", "/ping", &[], b"").status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(idle);
    // With a connection limit, idle connections are closed after the keep-alive timeout and
    // waiting ones are served.
    let limited = Server::start_limited(
        &model_dir("wine_cols"),
        &["--max-connections", "50", "--keep-alive-timeout", "1"],
        ADDRESS_SPACE,
    );
    let idle: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(("127.0.0.1", limited.port)).unwrap())
        .collect();
    let started = Instant::now();
    assert_eq!(limited.request("GET", "/ping", &[], b"").status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    drop(idle);
}

#[test]
fn probes_answer_while_large_bodies_are_parsed() {
    let server = Server::start_limited(&model_dir("wine_cols"), &[], ADDRESS_SPACE);
    let row = "[7, 0.27, 0.36, 20.7, 0.045, 45, 170, 1.001, 3, 0.45, 8.8]";
    let cols: Vec<String> = WINE.iter().map(|c| format!("\"{c}\"")).collect();
    let rows = vec![row; 200_000].join(",");
    let big = std::sync::Arc::new(format!(
        "{{\"dataframe_split\": {{\"columns\": [{}], \"data\": [{rows}]}}}}",
        cols.join(",")
    ));
    let port = server.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders: Vec<_> = (0..3)
        .map(|_| {
            let (big, stop) = (big.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = common::http(
                        port,
                        "POST",
                        "/invocations",
                        &[("Content-Type", "application/json")],
                        big.as_bytes(),
                    )
                    .unwrap();
                    assert!(r.status == 200 || r.status == 503, "{}", r.status);
                    n += 1;
                }
                n
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(server.request("GET", "/ping", &[], b"").status, 200);
        assert_eq!(server.request("GET", "/metrics", &[], b"").status, 200);
        worst = worst.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent: usize = senders.into_iter().map(|t| t.join().unwrap()).sum();
    eprintln!(
        "abuse: probes during {sent} large ({} MB) bodies: worst /ping + /metrics {:?}",
        big.len() >> 20,
        worst
    );
    assert!(sent >= 3, "the large bodies were being parsed");
    assert!(worst < Duration::from_secs(1), "{worst:?}");
}

/// A copy of a fixture model in a fresh temporary directory (removed with the guard).
fn copy_model(name: &str, tag: &str) -> (tempfile::TempDir, PathBuf) {
    let base = tempfile::Builder::new()
        .prefix(&format!("ms-abuse-{tag}-"))
        .tempdir()
        .unwrap();
    let dir = base.path().join("model");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(model_dir(name)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    (base, dir)
}

/// Starts the binary on `model` with a secret in its environment and returns its exit
/// status and everything it logged.
fn start_and_fail(model: &Path) -> (i32, String) {
    let out = common::serve_command(model, common::free_port(), &[])
        .env("RUST_LOG", "info")
        .env("MLFLOW_TRACKING_TOKEN", "s3cr3t-token-value")
        .env("AWS_SECRET_ACCESS_KEY", "s3cr3t-aws-key")
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_model_whose_serving_example_points_outside_leaks_nothing() {
    let (_tmp, dir) = copy_model("wine_cols", "environ");
    let mlmodel = std::fs::read_to_string(dir.join("MLmodel")).unwrap();
    std::fs::write(
        dir.join("MLmodel"),
        mlmodel.replace(
            "serving_input_path: serving_input_example.json",
            "serving_input_path: /proc/self/environ",
        ),
    )
    .unwrap();
    let (code, log) = start_and_fail(&dir);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("outside the model directory"), "{log}");
    assert!(!log.contains("s3cr3t"), "the environment leaked: {log}");
    // The same through a symlink inside the model directory.
    let (_tmp_link, dir) = copy_model("wine_cols", "environ-link");
    std::fs::remove_file(dir.join("serving_input_example.json")).unwrap();
    std::os::unix::fs::symlink("/proc/self/environ", dir.join("serving_input_example.json"))
        .unwrap();
    let (code, log) = start_and_fail(&dir);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("outside the model directory"), "{log}");
    assert!(!log.contains("s3cr3t"), "the environment leaked: {log}");
}

#[test]
fn onnx_external_data_outside_the_model_directory_is_refused() {
    let (_tmp, dir) = copy_model("wine_mlp_external", "extdata");
    let data = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "data"))
        .expect("the external data file");
    let outside = dir.parent().unwrap().join(data.file_name().unwrap());
    std::fs::rename(&data, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &data).unwrap();
    let (code, log) = start_and_fail(&dir);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("escapes model directory"), "{log}");
}

#[test]
fn bad_durations_are_start_up_errors_not_panics() {
    for (flag, value) in [
        ("--drain-delay", "inf"),
        ("--graceful-timeout", "NaN"),
        ("--keep-alive-timeout=-1", ""),
        ("--max-batch-delay", "1e400"),
    ] {
        let mut args = vec!["models", "serve", "-m", "x", flag];
        if !value.is_empty() {
            args.push(value);
        }
        let out = Command::new(env!("CARGO_BIN_EXE_mlflow-serve"))
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(
            err.contains("finite") || err.contains("not a number"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_client_that_disconnects_mid_request_leaves_no_in_flight_count() {
    let mut server = limited_wine(&[]);
    for _ in 0..5 {
        let mut s = hold_body(server.port, 1000);
        s.flush().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        drop(s);
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut raw = String::new();
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    s.read_to_string(&mut raw).unwrap();
    assert!(
        raw.contains("mlflow_serve_in_flight_requests 0"),
        "{}",
        raw.lines()
            .filter(|l| l.contains("in_flight"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(server.alive());
}

/// [`send`] to any path: the cost of one hostile request, with a live `/ping` afterwards.
fn send_to(server: &mut Server, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Cost {
    let before = server.status_kb("VmHWM");
    let started = Instant::now();
    let r = server.request("POST", path, headers, body);
    let took = started.elapsed();
    assert!(server.alive(), "the server died");
    let after = server.status_kb("VmHWM");
    let ping = server.request("GET", "/ping", &[], b"");
    assert_eq!(ping.status, 200, "/ping after a hostile request");
    Cost {
        status: r.status,
        body: r.body,
        took,
        hwm_rise_mb: (after.saturating_sub(before)) as f64 / 1024.0,
    }
}

fn limited_tensor(extra: &[&str]) -> Server {
    let mut server = Server::start_limited(&model_dir("wine_tensor"), extra, ADDRESS_SPACE);
    let ok = br#"{"inputs":[{"name":"x","shape":[1,11],"datatype":"FP32","data":[7,0.27,0.36,20.7,0.045,45,170,1.001,3,0.45,8.8]}]}"#;
    let c = send_to(
        &mut server,
        V2_INFER,
        &[("Content-Type", "application/json")],
        ok,
    );
    assert_eq!(c.status, 200, "{}", String::from_utf8_lossy(&c.body));
    server
}

const V2_INFER: &str = "/v2/models/wine_tensor/infer";
const JSON: (&str, &str) = ("Content-Type", "application/json");

/// The V2 classes of issue 26, against the release-like build (overflow checks off: see
/// Cargo.toml's dev profile): each refused with 400 in bounded time, memory and answer size.
#[test]
fn v2_requests_with_hostile_shapes_counts_and_parameters_cost_little() {
    let mut server = limited_tensor(&[]);
    // A shape of 100 000 ones and one element: once a stack overflow in the array printer.
    let ones = vec!["1"; 100_000].join(",");
    for ct in ["", r#","parameters":{"content_type":"np"}"#] {
        let body = format!(
            r#"{{"inputs":[{{"name":"x","shape":[{ones}],"datatype":"FP32","data":[1]}}]{ct}}}"#
        );
        let c = send_to(&mut server, V2_INFER, &[JSON], body.as_bytes());
        assert_eq!(c.status, 400, "{}", String::from_utf8_lossy(&c.body));
        assert!(String::from_utf8_lossy(&c.body).contains("--max-tensor-rank"));
        bounded("V2 shape of 100 000 ones", &c, body.len(), 2.0, 50.0, 4096);
    }
    // Rank 64 (numpy's most) of ones: printed when refused, no underflow, no recursion past it.
    let body = format!(
        r#"{{"inputs":[{{"name":"x","shape":[{}],"datatype":"FP32","data":[1]}}]}}"#,
        vec!["1"; 64].join(",")
    );
    let c = send_to(&mut server, V2_INFER, &[JSON], body.as_bytes());
    assert_eq!(c.status, 400, "{}", String::from_utf8_lossy(&c.body));
    bounded("V2 rank-64 tensor", &c, body.len(), 2.0, 50.0, 16 * 1024);
    // 6 000 inputs each declaring 65 536 BYTES elements: once ~9 GB reserved before reading.
    let one = r#"{"name":"x","shape":[65536],"datatype":"BYTES","data":["a"]}"#;
    let body = format!(r#"{{"inputs":[{}]}}"#, vec![one; 6000].join(","));
    let c = send_to(&mut server, V2_INFER, &[JSON], body.as_bytes());
    assert_eq!(c.status, 400, "{}", String::from_utf8_lossy(&c.body));
    bounded(
        "6 000 inputs declaring 65 536 elements",
        &c,
        body.len(),
        2.0,
        50.0,
        4096,
    );
    // The same within --max-tensors (1 000 inputs): the hints stay within the body's size.
    let body = format!(r#"{{"inputs":[{}]}}"#, vec![one; 1000].join(","));
    let c = send_to(&mut server, V2_INFER, &[JSON], body.as_bytes());
    assert_eq!(c.status, 400, "{}", String::from_utf8_lossy(&c.body));
    bounded(
        "1 000 inputs declaring 65 536 elements",
        &c,
        body.len(),
        2.0,
        50.0,
        4096,
    );
    // 80 000 distinct input names: once quadratic (> 10 s).
    let names: Vec<String> = (0..80_000)
        .map(|i| format!(r#"{{"name":"x{i}","shape":[1],"datatype":"FP32","data":[1]}}"#))
        .collect();
    let body = format!(r#"{{"inputs":[{}]}}"#, names.join(","));
    let c = send_to(&mut server, V2_INFER, &[JSON], body.as_bytes());
    assert_eq!(c.status, 400, "{}", String::from_utf8_lossy(&c.body));
    bounded("80 000 V2 input names", &c, body.len(), 2.0, 100.0, 4096);
    // 1 000 distinct names (within --max-tensors) go through the duplicate check in linear time.
    let body = format!(r#"{{"inputs":[{}]}}"#, names[..1000].join(","));
    let c = send_to(&mut server, V2_INFER, &[JSON], body.as_bytes());
    assert_eq!(c.status, 400, "{}", String::from_utf8_lossy(&c.body));
    // MLflow's message embeds the data twice, each rendering cut at 4 KiB.
    bounded("1 000 V2 input names", &c, body.len(), 2.0, 50.0, 16 * 1024);
    // A 10 MB parameters list: once +499 MB through serde_json values.
    let body = format!(
        r#"{{"parameters":{{"p":[{}]}},"inputs":[{{"name":"x","shape":[1,11],"datatype":"FP32","data":[1,1,1,1,1,1,1,1,1,1,1]}}]}}"#,
        vec!["0"; 5 << 20].join(",")
    );
    let c = send_to(&mut server, V2_INFER, &[JSON], body.as_bytes());
    assert!(
        c.status == 400 || c.status == 200,
        "{}",
        String::from_utf8_lossy(&c.body)
    );
    bounded(
        "a 10 MB V2 parameters list",
        &c,
        body.len(),
        10.0,
        250.0,
        8192,
    );
    // 2 MB of request data in names and datatypes: the answer stays small.
    let long = "n".repeat(2 << 20);
    let body =
        format!(r#"{{"inputs":[{{"name":"{long}","shape":[1],"datatype":"{long}","data":[1]}}]}}"#);
    let c = send_to(&mut server, V2_INFER, &[JSON], body.as_bytes());
    assert_eq!(c.status, 400);
    bounded(
        "a V2 error echoing 4 MB of names",
        &c,
        body.len(),
        2.0,
        100.0,
        16 * 1024,
    );
    let body = format!(
        r#"{{"inputs":[{{"name":"x","shape":[1,11],"datatype":"FP32","data":[1,1,1,1,1,1,1,1,1,1,1]}}],"outputs":[{{"name":"{long}"}}]}}"#
    );
    let c = send_to(&mut server, V2_INFER, &[JSON], body.as_bytes());
    assert_eq!(c.status, 400);
    bounded(
        "an unknown 2 MB output name",
        &c,
        body.len(),
        2.0,
        100.0,
        16 * 1024,
    );
    // KServe V1: the same printer behind `instances`.
    let deep = format!("{{\"instances\": {}1{}}}", "[".repeat(100), "]".repeat(100));
    let c = send_to(
        &mut server,
        "/v1/models/wine_tensor:predict",
        &[JSON],
        deep.as_bytes(),
    );
    assert_eq!(c.status, 400, "{}", String::from_utf8_lossy(&c.body));
    bounded(
        "V1 instances nested 100 deep",
        &c,
        deep.len(),
        2.0,
        50.0,
        16 * 1024,
    );
}

/// Runs one case of `tests/oip/grpc_abuse.py` (real gRPC through grpcio) and reads its line.
fn grpc_case(server: &mut Server, grpc_port: u16, case: &str) -> (serde_json::Value, f64) {
    let before = server.status_kb("VmHWM");
    let out = Command::new(common::root().join(".venv-ref/bin/python"))
        .arg(common::root().join("tests/oip/grpc_abuse.py"))
        .args([&grpc_port.to_string(), "wine_tensor", case])
        .output()
        .expect("the reference environment's Python (make test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(server.alive(), "the server died");
    let rise = server.status_kb("VmHWM").saturating_sub(before) as f64 / 1024.0;
    let ping = server.request("GET", "/ping", &[], b"");
    assert_eq!(ping.status, 200, "/ping after a hostile gRPC call");
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    eprintln!("abuse: gRPC {case}: {line} VmHWM +{rise:.1} MB");
    (line, rise)
}

/// The gRPC classes of issue 26 (real gRPC): refused with `INVALID_ARGUMENT` before the message
/// is decoded, in bounded time and memory, with a `grpc-message` of a few KiB.
#[test]
fn grpc_messages_with_hostile_shapes_and_counts_cost_little() {
    let grpc = common::free_port();
    let mut server = Server::start_limited(
        &model_dir("wine_tensor"),
        &["--grpc-port", &grpc.to_string()],
        ADDRESS_SPACE,
    );
    for (case, max_rise) in [
        ("deep_shape", 30.0),
        ("empty_inputs", 60.0),
        ("many_names", 60.0),
        ("long_names", 60.0),
    ] {
        let (line, rise) = grpc_case(&mut server, grpc, case);
        assert_eq!(line["code"], "INVALID_ARGUMENT", "{line}");
        assert!(line["seconds"].as_f64().unwrap() < 2.0, "{line}");
        assert!(line["details_len"].as_u64().unwrap() <= 4100, "{line}");
        assert!(rise < max_rise, "{case}: VmHWM +{rise:.1} MB");
    }
}

/// Opens a raw HTTP/2 connection and a `ModelInfer` stream whose message declares `declared`
/// bytes but sends only `sent` (within HTTP/2's initial 64 KiB window), then stalls.
fn stalled_grpc_stream(port: u16, declared: u32, sent: usize) -> TcpStream {
    fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(&[kind, flags]);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
    }
    let mut headers = Vec::new();
    for (k, v) in [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/inference.GRPCInferenceService/ModelInfer"),
        (":authority", "127.0.0.1"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ] {
        // HPACK: a literal header field without indexing, new name, no Huffman coding.
        headers.push(0);
        headers.push(k.len() as u8);
        headers.extend_from_slice(k.as_bytes());
        headers.push(v.len() as u8);
        headers.extend_from_slice(v.as_bytes());
    }
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    frame(&mut out, 4, 0, 0, &[]);
    frame(&mut out, 4, 1, 0, &[]);
    frame(&mut out, 1, 4, 1, &headers);
    let mut data = vec![0u8];
    data.extend_from_slice(&declared.to_be_bytes());
    data.resize(5 + sent, 0);
    // HTTP/2's default largest frame is 16 KiB.
    for chunk in data.chunks(16 * 1024) {
        frame(&mut out, 0, 0, 1, chunk);
    }
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(&out).unwrap();
    s
}

/// A stalled gRPC stream holds the shared in-flight budget for `-t` at most (once for as long
/// as the connection stayed open, so every HTTP scoring request got 503 meanwhile).
#[test]
fn stalled_grpc_streams_release_the_body_budget_after_the_timeout() {
    let grpc = common::free_port();
    let mut server = limited_wine(&[
        "--grpc-port",
        &grpc.to_string(),
        "-t",
        "2",
        "--max-body-bytes",
        "600000",
        "--max-inflight-bytes",
        "1000000",
    ]);
    // Padded past one stream's 60 kB (a stream refused by the full budget gives back what it
    // held, so the streams leave less than that), so that it cannot slip into what they leave.
    let body = format!(
        "{{\"dataframe_split\": {}}}{}",
        wine_split(),
        " ".repeat(61_000)
    );
    let started = Instant::now();
    let streams: Vec<TcpStream> = (0..20)
        .map(|_| stalled_grpc_stream(grpc, 500_000, 60_000))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let held = server.request("GET", "/metrics", &[], b"");
    let held = String::from_utf8_lossy(&held.body)
        .lines()
        .find(|l| l.starts_with("mlflow_serve_body_bytes_in_flight "))
        .map(str::to_string)
        .unwrap_or_default();
    let during = send(&mut server, "application/json", body.as_bytes());
    assert_eq!(
        during.status, 503,
        "the stalled streams fill the budget ({held})"
    );
    std::thread::sleep(Duration::from_secs(3));
    let after = send(&mut server, "application/json", body.as_bytes());
    eprintln!(
        "abuse: 20 stalled gRPC streams of 60 kB: HTTP {} while they stall, {} after {:.1} s (-t 2)",
        during.status,
        after.status,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        after.status,
        200,
        "{}",
        String::from_utf8_lossy(&after.body)
    );
    drop(streams);
}

/// 60 000 distinct `Content-Type` parameters on `/invocations` (70 000 once took 19 s of quadratic work on an
/// on an async worker); MLflow refuses every parameter but `charset` (415).
#[test]
fn content_type_with_tens_of_thousands_of_parameters_is_refused_in_linear_time() {
    let mut server = limited_wine(&["--max-body-bytes", "1000000"]);
    // Distinct names, within hyper's ~400 KiB of headers.
    let params: String = (0..60_000).map(|i| format!(";{i:x}")).collect();
    let ct = format!("application/json{params}");
    let body = format!("{{\"dataframe_split\": {}}}", wine_split());
    let c = send(&mut server, &ct, body.as_bytes());
    assert_eq!(c.status, 415, "{}", String::from_utf8_lossy(&c.body));
    bounded(
        "70 000 Content-Type parameters",
        &c,
        ct.len(),
        2.0,
        50.0,
        16 * 1024,
    );
}

/// Idle connections holding every slot of `--max-connections` (they stay for the 75 s
/// keep-alive): probes still answer on the probe reserve, at once, while scoring requests
/// that land there get 503 + `Retry-After` (once `/ping` and `/livez` stopped answering, and
/// liveness would have restarted the pod).
#[test]
fn probes_answer_while_idle_connections_hold_every_slot() {
    let server = limited_wine(&["--max-connections", "50", "--probe-connections", "4"]);
    // The warm-up request's connection closes first, so the 50 idle ones take every slot.
    std::thread::sleep(Duration::from_millis(300));
    let idle: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    for path in ["/ping", "/livez", "/v2/health/live", "/metrics"] {
        for _ in 0..3 {
            let started = Instant::now();
            let r = server.request("GET", path, &[], b"");
            assert_eq!(r.status, 200, "{path}");
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "{path}: {:?}",
                started.elapsed()
            );
        }
    }
    let body = format!("{{\"dataframe_split\": {}}}", wine_split());
    let r = server.request(
        "POST",
        "/invocations",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("retry-after"), Some("1"));
    eprintln!("abuse: 50 idle connections at --max-connections 50: probes 200 within 1 s, scoring 503 on the probe reserve");
    drop(idle);
    std::thread::sleep(Duration::from_millis(300));
    let r = server.request(
        "POST",
        "/invocations",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// Requests that time out while their large body is parsed: the parse goes on on the parse
/// pool, and it keeps its parse permit and its bytes in flight until it ends (once both were
/// given back at the timeout, so further bodies were admitted and parsed at once without
/// bound: 32 clients on 24 MB bodies rose 565 MB against a 64 MB budget).
#[test]
fn parses_that_outlive_their_request_keep_their_admission() {
    let mut server = limited_wine(&[
        "-t",
        "1",
        "--parse-threads",
        "1",
        "--max-inflight-bytes",
        "30000000",
    ]);
    let row = "[7, 0.27, 0.36, 20.7, 0.045, 45, 170, 1.001, 3, 0.45, 8.8]";
    let cols: Vec<String> = WINE.iter().map(|c| format!("\"{c}\"")).collect();
    let body = format!(
        "{{\"dataframe_split\": {{\"columns\": [{}], \"data\": [{}]}}}}",
        cols.join(", "),
        vec![row; 130_000].join(",")
    );
    assert!(body.len() > 7_000_000, "{}", body.len());
    let before = server.status_kb("VmHWM");
    // The blocking pool keeps an idle thread for 10 s: its size after the run is the most
    // parses that ran at once (a parse never starts without its permit).
    let threads_before = server.status_kb("Threads");
    let port = server.port;
    let body = std::sync::Arc::new(body);
    let statuses = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..32)
        .map(|_| {
            let (body, statuses) = (body.clone(), statuses.clone());
            std::thread::spawn(move || {
                for _ in 0..2 {
                    let r = common::http(
                        port,
                        "POST",
                        "/invocations",
                        &[("Content-Type", "application/json")],
                        body.as_bytes(),
                    );
                    statuses
                        .lock()
                        .unwrap()
                        .push(r.map(|r| r.status).unwrap_or(0));
                }
            })
        })
        .collect();
    // While they run, never more than one parse at once (the parse pool's size).
    let mut most_parses = 0.0f64;
    let started = Instant::now();
    while clients.iter().any(|c| !c.is_finished()) && started.elapsed() < Duration::from_secs(120) {
        let m = server.request("GET", "/metrics", &[], b"");
        let text = String::from_utf8_lossy(&m.body).into_owned();
        let parses = text
            .lines()
            .find(|l| l.starts_with("mlflow_serve_parses_in_flight "))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .expect("the parses gauge");
        most_parses = most_parses.max(parses);
        std::thread::sleep(Duration::from_millis(50));
    }
    for c in clients {
        c.join().unwrap();
    }
    let rise = server.status_kb("VmHWM").saturating_sub(before) as f64 / 1024.0;
    let new_threads = server.status_kb("Threads").saturating_sub(threads_before);
    let statuses = statuses.lock().unwrap().clone();
    eprintln!(
        "abuse: 64 requests of {} MB timing out while parsed (-t 1, 1 parse thread, 30 MB in flight): statuses {statuses:?}, at most {most_parses} parses at once ({new_threads} new threads), VmHWM +{rise:.1} MB",
        body.len() / 1_000_000
    );
    assert!(most_parses <= 1.0, "{most_parses} parses at once");
    assert!(
        new_threads <= 3,
        "{new_threads} new threads: parses ran at once"
    );
    // 0: refused at once (503 from the declared length) and closed before the client had
    // sent its body, so the client saw a reset.
    assert!(
        statuses.iter().all(|s| [0, 200, 503, 504].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&504), "{statuses:?}");
    assert!(rise < 260.0, "peak RSS rose {rise:.1} MB");
    assert!(server.alive());
    assert_eq!(server.request("GET", "/ping", &[], b"").status, 200);
}
