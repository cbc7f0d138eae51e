//! numpy-compatible array building: `numpy.array(value, dtype=<spec dtype>)` straight from
//! JSON tokens into a typed buffer, with numpy's ragged-shape and conversion errors.

use runtime_api::{DType, Tensor, TensorData};

use super::scan::{JsonError, Kind, Num, Scanner, MAX_DEPTH};
use crate::payload::data::Array;
use crate::pyjson::{py_float, py_int, shape_repr, str_repr, Cell};

/// Typed element storage.
enum Buf {
    Typed(TensorData),
    Cells(Vec<Cell>),
}

/// Accumulates one array; errors are collected (first one wins) so parsing can finish.
pub struct ArrayBuilder {
    target: Option<DType>,
    dims: Vec<Option<usize>>,
    leaf_depth: Option<usize>,
    ragged_at: Option<usize>,
    buf: Buf,
    error: Option<String>,
}

fn empty_data(dt: DType) -> TensorData {
    match dt {
        DType::Bool => TensorData::Bool(Vec::new()),
        DType::I8 => TensorData::I8(Vec::new()),
        DType::I16 => TensorData::I16(Vec::new()),
        DType::I32 => TensorData::I32(Vec::new()),
        DType::I64 => TensorData::I64(Vec::new()),
        DType::U8 => TensorData::U8(Vec::new()),
        DType::U16 => TensorData::U16(Vec::new()),
        DType::U32 => TensorData::U32(Vec::new()),
        DType::U64 => TensorData::U64(Vec::new()),
        DType::F16 => TensorData::F16(Vec::new()),
        DType::F32 => TensorData::F32(Vec::new()),
        DType::F64 => TensorData::F64(Vec::new()),
        DType::Str => TensorData::Str(Vec::new()),
    }
}

/// Converts one JSON scalar as `numpy.array([v], dtype)[0]` would.
pub fn convert_scalar(cell: &Cell, dt: DType) -> Result<Scalar, String> {
    let float_err = |s: &str| format!("could not convert string to float: {}", str_repr(s));
    match dt {
        DType::F16 | DType::F32 | DType::F64 => {
            let f = match cell {
                Cell::Int(i) => *i as f64,
                Cell::BigInt(s) => s.parse::<f64>().unwrap_or(f64::INFINITY),
                Cell::Float(f) => *f,
                Cell::Bool(b) => *b as i64 as f64,
                Cell::Null => f64::NAN,
                Cell::Str(s) => py_float(s).ok_or_else(|| float_err(s))?,
                Cell::List(_) | Cell::Dict(_) => {
                    return Err("setting an array element with a sequence.".into())
                }
            };
            Ok(Scalar::F(f))
        }
        DType::Bool => Ok(Scalar::B(match cell {
            Cell::Int(i) => *i != 0,
            Cell::BigInt(_) => true,
            Cell::Float(f) => *f != 0.0,
            Cell::Bool(b) => *b,
            Cell::Null => false,
            Cell::Str(s) => !s.is_empty(),
            Cell::List(_) | Cell::Dict(_) => {
                return Err("setting an array element with a sequence.".into())
            }
        })),
        DType::Str => Ok(Scalar::S(match cell {
            Cell::Int(i) => i.to_string(),
            Cell::BigInt(s) => s.clone(),
            Cell::Float(f) => crate::pyjson::float_repr(*f),
            Cell::Bool(b) => if *b { "True" } else { "False" }.into(),
            Cell::Null => "None".into(),
            Cell::Str(s) => s.clone(),
            Cell::List(_) | Cell::Dict(_) => {
                return Err("setting an array element with a sequence.".into())
            }
        })),
        _ => {
            let v: i128 = match cell {
                Cell::Int(i) => *i as i128,
                Cell::BigInt(s) => s.parse::<i128>().unwrap_or(i128::MAX),
                Cell::Float(f) => {
                    if f.is_nan() {
                        return Err("cannot convert float NaN to integer".into());
                    }
                    if f.is_infinite() {
                        return Err("cannot convert float infinity to integer".into());
                    }
                    // numpy goes through a Python int: the value truncated, then a C long
                    // (refused past it), then the dtype's bounds (below), as MLflow answers.
                    let t = f.trunc();
                    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&t) {
                        return Err("Python int too large to convert to C long".into());
                    }
                    t as i128
                }
                Cell::Bool(b) => *b as i128,
                Cell::Null => {
                    return Err("int() argument must be a string, a bytes-like object or a real number, not 'NoneType'".into())
                }
                Cell::Str(s) => {
                    py_int(s).ok_or_else(|| format!("invalid literal for int() with base 10: {}", str_repr(s)))?
                }
                Cell::List(_) | Cell::Dict(_) => return Err("setting an array element with a sequence.".into()),
            };
            let (lo, hi): (i128, i128) = match dt {
                DType::I8 => (i8::MIN as i128, i8::MAX as i128),
                DType::I16 => (i16::MIN as i128, i16::MAX as i128),
                DType::I32 => (i32::MIN as i128, i32::MAX as i128),
                DType::I64 => (i64::MIN as i128, i64::MAX as i128),
                DType::U8 => (0, u8::MAX as i128),
                DType::U16 => (0, u16::MAX as i128),
                DType::U32 => (0, u32::MAX as i128),
                _ => (0, u64::MAX as i128),
            };
            if v < lo || v > hi {
                let shown = match cell {
                    Cell::BigInt(s) => s.clone(),
                    _ => v.to_string(),
                };
                return Err(format!(
                    "Python integer {shown} out of bounds for {}",
                    dt.numpy_name()
                ));
            }
            Ok(Scalar::I(v))
        }
    }
}

