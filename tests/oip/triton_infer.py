"""Open Inference Protocol (V2) inference through the real `tritonclient` clients (PyPI),
against a running mlflow-serve, compared with the server's own `/invocations` answer for the
same data. The data is made here from the model's signature as real MLflow reads it (or,
without one, from the V2 metadata), a few rows of each input's type.

    python tests/oip/triton_infer.py PORT MODEL_DIR NAME [GRPC_PORT]

Each model is asked: over HTTP with JSON tensors, with binary tensors (inputs and outputs),
with one requested output only, and (given GRPC_PORT) over gRPC; the answers must equal
`/invocations`'s, values and shapes, the way MLServer encodes them (DataFrames one output per
column of shape [n, 1], dicts one output per key, one array as `output-1`). Then errors: a
missing input, an unknown output, another model's name. Exits 1 with the differences. The
last line says what was checked: `RESULT: compared` (answers compared) or `RESULT: refused`
(the sample data is refused by `/invocations`, and V2 must refuse it alike).
"""
import base64
import json
import sys
import urllib.error
import urllib.request

import mlflow.models
import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

ROWS = 3
COLUMN_DTYPE = {"boolean": np.bool_, "integer": np.int32, "long": np.int64, "float": np.float32,
                "double": np.float64, "string": object, "binary": object}
V2_DTYPE = {"BOOL": np.bool_, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
            "INT64": np.int64, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
            "UINT64": np.uint64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
            "BYTES": object}
V2_NAME = {np.dtype(v).name: k for k, v in V2_DTYPE.items() if v is not object}


def values(dtype, shape, rng, kind=None):
    n = int(np.prod(shape))
    if dtype is object:
        if kind == "binary":
            return np.array([bytes([65 + i % 26]) * (i % 4 + 1) for i in range(n)], dtype=object).reshape(shape)
        return np.array([f"row {i} \u00e9" for i in range(n)], dtype=object).reshape(shape)
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return (np.arange(n) % 2 == 0).reshape(shape)
    if dt.kind in "iu":
        return rng.integers(0, 100, size=n).astype(dt).reshape(shape)
    return rng.normal(5.0, 2.0, size=n).astype(dt).reshape(shape)


def sample(model_dir, meta):
    """[(name, array, kind)], the input kind ('columns', 'tensors', 'unnamed'), and params."""
    rng = np.random.default_rng(7)
    model = mlflow.models.Model.load(model_dir)
    sig = model.signature
    params = {}
    if sig is not None and sig.params:
        params = {p.name: p.default for p in sig.params
                  if isinstance(p.default, (str, int, float, bool)) and not p.shape}
    if sig is None or sig.inputs is None:
        ins = []
        for t in meta["inputs"]:
            shape = [ROWS if d < 0 else d for d in t["shape"]] or [ROWS, 2]
            dtype = V2_DTYPE[t["datatype"]]
            if dtype is object:  # a TorchScript graph declares no dtype: numbers, 2-D
                dtype, shape = np.float32, [ROWS, 2]
            ins.append((t["name"], values(dtype, shape, rng), None))
        return ins, "tensors" if len(ins) > 1 else "unnamed", params
    if not sig.inputs.is_tensor_spec():
        return [(c.name, values(COLUMN_DTYPE[c.type.name], [ROWS], rng, c.type.name), c.type.name)
                for c in sig.inputs.inputs], "columns", params
    ins = []
    for i, t in enumerate(sig.inputs.inputs):
        shape = [ROWS if d < 0 else d for d in t.shape]
        dtype = object if np.dtype(t.type).kind in "OSU" else t.type
        ins.append((t.name or f"input-{i}", values(dtype, shape, rng), None))
    return ins, "tensors" if sig.inputs.has_input_names() else "unnamed", params


def jsonable(a, kind=None):
    if a.dtype == object:
        if kind == "binary":
            return [base64.b64encode(x).decode() for x in a.reshape(-1)]
        return np.vectorize(lambda x: x)(a).tolist()
    return a.tolist()


def invocations(port, ins, kind, params):
    if kind == "columns":
        cols = [jsonable(a, k) for _, a, k in ins]
        body = {"dataframe_split": {"columns": [n for n, _, _ in ins],
                                    "data": [list(r) for r in zip(*cols)]}}
    elif kind == "tensors":
        body = {"inputs": {n: jsonable(a) for n, a, _ in ins}}
    else:
        body = {"inputs": jsonable(ins[0][1])}
    if params:
        body["params"] = params
    req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())["predictions"], None
    except urllib.error.HTTPError as e:
        return None, (e.code, json.loads(e.read())["message"])


