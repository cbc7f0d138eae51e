"""Record golden responses from real `mlflow models serve` 3.17.2 (run by `make goldens`).

For every fixture model this starts `mlflow models serve --env-manager local`, sends the
request matrix below over HTTP and writes tests/golden/<model>.json: one entry per request
with the exact request (method, path, headers, body) and MLflow's exact answer (status,
content type, body). tests/golden_replay.rs replays every entry against mlflow-serve.

Each case may carry `compare`, telling the replay test how to compare the message of an
error body where MLflow embeds something a Rust server cannot reproduce byte for byte:
  "exact"      (default) the whole body must match, byte for byte
  "predict"    the `Failed to predict data '<pandas repr>'` prefix is skipped (cases whose
               printout mlflow-serve is known not to reproduce)
  "set"        the order of one collection MLflow prints from a Python set is ignored
  "exception"  only the text before `Error: '` must match (a Python exception repr follows)
Modes combine with `+` ("predict+set"). The replay fails when a listed mode is no longer
needed (tests/common/golden.rs), so these lists only shrink.
and `divergence`, naming a deliberate difference documented in the README (the replay
test then checks mlflow-serve's own documented answer instead).
"""

import base64
import io
import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
MODELS = HERE.parent / "fixtures" / "models"
WINE = ["fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",
        "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates", "alcohol"]
IRIS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
rng = np.random.default_rng(7)
JSON = "application/json"


def wine_rows(n):
    lo = np.array([4.6, 0.12, 0.0, 0.9, 0.012, 1, 6, 0.990, 2.74, 0.33, 8.4])
    hi = np.array([15.9, 1.58, 1.0, 15.5, 0.611, 72, 289, 1.004, 4.01, 2.0, 14.9])
    return np.round(lo + rng.random((n, 11)) * (hi - lo), 4).tolist()


def case(name, body=None, ctype=JSON, method="POST", path="/invocations", **extra):
    headers = {}
    if ctype is not None:
        headers["Content-Type"] = ctype
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    c = {"name": name, "method": method, "path": path, "headers": headers}
    if isinstance(body, bytes):
        c["body_b64"] = base64.b64encode(body).decode()
    elif body is not None:
        c["body"] = body
    c.update(extra)
    return c


def split(rows, cols=WINE, **kw):
    d = {"columns": cols, "data": rows}
    d.update(kw)
    return {"dataframe_split": d}


def records(rows, cols=WINE):
    return {"dataframe_records": [dict(zip(cols, r)) for r in rows]}


def csv_body(rows, cols=WINE, index=False):
    return pd.DataFrame(rows, columns=cols).to_csv(index=index)


def parquet_body(rows, cols=WINE):
    buf = io.BytesIO()
    pd.DataFrame(rows, columns=cols).to_parquet(buf)
    return buf.getvalue()


