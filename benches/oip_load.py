"""Open Inference Protocol load harness (`make load-oip`, part of `make load`): the same rows
through every protocol mlflow-serve speaks, in one run, on one server, and the same V2
requests against real MLServer 1.7.1 + mlserver-mlflow (KServe's runtime for MLflow models)
serving the same model.

Protocols, each at batch 1 and 64 rows and 1 and 8 connections:
  /invocations JSON   `{"inputs": [[…] × rows]}`               (wrk)
  V2 REST JSON        `POST /v2/models/{name}/infer`, JSON data  (wrk)
  V2 REST binary      Triton's binary tensors in and out        (wrk)
  V2 gRPC             ModelInfer with raw_input_contents        (h2load, Debian's nghttp2-client)
and `/ping` as the floor of the HTTP path. The table gives req/s, rows/s, p50, the server's
CPU time per request (user + system, every thread, from /proc: what the request costs the
server whatever the load generator does on the same cores) and the ratios binary ÷
/invocations JSON (rows/s) and mlflow-serve ÷ MLServer (req/s, V2 JSON; MLServer with its
default settings and with `parallel_workers: 0`, the faster of the two). Every request body
is checked once (a 200 with outputs) before it is timed.

The binary ÷ JSON ratio at batch 64 and 8 connections is then measured again in
`--ab-rounds` alternating pairs (JSON then binary, binary then JSON, ...), since one 5-s
cell on a shared 2-core machine swings by a third: the summary gives the median and range
of the wall-clock ratio and of the ratio of rows per server CPU-second.

    python3 benches/oip_load.py [--duration 5] [--ab-rounds 5] [--model tests/fixtures/models/wine_tensor]
"""

import argparse
import json
import statistics
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import free_port, rss_mb, start, stop, wait_ready  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WRK = ROOT / ".local/wrk/usr/bin/wrk"
WRK_LIB = ROOT / ".local/wrk/usr/lib/x86_64-linux-gnu"
H2LOAD = ROOT / ".local/h2load/usr/bin/h2load"
H2LOAD_LIB = ROOT / ".local/h2load/usr/lib/x86_64-linux-gnu"
REF = ROOT / ".venv-ref/bin"
MLSERVER = ROOT / ".venv-mlserver/bin"


def wrk(url, body_path, headers, conns, duration):
    script = body_path.with_suffix(".lua")
    hdrs = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    script.write_text(
        'wrk.method = "POST"\n' + hdrs +
        f'local f = io.open("{body_path}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("JSON {\\"p50\\": %d, \\"p99\\": %d, \\"requests\\": %d, '
        '\\"errors\\": %d, \\"non2xx\\": %d, \\"us\\": %d}\\n", latency:percentile(50), '
        "latency:percentile(99), summary.requests, summary.errors.connect + summary.errors.read + "
        "summary.errors.write + summary.errors.timeout, summary.errors.status, summary.duration))\n"
        "end\n")
    env = dict(os.environ, LD_LIBRARY_PATH=str(WRK_LIB))
    out = subprocess.run([str(WRK), "-t", str(min(conns, 2)), "-c", str(conns), "-d", f"{duration}s",
                          "--timeout", "10s", "-s", str(script), url],
                         capture_output=True, text=True, env=env, check=True).stdout
    m = json.loads(re.search(r"^JSON (.*)$", out, re.M).group(1))
    return {"rps": m["requests"] / (m["us"] / 1e6), "p50_ms": m["p50"] / 1000,
            "errors": m["errors"] + m["non2xx"], "requests": m["requests"]}


