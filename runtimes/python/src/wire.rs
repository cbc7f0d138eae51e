//! The wire between the server and one worker process, over the worker's stdin and stdout.
//!
//! Every message is `u32 LE header length | header (UTF-8 JSON) | u64 LE body length | body`.
//!
//! - **Request** (server → worker): header `{"op": "predict", "params": {...}, "table": bool,
//!   "feeds": [entry...]}`. When `table` is true every feed is one-dimensional with the same
//!   length and the body is an Arrow IPC stream holding one record batch whose columns are the
//!   feeds, in order (strings as `Utf8`). Otherwise each feed's elements are raw little-endian
//!   bytes at `offset..offset+len` of the body (strings in the entry's `strings`).
//! - **Reply** (worker → server): `{"ok": true, "outputs": [entry...]}` with raw buffers as
//!   above, or `{"ok": false, "error": <any JSON value>}`: the worker's own account of a
//!   failure, handed to the caller verbatim.
//! - **Hello** (worker → server, once, after loading): `{"ok": true, "ready": true, ...}` or
//!   `{"ok": false, "error": "..."}` when the model cannot be loaded.
//!
//! An entry is `{"name", "dtype" (numpy name), "shape", "offset", "len", "strings"?}`.
//! `float16` request elements travel as float32 values (the Rust side carries them so);
//! replies send them as half floats.
//! Everything read is bounded: the header and the body each by the caller's limit
//! (`--max-worker-answer-bytes`; string outputs travel in the header), and each entry is
//! checked against its shape and the body before any element is copied.

use std::io::{Read, Write};
use std::sync::Arc;

use runtime_api::{f16_to_f32, DType, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// A malformed or oversized message.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The pipe failed or closed (the worker died, or was killed).
    #[error("the worker's pipe closed: {0}")]
    Io(#[from] std::io::Error),
    /// The message breaks the protocol.
    #[error("the worker sent a malformed message: {0}")]
    Malformed(String),
    /// The message is larger than allowed.
    #[error("the worker's answer is {size} bytes, more than the {limit} bytes allowed")]
    TooLarge {
        /// Declared size.
        size: u64,
        /// The bound.
        limit: u64,
    },
}

/// One tensor's place in a message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The feed or output name.
    pub name: String,
    /// numpy dtype name.
    pub dtype: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Start of the elements in the body (raw layout).
    #[serde(default)]
    pub offset: usize,
    /// Bytes of the elements in the body (raw layout).
    #[serde(default)]
    pub len: usize,
    /// String elements (dtype `str`), inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strings: Option<Vec<String>>,
}

/// Writes one framed message.
pub fn write_message(w: &mut impl Write, header: &[u8], body: &[u8]) -> std::io::Result<()> {
    let hlen = u32::try_from(header.len())
        .map_err(|_| std::io::Error::other("request header larger than 4 GiB"))?;
    w.write_all(&hlen.to_le_bytes())?;
    w.write_all(header)?;
    w.write_all(&(body.len() as u64).to_le_bytes())?;
    w.write_all(body)?;
    w.flush()
}

/// Reads one framed message: its header (parsed) and body, each at most `max` bytes.
pub fn read_message(
    r: &mut impl Read,
    max: u64,
) -> Result<(serde_json::Value, Vec<u8>), WireError> {
    let max_body = max;
    let mut n4 = [0u8; 4];
    r.read_exact(&mut n4)?;
    let hlen = u32::from_le_bytes(n4) as u64;
    if hlen > max {
        return Err(WireError::TooLarge {
            size: hlen,
            limit: max,
        });
    }
    let header = read_exactly(r, hlen)?;
    let mut n8 = [0u8; 8];
    r.read_exact(&mut n8)?;
    let blen = u64::from_le_bytes(n8);
    if blen > max_body {
        return Err(WireError::TooLarge {
            size: blen,
            limit: max_body,
        });
    }
    let body = read_exactly(r, blen)?;
    let header = serde_json::from_slice(&header)
        .map_err(|e| WireError::Malformed(format!("header is not JSON: {e}")))?;
    Ok((header, body))
}

/// Reads exactly `n` bytes, growing the buffer as bytes arrive (a declared length is never
/// allocated before the bytes exist).
fn read_exactly(r: &mut impl Read, n: u64) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(n.min(1 << 20) as usize);
    let got = r.take(n).read_to_end(&mut out)?;
    if got as u64 != n {
        return Err(WireError::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the worker's pipe closed mid-message",
        )));
    }
    Ok(out)
}

/// The request header and body for `feeds` and `params` (a JSON object).
pub fn encode_request(
    feeds: Vec<(String, Tensor)>,
    params: serde_json::Value,
) -> Result<(Vec<u8>, Vec<u8>), WireError> {
    let table = !feeds.is_empty()
        && feeds.iter().all(|(_, t)| t.shape.len() == 1)
        && feeds.windows(2).all(|w| w[0].1.shape == w[1].1.shape);
    let mut entries = Vec::with_capacity(feeds.len());
    let mut body = Vec::new();
    if table {
        for (name, t) in &feeds {
            entries.push(Entry {
                name: name.clone(),
                dtype: t.dtype().numpy_name().to_string(),
                shape: t.shape.clone(),
                offset: 0,
                len: 0,
                strings: None,
            });
        }
        body = crate::arrow_table::encode(feeds)?;
    } else {
        for (name, t) in feeds {
            let dtype = t.dtype().numpy_name().to_string();
            let (offset, len, strings) = match t.data {
                TensorData::Str(s) => (0, 0, Some(s)),
                data => {
                    let bytes = data.as_bytes();
                    let offset = body.len();
                    body.extend_from_slice(bytes);
                    (offset, bytes.len(), None)
                }
            };
            entries.push(Entry {
                name,
                dtype,
                shape: t.shape,
                offset,
                len,
                strings,
            });
        }
    }
    let header = serde_json::json!({
        "op": "predict",
        "params": params,
        "table": table,
        "feeds": entries,
    });
    let header = serde_json::to_vec(&header).map_err(|e| WireError::Malformed(e.to_string()))?;
    Ok((header, body))
}

