"""Sweep the edges of MLflow's input formats against real `mlflow models serve` (issue 17).

Run by `make sweep` (not part of `make test`: it is a search tool, the goldens are the tests).
It builds a grid of requests from pandas' rules — what `pd.DataFrame(index=, columns=, data=)`
accepts for `dataframe_split`, what `pd.DataFrame(data=records)` accepts, what
`pd.read_csv` reads with the schema's dtypes, and what MLflow does with `inputs`/`instances`
— sends each to real `mlflow models serve` 3.17.2 and to mlflow-serve, and prints every
request whose answers differ (status, error code, or message), with a count per class.
With `--record` it writes MLflow's answers as goldens instead (tests/golden/sweep_<model>.json,
replayed by tests/golden_replay.rs like record.py's): every difference found here is either
fixed, or compared loosely below (`COMPARE`, with the README's reason).

    python tests/golden/sweep.py [--bin target/debug/mlflow-serve] [--only PREFIX] [-v]
    python tests/golden/sweep.py --record        (run by `make goldens`)
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import record  # noqa: E402  (the recorder's request helpers and its HTTP client)

MODELS = HERE.parent / "fixtures" / "models"
WINE = record.WINE
ROW = [7.4, 0.7, 0.0, 1.9, 0.076, 11.0, 34.0, 0.9978, 3.51, 0.56, 9.4]
CSV = "text/csv"


def split_cases():
    """`pd.DataFrame(index=, columns=, data=)`: every shape of `data` JSON can hold."""
    rec = dict(zip(WINE, ROW))
    c = record.case
    col_dict = {k: [v] for k, v in rec.items()}
    return [
        c("split_data_dict_of_lists", {"dataframe_split": {"columns": WINE, "data": col_dict}}),
        c("split_data_dict_of_lists_nocols", {"dataframe_split": {"data": col_dict}}),
        c("split_data_dict_of_scalars", {"dataframe_split": {"columns": WINE, "data": rec}}),
        c("split_data_dict_of_scalars_index", {"dataframe_split": {"columns": WINE, "data": rec, "index": [0]}}),
        c("split_data_dict_subset", {"dataframe_split": {"columns": WINE[:5], "data": col_dict}}),
        c("split_data_dict_ragged", {"dataframe_split": {"data": dict(col_dict, alcohol=[1.0, 2.0])}}),
        c("split_data_records", {"dataframe_split": {"columns": WINE, "data": [rec]}}),
        c("split_data_records_nocols", {"dataframe_split": {"data": [rec, rec]}}),
        c("split_data_scalar", {"dataframe_split": {"columns": WINE, "data": 5}}),
        c("split_data_scalar_index", {"dataframe_split": {"columns": WINE, "data": 5.5, "index": [0, 1]}}),
        c("split_data_string", {"dataframe_split": {"columns": WINE, "data": "abc"}}),
        c("split_data_string_index", {"dataframe_split": {"columns": WINE, "data": "abc", "index": [0]}}),
        c("split_data_null", {"dataframe_split": {"columns": WINE, "data": None}}),
        c("split_data_null_index", {"dataframe_split": {"columns": WINE, "data": None, "index": [0]}}),
        c("split_data_true", {"dataframe_split": {"columns": WINE, "data": True}}),
        c("split_data_empty", {"dataframe_split": {"columns": WINE, "data": []}}),
        c("split_data_empty_rows", {"dataframe_split": {"columns": WINE, "data": [[], []]}}),
        c("split_data_flat", {"dataframe_split": {"columns": WINE, "data": ROW}}),
        c("split_data_flat_one_col", {"dataframe_split": {"columns": ["alcohol"], "data": [1.0, 2.0]}}),
        c("split_data_ragged_short", {"dataframe_split": {"columns": WINE, "data": [ROW, ROW[:5]]}}),
        c("split_data_ragged_first_short", {"dataframe_split": {"columns": WINE, "data": [ROW[:5], ROW]}}),
        c("split_data_long_row", {"dataframe_split": {"columns": WINE, "data": [ROW + [1.0]]}}),
        c("split_data_mixed_row_kinds", {"dataframe_split": {"columns": WINE, "data": [ROW, 5]}}),
        c("split_data_mixed_scalar_first", {"dataframe_split": {"columns": WINE, "data": [5, ROW]}}),
        c("split_data_row_dict_then_list", {"dataframe_split": {"columns": WINE, "data": [rec, ROW]}}),
        c("split_data_row_list_then_dict", {"dataframe_split": {"columns": WINE, "data": [ROW, rec]}}),
        c("split_data_3d", {"dataframe_split": {"columns": WINE, "data": [[[v] for v in ROW]]}}),
        c("split_data_null_row", {"dataframe_split": {"columns": WINE, "data": [ROW, None]}}),
        c("split_data_string_row", {"dataframe_split": {"columns": WINE, "data": [ROW, "abcdefghijk"]}}),
        c("split_index_short", {"dataframe_split": {"columns": WINE, "data": [ROW, ROW], "index": [0]}}),
        c("split_index_long", {"dataframe_split": {"columns": WINE, "data": [ROW], "index": [0, 1]}}),
        c("split_index_strings", {"dataframe_split": {"columns": WINE, "data": [ROW, ROW], "index": ["a", "b"]}}),
        c("split_index_dup", {"dataframe_split": {"columns": WINE, "data": [ROW, ROW], "index": [3, 3]}}),
        c("split_index_strings_missing_input", {"dataframe_split": {"columns": WINE[:3], "data": [ROW[:3], ROW[:3]], "index": ["a", "b"]}}),
        c("split_index_numbers_missing_input", {"dataframe_split": {"columns": WINE[:3], "data": [ROW[:3], ROW[:3]], "index": [10, 7]}}),
        c("split_index_scalar", {"dataframe_split": {"columns": WINE, "data": [ROW], "index": 0}}),
        c("split_index_dict", {"dataframe_split": {"columns": WINE, "data": [ROW], "index": {"a": 1}}}),
        c("split_index_nested", {"dataframe_split": {"columns": WINE, "data": [ROW], "index": [[0, 1]]}}),
        c("split_columns_scalar", {"dataframe_split": {"columns": "alcohol", "data": [[1.0]]}}),
        c("split_columns_dict", {"dataframe_split": {"columns": {"a": 1}, "data": [ROW]}}),
        c("split_columns_numbers", {"dataframe_split": {"columns": list(range(11)), "data": [ROW]}}),
        c("split_columns_nested", {"dataframe_split": {"columns": [WINE], "data": [ROW]}}),
        c("split_columns_null_item", {"dataframe_split": {"columns": WINE[:10] + [None], "data": [ROW]}}),
        c("split_columns_short", {"dataframe_split": {"columns": WINE[:10], "data": [ROW]}}),
        c("split_columns_empty", {"dataframe_split": {"columns": [], "data": [ROW]}}),
        c("split_columns_empty_no_data", {"dataframe_split": {"columns": [], "data": []}}),
        c("split_columns_extra_unused", {"dataframe_split": {"columns": WINE + ["x"], "data": [ROW + ["y"]]}}),
        c("split_values_bool", {"dataframe_split": {"columns": WINE, "data": [[True] * 11]}}),
        c("split_values_strings_numeric", {"dataframe_split": {"columns": WINE, "data": [[str(v) for v in ROW]]}}),
        c("split_values_nested_list", {"dataframe_split": {"columns": WINE, "data": [ROW[:10] + [[1.0]]]}}),
        c("split_values_dict_cell", {"dataframe_split": {"columns": WINE, "data": [ROW[:10] + [{"a": 1}]]}}),
        c("split_values_null_cell", {"dataframe_split": {"columns": WINE, "data": [ROW[:10] + [None]]}}),
        c("split_values_all_null_col", {"dataframe_split": {"columns": WINE, "data": [ROW[:10] + [None], ROW[:10] + [None]]}}),
        c("split_values_huge_int", {"dataframe_split": {"columns": WINE, "data": [ROW[:10] + [10 ** 30]]}}),
        c("split_values_neg_huge_int", {"dataframe_split": {"columns": WINE, "data": [ROW[:10] + [-(10 ** 19)]]}}),
        c("split_values_u64_int", {"dataframe_split": {"columns": WINE, "data": [ROW[:10] + [2 ** 63]]}}),
        c("split_values_nan_string", {"dataframe_split": {"columns": WINE, "data": [ROW[:10] + ["nan"]]}}),
        c("split_values_empty_string", {"dataframe_split": {"columns": WINE, "data": [ROW[:10] + [""]]}}),
        c("split_values_inf_literal", '{"dataframe_split": {"columns": ' + json.dumps(WINE)
          + ', "data": [[' + ",".join(map(str, ROW[:10])) + ', Infinity]]}}'),
        c("split_values_nan_literal", '{"dataframe_split": {"columns": ' + json.dumps(WINE)
          + ', "data": [[' + ",".join(map(str, ROW[:10])) + ', NaN]]}}'),
        c("split_values_neg_inf_literal", '{"dataframe_split": {"columns": ' + json.dumps(WINE)
          + ', "data": [[' + ",".join(map(str, ROW[:10])) + ', -Infinity]]}}'),
    ]


def records_cases():
    """`pd.DataFrame(data=records)`."""
    rec = dict(zip(WINE, ROW))
    c = record.case
    return [
        c("rec_list_of_lists", {"dataframe_records": [ROW]}),
        c("rec_list_of_scalars", {"dataframe_records": [1.0, 2.0]}),
        c("rec_empty", {"dataframe_records": []}),
        c("rec_empty_dicts", {"dataframe_records": [{}, {}]}),
        c("rec_extra_key", {"dataframe_records": [dict(rec, extra=1)]}),
        c("rec_missing_key", {"dataframe_records": [{k: v for k, v in rec.items() if k != "pH"}]}),
        c("rec_missing_key_second", {"dataframe_records": [rec, {k: v for k, v in rec.items() if k != "pH"}]}),
        c("rec_null_value", {"dataframe_records": [dict(rec, pH=None)]}),
        c("rec_null_first", {"dataframe_records": [None, rec]}),
        c("rec_scalar_first", {"dataframe_records": [5, rec]}),
        c("rec_list_then_dict", {"dataframe_records": [ROW, rec]}),
        c("rec_string_values", {"dataframe_records": [{k: str(v) for k, v in rec.items()}]}),
        c("rec_nested_value", {"dataframe_records": [dict(rec, pH=[3.5])]}),
        c("rec_dict_value", {"dataframe_records": [dict(rec, pH={"a": 1})]}),
        c("rec_bool_value", {"dataframe_records": [dict(rec, pH=True)]}),
        c("rec_key_order", {"dataframe_records": [dict(reversed(list(rec.items())))]}),
        c("rec_dup_key", '{"dataframe_records": [{' + ", ".join(f'"{k}": {v}' for k, v in rec.items())
          + ', "pH": 9.9}]}'),
        c("rec_not_list_string", {"dataframe_records": "abc"}),
        c("rec_not_list_number", {"dataframe_records": 5}),
        c("rec_not_list_null", {"dataframe_records": None}),
        c("rec_ragged_lists", {"dataframe_records": [ROW, ROW[:3]]}),
    ]


def csv_cases():
    """`pd.read_csv(body, dtype=schema dtypes)` on wine_cols (all doubles)."""
    head = ",".join(WINE)
    line = ",".join(map(str, ROW))
    c = record.case

    def body(*lines):
        return "\n".join(lines) + "\n"
    return [
        c("csv_comment_first", body("# comment", head, line), ctype=CSV),
        c("csv_hash_header", body("#" + head, line), ctype=CSV),
        c("csv_no_trailing_newline", head + "\n" + line, ctype=CSV),
        c("csv_crlf", head + "\r\n" + line + "\r\n", ctype=CSV),
        c("csv_cr_only", head + "\r" + line + "\r", ctype=CSV),
        c("csv_bom", "\ufeff" + body(head, line), ctype=CSV),
        c("csv_header_only", body(head), ctype=CSV),
        c("csv_empty", "", ctype=CSV),
        c("csv_only_newlines", "\n\n", ctype=CSV),
        c("csv_blank_first_lines", body("", "", head, line), ctype=CSV),
        c("csv_quoted_numbers", body(head, ",".join(f'"{v}"' for v in ROW)), ctype=CSV),
        c("csv_quoted_header", body(",".join(f'"{h}"' for h in WINE), line), ctype=CSV),
        c("csv_spaces_around", body(head, ", ".join(map(str, ROW))), ctype=CSV),
        c("csv_index_column", body("," + head, "0," + line), ctype=CSV),
        c("csv_unnamed_extra", body(head + ",", line + ",1"), ctype=CSV),
        c("csv_short_row", body(head, ",".join(map(str, ROW[:5]))), ctype=CSV),
        c("csv_long_row", body(head, line + ",1,2"), ctype=CSV),
        c("csv_long_row_second", body(head, line, line + ",1"), ctype=CSV),
        c("csv_empty_cell", body(head, line.replace("9.4", "")), ctype=CSV),
        c("csv_na_words", body(head, line.replace("9.4", "NA"), line.replace("9.4", "N/A"),
                               line.replace("9.4", "null"), line.replace("9.4", "NaN"),
                               line.replace("9.4", "-nan"), line.replace("9.4", "<NA>"),
                               line.replace("9.4", "None")), ctype=CSV),
        c("csv_inf_words", body(head, line.replace("9.4", "inf"), line.replace("9.4", "-Infinity"),
                                line.replace("9.4", "+inf")), ctype=CSV),
        c("csv_hex_float", body(head, line.replace("9.4", "0x1p3")), ctype=CSV),
        c("csv_d_exponent", body(head, line.replace("9.4", "1d2")), ctype=CSV),
        c("csv_thousands", body(head, line.replace("9.4", '"1,000"')), ctype=CSV),
        c("csv_word", body(head, line.replace("9.4", "abc")), ctype=CSV),
        c("csv_semicolon", body(";".join(WINE), ";".join(map(str, ROW))), ctype=CSV),
        c("csv_tab", body("\t".join(WINE), "\t".join(map(str, ROW))), ctype=CSV),
        c("csv_quote_unterminated", body(head, line.replace("9.4", '"9.4')), ctype=CSV),
        c("csv_quote_in_middle", body(head, line.replace("9.4", '9"4')), ctype=CSV),
        c("csv_nul_byte", body(head, line.replace("9.4", "9\x004")), ctype=CSV),
        c("csv_latin1", (body(head, line.replace("9.4", "caf\u00e9"))).encode("latin-1"), ctype=CSV),
        c("csv_trailing_spaces_line", body(head, line + "   "), ctype=CSV),
        c("csv_header_spaces", body(", ".join(WINE), line), ctype=CSV),
        c("csv_header_dup_three", body(head + ",alcohol,alcohol", line + ",1,2"), ctype=CSV),
        c("csv_header_empty_name", body(head.replace("pH", ""), line), ctype=CSV),
        c("csv_underscore_number", body(head, line.replace("9.4", "9_4")), ctype=CSV),
        c("csv_plus_sign", body(head, line.replace("9.4", "+9.4")), ctype=CSV),
        c("csv_leading_dot", body(head, line.replace("9.4", ".5")), ctype=CSV),
        c("csv_trailing_dot", body(head, line.replace("9.4", "9.")), ctype=CSV),
        c("csv_true_word", body(head, line.replace("9.4", "TRUE")), ctype=CSV),
        c("csv_charset_param", body(head, line), ctype="text/csv; charset=utf-8"),
    ]


def typed_csv_cases():
    """`pd.read_csv` with typed_columns' dtypes (int32, int64, float32, float64, bool)."""
    head = "i32,i64,f32,f64,flag"
    c = record.case

    def body(*lines):
        return "\n".join((head,) + lines) + "\n"
    return [
        c("tcsv_bool_words", body("1,2,1.5,2.5,true", "1,2,1.5,2.5,FALSE", "1,2,1.5,2.5,True"), ctype=CSV),
        c("tcsv_bool_numbers", body("1,2,1.5,2.5,1", "1,2,1.5,2.5,0"), ctype=CSV),
        c("tcsv_bool_yes", body("1,2,1.5,2.5,yes"), ctype=CSV),
        c("tcsv_bool_missing", body("1,2,1.5,2.5,"), ctype=CSV),
        c("tcsv_bool_float", body("1,2,1.5,2.5,1.0"), ctype=CSV),
        c("tcsv_int_missing", body(",2,1.5,2.5,True"), ctype=CSV),
        c("tcsv_int_plus", body("+1,2,1.5,2.5,True"), ctype=CSV),
        c("tcsv_int_spaces", body(" 1 ,2,1.5,2.5,True"), ctype=CSV),
        c("tcsv_int_quoted", body('"1",2,1.5,2.5,True'), ctype=CSV),
        c("tcsv_int_neg_zero_float", body("-0.0,2,1.5,2.5,True"), ctype=CSV),
        c("tcsv_int_exp_fraction", body("1.5e1,2,1.5,2.5,True"), ctype=CSV),
        c("tcsv_int_true", body("True,2,1.5,2.5,True"), ctype=CSV),
        c("tcsv_int_inf", body("inf,2,1.5,2.5,True"), ctype=CSV),
        c("tcsv_int_hex", body("0x10,2,1.5,2.5,True"), ctype=CSV),
        c("tcsv_i64_min", body("1,-9223372036854775808,1.5,2.5,True"), ctype=CSV),
        c("tcsv_i64_below_min", body("1,-9223372036854775809,1.5,2.5,True"), ctype=CSV),
        c("tcsv_i32_min", body("-2147483648,2,1.5,2.5,True"), ctype=CSV),
        c("tcsv_i32_below_min", body("-2147483649,2,1.5,2.5,True"), ctype=CSV),
        c("tcsv_f32_huge", body("1,2,1e39,2.5,True"), ctype=CSV),
        c("tcsv_f32_tiny", body("1,2,1e-50,2.5,True"), ctype=CSV),
        c("tcsv_f64_huge", body("1,2,1.5,1e309,True"), ctype=CSV),
        c("tcsv_f64_word", body("1,2,1.5,abc,True"), ctype=CSV),
        c("tcsv_missing_column", "i32,i64,f32,flag\n1,2,1.5,True\n", ctype=CSV),
        c("tcsv_extra_column", "i32,i64,f32,f64,flag,x\n1,2,1.5,2.5,True,abc\n", ctype=CSV),
    ]


