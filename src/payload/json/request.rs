//! Reading an `/invocations` JSON body into a typed [`Request`], guided by the signature
//! (MLflow's `mlflow/pyfunc/scoring_server/__init__.py`, `infer_and_parse_data`): decoding
//! (UTF-8/16/32 as `json.loads` detects them), the top-level keys, `params`, and the LLM
//! forms. The input itself is read by [`frame`](super::frame) (`dataframe_split`,
//! `dataframe_records`) and [`tensor`](super::tensor) (`instances`, `inputs`).
//!
//! The common path reads the body once: a cheap structural scan finds the top-level keys,
//! then the typed readers walk the bytes straight into typed buffers, checking them as they
//! go. Only when that pass fails is the document validated as a whole, so that a syntax error
//! anywhere is reported the way `json.loads` reports it (Python decodes everything first).
//! Documents the structural scan cannot handle take that validate-first path from the start.

use std::borrow::Cow;

use super::errors::{internal, invalid};
use super::frame::read_records;
use super::scan::{self, Kind, Num, Scanner};
use super::split::read_split;
use super::tensor::read_tf;
use super::validate;
use crate::model::signature::{InputSchema, ParamSpec};
use crate::payload::data::Input;
use crate::payload::{CellBudget, PayloadError, Request};
use crate::pyjson::{bytes_repr, str_repr, unicode_error_repr, Cell};

const FORMATS: [&str; 4] = [
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
];
const LLM_KEYS: [&str; 3] = ["messages", "prompt", "input"];

/// `The input must be a JSON dictionary with exactly one of the input fields {...}`.
pub const REQUIRED_INPUT_FORMAT: &str = "The input must be a JSON dictionary with exactly one of the input fields {'dataframe_records', 'dataframe_split', 'instances', 'inputs'}";

/// The fixed paragraph MLflow appends to protocol errors.
pub const SCORING_PROTOCOL_CHANGE_INFO: &str = "IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0. If you are seeing this error, you are likely using an outdated scoring request format. To resolve the error, either update your request format or adjust your MLflow Model's requirements file to specify an older version of MLflow (for example, change the 'mlflow' requirement specifier to 'mlflow==1.30.0'). If you are making a request using the MLflow client (e.g. via `mlflow.pyfunc.spark_udf()`), upgrade your MLflow client to a version >= 2.0 in order to use the new request format. For more information about the updated MLflow Model scoring protocol in MLflow 2.0, see https://mlflow.org/docs/latest/models.html#deploy-mlflow-models.";

/// Decodes the body like `json.loads(bytes)`: UTF-8 (with or without BOM), UTF-16/32 by BOM
/// or zero-byte pattern; anything else is a `UnicodeDecodeError`.
fn decode(body: &[u8]) -> Result<Cow<'_, str>, PayloadError> {
    let utf16 = |b: &[u8], le: bool| -> Option<String> {
        if !b.len().is_multiple_of(2) {
            return None;
        }
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units).ok()
    };
    let converted = match body {
        [0xEF, 0xBB, 0xBF, rest @ ..] => return utf8(body, rest),
        [0xFF, 0xFE, 0, 0, ..] | [0, 0, 0xFE, 0xFF, ..] => None,
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        [a, 0, b, 0, ..] if *a != 0 && *b != 0 => utf16(body, true),
        [0, a, 0, b, ..] if *a != 0 && *b != 0 => utf16(body, false),
        _ => return utf8(body, body),
    };
    converted
        .map(Cow::Owned)
        .ok_or_else(|| json_error(body, "UnicodeDecodeError('utf-16', ...)".to_string()))
}

fn utf8<'a>(whole: &[u8], b: &'a [u8]) -> Result<Cow<'a, str>, PayloadError> {
    match std::str::from_utf8(b) {
        Ok(s) => Ok(Cow::Borrowed(s)),
        Err(e) => Err(json_error(whole, unicode_error_repr(b, &e))),
    }
}

fn json_error(body: &[u8], repr: String) -> PayloadError {
    PayloadError::InvalidInput(format!(
        "Ensure that input is a valid JSON formatted string. Error: '{repr}'\nInput: \n{}\n",
        bytes_repr(body)
    ))
}

/// `repr(JSONDecodeError(...))`.
fn decode_error_repr(e: &scan::JsonError, doc: &str) -> String {
    format!("JSONDecodeError({})", str_repr(&e.python_message(doc)))
}

