//! Telling what a PyTorch file is from its contents, before libtorch sees it.
//!
//! MLflow writes three kinds of PyTorch file (`mlflow/pytorch/__init__.py`, `save_model`), all zip archives under one root
//! folder: a TorchScript archive (`<root>/code/__torch__…py`, `<root>/constants.pkl`), an
//! eager pickle (`<root>/data.pkl` with no `code/` folder) and a `torch.export` archive
//! (`<root>/models/model.json`, `<root>/archive_format`). Only the first can run without
//! Python. For it, the `forward` signature is read from the archive's own TorchScript
//! source, so that MLflow's keyword params can be passed by position.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;

/// What a PyTorch model file is.
#[derive(Debug, Clone, PartialEq)]
pub enum ArchiveKind {
    /// A TorchScript archive (`torch.jit.save`), with its `forward` arguments when they could
    /// be read (`self` excluded).
    TorchScript(Option<Vec<ForwardArg>>),
    /// A pickled eager `nn.Module` (`torch.save`).
    EagerPickle,
    /// A `torch.export` program (`.pt2`).
    Exported,
    /// Not a zip archive, or a zip of none of the kinds above.
    Unknown(String),
}

/// One argument of a TorchScript `forward`, as its compiled source declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardArg {
    /// The argument name.
    pub name: String,
    /// The TorchScript type (`Tensor`, `float`, `int`, `bool`, `str`, `List[float]`, …).
    pub ty: String,
    /// The default value as written in the source (`1.`, `0`, `False`), if any.
    pub default: Option<String>,
}

/// Reads the archive at `path` and says what it is.
pub fn inspect(path: &Path) -> ArchiveKind {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return ArchiveKind::Unknown(format!("cannot open: {e}")),
    };
    inspect_reader(file)
}

/// [`inspect`] on any seekable reader (the fuzz target feeds it bytes).
pub fn inspect_reader<R: Read + Seek>(reader: R) -> ArchiveKind {
    let mut zip = match zip::ZipArchive::new(reader) {
        Ok(z) => z,
        Err(e) => return ArchiveKind::Unknown(format!("not a zip archive ({e})")),
    };
    let names: Vec<String> = zip
        .file_names()
        .filter_map(Result::ok)
        .map(|n| n.to_string())
        .collect();
    // Every member sits under one root folder (`model/`, `archive/`, …).
    let under = |suffix: &str| {
        names
            .iter()
            .find(|n| after_root(n) == Some(suffix))
            .cloned()
    };
    let has_code = names
        .iter()
        .any(|n| after_root(n).is_some_and(|r| r.starts_with("code/__torch__")));
    if under("models/model.json").is_some() || under("archive_format").is_some() {
        return ArchiveKind::Exported;
    }
    if has_code && under("constants.pkl").is_some() {
        let args = under("data.pkl")
            .and_then(|p| read_member(&mut zip, &p))
            .and_then(|pkl| root_class(&pkl))
            .and_then(|(module, class)| {
                let root = names.first()?.split('/').next()?.to_string();
                let file = format!("{root}/code/{}.py", module.replace('.', "/"));
                let src = read_member(&mut zip, &file)?;
                forward_args(&String::from_utf8_lossy(&src), &class)
            });
        return ArchiveKind::TorchScript(args);
    }
    if under("data.pkl").is_some() {
        return ArchiveKind::EagerPickle;
    }
    ArchiveKind::Unknown(
        "a zip archive that is neither TorchScript, a pickle nor torch.export".into(),
    )
}

fn after_root(name: &str) -> Option<&str> {
    name.split_once('/').map(|(_, rest)| rest)
}

/// The most bytes read from one archive member (`data.pkl`, a `code/` file): real ones are
/// kilobytes; a deflated member that inflates past this (a zip bomb) is not read.
pub const MAX_MEMBER_BYTES: u64 = 16 << 20;

