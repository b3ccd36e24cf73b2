"""Deep pipelining: thousands of requests in one write, from clients that read late or not at all.

Every request here is answered by waygate itself (404 for a host without routes, or a route's
fixed response), so the upstream plays no part and waygate's own output path is what is tested.
"""

import re
import unittest

from harness import BackgroundSender, RssSampler, WaygateTestCase, request, wait_until

# A header that makes each request ~450 bytes: 50,000 of them (22 MB) are more than the socket
# buffers hold, so a waygate that stops reading makes the sender block, and one that buffered all
# of its input would show it in its RSS.
PAD = [("X-Pad", "p" * 400)]
# The memory tests' responses are 1 KiB each (50 MiB in all) and the client's receive buffer is
# small: 404s (6 MB) would fit in the kernel's socket buffers and hide an unbounded output queue.
BIG_BODY = "b" * 1024
CLIENT_RCVBUF = 64 * 1024
RSS_GROWTH_LIMIT_MIB = 16


def nope_requests(count):
    return b"".join(request("GET", f"/nope/{i}", host="nope.test") for i in range(count))


class PipeliningTest(WaygateTestCase):

    def setUp(self):
        super().setUp()
        routes = [{"hosts": ["proxy.test"], "paths": [
            {"exact": "/big", "respond": {"status": 200, "body": BIG_BODY}},
            {"prefix": "/", "respond": {"status": 200, "body": "usable\n"}}]}]
        self.wg = self.start_proxy(self.env, {"unused": []}, routes=routes, workers=1)

    def read_404s(self, conn, count):
        for i in range(count):
            resp = conn.read_response()
            self.assertEqual(resp.status, 404, f"response {i}: {resp!r}")

    def assertUsable(self, conn):
        conn.send(request("GET", "/after"))
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"usable\n"), resp)

    def nope_targets_logged(self):
        rx = re.compile(r'"GET (/nope/\d+) HTTP/1\.1" 404 ')
        return [m.group(1) for m in map(rx.search, self.wg.log_lines()) if m]

    def test_ten_thousand_pipelined_requests_are_answered_in_order(self):
        """10,000 pipelined requests in one write get 10,000 responses, logged in request order."""
        conn = self.connect(self.wg.port, timeout=30)
        sender = BackgroundSender(conn, nope_requests(10_000))
        self.read_404s(conn, 10_000)
        self.assertTrue(sender.join(), "the sender is still blocked")
        self.assertIsNone(sender.error)
        targets = wait_until(lambda: (t := self.nope_targets_logged()) and len(t) >= 10_000 and t,
                             message="10,000 access-log lines")
        self.assertEqual(targets, [f"/nope/{i}" for i in range(10_000)])

    def test_connection_stays_usable_after_ten_thousand_pipelined_requests(self):
        """After 10,000 pipelined requests are answered, the same connection serves another."""
        conn = self.connect(self.wg.port, timeout=30)
        sender = BackgroundSender(conn, nope_requests(10_000))
        self.read_404s(conn, 10_000)
        self.assertTrue(sender.join(), "the sender is still blocked")
        self.assertUsable(conn)

    def stall_with_50000_requests(self, conn):
        """Pipelines 50,000 GET /big without reading until the sender stops making progress and
        waygate's RSS stops changing; returns the sender and the peak RSS growth in MiB."""
        before_kib = self.wg.proc_status_kib("VmRSS")
        with RssSampler(self.wg) as sampler:
            big = b"".join(request("GET", "/big", headers=PAD) for _ in range(1000))
            sender = BackgroundSender(conn, (big for _ in range(50)))
            sender.wait_finished_or_stalled()
            last = [-1, 0]

            def rss_settled():
                rss = self.wg.proc_status_kib("VmRSS")
                last[1] = last[1] + 1 if rss == last[0] else 0
                last[0] = rss
                return last[1] >= 10
            wait_until(rss_settled, timeout=30, interval=0.1, message="waygate's RSS to settle")
        return sender, (sampler.max_rss_kib - before_kib) / 1024.0

    def test_client_that_reads_nothing_keeps_waygate_memory_flat(self):
        """50,000 pipelined requests from a client that reads nothing do not grow waygate's RSS."""
        conn = self.connect(self.wg.port, timeout=60, rcvbuf=CLIENT_RCVBUF)
        self.assertUsable(conn)  # the session's own buffers exist before the baseline
        _, growth = self.stall_with_50000_requests(conn)
        self.assertLess(growth, RSS_GROWTH_LIMIT_MIB,
                        f"waygate's RSS grew by {growth:.1f} MiB while the client did not read")

    def test_client_that_reads_late_gets_every_pipelined_response(self):
        """A client that reads only after its sender stalled gets all 50,000 responses."""
        conn = self.connect(self.wg.port, timeout=60, rcvbuf=CLIENT_RCVBUF)
        sender, _ = self.stall_with_50000_requests(conn)
        for i in range(50_000):
            resp = conn.read_response()
            self.assertEqual((resp.status, resp.body), (200, BIG_BODY.encode()), f"response {i}")
        self.assertTrue(sender.join(60), "the sender is still blocked")
        self.assertIsNone(sender.error)
        self.assertUsable(conn)


if __name__ == "__main__":
    unittest.main()
