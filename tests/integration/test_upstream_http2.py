"""HTTP/2 toward upstreams (issue 20): a cluster with `protocol: http2` sends its requests as
streams of shared HTTP/2 connections, h2c by prior knowledge or h2 by ALPN over TLS, while clients
speak HTTP/1.1 to waygate as ever.

Upstreams: nghttpd (Debian's nghttp2-server), which speaks nothing but HTTP/2, where a real server
does the job; h2_upstream.H2Upstream where the test needs to choose the frames (stream limits,
GOAWAY) or count connections.
"""

import base64
import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import threading
import unittest

import certs
from h2_upstream import H2Upstream
from harness import (HOST, IO_TIMEOUT, HttpConnection, WaygateTestCase, check_config, chunked,
                     free_port, port_accepts, proxy_config, refusing_address, request, wait_until)
from upstream import WS_GUID, Reader, ws_frame, ws_read_frame

NGHTTPD_BIN = shutil.which("nghttpd") or "/usr/sbin/nghttpd"
LARGE_BYTES = 5 * 1024 * 1024


class Nghttpd:
    """nghttpd serving `htdocs`, echoing uploads; h2c unless given a certs.Cert."""

    def __init__(self, workdir, htdocs, cert=None):
        self.port = free_port()
        self.address = f"{HOST}:{self.port}"
        args = [NGHTTPD_BIN, "--echo-upload", "-d", htdocs, "-a", HOST, str(self.port)]
        args += [cert.key, cert.cert] if cert else ["--no-tls"]
        self.log = open(os.path.join(workdir, f"nghttpd-{self.port}.log"), "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: port_accepts(self.port), message="nghttpd listening")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=IO_TIMEOUT)
        self.log.close()


class UpstreamHttp2TestCase(WaygateTestCase):
    def start_waygate(self, endpoint, routes=None, cluster=None, timeouts=None):
        port = free_port()
        spec = {"protocol": "http2", "endpoints": [endpoint], **(cluster or {})}
        wg = self.env.waygate(proxy_config(port, {"h2": spec}, routes=routes, timeouts=timeouts),
                              port)
        return wg, port

    def nghttpd(self, cert=None):
        if not os.access(NGHTTPD_BIN, os.X_OK):
            raise unittest.SkipTest(f"nghttpd not found at {NGHTTPD_BIN} (Debian: nghttp2-server)")
        htdocs = os.path.join(self.env.dir, "htdocs")
        os.makedirs(htdocs, exist_ok=True)
        with open(os.path.join(htdocs, "hello.txt"), "wb") as f:
            f.write(b"hello over h2\n")
        with open(os.path.join(htdocs, "large.bin"), "wb") as f:
            f.write(large_body())
        server = Nghttpd(self.env.dir, htdocs, cert)
        self.addCleanup(server.stop)
        return server

    def h2_upstream(self, **kwargs):
        server = H2Upstream(**kwargs)
        self.addCleanup(server.close)
        return server


class Http1TlsServer:
    """A TLS server that ignores ALPN and answers every request read with an HTTP/1.1 200:
    a TLS endpoint that does not speak HTTP/2."""

    def __init__(self, cert):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert.cert, cert.key)
        self.context = context
        self.sock = socket.create_server((HOST, 0))
        self.address = f"{HOST}:{self.sock.getsockname()[1]}"
        self.requests = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.sock.close()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            with self.context.wrap_socket(client, server_side=True) as tls:
                tls.settimeout(IO_TIMEOUT)
                data = tls.recv(65536)
                if data.startswith(b"GET "):
                    self.requests += 1
                tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        except OSError:
            pass


def large_body():
    return bytes(range(256)) * (LARGE_BYTES // 256)


def get_all(port, targets, method="GET", body=None):
    """One HTTP/1.1 request per target, all at once, each on a connection of its own: the
    responses in order."""
    responses = [None] * len(targets)

    def fetch(i):
        with HttpConnection(port) as conn:
            conn.send(request(method, targets[i], body=body))
            responses[i] = conn.read_response()

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(IO_TIMEOUT * 2)
    return responses


class H2cTest(UpstreamHttp2TestCase):
    def setUp(self):
        super().setUp()
        self.server = self.nghttpd()
        self.wg, self.port = self.start_waygate(self.server.address)

    def test_get_reaches_an_upstream_that_speaks_only_http2(self):
        resp = self.get(self.port, "/hello.txt")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"hello over h2\n")

    def test_post_body_goes_upstream(self):
        resp = self.get(self.port, "/hello.txt", method="POST", body=b"x" * 100000)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"x" * 100000)

    def test_chunked_post_body_goes_upstream(self):
        with HttpConnection(self.port) as conn:
            conn.send(request("POST", "/hello.txt", headers=[("Transfer-Encoding", "chunked")],
                              body=chunked(b"abc", b"defgh")))
            resp = conn.read_response()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"abcdefgh")

    def test_large_response_arrives_whole(self):
        resp = self.get(self.port, "/large.bin")
        self.assertEqual(resp.status, 200)
        self.assertEqual(hashlib.sha256(resp.body).hexdigest(),
                         hashlib.sha256(large_body()).hexdigest())

    def test_large_upload_is_echoed_whole(self):
        body = large_body()
        resp = self.get(self.port, "/hello.txt", method="POST", body=body)
        self.assertEqual(resp.status, 200)
        self.assertEqual(len(resp.body), len(body))
        self.assertEqual(hashlib.sha256(resp.body).hexdigest(), hashlib.sha256(body).hexdigest())


