//! `application/vnd.apache.parquet` bodies, read like `pandas.read_parquet` (`mlflow/pyfunc/scoring_server/__init__.py`, `parse_parquet_input`).

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::Array as _;
use arrow_array::RecordBatchReader as _;
use arrow_schema::DataType;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::payload::data::{ColName, Column, Frame};
use crate::payload::{CellBudget, PayloadError};
use crate::pyjson::Cell;

fn fail(e: impl std::fmt::Display) -> PayloadError {
    PayloadError::ParseFailure {
        message: format!(
            "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid Parquet Pandas DataFrame produced using the `pandas.DataFrame.to_parquet()` method. Error: '{e}'"
        ),
        trace: format!("mlflow-serve: Parquet read error: {e}"),
    }
}

macro_rules! prim {
    ($arr:expr, $t:ty, $variant:ident, $null_as_float:expr) => {{
        let a = $arr.as_primitive::<$t>();
        if a.null_count() > 0 && $null_as_float {
            Column::F64(
                (0..a.len())
                    .map(|i| {
                        if a.is_null(i) {
                            f64::NAN
                        } else {
                            a.value(i) as f64
                        }
                    })
                    .collect(),
            )
        } else {
            Column::$variant(a.values().to_vec())
        }
    }};
}

/// Rows decoded at a time, so that the decoded size is checked before it can grow far.
const BATCH_ROWS: usize = 1024;

/// Reads every row group into one frame, refusing files whose rows × columns exceed the cell
/// budget (from the footer, before decoding) or whose decoded data grows past the byte budget
/// (checked batch by batch: dictionary and run-length encodings can stand for far more data
/// than the file holds).
///
/// The `parquet` and `arrow-ipc` crates panic on some malformed footers (an `unwrap` in the
/// thrift decoder, an index in the embedded schema reader; found by fuzzing): a panic is
/// caught here and answered as the parse error it is.
pub fn parse(body: &[u8], budget: CellBudget) -> Result<Frame, PayloadError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(body, budget))).unwrap_or_else(
        |panic| {
            let what = crate::panic_message(panic.as_ref());
            Err(fail(format!(
                "invalid Parquet file (the decoder failed: {what})"
            )))
        },
    )
}

/// The checks pyarrow makes when it opens a buffer, with its messages (what `read_parquet`
/// raises, and MLflow quotes, for a body that is not Parquet at all).
fn check_open(body: &[u8]) -> Result<(), PayloadError> {
    let n = body.len();
    let refuse = |why: String| {
        Err(fail(format!(
            "Could not open Parquet input source '<Buffer>': {why}"
        )))
    };
    if n == 0 {
        return refuse("Parquet file size is 0 bytes".into());
    }
    if n < 8 {
        return refuse(format!(
            "Parquet file size is {n} bytes, smaller than the minimum file footer (8 bytes)"
        ));
    }
    if &body[n - 4..] != b"PAR1" {
        return refuse(
            "Parquet magic bytes not found in footer. Either the file is corrupted or this is not a parquet file.".into(),
        );
    }
    let len = u32::from_le_bytes([body[n - 8], body[n - 7], body[n - 6], body[n - 5]]);
    if (n as u64) < u64::from(len) + 8 {
        return refuse(format!(
            "Parquet file size is {n} bytes, smaller than the size reported by footer's ({len}bytes)"
        ));
    }
    Ok(())
}

/// Deepest thrift nesting accepted in a footer (real ones nest about 6 levels).
const MAX_THRIFT_DEPTH: usize = 64;

/// Checks the footer's thrift (compact protocol) before the parquet crate decodes it: every
/// list, set, map and binary length must fit in the bytes that remain, and nesting stays
/// shallow. parquet before 60 allocated a list's declared capacity up front (an allocation
/// failure aborts the process); 60 bounds lists itself, and this stays as a second line.
fn check_footer(body: &[u8]) -> Result<(), PayloadError> {
    let n = body.len();
    if n < 12 || &body[n - 4..] != b"PAR1" {
        return Ok(()); // not a footer the crate will read: it reports the error itself
    }
    let len = u32::from_le_bytes([body[n - 8], body[n - 7], body[n - 6], body[n - 5]]) as usize;
    if len > n - 8 {
        return Ok(());
    }
    let mut t = Thrift {
        b: &body[n - 8 - len..n - 8],
        pos: 0,
    };
    t.skip_struct(0)
        .ok_or_else(|| fail("invalid Parquet file: malformed footer metadata"))
}

