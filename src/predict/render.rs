//! A chunk's answer rendered for the output format, off the writer's thread: MLflow's JSON
//! document (kept whole, with where its list of predictions is so that chunks can be
//! joined), JSON Lines or CSV records, or an Arrow record batch for Parquet.

use std::ops::Range;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{Field, Schema};
use runtime_api::OutputValue;

use super::rows::{self, column_to_arrow, write_cell_text};
use super::OutputFormat;
use crate::flavor::predictions::{write_map, write_nested};
use crate::flavor::Predictions;
use crate::payload::Column;
use crate::pyjson::write_cell_json;
use crate::pyjson::write_str;

/// Input columns carried into the output (`--keep-columns`), one value per row.
pub type Kept = Vec<(String, Column)>;

/// The name of the error column written by `--on-error column`.
pub const ERROR_COLUMN: &str = "error";

/// A chunk's answer, ready for the writer.
pub enum Rendered {
    /// MLflow's JSON document for the chunk.
    Json(JsonPiece),
    /// JSON Lines or CSV records (no header), with the output's column names.
    Text {
        /// Column names: kept, then predicted (then the error column, with `--on-error column`).
        columns: Vec<String>,
        /// The records.
        body: Vec<u8>,
    },
    /// Parquet rows.
    Batch(RecordBatch),
}

/// MLflow's `{"predictions": …}` for one chunk, and where its parts are.
pub struct JsonPiece {
    /// The document exactly as `mlflow models predict` writes it for these rows alone.
    pub body: Vec<u8>,
    /// How documents of successive chunks join.
    pub shape: PieceShape,
}

/// Where the per-row parts of a chunk's JSON document are.
pub enum PieceShape {
    /// A list of predictions: the items (without brackets) are `body[range]`.
    List(Range<usize>),
    /// A dict of outputs, each a list: each list's items are `body[range]`.
    Dict(Vec<(String, Range<usize>)>),
    /// Not one value per row (a scalar answer, an unwrapped LLM answer): cannot be joined.
    Opaque,
}

const PREFIX: &[u8] = b"{\"predictions\": ";

/// MLflow's document for one chunk.
pub fn json_piece(predictions: &Predictions, unwrapped: bool) -> JsonPiece {
    if unwrapped {
        return JsonPiece {
            body: predictions.to_body(true),
            shape: PieceShape::Opaque,
        };
    }
    match predictions {
        Predictions::Dict(items) => {
            let mut body = PREFIX.to_vec();
            body.push(b'{');
            let mut parts = Vec::new();
            let mut joinable = true;
            for (i, (name, value)) in items.iter().enumerate() {
                if i > 0 {
                    body.extend_from_slice(b", ");
                }
                write_str(&mut body, name);
                body.extend_from_slice(b": ");
                let start = body.len();
                match value {
                    OutputValue::Tensor(t) => {
                        joinable &= !t.shape.is_empty();
                        write_nested(&mut body, &t.data, &t.shape, &mut 0);
                    }
                    OutputValue::SequenceOfMaps(ms) => {
                        body.push(b'[');
                        for (j, m) in ms.iter().enumerate() {
                            if j > 0 {
                                body.extend_from_slice(b", ");
                            }
                            write_map(&mut body, m);
                        }
                        body.push(b']');
                    }
                }
                parts.push((name.clone(), start + 1..body.len() - 1));
            }
            body.extend_from_slice(b"}}");
            JsonPiece {
                body,
                shape: if joinable {
                    PieceShape::Dict(parts)
                } else {
                    PieceShape::Opaque
                },
            }
        }
        other => {
            let body = other.to_body(false);
            let joinable = match other {
                Predictions::Array(t) => !t.shape.is_empty(),
                _ => true,
            };
            let inner = PREFIX.len() + 1..body.len() - 2;
            JsonPiece {
                body,
                shape: if joinable {
                    PieceShape::List(inner)
                } else {
                    PieceShape::Opaque
                },
            }
        }
    }
}

/// Rows in an answer (its first dimension).
pub fn answer_rows(predictions: &Predictions) -> usize {
    match predictions {
        Predictions::Records { nrows, .. } => *nrows,
        Predictions::Frame(t) | Predictions::Array(t) => t.shape.first().copied().unwrap_or(1),
        Predictions::Json(_) => 1,
        Predictions::Dict(items) => items.first().map_or(0, |(_, v)| match v {
            OutputValue::Tensor(t) => t.shape.first().copied().unwrap_or(1),
            OutputValue::SequenceOfMaps(m) => m.len(),
        }),
    }
}

