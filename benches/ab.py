"""A/B of two mlflow-serve binaries on the same model with wrk, alternated round by round so
that machine noise hits both alike (used for "no regression" claims in the notes).

    python3 benches/ab.py BINARY_A BINARY_B [--rounds 3] [--duration 5]
        [--model tests/fixtures/models/wine_cols]

For each round and each cell (batch 1 at 1 and 8 connections, batch 64 at 1 and 8), A then B
(B then A on odd rounds) serve the same body; the table gives each binary's median req/s and
p50 over the rounds, and B/A.
"""

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from load import ROOT, body, free_port, start, stop, wrk

CELLS = [(1, 1), (1, 8), (64, 1), (64, 8)]


def serve(binary, model, port):
    return start([binary, "models", "serve", "-m", model, "-p", str(port), "--intra-op-threads", "1"],
                 port, env={"RUST_LOG": "warn"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--model", default=str(ROOT / "tests/fixtures/models/wine_cols"))
    args = ap.parse_args()
    example = json.loads((Path(args.model) / "serving_input_example.json").read_text())
    tmp = Path(tempfile.mkdtemp())
    results = {(c, w): {"a": [], "b": []} for c in CELLS for w in "ab"}
    results = {c: {"a": [], "b": []} for c in CELLS}
    for r in range(args.rounds):
        order = ["a", "b"] if r % 2 == 0 else ["b", "a"]
        for which in order:
            port = free_port()
            proc = serve(getattr(args, which), args.model, port)
            try:
                for rows, conns in CELLS:
                    path = tmp / f"body-{rows}.json"
                    path.write_text(body(example, rows))
                    wrk(port, path, conns, 1)  # warm
                    results[(rows, conns)][which].append(wrk(port, path, conns, args.duration))
            finally:
                stop(proc)
    print("| batch | conns | A req/s | B req/s | B/A | A p50 ms | B p50 ms |")
    print("|---|---|---|---|---|---|---|")
    for (rows, conns), ab in results.items():
        med = {w: statistics.median(x["rps"] for x in ab[w]) for w in "ab"}
        p50 = {w: statistics.median(x["p50_ms"] for x in ab[w]) for w in "ab"}
        runs = {w: " ".join(f"{x['rps']:.0f}" for x in ab[w]) for w in "ab"}
        print(f"| {rows} | {conns} | {med['a']:.0f} ({runs['a']}) | {med['b']:.0f} ({runs['b']}) | "
              f"{med['b'] / med['a']:.3f} | {p50['a']:.3f} | {p50['b']:.3f} |")


if __name__ == "__main__":
    main()
