"""Connection reuse on both sides, pipelining and HTTP/1.0 clients."""

import re
import subprocess
import unittest

from harness import WaygateTestCase, request, wait_until

LOG_CLIENT = re.compile(r" (127\.0\.0\.1:\d+) \"GET /r\d+ HTTP/1\.1\" 200 ")


class KeepAliveTest(WaygateTestCase):
    """Each test gets a fresh upstream and a one-worker waygate, so connection counts are exact."""

    def setUp(self):
        super().setUp()
        self.up = self.env.upstream("A")
        self.wg = self.start_proxy(self.env, {"up": [self.up.address]}, workers=1)

    def test_keepalive_reuses_upstream_connections(self):
        conn = self.connect(self.wg.port)
        for i in range(50):
            conn.send(request("GET", f"/r{i}"))
            resp = conn.read_response()
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(resp.body, f"A GET /r{i}\n".encode())
            self.assertNotIn("close", resp.connection_tokens(), resp)
        stats = self.up.stats()
        self.assertEqual(stats["requests"], 50)
        self.assertEqual(stats["connections_accepted"], 1,
                         "50 sequential requests from one client should share one upstream "
                         "connection with one worker")

    def test_keepalive_serves_many_requests_on_one_client_connection(self):
        conn = self.connect(self.wg.port)
        for i in range(50):
            conn.send(request("GET", f"/r{i}"))
            self.assertEqual(conn.read_response().status, 200)
        # waygate's view: all 50 access-log lines name the same client address and port.
        wait_until(lambda: len([l for l in self.wg.log_lines() if LOG_CLIENT.search(l)]) == 50,
                   timeout=5, message="50 access-log lines")
        clients = {LOG_CLIENT.search(l).group(1) for l in self.wg.log_lines()
                   if LOG_CLIENT.search(l)}
        self.assertEqual(clients, {f"127.0.0.1:{conn.sock.getsockname()[1]}"})

    def test_pipelined_requests_are_answered_in_order(self):
        conn = self.connect(self.wg.port)
        conn.send(b"".join(request("GET", f"/p{i}") for i in range(5)))
        for i in range(5):
            resp = conn.read_response()
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(resp.body, f"A GET /p{i}\n".encode())

    def test_pipelined_responses_keep_order_when_the_first_is_slow(self):
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/slow?delay=1") + request("GET", "/fast1")
                  + request("GET", "/fast2"))
        self.assertEqual(conn.read_response().body, b"A GET /slow?delay=1\n")
        self.assertEqual(conn.read_response().body, b"A GET /fast1\n")
        self.assertEqual(conn.read_response().body, b"A GET /fast2\n")

    def test_pipelined_requests_with_bodies_are_answered_in_order(self):
        conn = self.connect(self.wg.port)
        conn.send(request("POST", "/echo", body=b"first body")
                  + request("GET", "/middle")
                  + request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")],
                            body=b"5\r\nthird\r\n6\r\n chunk\r\n0\r\n\r\n")
                  + request("HEAD", "/bytes?n=123")
                  + request("GET", "/last"))
        self.assertEqual(conn.read_response().body, b"first body")
        self.assertEqual(conn.read_response().body, b"A GET /middle\n")
        self.assertEqual(conn.read_response().body, b"third chunk")
        head = conn.read_response("HEAD")
        self.assertEqual((head.status, head.body), (200, b""))
        self.assertEqual(conn.read_response().body, b"A GET /last\n")

    def test_http10_client_is_served_and_connection_closed(self):
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/old", version="HTTP/1.0"))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, b"A GET /old\n")
        self.assertNotEqual(resp.framing, "chunked", "an HTTP/1.0 client cannot read chunked")
        self.assertTrue(conn.is_closed(), "waygate should close an HTTP/1.0 connection")

    def test_http10_client_without_host_is_served(self):
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/nohost", host=None, version="HTTP/1.0"))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, b"A GET /nohost\n")

    def test_http10_keepalive_is_honoured(self):
        conn = self.connect(self.wg.port)
        for i in range(3):
            conn.send(request("GET", f"/ka{i}", version="HTTP/1.0",
                              headers=[("Connection", "keep-alive")]))
            resp = conn.read_response()
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(resp.body, f"A GET /ka{i}\n".encode())
            self.assertEqual(resp.framing, "content-length")
            self.assertIn("keep-alive", resp.connection_tokens(),
                          "an HTTP/1.0 keep-alive response must say Connection: keep-alive")

    def test_client_connection_close_is_honoured(self):
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/bye", headers=[("Connection", "close")]))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertIn("close", resp.connection_tokens(), resp)
        self.assertTrue(conn.is_closed())

    def test_upstream_connection_close_is_not_reused(self):
        # The upstream keeps the connection open, unread, after its Connection: close response,
        # so only the header says it is done; the POST's body rules out waygate's retry of a
        # stale pooled connection, so a reuse shows as a 502 (test_upstream_reuse has more).
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/one/close-header"))
        self.assertEqual(conn.read_response().status, 200)
        conn.send(request("POST", "/two/echo", body=b"second"))
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"second"), resp)
        self.assertEqual(self.up.stats()["connections_accepted"], 2)

    def test_upstream_closing_idle_connection_is_not_an_error(self):
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/before"))
        self.assertEqual(conn.read_response().status, 200)
        # The upstream counts its connection idle once it has finished writing the response, which
        # may be a moment after the client has read it.
        wait_until(lambda: self.up.close_idle() == 1, message="one idle upstream connection")
        conn.send(request("GET", "/after"))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, b"A GET /after\n")

    def test_concurrent_clients_are_all_served(self):
        # The upstream holds every request until all 20 are there at once: each needs its own
        # upstream connection, so the count is exact.
        conns = [self.connect(self.wg.port) for _ in range(20)]
        for i, conn in enumerate(conns):
            conn.send(request("GET", f"/c{i}/hold"))
        wait_until(lambda: self.up.stats()["held"] == 20, message="20 requests at the upstream")
        self.up.release()
        for i, conn in enumerate(conns):
            self.assertEqual(conn.read_response().body, f"A GET /c{i}/hold\n".encode())
        stats = self.up.stats()
        self.assertEqual((stats["connections_accepted"], stats["requests"]), (20, 20))

    def test_curl_reuses_the_connection_for_several_urls(self):
        base = f"http://127.0.0.1:{self.wg.port}"
        out = subprocess.run(["curl", "-sS", "-v", f"{base}/u1", f"{base}/u2", f"{base}/u3"],
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, b"A GET /u1\nA GET /u2\nA GET /u3\n")
        self.assertEqual(out.stderr.count(b"Re-using existing connection"), 2, out.stderr)
        self.assertEqual(self.up.stats()["connections_accepted"], 1)


