//! The output, written as chunks complete, in input order: MLflow's JSON document (one
//! chunk's document exactly as MLflow writes it; several chunks' lists joined into one
//! document, a dict of outputs joined through temporary files), JSON Lines, CSV or Parquet.
//! A file is written under a temporary name beside its destination and renamed into place
//! only once complete.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::Schema;
use parquet::arrow::ArrowWriter;

use super::render::{
    failed_batch, failed_csv, failed_jsonl, failures_only_schema, JsonPiece, Kept, PieceShape,
    Rendered, ERROR_COLUMN,
};
use super::{OutputFormat, PredictError};

/// Rows of a chunk as scored: predictions, or the error that refused them.
pub enum Segment {
    /// Rows that were scored.
    Scored {
        /// How many.
        rows: usize,
        /// Their output.
        rendered: Rendered,
    },
    /// Rows that failed (`--on-error column`).
    Failed {
        /// How many.
        rows: usize,
        /// MLflow's message.
        message: String,
        /// Their kept columns.
        kept: Kept,
    },
}

/// Where the bytes go.
enum Out {
    File { tmp: tempfile::NamedTempFile },
    Stdout(std::io::Stdout),
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::File { tmp } => tmp.write(buf),
            Out::Stdout(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::File { tmp } => tmp.flush(),
            Out::Stdout(s) => s.flush(),
        }
    }
}

enum Json {
    Nothing,
    /// The first chunk's document, written as it is if no other chunk follows.
    First(JsonPiece),
    /// Joining a list: whether an item was written.
    List(bool),
    /// Joining a dict of lists through one spill file per output.
    Dict(Vec<(String, BufWriter<File>, bool)>),
}

/// The output of a run.
pub struct Sink {
    format: OutputFormat,
    /// Kept input columns, first in each row.
    kept: usize,
    dest: Option<PathBuf>,
    out: Option<BufWriter<Out>>,
    parquet: Option<ArrowWriter<BufWriter<Out>>>,
    /// The Parquet output's schema, once known.
    schema: Option<Arc<Schema>>,
    json: Json,
    /// CSV: prediction columns in the header, once written.
    csv_predictions: Option<usize>,
    /// Failures that came before the output's columns were known.
    pending: Vec<(usize, String, Kept)>,
    /// Rows written.
    pub rows: u64,
    /// Rows written with an error.
    pub failed: u64,
}

const PARQUET_ROW_GROUP: usize = 128 * 1024;

impl Sink {
    /// A sink writing `format` to `dest` (a file), else stdout, with `kept` input columns
    /// before the predictions.
    pub fn create(
        format: OutputFormat,
        dest: Option<&Path>,
        kept: usize,
    ) -> Result<Sink, PredictError> {
        let out = match dest {
            Some(path) => {
                let dir = match path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                let tmp = tempfile::Builder::new()
                    .prefix(".mlflow-serve-predict-")
                    .tempfile_in(&dir)
                    .map_err(|e| output_error(dest, e))?;
                Out::File { tmp }
            }
            None => Out::Stdout(std::io::stdout()),
        };
        Ok(Sink {
            format,
            kept,
            dest: dest.map(Path::to_path_buf),
            out: Some(BufWriter::with_capacity(1 << 20, out)),
            parquet: None,
            schema: None,
            json: Json::Nothing,
            csv_predictions: None,
            pending: Vec::new(),
            rows: 0,
            failed: 0,
        })
    }

    fn fail(&self, e: impl std::fmt::Display) -> PredictError {
        PredictError::Output {
            what: self.what(),
            message: e.to_string(),
        }
    }

    fn what(&self) -> String {
        self.dest
            .as_ref()
            .map_or("stdout".to_string(), |p| p.display().to_string())
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), PredictError> {
        let r = match self.out.as_mut() {
            Some(out) => out.write_all(bytes),
            None => Ok(()),
        };
        r.map_err(|e| self.fail(e))
    }

