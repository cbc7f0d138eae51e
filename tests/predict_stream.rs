//! `models predict` beyond MLflow, against the real binary: CSV, JSON Lines and Parquet read
//! in chunks and scored on several workers, written as MLflow's JSON document, JSON Lines,
//! CSV or Parquet in input order; `--keep-columns`; `--shard K/N` parts that concatenate to
//! the whole; a refused row numbered (`--on-error fail`) or written with its error
//! (`--on-error column`); stdin to stdout. The reference answer of each test is the binary's
//! own single-batch run, which `tests/predict_parity.rs` holds to MLflow's goldens.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use common::WINE as COLUMNS;

/// `n` wine rows (deterministic), with an `id` column first.
fn rows(n: usize) -> Vec<(i64, [f64; 11])> {
    let lo = [4.6, 0.12, 0.0, 0.9, 0.012, 1.0, 6.0, 0.990, 2.74, 0.33, 8.4];
    let hi = [
        15.9, 1.58, 1.0, 15.5, 0.611, 72.0, 289.0, 1.004, 4.01, 2.0, 14.9,
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|i| {
            let mut r = [0.0; 11];
            for (j, v) in r.iter_mut().enumerate() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                *v = ((lo[j] + u * (hi[j] - lo[j])) * 1000.0).round() / 1000.0;
            }
            (i as i64, r)
        })
        .collect()
}

fn write_csv(path: &Path, data: &[(i64, [f64; 11])]) {
    let mut s = format!("id,{}\n", COLUMNS.join(","));
    for (id, r) in data {
        let cells: Vec<String> = r.iter().map(|v| v.to_string()).collect();
        s.push_str(&format!("{id},{}\n", cells.join(",")));
    }
    std::fs::write(path, s).unwrap();
}

fn write_jsonl(path: &Path, data: &[(i64, [f64; 11])]) {
    let mut s = String::new();
    for (id, r) in data {
        let mut obj = serde_json::Map::new();
        obj.insert("id".into(), Value::from(*id));
        for (name, v) in COLUMNS.iter().zip(r) {
            obj.insert((*name).into(), Value::from(*v));
        }
        s.push_str(&Value::Object(obj).to_string());
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

fn write_parquet(path: &Path, data: &[(i64, [f64; 11])], row_group: usize) {
    use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    let mut fields = vec![Field::new("id", DataType::Int64, false)];
    fields.extend(
        COLUMNS
            .iter()
            .map(|c| Field::new(*c, DataType::Float64, false)),
    );
    let schema = Arc::new(Schema::new(fields));
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(
        data.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
    ))];
    for j in 0..11 {
        arrays.push(Arc::new(Float64Array::from(
            data.iter().map(|(_, r)| r[j]).collect::<Vec<_>>(),
        )));
    }
    let batch = RecordBatch::try_new(schema.clone(), arrays).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(row_group))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        schema,
        Some(props),
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn predict(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlflow-serve"))
        .args(["models", "predict", "-m"])
        .arg(common::model_dir("wine_cols"))
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "models predict failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The predictions of a JSON Lines output, as (id, value).
fn jsonl_rows(text: &str) -> Vec<(i64, f64)> {
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["id"].as_i64().unwrap(), v["variable"].as_f64().unwrap())
        })
        .collect()
}

/// The record batches of a Parquet file.
fn parquet_batches(path: &Path) -> Vec<arrow_array::RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn parquet_rows(path: &Path) -> Vec<(i64, f64)> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float32Type, Int64Type};
    let mut out = Vec::new();
    for batch in parquet_batches(path) {
        let ids = batch
            .column_by_name("id")
            .unwrap()
            .as_primitive::<Int64Type>();
        let preds = batch
            .column_by_name("variable")
            .unwrap()
            .as_primitive::<Float32Type>();
        for i in 0..batch.num_rows() {
            out.push((ids.value(i), preds.value(i) as f64));
        }
    }
    out
}

struct Files {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        Files { _dir: dir, root }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}

