//! V2 inference, whatever the transport: an [`InferRequest`] (REST JSON, REST with binary
//! tensors, or gRPC, each decoded by its own module) becomes the input and params MLflow's
//! pyfunc would get from MLServer's MLflow runtime, and MLflow's [`Predictions`] become V2
//! outputs the way MLServer encodes them.
//!
//! Decoding follows MLServer's codecs: the request's `parameters.content_type`, else the
//! model's (see `metadata::model_content_type`), picks `pd` (each input one column of a
//! DataFrame: shape `[n]` or `[n, 1]`), `np` (the one input as an array) or `dict` (inputs as
//! named arrays). MLflow's predict-time enforcement then runs on it as for any pyfunc call,
//! with no parse-time cast (V2 values arrive typed). Request parameters other than
//! `content_type`, `headers` and Triton's `binary_data_output` are MLflow `params`.
//!
//! Encoding: a DataFrame answer is one output per column, shape `[n, 1]`; a dict is one
//! output per key; a single array is `output-1`; shapes of one dimension get a trailing `1`
//! (MLServer's `inject_batch_dimension`); sequence-of-maps columns are `BYTES` holding JSON.
//! Requested outputs are found by the answer's names or by the metadata's `output-{i}`.

use runtime_api::{OutputValue, Tensor, TensorData};

use crate::flavor::predictions::OutputColumn;
use crate::flavor::Predictions;
use crate::model::signature::{ColType, InputSchema};
use crate::payload::{Array, ColName, Column, Frame, Input, Limits};
use crate::pyjson::{write_f64, write_str, Cell};

use super::tensor::{Datatype, Elements};

/// A V2 request that is not well formed or does not fit the model. 400 with
/// `{"error": message}` (gRPC `INVALID_ARGUMENT`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InferError {
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// A requested output the model does not produce.
    #[error("unexpected inference output '{output}' for model '{model}'")]
    UnknownOutput {
        /// The requested name.
        output: String,
        /// The model's name.
        model: String,
    },
}

/// One input tensor of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct InferInput {
    /// Its name.
    pub name: String,
    /// Its declared datatype.
    pub datatype: Datatype,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its elements, row-major; as many as the shape says.
    pub elements: Elements,
    /// Its `parameters.content_type` (`str`, `base64`, …), if any.
    pub content_type: Option<String>,
}

/// An output the client asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestedOutput {
    /// Its name.
    pub name: String,
    /// Whether it should come back as raw bytes (Triton's `binary_data`).
    pub binary: Option<bool>,
}

/// A V2 inference request, decoded from its transport.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InferRequest {
    /// The client's `id`, echoed.
    pub id: Option<String>,
    /// `parameters.content_type`.
    pub content_type: Option<String>,
    /// Every other request parameter: MLflow `params`.
    pub params: Vec<(String, Cell)>,
    /// Triton's `binary_data_output` request parameter.
    pub binary_output: bool,
    /// The inputs.
    pub inputs: Vec<InferInput>,
    /// The outputs asked for (all when `None`).
    pub outputs: Option<Vec<RequestedOutput>>,
}

/// What a request's answer needs from it, kept while the model runs: its `id`, the outputs
/// asked for, and Triton's `binary_data_output`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AnswerSpec {
    /// The client's `id`.
    pub id: Option<String>,
    /// The outputs asked for (all when `None`).
    pub outputs: Option<Vec<RequestedOutput>>,
    /// Every output as raw bytes unless it says otherwise.
    pub binary_output: bool,
}

/// Request parameters that steer the protocol rather than the model.
pub const RESERVED_PARAMETERS: [&str; 3] = ["content_type", "headers", "binary_data_output"];

pub use crate::pyjson::bounded;

/// `input '<name>'` at the start of a message, the name bounded; formatted only when a
/// message is written (no allocation on the path of a good request).
#[derive(Clone, Copy)]
pub struct InputLabel<'a>(pub &'a str);

