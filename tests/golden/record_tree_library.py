"""Record what the real libraries answer for the tree fixtures on hostile random inputs (run by
`make tree-goldens` in .venv-trees): tests/golden/trees/library.json.

For every xgb_* / lgb_* fixture model this draws rows that mix ordinary values, NaN, ±inf,
extremes (±1e38, ±1e-40, -0.0), values exactly on the model's split thresholds (as float64
and rounded to float32) and, for integer columns, unseen and negative categories; then asks
MLflow's own pyfunc (`mlflow.pyfunc.load_model(...).predict`, i.e. the real library through
MLflow's wrapper) for the answer, with and without `output_margin` where the signature takes
it. runtimes/trees/tests/library_parity.rs replays every row and compares bit for bit.
"""

import json
import math
import sys
import warnings
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import yaml

warnings.filterwarnings("ignore")
HERE = Path(__file__).parent
MODELS = HERE.parent / "fixtures" / "models"
OUT = HERE / "trees" / "library.json"
rng = np.random.default_rng(11)
ROWS = 96


def thresholds(raw, ncols):
    """Split thresholds per feature index, from the library's own tree dump."""
    out = [[] for _ in range(ncols)]
    try:
        import xgboost as xgb
        if isinstance(raw, (xgb.Booster, xgb.XGBModel)):
            b = raw if isinstance(raw, xgb.Booster) else raw.get_booster()
            if b.save_config().find('"gblinear"') >= 0:
                return out
            df = b.trees_to_dataframe()
            names = b.feature_names
            for f, s in zip(df["Feature"], df["Split"]):
                if f != "Leaf" and isinstance(s, float) and not math.isnan(s):
                    # A legacy binary model has no names: XGBoost calls its features f0, f1, …
                    out[names.index(f) if names else int(f[1:])].append(float(s))
            return out
    except ImportError:
        pass
    b = raw.booster_ if hasattr(raw, "booster_") else raw
    df = b.trees_to_dataframe()
    names = b.feature_name()
    for f, s in zip(df["split_feature"], df["threshold"]):
        if f is not None and isinstance(s, float) and not math.isnan(s):
            out[names.index(f)].append(float(s))
    return out


def draw(col_type, cuts, inf=True):
    r = rng.random()
    if col_type == "long":
        choices = [0, 1, 2, 3, 4, 5, 6, 7, 31, 32, 100, -1, -5, 2**31, 10**12]
        return int(choices[rng.integers(len(choices))]) if r < 0.9 else None
    if r < 0.15:
        return float("nan")
    if r < 0.18:
        # XGBoost refuses infinities (its DMatrix check); they get their own answer below.
        sign = rng.random() < 0.5
        return (float("inf") if sign else float("-inf")) if inf else float("nan")
    if r < 0.24:
        return float([1e38, -1e38, 1e-40, -1e-40, -0.0, 0.0, 3.4e38, 1e-45][rng.integers(8)])
    if r < 0.6 and cuts:
        c = cuts[rng.integers(len(cuts))]
        k = rng.integers(4)
        if k == 0:
            return c
        if k == 1:
            return float(np.float32(c))
        return float(np.nextafter(np.float32(c), np.float32(np.inf if k == 2 else -np.inf)))
    return float(np.round(rng.normal(0, 1) * 5 + 5, rng.integers(1, 6)))


def refusal(e):
    """The library's message, without XGBoost's `[hh:mm:ss] file:line: ` prefix (which changes
    from run to run)."""
    import re
    return re.sub(r"^\[\d\d:\d\d:\d\d\] \S+:\d+: ", "", str(e).split("\n")[0])


def encode(v):
    if v is None:
        return None
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return repr(v)
    return v


def flat(a):
    a = np.asarray(a)
    if a.dtype.kind == "f":
        return [encode(float(x)) for x in a.reshape(-1)]
    if a.dtype.kind in "iub":
        return [int(x) for x in a.reshape(-1)]
    return [str(x) for x in a.reshape(-1)]


