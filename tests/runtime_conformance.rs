//! Runtime conformance: the same checks, through the `Runtime` trait only, against every
//! backend that is built (ONNX Runtime always; libtorch with `--features torch`), in the
//! spirit of tract's per-backend test suites:
//!
//! - every dtype the backend accepts goes through an identity model unchanged, bit for bit,
//!   as a matrix, as a 0-row tensor and as a scalar;
//! - a wrong dtype and a wrong rank are errors, never panics;
//! - sessions of one model run concurrently on several threads and agree with one another;
//! - the conformance twins (one network exported to both backends) answer what Python's
//!   onnxruntime 1.31.1 and torch 2.13 answered for the same inputs, recorded by
//!   tests/fixtures/generate_runtime_conformance.py into tests/fixtures/runtime_outputs.json.
//!
//! A backend that is not built is named on stderr as not checked; the ONNX backend always is.

mod common;

use std::path::Path;

use runtime_api::{DType, OutputValue, Runtime, Tensor, TensorData};

type Factory = Box<dyn Fn(&Path) -> Box<dyn Runtime> + Sync>;

/// One backend under test.
struct Backend {
    name: &'static str,
    /// Opens a new session of the model file at a path.
    open: Factory,
    /// The model file of a fixture model directory.
    file: fn(&str) -> std::path::PathBuf,
    /// The dtypes its identity model takes, and the feed/output names for each.
    dtypes: &'static [DType],
    input_name: fn(DType) -> String,
    output_name: fn(DType) -> String,
    /// The input name of the conformance twins.
    twin_input: &'static str,
}

fn onnx_backend() -> Backend {
    let lib = runtime_onnx::find_library(None).expect("libonnxruntime (make setup)");
    Backend {
        name: "onnx",
        open: Box::new(move |path| {
            let (_, session) = runtime_onnx::OnnxModel::load(
                &lib,
                path,
                runtime_onnx::SessionOptions {
                    intra_op_threads: 1,
                    ..Default::default()
                },
            )
            .expect("ONNX model loads");
            Box::new(session)
        }),
        file: |m| common::model_dir(m).join("model.onnx"),
        dtypes: &[
            DType::Bool,
            DType::I8,
            DType::I16,
            DType::I32,
            DType::I64,
            DType::U8,
            DType::U16,
            DType::U32,
            DType::U64,
            DType::F32,
            DType::F64,
            DType::Str,
        ],
        input_name: |d| format!("in_{}", onnx_name(d)),
        output_name: |d| format!("out_{}", onnx_name(d)),
        twin_input: "",
    }
}

fn onnx_name(d: DType) -> &'static str {
    // The identity model's names are numpy's, but for strings.
    match d {
        DType::Str => "string",
        d => d.numpy_name(),
    }
}

#[cfg(feature = "torch")]
fn torch_backend() -> Option<Backend> {
    let plugin =
        runtime_torch_loader::find_plugin(None).expect("the TorchScript plugin (make setup-torch)");
    let plugin = runtime_torch_loader::Plugin::open(&plugin).expect("plugin opens");
    Some(Backend {
        name: "torch",
        open: Box::new(move |path| {
            let model = runtime_torch_loader::TorchModel::load(&plugin, path, 1)
                .expect("TorchScript model loads");
            Box::new(model.session().expect("session"))
        }),
        file: |m| common::model_dir(m).join("data/model.pth"),
        // libtorch has no uint16/32/64 tensors and no strings.
        dtypes: &[
            DType::Bool,
            DType::I8,
            DType::I16,
            DType::I32,
            DType::I64,
            DType::U8,
            DType::F32,
            DType::F64,
        ],
        input_name: |_| "input".to_string(),
        output_name: |_| String::new(),
        twin_input: "input",
    })
}

#[cfg(not(feature = "torch"))]
fn torch_backend() -> Option<Backend> {
    None
}

fn backends() -> Vec<Backend> {
    let mut out = vec![onnx_backend()];
    match torch_backend() {
        Some(b) => out.push(b),
        None => panic!(
            "runtime conformance covers the TorchScript backend too: built without \
             --features torch, it would compare nothing for it (`make test` builds it)"
        ),
    }
    out
}

