"""mlflow-serve's Python worker: loads one MLflow model with `mlflow.pyfunc.load_model` and
answers predict calls framed on its stdin and stdout (runtimes/python/src/wire.rs). It ships
inside the mlflow-serve binary, is written to the cache at start, and needs nothing beyond
what the model's environment already has: mlflow, numpy, pandas, pyarrow.

    python worker.py MODEL_DIR [--call direct|pyfunc]

Feed names (src/flavor/python/feeds.rs makes them):
  c:<label>   a DataFrame column (<label> is JSON: "name" or 3)
  n:<label>   the missing-value mask of column <label>
  j:<label>   a column of object cells, each one JSON text
  b:<label>   a column of bytes cells, each base64 text
  a:          one ndarray
  A:          one ndarray of object cells, as one JSON text (a scalar feed: never merged)
  d:<name>    one array of a dict of arrays
  D:<name>    one object array of a dict of arrays, as one JSON text
  v:          any other value, as one JSON text
  r:          a list of records, as one JSON text
  P:          params are an empty dict, not None (a model without a params schema was sent
              params: MLflow drops them and passes {})
Output names (src/flavor/python/outputs.rs reads them):
  c:<label>   a DataFrame column: the answer is `to_dict(orient="records")` of the columns
  a:          one ndarray: the answer is its `tolist()`
  j:          one JSON text: MLflow's own rendering of anything else
A failure answers {"ok": false, "error": {"status": HTTP status, "body": MLflow's error JSON}}.

Calls go to the flavor's own predict function below MLflow's pyfunc wrapper (`--call direct`,
the default) when the model has an input signature: the server has enforced it already,
exactly as MLflow would, so the wrapper's second enforcement would only cost time. Without a
signature, or with `--call pyfunc`, calls go through `PyFuncModel.predict`.
"""

import base64
import inspect
import json
import os
import signal
import struct
import sys
import threading
import time
import traceback