impl std::fmt::Display for InputLabel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "input '{}'", bounded(self.0))
    }
}

/// A declared shape as dimensions: at most `--max-tensor-rank` of them (a decoder refuses
/// longer shapes while reading them; this checks again for every transport), none negative.
/// `label` starts messages (`input 'x'`).
pub fn check_shape(
    label: InputLabel<'_>,
    shape: &[i64],
    limits: &Limits,
) -> Result<Vec<usize>, InferError> {
    if shape.len() > limits.max_rank {
        return Err(InferError::Invalid(format!(
            "{label}: a shape of {} dimensions is more than {} (--max-tensor-rank)",
            shape.len(),
            limits.max_rank
        )));
    }
    shape
        .iter()
        .map(|d| usize::try_from(*d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            InferError::Invalid(format!("{label}: shape {shape:?} has a negative dimension"))
        })
}

/// Checks that `shape` (of at most `--max-tensor-rank` dimensions) holds `n` elements.
pub fn check_count(label: InputLabel<'_>, shape: &[usize], n: usize) -> Result<(), InferError> {
    let want = shape
        .iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(*d))
        .ok_or_else(|| InferError::Invalid(format!("{label}: shape {shape:?} is too large")))?;
    if want != n {
        return Err(InferError::Invalid(format!(
            "{label}: shape {shape:?} needs {want} elements, got {n}"
        )));
    }
    Ok(())
}

/// A V2 request's errors are answered as MLflow answers a bad request (400 `BAD_REQUEST`;
/// gRPC's `INVALID_ARGUMENT`), by the one mapping of [`ServeError`].
impl From<InferError> for crate::error::ServeError {
    fn from(e: InferError) -> Self {
        crate::error::ServeError::Invalid(e.to_string())
    }
}

/// Decodes a V2 request as MLServer's codecs do (its `content_type`, else the model's) and
/// prepares it on `model` like any other input, without the parse-time cast (V2 values are
/// typed).
pub fn prepare(
    model: &crate::pipeline::ServedModel,
    request: InferRequest,
) -> Result<crate::pipeline::Prepared, crate::error::ServeError> {
    let schema = model.mlmodel.signature.inputs.as_ref();
    let (input, params) =
        request.into_input(schema, super::metadata::model_content_type(schema))?;
    model.prepare_input(input, params, false, false)
}

impl InferRequest {
    /// Takes out what the answer needs (the rest is for the model).
    pub fn take_answer_spec(&mut self) -> AnswerSpec {
        AnswerSpec {
            id: self.id.take(),
            outputs: self.outputs.take(),
            binary_output: self.binary_output,
        }
    }

    /// The input and params MLflow's pyfunc gets, decoded as `content_type` (else the model's
    /// `model_content_type`) says.
    pub fn into_input(
        self,
        schema: Option<&InputSchema>,
        model_content_type: Option<&str>,
    ) -> Result<(Input, Option<Cell>), InferError> {
        let params = (!self.params.is_empty()).then_some(Cell::Dict(self.params));
        if self.inputs.is_empty() {
            return Err(InferError::Invalid("the request has no inputs".into()));
        }
        // A hash set, not a scan per input, past a few inputs: linear in their number.
        let repeated = if self.inputs.len() <= 8 {
            self.inputs
                .iter()
                .enumerate()
                .find(|(i, a)| self.inputs[..*i].iter().any(|b| b.name == a.name))
                .map(|(_, a)| a)
        } else {
            let mut seen = std::collections::HashSet::with_capacity(self.inputs.len());
            self.inputs.iter().find(|a| !seen.insert(a.name.as_str()))
        };
        if let Some(a) = repeated {
            return Err(InferError::Invalid(format!(
                "input '{}' is given more than once",
                bounded(&a.name)
            )));
        }
        let content_type = self
            .content_type
            .as_deref()
            .or(model_content_type)
            .unwrap_or(if self.inputs.len() == 1 { "np" } else { "dict" });
        let input = match content_type {
            "pd" => Input::Frame(frame(self.inputs, schema)?),
            "np" if self.inputs.len() == 1 && !schema.is_some_and(named_tensors) => {
                let [one] = <[InferInput; 1]>::try_from(self.inputs)
                    .map_err(|_| InferError::Invalid("one input expected".into()))?;
                Input::Array(array(one)?)
            }
            "np" | "dict" => Input::Dict(
                self.inputs
                    .into_iter()
                    .map(|i| Ok((i.name.clone(), array(i)?)))
                    .collect::<Result<_, InferError>>()?,
            ),
            other => {
                return Err(InferError::Invalid(format!(
                    "content_type '{}' is not supported: use 'pd', 'np' or 'dict'",
                    bounded(other)
                )))
            }
        };
        Ok((input, params))
    }
}

