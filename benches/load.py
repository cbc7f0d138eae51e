"""Load harness (`make load`): mlflow-serve vs real `mlflow models serve` vs in-process ONNX
Runtime on the same model, the same request bodies and the same thread counts.

For each batch size (1 and 64 rows, `dataframe_split`) and each concurrency (1, 8, 64
connections), wrk (Debian's package, unpacked into .local/wrk) drives each server for
DURATION seconds; the table gives req/s, rows/s, p50 and p99, and the ratios. In-process
ONNX Runtime (the reference environment's onnxruntime, intra-op threads pinned like the
servers') is timed on the same rows. `mlflow models serve` is included when the reference
environment (.venv-ref) exists.

    python3 benches/load.py [--duration 5] [--model tests/fixtures/models/wine_cols]

A model served through Python workers (`make load-python`) runs in the reference
environment's Python on both sides (`--env-manager local`, one worker each); its in-process
figure is the flavor's own predict function, and PyFuncModel.predict is timed beside it.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRK = ROOT / ".local/wrk/usr/bin/wrk"
WRK_LIB = ROOT / ".local/wrk/usr/lib/x86_64-linux-gnu"
REF = ROOT / ".venv-ref/bin"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, proc, secs=120):
    deadline = time.time() + secs
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1) as r:
                if r.status == 200:
                    return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.2)
    sys.exit("server did not become ready")


def body(example, rows):
    """The serving input example's first row, repeated `rows` times."""
    if "dataframe_split" in example:
        split = dict(example["dataframe_split"])
        split["data"] = [split["data"][0]] * rows
        return json.dumps({"dataframe_split": split})
    return json.dumps({"inputs": [example["inputs"][0]] * rows})


def first_row(example):
    if "dataframe_split" in example:
        return example["dataframe_split"]["data"][0]
    return example["inputs"][0]


def wrk(port, body_path, conns, duration):
    script = body_path.with_suffix(".lua")
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{body_path}", "r")\nwrk.body = f:read("*a")\nf:close()\n'
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("JSON {\\"p50\\": %d, \\"p99\\": %d, \\"requests\\": %d, '
        '\\"errors\\": %d, \\"non2xx\\": %d, \\"us\\": %d}\\n", latency:percentile(50), '
        "latency:percentile(99), summary.requests, summary.errors.connect + summary.errors.read + "
        "summary.errors.write + summary.errors.timeout, summary.errors.status, summary.duration))\n"
        "end\n"
    )
    env = dict(os.environ, LD_LIBRARY_PATH=str(WRK_LIB))
    out = subprocess.run(
        [str(WRK), "-t", str(min(conns, 2)), "-c", str(conns), "-d", f"{duration}s",
         "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}/invocations"],
        capture_output=True, text=True, env=env, check=True).stdout
    m = json.loads(re.search(r"^JSON (.*)$", out, re.M).group(1))
    return {"rps": m["requests"] / (m["us"] / 1e6), "p50_ms": m["p50"] / 1000,
            "p99_ms": m["p99"] / 1000, "errors": m["errors"] + m["non2xx"]}


def scrape(port):
    """The server-side duration sums and counts from mlflow-serve's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for name in ("request", "queue", "compute", "serialize"):
        for part in ("sum", "count"):
            m = re.search(rf"^mlflow_serve_{name}_duration_seconds_{part}(?:{{[^}}]*route=\"/invocations\"[^}}]*}})? (\S+)$",
                          text, re.M)
            out[f"{name}_{part}"] = float(m.group(1)) if m else 0.0
    return out


def breakdown(before, after):
    """Mean µs per request inside the server: total, queue wait, compute, serialize."""
    def mean(name):
        n = after[f"{name}_count"] - before[f"{name}_count"]
        return (after[f"{name}_sum"] - before[f"{name}_sum"]) / n * 1e6 if n else 0.0
    return {k: mean(k) for k in ("request", "queue", "compute", "serialize")}


def in_process(model_dir, row, rows, threads, seconds=2.0):
    """In-process runtime through the reference environment (same thread count): onnxruntime
    for ONNX models, torch.jit for TorchScript ones, the library's own predict for XGBoost
    (`inplace_predict`) and LightGBM models."""
    if is_python_model(model_dir):
        cols = json.loads((Path(model_dir) / "serving_input_example.json").read_text())["dataframe_split"]["columns"]
        code = f"""
