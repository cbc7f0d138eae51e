//! `application/vnd.apache.parquet` bodies, read like `pandas.read_parquet` (protocol §1.10).

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::Array as _;
use arrow_array::RecordBatchReader as _;
use arrow_schema::DataType;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::payload::data::{Cell, ColName, Column, Frame};
use crate::payload::PayloadError;

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

/// Reads every row group into one frame.
pub fn parse(body: &[u8]) -> Result<Frame, PayloadError> {
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(Bytes::copy_from_slice(body)).map_err(fail)?;
    let reader = builder.build().map_err(fail)?;
    let schema = reader.schema();
    let batches: Vec<_> = reader.collect::<Result<_, _>>().map_err(fail)?;
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
        let col = match field.data_type() {
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
        };
        columns.push((ColName::Str(field.name().clone()), col));
    }
    Ok(Frame { columns, nrows })
}

fn arrow_select_concat(
    arrays: &[&dyn arrow_array::Array],
) -> Result<arrow_array::ArrayRef, PayloadError> {
    if arrays.len() == 1 {
        return Ok(arrow_array::make_array(arrays[0].to_data()));
    }
    arrow_select::concat::concat(arrays).map_err(fail)
}