    /// Writes the next segment.
    pub fn write(&mut self, segment: Segment) -> Result<(), PredictError> {
        match segment {
            Segment::Scored { rows, rendered } => {
                self.rows += rows as u64;
                match rendered {
                    Rendered::Json(piece) => self.json_piece(piece),
                    Rendered::Text { columns, body } => {
                        if self.format == OutputFormat::Csv && self.csv_predictions.is_none() {
                            self.csv_header(&columns)?;
                        }
                        self.write_bytes(&body)
                    }
                    Rendered::Batch(batch) => {
                        if self.parquet.is_none() {
                            self.start_parquet(batch.schema())?;
                        }
                        self.write_batch(&batch)
                    }
                }
            }
            Segment::Failed {
                rows,
                message,
                kept,
            } => {
                self.rows += rows as u64;
                self.failed += rows as u64;
                self.failure(rows, message, kept)
            }
        }
    }

    fn failure(&mut self, rows: usize, message: String, kept: Kept) -> Result<(), PredictError> {
        match self.format {
            OutputFormat::Jsonl => {
                let mut body = Vec::new();
                failed_jsonl(&mut body, &kept, rows, &message);
                self.write_bytes(&body)
            }
            OutputFormat::Csv => match self.csv_predictions {
                Some(blanks) => {
                    let mut body = Vec::new();
                    failed_csv(&mut body, &kept, rows, blanks, &message)
                        .map_err(|e| self.fail(e))?;
                    self.write_bytes(&body)
                }
                None => {
                    self.pending.push((rows, message, kept));
                    Ok(())
                }
            },
            OutputFormat::Parquet => match self.schema.clone() {
                Some(schema) => {
                    let batch =
                        failed_batch(&schema, &kept, rows, &message).map_err(|e| self.fail(e))?;
                    self.write_batch(&batch)
                }
                None => {
                    self.pending.push((rows, message, kept));
                    Ok(())
                }
            },
            OutputFormat::Json => Err(PredictError::Usage(
                "--on-error column needs a row-per-row output format".into(),
            )),
        }
    }

    /// Writes the CSV header (columns plus the error column when rows may fail), then the
    /// failures that waited for it.
    fn csv_header(&mut self, columns: &[String]) -> Result<(), PredictError> {
        let predictions = columns
            .len()
            .saturating_sub(self.kept + usize::from(ends_with_error(columns)));
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        w.write_record(columns).map_err(|e| self.fail(e))?;
        let header = w.into_inner().map_err(|e| self.fail(e))?;
        self.write_bytes(&header)?;
        self.csv_predictions = Some(predictions);
        for (rows, message, kept) in std::mem::take(&mut self.pending) {
            self.failure(rows, message, kept)?;
        }
        Ok(())
    }

    fn start_parquet(&mut self, schema: Arc<Schema>) -> Result<(), PredictError> {
        let out = self
            .out
            .take()
            .ok_or_else(|| self.fail("the output was closed"))?;
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .set_max_row_group_row_count(Some(PARQUET_ROW_GROUP))
            .build();
        let writer =
            ArrowWriter::try_new(out, schema.clone(), Some(props)).map_err(|e| self.fail(e))?;
        self.parquet = Some(writer);
        self.schema = Some(schema);
        for (rows, message, kept) in std::mem::take(&mut self.pending) {
            self.failure(rows, message, kept)?;
        }
        Ok(())
    }

    fn write_batch(&mut self, batch: &arrow_array::RecordBatch) -> Result<(), PredictError> {
        let r = match self.parquet.as_mut() {
            Some(w) => w.write(batch),
            None => Ok(()),
        };
        r.map_err(|e| self.fail(format!("{e} (a column's type changed between batches?)")))
    }

    fn json_piece(&mut self, piece: JsonPiece) -> Result<(), PredictError> {
        match std::mem::replace(&mut self.json, Json::Nothing) {
            Json::Nothing => {
                self.json = Json::First(piece);
                Ok(())
            }
            Json::First(first) => {
                self.json = match first.shape {
                    PieceShape::List(_) => {
                        self.write_bytes(b"{\"predictions\": [")?;
                        Json::List(false)
                    }
                    PieceShape::Dict(ref parts) => {
                        let mut spills = Vec::new();
                        for (name, _) in parts {
                            let f = tempfile::tempfile().map_err(|e| self.fail(e))?;
                            spills.push((name.clone(), BufWriter::new(f), false));
                        }
                        Json::Dict(spills)
                    }
                    PieceShape::Opaque => return Err(not_joinable()),
                };
                self.join(first)?;
                self.join(piece)
            }
            other => {
                self.json = other;
                self.join(piece)
            }
        }
    }

