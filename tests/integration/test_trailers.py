"""Trailer fields through waygate, for gRPC (issue 20): after a chunked body both ways on HTTP/1.1,
and as a trailing HEADERS frame on HTTP/2 toward clients; `TE: trailers` reaches the upstream;
`grpc-timeout` caps the wait for the upstream's response.

The upstream is recording_upstream.py, in the test's process: it answers scripted paths with
raw bytes (chunked responses with trailers) and keeps each request it parsed, trailers included.
Clients: raw sockets for HTTP/1.1, python3-h2 and curl --http2-prior-knowledge for HTTP/2.
"""

import os
import socket
import sys
import unittest

try:
    import h2  # noqa: F401
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")  # Debian's python3-h2 (see test_http2)
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402

from harness import (HOST, IO_TIMEOUT, WaygateTestCase, chunked, curl,  # noqa: E402
                     free_port, proxy_config, request)
from recording_upstream import RecordingUpstream  # noqa: E402

# A gRPC-like response: its status comes last, as trailer fields, beside fields that may not be
# trailers (framing, cookies) and that waygate leaves out.
RESPONSE_WITH_TRAILERS = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/grpc\r\nTransfer-Encoding: chunked\r\n"
    b"Trailer: grpc-status, grpc-message\r\n\r\n"
    b"5\r\nhello\r\n0\r\ngrpc-status: 0\r\ngrpc-message: all good\r\n"
    b"Content-Length: 99\r\nSet-Cookie: stolen=1\r\n\r\n")
PLAIN_CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"5\r\nhello\r\n0\r\n\r\n")
# The route waits this long for a response: far beyond any test's own socket timeout, so a 504
# within it comes from grpc-timeout.
ROUTE_TIMEOUT = "3600s"


def fields(pairs):
    """{lower-case name: [values]} of (name, value) pairs given as bytes or str."""
    out = {}
    for name, value in pairs:
        name = name.decode("latin-1") if isinstance(name, bytes) else name
        value = value.decode("latin-1") if isinstance(value, bytes) else value
        out.setdefault(name.strip().lower(), []).append(value.strip())
    return out


class TrailersTestCase(WaygateTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = RecordingUpstream()
        cls.addClassCleanup(cls.up.close)
        cls.up.script("/trailers", RESPONSE_WITH_TRAILERS)
        cls.up.script("/plain-chunked", PLAIN_CHUNKED)
        cls.up.script("/never", b"", late=b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        port = free_port()
        routes = [{"hosts": ["*"],
                   "paths": [{"prefix": "/", "cluster": "up", "timeout": ROUTE_TIMEOUT}]}]
        text = proxy_config(port, {"up": [cls.up.address]}, routes=routes,
                            listener={"http2": True})
        cls.wg = cls.class_env.waygate(text, port)

    def upstream_request(self, target):
        """The last request the upstream parsed for target."""
        for conn in reversed(self.up.connections()):
            for req in reversed(conn.requests):
                if req.target == target:
                    return req
        self.fail(f"the upstream saw no request for {target}")


def h2_exchange(port, path, method="GET", headers=(), body=b"", trailers=()):
    """One request on an h2c connection of its own (prior knowledge), read until its stream
    ends: {"headers", "body", "trailers", "reset"}, each header section a dict."""
    sock = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
    try:
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        conn = h2.connection.H2Connection(config=config)
        conn.initiate_connection()
        fields = [(":method", method), (":path", path), (":scheme", "http"),
                  (":authority", "proxy.test"), *headers]
        conn.send_headers(1, fields, end_stream=not body and not trailers)
        if body:
            conn.send_data(1, body, end_stream=not trailers)
        if trailers:
            conn.send_headers(1, list(trailers), end_stream=True)
        sock.sendall(conn.data_to_send())
        result = {"headers": None, "body": bytearray(), "trailers": None, "reset": None}
        ended = False
        while not ended:
            data = sock.recv(65536)
            if not data:
                raise AssertionError(f"the connection closed before the stream ended: {result}")
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    result["headers"] = dict(event.headers)
                elif isinstance(event, h2.events.DataReceived):
                    result["body"] += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, 1)
                elif isinstance(event, h2.events.TrailersReceived):
                    result["trailers"] = dict(event.headers)
                elif isinstance(event, h2.events.StreamEnded):
                    ended = True
                elif isinstance(event, h2.events.StreamReset):
                    result["reset"] = event.error_code
                    ended = True
            sock.sendall(conn.data_to_send())
        return result
    finally:
        sock.close()


class Http1TrailersTest(TrailersTestCase):

    def test_response_trailers_reach_a_chunked_client(self):
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/trailers"))
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.framing, resp.body), (200, "chunked", b"hello"), resp)
        trailers = fields(resp.trailers)
        self.assertEqual(trailers.get("grpc-status"), ["0"], resp.trailers)
        self.assertEqual(trailers.get("grpc-message"), ["all good"], resp.trailers)

    def test_framing_and_cookie_fields_are_not_forwarded_as_trailers(self):
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/trailers"))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        trailers = fields(resp.trailers)
        self.assertNotIn("content-length", trailers)
        self.assertNotIn("set-cookie", trailers)
        # The connection is still in step: the next response on it is read whole.
        conn.send(request("GET", "/plain-chunked"))
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body, resp.trailers), (200, b"hello", []), resp)

    def test_request_trailers_reach_the_upstream(self):
        conn = self.connect(self.wg.port)
        body = chunked(b"abc", b"def", trailers=b"X-Checksum: 7\r\ngrpc-status: 0\r\n"
                                                b"Content-Length: 6\r\nHost: evil.test\r\n")
        conn.send(request("POST", "/upload", headers=[("Transfer-Encoding", "chunked")],
                          body=body))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        seen = self.upstream_request("/upload")
        self.assertEqual(seen.body, b"abcdef")
        trailers = fields(seen.trailers)
        self.assertEqual(trailers.get("x-checksum"), ["7"], seen.trailers)
        self.assertEqual(trailers.get("grpc-status"), ["0"], seen.trailers)
        self.assertNotIn("content-length", trailers)
        self.assertNotIn("host", trailers)

    def test_te_trailers_is_forwarded(self):
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/te-trailers", headers=[("TE", "trailers")]))
        self.assertEqual(conn.read_response().status, 200)
        seen = self.upstream_request("/te-trailers")
        self.assertEqual(seen.values("te"), [b"trailers"], seen)

    def test_other_te_values_are_not_forwarded(self):
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/te-gzip", headers=[("TE", "gzip, deflate")]))
        self.assertEqual(conn.read_response().status, 200)
        seen = self.upstream_request("/te-gzip")
        self.assertEqual(seen.values("te"), [], seen)

    def test_grpc_timeout_answers_before_the_route_timeout(self):
        # The upstream never answers and the route would wait an hour: only the request's own
        # deadline can bring the answer within the client's socket timeout. A gRPC call gets it
        # as gRPC's DEADLINE_EXCEEDED; the log keeps the 504.
        conn = self.connect(self.wg.port, timeout=IO_TIMEOUT)
        conn.send(request("POST", "/never", body=b"",
                          headers=[("Content-Type", "application/grpc"),
                                   ("grpc-timeout", "1S")]))
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.header("grpc-status")), (200, "4"), resp)
        self.wg.wait_for_log(r'"POST /never HTTP/1\.1" 504 .*error=upstream-timeout')

    def test_grpc_timeout_on_a_call_that_is_not_grpc_is_a_504(self):
        conn = self.connect(self.wg.port, timeout=IO_TIMEOUT)
        conn.send(request("POST", "/never", body=b"", headers=[("grpc-timeout", "1S")]))
        self.assertEqual(conn.read_response().status, 504)