fn read_member<R: Read + Seek>(zip: &mut zip::ZipArchive<R>, name: &str) -> Option<Vec<u8>> {
    let f = zip.by_name(name).ok()?;
    if f.size() > MAX_MEMBER_BYTES {
        return None;
    }
    let mut out = Vec::new();
    f.take(MAX_MEMBER_BYTES + 1).read_to_end(&mut out).ok()?;
    (out.len() as u64 <= MAX_MEMBER_BYTES).then_some(out)
}

/// The class of the pickled root object: the first `GLOBAL` opcode (`c<module>\n<name>\n`)
/// of `data.pkl`, e.g. (`__torch__`, `Scaled`).
fn root_class(pkl: &[u8]) -> Option<(String, String)> {
    let start = pkl.iter().position(|&b| b == b'c')?;
    let mut lines = pkl[start + 1..].splitn(3, |&b| b == b'\n');
    let module = std::str::from_utf8(lines.next()?).ok()?.to_string();
    let class = std::str::from_utf8(lines.next()?).ok()?.to_string();
    module.starts_with("__torch__").then_some((module, class))
}

/// Finds `class <class>(…):` … `def forward(self: …, a: T=d, …) -> R:` in TorchScript's
/// printed source and returns its arguments after `self`.
pub fn forward_args(src: &str, class: &str) -> Option<Vec<ForwardArg>> {
    let class_at = src.find(&format!("class {class}("))?;
    let body = &src[class_at..];
    // The next class (if any) ends this one.
    let body = match body[1..].find("\nclass ") {
        Some(end) => &body[..end + 1],
        None => body,
    };
    let def = body.find("def forward(")? + "def forward(".len();
    let mut depth = 0usize;
    let mut end = None;
    for (i, c) in body[def..].char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ')' if depth == 0 => {
                end = Some(def + i);
                break;
            }
            ')' => depth -= 1,
            _ => {}
        }
    }
    let args = &body[def..end?];
    let mut out = Vec::new();
    for (i, part) in split_top_level(args).into_iter().enumerate() {
        let part = part.trim();
        if part.is_empty() || i == 0 {
            continue; // `self: __torch__.Class`
        }
        let (name_ty, default) = match part.split_once('=') {
            Some((a, d)) => (a, Some(d.trim().to_string())),
            None => (part, None),
        };
        let (name, ty) = match name_ty.split_once(':') {
            Some((n, t)) => (n.trim(), t.trim()),
            None => (name_ty.trim(), "Tensor"),
        };
        out.push(ForwardArg {
            name: name.to_string(),
            ty: ty.to_string(),
            default,
        });
    }
    Some(out)
}

/// Splits at commas that are not inside brackets or parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "class Scaled(Module):\n  __parameters__ = []\n  training : bool\n  def forward(self: __torch__.Scaled,\n    x: Tensor,\n    scale: float=1.,\n    shift: int=0,\n    names: List[str]=[\"a\", \"b\"],\n    negate: bool=False) -> Tensor:\n    return x\n";

    #[test]
    fn reads_forward_arguments_with_types_and_defaults() {
        let args = forward_args(SRC, "Scaled").unwrap();
        let got: Vec<(&str, &str, Option<&str>)> = args
            .iter()
            .map(|a| (a.name.as_str(), a.ty.as_str(), a.default.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("x", "Tensor", None),
                ("scale", "float", Some("1.")),
                ("shift", "int", Some("0")),
                ("names", "List[str]", Some("[\"a\", \"b\"]")),
                ("negate", "bool", Some("False")),
            ]
        );
        assert!(forward_args(SRC, "Other").is_none());
    }

    #[test]
    fn root_class_is_the_first_global() {
        let pkl = b"\x80\x02c__torch__\nScaled\nq\x00)\x81}";
        assert_eq!(
            root_class(pkl),
            Some(("__torch__".to_string(), "Scaled".to_string()))
        );
        assert_eq!(root_class(b"\x80\x02cbuiltins\nlist\n"), None);
    }
}
