//! The worker's outputs as MLflow's predictions: DataFrame columns (`c:<label>`) as records,
//! one array (`a:`) as nested lists, anything else (`j:`) as the JSON text MLflow's own
//! `predictions_to_json` rendered in the worker.

use runtime_api::{OutputValue, Tensor, TensorData};

use crate::flavor::predictions::{OutputColumn, Predictions};
use crate::flavor::FlavorError;

/// MLflow's predictions from a worker's outputs.
pub fn predictions(outputs: Vec<(String, OutputValue)>) -> Result<Predictions, FlavorError> {
    let bad = |what: &str| FlavorError::Internal {
        data: String::new(),
        message: format!("the Python worker answered {what}"),
    };
    let mut columns = Vec::new();
    let mut nrows = None;
    for (name, value) in outputs {
        let OutputValue::Tensor(t) = value else {
            return Err(bad("a value that is not a tensor"));
        };
        let Some((tag, rest)) = name.split_once(':') else {
            return Err(bad("an output without a kind"));
        };
        match tag {
            "a" if columns.is_empty() => return Ok(Predictions::Array(t)),
            "j" if columns.is_empty() => return Ok(Predictions::Json(json_text(t)?)),
            "c" => {
                let rows = t.shape.first().copied().unwrap_or(0);
                if t.shape.len() != 1 || nrows.is_some_and(|n| n != rows) {
                    return Err(bad("columns of different lengths"));
                }
                nrows = Some(rows);
                let key = match serde_json::from_str::<serde_json::Value>(rest) {
                    Ok(serde_json::Value::String(s)) => s,
                    Ok(serde_json::Value::Number(n)) => n.to_string(),
                    _ => return Err(bad("a column label it cannot name")),
                };
                columns.push((key, OutputColumn::Flat(t.data)));
            }
            _ => return Err(bad("an output of an unknown kind")),
        }
    }
    Ok(Predictions::Records {
        columns,
        nrows: nrows.unwrap_or(0),
    })
}

fn json_text(t: Tensor) -> Result<String, FlavorError> {
    match t.data {
        TensorData::Str(mut s) if s.len() == 1 => Ok(s.remove(0)),
        _ => Err(FlavorError::Internal {
            data: String::new(),
            message: "the Python worker answered a malformed JSON output".into(),
        }),
    }
}
