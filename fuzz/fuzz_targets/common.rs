//! Signatures the request targets parse against: none, typed columns, one unnamed tensor,
//! named tensors (the first input byte picks one).

use mlflow_serve::model::signature::Signature;

/// The signature kinds the JSON and CSV readers behave differently for.
pub fn signatures() -> Vec<Signature> {
    let cols = r#"[{"type": "double", "name": "a"}, {"type": "long", "name": "b"}, {"type": "string", "name": "s", "required": false}, {"type": "boolean", "name": "f", "required": false}, {"type": "float", "name": "x", "required": false}, {"type": "integer", "name": "i", "required": false}]"#;
    let tensor = r#"[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}}]"#;
    let named = r#"[{"type": "tensor", "name": "t", "tensor-spec": {"dtype": "int64", "shape": [-1, 2, 2]}}, {"type": "tensor", "name": "u", "tensor-spec": {"dtype": "uint8", "shape": [-1]}}]"#;
    let params = r#"[{"name": "k", "type": "long", "default": 1, "shape": null}, {"name": "l", "type": "double", "default": [1.0], "shape": [-1]}]"#;
    vec![
        Signature::default(),
        Signature::from_json_strings(Some(cols), None, Some(params)).expect("columns"),
        Signature::from_json_strings(Some(tensor), None, None).expect("tensor"),
        Signature::from_json_strings(Some(named), None, Some(params)).expect("named"),
    ]
}