def read_exact(f, n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = f.readinto(view[got:])
        if not k:
            return None
        got += k
    return buf


def read_message(f):
    head = read_exact(f, 4)
    if head is None:
        return None
    (hlen,) = struct.unpack("<I", head)
    header = read_exact(f, hlen)
    blen = read_exact(f, 8)
    if header is None or blen is None:
        return None
    body = read_exact(f, struct.unpack("<Q", blen)[0])
    if body is None:
        return None
    return json.loads(header), body


def send(f, header, body=b""):
    h = json.dumps(header).encode()
    f.write(struct.pack("<I", len(h)))
    f.write(h)
    f.write(struct.pack("<Q", len(body)))
    f.write(body)
    f.flush()


def orphan_watch(parent):
    """Exits when the server is gone (its pid is no longer our parent), even mid-call."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def main():
    # The protocol keeps private copies of stdin/stdout; what the model prints goes to stderr.
    proto_in = os.fdopen(os.dup(0), "rb", buffering=1 << 16)
    proto_out = os.fdopen(os.dup(1), "wb", buffering=1 << 16)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    # Ctrl-C reaches the whole process group: the server drains, then stops its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=orphan_watch, args=(os.getppid(),), daemon=True).start()

    model_dir = sys.argv[1]
    call = "direct"
    if "--call" in sys.argv:
        call = sys.argv[sys.argv.index("--call") + 1]
    try:
        import numpy as np
        import pandas as pd
        import pyarrow as pa
        import pyarrow.ipc  # noqa: F401

        import mlflow.pyfunc

        model = mlflow.pyfunc.load_model(model_dir)
    except BaseException as e:  # noqa: BLE001 - any failure is the start-up line
        send(proto_out, {"ok": False, "error": start_error(e)})
        return 1
    worker = Worker(model, call, np, pd, pa)
    send(proto_out, {"ok": True, "ready": True, "pid": os.getpid(), "direct": worker.direct})
    while True:
        msg = read_message(proto_in)
        if msg is None:
            return 0
        header, body = msg
        try:
            out_header, out_body = worker.predict(header, body)
        except BaseException as e:  # noqa: BLE001 - reported, never raised
            out_header, out_body = {"ok": False, "error": worker.error(e)}, b""
        send(proto_out, out_header, out_body)


def start_error(e):
    """One line: Python's own words for why the model could not load."""
    last = "".join(traceback.format_exception_only(type(e), e)).strip().splitlines()
    return last[-1] if last else type(e).__name__


class Worker:
    def __init__(self, model, call, np, pd, pa):
        self.model, self.np, self.pd, self.pa = model, np, pd, pa
        meta = model.metadata
        self.direct = (
            call == "direct"
            and meta.get_input_schema() is not None
            and not meta._is_signature_from_type_hint()
            and not meta._is_type_hint_from_example()
        )
        fn = model._predict_fn
        p = inspect.signature(fn).parameters.get("params")
        self.fn = fn
        self.fn_params = bool(p) and p.kind != inspect.Parameter.VAR_KEYWORD
        self.data = None

    # -- input -------------------------------------------------------------------------
    def arrays(self, header, body):
        np = self.np
        out = []
        if header["table"]:
            batch = self.pa.ipc.open_stream(self.pa.py_buffer(body)).read_next_batch()
            for e, col in zip(header["feeds"], batch.columns):
                arr = col.to_numpy(zero_copy_only=False)
                if e["dtype"] == "float16":
                    arr = arr.astype(np.float16)
                elif e["dtype"] == "str":
                    arr = arr.astype(str)
                out.append((e["name"], arr))
            return out
        for e in header["feeds"]:
            if e["dtype"] == "str":
                # numpy's own string dtype (`<U…`), as `np.array(data)` gives MLflow; object
                # columns of a frame are rebuilt below.
                arr = np.array(e["strings"], dtype=str).reshape(e["shape"])
            else:
                dt = np.float32 if e["dtype"] == "float16" else np.dtype(e["dtype"])
                count = e["len"] // np.dtype(dt).itemsize
                arr = np.frombuffer(body, dtype=dt, count=count, offset=e["offset"]).reshape(e["shape"])
                if e["dtype"] == "float16":
                    arr = arr.astype(np.float16)
            out.append((e["name"], arr))
        return out

    def objects(self, texts):
        cells = self.np.empty(len(texts), dtype=object)
        for i, t in enumerate(texts):
            cells[i] = json.loads(t)
        return cells

    def data_of(self, header, body):
        np, pd = self.np, self.pd
        labels, columns, masks = [], [], {}
        array, arrays, other = None, {}, ()
        for name, arr in self.arrays(header, body):
            tag, _, rest = name.partition(":")
            if tag == "c":
                labels.append(json.loads(rest))
                columns.append(arr.astype(object) if arr.dtype.kind == "U" else arr)
            elif tag == "j":
                labels.append(json.loads(rest))
                columns.append(self.objects(arr))
            elif tag == "b":
                labels.append(json.loads(rest))
                cells = np.empty(len(arr), dtype=object)
                for i, t in enumerate(arr):
                    cells[i] = base64.b64decode(t)
                columns.append(cells)
            elif tag == "n":
                masks[len(columns) - 1] = arr
            elif tag == "a":
                array = arr
            elif tag == "A":
                array = np.array(json.loads(arr.reshape(-1)[0]))
            elif tag == "d":
                arrays[rest] = arr
            elif tag == "D":
                arrays[rest] = np.array(json.loads(arr.reshape(-1)[0]))
            elif tag == "v":
                other = (np.array(json.loads(arr.reshape(-1)[0])),)
            elif tag == "r":
                # MLflow hands a list of records over with each value as a numpy array.
                records = json.loads(arr.reshape(-1)[0])
                other = ([{k: np.array(v) for k, v in rec.items()} for rec in records],)
            elif tag == "P":
                self.empty_params = True
        if other:
            return other[0]
        for i, mask in masks.items():
            col = columns[i].astype(object)
            col[mask.astype(bool)] = np.nan
            columns[i] = col
        if labels:
            dtypes = {c.dtype for c in columns}
            if len(dtypes) == 1 and columns[0].dtype.kind in "biuf" and columns[0].ndim == 1:
                # One dtype: one 2-D block, as pandas builds it from MLflow's JSON rows (and
                # consolidated already, which the model's own numpy conversion then reuses).
                return pd.DataFrame(np.column_stack(columns), columns=pd.Index(labels, dtype=object))
            frame = pd.DataFrame(dict(enumerate(columns)))
            frame.columns = labels
            return frame
        if array is not None:
            return array
        return arrays

    # -- call --------------------------------------------------------------------------
    def predict(self, header, body):
        self.empty_params = False
        data = self.data_of(header, body)
        self.data = data
        params = decode_params(header.get("params") or {}) or ({} if self.empty_params else None)
        if self.direct:
            pred = self.fn(data, params=params) if self.fn_params else self.fn(data)
        else:
            pred = self.model.predict(data, params=params)
        self.data = None
        return self.encode(pred)

    # -- output ------------------------------------------------------------------------
    RAW_KINDS = "biuf"

    def raw_array(self, arr):
        return arr.dtype.kind in self.RAW_KINDS and arr.dtype.byteorder in "=|<"

    def encode(self, pred):
        np, pd = self.np, self.pd
        outputs, parts, size = [], [], 0

        def add(name, arr):
            nonlocal size
            arr = np.ascontiguousarray(arr)
            if arr.dtype.kind in "OU":
                outputs.append({"name": name, "dtype": "str", "shape": list(arr.shape), "strings": arr.reshape(-1).tolist()})
                return
            b = arr.tobytes()
            outputs.append({"name": name, "dtype": arr.dtype.name, "shape": list(arr.shape), "offset": size, "len": len(b)})
            parts.append(b)
            size += len(b)

        if isinstance(pred, pd.Series):
            pred = pd.DataFrame(pred)
        if isinstance(pred, pd.DataFrame) and self.plain_frame(pred):
            for label, (_, col) in zip(pred.columns, pred.items()):
                values = col.to_numpy()
                if values.dtype.kind == "O" or str(col.dtype) in ("str", "string"):
                    values = np.asarray(col.to_numpy(dtype=object))
                add("c:" + json.dumps(label), values)
            return {"ok": True, "outputs": outputs}, b"".join(parts)
        if isinstance(pred, np.ndarray) and self.raw_array(pred) and pred.ndim >= 1:
            add("a:", pred)
            return {"ok": True, "outputs": outputs}, b"".join(parts)
        from mlflow.pyfunc.scoring_server import NumpyEncoder
        from mlflow.utils.proto_json_utils import _get_jsonable_obj

        text = json.dumps(_get_jsonable_obj(pred, pandas_orient="records"), cls=NumpyEncoder)
        return {"ok": True, "outputs": [{"name": "j:", "dtype": "str", "shape": [], "strings": [text]}]}, b""

    def plain_frame(self, frame):
        """Columns whose records the server renders exactly as pandas would: unique str or
        int labels; numbers, booleans, or strings without missing values."""
        labels = list(frame.columns)
        if len(set(map(str, labels))) != len(labels) or not labels:
            return False
        for label, (_, col) in zip(labels, frame.items()):
            if type(label) is not str and type(label) is not int:
                return False
            kind = col.dtype.kind
            if kind in self.RAW_KINDS and col.dtype.byteorder in "=|<" and str(col.dtype) in (
                "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64",
            ):
                continue
            if kind == "O" or str(col.dtype) in ("str", "string"):
                if all(type(v) is str for v in col.to_numpy(dtype=object)):
                    continue
            return False
        return True

    # -- errors ------------------------------------------------------------------------
    def error(self, e):
        """MLflow's status and error body for an exception of the model, as its scoring
        server builds them (`invocations` in mlflow/pyfunc/scoring_server/__init__.py)."""
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import BAD_REQUEST

        if isinstance(e, MlflowException):
            e.message = f"Failed to predict data '{self.data}'. \nError: {e.message}"
            err = e
        else:
            err = MlflowException(
                message=(
                    "Encountered an unexpected error while evaluating the model. Verify"
                    " that the serialized input Dataframe is compatible with the model for"
                    " inference."
                ),
                error_code=BAD_REQUEST,
                stack_trace=traceback.format_exc(),
            )
        self.data = None
        return {"status": err.get_http_status_code(), "body": err.serialize_as_json()}


def decode_params(params):
    def one(v):
        if isinstance(v, dict) and set(v) == {"float"}:
            return float(v["float"])
        if isinstance(v, list):
            return [one(x) for x in v]
        return v

    return {k: one(v) for k, v in params.items()}


if __name__ == "__main__":
    sys.exit(main())
