//! Flags of `models predict`.

use std::path::PathBuf;

use clap::Args;

use super::model::{MlflowCompat, ModelArgs, RuntimeArgs};
use crate::resolve::cache::DEFAULT_MAX_BYTES;

/// Flags of `models predict` (MLflow 3.17.2's, plus where the runtimes and the model cache
/// are).
#[derive(Debug, Args)]
#[command(mut_arg("model_uri", |a| a.required(true)))]
pub struct PredictArgs {
    /// The model, resolved exactly as `models serve` resolves it.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The input file (default: stdin).
    #[arg(short = 'i', long = "input-path")]
    pub input_path: Option<PathBuf>,
    /// The output file (default: stdout); written under a temporary name and renamed into
    /// place once complete.
    #[arg(short = 'o', long = "output-path")]
    pub output_path: Option<PathBuf>,
    /// The input's format: `json` (MLflow's JSON formats) or `csv`, as in MLflow; and
    /// `parquet` or `jsonl` (one `{column: value}` object per line).
    #[arg(short = 't', long = "content-type", default_value = "json")]
    pub content_type: String,
    /// The output's format: `json` (MLflow's `{"predictions": …}` document), or one row per
    /// input row as `jsonl`, `csv` or `parquet`.
    #[arg(
        long = "output-format",
        env = "MLFLOW_SERVE_OUTPUT_FORMAT",
        value_enum,
        default_value = "json"
    )]
    pub output_format: crate::predict::OutputFormat,
    /// Rows read, enforced and scored together (csv, jsonl and parquet inputs; an MLflow
    /// JSON document is one batch). Memory is about this times `--workers + 1` rows.
    #[arg(
        long = "batch-rows",
        env = "MLFLOW_SERVE_BATCH_ROWS",
        default_value_t = 10_000,
        value_parser = super::at_least_one::<usize>
    )]
    pub batch_rows: usize,
    /// Inference workers, each scoring one batch at a time (0 = the CPUs this process may use).
    #[arg(
        short = 'w',
        long,
        env = "MLFLOW_SERVE_PREDICT_WORKERS",
        default_value_t = 0
    )]
    pub workers: usize,
    /// Input columns copied into each output row before the predictions (comma-separated or
    /// repeated; row-per-row outputs only), such as ids.
    #[arg(long = "keep-columns", value_delimiter = ',')]
    pub keep_columns: Vec<String>,
    /// What a row the model refuses does: `fail` stops with MLflow's message and the row's
    /// number; `column` writes the message in an `error` column and scores the other rows.
    #[arg(
        long = "on-error",
        env = "MLFLOW_SERVE_ON_ERROR",
        value_enum,
        default_value = "fail"
    )]
    pub on_error: crate::predict::OnError,
    /// Score only part K of N disjoint parts of the input (K from 0): Parquet row groups, or
    /// CSV / JSON Lines byte ranges split on line boundaries. The N outputs in order are the
    /// whole answer (a Kubernetes Indexed Job passes its completion index as K).
    #[arg(long, env = "MLFLOW_SERVE_SHARD", value_parser = crate::predict::Shard::parse)]
    pub shard: Option<crate::predict::Shard>,
    /// No progress bar and no summary line on stderr.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Where a remote input (`-i s3://…`, `runs:/…`, …) may come from at most, in bytes;
    /// a larger one fails before or while it is downloaded.
    #[arg(
        long = "max-input-bytes",
        env = "MLFLOW_SERVE_MAX_INPUT_BYTES",
        default_value_t = DEFAULT_MAX_BYTES
    )]
    pub max_input_bytes: u64,
    /// The runtimes the model is loaded with.
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// MLflow's flags that are accepted and ignored.
    #[command(flatten)]
    pub compat: MlflowCompat,
}
