"""Record what real `mlflow models serve` 3.17.2 answers for the Python-worker fixtures of
issue 29 (tests/fixtures/generate_python.py), in .venv-ref: tests/golden/python/<model>.json.

Same format as record.py (whose helpers this reuses), plus what a Python server does when the
model itself fails: a request whose model kills its own process records the transport error
the client saw (`transport_error`) and what `/ping` answers next; a model that cannot load
records that the server never became ready and the last lines of its stderr (`startup`).

    .venv-ref/bin/python tests/golden/record_python.py [MODEL...]
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from record import WINE, case, csv_body, free_port, records, send, split, start_mlflow_serve, wine_rows  # noqa: E402

HERE = Path(__file__).parent
MODELS = HERE.parent / "fixtures" / "models"
OUT = HERE / "python"
SMALL = WINE[:3]


def sklearn_cases():
    r3, r64 = wine_rows(3), wine_rows(64)
    ints = [[int(v) for v in r] for r in r3]
    return [
        case("inputs_records_3", {"inputs": [dict(zip(WINE, r)) for r in r3]}),
        case("instances_3", {"instances": [dict(zip(WINE, r)) for r in r3]}),
        case("split_int_values", split(ints)),
        case("split_extra_column", split([r + [1.0] for r in r3], WINE + ["extra"])),
        case("split_null_value", split([[None] + r[1:] for r in r3])),
        case("csv_missing_value", csv_body([[None] + r[1:] for r in r3]), ctype="text/csv"),
        case("split_3", split(r3)),
        case("records_3", records(r3)),
        case("csv_3", csv_body(r3), ctype="text/csv"),
        case("split_64", split(r64)),
        case("split_missing_column", split([r[1:] for r in r3], WINE[1:])),
        case("split_string_value", split([["x"] + r[1:] for r in r3])),
        case("split_zero_rows", split([])),
    ]


def small_rows(n):
    return [r[:3] for r in wine_rows(n)]


CASES = {
    "py_sklearn_skops": sklearn_cases,
    "py_sklearn_pickle": sklearn_cases,
    "py_sklearn_proba": sklearn_cases,
    "py_custom_params": lambda: [
        case("split_defaults", split(small_rows(3), SMALL)),
        case("split_params", {**split(small_rows(3), SMALL), "params": {"scale": 2.5, "threshold": 40.0}}),
        case("split_param_wrong_type", {**split(small_rows(2), SMALL), "params": {"scale": "big"}}),
        case("split_unknown_param", {**split(small_rows(2), SMALL), "params": {"nope": 1}}),
        case("split_64", split(small_rows(64), SMALL)),
    ],
    "py_raises": lambda: [case("split_3", split(small_rows(3), SMALL))],
    "py_sleeps": lambda: [
        case("split_fast", {**split(small_rows(2), SMALL), "params": {"seconds": 0.01}}),
    ],
    "py_kills_itself": lambda: [
        case("lives", split([[1.5, 0], [2.5, 0]], ["x", "die"])),
        case("dies", split([[1.5, 0], [2.5, 1]], ["x", "die"])),
        case("ping_after_death", method="GET", path="/ping", ctype=None),
    ],
    "py_missing_requirement": lambda: [case("split_1", split(small_rows(1), SMALL))],
    # No signature: the model answers the Python object it was given.
    "py_describes": lambda: [
        case("split_mixed", split([[1, 2.5, "a", True, None], [3, None, "b", False, "x"]],
                                  ["i", "f", "s", "b", "o"])),
        case("split_ints", split([[1, 2], [3, 4]], ["a", "b"])),
        case("records_mixed", {"dataframe_records": [{"a": 1, "b": "x"}, {"a": 2.5, "c": None}]}),
        case("instances_2d", {"instances": [[1.0, 2.0], [3.0, 4.0]]}),
        case("instances_ints", {"instances": [[1, 2], [3, 4]]}),
        case("inputs_strings", {"inputs": ["a", "b", "c"]}),
        case("inputs_nested_lists", {"inputs": [[1, [2, 3]], [4, [5]]]}),
        case("inputs_dict_of_lists", {"inputs": {"x": [1.0, 2.0], "y": ["a", "b"]}}),
        case("inputs_records", {"inputs": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]}),
        case("inputs_scalar", {"inputs": "hello"}),
        case("inputs_params", {"inputs": [[1, 2]], "params": {"k": 3, "name": "n", "xs": [1, 2]}}),
        case("csv_mixed", "a,b,c\n1,2.5,x\n3,,y\n", ctype="text/csv"),
        case("split_int_labels", {"dataframe_split": {"columns": [0, 1], "data": [[1.5, 2.5]]}}),
    ],
}


def record(model):
    port = free_port()
    proc = start_mlflow_serve(MODELS / model, port, stderr=subprocess.PIPE)
    out = {"model": model, "mlflow_version": "3.17.2"}
    try:
        ready = False
        for _ in range(300):
            if proc.poll() is not None:
                break
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1)
                ready = True
                break
            except Exception:
                time.sleep(0.1)
        if not ready:
            proc.kill()
            err = proc.stderr.read().decode(errors="replace").strip().splitlines()
            out["startup"] = {"ready": False, "exit": proc.poll(), "stderr_tail": err[-5:]}
            out["cases"] = []
        else:
            results = []
            for c in CASES[model]():
                r = dict(c)
                try:
                    r.update(send(port, c))
                except Exception as e:  # noqa: BLE001 - what the client saw is the answer
                    r["transport_error"] = type(e).__name__
                results.append(r)
                time.sleep(0.5)
            out["cases"] = results
        OUT.mkdir(exist_ok=True)
        (OUT / f"{model}.json").write_text(json.dumps(out, indent=1) + "\n")
        print(f"{model}: {len(out['cases'])} cases" + ("" if ready else " (did not start)"))
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def main():
    # Requests are drawn in CASES order whichever models are recorded (record.py's rule).
    wanted = sys.argv[1:] or list(CASES)
    for m in CASES:
        if m in wanted:
            record(m)
        else:
            CASES[m]()


if __name__ == "__main__":
    main()
