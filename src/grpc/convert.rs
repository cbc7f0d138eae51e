//! gRPC messages to and from the transport-free V2 types of `oip::infer`: a
//! `ModelInferRequest` (typed `contents` or `raw_input_contents`) becomes an
//! [`InferRequest`]; outputs become a `ModelInferResponse` with `raw_output_contents`, as
//! Triton answers.

use std::collections::HashMap;

use runtime_api::TensorData;

use super::proto::infer_parameter::ParameterChoice;
use super::proto::model_infer_request::InferInputTensor;
use super::proto::model_infer_response::InferOutputTensor;
use super::proto::{InferParameter, InferTensorContents, ModelInferRequest, ModelInferResponse};
use crate::oip::infer::{
    bounded, check_count, check_shape, InferError, InferInput, InferOutput, InferRequest,
    InputLabel, RequestedOutput, RESERVED_PARAMETERS,
};
use crate::oip::tensor::{elements_from_raw, raw_len, write_raw, Datatype, Elements};
use crate::payload::Limits;
use crate::pyjson::Cell;

fn invalid(message: impl Into<String>) -> InferError {
    InferError::Invalid(message.into())
}

fn cell(p: &InferParameter) -> Cell {
    match &p.parameter_choice {
        Some(ParameterChoice::BoolParam(b)) => Cell::Bool(*b),
        Some(ParameterChoice::Int64Param(i)) => Cell::Int(*i),
        Some(ParameterChoice::StringParam(s)) => Cell::Str(s.clone()),
        Some(ParameterChoice::DoubleParam(d)) => Cell::Float(*d),
        Some(ParameterChoice::Uint64Param(u)) => i64::try_from(*u)
            .map(Cell::Int)
            .unwrap_or_else(|_| Cell::BigInt(u.to_string())),
        None => Cell::Null,
    }
}

fn string_param(params: &HashMap<String, InferParameter>, key: &str) -> Option<String> {
    match params.get(key).and_then(|p| p.parameter_choice.as_ref()) {
        Some(ParameterChoice::StringParam(s)) => Some(s.clone()),
        _ => None,
    }
}

fn narrow<S: Copy + std::fmt::Display, T: TryFrom<S>>(
    label: InputLabel<'_>,
    v: Vec<S>,
    ty: Datatype,
) -> Result<Vec<T>, InferError> {
    v.into_iter()
        .map(|x| {
            T::try_from(x)
                .map_err(|_| invalid(format!("{label}: {x} is not a valid {} element", ty.name())))
        })
        .collect()
}

/// The elements of a tensor given as typed `contents` (the field its datatype uses).
fn from_contents(
    label: InputLabel<'_>,
    ty: Datatype,
    c: InferTensorContents,
) -> Result<Elements, InferError> {
    Ok(Elements::Typed(match ty {
        Datatype::Bool => TensorData::Bool(c.bool_contents),
        Datatype::I8 => TensorData::I8(narrow(label, c.int_contents, ty)?),
        Datatype::I16 => TensorData::I16(narrow(label, c.int_contents, ty)?),
        Datatype::I32 => TensorData::I32(c.int_contents),
        Datatype::I64 => TensorData::I64(c.int64_contents),
        Datatype::U8 => TensorData::U8(narrow(label, c.uint_contents, ty)?),
        Datatype::U16 => TensorData::U16(narrow(label, c.uint_contents, ty)?),
        Datatype::U32 => TensorData::U32(c.uint_contents),
        Datatype::U64 => TensorData::U64(c.uint64_contents),
        Datatype::F32 => TensorData::F32(c.fp32_contents),
        Datatype::F64 => TensorData::F64(c.fp64_contents),
        Datatype::Bytes => return Ok(Elements::Bytes(c.bytes_contents)),
        Datatype::F16 => {
            return Err(invalid(format!(
                "{label}: FP16 data must be sent in raw_input_contents"
            )))
        }
    }))
}

/// A `ModelInferRequest` as a transport-free V2 request. Inputs are read from
/// `raw_input_contents` (one entry per input, in order) when it is given, else from each
/// input's typed `contents`. The message was bounded before it was decoded (see
/// [`super::scan`]); the counts are checked again here for every caller.
pub fn request(msg: ModelInferRequest, limits: &Limits) -> Result<InferRequest, InferError> {
    let ModelInferRequest {
        id,
        parameters,
        inputs,
        outputs,
        raw_input_contents,
        ..
    } = msg;
    if inputs.len() > limits.max_tensors || outputs.len() > limits.max_tensors {
        return Err(invalid(format!(
            "the request names more than {} inputs or outputs (--max-tensors)",
            limits.max_tensors
        )));
    }
    if !raw_input_contents.is_empty() && raw_input_contents.len() != inputs.len() {
        return Err(invalid(format!(
            "raw_input_contents has {} entries for {} inputs",
            raw_input_contents.len(),
            inputs.len()
        )));
    }
    let content_type = string_param(&parameters, "content_type");
    let mut params: Vec<(String, Cell)> = parameters
        .iter()
        .filter(|(k, _)| !RESERVED_PARAMETERS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), cell(v)))
        .collect();
    // A map has no order; params are matched by name, but messages should be stable.
    params.sort_by(|a, b| a.0.cmp(&b.0));
    if params.iter().any(|(k, _)| k.starts_with("shared_memory")) {
        return Err(invalid("shared memory is not supported by this server"));
    }
    let mut raw = raw_input_contents.into_iter();
    let mut decoded = Vec::with_capacity(inputs.len());
    for input in inputs {
        let InferInputTensor {
            name,
            datatype,
            shape,
            parameters,
            contents,
        } = input;
        let label = InputLabel(&name);
        let ty = Datatype::parse(&datatype).ok_or_else(|| {
            invalid(format!(
                "{label}: unknown datatype '{}'",
                bounded(&datatype)
            ))
        })?;
        let shape = check_shape(label, &shape, limits)?;
        if parameters.keys().any(|k| k.starts_with("shared_memory")) {
            return Err(invalid(format!(
                "{label}: shared memory is not supported by this server"
            )));
        }
        let elements = match (raw.next(), contents) {
            (Some(bytes), None) => {
                elements_from_raw(&bytes, ty).map_err(|e| invalid(format!("{label}: {e}")))?
            }
            (None, Some(c)) => from_contents(label, ty, c)?,
            (Some(_), Some(_)) => {
                return Err(invalid(format!(
                    "{label} has both contents and raw_input_contents"
                )))
            }
            (None, None) => return Err(invalid(format!("{label} has no data"))),
        };
        check_count(label, &shape, elements.len())?;
        decoded.push(InferInput {
            content_type: string_param(&parameters, "content_type"),
            name,
            datatype: ty,
            shape,
            elements,
        });
    }
    let outputs = (!outputs.is_empty()).then(|| {
        outputs
            .into_iter()
            .map(|o| RequestedOutput {
                name: o.name,
                binary: None,
            })
            .collect()
    });
    Ok(InferRequest {
        id: (!id.is_empty()).then_some(id),
        content_type,
        params,
        binary_output: false,
        inputs: decoded,
        outputs,
    })
}