import json, time, pandas as pd, mlflow.pyfunc
m = mlflow.pyfunc.load_model("{model_dir}")
df = pd.DataFrame([json.loads({json.dumps(json.dumps(row))})] * {rows}, columns={cols!r})
out = {{}}
for name, call in (("own", lambda: m._predict_fn(df)), ("pyfunc", lambda: m.predict(df))):
    for _ in range(50): call()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < {seconds}:
        call(); n += 1
    out[name] = (time.perf_counter() - t0) / n * 1e6
print(json.dumps(out))
"""
        out = subprocess.run([str(REF / "python"), "-c", code], capture_output=True, text=True,
                             check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        PYFUNC_US[rows] = r["pyfunc"]
        return r["own"]
    tree = next((p for p in ("model.ubj", "model.json", "model.xgb", "model.lgb")
                 if (Path(model_dir) / p).exists()), None)
    if tree:
        code = f"""
import json, time, numpy as np
x = np.array([json.loads({json.dumps(json.dumps(row))})] * {rows}, dtype=np.float64)
if "{tree}" == "model.lgb":
    import lightgbm as lgb
    b = lgb.Booster(model_file="{model_dir}/{tree}")
    call = lambda: b.predict(x, num_threads={threads})
else:
    import xgboost as xgb
    b = xgb.Booster(model_file="{model_dir}/{tree}")
    b.set_param({{"nthread": {threads}}})
    call = lambda: b.inplace_predict(x)
for _ in range(100): call()
n, t0 = 0, time.perf_counter()
while time.perf_counter() - t0 < {seconds}:
    call(); n += 1
print(json.dumps({{"us": (time.perf_counter() - t0) / n * 1e6}}))
"""
        out = subprocess.run([str(REF / "python"), "-c", code], capture_output=True, text=True,
                             check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])["us"]
    if (Path(model_dir) / "data/model.pth").exists():
        code = f"""
import json, time, torch
torch.set_num_threads({threads}); torch.set_num_interop_threads(1)
m = torch.jit.load("{model_dir}/data/model.pth").eval()
x = torch.tensor([{json.dumps(row)}] * {rows}, dtype=torch.float32)
with torch.no_grad():
    for _ in range(100): m(x)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < {seconds}:
        m(x); n += 1
print(json.dumps({{"us": (time.perf_counter() - t0) / n * 1e6}}))
"""
        out = subprocess.run([str(REF / "python"), "-c", code], capture_output=True, text=True,
                             check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])["us"]
    code = f"""
import json, time, numpy as np, onnxruntime as ort
so = ort.SessionOptions(); so.intra_op_num_threads = {threads}; so.inter_op_num_threads = 1
s = ort.InferenceSession("{model_dir}/model.onnx", so, providers=["CPUExecutionProvider"])
name = s.get_inputs()[0].name
x = np.array([{json.dumps(row)}] * {rows}, dtype=np.float32)
for _ in range(100): s.run(None, {{name: x}})
n, t0 = 0, time.perf_counter()
while time.perf_counter() - t0 < {seconds}:
    s.run(None, {{name: x}}); n += 1
