//! What `archive::inspect` says of the PyTorch files real MLflow 3.17.2 wrote
//! (tests/fixtures/generate_torch.py), and that the backend runs or refuses them.

use std::path::PathBuf;

use runtime_api::{Param, Tensor, TensorData};
use runtime_torch::{archive, ArchiveKind, TensorView, TorchModel};

fn model_file(name: &str, file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/models")
        .join(name)
        .join("data")
        .join(file)
}

#[test]
fn archives_are_told_apart_by_their_contents() {
    let names = |k: ArchiveKind| match k {
        ArchiveKind::TorchScript(Some(args)) => {
            args.into_iter().map(|a| a.name).collect::<Vec<_>>()
        }
        other => panic!("TorchScript with a readable forward expected, got {other:?}"),
    };
    assert_eq!(
        names(archive::inspect(&model_file(
            "torch_wine_cols",
            "model.pth"
        ))),
        vec!["x"]
    );
    assert_eq!(
        names(archive::inspect(&model_file("torch_cnn", "model.pth"))),
        vec!["x"]
    );
    assert_eq!(
        names(archive::inspect(&model_file("torch_params", "model.pth"))),
        vec!["x", "scale", "shift", "negate"]
    );
    assert_eq!(
        names(archive::inspect(&model_file(
            "torch_linear_typed",
            "model.pth"
        ))),
        vec!["input"]
    );
    assert_eq!(
        archive::inspect(&model_file("torch_eager_pickle", "model.pth")),
        ArchiveKind::EagerPickle
    );
    assert_eq!(
        archive::inspect(&model_file("torch_pt2", "model.pt2")),
        ArchiveKind::Exported
    );
    assert!(matches!(
        archive::inspect(&model_file("torch_params", "pickle_module_info.txt")),
        ArchiveKind::Unknown(_)
    ));
}

fn run(model: &TorchModel, t: Tensor, params: &[(String, Param)]) -> Result<Tensor, String> {
    let mut s = model.session();
    s.forward(TensorView::of(&t), params)
        .and_then(|out| out.to_tensor())
        .map_err(|e| e.to_string())
}

#[test]
fn params_reach_forward_by_name_and_dtypes_flow_through() {
    let m = TorchModel::load(&model_file("torch_params", "model.pth"), 1).unwrap();
    let x = || Tensor::new(vec![2, 3], TensorData::F32(vec![1., 2., 3., 4., 5., 6.])).unwrap();
    assert_eq!(
        run(&m, x(), &[]).unwrap().data,
        TensorData::F32(vec![6., 15.])
    );
    let p = vec![
        ("negate".to_string(), Param::Bool(true)),
        ("scale".to_string(), Param::Float(2.0)),
    ];
    assert_eq!(
        run(&m, x(), &p).unwrap().data,
        TensorData::F32(vec![-12., -30.])
    );
    let bad = vec![("shift".to_string(), Param::Float(0.5))];
    assert!(run(&m, x(), &bad)
        .unwrap_err()
        .contains("Expected a value of type 'int' for argument 'shift'"));
    let unknown = vec![("nope".to_string(), Param::Int(1))];
    assert!(run(&m, x(), &unknown)
        .unwrap_err()
        .contains("Unknown keyword argument 'nope'"));

    let sum = TorchModel::load(&model_file("torch_nosig_sum", "model.pth"), 1).unwrap();
    let ints = Tensor::new(vec![2, 2], TensorData::I64(vec![1, 2, 3, 4])).unwrap();
    assert_eq!(
        run(&sum, ints, &[]).unwrap().data,
        TensorData::I64(vec![3, 7])
    );
}

#[test]
fn refusals_name_the_kind_of_file() {
    for (name, file, what) in [
        ("torch_eager_pickle", "model.pth", "pickled eager nn.Module"),
        ("torch_pt2", "model.pt2", "torch.export program"),
    ] {
        let err = TorchModel::load(&model_file(name, file), 1)
            .err()
            .expect("refusal");
        // What the file is; how to convert it is the MLflow flavor's to say.
        assert!(
            matches!(&err, runtime_api::RuntimeError::NotRunnable(m) if m.contains(what)),
            "{err}"
        );
        assert!(!err.to_string().contains("mlflow"), "{err}");
    }
}