def v2_inputs(module, ins, kind, binary):
    out = []
    for name, a, k in ins:
        if kind == "columns":
            a = a.reshape(-1, 1)
            if k == "binary":
                a = np.array([base64.b64encode(x) for x in a.reshape(-1)], dtype=object).reshape(-1, 1)
        datatype = "BYTES" if a.dtype == object else V2_NAME[a.dtype.name]
        i = module.InferInput(name, list(a.shape), datatype)
        if module is httpclient:
            i.set_data_from_numpy(a, binary_data=binary)
        else:
            i.set_data_from_numpy(a)
        out.append(i)
    return out


def as_values(x):
    if isinstance(x, np.ndarray) and x.dtype == object:
        return [v.decode() if isinstance(v, bytes) else v for v in x.reshape(-1)]
    return np.asarray(x)


def same(got, want, what, failures):
    if isinstance(got, list) or (isinstance(want, list) and want and isinstance(want[0], str)):
        ok = list(got) == list(np.asarray(want, dtype=object).reshape(-1))
    else:
        w = np.asarray(want, dtype=np.float64 if np.asarray(want).dtype.kind == "f" else None)
        g = np.asarray(got)
        ok = g.size == w.size and (np.allclose(g.reshape(-1).astype(np.float64), w.reshape(-1).astype(np.float64),
                                               rtol=1e-6, atol=0, equal_nan=True)
                                   if w.dtype.kind in "fiub" else (g.reshape(-1) == w.reshape(-1)).all())
    if not ok:
        failures.append(f"{what}: got {str(got)[:300]} want {str(want)[:300]}")


def compare(result, response, want, what, failures):
    """A V2 answer against /invocations's predictions, as MLServer would encode them."""
    ct = response["parameters"]["content_type"]
    outs = {o["name"]: o for o in response["outputs"]}

    def value(name):
        o = outs[name]
        v = result.as_numpy(name)
        if o.get("parameters", {}).get("content_type") == "pd_json":
            return [json.loads(x) for x in v.reshape(-1)]
        return as_values(v)

    if ct == "pd":
        rows = want if isinstance(want, list) else []
        keys = list(rows[0].keys()) if rows else []
        if sorted(outs) != sorted(keys):
            failures.append(f"{what}: outputs {sorted(outs)} != columns {keys}")
            return
        for k in keys:
            if outs[k]["shape"] != [len(rows), 1]:
                failures.append(f"{what}: {k} shape {outs[k]['shape']} != [{len(rows)}, 1]")
            col = [r[k] for r in rows]
            got = value(k)
            if col and isinstance(col[0], dict):
                if got != col:
                    failures.append(f"{what}: {k} maps differ: {got[:2]} vs {col[:2]}")
            else:
                same(got, col, f"{what}: column {k}", failures)
    elif ct == "dict":
        if sorted(outs) != sorted(want):
            failures.append(f"{what}: outputs {sorted(outs)} != {sorted(want)}")
            return
        for k, w in want.items():
            shape = list(np.asarray(w, dtype=object).shape)
            if outs[k]["shape"] not in (shape, shape + [1]):
                failures.append(f"{what}: {k} shape {outs[k]['shape']} vs {shape}")
            same(value(k), w, f"{what}: {k}", failures)
    elif ct == "np":
        shape = list(np.asarray(want, dtype=object).shape)
        if list(outs) != ["output-1"] or outs["output-1"]["shape"] not in (shape, shape + [1]):
            failures.append(f"{what}: np answer {[(o['name'], o['shape']) for o in outs.values()]} vs {shape}")
            return
        same(value("output-1"), want, what, failures)
    else:
        failures.append(f"{what}: content_type {ct}")