class SharedConnectionTest(UpstreamHttp2TestCase):
    def test_concurrent_requests_share_one_upstream_connection(self):
        server = self.h2_upstream()
        wg, port = self.start_waygate(server.address)
        responses = get_all(port, [f"/r{i}" for i in range(20)])
        self.assertEqual([r.status for r in responses], [200] * 20)
        for i, resp in enumerate(responses):
            self.assertTrue(resp.body.startswith(f"GET /r{i} 0 connection=1 ".encode()), resp.body)
        self.assertEqual(server.connections, 1)

    def test_request_head_becomes_http2_fields(self):
        server = self.h2_upstream()
        wg, port = self.start_waygate(server.address)
        resp = self.get(port, "/path?q=1", host="svc.test")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body,
                         b"GET /path?q=1 0 connection=1 scheme=http authority=svc.test")
        wg.wait_for_log(rf'"GET /path\?q=1 HTTP/1\.1" 200 .*upstream={server.address} .*error=-')

    def test_stream_limit_of_one_opens_a_second_connection(self):
        server = self.h2_upstream(max_streams=1, hold=2)
        wg, port = self.start_waygate(server.address)
        # The first request learns the upstream's SETTINGS; then two at once need two streams.
        self.assertEqual(self.get(port, "/first").status, 200)
        responses = get_all(port, ["/hold", "/hold"])
        self.assertEqual([r.status for r in responses], [200, 200])
        self.assertEqual(server.connections, 2)
        self.assertEqual(sorted(r.header("x-connection") for r in responses), ["1", "2"])

    def test_goaway_loses_no_request(self):
        # Ten requests under way on the first connection; its GOAWAY keeps the fourth as the last
        # it processes, so six go again on a new connection, unseen by the clients. POSTs with a
        # body too large for the session to keep: only the HTTP/2 layer can send them again.
        server = self.h2_upstream(goaway_after=4, gather=10)
        wg, port = self.start_waygate(server.address)
        responses = get_all(port, [f"/g{i}" for i in range(10)], method="POST", body=b"b" * 200000)
        self.assertEqual([r.status for r in responses], [200] * 10)
        for i, resp in enumerate(responses):
            self.assertTrue(resp.body.startswith(f"POST /g{i} 200000 ".encode()), resp.body)
        self.assertTrue(server.goaway_sent)
        self.assertEqual(server.unanswered, 6)
        self.assertEqual(server.connections, 2)
        # The GOAWAY connection takes no new stream: later requests go to the second one.
        resp = self.get(port, "/after")
        self.assertEqual(resp.header("x-connection"), "2")

    def test_response_without_length_is_chunked_to_the_client_with_its_trailers(self):
        server = self.h2_upstream()
        wg, port = self.start_waygate(server.address)
        resp = self.get(port, "/trailers")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"hello")
        self.assertEqual(resp.header("transfer-encoding"), "chunked")
        # The HTTP/2 upstream's trailing HEADERS reach the HTTP/1.1 client after the last chunk.
        self.assertEqual(sorted((name.lower(), value) for name, value in resp.trailers),
                         [("grpc-status", "0"), ("x-checksum", "abc")])


class FailureTest(UpstreamHttp2TestCase):
    def test_dead_endpoint_is_502(self):
        wg, port = self.start_waygate(refusing_address())
        resp = self.get(port, "/")
        self.assertErrorResponse(resp, 502)
        wg.wait_for_log(r'"GET / HTTP/1\.1" 502 .*error=upstream-refused')

    def test_upstream_that_does_not_answer_is_504(self):
        server = self.h2_upstream()
        routes = [{"hosts": ["*"], "paths": [{"prefix": "/", "cluster": "h2", "timeout": "1s"}]}]
        wg, port = self.start_waygate(server.address, routes=routes)
        resp = self.get(port, "/never")
        self.assertErrorResponse(resp, 504)
        wg.wait_for_log(rf'"GET /never HTTP/1\.1" 504 .*upstream={server.address} .*'
                        r'error=upstream-timeout')
        # The connection outlives the stream that timed out: the next request shares it.
        self.assertEqual(self.get(port, "/next").header("x-connection"), "1")
        self.assertEqual(server.connections, 1)


