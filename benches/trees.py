"""In-process tree inference (`make bench-trees`): runtimes/trees vs the real libraries' own
predict on the same 100-tree depth-6 models, at 1 and 10 000 rows, on one thread and on all.

The models (XGBoost `binary:logistic`, 100 rounds of depth 6; LightGBM `binary`, 100 rounds of
at most 63 leaves, depth 6) are trained on 20 000 random rows of 30 features and saved with
MLflow into target/bench-models/ once. The libraries are timed through .venv-trees
(`xgboost.Booster.inplace_predict`, `lightgbm.Booster.predict` with `num_threads`); ours
through `cargo run --release -p runtime-trees --example bench_predict`, which on several
threads splits the rows between them as the server's workers split requests. Each timing
runs for SECONDS after a warm-up; the table gives µs per call, rows/s and the ratio.

    python3 benches/trees.py [--seconds 2]
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv-trees/bin/python"
MODELS = ROOT / "target/bench-models"

MAKE = r"""
import sys, shutil
from pathlib import Path
import numpy as np, pandas as pd, xgboost as xgb, lightgbm as lgb, mlflow.xgboost, mlflow.lightgbm
from mlflow.models import infer_signature
out = Path(sys.argv[1])
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.random((20000, 30)) * 100 - 10, columns=[f"f{i}" for i in range(30)])
X[rng.random(X.shape) < 0.1] = np.nan
y = ((X["f0"].fillna(0) + X["f1"].fillna(0) * 0.5 - X["f2"].fillna(0)) > 20).astype(int)
sig = infer_signature(X.iloc[:5])
b = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "seed": 0, "nthread": 1},
              xgb.DMatrix(X, label=y), 100)
shutil.rmtree(out / "xgb_100x6", ignore_errors=True)
mlflow.xgboost.save_model(b, str(out / "xgb_100x6"), signature=sig, input_example=X.iloc[:1])
l = lgb.train({"objective": "binary", "max_depth": 6, "num_leaves": 63, "learning_rate": 0.1, "seed": 0,
               "num_threads": 1, "verbose": -1}, lgb.Dataset(X, label=y), 100)
shutil.rmtree(out / "lgb_100x6", ignore_errors=True)
mlflow.lightgbm.save_model(l, str(out / "lgb_100x6"), signature=sig, input_example=X.iloc[:1])
"""

TIME = r"""
import json, sys, time, numpy as np
kind, path, rows, threads, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
s = 0x9e3779b97f4a7c15
rng = np.random.default_rng(1)
x = rng.random((rows, 30)) * 100 - 10
x[rng.random(x.shape) < 0.1] = np.nan
if kind == "xgboost":
    import xgboost as xgb
    b = xgb.Booster(model_file=path)
    b.set_param({"nthread": threads})
    call = lambda: b.inplace_predict(x)
else:
    import lightgbm as lgb
    b = lgb.Booster(model_file=path)
    call = lambda: b.predict(x, num_threads=threads)
for _ in range(3):
    call()
n, t0 = 0, time.perf_counter()
while time.perf_counter() - t0 < seconds:
    call(); n += 1
us = (time.perf_counter() - t0) / n * 1e6
print(json.dumps({"us_per_call": us, "rows_per_s": rows / (us / 1e6)}))
"""


def ours(path, kind, rows, threads, seconds):
    out = subprocess.run(
        ["cargo", "run", "-q", "--release", "-p", "runtime-trees", "--example", "bench_predict", "--",
         str(path), kind, str(rows), str(threads), str(seconds)],
        cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def theirs(path, kind, rows, threads, seconds):
    out = subprocess.run([str(PY), "-c", TIME, kind, str(path), str(rows), str(threads), str(seconds)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    if not PY.exists():
        sys.exit("needs .venv-trees (make .venv-trees/.ready-1)")
    if not (MODELS / "lgb_100x6/model.lgb").exists():
        MODELS.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(PY), "-c", MAKE, str(MODELS)], check=True, capture_output=True)
    cpus = os.cpu_count() or 1
    print(f"{cpus} CPUs; {args.seconds} s per timing")
    print("| model | rows | threads | library µs/call | library rows/s | runtimes/trees µs/call | rows/s | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for name, kind, file in (("xgb_100x6", "xgboost", "model.ubj"), ("lgb_100x6", "lightgbm", "model.lgb")):
        path = MODELS / name / file
        for rows in (1, 10000):
            for threads in sorted({1, cpus}):
                if rows == 1 and threads > 1:
                    continue
                t = theirs(path, kind, rows, threads, args.seconds)
                o = ours(path, kind, rows, threads, args.seconds)
                print(f"| {name} | {rows} | {threads} | {t['us_per_call']:.1f} | {t['rows_per_s']:.0f} | "
                      f"{o['us_per_call']:.1f} | {o['rows_per_s']:.0f} | "
                      f"{t['us_per_call'] / o['us_per_call']:.1f}× |", flush=True)


if __name__ == "__main__":
    main()
