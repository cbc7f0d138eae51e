"""A/B of two mlflow-serve binaries over every protocol of the Open Inference Protocol harness
(benches/oip_load.py's bodies and load generators: wrk for HTTP, h2load for gRPC), alternated
round by round so that machine noise hits both alike. Used for "within noise" claims when a
change touches the V2 or gRPC paths.

    python3 benches/ab_oip.py BINARY_A BINARY_B [--rounds 4] [--duration 4] [--only gRPC]
        [--model tests/fixtures/models/wine_tensor]

Cells: batch 1 and 64 at 8 connections for /invocations JSON, V2 REST JSON, V2 REST binary and
gRPC. The table gives each binary's median req/s and server CPU µs per request over the
rounds, and B/A of both.
"""

import argparse
import json
import statistics
import tempfile
import urllib.request
from pathlib import Path

from load import ROOT, free_port, start, stop
from oip_load import bodies, h2load, timed, wrk

PROTOCOLS = ["/invocations JSON", "V2 REST JSON", "V2 REST binary", "V2 gRPC"]


def serve(binary, model, port, gport):
    return start([binary, "models", "serve", "-m", str(model), "-p", str(port), "--grpc-port", str(gport),
                  "--intra-op-threads", "1", "--onnxruntime-lib", str(ROOT / ".local/onnxruntime/lib")],
                 port, {"RUST_LOG": "warn"})


def run_cell(proc, port, gport, body, conns, duration):
    path, headers, route = body
    if headers is None:
        return timed(proc.pid, lambda: h2load(f"http://127.0.0.1:{gport}{route}", path, conns, duration))
    return timed(proc.pid, lambda: wrk(f"http://127.0.0.1:{port}{route}", path, headers, conns, duration))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--duration", type=int, default=4)
    ap.add_argument("--only", help="the protocols whose name holds this text (e.g. gRPC)")
    ap.add_argument("--model", default=str(Path(__file__).resolve().parent.parent / "tests/fixtures/models/wine_tensor"))
    args = ap.parse_args()
    protocols = [p for p in PROTOCOLS if not args.only or args.only in p]
    model = Path(args.model).resolve()
    example = json.loads((model / "serving_input_example.json").read_text())
    row = [float(x) for x in example["inputs"][0]]
    tmp = Path(tempfile.mkdtemp(prefix="ab-oip-"))
    results = {}  # (binary, proto, rows) -> [(rps, cpu_us)]
    sets = None
    for i in range(args.rounds):
        order = [("A", args.a), ("B", args.b)] if i % 2 == 0 else [("B", args.b), ("A", args.a)]
        for label, binary in order:
            port, gport = free_port(), free_port()
            proc = serve(binary, model, port, gport)
            try:
                if sets is None:
                    meta = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/{model.name}").read())
                    sets = {rows: bodies(tmp, model.name, meta["inputs"][0]["name"], row, rows) for rows in (1, 64)}
                for rows, bs in sets.items():
                    for proto in protocols:
                        r = run_cell(proc, port, gport, bs[proto], 8, args.duration)
                        results.setdefault((label, proto, rows), []).append((r["rps"], r["cpu_us"]))
                        print(f"round {i + 1} {label} {proto:18} batch {rows:2}: {r['rps']:8.0f} req/s "
                              f"{r['cpu_us']:6.1f} µs CPU/req", flush=True)
            finally:
                stop(proc)
    print("\n| protocol | batch | A req/s | B req/s | B/A | A µs CPU/req | B µs CPU/req | B/A |")
    print("|---|---|---|---|---|---|---|---|")
    for rows in (1, 64):
        for proto in protocols:
            a = results[("A", proto, rows)]
            b = results[("B", proto, rows)]
            ar, br = statistics.median(x[0] for x in a), statistics.median(x[0] for x in b)
            ac, bc = statistics.median(x[1] for x in a), statistics.median(x[1] for x in b)
            print(f"| {proto} | {rows} | {ar:.0f} | {br:.0f} | {br / ar:.3f} | {ac:.1f} | {bc:.1f} | {bc / ac:.3f} |")


if __name__ == "__main__":
    main()