def protocol_cases():
    """Routes, methods, content types and top-level JSON shapes (model-independent)."""
    r1 = wine_rows(1)
    return [
        case("ping", method="GET", path="/ping", ctype=None),
        case("health", method="GET", path="/health", ctype=None),
        case("version", method="GET", path="/version", ctype=None),
        case("ping_post", method="POST", path="/ping", ctype=None),
        case("ping_head", method="HEAD", path="/ping", ctype=None),
        case("invocations_get", method="GET", path="/invocations", ctype=None),
        case("unknown_path", method="GET", path="/nope", ctype=None),
        case("ping_query", method="GET", path="/ping?x=1", ctype=None),
        case("no_content_type", split(r1), ctype=None, divergence="missing-content-type"),
        case("ct_charset_utf8_upper", split(r1), ctype="application/json; charset=UTF-8"),
        case("ct_charset_nospace", split(r1), ctype="application/json;charset=utf-8"),
        case("ct_space_before_semicolon", split(r1), ctype="application/json ; charset=utf-8"),
        case("ct_latin1", split(r1), ctype="application/json; charset=latin-1"),
        case("ct_utf8_nodash", split(r1), ctype="application/json; charset=utf8"),
        case("ct_quoted_charset", split(r1), ctype='application/json; charset="utf-8"'),
        case("ct_format_param", split(r1), ctype="application/json; format=pandas-split"),
        case("ct_trailing_semicolon", split(r1), ctype="application/json;"),
        case("ct_uppercase_mime", split(r1), ctype="APPLICATION/JSON"),
        case("ct_text_plain", split(r1), ctype="text/plain"),
        case("ct_text_plain_latin1", split(r1), ctype="text/plain; charset=latin-1"),
        case("ct_two_types", split(r1), ctype="application/json, text/csv"),
        case("ct_csv_header_param", "a\n1\n", ctype="text/csv; header=present"),
        case("json_bad", "{bad json"),
        case("json_empty", ""),
        case("json_mlflow_test_garbage", "this is,,,, not valid json"),
        case("json_unterminated_string", '{"dataframe_split": {"columns": ["a'),
        case("json_trailing_garbage", '{"dataframe_split": {"data": []}} x'),
        case("json_missing_colon", '{"dataframe_split" {}}'),
        case("json_missing_comma", '{"a": 1 "b": 2}'),
        case("json_bad_escape", '{"a": "\\q"}'),
        case("json_control_char", '{"a": "x\ty"}'),
        case("json_multiline_error", '{\n  "a": 1,\n  "b": \n}'),
        case("json_unicode_before_error", '{"é": [1, }'),
        case("json_quote_in_body", "{'single': 1}"),
        case("json_not_utf8", b'{"a": "\xff"}'),
        case("json_utf8_bom", b'\xef\xbb\xbf' + json.dumps(split(r1)).encode()),
        case("json_top_list", "[1]"),
        case("json_top_int", "1"),
        case("json_top_str", '"1"'),
        case("json_top_float", "1.5"),
        case("json_top_null", "null"),
        case("json_top_bool", "true"),
        case("json_no_format_key", {"not": 1}),
        case("json_empty_object", {}),
        case("json_two_format_keys", {"dataframe_records": [], "dataframe_split": {"data": []}}),
        case("json_params_only", {"params": {"a": 1}}),
        case("json_format_plus_ignored_keys", {**split(r1), "signature_name": "x"}),
        case("split_not_dict_list", {"dataframe_split": [1, 2]}),
        case("split_not_dict_int", {"dataframe_split": 5}),
        case("split_not_dict_str", {"dataframe_split": "x"}),
        case("split_missing_data", {"dataframe_split": {"columns": ["a"]}}),
        case("split_extra_key", {"dataframe_split": {"data": [[1]], "extra": 1}}, compare="set"),
        case("split_index_mismatch", {"dataframe_split": {"index": [1, 2], "data": [[1], [2], [3]]}}),
        case("split_columns_mismatch", {"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}),
        case("records_dict", {"dataframe_records": {"a": [1]}}),
        case("records_str", {"dataframe_records": "x"}),
        case("records_int", {"dataframe_records": 3}),
        case("records_null", {"dataframe_records": None}),
        case("csv_empty", "", ctype="text/csv"),
        case("csv_not_utf8", b"a,b\n\xff,1\n", ctype="text/csv"),
        case("parquet_garbage", b"not a parquet file", ctype="application/vnd.apache.parquet"),
    ]


def wine_cols_cases():
    cs = []
    for n in (1, 7, 64, 1000):
        rows = wine_rows(n)
        cs.append(case(f"split_{n}", split(rows)))
    for n in (1, 64):
        rows = wine_rows(n)
        cs.append(case(f"records_{n}", records(rows)))
        cs.append(case(f"csv_{n}", csv_body(rows), ctype="text/csv"))
        cs.append(case(f"parquet_{n}", parquet_body(rows), ctype="application/vnd.apache.parquet"))
        cs.append(case(f"instances_{n}", {"instances": [dict(zip(WINE, r)) for r in rows]}))
        cs.append(case(f"inputs_dict_{n}", {"inputs": {c: [r[i] for r in rows] for i, c in enumerate(WINE)}}))
        cs.append(case(f"inputs_records_{n}", {"inputs": [dict(zip(WINE, r)) for r in rows]}))
    r = wine_rows(3)
    cs += [
        case("csv_with_index", csv_body(r, index=True), ctype="text/csv"),
        case("csv_crlf", csv_body(r).replace("\n", "\r\n"), ctype="text/csv"),
        case("csv_reordered_columns", pd.DataFrame(r, columns=WINE)[WINE[::-1]].to_csv(index=False), ctype="text/csv"),
        case("csv_na_token", csv_body([[None] + r[0][1:]]), ctype="text/csv"),
        case("csv_string_value", "fixed acidity," + ",".join(WINE[1:]) + "\nabc," + ",".join(map(str, r[0][1:])) + "\n",
             ctype="text/csv"),
        case("csv_missing_column", csv_body([x[:9] for x in r], WINE[:9]), ctype="text/csv"),
        case("csv_header_only", ",".join(f'"{c}"' if " " in c else c for c in WINE) + "\n", ctype="text/csv"),
        # Issue 11: an unterminated quoted field is a parse error (pandas' C tokenizer), not a
        # schema error; nested-array cells reach enforcement as objects.
        case("csv_unterminated_quote", ",".join(f'"{c}"' for c in WINE) + '\n"7,0.27,0.36,20.7,0.045,45,170,1.001,3,0.45,8.8\n',
             ctype="text/csv"),
        case("csv_unterminated_quote_last_field", ",".join(f'"{c}"' for c in WINE) + '\n7,0.27,0.36,20.7,0.045,45,170,1.001,3,0.45,"8.8\n',
             ctype="text/csv"),
        case("split_nested_cells", split([[[v, v] for v in x] for x in r])),
        case("parquet_missing_column", parquet_body([x[:9] for x in r], WINE[:9]), ctype="application/vnd.apache.parquet"),
        case("parquet_int_column", parquet_body([[int(v) for v in x] for x in r]), ctype="application/vnd.apache.parquet"),
        case("parquet_float32", (lambda: (lambda b: (pd.DataFrame(r, columns=WINE).astype("float32").to_parquet(b), b.getvalue())[1])(io.BytesIO()))(),
             ctype="application/vnd.apache.parquet"),
        case("split_missing_columns", split([x[:9] for x in r], WINE[:9])),
        case("split_extra_column", split([x + [1.0] for x in r], WINE + ["extra"])),
        case("split_reordered_columns", split([x[::-1] for x in r], WINE[::-1])),
        case("split_no_columns", {"dataframe_split": {"data": r}}),
        case("split_with_index", split(r, index=[10, 11, 12])),
        case("split_ints", split([[int(v) for v in x] for x in r])),
        case("split_numeric_strings", split([[str(v) for v in x] for x in r])),
        case("split_bad_string", split([["abc"] + x[1:] for x in r])),
        case("split_null", split([[None] + x[1:] for x in r])),
        case("split_nan", {"dataframe_split": {"columns": WINE, "data": "__NAN__"}}),
        case("split_infinity", '{"dataframe_split": {"columns": %s, "data": [[Infinity, -Infinity, 1, 1, 1, 1, 1, 1, 1, 1, 1]]}}' % json.dumps(WINE)),
        case("split_bool", split([[True] + x[1:] for x in r])),
        case("split_nested_list", split([[[1.0, 2.0]] + x[1:] for x in r])),
        case("split_empty_data", split([])),
        case("split_big_int", split([[2 ** 70] + x[1:] for x in r])),
        case("split_duplicate_key_last_wins", '{"dataframe_split": {"data": [[1]]}, "dataframe_split": %s}' % json.dumps(split(r)["dataframe_split"])),
        case("records_missing_key", {"dataframe_records": [dict(zip(WINE[:10], x)) for x in r]}),
        case("records_ragged_keys", {"dataframe_records": [dict(zip(WINE, r[0])), dict(zip(WINE[:10], r[1]))]}),
        case("records_empty", {"dataframe_records": []}),
        case("records_scalars", {"dataframe_records": [1, 2]}),
        case("inputs_list", {"inputs": r}),
        case("inputs_scalar", {"inputs": 5}),
        case("inputs_empty_list", {"inputs": []}),
        case("inputs_empty_dict", {"inputs": {}}),
        case("inputs_dict_bad_string", {"inputs": {c: (["x"] if i == 0 else [r[0][i]]) for i, c in enumerate(WINE)}}),
        case("inputs_dict_unequal", {"inputs": {c: ([1.0, 2.0] if i == 0 else [r[0][i]]) for i, c in enumerate(WINE)}}),
        case("instances_ragged", {"instances": [dict(zip(WINE, r[0])), dict(zip(WINE[:10], r[1]))]}),
        case("instances_list", {"instances": r}),
        case("params_without_schema", {**split(r), "params": {"a": 1}}),
        case("params_null", {**split(r), "params": None}),
        case("llm_messages", {"messages": [{"role": "user", "content": "hi"}]}),
        case("unicode_column", split([x + [1.0] for x in r], WINE + ["é☃😀"])),
    ]
    # NaN needs a raw body (json.dumps would write NaN anyway, keep it explicit)
    for c in cs:
        if c.get("body", "").find('"__NAN__"') >= 0:
            c["body"] = '{"dataframe_split": {"columns": %s, "data": [[NaN, %s]]}}' % (
                json.dumps(WINE), ", ".join(map(str, r[0][1:])))
    return cs


def wine_tensor_cases():
    cs = []
    for n in (1, 64, 1000):
        rows = wine_rows(n)
        cs.append(case(f"inputs_{n}", {"inputs": rows}))
    r = wine_rows(2)
    cs += [
        case("instances_2", {"instances": r}),
        case("split_no_columns", {"dataframe_split": {"data": r}}),
        case("split_named_columns", split(r)),
        case("records", records(r)),
        case("inputs_ints", {"inputs": [[int(v) for v in x] for x in r]}),
        case("inputs_wrong_width", {"inputs": [x[:10] for x in r]}),
        case("inputs_1d", {"inputs": r[0]}),
        case("inputs_3d", {"inputs": [r]}),
        case("inputs_scalar", {"inputs": 1.5}),
        case("inputs_dict", {"inputs": {"float_input": r}}),
        case("inputs_string", {"inputs": [["x"] + x[1:] for x in r]}),
        case("inputs_null", {"inputs": [[None] + x[1:] for x in r]}),
        case("inputs_ragged", {"inputs": [r[0], r[1][:5]]}),
        case("inputs_empty", {"inputs": []}),
        case("inputs_bool", {"inputs": [[True] + x[1:] for x in r]}),
        case("csv", csv_body(r), ctype="text/csv"),
        case("parquet", parquet_body(r), ctype="application/vnd.apache.parquet"),
        case("params_ignored", {"inputs": r, "params": {"foo": 1}}),
        # Issue 11: dataframe_split cells that are arrays, for a tensor signature.
        case("split_nested_cells", {"dataframe_split": {"data": [[x] for x in r]}}),
        case("split_nested_cells_columns", {"dataframe_split": {"columns": ["a"], "data": [[x] for x in r]}}),
        case("split_nested_cells_2d", {"dataframe_split": {"data": [[[v] for v in x] for x in r]}}),
    ]
    return cs


def wine_nosig_cases():
    r = wine_rows(2)
    return [
        case("split", split(r)),
        case("split_ints", split([[int(v) for v in x] for x in r])),
        case("records", records(r)),
        case("inputs_floats", {"inputs": r}),
        case("inputs_ints", {"inputs": [[int(v) for v in x] for x in r]}),
        case("inputs_dict", {"inputs": {"float_input": r}}),
        case("inputs_dict_wrong_name", {"inputs": {"nope": r}}),
        case("csv", csv_body(r), ctype="text/csv"),
        case("parquet", parquet_body(r), ctype="application/vnd.apache.parquet"),
        case("instances", {"instances": r}),
        case("inputs_ragged", {"inputs": [[1.0, 2.0], [3.0]]}),
    ]


def multi_input_cases():
    r = wine_rows(3)
    return [
        case("split_3", split(r)),
        case("records_3", records(r)),
        case("csv_3", csv_body(r), ctype="text/csv"),
        case("inputs_dict", {"inputs": {c: [x[i] for x in r] for i, c in enumerate(WINE)}}),
        case("split_missing", split([x[:10] for x in r], WINE[:10])),
    ]


def named_tensor_cases():
    names = [c.replace(" ", "_") for c in WINE]
    r = wine_rows(2)
    return [
        case("inputs_dict", {"inputs": {n: [[x[i]] for x in r] for i, n in enumerate(names)}}),
        case("inputs_dict_1d", {"inputs": {n: [x[i] for x in r] for i, n in enumerate(names)}}),
        case("inputs_dict_missing", {"inputs": {n: [[x[i]] for x in r] for i, n in enumerate(names[:10])}}),
        case("inputs_dict_extra", {"inputs": {**{n: [[x[i]] for x in r] for i, n in enumerate(names)}, "zzz": [[1.0]]}}),
        case("instances_rows", {"instances": [{n: [x[i]] for i, n in enumerate(names)} for x in r]}),
        case("split_columns", split(r, names)),
        case("inputs_list", {"inputs": r}),
    ]


def zipmap_cases():
    rows = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]]
    return [
        case("split_3", split(rows, IRIS)),
        case("records_3", records(rows, IRIS)),
        case("csv_3", csv_body(rows, IRIS), ctype="text/csv"),
        case("split_1", split(rows[:1], IRIS)),
        case("inputs_dict", {"inputs": {c: [x[i] for x in rows] for i, c in enumerate(IRIS)}}),
    ]