fn named_tensors(s: &InputSchema) -> bool {
    matches!(s, InputSchema::Tensors(_)) && s.has_names()
}

fn utf8(name: &str, b: Vec<u8>) -> Result<String, InferError> {
    String::from_utf8(b).map_err(|_| {
        InferError::Invalid(format!(
            "input '{}': BYTES element is not valid UTF-8 (send content_type 'base64' for binary data)",
            bounded(name)
        ))
    })
}

fn base64(name: &str, b: &[u8]) -> Result<Vec<u8>, InferError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(b)
        .map_err(|e| InferError::Invalid(format!("input '{}': invalid base64: {e}", bounded(name))))
}

/// One input as an array (`np`/`dict`): numbers typed, `BYTES` as strings.
fn array(input: InferInput) -> Result<Array, InferError> {
    let InferInput {
        name,
        shape,
        elements,
        ..
    } = input;
    let data = match elements {
        Elements::Typed(d) => d,
        Elements::Bytes(b) => TensorData::Str(
            b.into_iter()
                .map(|e| utf8(&name, e))
                .collect::<Result<_, _>>()?,
        ),
    };
    Tensor::new(shape, data)
        .map(Array::Typed)
        .map_err(|e| InferError::Invalid(format!("input '{}': {e}", bounded(&name))))
}

/// Inputs as the columns of a frame (`pd`): each of shape `[n]` or `[n, 1]`.
fn frame(inputs: Vec<InferInput>, schema: Option<&InputSchema>) -> Result<Frame, InferError> {
    let mut nrows = None;
    let mut columns = Vec::with_capacity(inputs.len());
    for input in inputs {
        let rows = match input.shape.as_slice() {
            [n] | [n, 1] => *n,
            other => {
                return Err(InferError::Invalid(format!(
                    "input '{}' has shape {other:?}: with content_type 'pd' each input is one column, of shape [n] or [n, 1]",
                    bounded(&input.name)
                )))
            }
        };
        match nrows {
            None => nrows = Some(rows),
            Some(n) if n != rows => {
                return Err(InferError::Invalid(format!(
                    "input '{}' has {rows} rows where the others have {n}: the columns of a DataFrame have one length",
                    bounded(&input.name)
                )))
            }
            Some(_) => {}
        }
        let spec_type = match schema {
            Some(InputSchema::Columns(cols)) => cols
                .iter()
                .find(|c| c.name.as_deref() == Some(&input.name))
                .map(|c| &c.ty),
            _ => None,
        };
        let binary = input.content_type.as_deref() == Some("base64")
            || (input.content_type.is_none() && spec_type == Some(&ColType::Binary));
        let name = input.name;
        let column = match input.elements {
            Elements::Typed(d) => typed_column(d),
            Elements::Bytes(b) if binary => Column::Bytes(
                b.iter()
                    .map(|e| base64(&name, e).map(Some))
                    .collect::<Result<_, _>>()?,
            ),
            Elements::Bytes(b) => Column::Str(
                b.into_iter()
                    .map(|e| utf8(&name, e).map(Some))
                    .collect::<Result<_, _>>()?,
            ),
        };
        columns.push((ColName::Str(name), column));
    }
    Ok(Frame {
        columns,
        nrows: nrows.unwrap_or(0),
    })
}

