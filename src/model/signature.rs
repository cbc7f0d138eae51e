//! Signature types (ColSpec, TensorSpec, ParamSpec) read from the MLmodel JSON strings,
//! with the Python `repr` forms MLflow prints in its error messages (`mlflow/types/schema.py`).

use runtime_api::DType;
use serde::Deserialize;

use crate::pyjson::{shape_repr, str_repr, Cell};

/// A malformed signature.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The JSON string does not parse.
    #[error("{0}")]
    Json(String),
    /// A type name this server does not know.
    #[error("unsupported type {0}")]
    Type(String),
    /// Mixed ColSpec and TensorSpec, or mixed named and unnamed.
    #[error("{0}")]
    Shape(String),
}

/// The data type of a column (ColSpec).
#[derive(Debug, Clone, PartialEq)]
pub enum ColType {
    /// `boolean`
    Boolean,
    /// `integer` (int32)
    Integer,
    /// `long` (int64)
    Long,
    /// `float` (float32)
    Float,
    /// `double` (float64)
    Double,
    /// `string`
    String,
    /// `binary`
    Binary,
    /// `datetime`
    Datetime,
    /// `array`, `object`, `map`, `any`, …: kept as their Python repr; not enforced here.
    Complex(String),
}

impl ColType {
    fn parse(v: &serde_json::Value) -> Result<ColType, SignatureError> {
        let t = v.get("type").and_then(|t| t.as_str()).unwrap_or("");
        Ok(match t {
            "boolean" => ColType::Boolean,
            "integer" => ColType::Integer,
            "long" => ColType::Long,
            "float" => ColType::Float,
            "double" => ColType::Double,
            "string" => ColType::String,
            "binary" => ColType::Binary,
            "datetime" => ColType::Datetime,
            "array" => ColType::Complex(format!(
                "Array({})",
                v.get("items")
                    .map(ColType::parse)
                    .transpose()?
                    .map(|t| t.name())
                    .unwrap_or_default()
            )),
            "map" => ColType::Complex(format!(
                "Map(str -> {})",
                v.get("values")
                    .map(ColType::parse)
                    .transpose()?
                    .map(|t| format!("DataType.{}", t.name()))
                    .unwrap_or_default()
            )),
            "object" => ColType::Complex("Object".into()),
            "any" => ColType::Complex("Any".into()),
            other => return Err(SignatureError::Type(other.to_string())),
        })
    }

    /// The MLflow DataType name (`double`, `long`, …).
    pub fn name(&self) -> String {
        match self {
            ColType::Boolean => "boolean".into(),
            ColType::Integer => "integer".into(),
            ColType::Long => "long".into(),
            ColType::Float => "float".into(),
            ColType::Double => "double".into(),
            ColType::String => "string".into(),
            ColType::Binary => "binary".into(),
            ColType::Datetime => "datetime".into(),
            ColType::Complex(s) => s.clone(),
        }
    }

    /// The numpy dtype name used in parse-time cast messages (`float64`, `<class 'object'>`).
    pub fn numpy_name(&self) -> String {
        match self {
            ColType::Boolean => "bool".into(),
            ColType::Integer => "int32".into(),
            ColType::Long => "int64".into(),
            ColType::Float => "float32".into(),
            ColType::Double => "float64".into(),
            ColType::String | ColType::Binary => "<class 'object'>".into(),
            ColType::Datetime => "datetime64[ns]".into(),
            ColType::Complex(s) => s.clone(),
        }
    }
}

/// One column of a column-based signature.
#[derive(Debug, Clone, PartialEq)]
pub struct ColSpec {
    /// Column name (`None` for unnamed schemas).
    pub name: Option<String>,
    /// Data type.
    pub ty: ColType,
    /// `required` (scalar types default to true; complex types without the key are optional).
    pub required: bool,
}

impl ColSpec {
    /// `'fixed acidity': double (required)`.
    pub fn repr(&self) -> String {
        let req = if self.required {
            "required"
        } else {
            "optional"
        };
        match &self.name {
            Some(n) => format!("{}: {} ({req})", str_repr(n), self.ty.name()),
            None => format!("{} ({req})", self.ty.name()),
        }
    }
}

/// One tensor of a tensor-based signature.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    /// Input name (`None` for the single unnamed tensor).
    pub name: Option<String>,
    /// Element type; `None` for dtypes without a runtime equivalent (`object`, `bytes`…).
    pub dtype: Option<DType>,
    /// numpy dtype name as written.
    pub dtype_name: String,
    /// Shape; `-1` is a wildcard.
    pub shape: Vec<i64>,
}

impl TensorSpec {
    /// `Tensor('float32', (-1, 11))`, named `'a': Tensor(...)`.
    pub fn repr(&self) -> String {
        let t = format!(
            "Tensor({}, {})",
            str_repr(&self.dtype_name),
            shape_repr(&self.shape)
        );
        match &self.name {
            Some(n) => format!("{}: {t}", str_repr(n)),
            None => t,
        }
    }
}

/// The input (or output) schema.
#[derive(Debug, Clone, PartialEq)]
pub enum InputSchema {
    /// ColSpecs, all named or all unnamed.
    Columns(Vec<ColSpec>),
    /// TensorSpecs, all named or a single unnamed one.
    Tensors(Vec<TensorSpec>),
}

impl InputSchema {
    /// Python list repr of the specs.
    pub fn repr(&self) -> String {
        let items: Vec<String> = match self {
            InputSchema::Columns(c) => c.iter().map(ColSpec::repr).collect(),
            InputSchema::Tensors(t) => t.iter().map(TensorSpec::repr).collect(),
        };
        format!("[{}]", items.join(", "))
    }

