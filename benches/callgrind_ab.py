"""Instructions per request of two mlflow-serve binaries, counted by valgrind's callgrind:
repeatable whatever else the machine is doing, where wall-clock A/B (benches/ab.py) on a
noisy shared machine is not.

    python3 benches/callgrind_ab.py BINARY_A BINARY_B [--requests 2000]
        [--model tests/fixtures/models/wine_cols]

Each binary serves the model under callgrind (`--intra-op-threads 1 --workers 1`,
`--idle-spin-us 0` so that no worker polls); after a warm-up the counters are zeroed, N
requests of batch 1 (then N/4 of batch 64) are sent one after another on one keep-alive
connection, and the counters are dumped. Instructions of every thread (tokio, the worker,
ONNX Runtime) divided by N. Needs valgrind.
"""

import argparse
import http.client
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

from load import ROOT, body, free_port, wait_ready


def total_instructions(out_file):
    text = Path(out_file).read_text()
    m = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
    return int(m.group(1))


def measure(binary, model, n, tmp):
    port = free_port()
    prefix = tmp / f"cg-{port}"
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={prefix}.%p",
         binary, "models", "serve", "-m", model, "-p", str(port),
         "--intra-op-threads", "1", "-w", "1", "--idle-spin-us", "0",
         "--onnxruntime-lib", str(ROOT / ".local/onnxruntime/lib")],
        stdout=subprocess.DEVNULL, stderr=open(tmp / f"cg-{port}.log", "w"), env={"RUST_LOG": "warn", "PATH": "/usr/bin:/bin"},
    )
    try:
        wait_ready(port, proc, secs=300)
        example = json.loads((Path(model) / "serving_input_example.json").read_text())
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

        def send(rows, count):
            data = body(example, rows).encode()
            for _ in range(count):
                conn.request("POST", "/invocations", data, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                assert r.status == 200, r.status

        send(1, 50)
        send(64, 20)
        out = {}
        for rows, count in [(1, n), (64, max(n // 4, 1))]:
            subprocess.run(["callgrind_control", "--zero", str(proc.pid)], check=True,
                           stdout=subprocess.DEVNULL)
            send(rows, count)
            before = set(tmp.glob(f"cg-{port}.*"))
            subprocess.run(["callgrind_control", "--dump", str(proc.pid)], check=True,
                           stdout=subprocess.DEVNULL)
            time.sleep(1)
            dumps = sorted(set(tmp.glob(f"cg-{port}.*")) - before) or sorted(tmp.glob(f"cg-{port}.*"))
            out[rows] = total_instructions(dumps[-1]) / count
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--model", default=str(ROOT / "tests/fixtures/models/wine_cols"))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    a = measure(args.a, args.model, args.requests, tmp)
    b = measure(args.b, args.model, args.requests, tmp)
    print("| batch | A instr/request | B instr/request | B/A |")
    print("|---|---|---|---|")
    for rows in a:
        print(f"| {rows} | {a[rows]:,.0f} | {b[rows]:,.0f} | {b[rows] / a[rows]:.3f} |")


if __name__ == "__main__":
    main()