def params_cases():
    r = wine_rows(1)
    base = split(r)
    ps = [
        ("none", None), ("empty", {}), ("scale_int", {"scale": 2}), ("scale_float", {"scale": 2.5}),
        ("scale_str", {"scale": "2"}), ("scale_bool", {"scale": True}), ("k_float", {"k": 1.0}),
        ("k_bool", {"k": True}), ("k_str", {"k": "3"}), ("name_int", {"name": 5}),
        ("verbose_int", {"verbose": 1}), ("verbose_str", {"verbose": "true"}), ("ids_ok", {"ids": [1, 2, 3]}),
        ("ids_scalar", {"ids": 1}), ("ids_float", {"ids": [1.5]}), ("ids_2d", {"ids": [[1]]}),
        ("when_int", {"when": 5}), ("when_bad", {"when": "nope"}), ("when_ok", {"when": "2024-02-03"}),
        ("scale_null", {"scale": None}), ("unknown", {"unknown": 1}), ("list", [1, 2]), ("string", "x"),
        ("scale_huge", {"scale": 1e40}),
    ]
    cs = []
    for name, p in ps:
        body = dict(base)
        if p is not None:
            body["params"] = p
        cs.append(case(f"params_{name}", body))
    cs.append(case("params_two_bad", {**base, "params": {"k": 1.5, "scale": "x"}}, compare="set"))
    # parity round 2 (issue 17): None for array and scalar params (fixed row: no draw)
    fixed = split([[7.4, 0.7, 0.0, 1.9, 0.076, 11.0, 34.0, 0.9978, 3.51, 0.56, 9.4]])
    for name, p in [("ids_null", {"ids": None}), ("ids_item_null", {"ids": [1, None]}),
                    ("k_null", {"k": None}), ("name_null", {"name": None})]:
        cs.append(case(f"r2_params_{name}", {**fixed, "params": p}))
    cs.append(case("params_bad_and_bad_input", {"dataframe_split": {"columns": WINE[:3], "data": [[1, 2, 3]]}, "params": {"k": 1.5}}))
    return cs


