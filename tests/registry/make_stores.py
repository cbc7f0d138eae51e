"""Build MLflow tracking stores and model registries with real MLflow 3.17.2, and record what
MLflow itself resolves each model URI to.

Used by the integration tests in tests/resolve_*.rs (they run it into a temporary directory)
and by `make example-store` (the bundled store under examples/wine-store).

    make_stores.py registry <tracking-uri> <out-manifest.json> [--relocatable | --minimal]
    make_stores.py s3 <tracking-uri> <bucket> <out-manifest.json>

`registry` logs and registers into whatever store <tracking-uri> names (sqlite:///…, a file
store with MLFLOW_ALLOW_FILE_STORE=true, or a running `mlflow server`):

  wine-quality   v1 Archived (was Production), v2 Production, v3 Staging, v4 Staging,
                 v5 None, v6 deleted; alias `champion` -> v3
  Wine Quality v2.0   v1 None (a name with spaces and dots)
  wine-lonely    v1 None (no version in any named stage)

Every version predicts differently (its training target is shifted by 10 x version), so a
wrong pick shows in the prediction. For every URI form the manifest records the prediction
real MLflow makes on the first row of the example (pyfunc.load_model(uri, dst_path=…), which
downloads to a temporary directory and never writes into the store), or the error message
MLflow raises. Tests compare mlflow-serve against that.

--minimal registers only `wine-quality` v1 in Staging and records only
models:/wine-quality/Staging: for tests about access to a store rather than resolution
(a basic-auth tracking server checks a password hash on every call, which makes the full
registry take minutes).

`s3` logs one model whose experiment's artifact root is s3://<bucket>/… (an S3-compatible
server given by MLFLOW_S3_ENDPOINT_URL) and registers it as `wine-s3`.

--relocatable rewrites the store's absolute artifact locations to paths relative to the
store's directory after MLflow has made it (MLflow always stores absolute paths), so that a
committed example store works from any checkout; the recorded URIs are then checked again.
"""

import json
import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import mlflow
import mlflow.onnx
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LinearRegression

assert mlflow.__version__ == "3.17.2", mlflow.__version__

WINE_COLUMNS = [
    "fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",
    "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates", "alcohol",
]
# The row of MLflow's quick-start curl example.
QUICKSTART_ROW = [7, 0.27, 0.36, 20.7, 0.045, 45, 170, 1.001, 3, 0.45, 8.8]


def wine_frame(n=200, seed=42):
    rng = np.random.default_rng(seed)
    lo = np.array([4.6, 0.12, 0.0, 0.9, 0.012, 1, 6, 0.990, 2.74, 0.33, 8.4])
    hi = np.array([15.9, 1.58, 1.0, 15.5, 0.611, 72, 289, 1.004, 4.01, 2.0, 14.9])
    x = np.round(lo + rng.random((n, 11)) * (hi - lo), 3)
    y = 3 + 0.3 * x[:, 10] - 1.2 * x[:, 1] + 0.5 * x[:, 9] + rng.normal(0, 0.2, n)
    return pd.DataFrame(x, columns=WINE_COLUMNS), y


X, Y = wine_frame()
EXAMPLE = pd.DataFrame([QUICKSTART_ROW], columns=WINE_COLUMNS).astype("float64")


def log_wine(shift, name="model"):
    """Logs a wine-quality ONNX regressor (target shifted by `shift`) in the active run."""
    lin = LinearRegression().fit(X.values, Y + shift)
    onx = convert_sklearn(lin, initial_types=[("float_input", FloatTensorType([None, 11]))],
                          target_opset=17)
    return mlflow.onnx.log_model(onx, name=name, input_example=X.iloc[:2],
                                 signature=infer_signature(X, lin.predict(X.values)))


def mlflow_says(uri):
    """What real MLflow serves for `uri`: the first prediction, or the error message."""
    with tempfile.TemporaryDirectory() as dst:
        try:
            model = mlflow.pyfunc.load_model(uri, dst_path=dst)
            pred = model.predict(EXAMPLE)
            return {"prediction": float(np.asarray(pred).reshape(-1)[0])}
        except Exception as e:  # noqa: BLE001 - the message is what we record
            return {"error": str(getattr(e, "message", e))}


def build_registry(tracking_uri):
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient()
    exp_id = mlflow.set_experiment("wine").experiment_id
    info = {"experiment_id": exp_id, "versions": {}}

    for v in range(1, 7):
        with mlflow.start_run(run_name=f"wine-v{v}") as run:
            logged = log_wine(10.0 * v)
            if v == 1:
                # An MLflow 2-style copy under the run's own artifacts, for runs:/<id>/<path>.
                with tempfile.TemporaryDirectory() as d:
                    mlflow.onnx.save_model(
                        convert_sklearn(LinearRegression().fit(X.values, Y + 1000.0),
                                        initial_types=[("float_input", FloatTensorType([None, 11]))],
                                        target_opset=17),
                        os.path.join(d, "legacy"), input_example=X.iloc[:2],
                        signature=infer_signature(X, Y))
                    mlflow.log_artifacts(os.path.join(d, "legacy"), "legacy_model")
                info["run_id"] = run.info.run_id
                info["model_id"] = logged.model_id
        mv = mlflow.register_model(logged.model_uri, "wine-quality")
        info["versions"][str(v)] = {"run_id": run.info.run_id, "model_id": logged.model_id}
        assert str(mv.version) == str(v), mv.version

    client.transition_model_version_stage("wine-quality", "1", "Production")
    client.transition_model_version_stage("wine-quality", "2", "Production",
                                          archive_existing_versions=True)
    client.transition_model_version_stage("wine-quality", "3", "Staging")
    client.transition_model_version_stage("wine-quality", "4", "Staging")
    client.set_registered_model_alias("wine-quality", "champion", "3")
    client.delete_model_version("wine-quality", "6")

    with mlflow.start_run(run_name="spaces"):
        logged = log_wine(500.0)
    mlflow.register_model(logged.model_uri, "Wine Quality v2.0")
    with mlflow.start_run(run_name="lonely"):
        logged = log_wine(700.0)
    mlflow.register_model(logged.model_uri, "wine-lonely")
    return info


