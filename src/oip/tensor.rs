//! V2 tensors on the wire: the datatypes, and element data read from JSON (`data`, flat or
//! nested, straight into a typed buffer) or from raw little-endian bytes (Triton's binary
//! extension, gRPC's `raw_input_contents`), and written back the same two ways.

use runtime_api::{f16_to_f32, TensorData};
use serde::de::{DeserializeSeed, SeqAccess, Visitor};

/// A V2 datatype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Datatype {
    Bool,
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    F16,
    F32,
    F64,
    Bytes,
}

impl Datatype {
    /// Parses a V2 datatype name (`FP32`, `BYTES`, …).
    pub fn parse(name: &str) -> Option<Datatype> {
        Some(match name {
            "BOOL" => Datatype::Bool,
            "UINT8" => Datatype::U8,
            "UINT16" => Datatype::U16,
            "UINT32" => Datatype::U32,
            "UINT64" => Datatype::U64,
            "INT8" => Datatype::I8,
            "INT16" => Datatype::I16,
            "INT32" => Datatype::I32,
            "INT64" => Datatype::I64,
            "FP16" => Datatype::F16,
            "FP32" => Datatype::F32,
            "FP64" => Datatype::F64,
            "BYTES" => Datatype::Bytes,
            _ => return None,
        })
    }

    /// The V2 name.
    pub fn name(self) -> &'static str {
        match self {
            Datatype::Bool => "BOOL",
            Datatype::U8 => "UINT8",
            Datatype::U16 => "UINT16",
            Datatype::U32 => "UINT32",
            Datatype::U64 => "UINT64",
            Datatype::I8 => "INT8",
            Datatype::I16 => "INT16",
            Datatype::I32 => "INT32",
            Datatype::I64 => "INT64",
            Datatype::F16 => "FP16",
            Datatype::F32 => "FP32",
            Datatype::F64 => "FP64",
            Datatype::Bytes => "BYTES",
        }
    }

    /// Bytes per element in raw form (`None` for `BYTES`, length-prefixed).
    pub fn width(self) -> Option<usize> {
        Some(match self {
            Datatype::Bool | Datatype::U8 | Datatype::I8 => 1,
            Datatype::U16 | Datatype::I16 | Datatype::F16 => 2,
            Datatype::U32 | Datatype::I32 | Datatype::F32 => 4,
            Datatype::U64 | Datatype::I64 | Datatype::F64 => 8,
            Datatype::Bytes => return None,
        })
    }

    /// The datatype of tensor data (FP16 data is held as `f32` and leaves as `FP32`).
    pub fn of(data: &TensorData) -> Datatype {
        match data {
            TensorData::Bool(_) => Datatype::Bool,
            TensorData::I8(_) => Datatype::I8,
            TensorData::I16(_) => Datatype::I16,
            TensorData::I32(_) => Datatype::I32,
            TensorData::I64(_) => Datatype::I64,
            TensorData::U8(_) => Datatype::U8,
            TensorData::U16(_) => Datatype::U16,
            TensorData::U32(_) => Datatype::U32,
            TensorData::U64(_) => Datatype::U64,
            TensorData::F16(_) | TensorData::F32(_) => Datatype::F32,
            TensorData::F64(_) => Datatype::F64,
            TensorData::Str(_) => Datatype::Bytes,
        }
    }
}

/// The elements of one input tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum Elements {
    /// Numbers and booleans, typed.
    Typed(TensorData),
    /// `BYTES` elements (JSON strings arrive as their UTF-8 bytes).
    Bytes(Vec<Vec<u8>>),
}

impl Elements {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Elements::Typed(d) => d.len(),
            Elements::Bytes(b) => b.len(),
        }
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An element type JSON numbers, booleans or strings may be read into.
trait JsonElem: Sized {
    fn from_i64(_: i64) -> Option<Self> {
        None
    }
    fn from_u64(_: u64) -> Option<Self> {
        None
    }
    fn from_f64(_: f64) -> Option<Self> {
        None
    }
    fn from_bool(_: bool) -> Option<Self> {
        None
    }
    fn from_str(_: &str) -> Option<Self> {
        None
    }
}

