"""Open Inference Protocol (V2) health and metadata, through the real `tritonclient[http]`
client (PyPI), against a running mlflow-serve. The expected metadata is derived here, from
the model's signature as real MLflow reads it (`mlflow.models.Model.load`), with MLServer's
MLflow mapping written out independently of the server's code.

    python tests/oip/triton_metadata.py PORT MODEL_DIR NAME [VERSION]

Exits 1 with the differences, 0 when every check holds.
"""
import sys

import mlflow.models
import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

COLUMN = {"boolean": "BOOL", "integer": "INT32", "long": "INT64", "float": "FP32",
          "double": "FP64", "string": "BYTES", "binary": "BYTES", "datetime": "BYTES"}
NUMPY = {"bool": "BOOL", "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64",
         "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64",
         "float16": "FP16", "float32": "FP32", "float64": "FP64"}


def expected_tensors(schema, prefix):
    out = []
    for i, spec in enumerate(schema.inputs):
        name = spec.name or f"{prefix}{i}"
        if schema.is_tensor_spec():
            out.append({"name": name, "datatype": NUMPY.get(np.dtype(spec.type).name, "BYTES"),
                        "shape": [int(d) for d in spec.shape]})
        else:
            out.append({"name": name, "datatype": COLUMN[spec.type.name], "shape": [-1, 1]})
    return out


def main():
    port, model_dir, name = sys.argv[1], sys.argv[2], sys.argv[3]
    version = sys.argv[4] if len(sys.argv) > 4 else None
    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)

    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{port}")
    check(client.is_server_live(), "server live")
    check(client.is_server_ready(), "server ready")
    server = client.get_server_metadata()
    check(server.get("name") == "mlflow-serve" and "version" in server, f"server metadata {server}")
    check(client.is_model_ready(name), "model ready")
    check(not client.is_model_ready(name + "-other"), "another model is not ready")
    meta = client.get_model_metadata(name)
    check(meta["name"] == name, f"name {meta['name']} != {name}")
    check(meta["versions"] == ([version] if version else []), f"versions {meta['versions']}")
    model = mlflow.models.Model.load(model_dir)
    flavor = next(p for f, p in (("onnx", "onnx_onnxv1"), ("pytorch", "pytorch_torchscript"),
                                 ("xgboost", "xgboost"), ("lightgbm", "lightgbm"))
                  if f in model.flavors)
    check(meta["platform"] == flavor, f"platform {meta['platform']} != {flavor}")
    sig = model.signature
    if sig is not None:
        for key, schema, prefix in (("inputs", sig.inputs, "input-"), ("outputs", sig.outputs, "output-")):
            if schema is None:
                continue
            got = [{k: t[k] for k in ("name", "datatype", "shape")} for t in meta[key]]
            want = expected_tensors(schema, prefix)
            check(got == want, f"{key}: got {got}, want {want}")
    else:
        check(len(meta["inputs"]) > 0 and len(meta["outputs"]) > 0, f"graph tensors {meta}")
    if version:
        check(client.get_model_metadata(name, model_version=version)["name"] == name, "versioned metadata")
        check(client.is_model_ready(name, model_version=version), "versioned ready")
        try:
            client.get_model_metadata(name, model_version=version + "0")
            check(False, "an unknown version has metadata")
        except InferenceServerException as e:
            check(e.status() == "404" or "not found" in str(e), f"unknown version: {e}")
    try:
        client.get_model_metadata(name + "-other")
        check(False, "an unknown model has metadata")
    except InferenceServerException as e:
        check("not found" in str(e), f"unknown model: {e}")
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print(f"tritonclient: health and metadata of {name} hold")


if __name__ == "__main__":
    main()
