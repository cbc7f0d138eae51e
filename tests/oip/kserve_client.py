"""The KServe Python SDK (`kserve` on PyPI) as a second Open Inference Protocol client:
its `InferenceRESTClient` (protocol v2, JSON and binary tensors) and `InferenceGRPCClient`
against a running mlflow-serve, each answer compared with `/invocations` for the same data.
Runs in its own environment (.venv-kserve: kserve pins its own fastapi/pydantic/protobuf).

    python tests/oip/kserve_client.py HTTP_PORT GRPC_PORT NAME

Inputs are made from the server's V2 metadata (numeric inputs, three rows); exits 1 with
the differences.
"""
import asyncio
import json
import sys
import urllib.request

import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig

DTYPE = {"BOOL": np.bool_, "INT32": np.int32, "INT64": np.int64, "UINT8": np.uint8,
         "FP32": np.float32, "FP64": np.float64}
ROWS = 3


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


def sample(meta):
    rng = np.random.default_rng(3)
    out = []
    for t in meta["inputs"]:
        shape = [ROWS if d < 0 else d for d in t["shape"]]
        dt = np.dtype(DTYPE[t["datatype"]])
        a = rng.integers(0, 50, size=shape) if dt.kind in "iu" else rng.normal(4, 2, size=shape)
        out.append((t["name"], t["datatype"], a.astype(dt)))
    return out


def invocations(port, meta, ins):
    ct = meta["parameters"].get("content_type")
    if ct == "pd":
        body = {"dataframe_split": {"columns": [n for n, _, _ in ins],
                                    "data": np.stack([a.reshape(-1) for _, _, a in ins], axis=1).tolist()}}
    elif ct == "dict":
        body = {"inputs": {n: a.tolist() for n, _, a in ins}}
    else:
        body = {"inputs": ins[0][2].tolist()}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["predictions"]


def flat_predictions(predictions, names):
    """The predictions' values in the V2 answer's output order, flattened."""
    if isinstance(predictions, list) and predictions and isinstance(predictions[0], dict):
        return [np.asarray([row[n] for row in predictions], dtype=np.float64).reshape(-1) for n in names]
    if isinstance(predictions, dict):
        return [np.asarray(predictions[n], dtype=np.float64).reshape(-1) for n in names]
    return [np.asarray(predictions, dtype=np.float64).reshape(-1)]


def compare(what, response, want, meta, failures):
    """Every output the metadata announces, in the answer, equal to /invocations' values
    (same count of outputs, same number of elements in each)."""
    names = [o.name for o in response.outputs]
    expected = flat_predictions(want, names)
    if len(names) != len(meta["outputs"]) or len(expected) != len(names):
        failures.append(f"{what}: {len(names)} outputs {names}; the metadata announces "
                        f"{len(meta['outputs'])}, /invocations gave {len(expected)}")
        return
    for name, got, w in zip(names, [o.as_numpy() for o in response.outputs], expected):
        got = np.asarray(got, dtype=np.float64).reshape(-1)
        if got.size == 0 or got.shape != w.shape or not np.allclose(got, w, rtol=1e-6):
            failures.append(f"{what}: {name}: {got[:4]} ({got.size}) vs {w[:4]} ({w.size})")


async def main():
    port, grpc_port, name = sys.argv[1], sys.argv[2], sys.argv[3]
    failures = []
    meta = get(port, f"/v2/models/{name}")
    ins = sample(meta)
    want = invocations(port, meta, ins)
    base = f"http://127.0.0.1:{port}"
    rest = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
    try:
        if not (await rest.is_server_live(base) and await rest.is_server_ready(base)
                and await rest.is_model_ready(base, name)):
            failures.append("REST: not live/ready")
        for binary in (False, True):
            inputs = []
            for n, dt, a in ins:
                shape = list(a.reshape(-1, 1).shape) if meta["parameters"].get("content_type") == "pd" else list(a.shape)
                i = InferInput(n, shape, dt)
                i.set_data_from_numpy(a.reshape(shape), binary_data=binary)
                inputs.append(i)
            response = await rest.infer(base, InferRequest(model_name=name, infer_inputs=inputs, request_id="ks-1"),
                                        model_name=name)
            if response.id != "ks-1" or response.model_name != name:
                failures.append(f"REST: id/model {response.id} {response.model_name}")
            compare(f"REST {'binary' if binary else 'JSON'}", response, want, meta, failures)
    finally:
        await rest.close()
    grpc = InferenceGRPCClient(f"127.0.0.1:{grpc_port}", retries=0)
    try:
        if not (await grpc.is_server_ready() and await grpc.is_model_ready(name)):
            failures.append("gRPC: not ready")
        inputs = []
        for n, dt, a in ins:
            shape = list(a.reshape(-1, 1).shape) if meta["parameters"].get("content_type") == "pd" else list(a.shape)
            i = InferInput(n, shape, dt)
            i.set_data_from_numpy(a.reshape(shape))
            inputs.append(i)
        response = await grpc.infer(InferRequest(model_name=name, infer_inputs=inputs, request_id="ks-2"))
        if response.id != "ks-2":
            failures.append(f"gRPC id {response.id}")
        compare("gRPC", response, want, meta, failures)
    finally:
        await grpc.close()
    if failures:
        print(f"{name}:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print(f"{name}: the KServe SDK's REST and gRPC answers equal /invocations")


if __name__ == "__main__":
    asyncio.run(main())
