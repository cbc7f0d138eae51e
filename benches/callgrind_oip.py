"""Instructions per request, by protocol, counted by valgrind's callgrind (every thread:
tokio, the inference worker, ONNX Runtime): deterministic where wall-clock figures on a
shared machine are not. The release binary serves wine_tensor (`--intra-op-threads 1 -w 1
--idle-spin-us 0`); after a warm-up, N requests of each kind go one after another on one
keep-alive connection between a zeroing and a dump of the counters.

    python3 benches/callgrind_oip.py [--requests 500] [--binary target/release/mlflow-serve]
"""
import argparse
import glob
import http.client
import json
import os
import re
import struct
import subprocess
import tempfile
import time

from load import ROOT, free_port, wait_ready

ROW = [7.4, 0.7, 0.0, 1.9, 0.076, 11.0, 34.0, 0.9978, 3.51, 0.56, 9.4]


def cases():
    raw = b"".join(struct.pack("<11f", *ROW) for _ in range(64))
    header = json.dumps({"parameters": {"binary_data_output": True},
                         "inputs": [{"name": "input-0", "shape": [64, 11], "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(raw)}}]}).encode()
    v2 = "/v2/models/wine_tensor/infer"
    js = {"Content-Type": "application/json"}
    v2json = lambda n: json.dumps({"inputs": [{"name": "input-0", "shape": [n, 11], "datatype": "FP32",
                                              "data": [ROW] * n}]}).encode()
    return {
        "/invocations JSON, 1 row": ("/invocations", json.dumps({"inputs": [ROW]}).encode(), js),
        "V2 JSON, 1 row": (v2, v2json(1), js),
        "/invocations JSON, 64 rows": ("/invocations", json.dumps({"inputs": [ROW] * 64}).encode(), js),
        "V2 JSON, 64 rows": (v2, v2json(64), js),
        "V2 binary, 64 rows": (v2, header + raw, {"Inference-Header-Content-Length": str(len(header))}),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--binary", default=str(ROOT / "target/release/mlflow-serve"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    port = free_port()
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out.%p", args.binary, "models", "serve",
         "-m", str(ROOT / "tests/fixtures/models/wine_tensor"), "-p", str(port), "--intra-op-threads", "1",
         "-w", "1", "--idle-spin-us", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={"RUST_LOG": "warn", "PATH": "/usr/bin:/bin"})
    try:
        wait_ready(port, proc, secs=300)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        all_cases = cases()

        def send(name, n):
            path, body, headers = all_cases[name]
            for _ in range(n):
                conn.request("POST", path, body, headers)
                r = conn.getresponse()
                r.read()
                assert r.status == 200, (name, r.status)

        for name in all_cases:
            send(name, 30)
        print("| request | instructions per request |")
        print("|---|---|")
        for name in all_cases:
            subprocess.run(["callgrind_control", "--zero", str(proc.pid)], check=True, stdout=subprocess.DEVNULL)
            send(name, args.requests)
            before = set(glob.glob(f"{tmp}/out.*"))
            subprocess.run(["callgrind_control", "--dump", str(proc.pid)], check=True, stdout=subprocess.DEVNULL)
            time.sleep(1)
            dump = sorted(set(glob.glob(f"{tmp}/out.*")) - before)[-1]
            text = open(dump).read()
            m = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
            print(f"| {name} | {int(m.group(1)) / args.requests:,.0f} |", flush=True)
            os.remove(dump)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
