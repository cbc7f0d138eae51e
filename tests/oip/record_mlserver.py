"""Records the Open Inference Protocol (V2) metadata and inference answers real MLServer
1.7.1 with mlserver-mlflow 1.7.1 (the runtime KServe uses for `modelFormat: mlflow`) gives
for every ONNX fixture model, into tests/oip/mlserver_metadata.json. The inference request
is made here from MLServer's own metadata (two rows of each input, deterministic values) and
recorded with the answer, so that `tests/oip_v2.rs` sends mlflow-serve the same request and
compares. (`make mlserver-goldens`; the TorchScript fixtures need
torch in MLServer's environment, 4.7 GB, and are left out.)

    .venv-mlserver/bin/python tests/oip/record_mlserver.py
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
MODELS = ROOT / "tests" / "fixtures" / "models"
OUT = ROOT / "tests" / "oip" / "mlserver_metadata.json"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")
    except OSError:
        return None, None


ROWS = 2


def element(datatype, i):
    if datatype == "BYTES":
        return f"row {i}"
    if datatype == "BOOL":
        return i % 2 == 0
    if datatype.startswith(("INT", "UINT")):
        return i % 7 + 1
    return round(0.25 * (i % 40) + 0.5, 2)


def infer_request(metadata):
    """Two rows of each input MLServer's metadata declares, as a V2 JSON request."""
    inputs = []
    for t in metadata.get("inputs", []):
        shape = [ROWS if d < 0 else d for d in t["shape"]] or [ROWS]
        n = 1
        for d in shape:
            n *= d
        inputs.append({"name": t["name"], "shape": shape, "datatype": t["datatype"],
                       "data": [element(t["datatype"], i) for i in range(n)]})
    return {"id": "recorded-1", "inputs": inputs}


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def serve_one(name):
    """One MLServer per model: a model it cannot load takes the whole server down (a
    signature without outputs does, in mlserver-mlflow 1.7.1's `_sync_metadata`)."""
    with tempfile.TemporaryDirectory() as tmp:
        ports = [free_port() for _ in range(3)]
        Path(tmp, "settings.json").write_text(json.dumps({
            "http_port": ports[0], "grpc_port": ports[1], "metrics_port": ports[2], "parallel_workers": 0,
            "metrics_dir": str(Path(tmp, "metrics"))}))
        d = Path(tmp, name)
        d.mkdir()
        (d / "model-settings.json").write_text(json.dumps({
            "name": name, "implementation": "mlserver_mlflow.MLflowRuntime",
            "parameters": {"uri": str(MODELS / name)}}))
        mlserver = shutil.which("mlserver", path=os.path.dirname(sys.executable))
        log_path = Path(tmp, "mlserver.log")
        with open(log_path, "w") as log:
            proc = subprocess.Popen([mlserver, "start", tmp], stdout=log, stderr=subprocess.STDOUT)
            try:
                for _ in range(120):
                    if proc.poll() is not None or get(ports[0], f"/v2/models/{name}/ready")[0] == 200:
                        break
                    time.sleep(0.5)
                if proc.poll() is not None or get(ports[0], f"/v2/models/{name}/ready")[0] != 200:
                    errors = [l for l in log_path.read_text().splitlines() if "Error" in l]
                    return {"loaded": False, "error": errors[-1] if errors else "did not become ready"}, None
                status, body = get(ports[0], f"/v2/models/{name}")
                extra = {"server": get(ports[0], "/v2"), "unknown_model": get(ports[0], "/v2/models/no-such-model")}
                request = infer_request(body)
                istatus, answer = post(ports[0], f"/v2/models/{name}/infer", request) if request["inputs"] else (None, None)
                return {"loaded": True, "status": status, "metadata": body,
                        "infer": {"request": request, "status": istatus, "response": answer}}, extra
            finally:
                proc.terminate()
                proc.wait(timeout=30)


def main():
    names = sorted(p.name for p in MODELS.iterdir() if (p / "MLmodel").is_file()
                   and "onnx:" in (p / "MLmodel").read_text())
    models, extra = {}, None
    for name in names:
        models[name], got = serve_one(name)
        extra = extra or got
        print(name, "loaded" if models[name]["loaded"] else models[name]["error"])
    OUT.write_text(json.dumps({
        "peer": "mlserver 1.7.1 + mlserver-mlflow 1.7.1 (mlflow 3.17.2, onnxruntime 1.31.1)",
        "server": {"status": extra["server"][0], "body": extra["server"][1]},
        "unknown_model": {"status": extra["unknown_model"][0], "body": extra["unknown_model"][1]},
        "models": models}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