    fn join(&mut self, piece: JsonPiece) -> Result<(), PredictError> {
        match (&mut self.json, &piece.shape) {
            (Json::List(any), PieceShape::List(items)) => {
                if items.is_empty() {
                    return Ok(());
                }
                let sep = std::mem::replace(any, true);
                if sep {
                    self.write_bytes(b", ")?;
                }
                self.write_bytes(&piece.body[items.clone()])
            }
            (Json::Dict(spills), PieceShape::Dict(parts)) => {
                if parts.len() != spills.len()
                    || parts
                        .iter()
                        .zip(spills.iter())
                        .any(|((a, _), (b, _, _))| a != b)
                {
                    return Err(not_joinable());
                }
                let mut result = Ok(());
                for ((_, items), (_, spill, any)) in parts.iter().zip(spills.iter_mut()) {
                    if items.is_empty() {
                        continue;
                    }
                    if std::mem::replace(any, true) {
                        result = result.and(spill.write_all(b", "));
                    }
                    result = result.and(spill.write_all(&piece.body[items.clone()]));
                }
                result.map_err(|e| self.fail(e))
            }
            _ => Err(not_joinable()),
        }
    }

    /// Completes the output (closing the JSON document, the Parquet footer) and, for a file,
    /// renames it into place.
    pub fn finish(mut self) -> Result<(), PredictError> {
        match std::mem::replace(&mut self.json, Json::Nothing) {
            Json::Nothing if self.format == OutputFormat::Json => {
                self.write_bytes(b"{\"predictions\": []}")?
            }
            Json::Nothing => {}
            Json::First(piece) => self.write_bytes(&piece.body)?,
            Json::List(_) => self.write_bytes(b"]}")?,
            Json::Dict(spills) => {
                self.write_bytes(b"{\"predictions\": {")?;
                for (i, (name, spill, _)) in spills.into_iter().enumerate() {
                    let mut key = Vec::new();
                    if i > 0 {
                        key.extend_from_slice(b", ");
                    }
                    crate::pyjson::write_str(&mut key, &name);
                    key.extend_from_slice(b": [");
                    self.write_bytes(&key)?;
                    let mut f = spill.into_inner().map_err(|e| self.fail(e.error()))?;
                    f.seek(SeekFrom::Start(0)).map_err(|e| self.fail(e))?;
                    if let Some(out) = self.out.as_mut() {
                        std::io::copy(&mut f, out).map_err(|e| output_error(None, e))?;
                    }
                    self.write_bytes(b"]")?;
                }
                self.write_bytes(b"}}")?;
            }
        }
        if !self.pending.is_empty() {
            // Every row failed: the output holds the kept columns and the errors.
            let kept = self.pending[0].2.clone();
            match self.format {
                OutputFormat::Csv => {
                    let mut columns: Vec<String> = kept.iter().map(|(n, _)| n.clone()).collect();
                    columns.push(ERROR_COLUMN.to_string());
                    self.csv_header(&columns)?;
                }
                OutputFormat::Parquet => self.start_parquet(failures_only_schema(&kept))?,
                _ => {}
            }
        }
        if self.format == OutputFormat::Parquet && self.parquet.is_none() {
            self.start_parquet(Arc::new(Schema::empty()))?;
        }
        if let Some(w) = self.parquet.take() {
            let out = w.into_inner().map_err(|e| self.fail(e))?;
            self.out = Some(out);
        }
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        let out = out.into_inner().map_err(|e| self.fail(e.error()))?;
        match out {
            Out::Stdout(mut s) => s.flush().map_err(|e| self.fail(e)),
            Out::File { tmp } => {
                let dest = self.dest.clone().unwrap_or_default();
                tmp.as_file().sync_all().map_err(|e| self.fail(e))?;
                tmp.persist(&dest).map_err(|e| self.fail(e.error))?;
                Ok(())
            }
        }
    }
}

