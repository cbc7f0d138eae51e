"""Record golden responses of real `mlflow models serve` 3.17.2 for the tree fixtures (run by
`make tree-goldens`: in .venv-trees with XGBoost 3.2 and LightGBM 4.7, and with `--legacy` in
.venv-xgb2 with XGBoost 2.0 for the legacy binary models): tests/golden/trees/serve/<model>.json.

The format and the `compare` modes are record.py's (whose helpers this reuses);
tests/golden_replay.rs replays these files too. Each model gets the same request matrix:
every request format (split, records, instances, inputs, CSV, Parquet), missing values,
rows beyond float32, Infinity, zero rows, 64 rows, a missing and an extra column, a wrong
type, and, where the signature takes params, each param MLflow passes on.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import yaml
import zlib

sys.path.insert(0, str(Path(__file__).parent))
from record import JSON, case, csv_body, free_port, parquet_body, records, send, split, start_mlflow_serve  # noqa: E402

HERE = Path(__file__).parent
MODELS = HERE.parent / "fixtures" / "models"
OUT = HERE / "trees" / "serve"


def rows(rng, cols, types, n, missing=0.15):
    lo = np.array([4.6, 0.12, 0.0, 0.9, 0.012, 1, 6, 0.990, 2.74, 0.33, 8.4])
    hi = np.array([15.9, 1.58, 1.0, 15.5, 0.611, 72, 289, 1.004, 4.01, 2.0, 14.9])
    out = []
    for _ in range(n):
        r = []
        for j, t in enumerate(types):
            if t == "long":
                r.append(int(rng.integers(-1, 8)))
            elif rng.random() < missing:
                r.append(None)
            else:
                r.append(float(np.round(lo[j] + rng.random() * (hi[j] - lo[j]), 3)))
        out.append(r)
    return out


# Models saved without a signature, and the model whose signature their requests follow.
NO_SIGNATURE = {"xgb_nosig": "xgb_binary_logistic", "lgb_nosig": "lgb_binary"}


def cases_for(model):
    mlmodel = yaml.safe_load((MODELS / NO_SIGNATURE.get(model, model) / "MLmodel").read_text())
    inputs = json.loads(mlmodel["signature"]["inputs"])
    params = [] if model in NO_SIGNATURE else [
        p["name"] for p in json.loads(mlmodel["signature"].get("params") or "[]")]
    cols = [c["name"] for c in inputs]
    types = [c["type"] for c in inputs]
    # Each model draws from its own generator, so adding a model leaves the others' requests.
    rng = np.random.default_rng(zlib.crc32(model.encode()))
    r8, r3, r64 = rows(rng, cols, types, 8), rows(rng, cols, types, 3, 0), rows(rng, cols, types, 64)
    full = [[0.0 if v is None else v for v in r] for r in r3]
    huge = [list(full[0]), list(full[1])]
    huge[1][0] = 1e300
    inf_body = json.dumps(split(full, cols)).replace(json.dumps(full[1][0]), "Infinity", 1)
    c = [
        case("split_8", split(r8, cols)),
        case("records_3", records(full, cols)),
        case("instances_3", {"instances": [dict(zip(cols, r)) for r in full]}),
        case("inputs_3", {"inputs": [dict(zip(cols, r)) for r in full]}),
        case("csv_8", csv_body(r8, cols), ctype="text/csv"),
        case("parquet_3", parquet_body(full, cols), ctype="application/vnd.apache.parquet"),
        case("split_64", split(r64, cols)),
        case("split_zero_rows", split([], cols)),
        case("split_beyond_float32", split(huge, cols)),
        case("split_infinity", inf_body),
        case("split_missing_column", split([r[1:] for r in full], cols[1:])),
        case("split_extra_column", split([r + [1.0] for r in full], cols + ["extra"])),
        case("split_string_value", split([["x"] + r[1:] for r in full], cols)),
        case("split_unknown_param", {**split(full, cols), "params": {"no_such_param": 1}}),
    ]
    if model in NO_SIGNATURE:
        # No enforcement: the library sees the columns as sent.
        c += [
            case("nosig_reordered", split([r[::-1] for r in full], cols[::-1])),
            case("nosig_renamed", split(full, ["x" + n for n in cols])),
            case("nosig_string_column", split([["a"] + r[1:] for r in full], cols)),
            case("nosig_int_column", split([[1] + r[1:] for r in full], cols)),
            case("nosig_bool_column", split([[True] + r[1:] for r in full], cols)),
            case("nosig_one_column_less", split([r[1:] for r in full], cols[1:])),
            case("nosig_params", {**split(full, cols), "params": {"output_margin": True}}),
        ]
    for p in params:
        if p in ("output_margin", "pred_leaf", "strict_shape", "pred_contribs", "pred_interactions"):
            c.append(case(f"param_{p}", {**split(full, cols), "params": {p: True}}))
    if "approx_contribs" in params:
        c.append(case("param_approx_contribs", {**split(full, cols), "params": {"pred_contribs": True, "approx_contribs": True}}))
        c.append(case("param_two_outputs", {**split(full, cols), "params": {"output_margin": True, "pred_leaf": True}}))
        c.append(case("param_contribs_strict", {**split(r8, cols), "params": {"pred_contribs": True, "strict_shape": True}}))
    return c


def record(model):
    port = free_port()
    proc = start_mlflow_serve(MODELS / model, port)
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"mlflow models serve did not start for {model}")
        results = []
        for c in cases_for(model):
            r = dict(c)
            r.update(send(port, c))
            # XGBoost 2.0's multiclass XGBClassifier fails on zero rows (its empty prediction
            # has shape (0, 0), which np.argmax refuses); mlflow-serve answers as XGBoost 3.x
            # does (README, "Deliberate divergences").
            if model == "xgb_legacy_classifier" and c["name"] == "split_zero_rows":
                r["divergence"] = "xgboost2-zero-rows"
            results.append(r)
        OUT.mkdir(parents=True, exist_ok=True)
        out = OUT / f"{model}.json"
        out.write_text(json.dumps({"model": model, "mlflow_version": "3.17.2", "cases": results}, indent=1) + "\n")
        print(f"{model}: {len(results)} cases -> {out}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main():
    # `--legacy`: the legacy-binary fixtures, served by MLflow with XGBoost 2.0 (.venv-xgb2);
    # otherwise every other tree fixture (.venv-trees).
    legacy = "--legacy" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--legacy"]
    names = sorted(p.name for p in MODELS.iterdir()
                   if p.name.startswith(("xgb_", "lgb_")) and p.name.startswith("xgb_legacy_") == legacy)
    for m in args or names:
        record(m)


if __name__ == "__main__":
    main()