fn typed_column(d: TensorData) -> Column {
    match d {
        TensorData::Bool(v) => Column::Bool(v),
        TensorData::I8(v) => Column::I8(v),
        TensorData::I16(v) => Column::I16(v),
        TensorData::I32(v) => Column::I32(v),
        TensorData::I64(v) => Column::I64(v),
        TensorData::U8(v) => Column::U8(v),
        TensorData::U16(v) => Column::U16(v),
        TensorData::U32(v) => Column::U32(v),
        TensorData::U64(v) => Column::U64(v),
        TensorData::F16(v) | TensorData::F32(v) => Column::F32(v),
        TensorData::F64(v) => Column::F64(v),
        TensorData::Str(v) => Column::Str(v.into_iter().map(Some).collect()),
    }
}

/// One V2 output.
#[derive(Debug, Clone, PartialEq)]
pub struct InferOutput {
    /// Its name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its elements (sequence-of-maps values as JSON strings).
    pub data: TensorData,
    /// MLServer's `content_type` for it (`np`, `str`, `pd_json`), if any.
    pub content_type: Option<&'static str>,
}

/// The answer's outputs and its response-level `content_type` (`pd`, `dict`, `np`).
pub struct Outputs {
    /// The outputs, in the model's order.
    pub outputs: Vec<InferOutput>,
    /// The response's `parameters.content_type`.
    pub content_type: &'static str,
}

fn batch_shape(mut shape: Vec<usize>) -> Vec<usize> {
    if shape.len() <= 1 {
        shape.push(1);
    }
    shape
}

/// Each map as compact JSON (`{"0":0.99,"1":0.01}`), as MLServer's `pd_json` encodes a
/// column of dicts.
fn maps_as_json(maps: &[Vec<(runtime_api::MapKey, f64)>]) -> TensorData {
    TensorData::Str(
        maps.iter()
            .map(|m| {
                let mut out = Vec::with_capacity(16 * m.len() + 2);
                out.push(b'{');
                for (j, (k, v)) in m.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    match k {
                        runtime_api::MapKey::Int(i) => write_str(&mut out, &i.to_string()),
                        runtime_api::MapKey::Str(s) => write_str(&mut out, s),
                    }
                    out.push(b':');
                    write_f64(&mut out, *v);
                }
                out.push(b'}');
                String::from_utf8_lossy(&out).into_owned()
            })
            .collect(),
    )
}

fn tensor_output(name: String, t: Tensor) -> InferOutput {
    let content_type = if matches!(t.data, TensorData::Str(_)) {
        "str"
    } else {
        "np"
    };
    InferOutput {
        name,
        shape: batch_shape(t.shape),
        data: t.data,
        content_type: Some(content_type),
    }
}

