//! V2 inference over REST: the JSON request (inputs' `data` flat or nested), Triton's binary
//! tensor extension (a JSON header of `Inference-Header-Content-Length` bytes, then each
//! input with `parameters.binary_data_size` as raw little-endian bytes, in input order), and
//! the answer, JSON or with binary outputs (`binary_data` per output, or the request's
//! `binary_data_output`).

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::pyjson::{write_f64, write_i64, write_str, write_u64, Cell};
use runtime_api::TensorData;

use super::infer::{
    check_count, InferError, InferInput, InferOutput, InferRequest, RequestedOutput,
    RESERVED_PARAMETERS,
};
use super::tensor::{
    elements_from_json, elements_from_raw, raw_len, write_raw, DataSeed, Datatype, Elements,
};

/// The header naming the JSON part's length in a binary request or answer.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

#[derive(Deserialize)]
struct RestRequest<'a> {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(borrow)]
    inputs: Vec<RestInput<'a>>,
    #[serde(default)]
    outputs: Option<Vec<RestOutput>>,
}

/// An input's `data`: read into its typed buffer while the request is deserialized when its
/// `datatype` and `shape` came first (as clients write them), else kept raw and read after.
enum RestData<'a> {
    Parsed(Elements),
    Raw(&'a RawValue),
}

struct RestInput<'a> {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    parameters: Option<Map<String, Value>>,
    data: Option<RestData<'a>>,
}

/// Bounds the capacity a declared shape may reserve before any element is read.
const MAX_HINT: usize = 1 << 16;

