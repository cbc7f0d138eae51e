"""Hostile ModelInfer messages over real gRPC (grpcio, as tritonclient speaks it), for
tests/abuse.rs: each case is sent as raw protobuf bytes (hand-encoded, so that counts no real
client would send can be built) and its status code, message length and time are printed as
one JSON line.

usage: grpc_abuse.py <grpc-port> <model-name> <case>
"""

import json
import struct
import sys
import time

import grpc


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number, payload):
    """A length-delimited field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def tensor(name, datatype, shape, fp32=()):
    shape_bytes = b"".join(varint(d) for d in shape)
    body = field(1, name.encode()) + field(2, datatype.encode()) + field(3, shape_bytes)
    if fp32:
        body += field(5, field(6, b"".join(struct.pack("<f", x) for x in fp32)))
    return body


def request(model, inputs):
    return field(1, model.encode()) + b"".join(field(5, t) for t in inputs)


def case_message(model, case):
    if case == "deep_shape":
        return request(model, [tensor("x", "FP32", [1] * 100_000, [1.0])])
    if case == "empty_inputs":
        # 4 MiB of empty `inputs` entries: 2 bytes each on the wire.
        return field(1, model.encode()) + b"\x2a\x00" * (2 << 20)
    if case == "many_names":
        return request(model, [tensor(f"x{i}", "FP32", [1], [1.0]) for i in range(80_000)])
    if case == "long_names":
        long = "n" * (2 << 20)
        return request(model, [tensor(long, long, [1], [1.0])])
    raise SystemExit(f"unknown case {case}")


def main():
    port, model, case = sys.argv[1], sys.argv[2], sys.argv[3]
    message = case_message(model, case)
    options = [
        ("grpc.max_send_message_length", 64 << 20),
        ("grpc.max_receive_message_length", 64 << 20),
    ]
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        call = channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=None,
            response_deserializer=None,
        )
        started = time.monotonic()
        try:
            call(message, timeout=60)
            code, details = "OK", ""
        except grpc.RpcError as e:
            code, details = e.code().name, e.details() or ""
        took = time.monotonic() - started
    print(json.dumps({"case": case, "bytes": len(message), "code": code,
                      "details_len": len(details), "details": details[:200], "seconds": took}))


if __name__ == "__main__":
    main()