def image_cases():
    img = rng.integers(0, 255, (2, 8, 8, 1)).tolist()
    bad = [[[[300]] + row[1:] for row in im] for im in img]
    neg = [[[[-1]] + row[1:] for row in im] for im in img]
    frac = [[[[1.7]] + row[1:] for row in im] for im in img]
    return [
        case("inputs_2", {"inputs": img}),
        case("inputs_300", {"inputs": bad}),
        case("inputs_negative", {"inputs": neg}),
        case("inputs_fraction", {"inputs": frac}),
        case("inputs_wrong_shape", {"inputs": [row for row in img[0]]}),
        case("inputs_flat_split", {"dataframe_split": {"columns": ["img"], "data": [[sum(sum(img[0], []), [])]]}}),
        case("instances_2", {"instances": img}),
        case("inputs_string", {"inputs": [[["a"]]]}),
        case("inputs_float_string", {"inputs": [[[["1.5"]] * 8] * 8]}),
    ]


def typed_cases():
    cols = ["i32", "i64", "f32", "f64", "flag"]
    good = [[1, 10, 0.5, 0.1, True], [2, 20, 1.5, 0.2, False]]
    def one(i32=1, i64=10, f32=0.5, f64=0.1, flag=True):
        return [[i32, i64, f32, f64, flag]]
    return [
        case("split", split(good, cols)),
        case("records", records(good, cols)),
        case("inputs_dict", {"inputs": {c: [x[i] for x in good] for i, c in enumerate(cols)}}),
        case("csv", "i32,i64,f32,f64,flag\n1,10,0.5,0.1,True\n2,20,1.5,0.2,False\n", ctype="text/csv"),
        case("parquet", parquet_body(good, cols), ctype="application/vnd.apache.parquet"),
        case("i32_fraction", split(one(i32=1.5), cols)),
        case("i32_overflow", split(one(i32=2 ** 40), cols)),
        case("i32_overflow_inputs", {"inputs": {"i32": [2 ** 40], "i64": [1], "f32": [1.0], "f64": [1.0], "flag": [True]}}),
        case("i64_string", split(one(i64="5"), cols)),
        case("i64_bad_string", split(one(i64="1.5"), cols)),
        case("i64_bool", split(one(i64=True), cols)),
        case("i64_null", split(one(i64=None), cols)),
        case("i64_null_two_rows", split([[1, None, 0.5, 0.1, True], [2, 3, 0.5, 0.1, True]], cols)),
        case("f32_string", split(one(f32="x"), cols)),
        case("f64_null", split(one(f64=None), cols)),
        case("flag_int", split(one(flag=0), cols)),
        case("flag_str", split(one(flag="false"), cols)),
        case("flag_null", split(one(flag=None), cols)),
        case("csv_flag_01", "i32,i64,f32,f64,flag\n1,10,0.5,0.1,1\n", ctype="text/csv"),
        case("csv_i32_fraction", "i32,i64,f32,f64,flag\n1.5,10,0.5,0.1,True\n", ctype="text/csv"),
        case("csv_i64_missing", "i32,i64,f32,f64,flag\n1,,0.5,0.1,True\n", ctype="text/csv"),
    ]