/// Sample values of a dtype, extremes included, `n` of them.
fn sample(d: DType, n: usize) -> TensorData {
    let pick = |xs: &[i128]| -> Vec<i128> { (0..n).map(|i| xs[i % xs.len()]).collect() };
    match d {
        DType::Bool => TensorData::Bool((0..n).map(|i| i % 3 == 1).collect()),
        DType::I8 => TensorData::I8(
            pick(&[0, 1, -1, 127, -128])
                .into_iter()
                .map(|v| v as i8)
                .collect(),
        ),
        DType::I16 => TensorData::I16(
            pick(&[0, 7, -300, 32767, -32768])
                .into_iter()
                .map(|v| v as i16)
                .collect(),
        ),
        DType::I32 => TensorData::I32(
            pick(&[0, 9, -70000, i32::MAX as i128, i32::MIN as i128])
                .into_iter()
                .map(|v| v as i32)
                .collect(),
        ),
        DType::I64 => TensorData::I64(
            pick(&[0, 11, -5, i64::MAX as i128, i64::MIN as i128])
                .into_iter()
                .map(|v| v as i64)
                .collect(),
        ),
        DType::U8 => TensorData::U8(
            pick(&[0, 1, 200, 255])
                .into_iter()
                .map(|v| v as u8)
                .collect(),
        ),
        DType::U16 => TensorData::U16(pick(&[0, 1, 65535]).into_iter().map(|v| v as u16).collect()),
        DType::U32 => TensorData::U32(
            pick(&[0, 3, u32::MAX as i128])
                .into_iter()
                .map(|v| v as u32)
                .collect(),
        ),
        DType::U64 => TensorData::U64(
            pick(&[0, 5, u64::MAX as i128])
                .into_iter()
                .map(|v| v as u64)
                .collect(),
        ),
        DType::F16 | DType::F32 => TensorData::F32(
            (0..n)
                .map(|i| {
                    [
                        0.0f32,
                        -0.0,
                        1.5,
                        f32::MAX,
                        f32::MIN_POSITIVE,
                        f32::NAN,
                        f32::NEG_INFINITY,
                    ][i % 7]
                })
                .collect(),
        ),
        DType::F64 => TensorData::F64(
            (0..n)
                .map(|i| [0.0f64, -0.0, 0.1, f64::MAX, 5e-324, f64::NAN, f64::INFINITY][i % 7])
                .collect(),
        ),
        DType::Str => TensorData::Str(
            (0..n)
                .map(|i| ["", "a", "é ü", "line\nbreak"][i % 4].to_string())
                .collect(),
        ),
    }
}

/// Bit-for-bit equality (NaN equals NaN, -0.0 differs from 0.0).
fn identical(a: &TensorData, b: &TensorData) -> bool {
    match (a, b) {
        (TensorData::F32(x), TensorData::F32(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| a.to_bits() == b.to_bits())
        }
        (TensorData::F64(x), TensorData::F64(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| a.to_bits() == b.to_bits())
        }
        _ => a == b,
    }
}

fn only_tensor(mut out: Vec<(String, OutputValue)>, want: &str) -> Tensor {
    let i = if want.is_empty() {
        0
    } else {
        out.iter()
            .position(|(n, _)| n == want)
            .expect("the output by name")
    };
    match out.swap_remove(i).1 {
        OutputValue::Tensor(t) => t,
        other => panic!("a tensor expected, got {other:?}"),
    }
}

#[test]
fn every_dtype_passes_through_unchanged_at_every_rank() {
    for b in backends() {
        let model = if b.name == "onnx" {
            "onnx_identity"
        } else {
            "torch_identity"
        };
        let mut rt = (b.open)(&(b.file)(model));
        let mut checked = 0;
        for &d in b.dtypes {
            for shape in [vec![2usize, 3], vec![0, 3], vec![]] {
                let n = shape.iter().product();
                let input = Tensor::new(shape.clone(), sample(d, n)).expect("a valid tensor");
                // The ONNX identity has one input per dtype, all required: feed each its own
                // sample of the same shape, and look at this dtype's output.
                let feeds: Vec<(String, Tensor)> = if b.name == "onnx" {
                    b.dtypes
                        .iter()
                        .map(|&o| {
                            let t = if o == d {
                                input.clone()
                            } else {
                                Tensor::new(shape.clone(), sample(o, n)).expect("a valid tensor")
                            };
                            ((b.input_name)(o), t)
                        })
                        .collect()
                } else {
                    vec![((b.input_name)(d), input.clone())]
                };
                let out = rt
                    .run(feeds)
                    .unwrap_or_else(|e| panic!("{}: {d:?} {shape:?}: {e}", b.name));
                let got = only_tensor(out, &(b.output_name)(d));
                assert_eq!(got.shape, shape, "{}: {d:?}", b.name);
                assert!(
                    identical(&got.data, &input.data),
                    "{}: {d:?} {shape:?}: {:?} != {:?}",
                    b.name,
                    got.data,
                    input.data
                );
                checked += 1;
            }
        }
        assert_eq!(checked, b.dtypes.len() * 3);
        eprintln!("{}: {} dtypes x 3 ranks unchanged", b.name, b.dtypes.len());
    }
}

