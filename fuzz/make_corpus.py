"""Seed corpora for the fuzz targets, from the recorded goldens and the fixture models.

Writes fuzz/corpus/<target>/<name>: every golden request body by its Content-Type (JSON
bodies get a leading byte choosing the signature kind, as the targets read it), and every
fixture model's MLmodel and small PyTorch archive. Run from the repository root: python3 fuzz/make_corpus.py
"""

import base64
import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "corpus"
MAX = 16 * 1024


def put(target, data):
    if len(data) > MAX:
        return
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


for golden in sorted((ROOT / "tests" / "golden").glob("*.json")):
    for case in json.loads(golden.read_text())["cases"]:
        if case.get("method") != "POST":
            continue
        body = base64.b64decode(case["body_b64"]) if "body_b64" in case else case.get("body", "").encode()
        ctype = case.get("headers", {}).get("Content-Type", "").lower()
        # One copy per body, under a signature kind that varies from case to case.
        k = int(hashlib.sha1(body).hexdigest(), 16) % 4
        if "csv" in ctype:
            put("csv_request", bytes([k]) + body)
        elif "parquet" in ctype:
            put("parquet_request", body)
        else:
            put("json_request", bytes([k]) + body)

for mlmodel in sorted((ROOT / "tests" / "fixtures" / "models").glob("*/MLmodel")):
    put("mlmodel", mlmodel.read_bytes())

# The smallest PyTorch archives real MLflow wrote (TorchScript, eager pickle, .pt2).
for archive in sorted((ROOT / "tests" / "fixtures" / "models").glob("torch_*/data/model.*")):
    if archive.stat().st_size <= 64 * 1024:
        d = OUT / "torch_archive"
        d.mkdir(parents=True, exist_ok=True)
        (d / archive.parent.parent.name).write_bytes(archive.read_bytes())

# Inputs that once crashed a target (fuzz/regressions/<target>--<name>) stay in its seeds.
for crash in sorted((ROOT / "fuzz" / "regressions").glob("*--*")):
    target = crash.name.split("--")[0]
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"regression-{crash.name.split('--', 1)[1]}").write_bytes(crash.read_bytes())

for target in sorted(OUT.iterdir()):
    print(f"{target.name}: {len(list(target.iterdir()))} seeds")