/// Chunked on two workers, every output format holds the single-batch answer, row for row.
#[test]
fn chunks_and_output_formats_hold_the_single_batch_answer() {
    let f = Files::new();
    let data = rows(5000);
    let csv = f.path("in.csv");
    write_csv(&csv, &data);
    let whole = f.path("whole.json");
    ok(&predict(&[
        "-i",
        s(&csv),
        "-t",
        "csv",
        "-o",
        s(&whole),
        "--batch-rows",
        "100000",
        "-q",
    ]));
    let reference: Value = serde_json::from_slice(&std::fs::read(&whole).unwrap()).unwrap();
    let reference: Vec<f64> = reference["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["variable"].as_f64().unwrap())
        .collect();
    assert_eq!(reference.len(), 5000);

    // MLflow's document, joined from 8 chunks, is the single batch's, byte for byte.
    let joined = f.path("joined.json");
    ok(&predict(&[
        "-i",
        s(&csv),
        "-t",
        "csv",
        "-o",
        s(&joined),
        "--batch-rows",
        "700",
        "-w",
        "2",
        "-q",
    ]));
    assert_eq!(
        std::fs::read(&joined).unwrap(),
        std::fs::read(&whole).unwrap()
    );

    let expect: Vec<(i64, f64)> = (0..5000).map(|i| (i as i64, reference[i])).collect();
    let jsonl = f.path("out.jsonl");
    ok(&predict(&[
        "-i",
        s(&csv),
        "-t",
        "csv",
        "-o",
        s(&jsonl),
        "--output-format",
        "jsonl",
        "--keep-columns",
        "id",
        "--batch-rows",
        "700",
        "-w",
        "2",
        "-q",
    ]));
    assert_eq!(
        jsonl_rows(&std::fs::read_to_string(&jsonl).unwrap()),
        expect
    );

    let out_csv = f.path("out.csv");
    ok(&predict(&[
        "-i",
        s(&csv),
        "-t",
        "csv",
        "-o",
        s(&out_csv),
        "--output-format",
        "csv",
        "--keep-columns",
        "id",
        "--batch-rows",
        "700",
        "-q",
    ]));
    let text = std::fs::read_to_string(&out_csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,variable"));
    let got: Vec<(i64, f64)> = lines
        .map(|l| {
            let (id, v) = l.split_once(',').unwrap();
            (id.parse().unwrap(), v.parse().unwrap())
        })
        .collect();
    assert_eq!(got, expect);

    // JSON Lines and Parquet inputs give the same answer.
    let jl_in = f.path("in.jsonl");
    write_jsonl(&jl_in, &data);
    let from_jsonl = f.path("from-jsonl.jsonl");
    ok(&predict(&[
        "-i",
        s(&jl_in),
        "-t",
        "jsonl",
        "-o",
        s(&from_jsonl),
        "--output-format",
        "jsonl",
        "--keep-columns",
        "id",
        "--batch-rows",
        "900",
        "-q",
    ]));
    assert_eq!(
        jsonl_rows(&std::fs::read_to_string(&from_jsonl).unwrap()),
        expect
    );

    let pq_in = f.path("in.parquet");
    write_parquet(&pq_in, &data, 1000);
    let pq_out = f.path("out.parquet");
    ok(&predict(&[
        "-i",
        s(&pq_in),
        "-t",
        "parquet",
        "-o",
        s(&pq_out),
        "--output-format",
        "parquet",
        "--keep-columns",
        "id",
        "--batch-rows",
        "600",
        "-w",
        "2",
        "-q",
    ]));
    assert_eq!(parquet_rows(&pq_out), expect);
    let pq_json = f.path("parquet.json");
    ok(&predict(&[
        "-i",
        s(&pq_in),
        "-t",
        "parquet",
        "-o",
        s(&pq_json),
        "-q",
    ]));
    assert_eq!(
        std::fs::read(&pq_json).unwrap(),
        std::fs::read(&whole).unwrap()
    );
}

/// `--shard K/N` parts, in K order, are the whole answer: CSV and JSON Lines byte ranges,
/// Parquet row groups.
#[test]
fn shard_parts_concatenate_to_the_whole() {
    let f = Files::new();
    let data = rows(3001);
    let csv = f.path("in.csv");
    write_csv(&csv, &data);
    let jl = f.path("in.jsonl");
    write_jsonl(&jl, &data);
    let pq = f.path("in.parquet");
    write_parquet(&pq, &data, 250);
    for (input, format, parts) in [(&csv, "csv", 3), (&jl, "jsonl", 4), (&pq, "parquet", 5)] {
        let out_format = if format == "parquet" {
            "parquet"
        } else {
            "jsonl"
        };
        let whole = f.path(&format!("{format}-whole.{out_format}"));
        ok(&predict(&[
            "-i",
            s(input),
            "-t",
            format,
            "-o",
            s(&whole),
            "--output-format",
            out_format,
            "--keep-columns",
            "id",
            "--batch-rows",
            "250",
            "-q",
        ]));
        let mut joined = Vec::new();
        let mut sizes = Vec::new();
        for k in 0..parts {
            let part = f.path(&format!("{format}-part{k}.{out_format}"));
            ok(&predict(&[
                "-i",
                s(input),
                "-t",
                format,
                "-o",
                s(&part),
                "--output-format",
                out_format,
                "--keep-columns",
                "id",
                "--batch-rows",
                "250",
                "--shard",
                &format!("{k}/{parts}"),
                "-q",
            ]));
            let rows = if out_format == "parquet" {
                parquet_rows(&part)
            } else {
                jsonl_rows(&std::fs::read_to_string(&part).unwrap())
            };
            sizes.push(rows.len());
            joined.extend(rows);
        }
        let whole = if out_format == "parquet" {
            parquet_rows(&whole)
        } else {
            jsonl_rows(&std::fs::read_to_string(&whole).unwrap())
        };
        assert_eq!(whole.len(), 3001, "{format}");
        assert!(
            sizes.iter().all(|&n| n > 0),
            "{format}: every part holds rows: {sizes:?}"
        );
        assert_eq!(joined, whole, "{format}: parts {sizes:?}");
    }
}

/// A refused row stops the run with its number and MLflow's message (no output left), or,
/// with `--on-error column`, is written with its error while the others are scored.
#[test]
fn a_refused_row_is_numbered_or_written_with_its_error() {
    let f = Files::new();
    let data = rows(2000);
    let csv = f.path("bad.csv");
    write_csv(&csv, &data);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // data rows 6 and 1234 (file lines 7 and 1235): a word in a number column
    for row in [6usize, 1234] {
        let mut cells: Vec<&str> = lines[row + 1].split(',').collect();
        cells[3] = "abc";
        lines[row + 1] = cells.join(",");
    }
    std::fs::write(&csv, lines.join("\n") + "\n").unwrap();

    let out = f.path("out.json");
    let run = predict(&[
        "-i",
        s(&csv),
        "-t",
        "csv",
        "-o",
        s(&out),
        "--batch-rows",
        "500",
    ]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("mlflow-serve: row 6 of ") && stderr.contains("was refused"),
        "{stderr}"
    );
    assert!(
        stderr.contains("mlflow-serve: error: Failed to enforce schema of data")
            && stderr.contains("Incompatible input types for column citric acid"),
        "{stderr}"
    );
    assert!(!out.exists(), "a failed run leaves no output");
    assert!(
        std::fs::read_dir(&f.root).unwrap().flatten().all(|e| !e
            .file_name()
            .to_string_lossy()
            .starts_with(".mlflow-serve-predict")),
        "no temporary output left behind"
    );

    let out = f.path("out.jsonl");
    ok(&predict(&[
        "-i",
        s(&csv),
        "-t",
        "csv",
        "-o",
        s(&out),
        "--output-format",
        "jsonl",
        "--keep-columns",
        "id",
        "--on-error",
        "column",
        "--batch-rows",
        "500",
        "-w",
        "2",
        "-q",
    ]));
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2000);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["id"].as_i64(), Some(i as i64));
        if i == 6 || i == 1234 {
            assert!(
                l["error"]
                    .as_str()
                    .unwrap()
                    .contains("Incompatible input types for column citric acid"),
                "{l}"
            );
            assert!(l.get("variable").is_none());
        } else {
            assert!(l["variable"].as_f64().is_some(), "{l}");
            assert!(l.get("error").is_none());
        }
    }

    let out = f.path("out.csv");
    ok(&predict(&[
        "-i",
        s(&csv),
        "-t",
        "csv",
        "-o",
        s(&out),
        "--output-format",
        "csv",
        "--keep-columns",
        "id",
        "--on-error",
        "column",
        "--batch-rows",
        "500",
        "-q",
    ]));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        rdr.headers().unwrap().iter().collect::<Vec<_>>(),
        ["id", "variable", "error"]
    );
    let records: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 2000);
    assert!(records[6][1].is_empty() && records[6][2].contains("citric acid"));
    assert!(records[7][1].parse::<f64>().is_ok() && records[7][2].is_empty());
}