/// A bounds-checking walk over thrift compact-protocol bytes.
struct Thrift<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Thrift<'_> {
    fn byte(&mut self) -> Option<u8> {
        let v = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(v)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        (n <= self.b.len() - self.pos).then(|| self.pos += n)
    }

    /// A declared element count: each element takes at least one byte.
    fn count(&mut self, n: u64) -> Option<usize> {
        let n = usize::try_from(n).ok()?;
        (n <= self.b.len() - self.pos).then_some(n)
    }

    fn skip_value(&mut self, ty: u8, depth: usize) -> Option<()> {
        if depth > MAX_THRIFT_DEPTH {
            return None;
        }
        match ty {
            1 | 2 => Some(()),
            3 => self.skip(1),
            4..=6 => self.varint().map(|_| ()),
            7 => self.skip(8),
            8 => {
                let n = self.varint()?;
                let n = self.count(n)?;
                self.skip(n)
            }
            9 | 10 => {
                let h = self.byte()?;
                let n = match h >> 4 {
                    15 => self.varint()?,
                    small => u64::from(small),
                };
                let n = self.count(n)?;
                let elem = h & 0x0f;
                for _ in 0..n {
                    if elem == 1 || elem == 2 {
                        self.skip(1)?;
                    } else {
                        self.skip_value(elem, depth + 1)?;
                    }
                }
                Some(())
            }
            11 => {
                let n = self.varint()?;
                let n = self.count(n)?;
                if n == 0 {
                    return Some(());
                }
                let kv = self.byte()?;
                for _ in 0..n {
                    self.skip_value(kv >> 4, depth + 1)?;
                    self.skip_value(kv & 0x0f, depth + 1)?;
                }
                Some(())
            }
            12 => self.skip_struct(depth + 1),
            13 => self.skip(16),
            _ => None,
        }
    }

    fn skip_struct(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_THRIFT_DEPTH {
            return None;
        }
        loop {
            let h = self.byte()?;
            let ty = h & 0x0f;
            if ty == 0 {
                return Some(());
            }
            if h >> 4 == 0 {
                self.varint()?; // long-form field id
            }
            self.skip_value(ty, depth)?;
        }
    }
}

/// What one page header declares.
#[derive(Debug, Default)]
struct PageDecl {
    uncompressed: i64,
    compressed: i64,
    /// Values of a data page (v1 or v2).
    data_values: Option<i64>,
    /// Values of a dictionary page.
    dict_values: Option<i64>,
}