fn string(s: &str) -> InferParameter {
    InferParameter {
        parameter_choice: Some(ParameterChoice::StringParam(s.to_string())),
    }
}

/// A serialized `ModelInferRequest` (a gRPC message without its 5-byte frame) as a V2
/// request: what the service gets from tonic, for tools and fuzzing.
pub fn decode_request(bytes: &[u8], limits: &Limits) -> Result<InferRequest, InferError> {
    use prost::Message as _;
    super::scan::check(bytes, limits).map_err(invalid)?;
    let message = ModelInferRequest::decode(bytes)
        .map_err(|e| invalid(format!("invalid ModelInferRequest: {e}")))?;
    request(message, limits)
}

/// The answer: every output's raw little-endian bytes in `raw_output_contents`.
pub fn response(
    model_name: &str,
    model_version: Option<&str>,
    id: String,
    content_type: &str,
    outputs: Vec<InferOutput>,
) -> ModelInferResponse {
    let mut raw_output_contents = Vec::with_capacity(outputs.len());
    let outputs = outputs
        .into_iter()
        .map(|o| {
            let mut bytes = Vec::with_capacity(raw_len(&o.data));
            write_raw(&mut bytes, &o.data);
            raw_output_contents.push(bytes);
            InferOutputTensor {
                datatype: Datatype::of(&o.data).name().to_string(),
                shape: o.shape.iter().map(|d| *d as i64).collect(),
                parameters: o
                    .content_type
                    .map(|ct| HashMap::from([("content_type".to_string(), string(ct))]))
                    .unwrap_or_default(),
                name: o.name,
                contents: None,
            }
        })
        .collect();
    ModelInferResponse {
        model_name: model_name.to_string(),
        model_version: model_version.unwrap_or_default().to_string(),
        id,
        parameters: HashMap::from([("content_type".to_string(), string(content_type))]),
        outputs,
        raw_output_contents,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(name: &str, datatype: &str, shape: Vec<i64>) -> InferInputTensor {
        InferInputTensor {
            name: name.into(),
            datatype: datatype.into(),
            shape,
            parameters: HashMap::new(),
            contents: None,
        }
    }

    #[test]
    fn raw_and_typed_contents_read_the_same() {
        let raw: Vec<u8> = [1f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        let a = request(
            ModelInferRequest {
                inputs: vec![tensor("x", "FP32", vec![1, 2])],
                raw_input_contents: vec![raw],
                ..Default::default()
            },
            &Limits::default(),
        )
        .unwrap();
        let mut typed = tensor("x", "FP32", vec![1, 2]);
        typed.contents = Some(InferTensorContents {
            fp32_contents: vec![1.0, 2.0],
            ..Default::default()
        });
        let b = request(
            ModelInferRequest {
                id: "7".into(),
                parameters: HashMap::from([("scale".into(), string("2"))]),
                inputs: vec![typed],
                ..Default::default()
            },
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(a.inputs, b.inputs);
        assert_eq!(b.id.as_deref(), Some("7"));
        assert_eq!(b.params, vec![("scale".into(), Cell::Str("2".into()))]);
    }

    #[test]
    fn malformed_requests_are_refused() {
        let mut narrow = tensor("x", "INT8", vec![1]);
        narrow.contents = Some(InferTensorContents {
            int_contents: vec![300],
            ..Default::default()
        });
        for bad in [
            ModelInferRequest {
                inputs: vec![tensor("x", "FP32", vec![2])],
                raw_input_contents: vec![vec![0; 4]],
                ..Default::default()
            },
            ModelInferRequest {
                inputs: vec![tensor("x", "FP32", vec![1])],
                ..Default::default()
            },
            ModelInferRequest {
                inputs: vec![tensor("x", "FP32", vec![-1])],
                raw_input_contents: vec![vec![0; 4]],
                ..Default::default()
            },
            ModelInferRequest {
                inputs: vec![tensor("x", "FP32", vec![1]), tensor("y", "FP32", vec![1])],
                raw_input_contents: vec![vec![0; 4]],
                ..Default::default()
            },
            ModelInferRequest {
                inputs: vec![narrow],
                ..Default::default()
            },
        ] {
            assert!(request(bad, &Limits::default()).is_err());
        }
    }
}