macro_rules! int_elem {
    ($($t:ty),*) => {$(
        impl JsonElem for $t {
            fn from_i64(v: i64) -> Option<Self> { <$t>::try_from(v).ok() }
            fn from_u64(v: u64) -> Option<Self> { <$t>::try_from(v).ok() }
        }
    )*};
}
int_elem!(i8, i16, i32, i64, u8, u16, u32, u64);

impl JsonElem for f32 {
    fn from_i64(v: i64) -> Option<Self> {
        Some(v as f32)
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(v as f32)
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(v as f32)
    }
}

impl JsonElem for f64 {
    fn from_i64(v: i64) -> Option<Self> {
        Some(v as f64)
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(v as f64)
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(v)
    }
}

impl JsonElem for bool {
    fn from_bool(v: bool) -> Option<Self> {
        Some(v)
    }
}

impl JsonElem for Vec<u8> {
    fn from_str(v: &str) -> Option<Self> {
        Some(v.as_bytes().to_vec())
    }
}

/// Reads a JSON value (a scalar or arrays nested to any depth serde allows) into `out`,
/// row-major; messages start with `.1` (`input 'x': `) and name the type `.2` (`FP32`).
struct Flat<'v, 'n, T>(&'v mut Vec<T>, &'n str, &'static str);

impl<'de, T: JsonElem> DeserializeSeed<'de> for Flat<'_, '_, T> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: JsonElem> Visitor<'de> for Flat<'_, '_, T> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{} elements", self.2)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Flat(out, prefix, ty) = self;
        while seq
            .next_element_seed(Flat(&mut *out, prefix, ty))?
            .is_some()
        {}
        Ok(())
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        push(self, T::from_bool(v), || v.to_string())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        push(self, T::from_i64(v), || v.to_string())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        push(self, T::from_u64(v), || v.to_string())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        push(self, T::from_f64(v), || v.to_string())
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        push(self, T::from_str(v), || format!("{v:?}"))
    }
}

fn push<T, E: serde::de::Error>(
    flat: Flat<'_, '_, T>,
    v: Option<T>,
    shown: impl FnOnce() -> String,
) -> Result<(), E> {
    match v {
        Some(v) => {
            flat.0.push(v);
            Ok(())
        }
        None => Err(E::custom(format!(
            "{}{} is not a valid {} element",
            flat.1,
            shown(),
            flat.2
        ))),
    }
}

/// Reads a JSON `data` value (flat or nested, row-major) as elements of one datatype,
/// straight into the typed buffer: used while the request is deserialized, so the numbers are
/// parsed once.
pub struct DataSeed<'n> {
    /// The datatype the elements must fit.
    pub ty: Datatype,
    /// Buffer capacity to start with (a hint: the caller bounds it by the body's size).
    pub capacity: usize,
    /// How messages start (`input 'x': `).
    pub what: &'n str,
}