/// A converted scalar.
pub enum Scalar {
    /// float
    F(f64),
    /// integer (range-checked)
    I(i128),
    /// bool
    B(bool),
    /// string
    S(String),
}

fn push(data: &mut TensorData, s: Scalar) {
    match (data, s) {
        (TensorData::F32(v), Scalar::F(f)) => v.push(f as f32),
        (TensorData::F16(v), Scalar::F(f)) => v.push(f as f32),
        (TensorData::F64(v), Scalar::F(f)) => v.push(f),
        (TensorData::Bool(v), Scalar::B(b)) => v.push(b),
        (TensorData::Str(v), Scalar::S(s)) => v.push(s),
        (TensorData::I8(v), Scalar::I(i)) => v.push(i as i8),
        (TensorData::I16(v), Scalar::I(i)) => v.push(i as i16),
        (TensorData::I32(v), Scalar::I(i)) => v.push(i as i32),
        (TensorData::I64(v), Scalar::I(i)) => v.push(i as i64),
        (TensorData::U8(v), Scalar::I(i)) => v.push(i as u8),
        (TensorData::U16(v), Scalar::I(i)) => v.push(i as u16),
        (TensorData::U32(v), Scalar::I(i)) => v.push(i as u32),
        (TensorData::U64(v), Scalar::I(i)) => v.push(i as u64),
        _ => {}
    }
}

impl ArrayBuilder {
    /// A builder converting to `target` (numpy inference when `None`).
    pub fn new(target: Option<DType>) -> Self {
        ArrayBuilder {
            target,
            dims: Vec::new(),
            leaf_depth: None,
            ragged_at: None,
            buf: match target {
                Some(dt) => Buf::Typed(empty_data(dt)),
                None => Buf::Cells(Vec::new()),
            },
            error: None,
        }
    }

    fn see_list(&mut self, depth: usize, n: usize) {
        if self.dims.len() <= depth {
            self.dims.resize(depth + 1, None);
        }
        match self.dims[depth] {
            None => self.dims[depth] = Some(n),
            Some(m) if m != n => self.mark_ragged(depth),
            _ => {}
        }
        if let Some(l) = self.leaf_depth {
            if l <= depth {
                self.mark_ragged(l);
            }
        }
    }

    fn mark_ragged(&mut self, at: usize) {
        self.ragged_at = Some(self.ragged_at.map_or(at, |r| r.min(at)));
    }

    fn see_leaf(&mut self, depth: usize) {
        match self.leaf_depth {
            None => {
                self.leaf_depth = Some(depth);
                if self.dims.len() > depth && self.dims[depth].is_some() {
                    self.mark_ragged(depth);
                }
            }
            Some(l) if l != depth => self.mark_ragged(l.min(depth)),
            _ => {}
        }
    }

    /// Adds one scalar at nesting `depth`.
    pub fn scalar(&mut self, depth: usize, cell: Cell) {
        self.see_leaf(depth);
        match (&mut self.buf, self.target) {
            (Buf::Typed(data), Some(dt)) => match convert_scalar(&cell, dt) {
                Ok(s) => push(data, s),
                Err(e) => {
                    if self.error.is_none() {
                        self.error = Some(e);
                    }
                }
            },
            (Buf::Cells(v), _) => v.push(cell),
            _ => {}
        }
    }

    /// Adds one parsed value at nesting `depth`: a list's items one level deeper (as
    /// `np.array(value, dtype)` reads a nested list), anything else as a scalar.
    pub fn cell(&mut self, depth: usize, cell: Cell) {
        match cell {
            Cell::List(items) => {
                let n = items.len();
                for item in items {
                    self.cell(depth + 1, item);
                }
                self.see_list(depth, n);
            }
            other => self.scalar(depth, other),
        }
    }

    /// Fast path for numbers into float buffers (no Cell).
    #[inline]
    fn number(&mut self, depth: usize, n: Num<'_>) {
        if let (Buf::Typed(TensorData::F32(v)), Num::Float(f)) = (&mut self.buf, n) {
            if self.leaf_depth == Some(depth) {
                v.push(f as f32);
                return;
            }
        }
        if let (Buf::Typed(TensorData::F32(v)), Num::Int(i)) = (&mut self.buf, n) {
            if self.leaf_depth == Some(depth) {
                v.push(i as f32);
                return;
            }
        }
        let cell = match n {
            Num::Int(i) => Cell::Int(i),
            Num::BigInt(s) => Cell::BigInt(s.to_string()),
            Num::Float(f) => Cell::Float(f),
        };
        self.scalar(depth, cell)
    }

