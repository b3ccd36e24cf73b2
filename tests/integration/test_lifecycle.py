"""Process and connection lifecycle: SIGTERM drain, client-side timeouts, connection limits, the
threads an operator sees."""

import os
import signal
import threading
import unittest

from harness import (ConnectionClosed, HttpConnection, WaygateTestCase, connection_refused,
                     request, wait_until)


class DrainTest(WaygateTestCase):

    def test_sigterm_lets_in_flight_requests_finish(self):
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]}, workers=2,
                              timeouts={"drain": "30s"})
        conns = [self.connect(wg.port, timeout=30) for _ in range(3)]
        for i, conn in enumerate(conns):
            conn.send(request("GET", f"/slow?delay=3&n={i}"))
        wait_until(lambda: up.stats()["requests"] == 3, message="3 requests at the upstream")
        wg.send_signal(signal.SIGTERM)
        wait_until(lambda: connection_refused(wg.port), timeout=10,
                   message="waygate to refuse new connections after SIGTERM")
        self.assertTrue(wg.running(), "waygate exited while requests were in flight")
        for i, conn in enumerate(conns):
            resp = conn.read_response()
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(resp.body, f"A GET /slow?delay=3&n={i}\n".encode())
            self.assertTrue(conn.is_closed(), "the connection should close after its response")
        self.assertEqual(wg.wait(), 0)

    def test_sigterm_closes_idle_keepalive_connections(self):
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]}, timeouts={"drain": "30s"})
        conn = self.connect(wg.port, timeout=30)
        conn.send(request("GET", "/first"))
        self.assertEqual(conn.read_response().status, 200)
        wg.send_signal(signal.SIGTERM)
        self.assertTrue(conn.is_closed(timeout=20), "idle keep-alive connection left open")
        self.assertEqual(wg.wait(), 0)

    def test_sigterm_with_nothing_in_flight_exits_zero(self):
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]})
        self.assertEqual(self.get(wg.port, "/x").status, 200)
        self.assertEqual(wg.stop(signal.SIGTERM), 0)

    def test_sigterm_as_soon_as_listening_exits_zero(self):
        # Listening is the readiness signal, so SIGTERM must already be handled by then.
        up = self.env.upstream("A")
        codes = [self.start_proxy(self.env, {"up": [up.address]}, workers=2).stop()
                 for _ in range(20)]
        self.assertEqual(codes, [0] * 20)

    def test_sigint_exits_zero(self):
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]})
        self.assertEqual(self.get(wg.port, "/x").status, 200)
        self.assertEqual(wg.stop(signal.SIGINT), 0)

    def test_drain_timeout_bounds_shutdown(self):
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]}, timeouts={"drain": "500ms"})
        conn = self.connect(wg.port, timeout=30)
        conn.send(request("GET", "/slow?delay=120"))
        wait_until(lambda: up.stats()["requests"] == 1, message="the request at the upstream")
        wg.send_signal(signal.SIGTERM)
        self.assertEqual(wg.wait(timeout=30), 0,
                         "waygate should exit 0 once the drain timeout has passed")
        try:
            resp = conn.read_response()
            self.assertNotEqual(resp.status, 200, resp)
        except ConnectionClosed:
            pass  # the in-flight request was cut: expected after the drain timeout


class ClientTimeoutTest(WaygateTestCase):

    def test_slow_header_sender_is_disconnected(self):
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]}, timeouts={"header_read": "500ms"})
        conn = self.connect(wg.port, timeout=30)
        conn.send(b"GET /slowloris HTTP/1.1\r\nHost: proxy.test\r\nX-Partial: ")
        data = conn.read_until_closed(timeout=20)
        self.assertNotIn(b" 200 ", data[:20], data)
        if data:
            self.assertRegex(data[:12], rb"^HTTP/1\.[01] 408", data)
        self.assertEqual(up.stats()["requests"], 0)

    def test_idle_keepalive_connection_is_closed(self):
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]},
                              timeouts={"downstream_idle": "500ms"})
        conn = self.connect(wg.port, timeout=30)
        conn.send(request("GET", "/once"))
        self.assertEqual(conn.read_response().status, 200)
        self.assertTrue(conn.is_closed(timeout=20), "idle connection not closed")

    def test_client_that_stops_reading_is_disconnected(self):
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]},
                              timeouts={"downstream_idle": "1s"})
        conn = self.connect(wg.port, timeout=30, rcvbuf=16384)
        conn.send(request("GET", f"/bytes?n={256 << 20}"))
        self.assertEqual(conn.read_head().status, 200)
        # No progress either way: waygate gives up on the client and on its upstream exchange.
        wait_until(lambda: up.stats()["connections_open"] == 0, timeout=30, interval=0.1,
                   message="waygate to drop the exchange with a client that stopped reading")
        received = len(conn.buf)
        while True:
            data = conn.recv_raw()
            if not data:
                break
            received += len(data)
        self.assertLess(received, 256 << 20)

    def test_connection_without_request_is_closed_when_idle(self):
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]},
                              timeouts={"downstream_idle": "500ms", "header_read": "500ms"})
        conn = self.connect(wg.port, timeout=30)
        data = conn.read_until_closed(timeout=20)
        if data:
            self.assertRegex(data[:12], rb"^HTTP/1\.[01] 408", data)


class ConnectionLimitTest(WaygateTestCase):

    def test_connections_over_limit_are_closed_at_once(self):
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]}, workers=1,
                              limits={"max_connections_per_worker": 2})
        # The harness's readiness probe was a connection too: retry until it has been reaped.
        held = [wait_until(lambda: self.served_connection(wg.port, "/held"), timeout=10,
                           interval=0.1, message="a connection under the limit to be served")
                for _ in range(2)]
        third = self.connect(wg.port)
        try:
            third.send(request("GET", "/three"))
        except OSError:
            pass  # already closed by waygate
        self.assertEqual(third.read_until_closed(), b"",
                         "a connection over the limit must be closed without a response")
        held[0].close()
        wait_until(lambda: self.served_connection(wg.port, "/held"), timeout=10, interval=0.1,
                   message="a new connection to be served once one slot is free")

    def test_many_concurrent_connections_are_served(self):
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]}, workers=2)
        results = []

        def client(i):
            with HttpConnection(wg.port, timeout=30) as conn:
                for j in range(5):
                    conn.send(request("GET", f"/c{i}/{j}"))
                    resp = conn.read_response()
                    results.append(resp.body == f"A GET /c{i}/{j}\n".encode())
        threads = [threading.Thread(target=client, args=(i,)) for i in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [True] * 500)


class ThreadNamesTest(WaygateTestCase):

    def test_top_shows_each_worker_thread_by_its_number(self):
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]}, workers=2)
        # The port takes connections from the moment it is bound, before the workers start; the
        # log line is waygate's own word that they are up (and named).
        wait_until(lambda: "ready with 2 workers" in wg.stderr_text(),
                   message="waygate's ready line")
        names = []
        for task in os.listdir(f"/proc/{wg.pid}/task"):
            with open(f"/proc/{wg.pid}/task/{task}/comm") as f:
                names.append(f.read().strip())
        self.assertEqual(sorted(n for n in names if n.startswith("worker")),
                         ["worker 0", "worker 1"], names)
        self.assertIn("waygate", names)  # the control thread keeps the process's name


if __name__ == "__main__":
    unittest.main()
