"""Upstream connection pools: with the shipped defaults, a steady set of keep-alive clients keeps
reusing the same upstream connections (no close-and-reopen churn), and
limits.max_upstream_connections_per_endpoint makes requests wait for a free connection.

Concurrency is made exact with upstream.py's hold: requests wait at the upstream until the test
releases them, so the test knows how many upstream connections were needed at once.
"""

import threading
import unittest

from harness import WaygateTestCase, request, wait_until

ROUNDS = 20


class KeepAliveClient(threading.Thread):
    """Sends ROUNDS requests one after another on its own keep-alive connection."""

    def __init__(self, conn, index, start):
        super().__init__(daemon=True)
        self.conn = conn
        self.index = index
        self.start_event = start
        self.failures = []

    def run(self):
        self.start_event.wait()
        for i in range(ROUNDS):
            target = f"/c{self.index}/r{i}"
            try:
                self.conn.send(request("GET", target))
                resp = self.conn.read_response()
            except Exception as e:  # noqa: BLE001 (reported by the test)
                self.failures.append(f"GET {target}: {e!r}")
                return
            if (resp.status, resp.body) != (200, f"A GET {target}\n".encode()):
                self.failures.append(f"GET {target}: {resp!r}")


class PoolDefaultsTest(WaygateTestCase):
    """Shipped pool defaults (no limits block)."""

    def assertSteadyClientsReuseUpstreamConnections(self, clients):
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]}, workers=1)
        conns = [self.connect(wg.port, timeout=60) for _ in range(clients)]
        # Warm-up: one request per client, all at the upstream at once, so the pool has opened
        # as many connections as the clients can ever need together.
        for i, conn in enumerate(conns):
            conn.send(request("GET", f"/warm{i}/hold"))
        wait_until(lambda: up.stats()["held"] == clients, timeout=60,
                   message=f"{clients} requests held at the upstream")
        up.release()
        for i, conn in enumerate(conns):
            resp = conn.read_response()
            self.assertEqual((resp.status, resp.body), (200, f"A GET /warm{i}/hold\n".encode()))
        accepted = up.stats()["connections_accepted"]
        self.assertEqual(accepted, clients)

        start = threading.Event()
        workers = [KeepAliveClient(conn, i, start) for i, conn in enumerate(conns)]
        for worker in workers:
            worker.start()
        start.set()
        for worker in workers:
            worker.join(120)
            self.assertFalse(worker.is_alive(), f"client {worker.index} is stuck")
        failures = [f for w in workers for f in w.failures]
        self.assertEqual(failures, [])
        stats = up.stats()
        self.assertEqual(stats["requests"], clients * (ROUNDS + 1))
        self.assertEqual(stats["connections_accepted"], accepted,
                         f"{stats['connections_accepted'] - accepted} upstream connections were "
                         f"opened after the warm-up for {clients} steady clients")

    def test_64_keepalive_clients_open_no_upstream_connection_after_warm_up(self):
        """64 keep-alive clients looping on requests reuse the warm-up's upstream connections."""
        self.assertSteadyClientsReuseUpstreamConnections(64)

    def test_256_keepalive_clients_open_no_upstream_connection_after_warm_up(self):
        """256 keep-alive clients looping on requests reuse the warm-up's upstream connections."""
        self.assertSteadyClientsReuseUpstreamConnections(256)


class PoolLimitTest(WaygateTestCase):

    def test_requests_over_the_per_endpoint_limit_wait_for_a_free_connection(self):
        """With max_upstream_connections_per_endpoint: 2, 4 concurrent requests share 2."""
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]}, workers=1,
                              limits={"max_upstream_connections_per_endpoint": 2})
        conns = [self.connect(wg.port, timeout=30) for _ in range(4)]
        for i, conn in enumerate(conns):
            conn.send(request("GET", f"/c{i}/hold"))
        wait_until(lambda: up.stats()["held"] >= 2, message="two requests at the upstream")
        up.release()
        for i, conn in enumerate(conns):
            resp = conn.read_response()
            self.assertEqual((resp.status, resp.body), (200, f"A GET /c{i}/hold\n".encode()), resp)
        self.assertEqual(up.stats()["connections_accepted"], 2)


if __name__ == "__main__":
    unittest.main()
