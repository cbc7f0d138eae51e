//! Reading an input in chunks of rows, one shard of it when asked: CSV and JSON Lines split
//! on record boundaries (a shard is a byte range; a record belongs to the shard its first
//! byte is in), Parquet decoded batch by batch (a shard is a run of row groups), and MLflow's
//! JSON document read whole (it is not made of rows).

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::{InputFormat, PredictError, Shard};

/// A run of input rows, scored together.
#[derive(Debug)]
pub struct Chunk {
    /// Index of its first row among the rows this run reads (the shard's rows with `--shard`).
    pub first_row: u64,
    /// Progress once this chunk is written: input bytes (text) or rows (Parquet).
    pub progress: u64,
    /// The rows.
    pub data: ChunkData,
}

/// The rows of a chunk, as the input held them.
#[derive(Debug)]
pub enum ChunkData {
    /// CSV: the header line, and the rows' bytes with each non-blank row's range in `body`.
    Csv {
        /// The header record, line terminator included.
        header: Arc<Vec<u8>>,
        /// The rows, as in the file (blank lines included).
        body: Vec<u8>,
        /// Each row's bytes in `body`, terminator included.
        rows: Vec<Range<usize>>,
    },
    /// JSON Lines: each non-blank line's range in `body`.
    Lines {
        /// The lines, as in the file.
        body: Vec<u8>,
        /// Each row's bytes in `body`, terminator excluded.
        rows: Vec<Range<usize>>,
    },
    /// Decoded Parquet rows.
    Batch(RecordBatch),
    /// A whole JSON document in one of MLflow's formats.
    Document(Vec<u8>),
}

impl ChunkData {
    /// Rows in the chunk (unknown for a JSON document until it is parsed).
    pub fn rows(&self) -> Option<usize> {
        match self {
            ChunkData::Csv { rows, .. } | ChunkData::Lines { rows, .. } => Some(rows.len()),
            ChunkData::Batch(b) => Some(b.num_rows()),
            ChunkData::Document(_) => None,
        }
    }
}

/// Where chunks come from.
pub enum Source {
    /// CSV or JSON Lines.
    Text(TextReader),
    /// Parquet.
    Parquet {
        /// The decoder.
        reader: ParquetRecordBatchReader,
        /// Rows handed out so far.
        next_row: u64,
    },
    /// MLflow's JSON document, until taken.
    Document(Option<Vec<u8>>),
}

/// Opens `input` (a file, else stdin) as `format`, positioned on `shard`.
/// Returns the source and the progress total (bytes or rows) when known.
pub fn open(
    format: InputFormat,
    input: Option<&Path>,
    shard: Shard,
    batch_rows: usize,
) -> Result<(Source, Option<u64>), PredictError> {
    let what = || input.map_or("stdin".to_string(), |p| p.display().to_string());
    let io = |e: std::io::Error| PredictError::Input {
        what: what(),
        message: e.to_string(),
    };
    if shard.count > 1 && input.is_none() {
        return Err(PredictError::Usage(
            "--shard needs -i: stdin cannot be split".into(),
        ));
    }
    match format {
        InputFormat::Json => {
            if shard.count > 1 {
                return Err(PredictError::Usage(
                    "--shard splits csv, jsonl and parquet inputs; an MLflow JSON document is not made of rows".into(),
                ));
            }
            let mut body = Vec::new();
            match input {
                Some(p) => std::fs::File::open(p).and_then(|mut f| f.read_to_end(&mut body)),
                None => std::io::stdin().lock().read_to_end(&mut body),
            }
            .map_err(io)?;
            Ok((Source::Document(Some(body)), None))
        }
        InputFormat::Parquet => {
            let file = match input {
                Some(p) => std::fs::File::open(p).map_err(io)?,
                None => {
                    // Parquet is read from its footer: stdin is spooled to a temporary file.
                    let mut tmp = tempfile::tempfile().map_err(io)?;
                    std::io::copy(&mut std::io::stdin().lock(), &mut tmp).map_err(io)?;
                    tmp.seek(SeekFrom::Start(0)).map_err(io)?;
                    tmp
                }
            };
            let bad = |e: parquet::errors::ParquetError| PredictError::Input {
                what: what(),
                message: format!("not a readable Parquet file: {e}"),
            };
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(bad)?;
            let groups = builder.metadata().num_row_groups();
            let mine: Vec<usize> = shard.part(groups as u64).map(|g| g as usize).collect();
            let total: i64 = mine
                .iter()
                .map(|&g| builder.metadata().row_group(g).num_rows().max(0))
                .sum();
            let reader = builder
                .with_row_groups(mine)
                .with_batch_size(batch_rows)
                .build()
                .map_err(bad)?;
            Ok((
                Source::Parquet {
                    reader,
                    next_row: 0,
                },
                Some(total as u64),
            ))
        }
        InputFormat::Csv | InputFormat::JsonLines => {
            let csv = format == InputFormat::Csv;
            let (reader, total): (Box<dyn Read + Send>, Option<u64>) = match input {
                Some(p) => {
                    let f = std::fs::File::open(p).map_err(io)?;
                    let len = f.metadata().map_err(io)?.len();
                    (Box::new(f), Some(len))
                }
                None => (Box::new(std::io::stdin()), None),
            };
            let mut text = TextReader {
                reader: BufReader::with_capacity(1 << 20, reader),
                csv,
                header: Arc::new(Vec::new()),
                pos: 0,
                end: u64::MAX,
                batch_rows,
                base: 0,
                next_row: 0,
                emitted: false,
                always_emit: shard.index == 0,
            };
            if csv {
                let mut header = Vec::new();
                text.read_record(&mut header).map_err(io)?;
                text.header = Arc::new(header);
            }
            let mut range_total = total;
            if let (Some(len), Some(p)) = (total, input) {
                let data_start = text.pos;
                let data = len.saturating_sub(data_start);
                let start = data_start + data * shard.index as u64 / shard.count as u64;
                let end = data_start + data * (shard.index as u64 + 1) / shard.count as u64;
                if shard.count > 1 {
                    text.end = end;
                    if start > data_start {
                        // Start on the first line that begins at or after `start`.
                        let mut f = std::fs::File::open(p).map_err(io)?;
                        f.seek(SeekFrom::Start(start - 1)).map_err(io)?;
                        text.reader = BufReader::with_capacity(1 << 20, Box::new(f));
                        text.pos = start - 1;
                        let mut skipped = Vec::new();
                        let n = text.reader.read_until(b'\n', &mut skipped).map_err(io)?;
                        text.pos += n as u64;
                    }
                    range_total = Some(end.saturating_sub(text.pos.min(end)));
                    text.base = text.pos;
                }
            }
            Ok((Source::Text(text), range_total))
        }
    }
}

