"""gRPC (Open Inference Protocol) behaviour beyond the answers, through the real
`tritonclient[grpc]` client, against a running mlflow-serve serving wine_tensor
(one FP32 input of shape [-1, 11]).

    python tests/oip/triton_grpc_checks.py serving HTTP_PORT GRPC_PORT NAME MAX_BODY_BYTES
    python tests/oip/triton_grpc_checks.py draining HTTP_PORT GRPC_PORT NAME
    python tests/oip/triton_grpc_checks.py timeout HTTP_PORT GRPC_PORT cnn_mnist

`serving`: a message past --max-body-bytes is refused (and the server goes on), a wrong
datatype gets MLflow's enforcement message as INVALID_ARGUMENT, typed (non-raw) contents
work, and /metrics counts the calls under protocol="grpc-v2".
`draining` (after SIGTERM, within the drain delay): live, not ready, and still inferring.
`timeout` (cnn_mnist served with `-t 1`): 12000 images (about 2.5 s of compute here) take longer than the request timeout:
DEADLINE_EXCEEDED over gRPC, 504 `{"error": …}` over V2 REST; then small requests answer.
Exits 1 with the differences.
"""
import sys
import urllib.request

import grpc
import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException


def rows(n):
    a = np.arange(n * 11, dtype=np.float32).reshape(n, 11) / 10
    i = grpcclient.InferInput("input-0", [n, 11], "FP32")
    i.set_data_from_numpy(a)
    return [i]


def main():
    mode, http_port, grpc_port, name = sys.argv[1:5]
    failures = []
    client = grpcclient.InferenceServerClient(url=f"127.0.0.1:{grpc_port}")
    if mode == "serving":
        max_body = int(sys.argv[5])
        first = client.infer(name, rows(2))
        output = first.get_response().outputs[0].name
        ok = first.as_numpy(output)
        if ok is None or ok.shape[0] != 2:
            failures.append(f"infer: {ok}")
        # past the largest message
        n = max_body // 44 + 10
        try:
            client.infer(name, rows(n))
            failures.append("a message past --max-body-bytes was accepted")
        except InferenceServerException as e:
            # tonic's refusal of a message past max_decoding_message_size
            if "OUT_OF_RANGE" not in str(e.status()) or "too large" not in (e.message() or ""):
                failures.append(f"too large: {e.status()} {e.message()}")
        if not client.is_server_live():
            failures.append("not live after a refused message")
        # a wrong datatype: MLflow's enforcement message
        bad = grpcclient.InferInput("input-0", [1, 11], "FP64")
        bad.set_data_from_numpy(np.zeros((1, 11), np.float64))
        try:
            client.infer(name, [bad])
            failures.append("FP64 for a float32 tensor was accepted")
        except InferenceServerException as e:
            if "INVALID_ARGUMENT" not in str(e.status()) or "Failed to enforce schema" not in e.message():
                failures.append(f"wrong datatype: {e.status()} {e.message()}")
        # typed contents instead of raw bytes (what other gRPC clients send)
        stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(f"127.0.0.1:{grpc_port}"))
        req = service_pb2.ModelInferRequest(model_name=name, id="typed")
        t = req.inputs.add(name="input-0", datatype="FP32", shape=[1, 11])
        t.contents.fp32_contents.extend([0.5] * 11)
        resp = stub.ModelInfer(req)
        # the same data as raw bytes, through tritonclient: the two answers must be equal
        same = grpcclient.InferInput("input-0", [1, 11], "FP32")
        same.set_data_from_numpy(np.full((1, 11), 0.5, np.float32))
        want = client.infer(name, [same]).as_numpy(output)
        dtypes = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32}
        if resp.id != "typed" or len(resp.raw_output_contents) != 1 or len(resp.outputs) != 1:
            failures.append(f"typed contents: {resp}")
        else:
            o = resp.outputs[0]
            got = np.frombuffer(resp.raw_output_contents[0], dtype=dtypes[o.datatype]).reshape(list(o.shape))
            if o.name != output or got.shape != want.shape or got.dtype != want.dtype or not np.array_equal(got, want):
                failures.append(f"typed contents: {o.name} {got} vs raw contents' {want}")
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        line = [l for l in text.splitlines()
                if l.startswith("mlflow_serve_requests_total{")
                and 'protocol="grpc-v2"' in l and "ModelInfer" in l and 'status="200"' in l]
        if not line or float(line[0].split()[-1]) < 3:
            failures.append(f"metrics: {line}")
    elif mode == "timeout":
        import time
        import tritonclient.http as httpclient
        images = np.full((12000, 1, 28, 28), 0.5, np.float32)
        big = grpcclient.InferInput("input-0", list(images.shape), "FP32")
        big.set_data_from_numpy(images)
        try:
            client.infer(name, [big])
            failures.append("gRPC: 12000 images answered within -t 1")
        except InferenceServerException as e:
            if "DEADLINE_EXCEEDED" not in str(e.status()) or "exceeded" not in (e.message() or ""):
                failures.append(f"gRPC timeout: {e.status()} {e.message()}")
        rest = httpclient.InferenceServerClient(url=f"127.0.0.1:{http_port}", network_timeout=60)
        big = httpclient.InferInput("input-0", list(images.shape), "FP32")
        big.set_data_from_numpy(images)
        try:
            rest.infer(name, [big])
            failures.append("REST: 12000 images answered within -t 1")
        except InferenceServerException as e:
            if e.status() != "504" or "exceeded" not in (e.message() or ""):
                failures.append(f"REST timeout: {e.status()} {e.message()}")
        # the runtime call cannot be interrupted: once it is done, small requests answer
        small = grpcclient.InferInput("input-0", [1, 1, 28, 28], "FP32")
        small.set_data_from_numpy(images[:1])
        deadline = time.time() + 30
        while True:
            try:
                client.infer(name, [small])
                break
            except InferenceServerException as e:
                if time.time() > deadline or "DEADLINE_EXCEEDED" not in str(e.status()):
                    failures.append(f"no answer after the timeouts: {e.status()} {e.message()}")
                    break
    elif mode == "draining":
        if not client.is_server_live():
            failures.append("not live while draining")
        if client.is_server_ready() or client.is_model_ready(name):
            failures.append("ready while draining")
        result = client.infer(name, rows(1))
        if result.as_numpy(result.get_response().outputs[0].name) is None:
            failures.append("no answer while draining")
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print(f"gRPC {mode}: every check holds")


if __name__ == "__main__":
    main()