    /// Reads one JSON value at nesting `depth` into the array.
    pub fn value(&mut self, s: &mut Scanner<'_>, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError {
                msg: "Maximum nesting depth exceeded",
                pos: s.pos,
            });
        }
        match s.kind()? {
            Kind::Array => {
                let mut n = 0;
                if s.array_open()? {
                    loop {
                        self.value(s, depth + 1)?;
                        n += 1;
                        if !s.array_next()? {
                            break;
                        }
                    }
                }
                self.see_list(depth, n);
            }
            Kind::Number => {
                let n = s.number()?;
                self.number(depth, n);
            }
            Kind::String => {
                let v = s.string()?.into_owned();
                self.scalar(depth, Cell::Str(v));
            }
            Kind::Bool => {
                let b = s.boolean()?;
                self.scalar(depth, Cell::Bool(b));
            }
            Kind::Null => {
                s.null()?;
                self.scalar(depth, Cell::Null);
            }
            Kind::Object => {
                let c = s.cell(depth)?;
                self.scalar(depth, c);
            }
        }
        Ok(())
    }

    /// Declares an outer list built by the caller (e.g. `instances` rows) of `n` elements.
    pub fn outer(&mut self, n: usize) {
        self.see_list(0, n);
    }

    /// Finishes the array: numpy's ragged / conversion errors, or the array.
    pub fn finish(self) -> Result<Array, String> {
        if let Some(d) = self.ragged_at {
            let known: Vec<usize> = self.dims.iter().take(d).map(|x| x.unwrap_or(0)).collect();
            return Err(format!(
                "setting an array element with a sequence. The requested array has an inhomogeneous shape after {d} dimensions. The detected shape was {} + inhomogeneous part.",
                shape_repr(&known)
            ));
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        let rank = self
            .leaf_depth
            .unwrap_or_else(|| self.dims.iter().take_while(|d| d.is_some()).count());
        let shape: Vec<usize> = self
            .dims
            .iter()
            .take(rank)
            .map(|d| d.unwrap_or(0))
            .collect();
        match self.buf {
            Buf::Typed(data) => Tensor::new(shape, data)
                .map(Array::Typed)
                .map_err(|e| e.to_string()),
            Buf::Cells(cells) => Ok(infer_numpy(shape, cells)),
        }
    }
}

/// `numpy.array(list)` dtype inference for cells without a target dtype.
fn infer_numpy(shape: Vec<usize>, cells: Vec<Cell>) -> Array {
    let all = |f: fn(&Cell) -> bool| cells.iter().all(f);
    if !cells.is_empty() && all(|c| matches!(c, Cell::Bool(_))) {
        let v = cells
            .iter()
            .map(|c| matches!(c, Cell::Bool(true)))
            .collect();
        return Array::Typed(Tensor {
            shape,
            data: TensorData::Bool(v),
        });
    }
    if !cells.is_empty() && all(|c| matches!(c, Cell::Int(_) | Cell::Bool(_))) {
        let v = cells
            .iter()
            .map(|c| match c {
                Cell::Int(i) => *i,
                Cell::Bool(b) => *b as i64,
                _ => 0,
            })
            .collect();
        return Array::Typed(Tensor {
            shape,
            data: TensorData::I64(v),
        });
    }
    if !cells.is_empty()
        && all(|c| {
            matches!(
                c,
                Cell::Int(_) | Cell::Bool(_) | Cell::Float(_) | Cell::BigInt(_)
            )
        })
    {
        if cells.iter().any(|c| matches!(c, Cell::Float(_)))
            || !cells.iter().any(|c| matches!(c, Cell::BigInt(_)))
        {
            let v = cells
                .iter()
                .map(|c| match c {
                    Cell::Bool(b) => *b as i64 as f64,
                    c => c.as_f64().unwrap_or(f64::NAN),
                })
                .collect();
            return Array::Typed(Tensor {
                shape,
                data: TensorData::F64(v),
            });
        }
        if cells.iter().all(|c| match c {
            Cell::BigInt(s) => s.parse::<u64>().is_ok(),
            Cell::Int(i) => *i >= 0,
            _ => true,
        }) {
            let v = cells
                .iter()
                .map(|c| match c {
                    Cell::BigInt(s) => s.parse::<u64>().unwrap_or(0),
                    Cell::Int(i) => *i as u64,
                    Cell::Bool(b) => *b as u64,
                    _ => 0,
                })
                .collect();
            return Array::Typed(Tensor {
                shape,
                data: TensorData::U64(v),
            });
        }
    }
    if !cells.is_empty() && all(|c| matches!(c, Cell::Str(_))) {
        let v = cells
            .into_iter()
            .map(|c| {
                if let Cell::Str(s) = c {
                    s
                } else {
                    String::new()
                }
            })
            .collect();
        return Array::Typed(Tensor {
            shape,
            data: TensorData::Str(v),
        });
    }
    Array::Cells { shape, cells }
}