def main():
    port, model_dir, name = sys.argv[1], sys.argv[2], sys.argv[3]
    grpc_port = sys.argv[4] if len(sys.argv) > 4 else None
    failures = []
    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{port}")
    meta = client.get_model_metadata(name)
    ins, kind, params = sample(model_dir, meta)
    want, refused = invocations(port, ins, kind, params)
    if refused:
        # The model refuses this data: V2 must answer MLflow's status and message.
        try:
            client.infer(name, v2_inputs(httpclient, ins, kind, True), parameters=params or None)
            failures.append(f"/invocations refused with {refused} but V2 answered")
        except InferenceServerException as e:
            if (e.status(), e.message()) != (str(refused[0]), refused[1]):
                failures.append(f"V2 error {e.status()} {e.message()!r} != /invocations {refused}")
        if failures:
            print(f"{name}:\n  " + "\n  ".join(failures))
            sys.exit(1)
        print(f"{name}: V2 refuses as /invocations does: {refused[0]} {refused[1][:80]}")
        print("RESULT: refused")
        return
    names = []
    for binary in (True, False):
        what = f"http {'binary' if binary else 'json'}"
        # Without `outputs`, tritonclient asks for every output as binary; with JSON, every
        # output the binary answer named is asked for by name.
        result = client.infer(name, v2_inputs(httpclient, ins, kind, binary), request_id=f"req-{binary}",
                              parameters=params or None,
                              outputs=None if binary else [httpclient.InferRequestedOutput(o, binary_data=False)
                                                           for o in names])
        response = result.get_response()
        names = [o["name"] for o in response["outputs"]]
        if not binary and any("data" not in o for o in response["outputs"]):
            failures.append(f"{what}: outputs not in JSON: {response['outputs']}")
        if response.get("id") != f"req-{binary}" or response.get("model_name") != name:
            failures.append(f"{what}: id/model_name {response.get('id')} {response.get('model_name')}")
        compare(result, response, want, what, failures)
    # One requested output, as raw bytes.
    first = client.infer(name, v2_inputs(httpclient, ins, kind, True), parameters=params or None).get_response()
    last = first["outputs"][-1]["name"]
    one = client.infer(name, v2_inputs(httpclient, ins, kind, True), parameters=params or None,
                       outputs=[httpclient.InferRequestedOutput(last, binary_data=True)])
    got = [o["name"] for o in one.get_response()["outputs"]]
    if got != [last] or one.as_numpy(last) is None:
        failures.append(f"requested output {last}: got {got}")
    # Errors
    for what, call, status, text in [
        ("missing input", lambda: client.infer(name, v2_inputs(httpclient, ins, kind, False)[:-1],
                                               parameters=params or None),
         400, None),
        ("unknown output", lambda: client.infer(name, v2_inputs(httpclient, ins, kind, False), parameters=params or None,
                                                outputs=[httpclient.InferRequestedOutput("no-such-output")]),
         400, "no-such-output"),
        ("another model", lambda: client.infer(name + "-other", v2_inputs(httpclient, ins, kind, False)), 404, "not found"),
    ]:
        if what == "missing input" and len(ins) == 1 and kind != "columns":
            continue  # a one-input tensor model takes any single input
        try:
            call()
            failures.append(f"{what}: no error")
        except InferenceServerException as e:
            if e.status() != str(status) or (text and text not in (e.message() or "")):
                failures.append(f"{what}: {e.status()} {e.message()}")
    if grpc_port:
        import tritonclient.grpc as grpcclient
        g = grpcclient.InferenceServerClient(url=f"127.0.0.1:{grpc_port}")
        if not (g.is_server_live() and g.is_server_ready() and g.is_model_ready(name)):
            failures.append("grpc: not live/ready")
        gmeta = g.get_model_metadata(name, as_json=True)
        if gmeta["name"] != name or [i["name"] for i in gmeta.get("inputs", [])] != [i["name"] for i in meta["inputs"]]:
            failures.append(f"grpc metadata {gmeta}")
        result = g.infer(name, v2_inputs(grpcclient, ins, kind, True), request_id="grpc-1", parameters=params or None)
        response = result.get_response(as_json=True)
        response.setdefault("parameters", {})
        response["parameters"] = {k: v.get("string_param", v) if isinstance(v, dict) else v
                                  for k, v in response["parameters"].items()}
        for o in response["outputs"]:
            o["shape"] = [int(d) for d in o["shape"]]
            o["parameters"] = {k: v.get("string_param", v) if isinstance(v, dict) else v
                               for k, v in o.get("parameters", {}).items()}
        if response.get("id") != "grpc-1":
            failures.append(f"grpc id {response.get('id')}")
        compare(result, response, want, "grpc", failures)
        try:
            g.infer(name + "-other", v2_inputs(grpcclient, ins, kind, True))
            failures.append("grpc another model: no error")
        except InferenceServerException as e:
            if "NOT_FOUND" not in str(e.status()):
                failures.append(f"grpc another model: {e.status()} {e.message()}")
    if failures:
        print(f"{name}:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print(f"{name}: V2 infer equals /invocations ({kind}, {len(ins)} inputs)")
    print("RESULT: compared")


if __name__ == "__main__":
    main()