class UpstreamPoolTest(WaygateTestCase):
    """Pool limits: idle upstream connections expire and are capped per endpoint."""

    def test_idle_upstream_connection_is_closed_after_upstream_idle(self):
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]}, workers=1,
                              timeouts={"upstream_idle": "500ms"})
        self.assertEqual(self.get(wg.port, "/first").status, 200)
        wait_until(lambda: up.stats()["connections_open"] == 0, timeout=15,
                   message="waygate to close its idle upstream connection")
        resp = self.get(wg.port, "/second")
        self.assertEqual((resp.status, resp.body), (200, b"A GET /second\n"))
        self.assertEqual(up.stats()["connections_accepted"], 2)

    def test_idle_upstream_connections_are_capped_per_endpoint(self):
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]}, workers=1,
                              limits={"max_idle_upstream_per_endpoint": 1})
        conns = [self.connect(wg.port) for _ in range(3)]
        for i, conn in enumerate(conns):
            conn.send(request("GET", f"/slow?delay=1&i={i}"))
        for conn in conns:
            self.assertEqual(conn.read_response().status, 200)
        self.assertEqual(up.stats()["connections_accepted"], 3)
        wait_until(lambda: up.stats()["connections_open"] == 1, timeout=10,
                   message="waygate to keep only one idle upstream connection")


if __name__ == "__main__":
    unittest.main()