impl Outputs {
    /// MLflow's predictions as V2 outputs, as MLServer encodes them.
    pub fn from_predictions(predictions: Predictions) -> Outputs {
        match predictions {
            Predictions::Records { columns, nrows } => Outputs {
                outputs: columns
                    .into_iter()
                    .map(|(name, col)| match col {
                        OutputColumn::Flat(data) => InferOutput {
                            name,
                            shape: vec![data.len(), 1],
                            content_type: matches!(data, TensorData::Str(_)).then_some("str"),
                            data,
                        },
                        OutputColumn::Maps(m) => InferOutput {
                            name,
                            shape: vec![nrows, 1],
                            data: maps_as_json(&m),
                            content_type: Some("pd_json"),
                        },
                    })
                    .collect(),
                content_type: "pd",
            },
            Predictions::Frame(t) => {
                let rows = t.shape.first().copied().unwrap_or(0);
                let cols = if t.shape.len() == 2 { t.shape[1] } else { 1 };
                let outputs = (0..cols)
                    .map(|j| InferOutput {
                        name: j.to_string(),
                        shape: vec![rows, 1],
                        content_type: matches!(t.data, TensorData::Str(_)).then_some("str"),
                        data: column_of(&t.data, j, cols),
                    })
                    .collect();
                Outputs {
                    outputs,
                    content_type: "pd",
                }
            }
            Predictions::Dict(items) => Outputs {
                outputs: items
                    .into_iter()
                    .map(|(name, v)| match v {
                        OutputValue::Tensor(t) => tensor_output(name, t),
                        OutputValue::SequenceOfMaps(m) => InferOutput {
                            name,
                            shape: vec![m.len(), 1],
                            data: maps_as_json(&m),
                            content_type: Some("pd_json"),
                        },
                    })
                    .collect(),
                content_type: "dict",
            },
            Predictions::Array(t) => Outputs {
                outputs: vec![tensor_output("output-1".into(), t)],
                content_type: "np",
            },
            // Any other Python answer: MLflow's JSON of it, as one string (MLServer's
            // `str` content type).
            Predictions::Json(text) => Outputs {
                outputs: vec![InferOutput {
                    name: "output-1".into(),
                    shape: vec![1],
                    data: TensorData::Str(vec![text]),
                    content_type: Some("str"),
                }],
                content_type: "str",
            },
        }
    }

    /// Keeps the requested outputs, in the order asked (all when `requested` is `None`).
    pub fn select(
        self,
        requested: Option<&[RequestedOutput]>,
        model: &str,
    ) -> Result<Vec<(InferOutput, Option<bool>)>, InferError> {
        let Some(requested) = requested else {
            return Ok(self.outputs.into_iter().map(|o| (o, None)).collect());
        };
        let mut all: Vec<Option<InferOutput>> = self.outputs.into_iter().map(Some).collect();
        requested
            .iter()
            .map(|r| {
                // The metadata names an unnamed output spec `output-{i}` (MLServer's naming),
                // while the answer names outputs as the model does: both are accepted.
                let position = all
                    .iter()
                    .position(|o| o.as_ref().is_some_and(|o| o.name == r.name))
                    .or_else(|| {
                        r.name
                            .strip_prefix("output-")
                            .and_then(|i| i.parse::<usize>().ok())
                            .filter(|i| *i < all.len())
                    });
                let found = position.and_then(|i| all[i].take());
                found
                    .map(|o| (o, r.binary))
                    .ok_or_else(|| InferError::UnknownOutput {
                        output: bounded(&r.name).into_owned(),
                        model: model.to_string(),
                    })
            })
            .collect()
    }
}