def string_cases():
    return [
        case("split_unicode", {"dataframe_split": {"columns": ["text"], "data": [["héllo"], ["日本"], ["😀"], ['q"uote\\n']]}}),
        case("split_int", {"dataframe_split": {"columns": ["text"], "data": [[1], [2]]}}),
        case("inputs_int", {"inputs": {"text": [1, 2]}}),
        case("split_null", {"dataframe_split": {"columns": ["text"], "data": [["a"], [None]]}}),
        case("csv", "text\nhello\nwörld\n", ctype="text/csv"),
        case("inputs_list", {"inputs": ["a", "b"]}),
    ]


# --- PyTorch (TorchScript) models: mlflow.pytorch's pyfunc wrapper (§4.2) ---

def torch_wine_cols_cases():
    cs = [case(f"split_{n}", split(wine_rows(n))) for n in (1, 7, 64)]
    r = wine_rows(2)
    cs += [
        case("records", records(r)),
        case("inputs_dict", {"inputs": {c: [x[i] for x in r] for i, c in enumerate(WINE)}}),
        case("instances", {"instances": [dict(zip(WINE, x)) for x in r]}),
        case("csv", csv_body(r), ctype="text/csv"),
        case("parquet", parquet_body(r), ctype="application/vnd.apache.parquet"),
        case("split_ints", split([[int(v) for v in x] for x in r])),
        case("split_numeric_strings", split([[str(v) for v in x] for x in r])),
        case("split_bad_string", split([["abc"] + x[1:] for x in r])),
        case("split_missing_column", split([x[:10] for x in r], WINE[:10])),
        case("split_extra_column", split([x + [1.0] for x in r], WINE + ["extra"])),
        case("split_reordered", split([x[::-1] for x in r], WINE[::-1])),
        case("split_null", split([[None] + x[1:] for x in r])),
        case("inputs_list", {"inputs": r}),
        case("params_ignored", {**split(r), "params": {"foo": 1}}),
    ]
    return cs


def torch_wine_tensor_cases():
    cs = [case(f"inputs_{n}", {"inputs": wine_rows(n)}) for n in (1, 64)]
    r = wine_rows(2)
    cs += [
        case("instances", {"instances": r}),
        case("split_no_columns", {"dataframe_split": {"data": r}}),
        case("split_named_columns", split(r)),
        case("inputs_ints", {"inputs": [[int(v) for v in x] for x in r]}),
        case("inputs_wrong_width", {"inputs": [x[:10] for x in r]}),
        case("inputs_3d", {"inputs": [r]}),
        case("inputs_string", {"inputs": [["x"] + x[1:] for x in r]}),
        case("inputs_bool", {"inputs": [[True] + x[1:] for x in r]}),
        case("inputs_dict", {"inputs": {"x": r}}),
        case("inputs_empty", {"inputs": []}),
        case("csv", csv_body(r), ctype="text/csv"),
    ]
    return cs


def torch_cnn_cases():
    imgs = rng.random((8, 1, 28, 28)).round(4)
    return [
        case("inputs_1", {"inputs": imgs[:1].tolist()}),
        case("inputs_8", {"inputs": imgs.tolist()}),
        case("inputs_wrong_shape", {"inputs": imgs[:, :, :27, :].tolist()}),
        case("inputs_channels_last", {"inputs": imgs.reshape(8, 28, 28, 1).tolist()}),
    ]


