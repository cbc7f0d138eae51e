"""Instructions per request of two mlflow-serve binaries, counted by valgrind's callgrind:
repeatable whatever else the machine is doing, where wall-clock A/B (benches/ab.py) on a
noisy shared machine is not.

    python3 benches/callgrind_ab.py BINARY_A BINARY_B [--requests 2000]
        [--model tests/fixtures/models/wine_cols] [--protocol invocations|v2-json|v2-binary|grpc]

Each binary serves the model under callgrind (`--intra-op-threads 1 --workers 1`,
`--idle-spin-us 0` so that no worker polls); after a warm-up the counters are zeroed, N
requests of batch 1 (then N/4 of batch 64) are sent one after another on one keep-alive
connection, and the counters are dumped. Instructions of every thread (tokio, the worker,
ONNX Runtime) divided by N. Needs valgrind. `--protocol` sends the rows as `/invocations`
JSON (`inputs`), or to `POST /v2/models/{name}/infer` as V2 JSON or Triton's binary tensors,
or as gRPC `ModelInfer` calls with raw contents (the input's name from the server's V2
metadata; gRPC needs grpcio: run it with the reference environment's Python).
"""

import argparse
import http.client
import json
import re
import struct
import subprocess
import tempfile
import time
from pathlib import Path

from load import ROOT, body, first_row, free_port, wait_ready


def total_instructions(out_file):
    text = Path(out_file).read_text()
    m = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
    return int(m.group(1))


def request_for(protocol, port, example, rows):
    """The path, body and headers of one request of `rows` rows."""
    if protocol == "invocations":
        return "/invocations", body(example, rows).encode(), {"Content-Type": "application/json"}
    name = Path(model_dir_of[port]).name
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", f"/v2/models/{name}")
    meta = json.loads(conn.getresponse().read())
    input_name = meta["inputs"][0]["name"]
    row = [float(x) for x in first_row(example)]
    path = f"/v2/models/{name}/infer"
    if protocol == "v2-json":
        req = {"inputs": [{"name": input_name, "shape": [rows, len(row)], "datatype": "FP32",
                           "data": row * rows}]}
        return path, json.dumps(req).encode(), {"Content-Type": "application/json"}
    raw = struct.pack(f"<{rows * len(row)}f", *(row * rows))
    if protocol == "grpc":
        def field(num, payload):
            def varint(n):
                out = b""
                while True:
                    b, n = n & 0x7F, n >> 7
                    out += bytes([b | (0x80 if n else 0)])
                    if not n:
                        return out
            return varint(num << 3 | 2) + varint(len(payload)) + payload
        shape = bytes([rows, len(row)]) if rows < 128 else None
        tensor = field(1, input_name.encode()) + field(2, b"FP32") + field(3, shape)
        return "grpc", field(1, name.encode()) + field(5, tensor) + field(7, raw), {}
    header = json.dumps({"inputs": [{"name": input_name, "shape": [rows, len(row)], "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "parameters": {"binary_data_output": True}}).encode()
    return path, header + raw, {"Content-Type": "application/octet-stream",
                                "Inference-Header-Content-Length": str(len(header))}


model_dir_of = {}
grpc_port_of = {}


def measure(binary, model, n, tmp, protocol="invocations"):
    port = free_port()
    gport = free_port()
    grpc_port_of[port] = gport
    prefix = tmp / f"cg-{port}"
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={prefix}.%p",
         binary, "models", "serve", "-m", model, "-p", str(port),
         "--intra-op-threads", "1", "-w", "1", "--idle-spin-us", "0", "--grpc-port", str(gport),
         "--onnxruntime-lib", str(ROOT / ".local/onnxruntime/lib")],
        stdout=subprocess.DEVNULL, stderr=open(tmp / f"cg-{port}.log", "w"), env={"RUST_LOG": "warn", "PATH": "/usr/bin:/bin"},
    )
    try:
        wait_ready(port, proc, secs=300)
        example = json.loads((Path(model) / "serving_input_example.json").read_text())
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

        model_dir_of[port] = model
        gport = grpc_port_of.get(port)

        def send(rows, count):
            path, data, headers = request_for(protocol, port, example, rows)
            if path == "grpc":
                import grpc
                with grpc.insecure_channel(f"127.0.0.1:{gport}") as channel:
                    call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                               request_serializer=None, response_deserializer=None)
                    for _ in range(count):
                        call(data, timeout=60)
                return
            for _ in range(count):
                conn.request("POST", path, data, headers)
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
    ap.add_argument("--protocol", choices=["invocations", "v2-json", "v2-binary", "grpc"], default="invocations")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    a = measure(args.a, args.model, args.requests, tmp, args.protocol)
    b = measure(args.b, args.model, args.requests, tmp, args.protocol)
    print("| batch | A instr/request | B instr/request | B/A |")
    print("|---|---|---|---|")
    for rows in a:
        print(f"| {rows} | {a[rows]:,.0f} | {b[rows]:,.0f} | {b[rows] / a[rows]:.3f} |")


if __name__ == "__main__":
    main()
