"""gRPC through waygate (issue 20): python3-grpcio's client and server (grpc_upstream.py) with
waygate between them, HTTP/2 on both sides (h2c: the listener's `http2: true`, the cluster's
`protocol: http2`). Unary and streaming calls, trailing metadata, an error status with its
message, and a deadline. grpcio's server refuses a call without `te: trailers`, so every call
that succeeds shows that waygate forwards it.
"""

import os
import subprocess
import sys
import threading
import unittest

import grpc  # Debian's python3-grpcio: CMake runs this file with Debian's python3

from harness import (HOST, WaygateTestCase, check_config, free_port, health_line, proxy_config,
                     refusing_address)

GRPC_UPSTREAM_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grpc_upstream.py")
TIMEOUT = 30  # seconds any call may take before the test gives up on it


class GrpcServer:
    """grpc_upstream.py as a process, on a free port."""

    def __init__(self, test):
        self.proc = subprocess.Popen([sys.executable, GRPC_UPSTREAM_PY], stdout=subprocess.PIPE)
        test.addCleanup(self.stop)
        line = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(TIMEOUT)
        if not line or not line[0].startswith(b"ready "):
            raise RuntimeError(f"grpc_upstream.py did not start: {line!r}")
        self.address = f"{HOST}:{int(line[0].split()[1])}"

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class GrpcTest(WaygateTestCase):

    def setUp(self):
        super().setUp()
        self.server = GrpcServer(self)
        port = free_port()
        routes = [{"hosts": ["*"], "paths": [
            # Hold answers only once cancelled: this route's timeout is what ends it.
            {"exact": "/test.Echo/Hold", "cluster": "g", "timeout": "1s"},
            {"prefix": "/test.Echo/", "cluster": "g"},
            {"prefix": "/dead.Echo/", "cluster": "dead"},
        ]}]
        clusters = {"g": {"endpoints": [self.server.address], "protocol": "http2"},
                    "dead": {"endpoints": [refusing_address()], "protocol": "http2"}}
        self.wg = self.env.waygate(
            proxy_config(port, clusters, routes=routes, listener={"http2": True}), port)
        self.channel = grpc.insecure_channel(f"{HOST}:{port}")
        self.addCleanup(self.channel.close)

    def call(self, method, kind="unary_unary"):
        """A method of test.Echo on raw bytes (no generated code); kind: the channel's method
        for its shape (unary_unary, unary_stream, stream_unary, stream_stream)."""
        return getattr(self.channel, kind)(f"/test.Echo/{method}")

    def test_unary_call_and_its_trailing_metadata(self):
        response, call = self.call("Unary").with_call(
            b"hello", metadata=(("x-ask-trailer", "t1"),), timeout=TIMEOUT)
        self.assertEqual(response, b"echo:hello")
        self.assertEqual(call.code(), grpc.StatusCode.OK)
        self.assertIn(("x-trailer", "t1"), call.trailing_metadata())
        self.wg.wait_for_log(r'"POST /test\.Echo/Unary HTTP/2" 200 ')

    def test_error_status_and_message_reach_the_client(self):
        with self.assertRaises(grpc.RpcError) as raised:
            self.call("Fail")(b"x=1", timeout=TIMEOUT)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(raised.exception.details(), "bad input: x=1")

    def test_server_streaming(self):
        replies = list(self.call("Count", "unary_stream")(b"50", timeout=TIMEOUT))
        self.assertEqual(replies, [str(i).encode() for i in range(50)])

    def test_client_streaming(self):
        messages = (bytes([i % 251]) * 1000 for i in range(200))
        self.assertEqual(self.call("Sum", "stream_unary")(messages, timeout=TIMEOUT),
                         b"200000")

    def test_bidirectional_streaming_answers_each_message_as_it_comes(self):
        # Each reply is read before the next message is sent: a proxy that held either side's
        # messages until the stream ended would hang here.
        outgoing = []
        ready = threading.Condition()

        def messages():
            for i in range(20):
                with ready:
                    ready.wait_for(lambda: len(outgoing) == i, timeout=TIMEOUT)
                yield f"m{i}".encode()

        replies = []
        for reply in self.call("Chat", "stream_stream")(messages(), timeout=TIMEOUT):
            replies.append(reply)
            with ready:
                outgoing.append(reply)
                ready.notify()
        self.assertEqual(replies, [f"M{i}".encode() for i in range(20)])

    def test_client_deadline_exceeded(self):
        with self.assertRaises(grpc.RpcError) as raised:
            self.call("Hold")(b"", timeout=0.5)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        # waygate is fine afterwards.
        self.assertEqual(self.call("Unary")(b"after", timeout=TIMEOUT), b"echo:after")

    # What waygate answers itself reaches a gRPC client as a gRPC status with waygate's reason,
    # not as an HTTP error status that gRPC would report as UNAVAILABLE or UNKNOWN.

    def test_route_timeout_is_deadline_exceeded_with_the_reason(self):
        with self.assertRaises(grpc.RpcError) as raised:
            self.call("Hold")(b"", timeout=TIMEOUT)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertEqual(raised.exception.details(), "waygate: upstream-timeout")
        # Logged with the HTTP status waygate would have answered.
        self.wg.wait_for_log(r'"POST /test\.Echo/Hold HTTP/2" 504 .*error=upstream-timeout')

    def test_no_route_is_unimplemented(self):
        with self.assertRaises(grpc.RpcError) as raised:
            self.channel.unary_unary("/other.Service/Method")(b"", timeout=TIMEOUT)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        self.assertEqual(raised.exception.details(), "waygate: no-route")

    def test_dead_upstream_is_unavailable(self):
        with self.assertRaises(grpc.RpcError) as raised:
            self.channel.unary_unary("/dead.Echo/Unary")(b"", timeout=TIMEOUT)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(raised.exception.details(), "waygate: upstream-refused")