def typed_json_cases():
    """typed_columns from JSON: every kind of JSON value in every dtype's column."""
    cols = ["i32", "i64", "f32", "f64", "flag"]
    base = [1, 10, 0.5, 0.1, True]
    values = {"true": True, "false": False, "null": None, "int": 3, "neg": -3, "float": 2.5,
              "intfloat": 2.0, "str_int": "7", "str_float": "2.5", "str_word": "abc",
              "str_bool": "True", "str_empty": "", "list": [1], "dict": {"a": 1},
              "big": 2 ** 40, "u64": 2 ** 63 + 1, "negbig": -(2 ** 63) - 1, "tiny": 1e-320,
              "str_space": " 5 "}
    out = []
    for i, col in enumerate(cols):
        for vname, v in values.items():
            row = list(base)
            row[i] = v
            out.append(record.case(f"tjson_{col}_{vname}", {"dataframe_split": {"columns": cols, "data": [row, base]}}))
            out.append(record.case(f"tjson_{col}_{vname}_rec",
                                   {"dataframe_records": [dict(zip(cols, row)), dict(zip(cols, base))]}))
    return out


def inputs_cases():
    """`inputs`/`instances` on a tensor model and on a column model."""
    c = record.case
    return [
        c("inp_cols_dict_lists", {"inputs": {k: [v] for k, v in zip(WINE, ROW)}}),
        c("inp_cols_dict_scalars", {"inputs": dict(zip(WINE, ROW))}),
        c("inp_cols_dict_mixed", {"inputs": dict({k: [v, v] for k, v in zip(WINE, ROW)}, pH=3.3)}),
        c("inp_cols_dict_mixed_len", {"inputs": dict({k: [v, v] for k, v in zip(WINE, ROW)}, pH=[3.3])}),
        c("inp_cols_list_of_dicts", {"inputs": [dict(zip(WINE, ROW))]}),
        c("inp_cols_list_of_lists", {"inputs": [ROW]}),
        c("inp_cols_instances_dicts", {"instances": [dict(zip(WINE, ROW)), dict(zip(WINE, ROW))]}),
        c("inp_cols_instances_dict", {"instances": {k: [v] for k, v in zip(WINE, ROW)}}),
        c("inp_cols_instances_scalar", {"instances": 5}),
        c("inp_cols_inputs_null", {"inputs": None}),
        c("inp_cols_inputs_string", {"inputs": "abc"}),
        c("inp_cols_inputs_empty_list", {"inputs": []}),
        c("inp_cols_inputs_empty_dict", {"inputs": {}}),
        c("inp_cols_dict_nested", {"inputs": {k: [[v]] for k, v in zip(WINE, ROW)}}),
        c("inp_cols_dict_null_value", {"inputs": dict({k: [v] for k, v in zip(WINE, ROW)}, pH=None)}),
        c("inp_cols_dict_null_item", {"inputs": dict({k: [v] for k, v in zip(WINE, ROW)}, pH=[None])}),
    ]


