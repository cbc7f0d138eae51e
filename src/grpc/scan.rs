//! A bounded pre-scan of a serialized `ModelInferRequest`, before prost decodes it: prost
//! allocates a struct for every repeated entry it reads (an empty `inputs` entry is 2 bytes on
//! the wire and a few hundred in memory), so the counts that multiply are checked on the
//! bytes first: inputs, requested outputs and raw contents (`--max-tensors`), dimensions of a
//! shape (`--max-tensor-rank`), parameters and `BYTES` elements (cells of
//! `--max-cells-per-byte`). It also gives an upper bound of the bytes the decoded message
//! takes, which the server holds against the in-flight budget while the call runs.
//!
//! Field numbers follow `schemas/grpc_predict_v2.proto`. The scan reads each byte once and
//! recurses two levels (request, input tensor, contents); malformed wire data is left for
//! prost to refuse with its own message, except where it would make a count meaningless.

use std::mem::size_of;

use super::proto::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use super::proto::{InferParameter, InferTensorContents};
use crate::payload::Limits;

/// Bytes a parameter entry takes once decoded (key, value and the hash map's slot), beyond
/// its strings' own bytes.
const PARAM_ENTRY: usize = size_of::<String>() + size_of::<InferParameter>() + 16;

/// What a message may cost once decoded, or why it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// An upper bound of the bytes the decoded message takes.
    pub decoded_bytes: usize,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

enum Wire<'a> {
    Varint,
    Fixed,
    Bytes(&'a [u8]),
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or("invalid ModelInferRequest: truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("invalid ModelInferRequest: varint too long".into())
    }

    /// The next field: its number and wire value, `None` at the end.
    fn field(&mut self) -> Result<Option<(u64, Wire<'a>)>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let (number, wire) = (key >> 3, key & 7);
        let value = match wire {
            0 => {
                self.varint()?;
                Wire::Varint
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                if self.buf.len() - self.pos < n {
                    return Err("invalid ModelInferRequest: truncated fixed-width value".into());
                }
                self.pos += n;
                Wire::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).unwrap_or(usize::MAX);
                if len > self.buf.len() - self.pos {
                    return Err("invalid ModelInferRequest: a field runs past the message".into());
                }
                let b = &self.buf[self.pos..self.pos + len];
                self.pos += len;
                Wire::Bytes(b)
            }
            _ => return Err(format!("invalid ModelInferRequest: wire type {wire}")),
        };
        Ok(Some((number, value)))
    }
}

/// Counts against the request's budgets.
struct Budget<'l> {
    limits: &'l Limits,
    cells_left: usize,
    decoded: usize,
}

impl Budget<'_> {
    fn cells(&mut self, n: usize) -> Result<(), String> {
        self.cells_left = self
            .cells_left
            .checked_sub(n)
            .ok_or("the request holds more values than its size allows (--max-cells-per-byte)")?;
        Ok(())
    }

    fn add(&mut self, bytes: usize) {
        self.decoded = self.decoded.saturating_add(bytes);
    }
}

/// Varints in a packed field's payload.
fn packed_count(b: &[u8]) -> usize {
    b.iter().filter(|x| **x & 0x80 == 0).count()
}

/// Checks a serialized `ModelInferRequest` against `limits` and bounds its decoded size.
pub fn check(message: &[u8], limits: &Limits) -> Result<Scanned, String> {
    let mut budget = Budget {
        limits,
        cells_left: limits.budget(message.len()).max_cells,
        decoded: message.len(),
    };
    let (mut inputs, mut outputs, mut raw) = (0usize, 0usize, 0usize);
    let mut r = Reader {
        buf: message,
        pos: 0,
    };
    while let Some((number, value)) = r.field()? {
        match (number, value) {
            (4, Wire::Bytes(_)) => {
                budget.cells(1)?;
                budget.add(PARAM_ENTRY);
            }
            (5, Wire::Bytes(b)) => {
                inputs += 1;
                if inputs > limits.max_tensors {
                    return Err(format!(
                        "the request has more than {} inputs (--max-tensors)",
                        limits.max_tensors
                    ));
                }
                budget.add(size_of::<InferInputTensor>());
                input(b, &mut budget)?;
            }
            (6, Wire::Bytes(b)) => {
                outputs += 1;
                if outputs > limits.max_tensors {
                    return Err(format!(
                        "the request asks for more than {} outputs (--max-tensors)",
                        limits.max_tensors
                    ));
                }
                budget.add(size_of::<InferRequestedOutputTensor>());
                let mut o = Reader { buf: b, pos: 0 };
                while let Some((n, _)) = o.field()? {
                    if n == 2 {
                        budget.cells(1)?;
                        budget.add(PARAM_ENTRY);
                    }
                }
            }
            (7, Wire::Bytes(_)) => {
                raw += 1;
                if raw > limits.max_tensors {
                    return Err(format!(
                        "raw_input_contents has more than {} entries (--max-tensors)",
                        limits.max_tensors
                    ));
                }
                budget.add(size_of::<Vec<u8>>());
            }
            _ => {}
        }
    }
    Ok(Scanned {
        decoded_bytes: budget.decoded,
    })
}

