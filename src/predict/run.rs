//! Scoring chunks on the model's workers, several at a time, and writing them in input
//! order. A chunk the model refuses is narrowed down by halves to the row that fails: its
//! number is reported with MLflow's message (`--on-error fail`), or every failing row is
//! written with its error and the others scored (`--on-error column`).

use std::ops::Range;
use std::sync::Arc;

use futures_util::stream::{FuturesOrdered, StreamExt};

use super::progress::Progress;
use super::render::{answer_rows, json_piece, render_rows, Kept, Rendered};
use super::sink::{Segment, Sink};
use super::source::{Chunk, ChunkData, Source};
use super::{OnError, OutputFormat, PredictError};
use crate::error::ServeError;
use crate::payload::{self, BodyFormat, Cell, Column, Input};
use crate::pipeline::{Prepared, ServedModel};

/// What a run does with each chunk.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The output format.
    pub output: OutputFormat,
    /// Input columns copied into the output.
    pub keep: Vec<String>,
    /// What a failing row does.
    pub on_error: OnError,
    /// Chunks scored at once.
    pub in_flight: usize,
    /// What row numbers count in (`the input`, `shard 2/4`).
    pub rows_of: String,
}

/// Why an attempt at some rows failed.
enum Failure {
    /// The rows were refused (MLflow's error), with their kept columns when they were read.
    Refused(ServeError, Option<Kept>),
    /// Nothing to narrow down: the run stops.
    Fatal(PredictError),
}

/// Scores every chunk of `source` with `model` into `sink`.
pub async fn run(
    model: Arc<ServedModel>,
    mut source: Source,
    mut sink: Sink,
    plan: Arc<Plan>,
    progress: &Progress,
) -> Result<(), PredictError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(plan.in_flight.max(1));
    let reader = tokio::task::spawn_blocking(move || loop {
        let next = source.next_chunk();
        let last = !matches!(next, Ok(Some(_)));
        if let Ok(None) = next {
            return;
        }
        if tx.blocking_send(next).is_err() || last {
            return;
        }
    });
    let mut pending = FuturesOrdered::new();
    let mut exhausted = false;
    loop {
        while !exhausted && pending.len() < plan.in_flight.max(1) {
            match rx.recv().await {
                Some(Ok(Some(chunk))) => {
                    let mark = chunk.progress;
                    let task = tokio::spawn(score_chunk(model.clone(), plan.clone(), chunk));
                    pending.push_back(async move { (task.await, mark) });
                }
                Some(Ok(None)) | None => exhausted = true,
                Some(Err(e)) => return Err(e),
            }
        }
        let Some((joined, mark)) = pending.next().await else {
            break;
        };
        let segments = joined.map_err(|e| PredictError::Internal(e.to_string()))??;
        for segment in segments {
            sink.write(segment)?;
        }
        progress.advance(mark, sink.rows, sink.failed);
    }
    drop(rx);
    let _ = reader.await;
    progress.done(sink.rows, sink.failed);
    sink.finish()
}

async fn score_chunk(
    model: Arc<ServedModel>,
    plan: Arc<Plan>,
    chunk: Chunk,
) -> Result<Vec<Segment>, PredictError> {
    let chunk = Arc::new(chunk);
    let rows = chunk.data.rows();
    let error = match attempt(&model, &plan, &chunk, None).await {
        Ok(segment) => return Ok(vec![segment]),
        Err(Failure::Fatal(e)) => return Err(e),
        Err(Failure::Refused(e, _)) => e,
    };
    let n = match rows {
        Some(n) if n > 0 => n,
        _ => return Err(PredictError::Scoring(error)),
    };
    match plan.on_error {
        OnError::Fail => {
            let row = first_failing(&model, &plan, &chunk, n).await?;
            Err(PredictError::AtRow {
                row: row.map(|r| chunk.first_row + r as u64),
                rows_of: plan.rows_of.clone(),
                error,
            })
        }
        OnError::Column => tolerant(&model, &plan, &chunk, n).await,
    }
}

/// The first row of a failing chunk that fails alone (halving), if any does.
async fn first_failing(
    model: &Arc<ServedModel>,
    plan: &Arc<Plan>,
    chunk: &Arc<Chunk>,
    n: usize,
) -> Result<Option<usize>, PredictError> {
    let (mut lo, mut hi) = (0, n);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fails(model, plan, chunk, lo..mid).await? {
            hi = mid;
        } else if fails(model, plan, chunk, mid..hi).await? {
            lo = mid;
        } else {
            return Ok(None); // the rows fail only together
        }
    }
    Ok(Some(lo))
}

async fn fails(
    model: &Arc<ServedModel>,
    plan: &Arc<Plan>,
    chunk: &Arc<Chunk>,
    rows: Range<usize>,
) -> Result<bool, PredictError> {
    match attempt(model, plan, chunk, Some(rows)).await {
        Ok(_) => Ok(false),
        Err(Failure::Refused(..)) => Ok(true),
        Err(Failure::Fatal(e)) => Err(e),
    }
}

/// Scores what can be scored of a failing chunk, halving down to the rows that fail alone.
async fn tolerant(
    model: &Arc<ServedModel>,
    plan: &Arc<Plan>,
    chunk: &Arc<Chunk>,
    n: usize,
) -> Result<Vec<Segment>, PredictError> {
    let mut out = Vec::new();
    let mut stack: Vec<Range<usize>> = Vec::with_capacity(64);
    stack.push(0..n);
    while let Some(rows) = stack.pop() {
        match attempt(model, plan, chunk, Some(rows.clone())).await {
            Ok(segment) => out.push(segment),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Refused(e, kept)) if rows.len() == 1 => out.push(Segment::Failed {
                rows: 1,
                message: e.offline_message(),
                kept: kept.unwrap_or_else(|| unread(&plan.keep)),
            }),
            Err(Failure::Refused(..)) => {
                let mid = rows.start + rows.len() / 2;
                stack.push(mid..rows.end);
                stack.push(rows.start..mid);
            }
        }
    }
    Ok(out)
}