class TlsTest(UpstreamHttp2TestCase):
    def test_tls_upstream_speaks_h2_chosen_by_alpn(self):
        server = self.nghttpd(cert=certs.get("example"))
        wg, port = self.start_waygate(
            server.address, cluster={"tls": {"sni": "example.test", "ca": certs.get("ca").cert}})
        resp = self.get(port, "/hello.txt")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"hello over h2\n")


    def test_tls_upstream_that_does_not_choose_h2_is_a_tls_failure(self):
        # A TLS server that completes the handshake without answering ALPN, then speaks HTTP/1.1.
        server = Http1TlsServer(certs.get("backend"))
        self.addCleanup(server.close)
        wg, port = self.start_waygate(
            server.address, cluster={"tls": {"sni": "backend.test", "ca": certs.get("ca").cert}})
        resp = self.get(port, "/alpn")
        self.assertErrorResponse(resp, 502)
        wg.wait_for_log(r'"GET /alpn HTTP/1\.1" 502 .*error=upstream-tls')
        self.assertEqual(server.requests, 0, "the request reached the upstream")


def websocket_request(target):
    key = base64.b64encode(os.urandom(16)).decode()
    return key, request("GET", target, headers=[
        ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13")])


class UpgradeTest(UpstreamHttp2TestCase):
    """HTTP/2 has no Upgrade: a WebSocket routed to a `protocol: http2` cluster goes on an
    HTTP/1.1 connection to the same endpoint."""

    def test_websocket_goes_to_the_endpoint_over_http11_and_tunnels(self):
        # upstream.py speaks HTTP/1.1 only: the 101 and the echo prove the upgrade went there in
        # HTTP/1.1 although its cluster says http2.
        up = self.env.upstream("A")
        wg, port = self.start_waygate(up.address)
        conn = self.connect(port)
        key, head = websocket_request("/ws")
        conn.send(head)
        resp = conn.read_response()
        self.assertEqual(resp.status, 101, resp)
        expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.assertEqual(resp.header("sec-websocket-accept"), expected)
        reader = Reader(conn.sock)
        reader.buf = conn.buf
        conn.send(ws_frame(0x1, b"hello through h2 cluster", mask=os.urandom(4)))
        self.assertEqual(ws_read_frame(reader), (0x1, b"hello through h2 cluster"))

    def test_websocket_to_an_endpoint_speaking_only_http2_is_502_and_others_go_on(self):
        # nghttpd cannot take the HTTP/1.1 upgrade: the client gets a 502 at once (no hang), and
        # the worker serves the next request over HTTP/2 as before.
        server = self.nghttpd()
        wg, port = self.start_waygate(server.address)
        conn = self.connect(port)
        conn.send(websocket_request("/ws")[1])
        resp = conn.read_response()
        self.assertErrorResponse(resp, 502)
        wg.wait_for_log(r'"GET /ws HTTP/1\.1" 502 .*error=upstream-(malformed|reset)')
        resp = self.get(port, "/hello.txt")
        self.assertEqual((resp.status, resp.body), (200, b"hello over h2\n"))

    def test_refused_websockets_do_not_eject_the_endpoint(self):
        # Outlier detection that ejects at the first reset: WebSockets that an HTTP/2-only
        # endpoint cannot take say nothing of its health, and eject neither of the two.
        servers = [self.nghttpd(), self.nghttpd()]
        port = free_port()
        spec = {"protocol": "http2", "endpoints": [s.address for s in servers],
                "outlier_detection": {"consecutive_connect_failures": 1}}
        wg = self.env.waygate(proxy_config(port, {"h2": spec}), port)
        for i in range(4):
            with self.connect(port) as conn:
                conn.send(websocket_request(f"/ws/{i}")[1])
                self.assertErrorResponse(conn.read_response(), 502)
        wg.wait_for_log(r'"GET /ws/3 HTTP/1\.1" 502 ')
        for i in range(4):
            self.assertEqual(self.get(port, "/hello.txt").status, 200)
        self.assertEqual(wg.stderr_matches(r"outlier: endpoint \S+ ejected"), [])


class ConfigTest(UpstreamHttp2TestCase):
    def test_unknown_protocol_is_refused_with_its_position(self):
        port = free_port()
        text = proxy_config(port, {"h2": {"protocol": "http3", "endpoints": ["127.0.0.1:1"]}})
        result = check_config(self.env.dir, text, "bad.yaml")
        self.assertNotEqual(result.returncode, 0)
        self.assertRegex(result.stderr + result.stdout,
                         r"bad\.yaml:\d+:\d+: protocol 'http3' is not one of http1, http2")


if __name__ == "__main__":
    unittest.main()