impl<'de: 'a, 'a> Deserialize<'de> for RestInput<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "lowercase")]
        enum Field {
            Name,
            Shape,
            Datatype,
            Parameters,
            Data,
            #[serde(other)]
            Other,
        }
        struct InputVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for InputVisitor<'a> {
            type Value = RestInput<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a V2 input tensor")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<RestInput<'a>, M::Error> {
                use serde::de::Error as _;
                let (mut name, mut shape, mut datatype, mut parameters, mut data) =
                    (None::<String>, None::<Vec<i64>>, None::<String>, None, None);
                while let Some(key) = map.next_key::<Field>()? {
                    match key {
                        Field::Name => name = Some(map.next_value()?),
                        Field::Shape => shape = Some(map.next_value()?),
                        Field::Datatype => datatype = Some(map.next_value()?),
                        Field::Parameters => parameters = map.next_value()?,
                        Field::Data => {
                            let ty = datatype.as_deref().and_then(Datatype::parse);
                            data = Some(match (ty, &shape) {
                                (Some(ty), Some(shape)) => {
                                    let declared = shape
                                        .iter()
                                        .try_fold(1usize, |a, d| {
                                            usize::try_from(*d).ok().and_then(|d| a.checked_mul(d))
                                        })
                                        .unwrap_or(0);
                                    let what =
                                        format!("input '{}': ", name.as_deref().unwrap_or("?"));
                                    RestData::Parsed(map.next_value_seed(DataSeed {
                                        ty,
                                        capacity: declared.min(MAX_HINT),
                                        what: &what,
                                    })?)
                                }
                                _ => RestData::Raw(map.next_value()?),
                            });
                        }
                        Field::Other => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(RestInput {
                    name: name.ok_or_else(|| M::Error::missing_field("name"))?,
                    shape: shape.ok_or_else(|| M::Error::missing_field("shape"))?,
                    datatype: datatype.ok_or_else(|| M::Error::missing_field("datatype"))?,
                    parameters,
                    data,
                })
            }
        }
        d.deserialize_map(InputVisitor(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct RestOutput {
    name: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

fn invalid(message: impl Into<String>) -> InferError {
    InferError::Invalid(message.into())
}

fn unsupported_parameters(
    what: std::fmt::Arguments<'_>,
    params: Option<&Map<String, Value>>,
) -> Result<(), InferError> {
    for key in ["shared_memory_region", "classification"] {
        if params.is_some_and(|p| p.contains_key(key)) {
            return Err(invalid(format!(
                "{what}: parameter '{key}' is not supported by this server"
            )));
        }
    }
    Ok(())
}

/// Parses a V2 REST body; `header_len` is the `Inference-Header-Content-Length` value when
/// the body carries binary tensors after its JSON.
pub fn parse_request(body: &[u8], header_len: Option<usize>) -> Result<InferRequest, InferError> {
    let (json, mut binary) = match header_len {
        Some(n) if n > body.len() => {
            return Err(invalid(format!(
                "Inference-Header-Content-Length is {n} but the body has {} bytes",
                body.len()
            )))
        }
        Some(n) => body.split_at(n),
        None => (body, &[][..]),
    };
    let req: RestRequest =
        serde_json::from_slice(json).map_err(|e| invalid(format!("invalid V2 request: {e}")))?;
    let mut params = Vec::new();
    let mut content_type = None;
    let mut binary_output = false;
    for (k, v) in req.parameters.unwrap_or_default() {
        match (k.as_str(), v) {
            ("content_type", Value::String(s)) => content_type = Some(s),
            ("binary_data_output", Value::Bool(b)) => binary_output = b,
            (k, v) if !RESERVED_PARAMETERS.contains(&k) => {
                if k == "shared_memory_region" {
                    return Err(invalid("shared memory is not supported by this server"));
                }
                params.push((k.to_string(), Cell::from_serde(&v)));
            }
            _ => {}
        }
    }
    let mut inputs = Vec::with_capacity(req.inputs.len());
    for input in req.inputs {
        let name = input.name;
        let datatype = Datatype::parse(&input.datatype).ok_or_else(|| {
            invalid(format!(
                "input '{name}': unknown datatype '{}'",
                input.datatype
            ))
        })?;
        let shape = input
            .shape
            .iter()
            .map(|d| usize::try_from(*d))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                invalid(format!(
                    "input '{name}': shape {:?} has a negative dimension",
                    input.shape
                ))
            })?;
        unsupported_parameters(format_args!("input '{name}'"), input.parameters.as_ref())?;
        let param = |k: &str| input.parameters.as_ref().and_then(|p| p.get(k));
        let content_type = param("content_type")
            .and_then(Value::as_str)
            .map(str::to_string);
        let declared = shape
            .iter()
            .try_fold(1usize, |a, d| a.checked_mul(*d))
            .unwrap_or(usize::MAX);
        let elements = match (param("binary_data_size"), input.data) {
            (Some(size), None) => {
                let size = size
                    .as_u64()
                    .and_then(|s| usize::try_from(s).ok())
                    .ok_or_else(|| {
                        invalid(format!(
                            "input '{name}': binary_data_size must be a non-negative integer"
                        ))
                    })?;
                if size > binary.len() {
                    return Err(invalid(format!(
                        "input '{name}': binary_data_size {size} runs past the end of the body ({} bytes left)",
                        binary.len()
                    )));
                }
                let (mine, rest) = binary.split_at(size);
                binary = rest;
                elements_from_raw(mine, datatype)
                    .map_err(|e| invalid(format!("input '{name}': {e}")))?
            }
            (None, Some(RestData::Parsed(elements))) => elements,
            (None, Some(RestData::Raw(raw))) => {
                elements_from_json(raw.get(), datatype, declared)
                    .map_err(|e| invalid(format!("input '{name}': {e}")))?
            }
            (Some(_), Some(_)) => {
                return Err(invalid(format!(
                    "input '{name}' has both data and binary_data_size"
                )))
            }
            (None, None) => return Err(invalid(format!("input '{name}' has no data"))),
        };
        check_count(&name, &shape, elements.len())?;
        inputs.push(InferInput {
            name,
            datatype,
            shape,
            elements,
            content_type,
        });
    }
    if !binary.is_empty() {
        return Err(invalid(format!(
            "{} bytes after the JSON header belong to no input's binary_data_size",
            binary.len()
        )));
    }
    let outputs = req
        .outputs
        .map(|outs| {
            outs.into_iter()
                .map(|o| {
                    unsupported_parameters(
                        format_args!("output '{}'", o.name),
                        o.parameters.as_ref(),
                    )?;
                    let binary = o
                        .parameters
                        .as_ref()
                        .and_then(|p| p.get("binary_data"))
                        .and_then(Value::as_bool);
                    Ok(RequestedOutput {
                        name: o.name,
                        binary,
                    })
                })
                .collect::<Result<Vec<_>, InferError>>()
        })
        .transpose()?;
    Ok(InferRequest {
        id: req.id,
        content_type,
        params,
        binary_output,
        inputs,
        outputs,
    })
}

fn write_json_elements(out: &mut Vec<u8>, d: &TensorData) {
    fn seq<T>(out: &mut Vec<u8>, v: &[T], mut f: impl FnMut(&mut Vec<u8>, &T)) {
        out.push(b'[');
        for (i, x) in v.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            f(out, x);
        }
        out.push(b']');
    }
    let float = |out: &mut Vec<u8>, x: f64| {
        if x.is_nan() {
            out.extend_from_slice(b"null");
        } else {
            write_f64(out, x)
        }
    };
    match d {
        TensorData::Bool(v) => seq(out, v, |o, b| {
            o.extend_from_slice(if *b { b"true" } else { b"false" })
        }),
        TensorData::I8(v) => seq(out, v, |o, x| write_i64(o, *x as i64)),
        TensorData::I16(v) => seq(out, v, |o, x| write_i64(o, *x as i64)),
        TensorData::I32(v) => seq(out, v, |o, x| write_i64(o, *x as i64)),
        TensorData::I64(v) => seq(out, v, |o, x| write_i64(o, *x)),
        TensorData::U8(v) => seq(out, v, |o, x| write_u64(o, *x as u64)),
        TensorData::U16(v) => seq(out, v, |o, x| write_u64(o, *x as u64)),
        TensorData::U32(v) => seq(out, v, |o, x| write_u64(o, *x as u64)),
        TensorData::U64(v) => seq(out, v, |o, x| write_u64(o, *x)),
        TensorData::F16(v) | TensorData::F32(v) => seq(out, v, |o, x| float(o, *x as f64)),
        TensorData::F64(v) => seq(out, v, |o, x| float(o, *x)),
        TensorData::Str(v) => seq(out, v, |o, s| write_str(o, s)),
    }
}

