//! V2 model metadata (`GET /v2/models/{name}`): tensors named, typed and shaped from the
//! MLflow signature with MLServer's mapping (columns as `[-1, 1]` tensors, `boolean`→`BOOL`,
//! `integer`→`INT32`, `long`→`INT64`, `float`→`FP32`, `double`→`FP64`,
//! `string`/`binary`/`datetime`→`BYTES`; tensor specs keep their dtype and shape; unnamed
//! specs are `input-{i}` / `output-{i}`), each with MLServer's `content_type` parameter, and
//! the model's (`pd`, `dict`, `np`); without a signature, the runtime graph's inputs and
//! outputs (MLServer lists none). Checked against MLServer 1.7.1's recorded answers.

use runtime_api::{DType, IoKind, IoSpec};
use serde_json::{json, Value};

use crate::model::mlmodel::Flavor;
use crate::model::signature::{ColType, InputSchema};
use crate::model::MlModel;

use super::ModelIdentity;

/// One tensor's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataTensor {
    /// Its name.
    pub name: String,
    /// V2 datatype (`FP32`, `BYTES`, …).
    pub datatype: &'static str,
    /// Shape; `-1` is variable.
    pub shape: Vec<i64>,
    /// MLServer's content type for it (`np`, `str`, `base64`, `datetime`).
    pub content_type: &'static str,
}

impl MetadataTensor {
    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "datatype": self.datatype,
            "shape": self.shape,
            "parameters": {"content_type": self.content_type},
        })
    }
}

/// The V2 datatype of a numpy dtype.
pub fn datatype_of(dtype: DType) -> &'static str {
    match dtype {
        DType::Bool => "BOOL",
        DType::I8 => "INT8",
        DType::I16 => "INT16",
        DType::I32 => "INT32",
        DType::I64 => "INT64",
        DType::U8 => "UINT8",
        DType::U16 => "UINT16",
        DType::U32 => "UINT32",
        DType::U64 => "UINT64",
        DType::F16 => "FP16",
        DType::F32 => "FP32",
        DType::F64 => "FP64",
        DType::Str => "BYTES",
    }
}

/// A column type's V2 datatype and MLServer content type.
fn column_type(ty: &ColType) -> (&'static str, &'static str) {
    match ty {
        ColType::Boolean => ("BOOL", "np"),
        ColType::Integer => ("INT32", "np"),
        ColType::Long => ("INT64", "np"),
        ColType::Float => ("FP32", "np"),
        ColType::Double => ("FP64", "np"),
        ColType::String => ("BYTES", "str"),
        ColType::Binary => ("BYTES", "base64"),
        ColType::Datetime => ("BYTES", "datetime"),
        ColType::Complex(_) => ("BYTES", "str"),
    }
}

/// The tensors of a signature schema (`prefix` names unnamed specs).
pub fn schema_tensors(schema: &InputSchema, prefix: &str) -> Vec<MetadataTensor> {
    let name = |n: &Option<String>, i: usize| n.clone().unwrap_or_else(|| format!("{prefix}{i}"));
    match schema {
        InputSchema::Columns(cols) => cols
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (datatype, content_type) = column_type(&c.ty);
                MetadataTensor {
                    name: name(&c.name, i),
                    datatype,
                    shape: vec![-1, 1],
                    content_type,
                }
            })
            .collect(),
        InputSchema::Tensors(tensors) => tensors
            .iter()
            .enumerate()
            .map(|(i, t)| MetadataTensor {
                name: name(&t.name, i),
                datatype: t.dtype.map_or("BYTES", datatype_of),
                shape: t.shape.clone(),
                content_type: "np",
            })
            .collect(),
    }
}

/// The tensors of the runtime graph, for models without a signature.
pub fn graph_tensors(specs: &[IoSpec]) -> Vec<MetadataTensor> {
    specs
        .iter()
        .map(|s| match &s.kind {
            IoKind::Tensor { dtype, shape, .. } => MetadataTensor {
                name: s.name.clone(),
                datatype: dtype.map_or("BYTES", datatype_of),
                shape: shape.clone(),
                content_type: "np",
            },
            IoKind::Other { .. } => MetadataTensor {
                name: s.name.clone(),
                datatype: "BYTES",
                shape: vec![-1],
                content_type: "np",
            },
        })
        .collect()
}

/// `platform` of the V2 metadata, as Triton names these model formats.
pub fn platform(mlmodel: &MlModel) -> &'static str {
    match mlmodel.flavor {
        Flavor::Onnx(_) => "onnx_onnxv1",
        Flavor::PyTorch(_) => "pytorch_torchscript",
        // Triton's FIL backend names these model types `xgboost_ubj`/`xgboost_json` and
        // `lightgbm`; the flavor is what a client can act on.
        Flavor::Xgboost(_) => "xgboost",
        Flavor::Lightgbm(_) => "lightgbm",
        // Triton's Python backend.
        Flavor::Python(_) => "python",
    }
}

