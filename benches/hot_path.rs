//! Criterion benches of the hot path: parse + enforce + feeds for dataframe_split bodies,
//! serialization of predictions, and in-process model runs at batch 1 and 64: ONNX Runtime
//! on the wine MLP and the MNIST CNN, and (with the `torch` feature) libtorch on their
//! TorchScript twins, the same networks with the same weights.
//! Run with `make bench` (fetches libonnxruntime and libtorch).

use std::path::PathBuf;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use mlflow_serve::flavor::predictions::{OutputColumn, Predictions};
use mlflow_serve::pipeline::{LoadOptions, ServedModel};
use runtime_api::{Runtime, Tensor, TensorData};

const WINE: [&str; 11] = [
    "fixed acidity",
    "volatile acidity",
    "citric acid",
    "residual sugar",
    "chlorides",
    "free sulfur dioxide",
    "total sulfur dioxide",
    "density",
    "pH",
    "sulphates",
    "alcohol",
];

fn body(rows: usize) -> Vec<u8> {
    let row = "[7.4, 0.7, 0.0, 1.9, 0.076, 11.0, 34.0, 0.9978, 3.51, 0.56, 9.4]";
    let data = vec![row; rows].join(", ");
    format!(
        "{{\"dataframe_split\": {{\"columns\": {}, \"data\": [{data}]}}}}",
        serde_json::to_string(&WINE).unwrap()
    )
    .into_bytes()
}

fn model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/wine_cols")
}

fn benches(c: &mut Criterion) {
    let opts = LoadOptions {
        onnxruntime_lib: None,
        torch_plugin: None,
        workers: 1,
        intra_op_threads: 1,
        queue_capacity: 16,
        max_batch_rows: 1,
        max_batch_delay: std::time::Duration::ZERO,
        idle_spin: std::time::Duration::ZERO,
        metrics: None,
        limits: mlflow_serve::payload::Limits::default(),
        python: Default::default(),
    };
    let model =
        ServedModel::load(&model_dir(), &opts).expect("load wine_cols (run `make setup` first)");
    for rows in [1usize, 64, 1000] {
        let b = body(rows);
        c.bench_function(
            &format!("parse_enforce_feeds/dataframe_split/{rows}"),
            |bench| {
                bench.iter(|| {
                    black_box(
                        model
                            .prepare(Some("application/json"), black_box(&b))
                            .map(|_| ())
                            .ok(),
                    )
                })
            },
        );
        let preds = Predictions::Records {
            columns: vec![(
                "variable".into(),
                OutputColumn::Flat(TensorData::F32(
                    (0..rows).map(|i| 5.0 + i as f32 * 0.001).collect(),
                )),
            )],
            nrows: rows,
        };
        c.bench_function(&format!("serialize/records/{rows}"), |bench| {
            bench.iter(|| black_box(preds.to_body(false)))
        });
    }
    let lib = runtime_onnx::find_library(None).expect("libonnxruntime");
    let so = runtime_onnx::SessionOptions {
        intra_op_threads: 1,
        ..Default::default()
    };
    let (_m, mut session) =
        runtime_onnx::OnnxModel::load(&lib, &model_dir().join("model.onnx"), so).expect("session");
    for batch in [1usize, 64] {
        c.bench_function(&format!("ort_run_in_process/batch/{batch}"), |bench| {
            bench.iter(|| {
                let t = Tensor {
                    shape: vec![batch, 11],
                    data: TensorData::F32(vec![0.5; batch * 11]),
                };
                black_box(session.run(vec![("float_input".into(), t)]).ok())
            })
        });
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(name)
}

/// The in-process limit per backend: one call of the same network at batch 1 and 64.
fn runtimes(c: &mut Criterion) {
    let lib = runtime_onnx::find_library(None).expect("libonnxruntime");
    let so = runtime_onnx::SessionOptions {
        intra_op_threads: 1,
        ..Default::default()
    };
    let nets: [(&str, &str, &str, Vec<usize>); 2] = [
        (
            "wine_mlp",
            "onnx_wine_tensor",
            "torch_wine_tensor",
            vec![11],
        ),
        ("cnn_mnist", "cnn_mnist", "torch_cnn", vec![1, 28, 28]),
    ];
    for (net, onnx, _torch, row) in &nets {
        let (_m, mut session) =
            runtime_onnx::OnnxModel::load(&lib, &fixture(onnx).join("model.onnx"), so.clone())
                .expect("session");
        bench_runtime(c, "onnx", net, &mut session, row);
        #[cfg(feature = "torch")]
        {
            let plugin_path =
                runtime_torch_loader::find_plugin(None).expect("the TorchScript plugin");
            let plugin = runtime_torch_loader::Plugin::open(&plugin_path).expect("plugin");
            let model = runtime_torch_loader::TorchModel::load(
                &plugin,
                &fixture(_torch).join("data/model.pth"),
                1,
            )
            .expect("TorchScript model");
            let mut session = model.session().expect("session");
            bench_runtime(c, "torch", net, &mut session, row);
        }
    }
}

/// One runtime call at batch 1 and 64 on float32 rows of shape `row`.
fn bench_runtime(c: &mut Criterion, backend: &str, net: &str, rt: &mut dyn Runtime, row: &[usize]) {
    let input = rt.inputs()[0].name.clone();
    for batch in [1usize, 64] {
        let shape: Vec<usize> = std::iter::once(batch).chain(row.iter().copied()).collect();
        let n: usize = shape.iter().product();
        c.bench_function(
            &format!("in_process/{backend}/{net}/batch/{batch}"),
            |bench| {
                bench.iter(|| {
                    let t = Tensor {
                        shape: shape.clone(),
                        data: TensorData::F32(vec![0.5; n]),
                    };
                    black_box(rt.run(vec![(input.clone(), t)]).ok())
                })
            },
        );
    }
}

criterion_group!(hot_path, benches, runtimes);
criterion_main!(hot_path);