/// Who answered and to what: the `model_name`, `model_version`, `id` and response
/// `content_type` of an answer.
pub struct AnswerHead<'a> {
    /// The model's name.
    pub model_name: &'a str,
    /// Its version, when known.
    pub model_version: Option<&'a str>,
    /// The request's id.
    pub id: &'a str,
    /// The response's `parameters.content_type`.
    pub content_type: &'static str,
}

/// Writes the answer: the JSON part, then the raw bytes of every output sent as binary (per
/// output `binary_data`, else `binary_default`). Returns the body and, when there are binary
/// outputs, the JSON part's length for `Inference-Header-Content-Length`.
pub fn write_response(
    head: &AnswerHead<'_>,
    outputs: &[(InferOutput, Option<bool>)],
    binary_default: bool,
) -> (Vec<u8>, Option<usize>) {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"model_name\":");
    write_str(&mut out, head.model_name);
    if let Some(v) = head.model_version {
        out.extend_from_slice(b",\"model_version\":");
        write_str(&mut out, v);
    }
    out.extend_from_slice(b",\"id\":");
    write_str(&mut out, head.id);
    out.extend_from_slice(b",\"parameters\":{\"content_type\":");
    write_str(&mut out, head.content_type);
    out.extend_from_slice(b"},\"outputs\":[");
    let mut binary_parts: Vec<&TensorData> = Vec::new();
    for (i, (o, binary)) in outputs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"name\":");
        write_str(&mut out, &o.name);
        out.extend_from_slice(b",\"datatype\":\"");
        out.extend_from_slice(Datatype::of(&o.data).name().as_bytes());
        out.extend_from_slice(b"\",\"shape\":[");
        for (j, d) in o.shape.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            write_u64(&mut out, *d as u64);
        }
        out.push(b']');
        let binary = binary.unwrap_or(binary_default);
        // `parameters` only when there is one, as MLServer answers.
        if o.content_type.is_some() || binary {
            out.extend_from_slice(b",\"parameters\":{");
            if let Some(ct) = o.content_type {
                out.extend_from_slice(b"\"content_type\":");
                write_str(&mut out, ct);
            }
            if binary {
                if o.content_type.is_some() {
                    out.push(b',');
                }
                out.extend_from_slice(b"\"binary_data_size\":");
                write_u64(&mut out, raw_len(&o.data) as u64);
            }
            out.push(b'}');
        }
        if binary {
            binary_parts.push(&o.data);
        } else {
            out.extend_from_slice(b",\"data\":");
            write_json_elements(&mut out, &o.data);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    if binary_parts.is_empty() {
        return (out, None);
    }
    let header_len = out.len();
    out.reserve(binary_parts.iter().map(|d| raw_len(d)).sum());
    for d in binary_parts {
        write_raw(&mut out, d);
    }
    (out, Some(header_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_binary_requests_read_the_same() {
        let json = br#"{"id":"r1","parameters":{"content_type":"np","temperature":0.5},
            "inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4.5]]}],
            "outputs":[{"name":"y","parameters":{"binary_data":true}}]}"#;
        let a = parse_request(json, None).unwrap();
        assert_eq!(a.id.as_deref(), Some("r1"));
        assert_eq!(a.content_type.as_deref(), Some("np"));
        assert_eq!(a.params.len(), 1);
        assert_eq!(a.outputs.as_ref().unwrap()[0].binary, Some(true));
        let header = br#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","parameters":{"binary_data_size":16}}]}"#;
        let mut body = header.to_vec();
        for x in [1f32, 2.0, 3.0, 4.5] {
            body.extend_from_slice(&x.to_le_bytes());
        }
        let b = parse_request(&body, Some(header.len())).unwrap();
        assert_eq!(a.inputs[0].elements, b.inputs[0].elements);
        assert_eq!(
            b.inputs[0].elements,
            Elements::Typed(TensorData::F32(vec![1.0, 2.0, 3.0, 4.5]))
        );
    }

    #[test]
    fn data_before_its_datatype_is_read_after() {
        let late = br#"{"inputs":[{"data":[[1,2]],"name":"x","shape":[1,2],"datatype":"INT32","extra":{"a":[1]}}]}"#;
        let early = br#"{"inputs":[{"name":"x","shape":[1,2],"datatype":"INT32","data":[1,2]}]}"#;
        assert_eq!(
            parse_request(late, None).unwrap().inputs,
            parse_request(early, None).unwrap().inputs
        );
        let bad = br#"{"inputs":[{"name":"x","shape":[1],"datatype":"INT8","data":[1000]}]}"#;
        let e = parse_request(bad, None).unwrap_err().to_string();
        assert!(e.contains("input 'x': 1000 is not a valid INT8"), "{e}");
    }

    #[test]
    fn malformed_requests_are_refused() {
        let header = br#"{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}"#;
        for (body, len) in [
            (&br#"{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2]}]}"#[..], None),
            (br#"{"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]}"#, None),
            (br#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP99","data":[1]}]}"#, None),
            (br#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]}"#, None),
            (br#"{"inputs":[{"name":"x","shape":[4294967296,4294967296,4294967296],"datatype":"FP32","data":[1]}]}"#, None),
            (br#"{"inputs": 3}"#, None),
            (header, Some(header.len())),
            (header, Some(header.len() + 1)),
        ] {
            assert!(parse_request(body, len).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn binary_outputs_follow_the_json_part() {
        let out = InferOutput {
            name: "y".into(),
            shape: vec![2, 1],
            data: TensorData::I64(vec![1, -1]),
            content_type: Some("np"),
        };
        let head = AnswerHead {
            model_name: "m",
            model_version: None,
            id: "1",
            content_type: "np",
        };
        let (json, none) = write_response(&head, &[(out.clone(), None)], false);
        assert_eq!(none, None);
        let v: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["outputs"][0]["data"], serde_json::json!([1, -1]));
        let (body, Some(n)) = write_response(&head, &[(out, Some(true))], false) else {
            panic!("binary")
        };
        let v: Value = serde_json::from_slice(&body[..n]).unwrap();
        assert_eq!(v["outputs"][0]["parameters"]["binary_data_size"], 16);
        assert_eq!(&body[n..n + 8], &1i64.to_le_bytes());
    }
}