/// Parses a JSON `/invocations` body.
///
/// Python decodes the whole document first, so a syntax error anywhere wins over any other
/// error. The common case reads in one pass: the top-level keys come from a cheap structural
/// scan, then the typed pass reads (and checks) every byte; only when that pass fails is the
/// document validated, so that a syntax error is reported the way `json.loads` reports it.
/// Documents the structural scan cannot handle take the validate-first path.
pub fn parse(
    body: &[u8],
    schema: Option<&InputSchema>,
    params_schema: Option<&[ParamSpec]>,
    budget: CellBudget,
) -> Result<Request, PayloadError> {
    let doc = decode(body)?;
    if let Some(request) = read_streaming(&doc, schema, budget) {
        return Ok(request);
    }
    if let Some(keys) = validate::top_level_keys(&doc) {
        if !keys.iter().any(|k| LLM_KEYS.contains(&k.as_str())) {
            return match read_object(&doc, keys, schema, budget) {
                Ok(r) => Ok(r),
                Err(e) => {
                    validate::validate(&doc)
                        .map_err(|je| json_error(body, decode_error_repr(&je, &doc)))?;
                    Err(e)
                }
            };
        }
    }
    parse_validated(body, &doc, schema, params_schema, budget)
}

/// The common case in a single pass over the bytes: a top-level object with exactly one
/// input format key (plus `params` or other keys), no LLM keys, and a typed read that
/// succeeds. `None` for anything else, which the callers then answer exactly (error
/// precedence included) through the key scan or the validate-first path.
fn read_streaming(doc: &str, schema: Option<&InputSchema>, budget: CellBudget) -> Option<Request> {
    let mut s = Scanner::new(doc);
    if s.kind().ok()? != Kind::Object {
        return None;
    }
    let mut format: Option<Cow<'_, str>> = None;
    let mut input = None;
    let mut params = None;
    let mut key = s.object_open().ok()?;
    while let Some(k) = key {
        if LLM_KEYS.contains(&&*k) {
            return None;
        }
        if FORMATS.contains(&&*k) {
            if format.as_deref().is_some_and(|f| f != k) {
                return None;
            }
            input = Some(read_input(&k, &mut s, schema, budget).ok()?);
            format = Some(k);
        } else if k == "params" {
            params = Some(s.cell(1).ok()?);
        } else {
            s.skip(1).ok()?;
        }
        key = s.object_next().ok()?;
    }
    s.ws();
    if s.pos != doc.len() {
        return None;
    }
    Some(Request {
        input: input?,
        params: params.filter(|p| *p != Cell::Null),
        unwrapped: false,
    })
}

/// The validate-first path: `json.loads`' checks, then the typed read.
fn parse_validated(
    body: &[u8],
    doc: &str,
    schema: Option<&InputSchema>,
    params_schema: Option<&[ParamSpec]>,
    budget: CellBudget,
) -> Result<Request, PayloadError> {
    let keys = validate::validate(doc).map_err(|e| json_error(body, decode_error_repr(&e, doc)))?;
    let mut s = Scanner::new(doc);
    let Some(keys) = keys else {
        let what = match s.kind().unwrap_or(Kind::Null) {
            Kind::Array => {
                return Err(invalid(format!(
                    "{REQUIRED_INPUT_FORMAT}. Received a list."
                )))
            }
            Kind::String => "str",
            Kind::Bool => "bool",
            Kind::Null => "NoneType",
            Kind::Number => match s.number() {
                Ok(Num::Float(_)) => "float",
                _ => "int",
            },
            Kind::Object => "dict",
        };
        return Err(invalid(format!(
            "{REQUIRED_INPUT_FORMAT}. Received unexpected input type '<class '{what}'>."
        )));
    };

    if keys.iter().any(|k| LLM_KEYS.contains(&k.as_str())) {
        return parse_llm(&mut s, params_schema);
    }
    read_object(doc, keys, schema, budget)
}

/// Reads the top-level object (whose keys are `keys`) into a typed request, checking every
/// byte it reads, trailing whitespace included.
fn read_object(
    doc: &str,
    keys: Vec<String>,
    schema: Option<&InputSchema>,
    budget: CellBudget,
) -> Result<Request, PayloadError> {
    let mut s = Scanner::new(doc);
    let formats: Vec<&String> = keys
        .iter()
        .filter(|k| FORMATS.contains(&k.as_str()))
        .collect();
    if formats.len() != 1 {
        let list = formats
            .iter()
            .map(|k| str_repr(k))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(PayloadError::BadRequest(format!(
            "{REQUIRED_INPUT_FORMAT}. Received dictionary with input fields: [{list}]. {SCORING_PROTOCOL_CHANGE_INFO}"
        )));
    }
    let format = formats[0].as_str();
    let mut input = None;
    let mut params = None;
    let mut key = s.object_open().map_err(internal)?;
    while let Some(k) = key {
        if k == format {
            input = Some(read_input(format, &mut s, schema, budget)?);
        } else if k == "params" {
            params = Some(s.cell(1).map_err(internal)?);
        } else {
            s.skip(1).map_err(internal)?;
        }
        key = s.object_next().map_err(internal)?;
    }
    s.ws();
    if s.pos != doc.len() {
        return Err(internal(scan::JsonError {
            msg: "Extra data",
            pos: s.pos,
        }));
    }
    let input = input.ok_or_else(|| PayloadError::BadRequest("missing input".into()))?;
    let params = params.filter(|p| *p != Cell::Null);
    Ok(Request {
        input,
        params,
        unwrapped: false,
    })
}