class Http2TrailersTest(TrailersTestCase):

    def test_response_trailers_end_the_stream_in_a_headers_frame(self):
        result = h2_exchange(self.wg.port, "/trailers")
        self.assertEqual((result["headers"][":status"], bytes(result["body"])), ("200", b"hello"))
        self.assertEqual(result["trailers"], {"grpc-status": "0", "grpc-message": "all good"},
                         result)

    def test_curl_sees_the_response_trailers(self):
        dump = os.path.join(self.env.dir, "headers")
        r = curl(f"http://{HOST}:{self.wg.port}/trailers", "--http2-prior-knowledge",
                 "-D", dump)
        self.assertEqual((r.returncode, r.status, r.http_version, r.body), (0, 200, "2", b"hello"),
                         r)
        with open(dump, encoding="latin-1") as f:
            lines = f.read().splitlines()
        self.assertIn("grpc-status: 0", lines)
        self.assertIn("grpc-message: all good", lines)

    def test_request_trailers_reach_the_upstream(self):
        result = h2_exchange(self.wg.port, "/h2-upload", method="POST",
                             headers=[("content-type", "application/grpc"), ("te", "trailers")],
                             body=b"abc", trailers=[("x-checksum", "7"), ("grpc-extra", "x")])
        self.assertEqual(result["headers"][":status"], "200", result)
        seen = self.upstream_request("/h2-upload")
        self.assertEqual(seen.body, b"abc")
        self.assertEqual(fields(seen.trailers), {"x-checksum": ["7"], "grpc-extra": ["x"]})
        self.assertEqual(seen.values("te"), [b"trailers"], seen)

    def test_request_trailers_after_no_data_reach_the_upstream(self):
        result = h2_exchange(self.wg.port, "/h2-empty", method="POST",
                             trailers=[("x-checksum", "0")])
        self.assertEqual(result["headers"][":status"], "200", result)
        seen = self.upstream_request("/h2-empty")
        self.assertEqual((seen.body, fields(seen.trailers)), (b"", {"x-checksum": ["0"]}))

    def test_grpc_call_past_its_deadline_gets_deadline_exceeded(self):
        # A Trailers-Only answer (gRPC over HTTP/2): grpc-status in a head that ends the stream,
        # which is what a gRPC client reads as the call's status; no reset.
        result = h2_exchange(self.wg.port, "/never", method="POST",
                             headers=[("content-type", "application/grpc"), ("te", "trailers"),
                                      ("grpc-timeout", "1S")],
                             body=b"\0\0\0\0\0")
        self.assertEqual((result["headers"][":status"], result["headers"].get("grpc-status"),
                          result["reset"]), ("200", "4", None), result)


if __name__ == "__main__":
    unittest.main()
