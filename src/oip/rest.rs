//! V2 inference over REST: the JSON request (inputs' `data` flat or nested), Triton's binary
//! tensor extension (a JSON header of `Inference-Header-Content-Length` bytes, then each
//! input with `parameters.binary_data_size` as raw little-endian bytes, in input order), and
//! the answer, JSON or with binary outputs (`binary_data` per output, or the request's
//! `binary_data_output`).

use std::collections::BTreeMap;

use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::signature::ParamSpec;
use crate::payload::Limits;
use crate::pyjson::{write_f64, write_i64, write_str, write_u64, Cell};
use runtime_api::TensorData;

use super::infer::{
    bounded, check_count, check_shape, InferError, InferInput, InferOutput, InferRequest,
    InputLabel, RequestedOutput, RESERVED_PARAMETERS,
};
use super::tensor::{
    elements_from_json, elements_from_raw, raw_len, write_raw, DataSeed, Datatype, Elements,
};

/// The parameters of an input or requested output this server reads; others are skipped.
const TENSOR_PARAMETERS: [&str; 5] = [
    "content_type",
    "binary_data_size",
    "binary_data",
    "shared_memory_region",
    "classification",
];

/// The header naming the JSON part's length in a binary request or answer.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// Request-wide bounds while one body is deserialized: the limits, the elements the inputs'
/// capacity hints may still reserve (no JSON element is shorter than two bytes, so all the
/// hints of a request together never exceed half its bytes, whatever shapes it declares),
/// and the cells (parameter values) it may still hold.
struct Ctx<'l> {
    limits: &'l Limits,
    declared: &'l [ParamSpec],
    hint_left: std::cell::Cell<usize>,
    cells_left: std::cell::Cell<usize>,
}

impl Ctx<'_> {
    /// A capacity hint for a tensor declaring `declared` elements, taken from what is left.
    fn hint(&self, declared: usize) -> usize {
        let left = self.hint_left.get();
        let h = declared.min(left);
        self.hint_left.set(left - h);
        h
    }

    /// Counts one more cell, or refuses past the request's budget.
    fn cell(&self) -> Result<(), String> {
        match self.cells_left.get().checked_sub(1) {
            Some(n) => {
                self.cells_left.set(n);
                Ok(())
            }
            None => Err(
                "the request holds more values than its size allows (--max-cells-per-byte)".into(),
            ),
        }
    }
}

/// Parameters, in key order with the last of a repeated key kept (as the `serde_json` map
/// they were read into before); every value counts against the request's cells.
type Params = BTreeMap<String, Cell>;

struct RestRequest<'a> {
    id: Option<String>,
    parameters: Option<Params>,
    inputs: Vec<RestInput<'a>>,
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
    parameters: Option<Params>,
    data: Option<RestData<'a>>,
}

struct RestOutput {
    name: String,
    parameters: Option<Params>,
}

/// A JSON value as a [`Cell`], each value counted against the request's cells.
struct CellSeed<'c, 'l>(&'c Ctx<'l>);