impl<'de> DeserializeSeed<'de> for DataSeed<'_> {
    type Value = Elements;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Elements, D::Error> {
        let ty = self.ty.name();
        fn read<'de, T: JsonElem, D: serde::Deserializer<'de>>(
            d: D,
            cap: usize,
            what: (&str, &'static str),
        ) -> Result<Vec<T>, D::Error> {
            let mut out = Vec::with_capacity(cap);
            Flat(&mut out, what.0, what.1).deserialize(d)?;
            Ok(out)
        }
        let (cap, w) = (self.capacity, (self.what, ty));
        Ok(Elements::Typed(match self.ty {
            Datatype::Bool => TensorData::Bool(read(d, cap, w)?),
            Datatype::U8 => TensorData::U8(read(d, cap, w)?),
            Datatype::U16 => TensorData::U16(read(d, cap, w)?),
            Datatype::U32 => TensorData::U32(read(d, cap, w)?),
            Datatype::U64 => TensorData::U64(read(d, cap, w)?),
            Datatype::I8 => TensorData::I8(read(d, cap, w)?),
            Datatype::I16 => TensorData::I16(read(d, cap, w)?),
            Datatype::I32 => TensorData::I32(read(d, cap, w)?),
            Datatype::I64 => TensorData::I64(read(d, cap, w)?),
            Datatype::F16 => TensorData::F16(read(d, cap, w)?),
            Datatype::F32 => TensorData::F32(read(d, cap, w)?),
            Datatype::F64 => TensorData::F64(read(d, cap, w)?),
            Datatype::Bytes => return Ok(Elements::Bytes(read(d, cap, w)?)),
        }))
    }
}

/// Reads an input's JSON `data` (flat or nested, row-major) as `ty` elements. `expected` is
/// the element count its shape declares (a capacity hint only: the caller checks it).
pub fn elements_from_json(raw: &str, ty: Datatype, expected: usize) -> Result<Elements, String> {
    let mut de = serde_json::Deserializer::from_str(raw);
    let elements = DataSeed {
        ty,
        // A hint, never trusted for more than the body could hold.
        capacity: expected.min(raw.len() / 2 + 1),
        what: "",
    }
    .deserialize(&mut de)
    .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(elements)
}

/// Little-endian elements into a new typed buffer, whatever the alignment of `raw` inside
/// the body. The buffer is filled as it is allocated (no zeroing first); on a little-endian
/// machine the loop compiles to plain vector loads and stores.
fn le<const N: usize, T>(raw: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
    raw.as_chunks::<N>().0.iter().map(|c| f(*c)).collect()
}

/// Reads raw little-endian elements (Triton's binary extension, gRPC raw contents): one
/// pass from the body into the typed buffer the runtime takes. `BYTES` elements are each a
/// 4-byte little-endian length and that many bytes.
pub fn elements_from_raw(raw: &[u8], ty: Datatype) -> Result<Elements, String> {
    if let Some(w) = ty.width() {
        if !raw.len().is_multiple_of(w) {
            return Err(format!(
                "{} bytes of raw {} data is not a whole number of {w}-byte elements",
                raw.len(),
                ty.name()
            ));
        }
    }
    Ok(Elements::Typed(match ty {
        Datatype::Bool => TensorData::Bool(raw.iter().map(|b| *b != 0).collect()),
        Datatype::U8 => TensorData::U8(raw.to_vec()),
        Datatype::I8 => TensorData::I8(le(raw, i8::from_le_bytes)),
        Datatype::U16 => TensorData::U16(le(raw, u16::from_le_bytes)),
        Datatype::I16 => TensorData::I16(le(raw, i16::from_le_bytes)),
        Datatype::U32 => TensorData::U32(le(raw, u32::from_le_bytes)),
        Datatype::I32 => TensorData::I32(le(raw, i32::from_le_bytes)),
        Datatype::U64 => TensorData::U64(le(raw, u64::from_le_bytes)),
        Datatype::I64 => TensorData::I64(le(raw, i64::from_le_bytes)),
        Datatype::F16 => TensorData::F16(
            le(raw, u16::from_le_bytes)
                .into_iter()
                .map(f16_to_f32)
                .collect(),
        ),
        Datatype::F32 => TensorData::F32(le(raw, f32::from_le_bytes)),
        Datatype::F64 => TensorData::F64(le(raw, f64::from_le_bytes)),
        Datatype::Bytes => {
            let mut out = Vec::new();
            let mut rest = raw;
            while !rest.is_empty() {
                let (len, tail) = match rest.split_first_chunk::<4>() {
                    Some((l, t)) => (u32::from_le_bytes(*l) as usize, t),
                    None => {
                        return Err("raw BYTES data ends inside an element's 4-byte length".into())
                    }
                };
                if len > tail.len() {
                    return Err(format!(
                        "raw BYTES element of {len} bytes runs past the end of its data ({} bytes left)",
                        tail.len()
                    ));
                }
                out.push(tail[..len].to_vec());
                rest = &tail[len..];
            }
            return Ok(Elements::Bytes(out));
        }
    }))
}