def h2load(url, body_path, conns, duration):
    """gRPC load: HTTP/2 POSTs of a length-prefixed ModelInferRequest, one stream at a time
    per connection (as wrk's HTTP/1.1 requests)."""
    env = dict(os.environ, LD_LIBRARY_PATH=str(H2LOAD_LIB))
    out = subprocess.run([str(H2LOAD), "-c", str(conns), "-m", "1", "-t", str(min(conns, 2)),
                          "-D", str(duration), "-d", str(body_path),
                          "-H", "content-type: application/grpc", "-H", "te: trailers", url],
                         capture_output=True, text=True, env=env, check=True).stdout
    done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out).group(2))
    secs = float(re.search(r"finished in ([\d.]+)(m?s)", out).group(1))
    if re.search(r"finished in [\d.]+ms", out):
        secs /= 1000
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out).group(1)
    mean_ms = float(mean[:-2]) if mean.endswith("ms") else float(mean[:-2]) / 1000 if mean.endswith("us") else float(mean[:-1]) * 1000
    return {"rps": done / secs, "p50_ms": mean_ms, "errors": 0, "p50_is_mean": True, "requests": done}


def cpu_seconds(pid):
    """User + system CPU time of a process, every thread, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(pid, run):
    """`run()`'s result with the server's CPU µs per request added."""
    before = cpu_seconds(pid)
    r = run()
    spent = cpu_seconds(pid) - before
    r["cpu_us"] = spent * 1e6 / max(r["requests"], 1)
    return r


def post(url, body, headers):
    req = urllib.request.Request(url, body, headers)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.headers, r.read()


def bodies(tmp, name, input_name, row, rows):
    """The request bodies for `rows` copies of `row` (float32 features)."""
    data = [row] * rows
    out = {}
    p = tmp / f"invocations{rows}.json"
    p.write_text(json.dumps({"inputs": data}))
    out["/invocations JSON"] = (p, {"Content-Type": "application/json"}, "/invocations")
    p = tmp / f"v2json{rows}.json"
    p.write_text(json.dumps({"inputs": [{"name": input_name, "shape": [rows, len(row)],
                                         "datatype": "FP32", "data": data}]}))
    out["V2 REST JSON"] = (p, {"Content-Type": "application/json"}, f"/v2/models/{name}/infer")
    raw = b"".join(struct.pack(f"<{len(row)}f", *row) for _ in range(rows))
    header = json.dumps({"parameters": {"binary_data_output": True},
                         "inputs": [{"name": input_name, "shape": [rows, len(row)], "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(raw)}}]}).encode()
    p = tmp / f"v2bin{rows}.bin"
    p.write_bytes(header + raw)
    out["V2 REST binary"] = (p, {"Content-Type": "application/octet-stream",
                                 "Inference-Header-Content-Length": str(len(header))},
                             f"/v2/models/{name}/infer")
    code = f"""
import struct, sys
from tritonclient.grpc import service_pb2
r = service_pb2.ModelInferRequest(model_name={name!r})
r.inputs.add(name={input_name!r}, datatype="FP32", shape=[{rows}, {len(row)}])
r.raw_input_contents.append(bytes.fromhex({raw.hex()!r}))
m = r.SerializeToString()
sys.stdout.buffer.write(b"\\x00" + struct.pack(">I", len(m)) + m)
"""
    p = tmp / f"grpc{rows}.bin"
    p.write_bytes(subprocess.run([str(REF / "python"), "-c", code], capture_output=True, check=True).stdout)
    out["V2 gRPC"] = (p, None, "/inference.GRPCInferenceService/ModelInfer")
    return out


def check(port, path, body_path, headers):
    status, h, body = post(f"http://127.0.0.1:{port}{path}", body_path.read_bytes(), headers)
    if status != 200 or not (b"outputs" in body or b"predictions" in body):
        sys.exit(f"{path}: {status} {body[:300]!r}")


def check_grpc(gport, name, input_name, row):
    code = f"""