def torch_linear_typed_cases():
    return [
        case("split", {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2], [3.0, 4]]}}),
        case("records", {"dataframe_records": [{"a": 1.5, "b": 2}, {"a": -3.0, "b": 7}]}),
        case("inputs_dict", {"inputs": {"a": [1.0, 2.0], "b": [3, 4]}}),
        case("split_b_float", {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.5]]}}),
        case("split_b_string", {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, "x"]]}}),
        case("split_a_int", {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}}),
        case("csv", "a,b\n1.0,2\n3.5,4\n", ctype="text/csv"),
    ]


def torch_nosig_sum_cases():
    return [
        case("inputs_ints", {"inputs": [[1, 2], [3, 4]]}),
        case("inputs_floats", {"inputs": [[1.0, 2], [3.0, 4]]}),
        case("inputs_bools", {"inputs": [[True, False], [True, True]]}),
        case("inputs_3d", {"inputs": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]}),
        case("inputs_dict", {"inputs": {"x": [[1, 2]]}}),
        case("inputs_strings", {"inputs": [["a", "b"]]}),
        case("inputs_scalar", {"inputs": 5}),
        case("inputs_1d", {"inputs": [1, 2, 3]}),
        case("instances", {"instances": [[1.5, 2.5], [3.5, 4.5]]}),
        case("split", {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2.5], [3, 4]]}}),
        case("split_strings", {"dataframe_split": {"columns": ["a", "b"], "data": [["1.5", 2], ["x", 4]]}}),
        case("records", {"dataframe_records": [{"a": 1, "b": True}, {"a": 2, "b": False}]}),
        case("csv", "a,b\n1,2\n3,4\n", ctype="text/csv"),
        case("params_ignored", {"inputs": [[1, 2]], "params": {"scale": 2}}),
    ]


def torch_params_cases():
    x = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    ps = [
        ("none", None), ("scale", {"scale": 2.0}), ("scale_int", {"scale": 2}), ("shift", {"shift": 3}),
        ("negate", {"negate": True}), ("all", {"scale": 0.5, "shift": -1, "negate": True}),
        ("shift_float", {"shift": 1.5}), ("scale_str", {"scale": "x"}), ("unknown", {"zzz": 1}),
        ("device", {"device": "cpu"}),
    ]
    cs = []
    for name, p in ps:
        body = {"inputs": x}
        if p is not None:
            body["params"] = p
        cs.append(case(f"params_{name}", body))
    cs.append(case("split_no_columns", {"dataframe_split": {"data": x}, "params": {"scale": 3.0}}))
    return cs


def torch_keeps_input_cases():
    """In order, on one server: each answer adds the sum of the previous (doubled) input."""
    return [
        case("first", {"inputs": [[1.0, 2.0]]}),
        case("second_sees_first", {"inputs": [[10.0, 20.0]]}),
        case("two_rows", {"inputs": [[0.5, 0.5], [1.0, 1.0]]}),
        case("after_two_rows", {"inputs": [[0.0, 0.0]]}),
    ]


def torch_tuple_out_cases():
    return [case("inputs", {"inputs": [[1.0, 2.0]]})]


def round2_wine_cols_cases():
    """Parity round 2 (issue 17): what MLflow accepts and refuses at the edges of its formats."""
    row = [7.4, 0.7, 0.0, 1.9, 0.076, 11.0, 34.0, 0.9978, 3.51, 0.56, 9.4]
    rec = dict(zip(WINE, row))
    line = ",".join(map(str, row))
    cases = [
        case("r2_split_index_null", split([row], index=None)),
        case("r2_split_duplicate_schema_column", split([row + [1.0]], cols=WINE + ["alcohol"])),
        case("r2_csv_whitespace_line", ",".join(WINE) + "\n" + line + "\n   \n" + line + "\n",
             ctype="text/csv"),
        case("r2_csv_tab_line", ",".join(WINE) + "\n" + line + "\n\t \n" + line + "\n", ctype="text/csv"),
        case("r2_split_lone_surrogate",
             '{"dataframe_split": {"columns": ' + json.dumps(WINE) + ', "data": [['
             + ",".join(map(str, row[:-1])) + ', "ab\\ud800"]]}}'),
        case("r2_records_lone_surrogate", '{"dataframe_records": [{"alcohol": "\\udc00x"}]}'),
        case("r2_records_empty_list_record", {"dataframe_records": [rec, []]}),
        case("r2_records_empty_string_record", {"dataframe_records": [rec, ""]}),
        case("r2_split_columns_null", {"dataframe_split": {"columns": None, "data": [row]}}),
        case("r2_csv_duplicate_header", ",".join(WINE) + ",alcohol\n" + line + ",1\n", ctype="text/csv"),
        case("r2_csv_true_in_double_column", ",".join(WINE) + "\n" + line.replace("7.4", "True", 1) + "\n",
             ctype="text/csv"),
    ]
    for name, bad in [("null", None), ("true", True), ("int", 5), ("float", 1.5), ("string", "xy"),
                      ("list", [1, 2]), ("triple_list", [[1, 2, 3]])]:
        cases.append(case(f"r2_records_{name}_after_dict", {"dataframe_records": [rec, bad]}))
    return cases


