"""Registry operations with real MLflow 3.17.2's own client, for the `--follow` tests
(tests/follow.rs): the workflow a user runs when they promote a model.

    registry_ops.py build <tracking-uri>                     the wine registry of make_stores.py
    registry_ops.py set-alias <tracking-uri> <name> <alias> <version>
    registry_ops.py delete-alias <tracking-uri> <name> <alias>
    registry_ops.py stage <tracking-uri> <name> <version> <stage>
    registry_ops.py new-version <tracking-uri> <name> <shift> registers a good version (target + shift)
    registry_ops.py broken <tracking-uri> <name>             registers a version whose model.onnx is garbage
    registry_ops.py webhook <tracking-uri> <url> <secret>    registers a webhook on registry events

Each prints one JSON line; operations that move a reference print `at`, the Unix time just
before MLflow's call (so that the time to the first answer of the new version is not
underestimated).
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import mlflow
from mlflow import MlflowClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_stores import build_registry, log_wine  # noqa: E402

assert mlflow.__version__ == "3.17.2", mlflow.__version__


def main():
    kind, uri = sys.argv[1], sys.argv[2]
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    out = {}
    if kind == "build":
        out = build_registry(uri)
    elif kind == "set-alias":
        name, alias, version = sys.argv[3:6]
        out["at"] = time.time()
        client.set_registered_model_alias(name, alias, version)
    elif kind == "delete-alias":
        name, alias = sys.argv[3:5]
        out["at"] = time.time()
        client.delete_registered_model_alias(name, alias)
    elif kind == "stage":
        name, version, stage = sys.argv[3:6]
        out["at"] = time.time()
        client.transition_model_version_stage(name, version, stage)
    elif kind == "new-version":
        name, shift = sys.argv[3], float(sys.argv[4])
        mlflow.set_experiment("wine")
        with mlflow.start_run(run_name=f"shift-{shift}"):
            logged = log_wine(shift)
        mv = mlflow.register_model(logged.model_uri, name)
        out["version"] = str(mv.version)
    elif kind == "broken":
        # A real logged model whose network file is then corrupted: MLflow registers it
        # like any other version; only loading it fails.
        name = sys.argv[3]
        mlflow.set_experiment("wine")
        with mlflow.start_run(run_name="broken"):
            logged = log_wine(990.0, name="good")
            with tempfile.TemporaryDirectory() as d:
                src = mlflow.artifacts.download_artifacts(logged.model_uri, dst_path=d)
                onnx = Path(src) / "model.onnx"
                onnx.write_bytes(b"this is not an ONNX model" * 10)
                mlflow.log_artifacts(src, "broken")
            run_id = mlflow.active_run().info.run_id
        mv = mlflow.register_model(f"runs:/{run_id}/broken", name)
        out["version"] = str(mv.version)
    elif kind == "webhook":
        url, secret = sys.argv[3:5]
        hook = client.create_webhook(
            name="mlflow-serve-follow",
            url=url,
            events=["model_version_alias.created", "model_version_alias.deleted",
                    "model_version.created"],
            secret=secret,
        )
        out["webhook_id"] = hook.webhook_id
    else:
        sys.exit(f"unknown operation {kind}")
    print(json.dumps(out, sort_keys=True), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    main()
