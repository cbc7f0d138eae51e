//! `mlflow-serve models predict`: MLflow's offline scoring of a file with a model, answered
//! as `mlflow models predict` 3.17.2 answers for the inputs MLflow reads (a `json` document in
//! MLflow's formats, or `csv`), and beyond it for files of any size: CSV, JSON Lines and
//! Parquet are read in chunks of `--batch-rows` ([`source`]), scored several at a time on the
//! same enforcement and runtime workers as `serve` ([`run`]), and written in input order as
//! MLflow's JSON document, JSON Lines, CSV or Parquet ([`render`], [`sink`]) with progress on
//! stderr ([`progress`]). `--shard K/N` scores one of N disjoint parts of the input.
//!
//! One chunk's JSON output is exactly MLflow's document for those rows; several chunks' lists
//! are joined into one document. An output file is written next to its destination under a
//! temporary name and renamed into place only once complete, so a failed run never leaves a
//! file that looks finished.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::ServeError;
use crate::pipeline::ServedModel;

pub mod progress;
pub mod render;
pub mod rows;
pub mod run;
pub mod sink;
pub mod source;

/// Why a prediction run failed. The message is MLflow's where MLflow has one.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// `-t` names a format neither MLflow nor mlflow-serve reads (MLflow's message).
    #[error("Unknown content type '{0}'")]
    UnknownContentType(String),
    /// Flags that do not fit together, or do not fit the input.
    #[error("{0}")]
    Usage(String),
    /// The input could not be read.
    #[error("cannot read the input {what}: {message}")]
    Input {
        /// The path, or `stdin`.
        what: String,
        /// The OS error.
        message: String,
    },
    /// The output could not be written.
    #[error("cannot write the output {what}: {message}")]
    Output {
        /// The path, or `stdout`.
        what: String,
        /// The OS error.
        message: String,
    },
    /// The input was refused or the model failed (MLflow's message, as `mlflow models
    /// predict` raises it).
    #[error("{}", .0.offline_message())]
    Scoring(ServeError),
    /// A row was refused: MLflow's message, and which row ([`PredictError::row`]).
    #[error("{}", .error.offline_message())]
    AtRow {
        /// The first row that fails on its own, counted from 0 (`None`: the rows fail only
        /// together).
        row: Option<u64>,
        /// What the row number counts in.
        rows_of: String,
        /// MLflow's error for the chunk holding the row.
        error: ServeError,
    },
    /// The model's answer cannot be written one row per input row.
    #[error("{0}")]
    NotPerRow(String),
    /// A task of the run failed unexpectedly.
    #[error("internal error: {0}")]
    Internal(String),
}

impl PredictError {
    /// Where the failing row is, for the line printed before MLflow's message.
    pub fn row(&self) -> Option<String> {
        match self {
            PredictError::AtRow {
                row: Some(row),
                rows_of,
                ..
            } => Some(format!(
                "row {row} of {rows_of} (counting from 0, header and blank lines not counted) was refused"
            )),
            PredictError::AtRow {
                row: None, rows_of, ..
            } => Some(format!(
                "rows of {rows_of} were refused together (no single row fails alone)"
            )),
            _ => None,
        }
    }
}

// Not `#[from]`: that would make the error its own cause, and the message would print twice.
impl From<ServeError> for PredictError {
    fn from(e: ServeError) -> PredictError {
        PredictError::Scoring(e)
    }
}

/// Input formats: MLflow's `json` and `csv`, and `parquet` and `jsonl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// MLflow's JSON formats (`dataframe_split`, `dataframe_records`, `instances`, `inputs`).
    Json,
    /// A CSV document with a header row.
    Csv,
    /// Parquet.
    Parquet,
    /// JSON Lines: one `{column: value}` object per line.
    JsonLines,
}

impl InputFormat {
    /// `json`, `csv` (as MLflow spells them, case-sensitive), `parquet` or `jsonl`.
    pub fn parse(name: &str) -> Result<InputFormat, PredictError> {
        match name {
            "json" => Ok(InputFormat::Json),
            "csv" => Ok(InputFormat::Csv),
            "parquet" => Ok(InputFormat::Parquet),
            "jsonl" => Ok(InputFormat::JsonLines),
            other => Err(PredictError::UnknownContentType(other.to_string())),
        }
    }
}

/// Output formats (`--output-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// MLflow's `{"predictions": …}` document.
    Json,
    /// One JSON object per input row.
    Jsonl,
    /// CSV with a header, one record per input row.
    Csv,
    /// Parquet, one row per input row.
    Parquet,
}

/// What a row the model refuses does (`--on-error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnError {
    /// Stop with MLflow's message and the row's number; no output is left behind.
    Fail,
    /// Write the message in the `error` column of that row and go on.
    Column,
}

/// One of N disjoint parts of the input (`--shard K/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// K, from 0.
    pub index: usize,
    /// N.
    pub count: usize,
}

impl Shard {
    /// The whole input.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Parses `K/N` (0 <= K < N).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("--shard takes K/N (for example 0/4), not `{s}`"))?;
        let index: usize = k
            .trim()
            .parse()
            .map_err(|_| format!("--shard: `{k}` is not a part number"))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("--shard: `{n}` is not a number of parts"))?;
        if count == 0 || index >= count {
            return Err(format!(
                "--shard {s}: K must be at least 0 and below N (N at least 1)"
            ));
        }
        Ok(Shard { index, count })
    }

    /// This shard's part of `n` items (row groups): a contiguous run, so that the parts in
    /// order are the whole.
    pub fn part(&self, n: u64) -> std::ops::Range<u64> {
        let (k, c) = (self.index as u64, self.count as u64);
        n * k / c..n * (k + 1) / c
    }
}