/// MLServer's model-level content type: `pd` for a column signature, `dict` for named
/// tensors, `np` for one unnamed tensor; none without an input signature.
pub fn model_content_type(schema: Option<&InputSchema>) -> Option<&'static str> {
    match schema? {
        InputSchema::Columns(_) => Some("pd"),
        s @ InputSchema::Tensors(_) if s.has_names() => Some("dict"),
        InputSchema::Tensors(_) => Some("np"),
    }
}

/// A model's input and output tensors: from its signature, else from the runtime graph.
pub fn model_tensors(
    mlmodel: &MlModel,
    graph_inputs: &[IoSpec],
    graph_outputs: &[IoSpec],
) -> (Vec<MetadataTensor>, Vec<MetadataTensor>) {
    let sig = &mlmodel.signature;
    let inputs = match &sig.inputs {
        Some(s) => schema_tensors(s, "input-"),
        None => graph_tensors(graph_inputs),
    };
    let outputs = match &sig.outputs {
        Some(s) => schema_tensors(s, "output-"),
        None => graph_tensors(graph_outputs),
    };
    (inputs, outputs)
}

/// The server's V2 name, version and protocol extensions.
pub const SERVER_NAME: &str = "mlflow-serve";
/// The Open Inference Protocol extensions served (Triton's binary tensors, over REST).
pub const EXTENSIONS: [&str; 1] = ["binary_tensor_data"];

/// The body of `GET /v2/models/{name}[/versions/{version}]`, for a model and its runtime
/// graph's inputs and outputs.
pub fn model_metadata(
    mlmodel: &MlModel,
    graph_inputs: &[IoSpec],
    graph_outputs: &[IoSpec],
    id: &ModelIdentity,
) -> Value {
    let sig = &mlmodel.signature;
    let parameters = match model_content_type(sig.inputs.as_ref()) {
        Some(ct) => json!({ "content_type": ct }),
        None => json!({}),
    };
    let (inputs, outputs) = model_tensors(mlmodel, graph_inputs, graph_outputs);
    json!({
        "name": id.name,
        "versions": id.version.iter().collect::<Vec<_>>(),
        "platform": platform(mlmodel),
        "inputs": inputs.iter().map(MetadataTensor::to_json).collect::<Vec<_>>(),
        "outputs": outputs.iter().map(MetadataTensor::to_json).collect::<Vec<_>>(),
        "parameters": parameters,
    })
}

/// The body of `GET /v2`.
pub fn server_metadata() -> Value {
    json!({
        "name": SERVER_NAME,
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": EXTENSIONS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::signature::Signature;

    #[test]
    fn columns_follow_mlservers_mapping() {
        let sig = Signature::from_json_strings(
            Some(r#"[{"type": "double", "name": "a", "required": true}, {"type": "string", "required": true}, {"type": "long", "name": "c", "required": true}, {"type": "binary", "name": "d", "required": true}, {"type": "boolean", "name": "e", "required": true}, {"type": "integer", "name": "f", "required": true}, {"type": "float", "name": "g", "required": true}, {"type": "datetime", "name": "h", "required": true}]"#),
            None,
            None,
        )
        .unwrap();
        let t = schema_tensors(sig.inputs.as_ref().unwrap(), "input-");
        let got: Vec<(&str, &str, &str)> = t
            .iter()
            .map(|m| (m.name.as_str(), m.datatype, m.content_type))
            .collect();
        assert_eq!(
            got,
            [
                ("a", "FP64", "np"),
                ("input-1", "BYTES", "str"),
                ("c", "INT64", "np"),
                ("d", "BYTES", "base64"),
                ("e", "BOOL", "np"),
                ("f", "INT32", "np"),
                ("g", "FP32", "np"),
                ("h", "BYTES", "datetime"),
            ]
        );
        assert!(t.iter().all(|m| m.shape == [-1, 1]));
    }

    #[test]
    fn tensors_keep_dtype_and_shape() {
        let sig = Signature::from_json_strings(
            Some(r#"[{"type": "tensor", "tensor-spec": {"dtype": "uint8", "shape": [-1, 28, 28]}}]"#),
            Some(r#"[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 10]}, "name": "probs"}]"#),
            None,
        )
        .unwrap();
        let i = schema_tensors(sig.inputs.as_ref().unwrap(), "input-");
        assert_eq!(
            (i[0].name.as_str(), i[0].datatype, i[0].shape.clone()),
            ("input-0", "UINT8", vec![-1, 28, 28])
        );
        let o = schema_tensors(sig.outputs.as_ref().unwrap(), "output-");
        assert_eq!(
            (o[0].name.as_str(), o[0].datatype, o[0].shape.clone()),
            ("probs", "FP32", vec![-1, 10])
        );
    }
}