#[test]
fn a_wrong_dtype_or_rank_is_an_error_not_a_panic() {
    for b in backends() {
        let (mlp, cnn) = if b.name == "onnx" {
            ("onnx_wine_tensor", "cnn_mnist")
        } else {
            ("torch_wine_tensor", "torch_cnn")
        };
        let name = |rt: &dyn Runtime| {
            if b.twin_input.is_empty() {
                rt.inputs()[0].name.clone()
            } else {
                b.twin_input.to_string()
            }
        };
        let mut rt = (b.open)(&(b.file)(mlp));
        let input = name(rt.as_ref());
        let wrong_dtype = Tensor::new(vec![2, 11], TensorData::Str(vec!["x".into(); 22]));
        let wrong_dtype = match (b.name, wrong_dtype) {
            // libtorch has no string tensors: a dtype it has but the Linear layer refuses.
            ("torch", _) => Tensor::new(vec![2, 11], TensorData::Bool(vec![true; 22])).unwrap(),
            (_, t) => t.unwrap(),
        };
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.run(vec![(input.clone(), wrong_dtype)])
        }));
        assert!(matches!(r, Ok(Err(_))), "{}: wrong dtype: {r:?}", b.name);
        // A dtype the backend has no tensor type for is reported as such (the flavor words it).
        if b.name == "torch" {
            let mut id = (b.open)(&(b.file)("torch_identity"));
            for d in [DType::U16, DType::U32, DType::U64, DType::Str] {
                let t = Tensor::new(vec![2], sample(d, 2)).unwrap();
                let r = id.run(vec![("input".into(), t)]);
                assert!(
                    matches!(&r, Err(runtime_api::RuntimeError::UnsupportedInputDtype(x)) if *x == d),
                    "{d:?}: {r:?}"
                );
            }
        }

        let mut rt = (b.open)(&(b.file)(cnn));
        let input = name(rt.as_ref());
        let flat = Tensor::new(vec![28, 28], TensorData::F32(vec![0.5; 784])).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.run(vec![(input.clone(), flat)])
        }));
        assert!(matches!(r, Ok(Err(_))), "{}: wrong rank: {r:?}", b.name);
        // The session still works afterwards.
        let good = Tensor::new(vec![1, 1, 28, 28], TensorData::F32(vec![0.5; 784])).unwrap();
        assert!(rt.run(vec![(input, good)]).is_ok(), "{}", b.name);
    }
}

/// The inputs the recorder used: x[i] = ((i * 37 + seed * 11) % 97) / 97, as float32.
fn recorded_input(shape: &[usize], seed: usize) -> Tensor {
    let n: usize = shape.iter().product();
    let v = (0..n)
        .map(|i| ((i * 37 + seed * 11) % 97) as f32 / 97.0f32)
        .collect();
    Tensor::new(shape.to_vec(), TensorData::F32(v)).unwrap()
}

fn as_f64(t: &Tensor) -> Vec<f64> {
    match &t.data {
        TensorData::F32(v) => v.iter().map(|x| f64::from(*x)).collect(),
        TensorData::F64(v) => v.clone(),
        other => panic!("float output expected, got {other:?}"),
    }
}

#[test]
fn the_twins_answer_what_python_answered() {
    let recorded: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("tests/fixtures/runtime_outputs.json"))
            .unwrap(),
    )
    .unwrap();
    let cases = recorded["cases"].as_array().unwrap();
    let mut compared = 0;
    for b in backends() {
        for case in cases.iter().filter(|c| c["backend"] == b.name) {
            let model = case["model"].as_str().unwrap();
            let mut rt = (b.open)(&(b.file)(model));
            let shape: Vec<usize> = case["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            let x = recorded_input(&shape, case["seed"].as_u64().unwrap() as usize);
            let input = case["input"].as_str().unwrap().to_string();
            let got = only_tensor(rt.run(vec![(input, x)]).unwrap(), "");
            let want: Vec<f64> = case["output"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let got_shape: Vec<u64> = got.shape.iter().map(|d| *d as u64).collect();
            let want_shape: Vec<u64> = case["output_shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .collect();
            assert_eq!(got_shape, want_shape, "{model} {shape:?}");
            for (i, (g, w)) in as_f64(&got).iter().zip(&want).enumerate() {
                // Same library versions as the recording; kernels may still sum in another
                // order with another thread count: a few float32 ulps.
                assert!(
                    (g - w).abs() <= 1e-6 * w.abs().max(1.0),
                    "{} {model} {shape:?} value {i}: {g} vs Python's {w}",
                    b.name
                );
            }
            compared += 1;
        }
    }
    assert!(compared >= 6, "{compared} recorded cases compared");
}

#[test]
fn sessions_run_concurrently_and_agree() {
    for b in backends() {
        let model = if b.name == "onnx" {
            "cnn_mnist"
        } else {
            "torch_cnn"
        };
        let path = (b.file)(model);
        let reference = {
            let mut rt = (b.open)(&path);
            let input = if b.twin_input.is_empty() {
                rt.inputs()[0].name.clone()
            } else {
                b.twin_input.to_string()
            };
            let out = rt
                .run(vec![(input, recorded_input(&[4, 1, 28, 28], 4))])
                .unwrap();
            as_f64(&only_tensor(out, ""))
        };
        let results: Vec<Vec<f64>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let (b, path) = (&b, &path);
                    scope.spawn(move || {
                        let mut rt = (b.open)(path);
                        let input = if b.twin_input.is_empty() {
                            rt.inputs()[0].name.clone()
                        } else {
                            b.twin_input.to_string()
                        };
                        let mut last = Vec::new();
                        for _ in 0..10 {
                            let out = rt
                                .run(vec![(input.clone(), recorded_input(&[4, 1, 28, 28], 4))])
                                .unwrap();
                            last = as_f64(&only_tensor(out, ""));
                        }
                        last
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in results {
            assert_eq!(r, reference, "{}: concurrent sessions disagree", b.name);
        }
    }
}