/// Renders one chunk's answer for a row-per-row format. `error_column` adds the (empty)
/// error column of `--on-error column`.
pub fn render_rows(
    format: OutputFormat,
    predictions: &Predictions,
    kept: &Kept,
    error_column: bool,
) -> Result<Rendered, String> {
    let nrows = answer_rows(predictions);
    let preds = rows::columns(predictions, nrows)?;
    if let Some((name, c)) = kept.iter().find(|(_, c)| c.len() != nrows) {
        return Err(format!(
            "the kept column `{name}` has {} values for {nrows} predictions",
            c.len()
        ));
    }
    let mut columns: Vec<String> = kept.iter().map(|(n, _)| n.clone()).collect();
    columns.extend(preds.iter().map(|p| p.name.clone()));
    match format {
        OutputFormat::Parquet => {
            let mut fields = Vec::new();
            let mut arrays: Vec<ArrayRef> = Vec::new();
            for (name, col) in kept {
                let a = column_to_arrow(col);
                fields.push(Field::new(name, a.data_type().clone(), true));
                arrays.push(a);
            }
            for p in &preds {
                let a = p.values.to_arrow(nrows);
                fields.push(Field::new(&p.name, a.data_type().clone(), true));
                arrays.push(a);
            }
            if error_column {
                fields.push(Field::new(ERROR_COLUMN, arrow_schema::DataType::Utf8, true));
                arrays.push(Arc::new(StringArray::new_null(nrows)));
            }
            let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
                .map_err(|e| e.to_string())?;
            Ok(Rendered::Batch(batch))
        }
        OutputFormat::Jsonl => {
            let mut body = Vec::new();
            let keys: Vec<Vec<u8>> = columns
                .iter()
                .map(|c| {
                    let mut k = Vec::new();
                    write_str(&mut k, c);
                    k.extend_from_slice(b": ");
                    k
                })
                .collect();
            for r in 0..nrows {
                body.push(b'{');
                for (i, key) in keys.iter().enumerate() {
                    if i > 0 {
                        body.extend_from_slice(b", ");
                    }
                    body.extend_from_slice(key);
                    match i.checked_sub(kept.len()) {
                        None => write_cell_json(&mut body, &kept[i].1.cell(r)),
                        Some(j) => preds[j].values.write_json(&mut body, r),
                    }
                }
                body.extend_from_slice(b"}\n");
            }
            Ok(Rendered::Text { columns, body })
        }
        OutputFormat::Csv => {
            if error_column {
                columns.push(ERROR_COLUMN.to_string());
            }
            let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
            let mut field = Vec::new();
            for r in 0..nrows {
                for (_, col) in kept {
                    field.clear();
                    write_cell_text(&mut field, col, r);
                    w.write_field(&field).map_err(|e| e.to_string())?;
                }
                for p in &preds {
                    field.clear();
                    p.values.write_text(&mut field, r);
                    w.write_field(&field).map_err(|e| e.to_string())?;
                }
                if error_column {
                    w.write_field(b"").map_err(|e| e.to_string())?;
                }
                w.write_record(None::<&[u8]>).map_err(|e| e.to_string())?;
            }
            let body = w.into_inner().map_err(|e| e.to_string())?;
            Ok(Rendered::Text { columns, body })
        }
        OutputFormat::Json => Err("internal: JSON documents are rendered whole".into()),
    }
}

/// Appends CSV records for `rows` failed rows: kept values, `blanks` empty prediction
/// fields, then the error message.
pub fn failed_csv(
    out: &mut Vec<u8>,
    kept: &Kept,
    rows: usize,
    blanks: usize,
    message: &str,
) -> Result<(), String> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let mut field = Vec::new();
    for r in 0..rows {
        for (_, col) in kept {
            field.clear();
            write_cell_text(&mut field, col, r);
            w.write_field(&field).map_err(|e| e.to_string())?;
        }
        for _ in 0..blanks {
            w.write_field(b"").map_err(|e| e.to_string())?;
        }
        w.write_field(message.as_bytes())
            .map_err(|e| e.to_string())?;
        w.write_record(None::<&[u8]>).map_err(|e| e.to_string())?;
    }
    out.extend_from_slice(&w.into_inner().map_err(|e| e.to_string())?);
    Ok(())
}

/// Appends JSON Lines for `rows` failed rows: kept values, then `"error": message`.
pub fn failed_jsonl(out: &mut Vec<u8>, kept: &Kept, rows: usize, message: &str) {
    for r in 0..rows {
        out.push(b'{');
        for (name, col) in kept {
            write_str(out, name);
            out.extend_from_slice(b": ");
            write_cell_json(out, &col.cell(r));
            out.extend_from_slice(b", ");
        }
        write_str(out, ERROR_COLUMN);
        out.extend_from_slice(b": ");
        write_str(out, message);
        out.extend_from_slice(b"}\n");
    }
}

/// A Parquet batch of failed rows in `schema`: kept values, null predictions, the message.
pub fn failed_batch(
    schema: &Arc<Schema>,
    kept: &Kept,
    rows: usize,
    message: &str,
) -> Result<RecordBatch, String> {
    let arrays = schema
        .fields()
        .iter()
        .map(|f| {
            if let Some((_, col)) = kept.iter().find(|(n, _)| n == f.name()) {
                // A row that could not be read keeps nulls of the column's type.
                let a = column_to_arrow(col);
                if a.data_type() == f.data_type() {
                    a
                } else {
                    arrow_array::new_null_array(f.data_type(), rows)
                }
            } else if f.name() == ERROR_COLUMN {
                Arc::new(StringArray::from(vec![message; rows])) as ArrayRef
            } else {
                arrow_array::new_null_array(f.data_type(), rows)
            }
        })
        .collect();
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())
}

/// The schema of an output holding only kept columns and errors (every row failed).
pub fn failures_only_schema(kept: &Kept) -> Arc<Schema> {
    let mut fields: Vec<Field> = kept
        .iter()
        .map(|(n, c)| Field::new(n, column_to_arrow(c).data_type().clone(), true))
        .collect();
    fields.push(Field::new(ERROR_COLUMN, arrow_schema::DataType::Utf8, true));
    Arc::new(Schema::new(fields))
}