def tensor_cases():
    c = record.case
    return [
        c("ten_inputs_rows", {"inputs": [ROW, ROW]}),
        c("ten_inputs_flat", {"inputs": ROW}),
        c("ten_inputs_ragged", {"inputs": [ROW, ROW[:5]]}),
        c("ten_inputs_strings", {"inputs": [[str(v) for v in ROW]]}),
        c("ten_inputs_bools", {"inputs": [[True] * 11]}),
        c("ten_inputs_null_item", {"inputs": [ROW[:10] + [None]]}),
        c("ten_inputs_ints", {"inputs": [[int(v) for v in ROW]]}),
        c("ten_inputs_huge", {"inputs": [ROW[:10] + [1e308]]}),
        c("ten_inputs_bigint", {"inputs": [ROW[:10] + [10 ** 30]]}),
        c("ten_inputs_3d", {"inputs": [[ROW]]}),
        c("ten_inputs_scalar", {"inputs": 5}),
        c("ten_inputs_empty", {"inputs": []}),
        c("ten_inputs_empty_rows", {"inputs": [[]]}),
        c("ten_inputs_dict_one", {"inputs": {"input": [ROW]}}),
        c("ten_inputs_dict_wrong_name", {"inputs": {"x": [ROW]}}),
        c("ten_instances_rows", {"instances": [ROW]}),
        c("ten_split", record.split([ROW])),
        c("ten_records", record.records([ROW])),
        c("ten_csv", record.csv_body([ROW]), ctype=CSV),
    ]