def round2_typed_cases():
    """Parity round 2 (issue 17): integer columns at and beyond their dtype's range, from JSON
    numbers, JSON strings and CSV; integral floats in CSV integer columns."""
    cols = ["i32", "i64", "f32", "f64", "flag"]
    head = "i32,i64,f32,f64,flag\n"

    def one(i32=1, i64=10, f32=0.5, f64=0.1, flag=True):
        return [[i32, i64, f32, f64, flag]]
    return [
        case("r2_i32_json_number_wraps", split(one(i32=10000000000), cols)),
        case("r2_i32_json_float_beyond", split(one(i32=1e10), cols)),
        case("r2_i32_json_string_beyond", split(one(i32="10000000000"), cols)),
        case("r2_i32_json_string_float_beyond", split(one(i32="1e10"), cols)),
        case("r2_i32_json_mixed_object_beyond", split(one(i32=10000000000) + one(i32="a"), cols)),
        case("r2_i64_json_big_int", split(one(i64=99999999999999999999), cols)),
        case("r2_i64_json_string_big", split(one(i64="99999999999999999999"), cols)),
        case("r2_i64_json_float_1e300", split(one(i64=1e300), cols)),
        case("r2_i32_json_string_300", split(one(i32="300"), cols)),
        case("r2_f32_json_1e308", split(one(f32=1e308), cols)),
        case("r2_csv_i32_integral_float", head + "1.0,2.0,1.5,2.5,True\n", ctype="text/csv"),
        case("r2_csv_i32_exponent", head + "1e3,2,1.5,2.5,True\n", ctype="text/csv"),
        case("r2_csv_i32_beyond", head + "2147483648,2,1.5,2.5,True\n", ctype="text/csv"),
        case("r2_csv_i32_float_beyond", head + "2147483648,2,1.5,2.5,True\n1.0,2,1.5,2.5,True\n", ctype="text/csv"),
        case("r2_csv_i64_beyond_u64", head + "1,99999999999999999999,1.5,2.5,True\n", ctype="text/csv"),
        case("r2_csv_i64_uint64", head + "1,10000000000000000000,1.5,2.5,True\n", ctype="text/csv"),
        case("r2_csv_i32_underscore", head + "1_0,2,1.5,2.5,True\n", ctype="text/csv"),
        case("r2_csv_i32_word_after_float", head + "1.0,2,1.5,2.5,True\nabc,2,1.5,2.5,True\n", ctype="text/csv"),
        case("r2_csv_i32_fraction_and_missing", head + "1.5,2,1.5,2.5,True\nnan,2,1.5,2.5,True\n", ctype="text/csv"),
        case("r2_csv_whitespace_lines", head + "1,2,1.5,2.5,True\n \t \n3,4,1.5,2.5,False\n", ctype="text/csv"),
        case("r2_parquet_i32_null", nullable_parquet("i32"), ctype="application/vnd.apache.parquet"),
        case("r2_parquet_i64_null", nullable_parquet("i64"), ctype="application/vnd.apache.parquet"),
    ]


def round3_image_cases():
    """Issue 27: nested cells in a DataFrame for a tensor signature, floats beyond uint8 (no
    random draws: fixed pixels)."""
    img = [[[p % 7] for p in range(r * 8, r * 8 + 8)] for r in range(8)]  # (8, 8, 1)
    def with_first(v):
        return [[[v]] + img[0][1:]] + img[1:]
    return [
        case("r3_split_nested_image", {"dataframe_split": {"columns": ["image"], "data": [[img]]}}),
        case("r3_split_nested_two_rows", {"dataframe_split": {"columns": ["image"], "data": [[img], [img]]}}),
        case("r3_records_nested_image", {"dataframe_records": [{"image": img}]}),
        case("r3_split_nested_row_list", {"dataframe_split": {"columns": ["a", "b"], "data": [[[1, 2], [3, 4]]]}}),
        case("r3_split_null_cell", {"dataframe_split": {"columns": ["image"], "data": [[None]]}}),
        case("r3_split_dict_cell", {"dataframe_split": {"columns": ["image"], "data": [[{"a": 1}]]}}),
        case("r3_split_list_of_nulls", {"dataframe_split": {"columns": ["image"], "data": [[[None, 1]]]}}),
        case("r3_split_scalar_then_list", {"dataframe_split": {"columns": ["image"], "data": [[1], [[1, 2]]]}}),
        case("r3_inputs_1e308", {"inputs": [with_first(1e308)]}),
        case("r3_inputs_256_float", {"inputs": [with_first(256.0)]}),
        case("r3_inputs_minus_half", {"inputs": [with_first(-0.5)]}),
        case("r3_inputs_255_float", {"inputs": [with_first(255.0)]}),
    ]


def round3_typed_cases():
    """Issue 27: zero-row Parquet, nulls in nullable Parquet columns of every type, a
    header-only CSV, a records row without a required boolean column."""
    cols = ["i32", "i64", "f32", "f64", "flag"]
    return [
        case("r3_parquet_zero_rows", typed_parquet(0), ctype="application/vnd.apache.parquet"),
        case("r3_parquet_f32_null", nullable_parquet("f32"), ctype="application/vnd.apache.parquet"),
        case("r3_parquet_f64_null", nullable_parquet("f64"), ctype="application/vnd.apache.parquet"),
        case("r3_parquet_flag_null", nullable_parquet("flag"), ctype="application/vnd.apache.parquet"),
        case("r3_parquet_i32_null_first", nullable_parquet("i32", first=True), ctype="application/vnd.apache.parquet"),
        case("r3_csv_header_only", ",".join(cols) + "\n", ctype="text/csv"),
        case("r3_records_missing_flag", {"dataframe_records": [{"i32": 1, "i64": 10, "f32": 0.5, "f64": 0.1}]}),
        case("r3_records_missing_flag_two_rows", {"dataframe_records": [
            {"i32": 1, "i64": 10, "f32": 0.5, "f64": 0.1, "flag": False}, {"i32": 2, "i64": 20, "f32": 1.5, "f64": 0.2}]}),
        case("r3_records_missing_i32", {"dataframe_records": [{"i64": 10, "f32": 0.5, "f64": 0.1, "flag": True}]}),
    ]