print(json.dumps({{"us": (time.perf_counter() - t0) / n * 1e6}}))
"""
    out = subprocess.run([str(REF / "python"), "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["us"]


PYFUNC_US = {}


def is_python_model(model_dir):
    """A model served through Python workers (no ONNX, TorchScript or tree file)."""
    d = Path(model_dir)
    return not any((d / p).exists() for p in (
        "model.onnx", "data/model.pth", "model.ubj", "model.json", "model.xgb", "model.lgb"))


def start(cmd, port, env=None):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, **(env or {})), start_new_session=True)
    wait_ready(port, proc)
    return proc


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--model", default=str(ROOT / "tests/fixtures/models/wine_cols"))
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads everywhere")
    ap.add_argument("--ref-env", default=str(ROOT / ".venv-ref"),
                    help="the Python environment with MLflow and the model's library "
                         "(.venv-trees for XGBoost and LightGBM models)")
    args = ap.parse_args()
    global REF
    REF = Path(args.ref_env).resolve() / "bin"
    model = Path(args.model).resolve()
    binary = ROOT / "target/release/mlflow-serve"
    if not WRK.exists() or not binary.exists():
        sys.exit("run `make load` (it fetches wrk and builds the release binary)")
    example = json.loads((model / "serving_input_example.json").read_text())
    tmp = Path(tempfile.mkdtemp(prefix="mlflow-serve-load-"))
    bodies = {}
    for rows in (1, 64):
        p = tmp / f"body{rows}.json"
        p.write_text(body(example, rows))
        bodies[rows] = p

    servers = {}
    port = free_port()
    t0 = time.time()
    extra = []
    if is_python_model(model):
        # The same Python, libraries and worker count as `mlflow models serve -w 1`.
        extra = ["--env-manager", "local", "--python", str(REF / "python"), "-w", "1"]
    ours = start([str(binary), "models", "serve", "-m", str(model), "-p", str(port),
                  "--intra-op-threads", str(args.threads)] + extra, port, {"RUST_LOG": "warn"})
    ready_s = time.time() - t0
    servers["mlflow-serve"] = (ours, port)
    have_ref = (REF / "mlflow").exists()
    if have_ref:
        rport = free_port()
        ref = start([str(REF / "mlflow"), "models", "serve", "-m", str(model), "-p", str(rport),
                     "--env-manager", "local", "-w", "1"], rport,
                    {"PATH": f"{REF}:{os.environ['PATH']}", "OMP_NUM_THREADS": str(args.threads)})
        servers["mlflow models serve"] = (ref, rport)

    results = {}
    try:
        for rows, path in bodies.items():
            for conns in (1, 8, 64):
                for name, (proc, p) in servers.items():
                    before = scrape(p) if name == "mlflow-serve" else None
                    r = wrk(p, path, conns, args.duration)
                    if before is not None:
                        r["inside"] = breakdown(before, scrape(p))
                    r["rows_s"] = r["rps"] * rows
                    results[(name, rows, conns)] = r
                    print(f"{name:20} batch {rows:3} conns {conns:3}: {r['rps']:9.0f} req/s "
                          f"{r['rows_s']:10.0f} rows/s p50 {r['p50_ms']:7.3f} ms "
                          f"p99 {r['p99_ms']:7.3f} ms errors {r['errors']}", flush=True)
        rss = rss_mb(ours.pid)
    finally:
        for proc, _ in servers.values():
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)

    inproc = ({rows: in_process(model, first_row(example), rows, args.threads) for rows in bodies}
              if have_ref else {})
    print()
    print(f"model {model.name}")
    print("inside mlflow-serve at 1 connection (mean µs per request, from /metrics): " + "; ".join(
        f"batch {rows}: total {b['request']:.1f}, queue wait {b['queue']:.1f}, compute "
        f"{b['compute']:.1f}, serialize {b['serialize']:.1f}, rest (HTTP, parse, enforce, "
        f"hand-back) {b['request'] - b['queue'] - b['compute'] - b['serialize']:.1f}"
        for rows in bodies for b in [results[("mlflow-serve", rows, 1)]["inside"]]))
    if PYFUNC_US:
        for rows in bodies:
            c = results[("mlflow-serve", rows, 1)]["inside"]["compute"]
            print(f"batch {rows}: the model's own predict in process {inproc[rows]:.1f} µs, "
                  f"through PyFuncModel.predict {PYFUNC_US[rows]:.1f} µs; mlflow-serve's call "
                  f"into its worker (IPC, pandas, predict, answer) {c:.1f} µs = "
                  f"{c / inproc[rows]:.2f}× the model's own predict")
    print(f"mlflow-serve ready {ready_s:.2f} s after start; RSS after the run {rss:.1f} MB; "
          f"intra-op threads {args.threads}; {os.cpu_count()} CPUs")
    print()
    print("| batch | conns | mlflow-serve req/s | rows/s | p50 ms | p99 ms | mlflow req/s | p50 ms "
          "| ratio | in-process µs/call | server overhead µs (p50 − in-process) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for rows in bodies:
        for conns in (1, 8, 64):
            o = results[("mlflow-serve", rows, conns)]
            m = results.get(("mlflow models serve", rows, conns))
            ip = inproc.get(rows)
            mm = f"{m['rps']:.0f} | {m['p50_ms']:.2f}" if m else "— | —"
            ratio = f"{o['rps'] / m['rps']:.0f}×" if m and m["rps"] else "—"
            ips = f"{ip:.1f}" if ip else "—"
            over = f"{o['p50_ms'] * 1000 - ip:.0f}" if ip and conns == 1 else ""
            print(f"| {rows} | {conns} | {o['rps']:.0f} | {o['rows_s']:.0f} | {o['p50_ms']:.3f} | "
                  f"{o['p99_ms']:.3f} | {mm} | {ratio} | {ips} | {over} |")


if __name__ == "__main__":
    main()
