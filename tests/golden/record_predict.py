"""Records what real `mlflow models predict --env-manager local` 3.17.2 answers for every
JSON and CSV request of the serving goldens (tests/golden/*.json, made by record.py), into
tests/golden/predict/<golden file>.json, for tests/predict_parity.rs. Run with
PYTHONHASHSEED=0, as record.py runs the server, so that Python's set order in messages is
the same in both (`make predict-goldens` does).

With `--env-manager local`, MLflow's CLI scores in its own process
(`mlflow.pyfunc.backend.PyFuncBackend.predict` calls `scoring_server._predict`), so the
command is invoked in-process through click's test runner, once per case; for each model the
first success and the first failure are also run as a real `mlflow models predict`
subprocess and must agree (output bytes, exit status), which checks that shortcut.

    .venv-ref/bin/python tests/golden/record_predict.py     (make predict-goldens)

With `--trees` the inputs are the tree models' serving goldens (tests/golden/trees/serve,
made by record_trees.py) and the answers go to tests/golden/trees/predict; run it in
.venv-trees, and with `--trees --legacy` in .venv-xgb2 for the legacy binary models
(`make tree-goldens`).
"""

import base64
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import mlflow
from click.testing import CliRunner
from mlflow.models.cli import predict as predict_command

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests/golden"
FIXTURES = ROOT / "tests/fixtures/models"
OUT = GOLDEN / "predict"
FORMATS = {"application/json": "json", "text/csv": "csv"}

assert mlflow.__version__ == "3.17.2", mlflow.__version__


def inputs(golden):
    for case in golden["cases"]:
        if case["method"] != "POST" or case["path"] != "/invocations":
            continue
        fmt = FORMATS.get(case["headers"].get("Content-Type"))
        if fmt is None:
            continue
        if "body_b64" in case:
            body = base64.b64decode(case["body_b64"])
        elif "body" in case:
            body = case["body"].encode()
        else:
            continue
        yield case["name"], fmt, body


def run_in_process(model_dir, fmt, inp, out):
    result = CliRunner().invoke(
        predict_command,
        ["-m", str(model_dir), "-i", str(inp), "-o", str(out), "-t", fmt, "--env-manager", "local"],
        catch_exceptions=True,
    )
    record = {"exit": result.exit_code}
    if result.exit_code == 0:
        record["output"] = out.read_text()
    else:
        e = result.exception
        record["error_class"] = type(e).__name__
        record["error"] = str(getattr(e, "message", e))
    return record


def run_subprocess(model_dir, fmt, inp, out):
    p = subprocess.run(
        [str(Path(sys.executable).parent / "mlflow"), "models", "predict", "-m", str(model_dir),
         "-i", str(inp), "-o", str(out), "-t", fmt, "--env-manager", "local"],
        capture_output=True)
    return p.returncode, (out.read_text() if p.returncode == 0 else None)


def main():
    global GOLDEN, OUT
    trees = "--trees" in sys.argv
    legacy = "--legacy" in sys.argv
    if trees:
        GOLDEN, OUT = GOLDEN / "trees" / "serve", GOLDEN / "trees" / "predict"
    OUT.mkdir(exist_ok=True)
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    wanted = [a for a in sys.argv[1:] if not a.startswith("--")]
    for path in sorted(GOLDEN.glob("*.json")):
        golden = json.loads(path.read_text())
        model = golden["model"]
        if trees and model.startswith("xgb_legacy_") != legacy:
            continue
        if wanted and model not in wanted:
            continue
        if model.startswith("torch_") and not have_torch:
            # MLflow would answer "No module named 'torch'": keep the recorded file
            print(f"{path.stem}: kept (torch is not installed here; `make predict-goldens` installs it)",
                  flush=True)
            continue
        model_dir = FIXTURES / model
        cases = []
        checked = {"ok": False, "fail": False}
        with tempfile.TemporaryDirectory() as tmp:
            for name, fmt, body in inputs(golden):
                inp = Path(tmp) / f"input.{fmt}"
                inp.write_bytes(body)
                out = Path(tmp) / "out.json"
                out.unlink(missing_ok=True)
                record = run_in_process(model_dir, fmt, inp, out)
                kind = "ok" if record["exit"] == 0 else "fail"
                if not checked[kind]:
                    out.unlink(missing_ok=True)
                    code, text = run_subprocess(model_dir, fmt, inp, out)
                    assert (code == 0) == (record["exit"] == 0), (model, name, code, record)
                    assert text == record.get("output"), (model, name, text, record)
                    checked[kind] = True
                cases.append({"case": name, "format": fmt, **record})
        (OUT / path.name).write_text(json.dumps(
            {"model": model, "golden": f"trees/serve/{path.stem}" if trees else path.stem,
             "mlflow_version": mlflow.__version__, "cases": cases},
            indent=1, ensure_ascii=False) + "\n")
        print(f"{path.stem}: {len(cases)} cases", flush=True)


if __name__ == "__main__":
    main()
