"""Seed corpora for the fuzz targets, from the recorded goldens and the fixture models.

Writes fuzz/corpus/<target>/<name>: every golden request body by its Content-Type (JSON
bodies get a leading byte choosing the signature kind, as the targets read it), and every
fixture model's MLmodel and small PyTorch archive. Run from the repository root: python3 fuzz/make_corpus.py
"""

import base64
import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "corpus"
MAX = 16 * 1024


def put(target, data, limit=MAX):
    if len(data) > limit:
        return
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


for golden in sorted((ROOT / "tests" / "golden").glob("*.json")):
    for case in json.loads(golden.read_text())["cases"]:
        if case.get("method") != "POST":
            continue
        body = base64.b64decode(case["body_b64"]) if "body_b64" in case else case.get("body", "").encode()
        ctype = case.get("headers", {}).get("Content-Type", "").lower()
        # One copy per body, under a signature kind that varies from case to case.
        k = int(hashlib.sha1(body).hexdigest(), 16) % 4
        if "csv" in ctype:
            put("csv_request", bytes([k]) + body)
        elif "parquet" in ctype:
            put("parquet_request", body)
        else:
            put("json_request", bytes([k]) + body)

# V2 requests (v2_request: a byte picking the signature kind, a byte picking REST JSON (0),
# REST binary with that many bytes of JSON (1 mod 3), or gRPC protobuf (2 mod 3), the body):
# the requests recorded against MLServer, a binary one, and the same as protobuf.
def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


recorded = json.loads((ROOT / "tests" / "oip" / "mlserver_metadata.json").read_text())
for model in recorded["models"].values():
    request = model.get("infer", {}).get("request")
    if request and request["inputs"]:
        put("v2_request", bytes([int(hashlib.sha1(json.dumps(request).encode()).hexdigest(), 16) % 4, 0])
            + json.dumps(request).encode())
raw = bytes(range(64))  # eight INT64 elements
header = json.dumps({"parameters": {"binary_data_output": True},
                     "inputs": [{"name": "t", "shape": [2, 2, 2], "datatype": "INT64",
                                 "parameters": {"binary_data_size": 64}}]}).encode()
header += b" " * ((1 - len(header)) % 3)  # a JSON length the mode byte can name (1 mod 3)
put("v2_request", bytes([3, len(header)]) + header + raw)
tensor = field(1, b"t") + field(2, b"INT64") + field(3, varint(2) + varint(2) + varint(2))
put("v2_request", bytes([3, 2]) + field(1, b"m") + field(5, tensor) + field(7, raw))

# The hostile classes of issue 26, small enough for a seed: a shape of thousands of ones, many
# inputs declaring large shapes, repeated names, long parameter lists; over gRPC a packed
# shape of thousands of ones, thousands of empty `inputs` entries, a long name.
def v2_json(request):
    put("v2_request", bytes([0, 0]) + json.dumps(request).encode())


v2_json({"inputs": [{"name": "x", "shape": [1] * 2000, "datatype": "FP32", "data": [1]}]})
v2_json({"inputs": [{"name": "x", "shape": [1] * 64, "datatype": "FP32", "data": [1]}],
         "parameters": {"content_type": "np"}})
v2_json({"inputs": [{"name": f"x{i}", "shape": [65536], "datatype": "BYTES", "data": ["a"]}
                    for i in range(150)]})
v2_json({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}] * 300})
v2_json({"parameters": {"p": [0] * 3000},
         "inputs": [{"name": "x", "shape": [1, 11], "datatype": "FP32", "data": [1] * 11}]})
deep = field(1, b"x") + field(2, b"FP32") + field(3, varint(1) * 5000) + field(5, field(6, b"\0\0\x80?"))
put("v2_request", bytes([1, 2]) + field(1, b"m") + field(5, deep))
put("v2_request", bytes([1, 2]) + field(1, b"m") + b"\x2a\x00" * 5000)
put("v2_request", bytes([1, 2]) + field(1, b"m") + field(5, field(1, b"n" * 8000) + field(2, b"FP32")))

for mlmodel in sorted((ROOT / "tests" / "fixtures" / "models").glob("*/MLmodel")):
    put("mlmodel", mlmodel.read_bytes())

# The smallest PyTorch archives real MLflow wrote (TorchScript, eager pickle, .pt2).
for archive in sorted((ROOT / "tests" / "fixtures" / "models").glob("torch_*/data/model.*")):
    if archive.stat().st_size <= 64 * 1024:
        d = OUT / "torch_archive"
        d.mkdir(parents=True, exist_ok=True)
        (d / archive.parent.parent.name).write_bytes(archive.read_bytes())

# Inputs that once crashed a target (fuzz/regressions/<target>--<name>) stay in its seeds.
for crash in sorted((ROOT / "fuzz" / "regressions").glob("*--*")):
    target = crash.name.split("--")[0]
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"regression-{crash.name.split('--', 1)[1]}").write_bytes(crash.read_bytes())

for target in sorted(OUT.iterdir()):
    print(f"{target.name}: {len(list(target.iterdir()))} seeds")


# Tree models: every fixture's model file that fits, by reader (UBJSON and JSON both go to
# xgboost_model; the reader tells them apart by content).
for model in sorted((ROOT / "tests" / "fixtures" / "models").iterdir()):
    for f in sorted(model.glob("model.*")):
        target = {".ubj": "xgboost_model", ".json": "xgboost_model", ".lgb": "lightgbm_model",
                  ".skops": "skops_model"}.get(f.suffix)
        if target:
            put(target, f.read_bytes(), 64 * 1024)

# The skops fixtures hold 60-70 KB model strings: one small seed per estimator class, with
# the model string of the smallest LightGBM fixture in its place.
import io  # noqa: E402
import zipfile  # noqa: E402

small = (ROOT / "tests" / "fixtures" / "models" / "lgb_forest" / "model.lgb").read_text()
for name in ["lgb_regressor", "lgb_classifier", "lgb_ranker", "lgb_binary_classifier"]:
    src = zipfile.ZipFile(ROOT / "tests" / "fixtures" / "models" / name / "model.skops")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.namelist():
            data = src.read(item)
            if item == "schema.json":
                schema = json.loads(data)
                schema["content"]["content"]["_Booster"]["content"]["content"]["_handle"]["content"] = json.dumps(small)
                data = json.dumps(schema).encode()
            z.writestr(item, data)
    put("skops_model", out.getvalue(), 64 * 1024)