/// Tensors from a reply's entries and body (raw layout), every entry checked first.
pub fn decode_outputs(
    entries: Vec<Entry>,
    body: &[u8],
) -> Result<Vec<(String, Tensor)>, WireError> {
    let body: Arc<[u8]> = Arc::from(body);
    entries
        .into_iter()
        .map(|e| {
            let t = decode_entry(&e, &body)?;
            Ok((e.name, t))
        })
        .collect()
}

fn decode_entry(e: &Entry, body: &[u8]) -> Result<Tensor, WireError> {
    let bad = |m: String| WireError::Malformed(format!("output {:?}: {m}", e.name));
    let dtype =
        DType::from_numpy_name(&e.dtype).ok_or_else(|| bad(format!("dtype {}", e.dtype)))?;
    let n = e
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad("shape overflows".into()))?;
    if dtype == DType::Str {
        let s = e
            .strings
            .clone()
            .ok_or_else(|| bad("strings missing".into()))?;
        return Tensor::new(e.shape.clone(), TensorData::Str(s)).map_err(|x| bad(x.to_string()));
    }
    let width = match dtype {
        DType::Bool | DType::I8 | DType::U8 => 1,
        DType::I16 | DType::U16 | DType::F16 => 2,
        DType::I32 | DType::U32 | DType::F32 => 4,
        _ => 8,
    };
    let need = n
        .checked_mul(width)
        .ok_or_else(|| bad("size overflows".into()))?;
    let end = e
        .offset
        .checked_add(e.len)
        .ok_or_else(|| bad("range overflows".into()))?;
    if e.len != need || end > body.len() {
        return Err(bad(format!(
            "{} bytes at {} do not hold {n} {} elements in a body of {}",
            e.len,
            e.offset,
            e.dtype,
            body.len()
        )));
    }
    let raw = &body[e.offset..end];
    fn pod<T: bytemuck::Pod>(raw: &[u8]) -> Vec<T> {
        // The body is not aligned for T: copy element by element.
        raw.chunks_exact(std::mem::size_of::<T>())
            .map(bytemuck::pod_read_unaligned)
            .collect()
    }
    let data = match dtype {
        DType::Bool => TensorData::Bool(raw.iter().map(|b| *b != 0).collect()),
        DType::I8 => TensorData::I8(pod(raw)),
        DType::I16 => TensorData::I16(pod(raw)),
        DType::I32 => TensorData::I32(pod(raw)),
        DType::I64 => TensorData::I64(pod(raw)),
        DType::U8 => TensorData::U8(raw.to_vec()),
        DType::U16 => TensorData::U16(pod(raw)),
        DType::U32 => TensorData::U32(pod(raw)),
        DType::U64 => TensorData::U64(pod(raw)),
        DType::F16 => TensorData::F16(pod::<u16>(raw).into_iter().map(f16_to_f32).collect()),
        DType::F32 => TensorData::F32(pod(raw)),
        DType::F64 => TensorData::F64(pod(raw)),
        DType::Str => return Err(bad("strings need no body".into())),
    };
    Tensor::new(e.shape.clone(), data).map_err(|x| bad(x.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_entries_are_checked_against_the_body() {
        let e = Entry {
            name: "y".into(),
            dtype: "float64".into(),
            shape: vec![2],
            offset: 8,
            len: 16,
            strings: None,
        };
        assert!(decode_outputs(vec![e.clone()], &[0u8; 16]).is_err());
        let body: Vec<u8> = [1.5f64, 2.5f64]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let ok = decode_outputs(vec![Entry { offset: 0, ..e }], &body).unwrap();
        assert_eq!(ok[0].1.data, TensorData::F64(vec![1.5, 2.5]));
        let huge = Entry {
            name: "y".into(),
            dtype: "float64".into(),
            shape: vec![usize::MAX, 2],
            offset: 0,
            len: 16,
            strings: None,
        };
        assert!(decode_outputs(vec![huge], &body).is_err());
    }

    #[test]
    fn a_declared_length_is_not_allocated_before_it_arrives() {
        let mut msg = Vec::new();
        msg.extend_from_slice(&2u32.to_le_bytes());
        msg.extend_from_slice(b"{}");
        msg.extend_from_slice(&(1u64 << 40).to_le_bytes());
        let err = read_message(&mut msg.as_slice(), 1 << 41).unwrap_err();
        assert!(matches!(err, WireError::Io(_)), "{err}");
        let err = read_message(&mut msg.as_slice(), 1 << 20).unwrap_err();
        assert!(matches!(err, WireError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn half_floats_widen_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
    }
}
