"""Upstreams that are slow, or that die in the middle of a response."""

import unittest

from harness import ConnectionClosed, HttpConnection, WaygateTestCase, request, wait_until


class SlowUpstreamTest(WaygateTestCase):

    def test_slow_upstream_within_timeout_is_answered(self):
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]},
                              timeouts={"upstream_response": "10s"})
        resp = self.get(wg.port, "/slow?delay=1")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, b"A GET /slow?delay=1\n")

    def test_upstream_response_timeout_is_504(self):
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]},
                              timeouts={"upstream_response": "300ms"})
        resp = self.get(wg.port, "/slow?delay=3")
        self.assertErrorResponse(resp, 504)
        wg.wait_for_log(r'"GET /slow\?delay=3 HTTP/1\.1" 504 .*error=upstream-timeout')

    def test_route_timeout_overrides_global_timeout(self):
        up = self.env.upstream("A")
        routes = [{"hosts": ["*"], "paths": [
            {"prefix": "/patient/", "cluster": "up", "timeout": "10s"},
            {"prefix": "/", "cluster": "up"}]}]
        wg = self.start_proxy(self.env, {"up": [up.address]}, routes=routes,
                              timeouts={"upstream_response": "300ms"})
        self.assertEqual(self.get(wg.port, "/patient/slow?delay=1").status, 200)
        self.assertEqual(self.get(wg.port, "/impatient/slow?delay=3").status, 504)


class DyingUpstreamTest(WaygateTestCase):

    def setUp(self):
        super().setUp()
        self.up = self.env.upstream("A")
        self.wg = self.start_proxy(self.env, {"up": [self.up.address]})

    def assertTruncated(self, target):
        """The client must see an incomplete response or a 502, then the end of the connection,
        never a complete-looking response and never a hang."""
        conn = self.connect(self.wg.port)
        conn.send(request("GET", target))
        try:
            resp = conn.read_response()
        except ConnectionClosed as e:
            if e.response is not None:
                self.assertEqual(e.response.status, 200, e.response)
            return  # truncated: what a client must see
        self.assertEqual(resp.status, 502,
                         f"a response cut by the upstream was delivered as complete: {resp!r}")

    def assertStillServing(self):
        resp = self.get(self.wg.port, "/after")
        self.assertEqual((resp.status, resp.body), (200, b"A GET /after\n"))

    def test_upstream_reset_mid_response_truncates_client_response(self):
        self.assertTruncated("/kill")
        self.assertStillServing()

    def test_upstream_close_mid_response_truncates_client_response(self):
        self.assertTruncated("/kill?mode=fin")
        self.assertStillServing()

    def test_upstream_reset_mid_chunked_response_is_not_terminated(self):
        self.assertTruncated("/kill?chunked=1")
        self.assertStillServing()

    def test_upstream_close_mid_chunked_response_is_not_terminated(self):
        self.assertTruncated("/kill?chunked=1&mode=fin")
        self.assertStillServing()

    def test_dead_upstream_connection_is_not_reused(self):
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/warm"))
        self.assertEqual(conn.read_response().status, 200)
        self.assertTruncated("/kill")
        for i in range(3):
            conn.send(request("GET", f"/again{i}"))
            resp = conn.read_response()
            self.assertEqual((resp.status, resp.body), (200, f"A GET /again{i}\n".encode()))


class ClientAbortTest(WaygateTestCase):
    """A client that goes away mid-exchange must not disturb later requests."""

    def setUp(self):
        super().setUp()
        self.up = self.env.upstream("A")
        self.wg = self.start_proxy(self.env, {"up": [self.up.address]}, workers=1)

    def assertStillServing(self):
        for i in range(3):
            resp = self.get(self.wg.port, f"/after{i}")
            self.assertEqual((resp.status, resp.body), (200, f"A GET /after{i}\n".encode()))

    def test_client_gone_while_upstream_is_slow(self):
        with HttpConnection(self.wg.port) as conn:
            conn.send(request("GET", "/slow?delay=1"))
            wait_until(lambda: self.up.stats()["requests"] == 1, message="the request upstream")
        expected = len(b"A GET /slow?delay=1\n")
        wait_until(lambda: self.up.stats()["bytes_sent"] >= expected, timeout=10,
                   message="the upstream to answer the departed client")
        self.assertStillServing()

    def test_client_gone_mid_download(self):
        with HttpConnection(self.wg.port) as conn:
            conn.send(request("GET", f"/bytes?n={100 << 20}"))
            head = conn.read_head()
            self.assertEqual(head.status, 200)
            got = len(conn.buf)
            while got < 1 << 20:
                got += len(conn.recv_raw())
        self.assertStillServing()

    def test_client_gone_mid_upload(self):
        with HttpConnection(self.wg.port) as conn:
            conn.send(request("POST", "/sink", headers=[("Content-Length", str(100 << 20))]))
            conn.send(b"u" * (1 << 20))
            wait_until(lambda: self.up.stats()["requests"] == 1, message="the upload upstream")
        self.assertStillServing()

    def test_client_gone_mid_chunked_upload(self):
        with HttpConnection(self.wg.port) as conn:
            conn.send(request("POST", "/sink", headers=[("Transfer-Encoding", "chunked")]))
            conn.send(b"10000\r\n" + b"c" * 0x10000 + b"\r\n" + b"10000\r\n" + b"partial")
            wait_until(lambda: self.up.stats()["requests"] == 1, message="the upload upstream")
        self.assertStillServing()


if __name__ == "__main__":
    unittest.main()