/// One `InferInputTensor`: its shape's rank, parameters and contents.
fn input(b: &[u8], budget: &mut Budget<'_>) -> Result<(), String> {
    let mut r = Reader { buf: b, pos: 0 };
    let mut rank = 0usize;
    while let Some((number, value)) = r.field()? {
        match (number, value) {
            (3, Wire::Varint) => rank += 1,
            (3, Wire::Bytes(p)) => rank += packed_count(p),
            (4, Wire::Bytes(_)) => {
                budget.cells(1)?;
                budget.add(PARAM_ENTRY);
            }
            (5, Wire::Bytes(c)) => {
                budget.add(size_of::<InferTensorContents>());
                contents(c, budget)?;
            }
            _ => {}
        }
        if rank > budget.limits.max_rank {
            return Err(format!(
                "an input's shape has more than {} dimensions (--max-tensor-rank)",
                budget.limits.max_rank
            ));
        }
    }
    budget.add(rank * size_of::<i64>());
    Ok(())
}

/// `InferTensorContents`: every element at its decoded width (a varint of one byte may
/// become eight), `BYTES` elements as cells.
fn contents(b: &[u8], budget: &mut Budget<'_>) -> Result<(), String> {
    let mut r = Reader { buf: b, pos: 0 };
    while let Some((number, value)) = r.field()? {
        let width = match number {
            1 => 1,
            2 | 4 | 6 => 4,
            3 | 5 | 7 => 8,
            8 => {
                budget.cells(1)?;
                budget.add(size_of::<Vec<u8>>());
                continue;
            }
            _ => continue,
        };
        let n = match value {
            Wire::Bytes(p) if matches!(number, 6) => p.len() / 4,
            Wire::Bytes(p) if matches!(number, 7) => p.len() / 8,
            Wire::Bytes(p) => packed_count(p),
            Wire::Varint | Wire::Fixed => 1,
        };
        budget.add(n.saturating_mul(width));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::proto::ModelInferRequest;
    use prost::Message as _;

    fn tensor(shape: Vec<i64>) -> InferInputTensor {
        InferInputTensor {
            name: "x".into(),
            datatype: "FP32".into(),
            shape,
            ..Default::default()
        }
    }

    #[test]
    fn counts_are_bounded_before_decoding() {
        let limits = Limits {
            max_tensors: 4,
            max_rank: 3,
            ..Limits::default()
        };
        let ok = ModelInferRequest {
            inputs: vec![tensor(vec![1, 2, 3])],
            ..Default::default()
        }
        .encode_to_vec();
        assert!(check(&ok, &limits).is_ok());
        let deep = ModelInferRequest {
            inputs: vec![tensor(vec![1; 4])],
            ..Default::default()
        }
        .encode_to_vec();
        assert!(check(&deep, &limits)
            .unwrap_err()
            .contains("--max-tensor-rank"));
        let many = ModelInferRequest {
            inputs: vec![InferInputTensor::default(); 5],
            ..Default::default()
        }
        .encode_to_vec();
        assert!(check(&many, &limits).unwrap_err().contains("--max-tensors"));
    }

    #[test]
    fn the_decoded_size_is_an_upper_bound() {
        let msg = ModelInferRequest {
            inputs: vec![InferInputTensor {
                contents: Some(InferTensorContents {
                    int64_contents: vec![1; 1000],
                    bytes_contents: vec![vec![]; 100],
                    ..Default::default()
                }),
                ..tensor(vec![1100])
            }],
            ..Default::default()
        };
        let wire = msg.encode_to_vec();
        let s = check(&wire, &Limits::default()).unwrap();
        assert!(s.decoded_bytes >= 1000 * 8 + 100 * size_of::<Vec<u8>>());
    }

    #[test]
    fn malformed_wire_data_is_refused_without_a_panic() {
        for bad in [&[0x2a, 0x05, 0x00][..], &[0xff; 11], &[0x2b]] {
            assert!(check(bad, &Limits::default()).is_err());
        }
    }
}
