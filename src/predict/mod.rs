//! `mlflow-serve models predict`: MLflow's offline scoring of one input file (or stdin) with
//! a model, answered exactly as `mlflow models predict` 3.17.2 answers: the input is a
//! `json` (any of MLflow's JSON formats) or `csv` document, read whole, run through the same
//! parsing, signature enforcement, runtime and serialization as `/invocations`, and the
//! output is MLflow's `{"predictions": …}` document with no trailing newline. An output file
//! is written next to its destination under a temporary name and renamed into place only
//! once complete, so a failed run never leaves a file that looks finished.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::ServeError;
use crate::payload::BodyFormat;
use crate::pipeline::ServedModel;

/// Why a prediction run failed. The message is MLflow's where MLflow has one.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// `-t` names a format MLflow does not read (MLflow's message).
    #[error("Unknown content type '{0}'")]
    UnknownContentType(String),
    /// The input could not be read.
    #[error("cannot read the input {what}: {message}")]
    Input {
        /// The path, or `stdin`.
        what: String,
        /// The OS error.
        message: String,
    },
    /// The output could not be written.
    #[error("cannot write the output {what}: {message}")]
    Output {
        /// The path, or `stdout`.
        what: String,
        /// The OS error.
        message: String,
    },
    /// The input was refused or the model failed (MLflow's message, as `mlflow models
    /// predict` raises it).
    #[error("{}", .0.offline_message())]
    Scoring(ServeError),
}

// Not `#[from]`: that would make the error its own cause, and the message would print twice.
impl From<ServeError> for PredictError {
    fn from(e: ServeError) -> PredictError {
        PredictError::Scoring(e)
    }
}

/// The input formats of `mlflow models predict -t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// MLflow's JSON formats (`dataframe_split`, `dataframe_records`, `instances`, `inputs`).
    Json,
    /// A CSV document with a header row.
    Csv,
}

impl InputFormat {
    /// `json` or `csv`, as MLflow spells them (case-sensitive, as MLflow compares them).
    pub fn parse(name: &str) -> Result<InputFormat, PredictError> {
        match name {
            "json" => Ok(InputFormat::Json),
            "csv" => Ok(InputFormat::Csv),
            other => Err(PredictError::UnknownContentType(other.to_string())),
        }
    }

    fn body_format(self) -> BodyFormat {
        match self {
            InputFormat::Json => BodyFormat::Json,
            InputFormat::Csv => BodyFormat::Csv,
        }
    }
}

/// Scores `input` (a file, else stdin) with `model` and writes MLflow's answer to `output`
/// (a file, else stdout).
pub fn predict(
    model: &ServedModel,
    format: InputFormat,
    input: Option<&Path>,
    output: Option<&Path>,
) -> Result<(), PredictError> {
    let body = read_input(input)?;
    let prepared = model.prepare_offline(format.body_format(), &body)?;
    let answer = model.run_blocking(prepared)?;
    match output {
        Some(path) => write_atomically(path, &answer),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&answer)
                .and_then(|()| out.flush())
                .map_err(|e| PredictError::Output {
                    what: "stdout".into(),
                    message: e.to_string(),
                })
        }
    }
}

fn read_input(input: Option<&Path>) -> Result<Vec<u8>, PredictError> {
    let mut body = Vec::new();
    let (what, read) = match input {
        Some(p) => (
            p.display().to_string(),
            std::fs::File::open(p).and_then(|mut f| f.read_to_end(&mut body)),
        ),
        None => (
            "stdin".to_string(),
            std::io::stdin().lock().read_to_end(&mut body),
        ),
    };
    read.map_err(|e| PredictError::Input {
        what,
        message: e.to_string(),
    })?;
    Ok(body)
}

/// Writes `bytes` to a temporary file beside `path`, then renames it to `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PredictError> {
    let fail = |e: std::io::Error| PredictError::Output {
        what: path.display().to_string(),
        message: e.to_string(),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".mlflow-serve-predict-")
        .tempfile_in(&dir)
        .map_err(fail)?;
    tmp.write_all(bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_mlflows() {
        assert_eq!(InputFormat::parse("json").unwrap(), InputFormat::Json);
        assert_eq!(InputFormat::parse("csv").unwrap(), InputFormat::Csv);
        assert_eq!(
            InputFormat::parse("JSON").unwrap_err().to_string(),
            "Unknown content type 'JSON'"
        );
    }

    #[test]
    fn output_appears_only_when_complete() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.json");
        write_atomically(&out, b"{\"predictions\": []}").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"{\"predictions\": []}");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.json")]);
        // A destination that cannot be written leaves nothing behind.
        let missing = dir.path().join("no-such-dir/out.json");
        assert!(write_atomically(&missing, b"x").is_err());
        assert!(!missing.exists());
    }
}
