"""Large-file offline scoring (`make bench-predict-large`): a wine Parquet file of at least
--gb GB (default 2) is generated row group by row group with pyarrow, then scored by
`mlflow-serve models predict -t parquet --output-format parquet --keep-columns id` (release
build). Reports wall time, rows/s and the process's peak RSS (goal: <= 300 MB), checks that
every row came back in order, and measures onnxruntime alone (in-process, same libonnxruntime
version) on the same rows at the same batch size: alone on decoded float32 arrays (the
ceiling), and with the reading a hand-written in-process script does (pyarrow batches ->
numpy -> run) beside it.

    python3 benches/predict_large.py [--gb 2] [--batch-rows 10000] [--keep]
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
PY = ROOT / ".venv-ref/bin/python"
MODEL = ROOT / "tests/fixtures/models/wine_cols"
BINARY = ROOT / "target/release/mlflow-serve"

GENERATE = """
import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
path, target, group = sys.argv[1], float(sys.argv[2]) * 1e9, int(sys.argv[3])
cols = ["fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",
        "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates", "alcohol"]
lo = np.array([4.6, 0.12, 0.0, 0.9, 0.012, 1, 6, 0.990, 2.74, 0.33, 8.4])
hi = np.array([15.9, 1.58, 1.0, 15.5, 0.611, 72, 289, 1.004, 4.01, 2.0, 14.9])
rng = np.random.default_rng(7)
schema = pa.schema([("id", pa.int64())] + [(c, pa.float64()) for c in cols])
w = pq.ParquetWriter(path, schema, compression="snappy")
rows = 0
import os
while True:
    x = lo + rng.random((group, 11)) * (hi - lo)
    arrays = [pa.array(np.arange(rows, rows + group, dtype=np.int64))] + [pa.array(x[:, j]) for j in range(11)]
    w.write_table(pa.Table.from_arrays(arrays, schema=schema))
    rows += group
    if os.path.getsize(path) >= target:
        break
w.close()
print(rows)
"""

ORT = """
import sys, time, numpy as np, pyarrow.parquet as pq, onnxruntime as ort
path, batch, limit, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
o = ort.SessionOptions(); o.intra_op_num_threads = threads
s = ort.InferenceSession(sys.argv[5], o, providers=["CPUExecutionProvider"])
name = s.get_inputs()[0].name
# Reading included: pyarrow batches of `batch` rows -> float32 array -> run, in one process.
t = time.perf_counter()
parts, n = [], 0
for b in pq.ParquetFile(path).iter_batches(batch_size=batch):
    x = np.stack([b.column(j).to_numpy() for j in range(1, 12)], axis=1).astype(np.float32)
    s.run(None, {name: x})
    parts.append(x)
    n += len(x)
    if n >= limit:
        break
with_reading = n / (time.perf_counter() - t)
# The runtime alone on the decoded arrays.
t = time.perf_counter()
for x in parts:
    s.run(None, {name: x})
print(n / (time.perf_counter() - t), with_reading)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=2.0)
    ap.add_argument("--batch-rows", type=int, default=10_000)
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="predict-large-", dir=os.environ.get("TMPDIR", "/tmp")))
    src, out = tmp / "wine.parquet", tmp / "scores.parquet"
    t = time.perf_counter()
    rows = int(subprocess.run([str(PY), "-c", GENERATE, str(src), str(args.gb), "200000"],
                              capture_output=True, text=True, check=True).stdout)
    gen_s = time.perf_counter() - t
    size_gb = src.stat().st_size / 1e9

    cmd = [str(BINARY), "models", "predict", "-m", str(MODEL), "-i", str(src), "-t", "parquet",
           "-o", str(out), "--output-format", "parquet", "--keep-columns", "id",
           "--batch-rows", str(args.batch_rows)]
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, env=dict(os.environ, RUST_LOG="error"))
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    err = p.stderr.read().decode()
    if status != 0:
        sys.exit(f"models predict failed:\n{err[-2000:]}")
    peak_mb = usage.ru_maxrss / 1024

    check = subprocess.run([str(PY), "-c", (
        "import sys, pyarrow.parquet as pq, pyarrow.compute as pc\n"
        "f = pq.ParquetFile(sys.argv[1]); n = 0; ordered = True\n"
        "for b in f.iter_batches(columns=['id'], batch_size=1_000_000):\n"
        "    ids = b.column(0).to_numpy()\n"
        "    ordered &= bool((ids == range(n, n + len(ids))).all()); n += len(ids)\n"
        "print(n, ordered)"), str(out)], capture_output=True, text=True, check=True).stdout.split()
    ort_rows_s, ort_reading_rows_s = map(float, subprocess.run(
        [str(PY), "-c", ORT, str(src), str(args.batch_rows), "2000000", str(os.cpu_count() or 1),
         str(MODEL / "model.onnx")], capture_output=True, text=True, check=True).stdout.split())
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    print(json.dumps({
        "input_gb": round(size_gb, 2), "rows": rows, "generate_s": round(gen_s, 1),
        "pandas_decoded_gb": round(rows * 12 * 8 / 1e9, 2),
        "mem_available_gb": round(int(meminfo["MemAvailable"].split()[0]) / 1e6, 1),
        "batch_rows": args.batch_rows, "wall_s": round(wall, 1),
        "rows_per_s": round(rows / wall), "peak_rss_mb": round(peak_mb, 1),
        "rows_out": int(check[0]), "in_order": check[1] == "True",
        "onnxruntime_alone_rows_per_s": round(ort_rows_s),
        "share_of_onnxruntime": round(rows / wall / ort_rows_s, 3),
        "pyarrow_plus_onnxruntime_rows_per_s": round(ort_reading_rows_s),
        "share_of_pyarrow_plus_onnxruntime": round(rows / wall / ort_reading_rows_s, 3),
        "summary": err.strip().splitlines()[-1] if err.strip() else "",
    }, indent=1))
    if not args.keep:
        src.unlink()
        out.unlink()
        tmp.rmdir()
    if int(check[0]) != rows or check[1] != "True" or peak_mb > 300:
        sys.exit("rows lost, out of order, or peak RSS above 300 MB")


if __name__ == "__main__":
    main()
