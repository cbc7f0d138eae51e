//! Merging requests' feeds along the first (row) axis and splitting outputs back, so each
//! request gets exactly its own rows.

use runtime_api::{OutputValue, Tensor, TensorData};

/// A named feed or output.
pub type Named<T> = Vec<(String, T)>;

/// The rows of one request's feeds: the common first dimension, if there is one.
pub fn rows_of(feeds: &Named<Tensor>) -> Option<usize> {
    let mut rows = None;
    for (_, t) in feeds {
        let r = *t.shape.first()?;
        match rows {
            None => rows = Some(r),
            Some(prev) if prev != r => return None,
            _ => {}
        }
    }
    rows
}

macro_rules! concat_data {
    ($parts:expr, $variant:ident) => {{
        let mut out = Vec::new();
        for p in $parts {
            match p {
                TensorData::$variant(v) => out.extend_from_slice(v),
                _ => return None,
            }
        }
        TensorData::$variant(out)
    }};
}

fn concat(parts: &[&Tensor]) -> Option<Tensor> {
    let first = parts.first()?;
    let tail = &first.shape[1..];
    if parts
        .iter()
        .any(|t| t.shape.len() != first.shape.len() || &t.shape[1..] != tail)
    {
        return None;
    }
    let rows: usize = parts.iter().map(|t| t.shape[0]).sum();
    let datas = parts.iter().map(|t| &t.data);
    let data = match &first.data {
        TensorData::Bool(_) => concat_data!(datas, Bool),
        TensorData::I8(_) => concat_data!(datas, I8),
        TensorData::I16(_) => concat_data!(datas, I16),
        TensorData::I32(_) => concat_data!(datas, I32),
        TensorData::I64(_) => concat_data!(datas, I64),
        TensorData::U8(_) => concat_data!(datas, U8),
        TensorData::U16(_) => concat_data!(datas, U16),
        TensorData::U32(_) => concat_data!(datas, U32),
        TensorData::U64(_) => concat_data!(datas, U64),
        TensorData::F16(_) => concat_data!(datas, F16),
        TensorData::F32(_) => concat_data!(datas, F32),
        TensorData::F64(_) => concat_data!(datas, F64),
        TensorData::Str(_) => concat_data!(datas, Str),
    };
    let mut shape = first.shape.clone();
    shape[0] = rows;
    Tensor::new(shape, data).ok()
}

/// Concatenates several requests' feeds (same names, dtypes and trailing dimensions) into one;
/// `None` when they cannot be merged.
pub fn merge_feeds(all: &[Named<Tensor>]) -> Option<Named<Tensor>> {
    let first = all.first()?;
    let mut out = Vec::with_capacity(first.len());
    for (i, (name, _)) in first.iter().enumerate() {
        let mut parts = Vec::with_capacity(all.len());
        for f in all {
            let (n, t) = f.get(i)?;
            if n != name {
                return None;
            }
            parts.push(t);
        }
        out.push((name.clone(), concat(&parts)?));
    }
    Some(out)
}

macro_rules! slice_data {
    ($data:expr, $a:expr, $b:expr, $($variant:ident),*) => {
        match $data {
            $(TensorData::$variant(v) => TensorData::$variant(v.get($a..$b)?.to_vec()),)*
        }
    };
}

fn slice_rows(t: &Tensor, from: usize, to: usize) -> Option<Tensor> {
    let per_row: usize = t.shape.iter().skip(1).product();
    let (a, b) = (from * per_row, to * per_row);
    let data =
        slice_data!(&t.data, a, b, Bool, I8, I16, I32, I64, U8, U16, U32, U64, F16, F32, F64, Str);
    let mut shape = t.shape.clone();
    shape[0] = to - from;
    Tensor::new(shape, data).ok()
}

/// Splits merged outputs into per-request outputs of `rows[i]` rows each; `None` when an
/// output is not aligned with the input rows (then the requests must run one by one).
pub fn split_outputs(
    outputs: Named<OutputValue>,
    rows: &[usize],
) -> Option<Vec<Named<OutputValue>>> {
    let total: usize = rows.iter().sum();
    let mut per: Vec<Named<OutputValue>> = rows
        .iter()
        .map(|_| Vec::with_capacity(outputs.len()))
        .collect();
    for (name, value) in outputs {
        match value {
            OutputValue::Tensor(t) => {
                if t.shape.first() != Some(&total) {
                    return None;
                }
                let mut at = 0;
                for (i, r) in rows.iter().enumerate() {
                    per[i].push((
                        name.clone(),
                        OutputValue::Tensor(slice_rows(&t, at, at + r)?),
                    ));
                    at += r;
                }
            }
            OutputValue::SequenceOfMaps(maps) => {
                if maps.len() != total {
                    return None;
                }
                let mut it = maps.into_iter();
                for (i, r) in rows.iter().enumerate() {
                    per[i].push((
                        name.clone(),
                        OutputValue::SequenceOfMaps(it.by_ref().take(*r).collect()),
                    ));
                }
            }
        }
    }
    Some(per)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: Vec<usize>, v: Vec<f32>) -> Tensor {
        Tensor::new(shape, TensorData::F32(v)).unwrap()
    }

    #[test]
    fn merge_then_split_gives_each_request_its_rows() {
        let a = vec![("x".to_string(), t(vec![1, 2], vec![1., 2.]))];
        let b = vec![("x".to_string(), t(vec![2, 2], vec![3., 4., 5., 6.]))];
        let merged = merge_feeds(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(merged[0].1, t(vec![3, 2], vec![1., 2., 3., 4., 5., 6.]));
        assert_eq!(rows_of(&a), Some(1));
        // A model output of one value per row, split back.
        let out = vec![(
            "y".to_string(),
            OutputValue::Tensor(t(vec![3, 1], vec![10., 20., 30.])),
        )];
        let per = split_outputs(out, &[1, 2]).unwrap();
        assert_eq!(per[0][0].1, OutputValue::Tensor(t(vec![1, 1], vec![10.])));
        assert_eq!(
            per[1][0].1,
            OutputValue::Tensor(t(vec![2, 1], vec![20., 30.]))
        );
    }

    #[test]
    fn mismatched_feeds_or_outputs_refuse_to_merge_or_split() {
        let a = vec![("x".to_string(), t(vec![1, 2], vec![1., 2.]))];
        let c = vec![("x".to_string(), t(vec![1, 3], vec![1., 2., 3.]))];
        assert!(merge_feeds(&[a.clone(), c]).is_none());
        let d = vec![("z".to_string(), t(vec![1, 2], vec![1., 2.]))];
        assert!(merge_feeds(&[a, d]).is_none());
        let out = vec![("y".to_string(), OutputValue::Tensor(t(vec![1], vec![1.])))];
        assert!(split_outputs(out, &[1, 2]).is_none());
    }
}