def build_minimal(tracking_uri):
    mlflow.set_tracking_uri(tracking_uri)
    exp_id = mlflow.set_experiment("wine").experiment_id
    with mlflow.start_run(run_name="wine-v1") as run:
        logged = log_wine(10.0)
    mlflow.register_model(logged.model_uri, "wine-quality")
    MlflowClient().transition_model_version_stage("wine-quality", "1", "Staging")
    return {"experiment_id": exp_id, "run_id": run.info.run_id, "model_id": logged.model_id,
            "versions": {"1": {"run_id": run.info.run_id, "model_id": logged.model_id}}}


def cases(info):
    run_id, model_id = info["run_id"], info["model_id"]
    uris = [
        "models:/wine-quality/1", "models:/wine-quality/2", "models:/wine-quality/5",
        "models:/wine-quality/Staging", "models:/wine-quality/staging",
        "models:/wine-quality/Production", "models:/wine-quality/PRODUCTION",
        "models:/wine-quality/Archived", "models:/wine-quality/None",
        "models:/wine-quality/latest", "models:/wine-quality/Latest",
        "models:/wine-quality@champion", "models:/wine-quality@latest",
        "models://////wine-quality/4",
        "models:/Wine Quality v2.0/1", "models:/Wine Quality v2.0/latest",
        f"models:/{model_id}", f"runs:/{run_id}/model", f"runs:/{run_id}/legacy_model",
        # failures
        "models:/wine-quality/99", "models:/wine-quality/6", "models:/no-such-model/1",
        "models:/no-such-model/Staging", "models:/wine-lonely/Production",
        "models:/wine-quality/Shipping", "models:/wine-quality@nope",
        "models:/m-00000000000000000000000000000000", f"runs:/{run_id}/nothing-here",
        "runs:/0123456789abcdef0123456789abcdef/model", "models:/wine-quality/",
    ]
    return {uri: mlflow_says(uri) for uri in uris}


def relocate(db_path):
    """Makes the artifact locations of a sqlite store relative to the store's directory."""
    root = "file://" + str(db_path.parent.resolve())
    plain = str(db_path.parent.resolve())
    con = sqlite3.connect(db_path)
    for table, col in [("experiments", "artifact_location"), ("runs", "artifact_uri"),
                       ("logged_models", "artifact_location"),
                       ("model_versions", "storage_location")]:
        for prefix in (root + "/", plain + "/"):
            con.execute(f"UPDATE {table} SET {col} = substr({col}, ?) WHERE {col} LIKE ?",
                        (len(prefix) + 1, prefix + "%"))
    con.commit()
    con.close()


def write_self_signed(dirpath):
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (dirpath / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (dirpath / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    kind = args[0]
    if kind == "registry":
        tracking_uri, out = args[1], Path(args[2])
        if "--minimal" in sys.argv:
            info = build_minimal(tracking_uri)
            info["cases"] = {u: mlflow_says(u) for u in ["models:/wine-quality/Staging"]}
        else:
            info = build_registry(tracking_uri)
            if "--relocatable" in sys.argv:
                db = Path(tracking_uri.removeprefix("sqlite:///"))
                relocate(db)
                os.chdir(db.parent)
                mlflow.set_tracking_uri("sqlite:///" + db.name)
            info["cases"] = cases(info)
    elif kind == "s3":
        tracking_uri, bucket, out = args[1], args[2], Path(args[3])
        import boto3

        boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"]).create_bucket(
            Bucket=bucket)
        mlflow.set_tracking_uri(tracking_uri)
        exp_id = mlflow.create_experiment("wine-s3", artifact_location=f"s3://{bucket}/wine")
        with mlflow.start_run(experiment_id=exp_id) as run:
            logged = log_wine(300.0)
        mlflow.register_model(logged.model_uri, "wine-s3")
        artifact_uri = MlflowClient().get_logged_model(logged.model_id).artifact_location
        info = {"run_id": run.info.run_id, "model_id": logged.model_id,
                "artifact_uri": artifact_uri}
        info["cases"] = {u: mlflow_says(u) for u in
                         ["models:/wine-s3/1", artifact_uri, f"models:/{logged.model_id}",
                          f"s3://{bucket}/wine/nothing-here"]}
    elif kind == "cert":
        # A self-signed certificate for 127.0.0.1, for the TLS tracking server test.
        out = Path(args[1])
        write_self_signed(out.parent)
        info = {"cert": str(out.parent / "cert.pem"), "key": str(out.parent / "key.pem")}
    else:
        sys.exit(f"unknown kind {kind}")
    out.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    print(json.dumps(info, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