impl Thrift<'_> {
    fn zigzag(&mut self) -> Option<i64> {
        let v = self.varint()?;
        Some((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    /// Reads a struct's fields, handing `(id, type)` to `field`, which reads the value or
    /// returns `false` to have it skipped.
    fn fields(
        &mut self,
        depth: usize,
        mut field: impl FnMut(&mut Self, i16, u8) -> Option<bool>,
    ) -> Option<()> {
        let mut last = 0i16;
        loop {
            let h = self.byte()?;
            let ty = h & 0x0f;
            if ty == 0 {
                return Some(());
            }
            let id = match h >> 4 {
                0 => i16::try_from(self.zigzag()?).ok()?,
                delta => last.checked_add(i16::from(delta))?,
            };
            last = id;
            if !field(self, id, ty)? {
                self.skip_value(ty, depth)?;
            }
        }
    }

    /// A `PageHeader` (parquet.thrift): sizes and the value counts the decoder will trust.
    fn page_header(&mut self) -> Option<PageDecl> {
        let mut d = PageDecl::default();
        // The decoder reads these fields by id whatever their wire type says, so a known id
        // with another type is refused rather than skipped the wire type's way.
        self.fields(1, |t, id, ty| match (id, ty) {
            (2, 5) => {
                d.uncompressed = t.zigzag()?;
                Some(true)
            }
            (3, 5) => {
                d.compressed = t.zigzag()?;
                Some(true)
            }
            // data_page_header, dictionary_page_header, data_page_header_v2: field 1 is
            // num_values in each.
            (5 | 7 | 8, 12) => {
                let mut n = None;
                t.fields(2, |t, id, ty| match (id, ty) {
                    (1, 5) => {
                        n = Some(t.zigzag()?);
                        Some(true)
                    }
                    (1, _) => None,
                    _ => Some(false),
                })?;
                if id == 7 {
                    d.dict_values = n;
                } else {
                    d.data_values = n;
                }
                Some(true)
            }
            (2 | 3 | 5 | 7 | 8, _) => None,
            _ => Some(false),
        })?;
        Some(d)
    }
}

/// Walks every column chunk's page headers before decoding anything. The decoder trusts
/// what a page declares: a dictionary page declaring 300 million doubles in a 4 KB file made
/// parquet 60.1 reserve 2.4 GB (found by fuzzing), and a page's uncompressed size is the
/// buffer it decompresses into. So every page must declare at most the decoded-byte budget,
/// at most the cell budget's values, and a dictionary no more values than its bytes hold.
///
/// Answers, per leaf column, the largest dictionary page it holds (uncompressed bytes): a
/// value read from a dictionary is at most that long, and every row may reference it.
fn check_pages(
    body: &[u8],
    meta: &parquet::file::metadata::ParquetMetaData,
    budget: CellBudget,
) -> Result<Vec<usize>, PayloadError> {
    let mut dictionaries = Vec::new();
    let malformed = || fail("invalid Parquet file: malformed page header");
    let max_bytes = budget.max_bytes() as i64;
    let max_values = i64::try_from(budget.max_cells).unwrap_or(i64::MAX);
    for rg in meta.row_groups() {
        dictionaries.resize(dictionaries.len().max(rg.columns().len()), 0usize);
        for (leaf, c) in rg.columns().iter().enumerate() {
            let data = c.data_page_offset();
            // A chunk of no rows has no data page: pyarrow writes data_page_offset 0 and its
            // (empty) dictionary page where the chunk starts.
            let start = c
                .dictionary_page_offset()
                .filter(|o| *o > 0 && (*o < data || data == 0))
                .unwrap_or(data);
            let (Ok(start), Ok(len)) =
                (usize::try_from(start), usize::try_from(c.compressed_size()))
            else {
                return Err(malformed());
            };
            let end = start
                .checked_add(len)
                .filter(|e| *e <= body.len())
                .ok_or_else(malformed)?;
            let mut pos = start;
            while pos < end {
                let mut t = Thrift {
                    b: &body[..end],
                    pos,
                };
                let page = t.page_header().ok_or_else(malformed)?;
                if page.compressed < 0 || page.uncompressed < 0 {
                    return Err(malformed());
                }
                if page.uncompressed > max_bytes {
                    return Err(budget.bytes_exceeded(page.uncompressed as u64));
                }
                for n in [page.data_values, page.dict_values].into_iter().flatten() {
                    if n < 0 {
                        return Err(malformed());
                    }
                    if n > max_values {
                        return Err(budget.bytes_exceeded((n as u64).saturating_mul(8)));
                    }
                }
                if page.dict_values.is_some_and(|n| n > page.uncompressed) {
                    return Err(malformed());
                }
                if page.dict_values.is_some() {
                    dictionaries[leaf] = dictionaries[leaf].max(page.uncompressed as usize);
                }
                pos = t
                    .pos
                    .checked_add(page.compressed as usize)
                    .ok_or_else(malformed)?;
            }
        }
    }
    Ok(dictionaries)
}

/// Rows per decoded batch: [`BATCH_ROWS`], or fewer when a row may reference long dictionary
/// values, so that one batch decodes to at most half the decoded-byte budget (a 50 KB file
/// whose dictionary holds one long string referenced by every row decoded 1.5 GB in its
/// first 1024-row batch before the budget was checked).
fn batch_rows(dictionaries: &[usize], max_bytes: usize) -> usize {
    // Fixed-width values and their validity: 16 bytes a cell at most.
    let per_row = dictionaries
        .iter()
        .map(|d| (*d).max(16))
        .fold(0usize, usize::saturating_add)
        .max(1);
    (max_bytes / 2 / per_row).clamp(1, BATCH_ROWS)
}

fn read(body: &[u8], budget: CellBudget) -> Result<Frame, PayloadError> {
    check_open(body)?;
    check_footer(body)?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(Bytes::copy_from_slice(body)).map_err(fail)?;
    let meta = builder.metadata().clone();
    let rows: i64 = meta
        .row_groups()
        .iter()
        .map(|rg| rg.num_rows().max(0))
        .sum();
    budget.check(rows as usize, builder.schema().fields().len())?;
    let max_bytes = budget.max_bytes();
    let declared: u64 = meta
        .row_groups()
        .iter()
        .flat_map(|rg| rg.columns())
        .map(|c| c.uncompressed_size().max(0) as u64)
        .fold(0u64, u64::saturating_add);
    if declared > max_bytes as u64 {
        return Err(budget.bytes_exceeded(declared));
    }
    let dictionaries = check_pages(body, &meta, budget)?;
    let reader = builder
        .with_batch_size(batch_rows(&dictionaries, max_bytes))
        .build()
        .map_err(fail)?;
    let schema = reader.schema();
    let mut batches = Vec::new();
    let mut decoded = 0usize;
    for batch in reader {
        let batch = batch.map_err(fail)?;
        decoded = decoded.saturating_add(batch.get_array_memory_size());
        if decoded > max_bytes {
            return Err(budget.bytes_exceeded(decoded as u64));
        }
        batches.push(batch);
    }
    let mut columns = Vec::new();
    let mut nrows = 0;
    for (i, field) in schema.fields().iter().enumerate() {
        if field.name().starts_with("__index_level_") {
            continue;
        }
        let arrays: Vec<_> = batches.iter().map(|b| b.column(i).clone()).collect();
        let refs: Vec<&dyn arrow_array::Array> = arrays.iter().map(|a| a.as_ref()).collect();
        let arr = if refs.is_empty() {
            arrow_array::new_empty_array(field.data_type())
        } else {
            arrow_select_concat(&refs)?
        };
        nrows = arr.len();
        columns.push((ColName::Str(field.name().clone()), column(field, &arr)?));
    }
    Ok(Frame { columns, nrows })
}

/// One decoded record batch as a frame, read as `pandas.read_parquet` reads it (the pandas
/// index columns `__index_level_*` left out). `models predict` streams a file batch by batch
/// through this.
pub fn frame_from_batch(batch: &arrow_array::RecordBatch) -> Result<Frame, PayloadError> {
    let schema = batch.schema();
    let mut columns = Vec::new();
    for (field, arr) in schema.fields().iter().zip(batch.columns()) {
        if field.name().starts_with("__index_level_") {
            continue;
        }
        columns.push((ColName::Str(field.name().clone()), column(field, arr)?));
    }
    Ok(Frame {
        columns,
        nrows: batch.num_rows(),
    })
}

/// One Arrow array as a column with pandas' dtype.
fn column(
    field: &arrow_schema::Field,
    arr: &arrow_array::ArrayRef,
) -> Result<Column, PayloadError> {
    Ok(match field.data_type() {
        DataType::Float64 => prim!(arr, Float64Type, F64, true),
        DataType::Float32 => {
            let a = arr.as_primitive::<Float32Type>();
            Column::F32(
                (0..a.len())
                    .map(|i| if a.is_null(i) { f32::NAN } else { a.value(i) })
                    .collect(),
            )
        }
        DataType::Int8 => prim!(arr, Int8Type, I8, true),
        DataType::Int16 => prim!(arr, Int16Type, I16, true),
        DataType::Int32 => prim!(arr, Int32Type, I32, true),
        DataType::Int64 => prim!(arr, Int64Type, I64, true),
        DataType::UInt8 => prim!(arr, UInt8Type, U8, true),
        DataType::UInt16 => prim!(arr, UInt16Type, U16, true),
        DataType::UInt32 => prim!(arr, UInt32Type, U32, true),
        DataType::UInt64 => prim!(arr, UInt64Type, U64, true),
        DataType::Boolean => {
            let a = arr.as_boolean();
            if a.null_count() > 0 {
                Column::Object(
                    (0..a.len())
                        .map(|i| {
                            if a.is_null(i) {
                                Cell::Null
                            } else {
                                Cell::Bool(a.value(i))
                            }
                        })
                        .collect(),
                )
            } else {
                Column::Bool((0..a.len()).map(|i| a.value(i)).collect())
            }
        }
        DataType::Utf8 => {
            let a = arr.as_string::<i32>();
            Column::Str(
                (0..a.len())
                    .map(|i| (!a.is_null(i)).then(|| a.value(i).to_string()))
                    .collect(),
            )
        }
        DataType::LargeUtf8 => {
            let a = arr.as_string::<i64>();
            Column::Str(
                (0..a.len())
                    .map(|i| (!a.is_null(i)).then(|| a.value(i).to_string()))
                    .collect(),
            )
        }
        DataType::Utf8View => {
            let a = arr.as_string_view();
            Column::Str(
                (0..a.len())
                    .map(|i| (!a.is_null(i)).then(|| a.value(i).to_string()))
                    .collect(),
            )
        }
        DataType::Binary => {
            let a = arr.as_binary::<i32>();
            Column::Bytes(
                (0..a.len())
                    .map(|i| (!a.is_null(i)).then(|| a.value(i).to_vec()))
                    .collect(),
            )
        }
        other => {
            return Err(fail(format!(
                "column {} has type {other}, which mlflow-serve does not read yet",
                field.name()
            )))
        }
    })
}

fn arrow_select_concat(
    arrays: &[&dyn arrow_array::Array],
) -> Result<arrow_array::ArrayRef, PayloadError> {
    if arrays.len() == 1 {
        return Ok(arrow_array::make_array(arrays[0].to_data()));
    }
    arrow_select::concat::concat(arrays).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_footer_that_panics_the_decoder_is_a_parse_error() {
        // Found by the parquet_request fuzz target against parquet/arrow 57.3.2: an unwrapped
        // missing field, an out-of-bounds index on a bad embedded Arrow schema, and two lists
        // whose declared length made the decoder reserve gigabytes (an abort, not a panic).
        let bodies: [&[u8]; 4] = [
            include_bytes!("../../fuzz/regressions/parquet_request--thrift-unwrap.parquet"),
            include_bytes!("../../fuzz/regressions/parquet_request--arrow-ipc-schema.parquet"),
            include_bytes!("../../fuzz/regressions/parquet_request--footer-capacity.parquet"),
            include_bytes!("../../fuzz/regressions/parquet_request--schema-capacity-oom.parquet"),
        ];
        // Found against parquet 60.1: a dictionary page declaring 300 M doubles in 3.7 KB
        // (the decoder reserved 2.4 GB); refused from its page header.
        let dict =
            include_bytes!("../../fuzz/regressions/parquet_request--dictionary-values-oom.parquet");
        let budget = crate::payload::Limits::default().budget(dict.len());
        assert!(matches!(
            parse(dict, budget),
            Err(PayloadError::LimitExceeded(_) | PayloadError::ParseFailure { .. })
        ));
        for body in bodies {
            match parse(body, CellBudget::unlimited()) {
                Err(PayloadError::ParseFailure { message, .. }) => {
                    assert!(
                        message.contains("invalid Parquet file")
                            || message.contains("Parquet error"),
                        "{message}"
                    )
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_footer_declaring_huge_lists_is_refused_before_decoding() {
        // Found by fuzzing: the crate allocates a list's declared capacity, and the
        // allocation failure aborted the process.
        let body =
            include_bytes!("../../fuzz/regressions/parquet_request--footer-capacity.parquet");
        match parse(body, CellBudget::unlimited()) {
            Err(PayloadError::ParseFailure { message, .. }) => {
                assert!(message.contains("invalid Parquet file"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
}
