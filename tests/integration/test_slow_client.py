"""A client that reads slowly is the client's fault, not the upstream's: while waygate holds the
upstream back because the client does not read, the upstream response timeout does not run, and
when the client stays silent too long the error is downstream-timeout.

The clients here stall on purpose for longer than a configured timeout: that stall is the
behaviour under test, not a wait for readiness.
"""

import time
import unittest

from harness import ConnectionClosed, PatternChecker, WaygateTestCase, request

BODY_BYTES = 64 << 20
CLIENT_RCVBUF = 16 * 1024


class SlowClientTest(WaygateTestCase):

    def start(self, timeouts):
        self.up = self.env.upstream("A")
        self.wg = self.start_proxy(self.env, {"up": [self.up.address]}, workers=1,
                                   timeouts=timeouts)

    def start_download(self):
        """Requests the body on a small-window connection and reads its first bytes."""
        conn = self.connect(self.wg.port, timeout=30, rcvbuf=CLIENT_RCVBUF)
        conn.send(request("GET", f"/bytes?n={BODY_BYTES}"))
        head = conn.read_head()
        self.assertEqual(head.status, 200, head)
        checker = PatternChecker()
        checker(conn.recv_raw(1024))
        return conn, checker

    def log_line(self):
        return self.wg.wait_for_log(rf'"GET /bytes\?n={BODY_BYTES} HTTP/1\.1"', timeout=20)

    def test_client_pausing_longer_than_upstream_response_timeout_gets_the_whole_body(self):
        """A client that stops reading for 3 s with upstream_response: 1s still gets every byte."""
        self.start({"upstream_response": "1s", "downstream_idle": "10s"})
        conn, checker = self.start_download()
        time.sleep(3)  # the client's stall, three times the upstream response timeout
        while checker.offset < BODY_BYTES:
            data = conn.recv_raw(min(1 << 20, BODY_BYTES - checker.offset))
            if not data:
                self.fail(f"connection closed after {checker.offset} of {BODY_BYTES} bytes; "
                          f"access log: {self.log_line()}")
            checker(data)
        self.assertEqual(checker.offset, BODY_BYTES)
        self.assertIsNone(checker.mismatch_at, f"body differs at byte {checker.mismatch_at}")
        self.assertNotIn("upstream-timeout", self.log_line())

    def test_client_silent_longer_than_downstream_idle_is_a_downstream_timeout(self):
        """A client that stops reading past downstream_idle is cut off as downstream-timeout."""
        self.start({"upstream_response": "1s", "downstream_idle": "2s"})
        conn, checker = self.start_download()
        line = self.log_line()  # written when waygate gives up on the exchange
        self.assertRegex(line, r"error=downstream-timeout\b")
        try:
            checker(conn.read_until_closed())
        except ConnectionClosed:
            pass
        self.assertLess(checker.offset, BODY_BYTES, "the whole body arrived anyway")

    def test_client_pausing_its_upload_longer_than_upstream_response_timeout_is_served(self):
        """A client that stops sending its body for 3 s with upstream_response: 1s gets its 200:
        while waygate waits for the client, the upstream timeout does not run."""
        self.start({"upstream_response": "1s", "downstream_idle": "10s"})
        body = b"x" * (256 << 10)
        conn = self.connect(self.wg.port, timeout=30)
        conn.send(request("POST", "/sink", headers=[("Content-Length", str(len(body)))])
                  + body[:len(body) // 2])
        time.sleep(3)  # the client's stall, three times the upstream response timeout
        conn.send(body[len(body) // 2:])
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json()["length"], len(body), resp)


if __name__ == "__main__":
    unittest.main()