# How golden_replay.rs compares the message of these (see record.py): MLflow prints a Python
# set (order differs per process), or a MultiIndex frame mlflow-serve does not reproduce.
COMPARE = {
    "csv_header_spaces": "set",
    # a MultiIndex of one level: MLflow prints its names bare, mlflow-serve as 1-tuples
    "split_columns_nested": "predict+set",
    "csv_comment_first": "predict",
    # the row labels of a dataframe_split `index` are not kept (printouts number rows from 0)
    "split_index_strings_missing_input": "predict",
    "split_index_numbers_missing_input": "predict",
}

SWEEPS = [
    ("wine_cols", split_cases), ("wine_cols", records_cases), ("wine_cols", csv_cases),
    ("wine_cols", inputs_cases), ("typed_columns", typed_csv_cases),
    ("typed_columns", typed_json_cases), ("wine_tensor", tensor_cases),
]


def start_mlflow(model, port):
    env = dict(os.environ, PYTHONHASHSEED="0")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", str(MODELS / model),
         "--env-manager", "local", "-p", str(port), "-h", "127.0.0.1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_ours(binary, model, port):
    return subprocess.Popen(
        [binary, "models", "serve", "-m", str(MODELS / model), "-p", str(port), "-h", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait(port):
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"no server on {port}")


def parsed(r):
    try:
        return json.loads(r.get("response", ""))
    except ValueError:
        return None


def same_numbers(a, b):
    if isinstance(a, float) or isinstance(b, float):
        if not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
            return False
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or abs(a - b) <= 1e-5 * max(1.0, abs(a))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_numbers(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_numbers(a[k], b[k]) for k in a)
    return a == b


def verdict(theirs, ours):
    """'same', or the class of difference."""
    if theirs["status"] != ours["status"]:
        return f"status {theirs['status']} vs {ours['status']}"
    t, o = parsed(theirs), parsed(ours)
    if theirs["status"] == 200:
        return "same" if same_numbers(t, o) else "values"
    if not isinstance(t, dict) or not isinstance(o, dict):
        return "same" if theirs.get("response") == ours.get("response") else "body"
    if t.get("error_code") != o.get("error_code"):
        return "error_code"
    return "same" if t.get("message") == o.get("message") else "message"


def record_goldens(only):
    by_model = {}
    for model, f in SWEEPS:
        by_model.setdefault(model, []).extend(c for c in f() if c["name"].startswith(only))
    for model, cases in by_model.items():
        port = record.free_port()
        proc = start_mlflow(model, port)
        try:
            wait(port)
            results = []
            for c in cases:
                r = dict(c)
                if c["name"] in COMPARE:
                    r["compare"] = COMPARE[c["name"]]
                r.update(record.send(port, c))
                results.append(r)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        out = HERE / f"sweep_{model}.json"
        out.write_text(json.dumps({"model": model, "mlflow_version": "3.17.2", "cases": results}, indent=1) + "\n")
        print(f"{model}: {len(results)} sweep cases -> {out}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(HERE.parent.parent / "target" / "debug" / "mlflow-serve"))
    ap.add_argument("--only", default="")
    ap.add_argument("-v", action="store_true", help="print both answers of every difference")
    ap.add_argument("--full", action="store_true", help="with -v, print whole answers (else 600 chars)")
    ap.add_argument("--record", action="store_true", help="write MLflow's answers as goldens")
    args = ap.parse_args()
    if args.record:
        return record_goldens(args.only)
    counts = {}
    limit = None if args.full else 600
    for model in dict.fromkeys(m for m, _ in SWEEPS):
        cases = [c for m, f in SWEEPS if m == model for c in f() if c["name"].startswith(args.only)]
        if not cases:
            continue
        p1, p2 = record.free_port(), record.free_port()
        mlf, ours = start_mlflow(model, p1), start_ours(args.bin, model, p2)
        try:
            wait(p1)
            wait(p2)
            for c in cases:
                theirs, mine = record.send(p1, c), record.send(p2, c)
                v = verdict(theirs, mine)
                counts[v] = counts.get(v, 0) + 1
                if v != "same":
                    print(f"[{model}] {c['name']}: {v}")
                    if args.v:
                        print(f"   mlflow: {theirs['status']} {theirs.get('response', '')[:limit]}")
                        print(f"   ours:   {mine['status']} {mine.get('response', '')[:limit]}")
        finally:
            for p in (mlf, ours):
                p.terminate()
                p.wait(timeout=30)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