/// Column `j` of a row-major `[rows, cols]` buffer.
fn column_of(d: &TensorData, j: usize, cols: usize) -> TensorData {
    fn pick<T: Clone>(v: &[T], j: usize, cols: usize) -> Vec<T> {
        v.iter().skip(j).step_by(cols.max(1)).cloned().collect()
    }
    match d {
        TensorData::Bool(v) => TensorData::Bool(pick(v, j, cols)),
        TensorData::I8(v) => TensorData::I8(pick(v, j, cols)),
        TensorData::I16(v) => TensorData::I16(pick(v, j, cols)),
        TensorData::I32(v) => TensorData::I32(pick(v, j, cols)),
        TensorData::I64(v) => TensorData::I64(pick(v, j, cols)),
        TensorData::U8(v) => TensorData::U8(pick(v, j, cols)),
        TensorData::U16(v) => TensorData::U16(pick(v, j, cols)),
        TensorData::U32(v) => TensorData::U32(pick(v, j, cols)),
        TensorData::U64(v) => TensorData::U64(pick(v, j, cols)),
        TensorData::F16(v) => TensorData::F16(pick(v, j, cols)),
        TensorData::F32(v) => TensorData::F32(pick(v, j, cols)),
        TensorData::F64(v) => TensorData::F64(pick(v, j, cols)),
        TensorData::Str(v) => TensorData::Str(pick(v, j, cols)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, shape: Vec<usize>, data: TensorData) -> InferInput {
        InferInput {
            name: name.into(),
            datatype: Datatype::of(&data),
            shape,
            elements: Elements::Typed(data),
            content_type: None,
        }
    }

    #[test]
    fn pd_makes_one_column_per_input() {
        let req = InferRequest {
            content_type: Some("pd".into()),
            inputs: vec![
                input("a", vec![2, 1], TensorData::F32(vec![1.0, 2.0])),
                input("b", vec![2], TensorData::I64(vec![3, 4])),
            ],
            ..Default::default()
        };
        let (Input::Frame(f), None) = req.into_input(None, None).unwrap() else {
            panic!("a frame without params")
        };
        assert_eq!(f.nrows, 2);
        assert_eq!(
            f.columns[1],
            (ColName::Str("b".into()), Column::I64(vec![3, 4]))
        );
    }

    #[test]
    fn pd_refuses_ragged_and_wide_inputs() {
        let req = |b: Vec<usize>| InferRequest {
            content_type: Some("pd".into()),
            inputs: vec![
                input("a", vec![2], TensorData::F32(vec![1.0, 2.0])),
                input(
                    "b",
                    b.clone(),
                    TensorData::F32(vec![0.0; b.iter().product()]),
                ),
            ],
            ..Default::default()
        };
        assert!(req(vec![3]).into_input(None, None).is_err());
        assert!(req(vec![2, 2]).into_input(None, None).is_err());
    }

    #[test]
    fn np_is_one_array_and_params_pass_through() {
        let req = InferRequest {
            params: vec![("temperature".into(), Cell::Float(0.5))],
            inputs: vec![input("x", vec![1, 2], TensorData::F32(vec![1.0, 2.0]))],
            ..Default::default()
        };
        let (Input::Array(a), Some(Cell::Dict(p))) = req.into_input(None, Some("np")).unwrap()
        else {
            panic!("an array with params")
        };
        assert_eq!(a.shape(), &[1, 2]);
        assert_eq!(p[0].0, "temperature");
    }

    #[test]
    fn outputs_are_encoded_as_mlserver_does() {
        let t = Tensor::new(vec![3], TensorData::I64(vec![1, 2, 3])).unwrap();
        let out = Outputs::from_predictions(Predictions::Array(t));
        assert_eq!(out.content_type, "np");
        assert_eq!(out.outputs[0].name, "output-1");
        assert_eq!(out.outputs[0].shape, vec![3, 1]);
        let f = Tensor::new(vec![2, 2], TensorData::F32(vec![1.0, 2.0, 3.0, 4.0])).unwrap();
        let out = Outputs::from_predictions(Predictions::Frame(f));
        assert_eq!(out.outputs[1].name, "1");
        assert_eq!(out.outputs[1].data, TensorData::F32(vec![2.0, 4.0]));
    }

    #[test]
    fn requested_outputs_filter_and_order() {
        let mk = |n: &str| InferOutput {
            name: n.into(),
            shape: vec![1, 1],
            data: TensorData::F32(vec![0.0]),
            content_type: None,
        };
        let outs = Outputs {
            outputs: vec![mk("a"), mk("b")],
            content_type: "dict",
        };
        let asked = [RequestedOutput {
            name: "b".into(),
            binary: Some(true),
        }];
        let got = outs.select(Some(&asked), "m").unwrap();
        assert_eq!((got[0].0.name.as_str(), got[0].1), ("b", Some(true)));
        let outs = Outputs {
            outputs: vec![mk("a")],
            content_type: "dict",
        };
        let asked = [RequestedOutput {
            name: "zz".into(),
            binary: None,
        }];
        assert!(matches!(
            outs.select(Some(&asked), "m"),
            Err(InferError::UnknownOutput { .. })
        ));
    }
}
