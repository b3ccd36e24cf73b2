#!/usr/bin/env python3
"""A gRPC server for waygate's integration tests (python3-grpcio), speaking h2c.

Run as its own process: ``python3 grpc_upstream.py --port N``; it prints ``ready <port>`` once it
listens on 127.0.0.1. No generated code: the service `test.Echo` is a generic handler over raw
bytes (messages are the payloads as sent), which is all gRPC's wire format needs.

  /test.Echo/Unary         the request prefixed with ``echo:``; the request's metadata
                           ``x-ask-trailer: V`` comes back as the trailing metadata ``x-trailer: V``
  /test.Echo/Fail          status INVALID_ARGUMENT with the message ``bad input: <request>``
  /test.Echo/Count         server streaming: the request is a number N; N messages ``0``..``N-1``
  /test.Echo/Sum           client streaming: the total length of the messages, as text
  /test.Echo/Chat          bidirectional: each message back, upper-cased
  /test.Echo/Hold          answers only once the call is cancelled (a deadline test)
  /test.Echo/Metadata      the request's metadata as ``name=value`` lines, sorted

and the standard health service, on raw protobuf bytes:

  /grpc.health.v1.Health/Check   SERVING for "" and "test.Echo", NOT_SERVING for "test.Down",
                                 status NOT_FOUND for any other service
"""

import argparse
import threading
from concurrent import futures

import grpc  # Debian's python3-grpcio, for Debian's python3


def unary(request, context):
    for name, value in context.invocation_metadata():
        if name == "x-ask-trailer":
            context.set_trailing_metadata((("x-trailer", value),))
    return b"echo:" + request


def fail(request, context):
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad input: " + request.decode())


def count(request, context):
    for i in range(int(request.decode())):
        yield str(i).encode()


def total(requests, context):
    return str(sum(len(message) for message in requests)).encode()


def chat(requests, context):
    for message in requests:
        yield message.upper()


def hold(request, context):
    cancelled = threading.Event()
    context.add_callback(cancelled.set)
    cancelled.wait(60)
    return b"late"


def metadata(request, context):
    lines = sorted(f"{name}={value}" for name, value in context.invocation_metadata())
    return "\n".join(lines).encode()


# grpc.health.v1.HealthCheckResponse.ServingStatus by service name.
HEALTH = {"": 1, "test.Echo": 1, "test.Down": 2}


def health_check(request, context):
    # HealthCheckRequest: field 1 (tag 0x0a), a one-byte length, the name; empty for "".
    service = request[2:].decode()
    if service not in HEALTH:
        context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {service}")
    return bytes([0x08, HEALTH[service]])  # HealthCheckResponse{status}


HANDLERS = {
    "Unary": grpc.unary_unary_rpc_method_handler(unary),
    "Fail": grpc.unary_unary_rpc_method_handler(fail),
    "Count": grpc.unary_stream_rpc_method_handler(count),
    "Sum": grpc.stream_unary_rpc_method_handler(total),
    "Chat": grpc.stream_stream_rpc_method_handler(chat),
    "Hold": grpc.unary_unary_rpc_method_handler(hold),
    "Metadata": grpc.unary_unary_rpc_method_handler(metadata),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler("test.Echo", HANDLERS),
        grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
            "Check": grpc.unary_unary_rpc_method_handler(health_check)}),
    ))
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"ready {port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