impl Source {
    /// The next chunk, or `None` once the input (or the shard) is done.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>, PredictError> {
        match self {
            Source::Document(body) => Ok(body.take().map(|body| Chunk {
                first_row: 0,
                progress: 0,
                data: ChunkData::Document(body),
            })),
            Source::Parquet { reader, next_row } => match reader.next() {
                None => Ok(None),
                Some(Err(e)) => Err(PredictError::Input {
                    what: "the Parquet input".into(),
                    message: e.to_string(),
                }),
                Some(Ok(batch)) => {
                    let first_row = *next_row;
                    *next_row += batch.num_rows() as u64;
                    Ok(Some(Chunk {
                        first_row,
                        progress: *next_row,
                        data: ChunkData::Batch(batch),
                    }))
                }
            },
            Source::Text(t) => t.next_chunk(),
        }
    }
}

/// CSV or JSON Lines, record by record.
pub struct TextReader {
    reader: BufReader<Box<dyn Read + Send>>,
    csv: bool,
    header: Arc<Vec<u8>>,
    /// Offset of the next byte in the file.
    pos: u64,
    /// Records starting at or after this offset belong to the next shard.
    end: u64,
    /// Where progress counts from (the shard's first byte).
    base: u64,
    batch_rows: usize,
    next_row: u64,
    /// Whether a chunk was handed out.
    emitted: bool,
    /// The first (or only) shard hands out one chunk even without rows, so that a header-only
    /// file is answered as MLflow answers it.
    always_emit: bool,
}

impl TextReader {
    /// Appends one record (a line; for CSV, lines until the quotes balance) to `buf`.
    /// Returns the bytes read (0 at the end).
    fn read_record(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        let start = buf.len();
        let mut quotes = 0usize;
        loop {
            let from = buf.len();
            let n = self.reader.read_until(b'\n', buf)?;
            if n == 0 {
                break;
            }
            if self.csv {
                quotes += buf[from..].iter().filter(|&&b| b == b'"').count();
            }
            if quotes.is_multiple_of(2) || buf.last() != Some(&b'\n') {
                break;
            }
        }
        let n = buf.len() - start;
        self.pos += n as u64;
        Ok(n)
    }

    fn next_chunk(&mut self) -> Result<Option<Chunk>, PredictError> {
        let io = |e: std::io::Error| PredictError::Input {
            what: "the input".into(),
            message: e.to_string(),
        };
        let mut body = Vec::new();
        let mut rows = Vec::new();
        while rows.len() < self.batch_rows && self.pos < self.end {
            let start = body.len();
            if self.read_record(&mut body).map_err(io)? == 0 {
                break;
            }
            let record = &body[start..];
            let content = record
                .strip_suffix(b"\n")
                .map(|r| r.strip_suffix(b"\r").unwrap_or(r))
                .unwrap_or(record);
            if self.csv {
                // pandas skips empty lines and lines of only spaces and tabs
                if !content.iter().all(|b| matches!(b, b' ' | b'\t')) {
                    rows.push(start..body.len());
                }
            } else if !content.iter().all(u8::is_ascii_whitespace) {
                rows.push(start..start + content.len());
            }
        }
        if rows.is_empty() && (self.emitted || !self.always_emit) {
            return Ok(None);
        }
        self.emitted = true;
        let first_row = self.next_row;
        self.next_row += rows.len() as u64;
        let data = if self.csv {
            ChunkData::Csv {
                header: self.header.clone(),
                body,
                rows,
            }
        } else {
            ChunkData::Lines { body, rows }
        };
        Ok(Some(Chunk {
            first_row,
            progress: self.pos - self.base,
            data,
        }))
    }
}