    /// True when the specs carry names.
    pub fn has_names(&self) -> bool {
        match self {
            InputSchema::Columns(c) => c.first().is_some_and(|c| c.name.is_some()),
            InputSchema::Tensors(t) => t.first().is_some_and(|t| t.name.is_some()),
        }
    }
}

/// Scalar types a param can have.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamType {
    /// A scalar MLflow DataType.
    Scalar(ColType),
    /// `object` (validated loosely).
    Object,
}

/// One entry of the params schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// Param name.
    pub name: String,
    /// Declared type.
    pub ty: ParamType,
    /// Default value.
    pub default: Cell,
    /// `true` for shape `(-1,)`.
    pub is_list: bool,
}

impl ParamSpec {
    /// `'k': long (default: 3)`, `'ids': long (default: [1, 2]) (shape: (-1,))`.
    pub fn repr(&self) -> String {
        let ty = match &self.ty {
            ParamType::Scalar(t) => t.name(),
            ParamType::Object => "object".into(),
        };
        let default = match (&self.ty, &self.default) {
            (ParamType::Scalar(ColType::Datetime), Cell::Str(s)) => {
                s.trim_end_matches("T00:00:00").replace('T', " ")
            }
            (_, d) => d.py_str(),
        };
        let mut s = format!("{}: {ty} (default: {default})", str_repr(&self.name));
        if self.is_list {
            s.push_str(" (shape: (-1,))");
        }
        s
    }
}

/// Inputs, outputs and params of a model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signature {
    /// Input schema, if any.
    pub inputs: Option<InputSchema>,
    /// Output schema, if any.
    pub outputs: Option<InputSchema>,
    /// Params schema, if any.
    pub params: Option<Vec<ParamSpec>>,
}

#[derive(Deserialize)]
struct RawParam {
    name: String,
    #[serde(alias = "dtype", rename = "type")]
    ty: String,
    default: serde_json::Value,
    shape: Option<Vec<i64>>,
}

impl Signature {
    /// Parses the three JSON strings stored under `signature:` in MLmodel.
    pub fn from_json_strings(
        inputs: Option<&str>,
        outputs: Option<&str>,
        params: Option<&str>,
    ) -> Result<Signature, SignatureError> {
        Ok(Signature {
            inputs: inputs.map(parse_schema).transpose()?,
            outputs: outputs.map(parse_schema).transpose()?,
            params: params.map(parse_params).transpose()?,
        })
    }
}

fn parse_schema(s: &str) -> Result<InputSchema, SignatureError> {
    let items: Vec<serde_json::Value> =
        serde_json::from_str(s).map_err(|e| SignatureError::Json(e.to_string()))?;
    let is_tensor =
        |v: &serde_json::Value| v.get("type").and_then(|t| t.as_str()) == Some("tensor");
    if items.iter().all(is_tensor) && !items.is_empty() {
        let specs = items
            .iter()
            .map(|v| {
                let ts = v
                    .get("tensor-spec")
                    .ok_or_else(|| SignatureError::Json("tensor-spec missing".into()))?;
                let dtype_name = ts
                    .get("dtype")
                    .and_then(|d| d.as_str())
                    .unwrap_or("")
                    .to_string();
                let shape = ts
                    .get("shape")
                    .and_then(|s| s.as_array())
                    .map(|a| a.iter().filter_map(|d| d.as_i64()).collect())
                    .unwrap_or_default();
                Ok(TensorSpec {
                    name: v.get("name").and_then(|n| n.as_str()).map(str::to_string),
                    dtype: DType::from_numpy_name(&dtype_name),
                    dtype_name,
                    shape,
                })
            })
            .collect::<Result<Vec<_>, SignatureError>>()?;
        if specs.len() > 1 && specs.iter().any(|s| s.name.is_none()) {
            return Err(SignatureError::Shape(
                "more than one unnamed TensorSpec".into(),
            ));
        }
        return Ok(InputSchema::Tensors(specs));
    }
    if items.iter().any(is_tensor) {
        return Err(SignatureError::Shape("mixed ColSpec and TensorSpec".into()));
    }
    let specs = items
        .iter()
        .map(|v| {
            let ty = ColType::parse(v)?;
            let default_required = !matches!(ty, ColType::Complex(_));
            Ok(ColSpec {
                name: v.get("name").and_then(|n| n.as_str()).map(str::to_string),
                required: v
                    .get("required")
                    .and_then(|r| r.as_bool())
                    .unwrap_or(default_required),
                ty,
            })
        })
        .collect::<Result<Vec<_>, SignatureError>>()?;
    Ok(InputSchema::Columns(specs))
}

fn parse_params(s: &str) -> Result<Vec<ParamSpec>, SignatureError> {
    let raw: Vec<RawParam> =
        serde_json::from_str(s).map_err(|e| SignatureError::Json(e.to_string()))?;
    raw.into_iter()
        .map(|p| {
            let ty = if p.ty == "object" {
                ParamType::Object
            } else {
                ParamType::Scalar(ColType::parse(&serde_json::json!({ "type": p.ty }))?)
            };
            Ok(ParamSpec {
                name: p.name,
                ty,
                default: Cell::from_serde(&p.default),
                is_list: p.shape.is_some(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reprs_match_python() {
        let s = parse_schema(r#"[{"type": "double", "name": "fixed acidity", "required": true}, {"type": "long", "name": "b", "required": false}]"#).unwrap();
        assert_eq!(
            s.repr(),
            "['fixed acidity': double (required), 'b': long (optional)]"
        );
        let t = parse_schema(
            r#"[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 11]}}]"#,
        )
        .unwrap();
        assert_eq!(t.repr(), "[Tensor('float32', (-1, 11))]");
        assert_eq!(shape_repr(&[11]), "(11,)");
    }
}