/// Reads the value of the input format key `format` (one of [`FORMATS`]).
fn read_input(
    format: &str,
    s: &mut Scanner<'_>,
    schema: Option<&InputSchema>,
    budget: CellBudget,
) -> Result<Input, PayloadError> {
    match format {
        "dataframe_split" => read_split(s, budget),
        "dataframe_records" => read_records(s, budget),
        "inputs" => read_tf(s, schema, false, budget),
        _ => read_tf(s, schema, true, budget),
    }
}

fn parse_llm(
    s: &mut Scanner<'_>,
    params_schema: Option<&[ParamSpec]>,
) -> Result<Request, PayloadError> {
    let Cell::Dict(all) = s.cell(0).map_err(internal)? else {
        return Err(PayloadError::BadRequest("expected an object".into()));
    };
    let names: Vec<&str> = params_schema
        .map(|p| p.iter().map(|p| p.name.as_str()).collect())
        .unwrap_or_default();
    let (params, data): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|(k, _)| names.contains(&k.as_str()));
    Ok(Request {
        input: Input::Other(Cell::Dict(data)),
        params: Some(Cell::Dict(params)),
        unwrapped: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::signature::Signature;

    /// The validate-first answer, the reference the one-pass path must reproduce.
    fn reference(body: &[u8], schema: Option<&InputSchema>) -> Result<Request, PayloadError> {
        let doc = decode(body)?;
        parse_validated(body, &doc, schema, None, CellBudget::unlimited())
    }

    fn bodies() -> Vec<Vec<u8>> {
        let seeds = [
            r#"{"dataframe_split": {"columns": ["a", "b"], "data": [[1.5, 2], [3, 4.25]]}}"#,
            r#"{"dataframe_records": [{"a": 1, "b": "x"}, {"a": null, "b": true}], "params": {"k": [1, 2]}}"#,
            r#"{"inputs": [[1.0, 2.0], [3.0, -4e3]], "extra": {"deep": [[["s\"q"]]]}}"#,
            r#"{"instances": [{"a": [1, 2]}, {"a": [3, 4]}]}"#,
            r#"{"inputs": {"a": [1, 2], "b": ["x", "y"]}, "params": null}"#,
            r#" {"dataframe_split": {"data": [[NaN, Infinity, -Infinity]]}} "#,
        ];
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let noise = b"{}[],:\"\\ 0123456789.eE+-tfnaulsxNI";
        for seed in seeds {
            let b = seed.as_bytes();
            out.push(b.to_vec());
            for cut in 0..b.len() {
                out.push(b[..cut].to_vec());
                let mut del = b.to_vec();
                del.remove(cut);
                out.push(del);
            }
            for _ in 0..400 {
                let mut m = b.to_vec();
                for _ in 0..1 + next() % 3 {
                    let at = (next() as usize) % (m.len() + 1);
                    let c = noise[(next() as usize) % noise.len()];
                    if next() % 2 == 0 && at < m.len() {
                        m[at] = c;
                    } else {
                        m.insert(at, c);
                    }
                }
                out.push(m);
            }
        }
        for depth in [100, 300, 600] {
            let deep = format!(
                r#"{{"inputs": [[1.0, 2.0]], "x": {}1{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            out.push(deep.clone().into_bytes());
            out.push(deep.as_bytes()[..deep.len() - 3].to_vec());
        }
        out
    }

    #[test]
    fn one_pass_parse_answers_exactly_as_validate_first() {
        let cols = Signature::from_json_strings(
            Some(r#"[{"type": "double", "name": "a"}, {"type": "long", "name": "b"}]"#),
            None,
            None,
        )
        .unwrap();
        let tensor = Signature::from_json_strings(
            Some(r#"[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}}]"#),
            None,
            None,
        )
        .unwrap();
        let mut checked = 0;
        for body in bodies() {
            for schema in [None, cols.inputs.as_ref(), tensor.inputs.as_ref()] {
                let got = parse(&body, schema, None, CellBudget::unlimited());
                let want = reference(&body, schema);
                assert_eq!(
                    format!("{got:?}"),
                    format!("{want:?}"),
                    "body {:?}",
                    String::from_utf8_lossy(&body)
                );
                checked += 1;
            }
        }
        assert!(checked > 5000, "{checked}");
    }
}