def record(name):
    path = MODELS / name
    mlmodel = yaml.safe_load((path / "MLmodel").read_text())
    inputs = json.loads(mlmodel["signature"]["inputs"])
    params = json.loads(mlmodel["signature"].get("params") or "[]")
    model = mlflow.pyfunc.load_model(str(path))
    raw = model.get_raw_model()
    cols = [c["name"] for c in inputs]
    types = [c["type"] for c in inputs]
    cuts = thresholds(raw, len(cols))
    xgb_model = "xgboost" in mlmodel["flavors"]
    # XGBoost's DMatrix (what MLflow builds for a Booster) refuses infinities; the scikit-learn
    # estimators predict in place, which takes them.
    dmatrix = xgb_model and mlmodel["flavors"]["xgboost"].get("model_class") == "xgboost.core.Booster"
    rows = [[draw(t, cuts[j], inf=not dmatrix) for j, t in enumerate(types)] for _ in range(ROWS)]
    frame = pd.DataFrame(
        {c: pd.Series([r[j] for r in rows], dtype="float64" if t == "double" else "Int64").astype(
            "float64" if t == "double" else "int64", errors="ignore") for j, (c, t) in enumerate(zip(cols, types))})
    if any(t == "long" for t in types):
        # A missing category is sent as -1 (an integer column cannot hold NaN in MLflow's
        # enforcement); keep the column int64 like the signature.
        for c, t in zip(cols, types):
            if t == "long":
                frame[c] = frame[c].fillna(-1).astype("int64")
        rows = frame.astype(object).values.tolist()
    calls = [{}]
    if any(p["name"] == "output_margin" for p in params):
        calls.append({"output_margin": True})
    if any(p["name"] == "pred_leaf" for p in params):
        calls.append({"pred_leaf": True})
    if any(p["name"] == "pred_contribs" for p in params):
        calls += [{"pred_contribs": True}, {"pred_contribs": True, "approx_contribs": True}]
    if any(p["name"] == "pred_interactions" for p in params):
        # Interaction values grow with the square of the features: the first rows only.
        calls += [{"pred_interactions": True, "rows": 6},
                  {"pred_interactions": True, "approx_contribs": True, "rows": 6}]
    answers = []
    for p in calls:
        p = dict(p)
        n = p.pop("rows", None)
        try:
            out = model.predict(frame if n is None else frame.iloc[:n], params=p or None)
        except Exception as e:  # noqa: BLE001 - the library's own refusal is the answer
            answers.append({"params": p, "error": refusal(e)})
            if n is not None:
                answers[-1]["rows_used"] = n
            continue
        arr = np.asarray(out)
        answer = {"params": p, "dtype": str(arr.dtype), "shape": list(arr.shape), "values": flat(arr)}
        if n is not None:
            answer["rows_used"] = n
        answers.append(answer)
    if dmatrix:
        # `iteration_range` straight on the Booster (a params schema cannot hold a tuple):
        # rounds [1, 3) of the model, as MLflow would pass it through.
        import xgboost as xgb
        for rng_ in ((1, 3), (0, 2)):
            try:
                arr = np.asarray(raw.predict(xgb.DMatrix(frame), iteration_range=rng_, validate_features=False))
                answers.append({"params": {"iteration_range": list(rng_)}, "dtype": str(arr.dtype),
                                "shape": list(arr.shape), "values": flat(arr)})
            except Exception as e:  # noqa: BLE001
                answers.append({"params": {"iteration_range": list(rng_)}, "error": refusal(e)})
        bad = frame.iloc[:2].copy()
        bad.iloc[1, 0] = float("inf")
        try:
            model.predict(bad)
            answers.append({"params": {}, "inf_row": 1, "error": None})
        except Exception as e:  # noqa: BLE001 - the library's own refusal is the answer
            answers.append({"params": {}, "inf_row": 1, "error": refusal(e)})
    flavor = mlmodel["flavors"].get("xgboost") or mlmodel["flavors"]["lightgbm"]
    return {
        "model": name,
        "file": flavor["data"],
        "model_class": flavor.get("model_class", ""),
        "columns": cols,
        "rows": [[encode(v) for v in r] for r in rows],
        "answers": answers,
    }


def main():
    # `--legacy`: the legacy-binary fixtures, recorded in .venv-xgb2 (XGBoost 2.0) into
    # library_legacy.json; otherwise every other tree fixture, in .venv-trees.
    global OUT
    legacy = "--legacy" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--legacy"]
    if legacy:
        OUT = HERE / "trees" / "library_legacy.json"
    # (Models saved without a signature are copies of signed ones: their rows would have no
    # columns to follow.)
    names = args or sorted(p.name for p in MODELS.iterdir()
                           if p.name.startswith(("xgb_", "lgb_")) and p.name.startswith("xgb_legacy_") == legacy
                           and "signature" in (p / "MLmodel").read_text())
    out = []
    for n in names:
        out.append(record(n))
        print(n, [a.get("shape", a.get("error")) for a in out[-1]["answers"]])
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"rows_per_model": ROWS, "models": out}) + "\n")
    print("->", OUT)


if __name__ == "__main__":
    main()