/// Kept columns of a row that could not be read: nulls.
fn unread(keep: &[String]) -> Kept {
    keep.iter()
        .map(|k| (k.clone(), Column::Object(vec![Cell::Null])))
        .collect()
}

/// Prepares, scores and renders `rows` of a chunk (all of it when `None`).
async fn attempt(
    model: &Arc<ServedModel>,
    plan: &Arc<Plan>,
    chunk: &Arc<Chunk>,
    rows: Option<Range<usize>>,
) -> Result<Segment, Failure> {
    let (m, p, c) = (model.clone(), plan.clone(), chunk.clone());
    let (prepared, kept) = tokio::task::spawn_blocking(move || prepare(&m, &p, &c, rows))
        .await
        .map_err(|e| Failure::Fatal(PredictError::Internal(e.to_string())))?;
    let (prepared, kept) = match (prepared, kept) {
        // A missing --keep-columns column stops the run whatever else happened.
        (_, Some(Err(e))) => return Err(Failure::Fatal(e)),
        (Err(e), kept) => return Err(Failure::Refused(e, kept.and_then(Result::ok))),
        (Ok(prepared), Some(Ok(kept))) => (prepared, kept),
        (Ok(_), None) => {
            return Err(Failure::Fatal(PredictError::Internal(
                "the input was enforced without being parsed".into(),
            )))
        }
    };
    let (predictions, unwrapped) = model
        .predict(prepared)
        .await
        .map_err(|e| Failure::Refused(e, Some(kept.clone())))?;
    let p = plan.clone();
    tokio::task::spawn_blocking(move || {
        if p.output == OutputFormat::Json {
            let rows = answer_rows(&predictions);
            return Ok(Segment::Scored {
                rows,
                rendered: Rendered::Json(json_piece(&predictions, unwrapped)),
            });
        }
        let rows = answer_rows(&predictions);
        render_rows(p.output, &predictions, &kept, p.on_error == OnError::Column)
            .map(|rendered| Segment::Scored { rows, rendered })
            .map_err(PredictError::NotPerRow)
    })
    .await
    .map_err(|e| Failure::Fatal(PredictError::Internal(e.to_string())))?
    .map_err(Failure::Fatal)
}

/// Parses and enforces rows of a chunk, copying the kept columns on the way (`None` when
/// the rows could not be parsed).
fn prepare(
    model: &ServedModel,
    plan: &Plan,
    chunk: &Chunk,
    rows: Option<Range<usize>>,
) -> (
    Result<Prepared, ServeError>,
    Option<Result<Kept, PredictError>>,
) {
    let mut kept = None;
    let mut inspect = |input: &Input| kept = Some(keep_columns(input, &plan.keep));
    let prepared = match &chunk.data {
        ChunkData::Csv {
            header,
            body,
            rows: ranges,
        } => {
            let mut text = Vec::with_capacity(header.len() + body.len());
            text.extend_from_slice(header);
            match &rows {
                None => text.extend_from_slice(body),
                Some(r) => {
                    for range in &ranges[r.clone()] {
                        text.extend_from_slice(&body[range.clone()]);
                    }
                }
            }
            model.prepare_offline_inspect(BodyFormat::Csv, &text, &mut inspect)
        }
        ChunkData::Lines { body, rows: ranges } => {
            let picked = match &rows {
                None => &ranges[..],
                Some(r) => &ranges[r.clone()],
            };
            let mut text = b"{\"dataframe_records\": [".to_vec();
            for (i, range) in picked.iter().enumerate() {
                if i > 0 {
                    text.extend_from_slice(b", ");
                }
                text.extend_from_slice(&body[range.clone()]);
            }
            text.extend_from_slice(b"]}");
            model.prepare_offline_inspect(BodyFormat::Json, &text, &mut inspect)
        }
        ChunkData::Batch(batch) => {
            let batch = match &rows {
                None => batch.clone(),
                Some(r) => batch.slice(r.start, r.len()),
            };
            payload::parquet::frame_from_batch(&batch)
                .map_err(ServeError::from)
                .and_then(|frame| {
                    let input = Input::Frame(frame);
                    inspect(&input);
                    model.prepare_input(input, None, false, false)
                })
        }
        ChunkData::Document(body) => {
            model.prepare_offline_inspect(BodyFormat::Json, body, &mut inspect)
        }
    };
    (prepared, kept)
}

/// Copies the `--keep-columns` columns of a parsed input.
fn keep_columns(input: &Input, keep: &[String]) -> Result<Kept, PredictError> {
    if keep.is_empty() {
        return Ok(Vec::new());
    }
    let Input::Frame(frame) = input else {
        return Err(PredictError::Usage(
            "--keep-columns needs tabular input (csv, jsonl, parquet, or a dataframe in JSON)"
                .into(),
        ));
    };
    keep.iter()
        .map(|name| match frame.position(name) {
            Some(i) => Ok((name.clone(), frame.columns[i].1.clone())),
            None => Err(PredictError::Usage(format!(
                "--keep-columns: the input has no column `{name}`"
            ))),
        })
        .collect()
}
