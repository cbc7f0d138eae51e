//! One-dimensional feeds of one length as an Arrow IPC stream of one record batch: the form a
//! DataFrame crosses to the worker in (`pyarrow.ipc.open_stream` reads it without a copy of
//! numeric columns). The feeds' buffers move into Arrow arrays without a copy.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    Int8Array, RecordBatch, StringArray, UInt16Array, UInt32Array, UInt64Array, UInt8Array,
};
use arrow_schema::{Field, Schema};
use runtime_api::{Tensor, TensorData};

use crate::wire::WireError;

/// The IPC stream bytes of one record batch holding `feeds` as columns, in order.
pub fn encode(feeds: Vec<(String, Tensor)>) -> Result<Vec<u8>, WireError> {
    let mut fields = Vec::with_capacity(feeds.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(feeds.len());
    for (name, t) in feeds {
        let array: ArrayRef = match t.data {
            TensorData::Bool(v) => Arc::new(BooleanArray::from(v)),
            TensorData::I8(v) => Arc::new(Int8Array::from(v)),
            TensorData::I16(v) => Arc::new(Int16Array::from(v)),
            TensorData::I32(v) => Arc::new(Int32Array::from(v)),
            TensorData::I64(v) => Arc::new(Int64Array::from(v)),
            TensorData::U8(v) => Arc::new(UInt8Array::from(v)),
            TensorData::U16(v) => Arc::new(UInt16Array::from(v)),
            TensorData::U32(v) => Arc::new(UInt32Array::from(v)),
            TensorData::U64(v) => Arc::new(UInt64Array::from(v)),
            // float16 travels as float32 values; the header's dtype says what they are.
            TensorData::F16(v) | TensorData::F32(v) => Arc::new(Float32Array::from(v)),
            TensorData::F64(v) => Arc::new(Float64Array::from(v)),
            TensorData::Str(v) => Arc::new(StringArray::from(v)),
        };
        fields.push(Field::new(name, array.data_type().clone(), false));
        columns.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| WireError::Malformed(format!("cannot build the record batch: {e}")))?;
    let mut out = Vec::new();
    {
        let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema)
            .map_err(|e| WireError::Malformed(e.to_string()))?;
        w.write(&batch)
            .map_err(|e| WireError::Malformed(e.to_string()))?;
        w.finish()
            .map_err(|e| WireError::Malformed(e.to_string()))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_round_trip_through_the_ipc_reader() {
        let feeds = vec![
            (
                "x".to_string(),
                Tensor::new(vec![2], TensorData::F64(vec![1.5, -2.0])).unwrap(),
            ),
            (
                "s".to_string(),
                Tensor::new(vec![2], TensorData::Str(vec!["a".into(), "é".into()])).unwrap(),
            ),
        ];
        let bytes = encode(feeds).unwrap();
        let mut r = arrow_ipc::reader::StreamReader::try_new(bytes.as_slice(), None).unwrap();
        let batch = r.next().unwrap().unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema().field(1).name(), "s");
    }
}