impl<'de> DeserializeSeed<'de> for CellSeed<'_, '_> {
    type Value = Cell;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Cell, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed<'_, '_> {
    type Value = Cell;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Cell, E> {
        self.0.cell().map_err(E::custom)?;
        Ok(Cell::Null)
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Cell, E> {
        self.0.cell().map_err(E::custom)?;
        Ok(Cell::Bool(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Cell, E> {
        self.0.cell().map_err(E::custom)?;
        Ok(Cell::Int(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Cell, E> {
        self.0.cell().map_err(E::custom)?;
        Ok(i64::try_from(v)
            .map(Cell::Int)
            .unwrap_or_else(|_| Cell::BigInt(v.to_string())))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Cell, E> {
        self.0.cell().map_err(E::custom)?;
        Ok(Cell::Float(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Cell, E> {
        self.0.cell().map_err(E::custom)?;
        Ok(Cell::Str(v.to_string()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Cell, E> {
        self.0.cell().map_err(E::custom)?;
        Ok(Cell::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cell, A::Error> {
        self.0.cell().map_err(A::Error::custom)?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(CellSeed(self.0))? {
            out.push(v);
        }
        Ok(Cell::List(out))
    }
    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Cell, M::Error> {
        self.0.cell().map_err(M::Error::custom)?;
        Ok(Cell::Dict(
            ParamsSeed(self.0, Keep::All)
                .visit_map(map)?
                .into_iter()
                .collect(),
        ))
    }
}

/// A `parameters` object. Values under keys that `keep` refuses are skipped unread (kept as
/// `None`, one cell): parameters the model does not declare are dropped by MLflow, so a
/// large value there costs nothing.
struct ParamsSeed<'c, 'l>(&'c Ctx<'l>, Keep);

/// Which parameter values are read (see [`ParamsSeed`]).
#[derive(Clone, Copy)]
enum Keep {
    /// Every value (nested objects inside a kept value).
    All,
    /// The request's: the protocol's own and those the model's signature declares.
    Request,
    /// A tensor's: the protocol's own only.
    Tensor,
}

impl<'de> DeserializeSeed<'de> for ParamsSeed<'_, '_> {
    type Value = Params;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Params, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ParamsSeed<'_, '_> {
    type Value = Params;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a parameters object")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Params, M::Error> {
        let mut out = Params::new();
        while let Some(k) = map.next_key::<String>()? {
            self.0.cell().map_err(M::Error::custom)?;
            let read = match self.1 {
                Keep::All => true,
                Keep::Request => {
                    RESERVED_PARAMETERS.contains(&k.as_str())
                        || k == "shared_memory_region"
                        || self.0.declared.iter().any(|p| p.name == k)
                }
                Keep::Tensor => TENSOR_PARAMETERS.contains(&k.as_str()),
            };
            let v = if read {
                map.next_value_seed(CellSeed(self.0))?
            } else {
                map.next_value::<IgnoredAny>()?;
                Cell::Null
            };
            out.insert(k, v);
        }
        Ok(out)
    }
}

/// `null` or a parameters object.
struct OptParams<'c, 'l>(&'c Ctx<'l>, Keep);

impl<'de> DeserializeSeed<'de> for OptParams<'_, '_> {
    type Value = Option<Params>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<Params>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for OptParams<'_, '_> {
    type Value = Option<Params>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a parameters object or null")
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Option<Params>, E> {
        Ok(None)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Option<Params>, E> {
        Ok(None)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<Params>, D::Error> {
        ParamsSeed(self.0, self.1).deserialize(d).map(Some)
    }
}

/// A `shape`: at most `--max-tensor-rank` dimensions, refused at the first one past it
/// (before the rest of the list is read).
struct ShapeSeed(usize);

impl<'de> DeserializeSeed<'de> for ShapeSeed {
    type Value = Vec<i64>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<i64>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ShapeSeed {
    type Value = Vec<i64>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a shape (a list of integers)")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<i64>, A::Error> {
        let mut out = Vec::new();
        while let Some(d) = seq.next_element::<i64>()? {
            if out.len() == self.0 {
                return Err(A::Error::custom(format!(
                    "a shape has more than {} dimensions (--max-tensor-rank)",
                    self.0
                )));
            }
            out.push(d);
        }
        Ok(out)
    }
}

/// The `inputs` list: at most `--max-tensors` of them.
struct InputsVisitor<'c, 'l, 'a>(&'c Ctx<'l>, std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for InputsVisitor<'_, '_, 'a> {
    type Value = Vec<RestInput<'a>>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of V2 input tensors")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(input) =
            seq.next_element_seed(InputSeed(self.0, std::marker::PhantomData))?
        {
            if out.len() == self.0.limits.max_tensors {
                return Err(A::Error::custom(format!(
                    "the request has more than {} inputs (--max-tensors)",
                    self.0.limits.max_tensors
                )));
            }
            out.push(input);
        }
        Ok(out)
    }
}

struct InputSeed<'c, 'l, 'a>(&'c Ctx<'l>, std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for InputSeed<'_, '_, 'a> {
    type Value = RestInput<'a>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<RestInput<'a>, D::Error> {
        d.deserialize_map(self)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum InputField {
    Name,
    Shape,
    Datatype,
    Parameters,
    Data,
    #[serde(other)]
    Other,
}

impl<'de: 'a, 'a> Visitor<'de> for InputSeed<'_, '_, 'a> {
    type Value = RestInput<'a>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a V2 input tensor")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<RestInput<'a>, M::Error> {
        let ctx = self.0;
        let (mut name, mut shape, mut datatype, mut parameters, mut data) =
            (None::<String>, None::<Vec<i64>>, None::<String>, None, None);
        while let Some(key) = map.next_key::<InputField>()? {
            match key {
                InputField::Name => name = Some(map.next_value()?),
                InputField::Shape => {
                    shape = Some(map.next_value_seed(ShapeSeed(ctx.limits.max_rank))?)
                }
                InputField::Datatype => datatype = Some(map.next_value()?),
                InputField::Parameters => {
                    parameters = map.next_value_seed(OptParams(ctx, Keep::Tensor))?
                }
                InputField::Data => {
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
                                format!("input '{}': ", bounded(name.as_deref().unwrap_or("?")));
                            RestData::Parsed(map.next_value_seed(DataSeed {
                                ty,
                                capacity: ctx.hint(declared),
                                what: &what,
                            })?)
                        }
                        _ => RestData::Raw(map.next_value()?),
                    });
                }
                InputField::Other => {
                    map.next_value::<IgnoredAny>()?;
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

/// The `outputs` list (`null` or at most `--max-tensors` of them).
struct OutputsSeed<'c, 'l>(&'c Ctx<'l>);

impl<'de> DeserializeSeed<'de> for OutputsSeed<'_, '_> {
    type Value = Option<Vec<RestOutput>>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for OutputsSeed<'_, '_> {
    type Value = Option<Vec<RestOutput>>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of requested outputs")
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(o) = seq.next_element_seed(OutputSeed(self.0))? {
            if out.len() == self.0.limits.max_tensors {
                return Err(A::Error::custom(format!(
                    "the request asks for more than {} outputs (--max-tensors)",
                    self.0.limits.max_tensors
                )));
            }
            out.push(o);
        }
        Ok(Some(out))
    }
}

struct OutputSeed<'c, 'l>(&'c Ctx<'l>);

impl<'de> DeserializeSeed<'de> for OutputSeed<'_, '_> {
    type Value = RestOutput;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<RestOutput, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for OutputSeed<'_, '_> {
    type Value = RestOutput;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a requested output")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<RestOutput, M::Error> {
        let (mut name, mut parameters) = (None::<String>, None);
        while let Some(key) = map.next_key::<InputField>()? {
            match key {
                InputField::Name => name = Some(map.next_value()?),
                InputField::Parameters => {
                    parameters = map.next_value_seed(OptParams(self.0, Keep::Tensor))?
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(RestOutput {
            name: name.ok_or_else(|| M::Error::missing_field("name"))?,
            parameters,
        })
    }
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for RequestSeedFor<'_, '_, 'a> {
    type Value = RestRequest<'a>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<RestRequest<'a>, D::Error> {
        d.deserialize_map(self)
    }
}

/// The whole request body's JSON part.
struct RequestSeedFor<'c, 'l, 'a>(&'c Ctx<'l>, std::marker::PhantomData<&'a ()>);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum RequestField {
    Id,
    Parameters,
    Inputs,
    Outputs,
    #[serde(other)]
    Other,
}

impl<'de: 'a, 'a> Visitor<'de> for RequestSeedFor<'_, '_, 'a> {
    type Value = RestRequest<'a>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a V2 inference request")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<RestRequest<'a>, M::Error> {
        let ctx = self.0;
        let (mut id, mut parameters, mut inputs, mut outputs) = (None, None, None, None);
        while let Some(key) = map.next_key::<RequestField>()? {
            match key {
                RequestField::Id => id = map.next_value::<Option<String>>()?,
                RequestField::Parameters => {
                    parameters = map.next_value_seed(OptParams(ctx, Keep::Request))?
                }
                RequestField::Inputs => {
                    inputs =
                        Some(map.next_value_seed(InputsVisitorSeed(ctx, std::marker::PhantomData))?)
                }
                RequestField::Outputs => outputs = map.next_value_seed(OutputsSeed(ctx))?,
                RequestField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(RestRequest {
            id,
            parameters,
            inputs: inputs.ok_or_else(|| M::Error::missing_field("inputs"))?,
            outputs,
        })
    }
}

struct InputsVisitorSeed<'c, 'l, 'a>(&'c Ctx<'l>, std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for InputsVisitorSeed<'_, '_, 'a> {
    type Value = Vec<RestInput<'a>>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(InputsVisitor(self.0, std::marker::PhantomData))
    }
}

fn invalid(message: impl Into<String>) -> InferError {
    InferError::Invalid(message.into())
}

fn unsupported_parameters(
    what: std::fmt::Arguments<'_>,
    params: Option<&Params>,
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
/// the body carries binary tensors after its JSON. Bounded before anything is allocated by
/// `limits`: inputs and outputs (`--max-tensors`), dimensions (`--max-tensor-rank`),
/// parameter values and `BYTES` elements (cells of `--max-cells-per-byte`), and capacity
/// hints (half the body's bytes for all inputs together, whatever the shapes declare).
///
/// Request parameters that are neither the protocol's nor declared by the model's params
/// schema (`declared`) are kept by name only: MLflow drops them, so their values are skipped.
pub fn parse_request(
    body: &[u8],
    header_len: Option<usize>,
    limits: &Limits,
    declared: &[ParamSpec],
) -> Result<InferRequest, InferError> {
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
    let ctx = Ctx {
        limits,
        declared,
        hint_left: std::cell::Cell::new(json.len() / 2 + 1),
        cells_left: std::cell::Cell::new(limits.budget(body.len()).max_cells),
    };
    let req = {
        let mut de = serde_json::Deserializer::from_slice(json);
        let req = RequestSeedFor(&ctx, std::marker::PhantomData)
            .deserialize(&mut de)
            .and_then(|r| de.end().map(|()| r))
            .map_err(|e| invalid(format!("invalid V2 request: {}", bounded(&e.to_string()))))?;
        req
    };
    let mut params = Vec::new();
    let mut content_type = None;
    let mut binary_output = false;
    for (k, v) in req.parameters.unwrap_or_default() {
        match (k.as_str(), v) {
            ("content_type", Cell::Str(s)) => content_type = Some(s),
            ("binary_data_output", Cell::Bool(b)) => binary_output = b,
            (k, v) if !RESERVED_PARAMETERS.contains(&k) => {
                if k == "shared_memory_region" {
                    return Err(invalid("shared memory is not supported by this server"));
                }
                params.push((k.to_string(), v));
            }
            _ => {}
        }
    }
    let mut inputs = Vec::with_capacity(req.inputs.len());
    let mut cells_left = ctx.cells_left.get();
    for input in req.inputs {
        let name = input.name;
        let label = InputLabel(&name);
        let datatype = Datatype::parse(&input.datatype).ok_or_else(|| {
            invalid(format!(
                "{label}: unknown datatype '{}'",
                bounded(&input.datatype)
            ))
        })?;
        let shape = check_shape(label, &input.shape, limits)?;
        unsupported_parameters(format_args!("{label}"), input.parameters.as_ref())?;
        let param = |k: &str| input.parameters.as_ref().and_then(|p| p.get(k));
        let content_type = match param("content_type") {
            Some(Cell::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let declared = shape
            .iter()
            .try_fold(1usize, |a, d| a.checked_mul(*d))
            .unwrap_or(usize::MAX);
        let elements = match (param("binary_data_size"), input.data) {
            (Some(size), None) => {
                let size = match size {
                    Cell::Int(i) => usize::try_from(*i).ok(),
                    _ => None,
                }
                .ok_or_else(|| {
                    invalid(format!(
                        "{label}: binary_data_size must be a non-negative integer"
                    ))
                })?;
                if size > binary.len() {
                    return Err(invalid(format!(
                        "{label}: binary_data_size {size} runs past the end of the body ({} bytes left)",
                        binary.len()
                    )));
                }
                let (mine, rest) = binary.split_at(size);
                binary = rest;
                elements_from_raw(mine, datatype).map_err(|e| invalid(format!("{label}: {e}")))?
            }
            (None, Some(RestData::Parsed(elements))) => elements,
            (None, Some(RestData::Raw(raw))) => {
                elements_from_json(raw.get(), datatype, ctx.hint(declared))
                    .map_err(|e| invalid(format!("{label}: {}", bounded(&e))))?
            }
            (Some(_), Some(_)) => {
                return Err(invalid(format!(
                    "{label} has both data and binary_data_size"
                )))
            }
            (None, None) => return Err(invalid(format!("{label} has no data"))),
        };
        if let Elements::Bytes(b) = &elements {
            cells_left = cells_left.checked_sub(b.len()).ok_or_else(|| {
                invalid("the request holds more values than its size allows (--max-cells-per-byte)")
            })?;
        }
        check_count(label, &shape, elements.len())?;
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
                        format_args!("output '{}'", bounded(&o.name)),
                        o.parameters.as_ref(),
                    )?;
                    let binary = match o.parameters.as_ref().and_then(|p| p.get("binary_data")) {
                        Some(Cell::Bool(b)) => Some(*b),
                        _ => None,
                    };
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
    use serde_json::Value;

    #[test]
    fn hostile_shapes_and_counts_are_refused_while_decoding() {
        let limits = Limits::default();
        // A shape of 100 000 ones: refused at the 65th dimension.
        let ones = vec!["1"; 100_000].join(",");
        let deep = format!(
            r#"{{"inputs":[{{"name":"x","shape":[{ones}],"datatype":"FP32","data":[1]}}]}}"#
        );
        let e = parse_request(deep.as_bytes(), None, &limits, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--max-tensor-rank"), "{e}");
        // More inputs than --max-tensors.
        let one = r#"{"name":"x","shape":[1],"datatype":"FP32","data":[1]}"#;
        let many = format!(r#"{{"inputs":[{}]}}"#, vec![one; 1025].join(","));
        let e = parse_request(many.as_bytes(), None, &limits, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--max-tensors"), "{e}");
        // Parameters beyond the body's cells.
        let tight = Limits {
            cells_per_byte: 0,
            ..limits
        };
        let body = format!(
            r#"{{"parameters":{{"p":[{}]}},"inputs":[{one}]}}"#,
            vec!["0"; (1 << 20) + 1].join(",")
        );
        let declared = [ParamSpec {
            name: "p".into(),
            ty: crate::model::signature::ParamType::Scalar(crate::model::signature::ColType::Long),
            default: Cell::Null,
            is_list: true,
        }];
        let e = parse_request(body.as_bytes(), None, &tight, &declared)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--max-cells-per-byte"), "{e}");
        // Undeclared, the same list is skipped unread.
        let r = parse_request(body.as_bytes(), None, &tight, &[]).unwrap();
        assert_eq!(r.params, vec![("p".to_string(), Cell::Null)]);
    }

    #[test]
    fn declared_shapes_reserve_no_more_than_the_body_could_hold() {
        // 2 000 inputs each declaring 65 536 BYTES elements: the hints together stay under
        // half the body's bytes, so the request costs in proportion to its size.
        let one = r#"{"name":"x","shape":[65536],"datatype":"BYTES","data":[]}"#;
        let body = format!(r#"{{"inputs":[{}]}}"#, vec![one; 1000].join(","));
        let ctx = Ctx {
            limits: &Limits::default(),
            declared: &[],
            hint_left: std::cell::Cell::new(body.len() / 2 + 1),
            cells_left: std::cell::Cell::new(usize::MAX),
        };
        let mut total = 0;
        for _ in 0..1000 {
            total += ctx.hint(65536);
        }
        assert!(total <= body.len() / 2 + 1);
        assert!(parse_request(body.as_bytes(), None, &Limits::default(), &[]).is_err());
    }

    #[test]
    fn json_and_binary_requests_read_the_same() {
        let json = br#"{"id":"r1","parameters":{"content_type":"np","temperature":0.5},
            "inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4.5]]}],
            "outputs":[{"name":"y","parameters":{"binary_data":true}}]}"#;
        let a = parse_request(json, None, &Limits::default(), &[]).unwrap();
        assert_eq!(a.id.as_deref(), Some("r1"));
        assert_eq!(a.content_type.as_deref(), Some("np"));
        assert_eq!(a.params.len(), 1);
        assert_eq!(a.outputs.as_ref().unwrap()[0].binary, Some(true));
        let header = br#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","parameters":{"binary_data_size":16}}]}"#;
        let mut body = header.to_vec();
        for x in [1f32, 2.0, 3.0, 4.5] {
            body.extend_from_slice(&x.to_le_bytes());
        }
        let b = parse_request(&body, Some(header.len()), &Limits::default(), &[]).unwrap();
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
            parse_request(late, None, &Limits::default(), &[])
                .unwrap()
                .inputs,
            parse_request(early, None, &Limits::default(), &[])
                .unwrap()
                .inputs
        );
        let bad = br#"{"inputs":[{"name":"x","shape":[1],"datatype":"INT8","data":[1000]}]}"#;
        let e = parse_request(bad, None, &Limits::default(), &[])
            .unwrap_err()
            .to_string();
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
            assert!(parse_request(body, len, &Limits::default(), &[]).is_err(), "{}", String::from_utf8_lossy(body));
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