fn ends_with_error(columns: &[String]) -> bool {
    columns.last().is_some_and(|c| c == ERROR_COLUMN)
}

fn not_joinable() -> PredictError {
    PredictError::NotPerRow(
        "the model's answer is not one prediction per row, so batches cannot be joined; \
         score this file in one batch (--batch-rows above its row count)"
            .into(),
    )
}

fn output_error(dest: Option<&Path>, e: std::io::Error) -> PredictError {
    PredictError::Output {
        what: dest.map_or("stdout".to_string(), |p| p.display().to_string()),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flavor::Predictions;
    use crate::predict::render::json_piece;
    use runtime_api::{MapKey, OutputValue, Tensor, TensorData};

    fn tensor(shape: &[usize], v: Vec<f32>) -> Tensor {
        Tensor {
            shape: shape.to_vec(),
            data: TensorData::F32(v),
        }
    }

    fn dict(rows: &[f32]) -> Predictions {
        Predictions::Dict(vec![
            (
                "score".into(),
                OutputValue::Tensor(tensor(&[rows.len()], rows.to_vec())),
            ),
            (
                "pair".into(),
                OutputValue::Tensor(tensor(
                    &[rows.len(), 2],
                    rows.iter().flat_map(|&r| [r, -r]).collect(),
                )),
            ),
            (
                "probs".into(),
                OutputValue::SequenceOfMaps(
                    rows.iter()
                        .map(|&r| vec![(MapKey::Int(0), r as f64), (MapKey::Str("b".into()), 1.0)])
                        .collect(),
                ),
            ),
        ])
    }

    fn joined(chunks: &[Predictions]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        let mut sink = Sink::create(OutputFormat::Json, Some(&path), 0).unwrap();
        for p in chunks {
            sink.write(Segment::Scored {
                rows: 0,
                rendered: Rendered::Json(json_piece(p, false)),
            })
            .unwrap();
        }
        sink.finish().unwrap();
        std::fs::read(&path).unwrap()
    }

    #[test]
    fn chunks_of_a_dict_of_outputs_join_into_the_whole_document() {
        let whole = dict(&[1.0, 2.0, 3.0, 4.0, 5.0]).to_body(false);
        let parts = [
            dict(&[1.0, 2.0]),
            dict(&[]),
            dict(&[3.0]),
            dict(&[4.0, 5.0]),
        ];
        assert_eq!(joined(&parts), whole);
        assert_eq!(joined(&[dict(&[1.0, 2.0, 3.0, 4.0, 5.0])]), whole);
    }

    #[test]
    fn chunks_of_an_array_join_and_one_chunk_is_written_as_it_is() {
        let a = |v: Vec<f32>| Predictions::Array(tensor(&[v.len() / 2, 2], v));
        let whole = a(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).to_body(false);
        assert_eq!(
            joined(&[a(vec![1.0, 2.0]), a(vec![3.0, 4.0, 5.0, 6.0])]),
            whole
        );
        assert_eq!(joined(&[]), b"{\"predictions\": []}");
        // A scalar answer is written as it is alone, and cannot be joined.
        let scalar = Predictions::Array(tensor(&[], vec![7.0]));
        assert_eq!(joined(std::slice::from_ref(&scalar)), scalar.to_body(false));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        let mut sink = Sink::create(OutputFormat::Json, Some(&path), 0).unwrap();
        for _ in 0..2 {
            let r = sink.write(Segment::Scored {
                rows: 1,
                rendered: Rendered::Json(json_piece(&scalar, false)),
            });
            if let Err(e) = r {
                assert!(e.to_string().contains("not one prediction per row"));
                drop(sink);
                assert!(!path.exists(), "no output after a failure");
                return;
            }
        }
        panic!("two scalar answers were joined");
    }
}