def round3_named_tensor_cases():
    """Issue 27: `inputs` as a list of dicts for a model with several named tensor inputs."""
    names = [c.replace(" ", "_") for c in WINE]
    row = [7.4, 0.7, 0.0, 1.9, 0.076, 11.0, 34.0, 0.9978, 3.51, 0.56, 9.4]
    return [
        case("r3_inputs_list_of_dicts", {"inputs": [{n: [v] for n, v in zip(names, row)}] * 2}),
        case("r3_inputs_list_of_dicts_scalars", {"inputs": [dict(zip(names, row))] * 2}),
    ]


def typed_parquet(n):
    """A typed_columns Parquet body of `n` rows, every column of its signature's type."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = pa.table({"i32": pa.array([1] * n, pa.int32()), "i64": pa.array([10] * n, pa.int64()),
                      "f32": pa.array([0.5] * n, pa.float32()), "f64": pa.array([0.1] * n, pa.float64()),
                      "flag": pa.array([True] * n, pa.bool_())})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def nullable_parquet(column, first=False):
    """A typed_columns Parquet body whose integer `column` holds a null (pyarrow writes it as
    a nullable int; pandas reads it back as float64 with NaN)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    values = {"i32": ([1, 2], pa.int32()), "i64": ([1, 2], pa.int64()),
              "f32": ([0.5, 1.5], pa.float32()), "f64": ([0.1, 0.2], pa.float64()),
              "flag": ([True, False], pa.bool_())}
    def column_of(name):
        vals, ty = values[name]
        if name == column:
            vals = [None, vals[1]] if first else [vals[0], None]
        return pa.array(vals, ty)
    table = pa.table({name: column_of(name) for name in values})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


MODEL_CASES = {
    "wine_cols": lambda: protocol_cases() + wine_cols_cases() + round2_wine_cols_cases(),
    "wine_tensor": wine_tensor_cases,
    "torch_keeps_input": torch_keeps_input_cases,
    "wine_nosig": wine_nosig_cases,
    "wine_multi_input": multi_input_cases,
    "wine_named_tensors": lambda: named_tensor_cases() + round3_named_tensor_cases(),
    "iris_zipmap": zipmap_cases,
    "wine_params": params_cases,
    "image_uint8": lambda: image_cases() + round3_image_cases(),
    "wine_mlp_external": lambda: [case("split_3", split(wine_rows(3))), case("split_64", split(wine_rows(64)))],
    "typed_columns": lambda: typed_cases() + round2_typed_cases() + round3_typed_cases(),
    "string_echo": string_cases,
    "torch_wine_cols": torch_wine_cols_cases,
    "torch_wine_tensor": torch_wine_tensor_cases,
    "torch_cnn": torch_cnn_cases,
    "torch_linear_typed": torch_linear_typed_cases,
    "torch_nosig_sum": torch_nosig_sum_cases,
    "torch_params": torch_params_cases,
    "torch_tuple_out": torch_tuple_out_cases,
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send(port, c):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    body = base64.b64decode(c["body_b64"]) if "body_b64" in c else c.get("body", "").encode()
    headers = dict(c["headers"])
    if c["method"] == "POST" or body:
        conn.putrequest(c["method"], c["path"], skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
    else:
        conn.request(c["method"], c["path"], headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    out = {"status": resp.status, "content_type": resp.getheader("content-type")}
    try:
        out["response"] = data.decode("utf-8")
    except UnicodeDecodeError:
        out["response_b64"] = base64.b64encode(data).decode()
    if resp.getheader("allow"):
        out["allow"] = resp.getheader("allow")
    conn.close()
    return out


def start_mlflow_serve(model_dir, port, stderr=subprocess.DEVNULL):
    """Real `mlflow models serve --env-manager local` of this environment on `port`, with
    PYTHONHASHSEED=0 so that Python's set orders in its messages are stable (shared by the
    recorders)."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    return subprocess.Popen(
        [str(mlflow_bin), "models", "serve", "-m", str(model_dir), "--env-manager", "local",
         "-p", str(port), "-h", "127.0.0.1"],
        env=env, stdout=subprocess.DEVNULL, stderr=stderr)


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
        for c in MODEL_CASES[model]():
            r = dict(c)
            r.update(send(port, c))
            results.append(r)
        out = HERE / f"{model}.json"
        out.write_text(json.dumps({"model": model, "mlflow_version": "3.17.2", "cases": results}, indent=1) + "\n")
        print(f"{model}: {len(results)} cases -> {out}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    # Models are visited in MODEL_CASES order whichever are recorded: building a skipped
    # model's requests draws the same random rows a full run draws, so recording some models
    # leaves every other model's requests (and their goldens) as they were.
    wanted = sys.argv[1:] or list(MODEL_CASES)
    for m in MODEL_CASES:
        if m in wanted:
            record(m)
        else:
            MODEL_CASES[m]()