/// What to score and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The input's format.
    pub format: InputFormat,
    /// The input file (stdin when `None`).
    pub input: Option<PathBuf>,
    /// How messages name the input, when not by its path (the URI of a downloaded input).
    pub input_name: Option<String>,
    /// The output file (stdout when `None`).
    pub output: Option<PathBuf>,
    /// The output's format.
    pub output_format: OutputFormat,
    /// Rows per chunk.
    pub batch_rows: usize,
    /// Chunks scored at once.
    pub in_flight: usize,
    /// Input columns carried into the output.
    pub keep_columns: Vec<String>,
    /// What a refused row does.
    pub on_error: OnError,
    /// The part of the input to score.
    pub shard: Shard,
    /// No progress bar, no summary.
    pub quiet: bool,
}

/// Whether an input path names a remote object rather than a local file.
pub fn is_remote(input: &std::path::Path) -> bool {
    let s = input.to_string_lossy();
    [
        "s3://",
        "s3a://",
        "gs://",
        "wasbs://",
        "wasb://",
        "abfss://",
        "abfs://",
        "http://",
        "https://",
        "mlflow-artifacts:",
    ]
    .iter()
    .any(|scheme| s.starts_with(scheme))
}

/// Downloads a remote input (`s3://`, `gs://`, `az`'s `wasbs://`/`abfss://`, `http(s)://`,
/// `mlflow-artifacts:`) with the same credentials as model downloads, into a temporary
/// directory under `opts.cache_dir` that is removed when the returned guard is dropped; an
/// input of more than `max_bytes` (`--max-input-bytes`) fails before or while it downloads.
pub async fn fetch_input(
    uri: &str,
    opts: &crate::resolve::ResolveOptions,
    max_bytes: u64,
) -> Result<(PathBuf, tempfile::TempDir), PredictError> {
    let fail = |message: String| PredictError::Input {
        what: crate::redact::redact(uri).to_string(),
        message,
    };
    std::fs::create_dir_all(&opts.cache_dir).map_err(|e| fail(e.to_string()))?;
    let scratch = tempfile::Builder::new()
        .prefix(".input-")
        .tempdir_in(&opts.cache_dir)
        .map_err(|e| fail(e.to_string()))?;
    let opts = crate::resolve::ResolveOptions {
        cache_dir: scratch.path().to_path_buf(),
        timeout: opts.timeout,
        download_limits: crate::resolve::cache::Limits {
            max_bytes,
            max_files: 1,
            subject: crate::resolve::cache::Subject::Input,
        },
    };
    let ctx = crate::resolve::Context::from_env(&opts);
    let path = crate::resolve::fetch::fetch_file(uri, &ctx)
        .await
        .map_err(|e| fail(e.to_string()))?;
    Ok((path, scratch))
}

/// Scores the input with `model` and writes the output, as `opts` says.
pub async fn predict(model: Arc<ServedModel>, opts: &Options) -> Result<(), PredictError> {
    let row_per_row = opts.output_format != OutputFormat::Json;
    if !row_per_row && !opts.keep_columns.is_empty() {
        return Err(PredictError::Usage(
            "--keep-columns needs a row-per-row output: --output-format jsonl, csv or parquet"
                .into(),
        ));
    }
    if opts.on_error == OnError::Column && !row_per_row {
        return Err(PredictError::Usage(
            "--on-error column needs a row-per-row output: --output-format jsonl, csv or parquet"
                .into(),
        ));
    }
    if opts.on_error == OnError::Column && opts.format == InputFormat::Json {
        return Err(PredictError::Usage(
            "--on-error column reads rows one by one: use csv, jsonl or parquet input".into(),
        ));
    }
    let (source, total) = source::open(
        opts.format,
        opts.input.as_deref(),
        opts.shard,
        opts.batch_rows.max(1),
    )?;
    let input = match (&opts.input_name, &opts.input) {
        (Some(name), _) => name.clone(),
        (None, Some(p)) => p.display().to_string(),
        (None, None) => "stdin".to_string(),
    };
    let rows_of = if opts.shard.count > 1 {
        format!("shard {}/{} of {input}", opts.shard.index, opts.shard.count)
    } else {
        input.clone()
    };
    let progress = progress::Progress::new(
        total,
        opts.format == InputFormat::Parquet,
        opts.quiet,
        rows_of.clone(),
    );
    let sink = sink::Sink::create(
        opts.output_format,
        opts.output.as_deref(),
        opts.keep_columns.len(),
    )?;
    let plan = Arc::new(run::Plan {
        output: opts.output_format,
        keep: opts.keep_columns.clone(),
        on_error: opts.on_error,
        in_flight: opts.in_flight.max(1),
        rows_of,
    });
    run::run(model, source, sink, plan, &progress).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_mlflows_plus_parquet_and_jsonl() {
        assert_eq!(InputFormat::parse("json").unwrap(), InputFormat::Json);
        assert_eq!(InputFormat::parse("csv").unwrap(), InputFormat::Csv);
        assert_eq!(InputFormat::parse("parquet").unwrap(), InputFormat::Parquet);
        assert_eq!(InputFormat::parse("jsonl").unwrap(), InputFormat::JsonLines);
        assert_eq!(
            InputFormat::parse("JSON").unwrap_err().to_string(),
            "Unknown content type 'JSON'"
        );
    }

    #[test]
    fn shards_are_disjoint_and_cover_the_whole() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
        for bad in ["4/4", "1", "a/2", "0/0", "-1/2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        for n in [0u64, 1, 3, 7, 100] {
            let mut next = 0;
            for k in 0..4 {
                let part = Shard { index: k, count: 4 }.part(n);
                assert_eq!(part.start, next);
                next = part.end;
            }
            assert_eq!(next, n);
        }
    }
}