import numpy as np, tritonclient.grpc as g
c = g.InferenceServerClient("127.0.0.1:{gport}")
i = g.InferInput({input_name!r}, [1, {len(row)}], "FP32"); i.set_data_from_numpy(np.array([{row!r}], np.float32))
r = c.infer({name!r}, [i]); print(r.get_response().outputs[0].name)
"""
    subprocess.run([str(REF / "python"), "-c", code], capture_output=True, check=True)


def mlserver(model, name, parallel_workers):
    """Real MLServer serving the same model (`parallel_workers` None: MLServer's default, one
    inference worker process, as KServe's kserve-mlserver runs it; 0: inference in the
    server's own process), or None without its environment."""
    if not (MLSERVER / "mlserver").exists():
        return None, None, None
    tmp = Path(tempfile.mkdtemp(prefix="mlserver-load-"))
    port, gport, mport = free_port(), free_port(), free_port()
    # Its Prometheus files go with the rest of its state, not into the working directory.
    settings = {"http_port": port, "grpc_port": gport, "metrics_port": mport, "metrics_dir": str(tmp / "metrics")}
    if parallel_workers is not None:
        settings["parallel_workers"] = parallel_workers
    (tmp / "settings.json").write_text(json.dumps(settings))
    (tmp / name).mkdir()
    (tmp / name / "model-settings.json").write_text(json.dumps({
        "name": name, "implementation": "mlserver_mlflow.MLflowRuntime", "parameters": {"uri": str(model)}}))
    proc = subprocess.Popen([str(MLSERVER / "mlserver"), "start", str(tmp)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"), cwd=tmp)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/{name}/ready", timeout=1) as r:
                if r.status == 200:
                    return proc, port, tmp
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.3)
    stop(proc)
    sys.exit("MLServer did not become ready")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--ab-rounds", type=int, default=5)
    ap.add_argument("--model", default=str(ROOT / "tests/fixtures/models/wine_tensor"))
    args = ap.parse_args()
    model = Path(args.model).resolve()
    binary = ROOT / "target/release/mlflow-serve"
    for tool in (WRK, H2LOAD, binary, REF / "python"):
        if not tool.exists():
            sys.exit(f"missing {tool}: run `make load-oip`")
    example = json.loads((model / "serving_input_example.json").read_text())
    row = [float(x) for x in example["inputs"][0]]
    name = model.name
    port, gport = free_port(), free_port()
    ours = start([str(binary), "models", "serve", "-m", str(model), "-p", str(port), "--grpc-port", str(gport),
                  "--intra-op-threads", "1"], port, {"RUST_LOG": "warn"})
    meta = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/{name}").read())
    input_name = meta["inputs"][0]["name"]
    tmp = Path(tempfile.mkdtemp(prefix="oip-load-"))
    results = {}
    try:
        sets = {rows: bodies(tmp, name, input_name, row, rows) for rows in (1, 64)}
        ping = tmp / "ping.lua"
        for rows, bs in sets.items():
            for proto, (path, headers, route) in bs.items():
                if headers is not None:
                    check(port, route, path, headers)
        check_grpc(gport, name, input_name, row)
        for conns in (1, 8):
            ping.write_text("")
            env = dict(os.environ, LD_LIBRARY_PATH=str(WRK_LIB))
            out = subprocess.run([str(WRK), "-t", str(min(conns, 2)), "-c", str(conns), "-d", f"{args.duration}s",
                                  "--latency", f"http://127.0.0.1:{port}/ping"], capture_output=True, text=True,
                                 env=env, check=True).stdout
            rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
            results[("/ping", 0, conns)] = {"rps": rps, "rows_s": 0, "p50_ms": 0.0}
            print(f"{'/ping':20} conns {conns}: {rps:9.0f} req/s", flush=True)
            for rows, bs in sets.items():
                for proto, (path, headers, route) in bs.items():
                    if headers is None:
                        r = timed(ours.pid, lambda: h2load(f"http://127.0.0.1:{gport}{route}", path, conns,
                                                           args.duration))
                    else:
                        r = timed(ours.pid, lambda: wrk(f"http://127.0.0.1:{port}{route}", path, headers, conns,
                                                        args.duration))
                    r["rows_s"] = r["rps"] * rows
                    results[(proto, rows, conns)] = r
                    print(f"{proto:20} batch {rows:3} conns {conns}: {r['rps']:9.0f} req/s {r['rows_s']:10.0f} rows/s "
                          f"p50 {r['p50_ms']:.3f} ms cpu {r['cpu_us']:.0f} µs/req errors {r['errors']}", flush=True)
        # The goal's cell again, in alternating pairs.
        ab = []
        for i in range(args.ab_rounds):
            pair = {}
            for proto in (("/invocations JSON", "V2 REST binary") if i % 2 == 0
                          else ("V2 REST binary", "/invocations JSON")):
                path, headers, route = sets[64][proto]
                pair[proto] = timed(ours.pid, lambda: wrk(f"http://127.0.0.1:{port}{route}", path, headers, 8,
                                                          args.duration))
            j, b = pair["/invocations JSON"], pair["V2 REST binary"]
            ab.append((b["rps"] / j["rps"], j["cpu_us"] / b["cpu_us"]))
            print(f"A/B round {i + 1}: /invocations JSON {j['rps']:.0f} req/s ({j['cpu_us']:.0f} µs CPU), "
                  f"V2 binary {b['rps']:.0f} req/s ({b['cpu_us']:.0f} µs CPU): ratio {ab[-1][0]:.2f}, "
                  f"per CPU-second {ab[-1][1]:.2f}", flush=True)
        rss = rss_mb(ours.pid)
    finally:
        stop(ours)

    # MLServer as KServe runs it (default settings) and with inference in its own process;
    # the ratios use the faster of the two.
    for label, workers in (("MLServer default", None), ("MLServer workers=0", 0)):
        peer, pport, ptmp = mlserver(model, name, workers)
        if peer is None:
            break
        try:
            for rows in (1, 64):
                path, headers, route = sets[rows]["V2 REST JSON"]
                check(pport, route, path, headers)
                for conns in (1, 8):
                    r = wrk(f"http://127.0.0.1:{pport}{route}", path, headers, conns, args.duration)
                    r["rows_s"] = r["rps"] * rows
                    results[(label, rows, conns)] = r
                    best = results.get(("MLServer V2 JSON", rows, conns))
                    if best is None or r["rps"] > best["rps"]:
                        results[("MLServer V2 JSON", rows, conns)] = r
                    print(f"{label:20} batch {rows:3} conns {conns}: {r['rps']:9.0f} req/s "
                          f"p50 {r['p50_ms']:.3f} ms errors {r['errors']}", flush=True)
        finally:
            stop(peer)
            shutil.rmtree(ptmp, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"model {name}; RSS of mlflow-serve after the run {rss:.1f} MB; {os.cpu_count()} CPUs; "
          "gRPC p50 is h2load's mean")
    print("| batch | conns | protocol | req/s | rows/s | p50 ms | server CPU µs/req | ÷ /invocations JSON rows/s "
          "| ÷ MLServer V2 JSON req/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rows in (1, 64):
        for conns in (1, 8):
            base = results[("/invocations JSON", rows, conns)]["rows_s"]
            peer_r = results.get(("MLServer V2 JSON", rows, conns))
            for proto in ("/invocations JSON", "V2 REST JSON", "V2 REST binary", "V2 gRPC", "MLServer default",
                          "MLServer workers=0"):
                r = results.get((proto, rows, conns))
                if r is None:
                    continue
                vs_peer = f"{r['rps'] / peer_r['rps']:.0f}×" if peer_r and not proto.startswith("MLServer") else ""
                cpu = f"{r['cpu_us']:.0f}" if "cpu_us" in r else ""
                print(f"| {rows} | {conns} | {proto} | {r['rps']:.0f} | {r['rows_s']:.0f} | {r['p50_ms']:.3f} | "
                      f"{cpu} | {r['rows_s'] / base:.2f} | {vs_peer} |")
    for conns in (1, 8):
        print(f"/ping floor, {conns} conns: {results[('/ping', 0, conns)]['rps']:.0f} req/s")
    if ab:
        wall = [w for w, _ in ab]
        per_cpu = [c for _, c in ab]
        print(f"V2 binary ÷ /invocations JSON, batch 64, 8 conns, {len(ab)} alternating pairs: rows/s "
              f"median {statistics.median(wall):.2f} (range {min(wall):.2f}–{max(wall):.2f}); rows per server "
              f"CPU-second median {statistics.median(per_cpu):.2f} (range {min(per_cpu):.2f}–{max(per_cpu):.2f})")


if __name__ == "__main__":
    main()