/// A JSON Lines row that is not JSON cannot be read at all: with `--on-error column` it is
/// written with MLflow's JSON error and null kept values, the rows around it scored, into
/// Parquet whose columns keep their types.
#[test]
fn an_unreadable_row_keeps_the_output_typed() {
    let f = Files::new();
    let jl = f.path("in.jsonl");
    write_jsonl(&jl, &rows(300));
    let mut lines: Vec<String> = std::fs::read_to_string(&jl)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines[0] = "{\"id\": 0, not json".into();
    lines[150] = "[1, 2".into();
    std::fs::write(&jl, lines.join("\n") + "\n").unwrap();
    let out = f.path("out.parquet");
    ok(&predict(&[
        "-i",
        s(&jl),
        "-t",
        "jsonl",
        "-o",
        s(&out),
        "--output-format",
        "parquet",
        "--keep-columns",
        "id",
        "--on-error",
        "column",
        "--batch-rows",
        "100",
        "-q",
    ]));
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float32Type, Int64Type};
    use arrow_array::Array as _;
    let mut seen = 0;
    for batch in parquet_batches(&out) {
        let ids = batch
            .column_by_name("id")
            .unwrap()
            .as_primitive::<Int64Type>();
        let preds = batch
            .column_by_name("variable")
            .unwrap()
            .as_primitive::<Float32Type>();
        let errors = batch.column_by_name("error").unwrap().as_string::<i32>();
        for i in 0..batch.num_rows() {
            let row = seen + i;
            if row == 0 || row == 150 {
                assert!(ids.is_null(i) && preds.is_null(i), "row {row}");
                assert!(
                    errors
                        .value(i)
                        .contains("Ensure that input is a valid JSON"),
                    "{}",
                    errors.value(i)
                );
            } else {
                assert_eq!(ids.value(i), row as i64);
                assert!(!preds.is_null(i) && errors.is_null(i), "row {row}");
            }
        }
        seen += batch.num_rows();
    }
    assert_eq!(seen, 300);
}