class GrpcHealthCheckTest(WaygateTestCase):
    """`health_check: { grpc: { service } }` calls grpc.health.v1.Health/Check over HTTP/2 and
    passes on SERVING alone."""

    def start(self, service, **check):
        self.server = GrpcServer(self)
        port = free_port()
        health_check = {"grpc": {"service": service}, "interval": "300ms", "timeout": "1s",
                        "healthy_threshold": 2, "unhealthy_threshold": 2, **check}
        clusters = {"g": {"endpoints": [self.server.address], "protocol": "http2",
                          "health_check": health_check}}
        self.wg = self.env.waygate(proxy_config(port, clusters, listener={"http2": True}), port)
        self.channel = grpc.insecure_channel(f"{HOST}:{port}")
        self.addCleanup(self.channel.close)

    def verdict(self, state, reason=""):
        self.wg.wait_for_stderr(health_line("g", self.server.address, state) + reason, 1, TIMEOUT)

    def test_serving_service_turns_healthy_and_takes_calls(self):
        self.start("test.Echo", initial="unhealthy")
        self.verdict("healthy")
        self.assertEqual(self.channel.unary_unary("/test.Echo/Unary")(b"hi", timeout=TIMEOUT),
                         b"echo:hi")

    def test_not_serving_service_turns_unhealthy_and_calls_get_unavailable(self):
        self.start("test.Down")
        self.verdict("unhealthy", r" \(2 checks failed in a row, last: not-serving\)")
        with self.assertRaises(grpc.RpcError) as caught:
            self.channel.unary_unary("/test.Echo/Unary")(b"hi", timeout=TIMEOUT)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAVAILABLE)

    def test_unknown_service_fails_its_checks(self):
        self.start("no.Such")
        self.verdict("unhealthy", r" \(2 checks failed in a row, last: grpc-error\)")

    def test_grpc_check_of_an_http1_cluster_is_refused(self):
        port = free_port()
        text = proxy_config(port, {"g": {"endpoints": ["127.0.0.1:1"],
                                         "health_check": {"grpc": {"service": "x"}}}})
        result = check_config(self.env.dir, text, "bad.yaml")
        self.assertNotEqual(result.returncode, 0)
        self.assertRegex(result.stderr + result.stdout,
                         r"bad\.yaml:\d+:\d+: health_check\.grpc needs the cluster's "
                         r"protocol: http2")


if __name__ == "__main__":
    unittest.main()