/// Appends tensor data as raw little-endian bytes (`BYTES`: 4-byte length, then the bytes).
pub fn write_raw(out: &mut Vec<u8>, data: &TensorData) {
    match data {
        TensorData::Str(v) => {
            for s in v {
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
        TensorData::Bool(v) => out.extend(v.iter().map(|b| *b as u8)),
        TensorData::U8(v) => out.extend_from_slice(v),
        TensorData::I8(v) => out.extend(v.iter().map(|x| *x as u8)),
        TensorData::U16(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        TensorData::I16(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        TensorData::U32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        TensorData::I32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        TensorData::U64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        TensorData::I64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        TensorData::F16(v) | TensorData::F32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        TensorData::F64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
    }
}

/// The raw size of tensor data in bytes.
pub fn raw_len(data: &TensorData) -> usize {
    match data {
        TensorData::Str(v) => v.iter().map(|s| 4 + s.len()).sum(),
        d => d.len() * Datatype::of(d).width().unwrap_or(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_flat_and_nested_read_the_same() {
        let flat = elements_from_json("[1, 2.5, 3]", Datatype::F32, 3).unwrap();
        let nested = elements_from_json("[[1, 2.5], [3]]", Datatype::F32, 3).unwrap();
        assert_eq!(flat, nested);
        assert_eq!(flat, Elements::Typed(TensorData::F32(vec![1.0, 2.5, 3.0])));
    }

    #[test]
    fn json_elements_must_fit_their_type() {
        assert!(elements_from_json("[300]", Datatype::U8, 1).is_err());
        assert!(elements_from_json("[1.5]", Datatype::I64, 1).is_err());
        assert!(elements_from_json("[\"a\"]", Datatype::F64, 1).is_err());
        assert!(elements_from_json("[1]", Datatype::Bool, 1).is_err());
        assert!(elements_from_json("[1] x", Datatype::I32, 1).is_err());
        assert_eq!(
            elements_from_json("[\"a\", \"\u{e9}\"]", Datatype::Bytes, 2).unwrap(),
            Elements::Bytes(vec![b"a".to_vec(), "\u{e9}".as_bytes().to_vec()])
        );
    }

    #[test]
    fn raw_round_trips() {
        for data in [
            TensorData::F32(vec![1.5, -2.0]),
            TensorData::I64(vec![i64::MIN, 7]),
            TensorData::Bool(vec![true, false]),
            TensorData::F64(vec![0.1]),
        ] {
            let mut raw = Vec::new();
            write_raw(&mut raw, &data);
            assert_eq!(raw.len(), raw_len(&data));
            let back = elements_from_raw(&raw, Datatype::of(&data)).unwrap();
            assert_eq!(back, Elements::Typed(data));
        }
        let mut raw = Vec::new();
        write_raw(&mut raw, &TensorData::Str(vec!["ab".into(), String::new()]));
        assert_eq!(
            elements_from_raw(&raw, Datatype::Bytes).unwrap(),
            Elements::Bytes(vec![b"ab".to_vec(), vec![]])
        );
    }

    #[test]
    fn raw_refuses_ragged_data() {
        assert!(elements_from_raw(&[0, 0, 0], Datatype::F32).is_err());
        assert!(elements_from_raw(&[5, 0, 0, 0, b'a'], Datatype::Bytes).is_err());
        assert!(elements_from_raw(&[5, 0], Datatype::Bytes).is_err());
    }

    #[test]
    fn half_precision() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
    }
}