/// stdin in, stdout out, streamed; a summary line on stderr unless `--quiet`.
#[test]
fn stdin_streams_to_stdout_with_a_summary() {
    use std::io::Write;
    let f = Files::new();
    let csv = f.path("in.csv");
    write_csv(&csv, &rows(1200));
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlflow-serve"))
        .args(["models", "predict", "-m"])
        .arg(common::model_dir("wine_cols"))
        .args([
            "-t",
            "csv",
            "--output-format",
            "jsonl",
            "--keep-columns",
            "id",
            "--batch-rows",
            "100",
        ])
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&csv).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    ok(&out);
    let got = jsonl_rows(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(
        got.iter().map(|r| r.0).collect::<Vec<_>>(),
        (0..1200).collect::<Vec<_>>()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("mlflow-serve: scored stdin in ") && stderr.contains("(1200 rows, "),
        "{stderr}"
    );
}

/// Flags that do not fit together or do not fit the input are refused before any work.
#[test]
fn flags_that_do_not_fit_are_refused() {
    let f = Files::new();
    let csv = f.path("in.csv");
    write_csv(&csv, &rows(10));
    let cases: [(&[&str], &str); 6] = [
        (
            &["--keep-columns", "id"],
            "--keep-columns needs a row-per-row output",
        ),
        (
            &["--on-error", "column"],
            "--on-error column needs a row-per-row output",
        ),
        (&["--shard", "3/3"], "K must be at least 0 and below N"),
        (&["--shard", "two"], "--shard takes K/N"),
        (
            &["--output-format", "jsonl", "--keep-columns", "nope"],
            "--keep-columns: the input has no column `nope`",
        ),
        (&["--output-format", "xml"], "invalid value 'xml'"),
    ];
    for (extra, message) in cases {
        let o = f.path("o.out");
        let mut args = vec!["-i", s(&csv), "-t", "csv", "-o", s(&o)];
        args.extend_from_slice(extra);
        let out = predict(&args);
        assert!(!out.status.success(), "{extra:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{extra:?}: {stderr}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_mlflow-serve"))
        .args(["models", "predict", "-m"])
        .arg(common::model_dir("wine_cols"))
        .args(["-t", "csv", "--shard", "0/2"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--shard needs -i"));
}

/// `-i s3://…` (moto's S3 server, the credentials and endpoint variables models use) and
/// `-i http://…` (a plain file server) are downloaded and scored like the local file; the
/// download is removed afterwards and the messages name the URI.
#[test]
fn remote_inputs_are_scored_like_local_files() {
    use common::stores::{http_file_server, moto_server, python, work_dir};
    let dir = work_dir("predict-remote");
    let csv = dir.join("in.csv");
    write_csv(&csv, &rows(800));
    let local = dir.join("local.json");
    ok(&predict(&[
        "-i",
        s(&csv),
        "-t",
        "csv",
        "-o",
        s(&local),
        "-q",
    ]));

    let moto = moto_server(&dir);
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let envs = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("MLFLOW_S3_ENDPOINT_URL", endpoint.as_str()),
    ];
    let up = Command::new(python())
        .args([
            "-c",
            "import boto3,os,sys; c=boto3.client('s3', endpoint_url=os.environ['MLFLOW_S3_ENDPOINT_URL']); c.create_bucket(Bucket='scores'); c.upload_file(sys.argv[1], 'scores', 'batch/in.csv')",
            s(&csv),
        ])
        .envs(envs)
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let http = http_file_server(&dir);
    let cache = dir.join("cache");
    for (uri, extra_env) in [
        ("s3://scores/batch/in.csv".to_string(), &envs[..]),
        (format!("http://127.0.0.1:{}/in.csv", http.port), &[][..]),
    ] {
        let out_path = dir.join("remote.json");
        let out = Command::new(env!("CARGO_BIN_EXE_mlflow-serve"))
            .args(["models", "predict", "-m"])
            .arg(common::model_dir("wine_cols"))
            .args([
                "-i",
                &uri,
                "-t",
                "csv",
                "-o",
                s(&out_path),
                "--model-cache",
                s(&cache),
            ])
            .envs(extra_env.iter().copied())
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        ok(&out);
        assert_eq!(
            std::fs::read(&out_path).unwrap(),
            std::fs::read(&local).unwrap(),
            "{uri}"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("scored {uri} in ")), "{stderr}");
        assert_eq!(
            std::fs::read_dir(&cache).unwrap().count(),
            0,
            "download removed"
        );
    }
    // A remote input has its own limit, as a flag or its env var, named when passed.
    let url = format!("http://127.0.0.1:{}/in.csv", http.port);
    for (flag, env) in [(Some("100"), None), (None, Some("100"))] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlflow-serve"));
        cmd.args(["models", "predict", "-m"])
            .arg(common::model_dir("wine_cols"))
            .args(["-i", &url, "-t", "csv", "-q", "--model-cache", s(&cache)])
            .env("RUST_LOG", "error");
        if let Some(v) = flag {
            cmd.args(["--max-input-bytes", v]);
        }
        if let Some(v) = env {
            cmd.env("MLFLOW_SERVE_MAX_INPUT_BYTES", v);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains("more than --max-input-bytes (100)"),
            "{stderr}"
        );
        assert!(!stderr.contains("--max-model"), "{stderr}");
        assert_eq!(
            std::fs::read_dir(&cache).unwrap().count(),
            0,
            "download removed"
        );
    }
    let out = predict(&["-i", "s3://scores/batch/missing.csv", "-t", "csv", "-q"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot read the input s3://scores/batch/missing.csv"));
}

/// `models predict` interrupted (SIGINT, then SIGTERM) while it downloads its input or writes
/// its output leaves nothing behind: no download in the cache, no temporary output file.
#[test]
fn an_interrupted_predict_removes_its_download_and_partial_output() {
    use std::io::{Read as _, Write as _};
    let files = Files::new();
    let cache = files.path("cache");
    for signal in ["-INT", "-TERM"] {
        // A file server that announces 4 MB and sends it slowly (HEAD answered with the
        // headers only; every connection served until the test ends).
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut s) = conn else { return };
                std::thread::spawn(move || loop {
                    let mut req = Vec::new();
                    let mut byte = [0u8; 1];
                    while !req.ends_with(b"\r\n\r\n") {
                        match s.read(&mut byte) {
                            Ok(1) => req.push(byte[0]),
                            _ => return,
                        }
                    }
                    let header = "fixed_acidity,volatile_acidity\n";
                    let len = 4_000_000 + header.len();
                    if write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n").is_err() {
                        return;
                    }
                    if req.starts_with(b"HEAD") {
                        continue;
                    }
                    let _ = s.write_all(header.as_bytes());
                    for _ in 0..4000 {
                        if s.write_all(&[b'1'; 1000]).is_err() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                });
            }
        });
        let out_path = files.path("interrupted.json");
        let mut child = Command::new(env!("CARGO_BIN_EXE_mlflow-serve"))
            .args(["models", "predict", "-m"])
            .arg(common::model_dir("wine_cols"))
            .args([
                "-i",
                &format!("http://127.0.0.1:{port}/big.csv"),
                "-t",
                "csv",
                "-o",
                s(&out_path),
                "--model-cache",
                s(&cache),
            ])
            .env("RUST_LOG", "error")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Until the download has started (its directory exists in the cache).
        let started = std::time::Instant::now();
        while !std::fs::read_dir(&cache)
            .map(|d| d.count() > 0)
            .unwrap_or(false)
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no download started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        let killed = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(!status.success(), "{signal}: {stderr}");
        assert!(stderr.contains("interrupted"), "{signal}: {stderr}");
        let left: Vec<_> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{signal}: left in the cache: {left:?}");
        assert!(!out_path.exists(), "{signal}: an output was written");
        let temp_outputs = std::fs::read_dir(files.path(""))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".interrupted")
            })
            .count();
        assert_eq!(temp_outputs, 0, "{signal}: a temporary output is left");
    }
}
