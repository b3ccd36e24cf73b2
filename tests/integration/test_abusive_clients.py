"""Abusive clients are cut off by waygate's timeouts and limits, and other clients are served all
the while: slowloris (a head a byte at a time), a stalled upload, a client that does not read a
large response, and endless header floods.

Each test runs one waygate worker, so an abuser that blocked the event loop would stall the other
client too. The abusers stall or trickle on purpose: those pauses are the behaviour under test;
every wait for an outcome is on a readiness signal (the abuser's connection closing, a log line).
"""

import re
import select
import time
import unittest

from harness import (RSS_LIMIT_MIB, SLOW_BYTES, BackgroundSender, RssSampler, WaygateTestCase,
                     request, wait_until)

GIVE_UP_S = 30.0  # far beyond every timeout configured here: reaching it is a failure
TRICKLE_S = 0.05  # the slowloris client's pause between bytes


class AbusiveClientTest(WaygateTestCase):

    def start(self, timeouts):
        self.up = self.env.upstream("A")
        self.wg = self.start_proxy(self.env, {"up": [self.up.address]}, workers=1,
                                   timeouts=timeouts)

    def serve_another_client(self):
        """One request from a well-behaved client on a new connection; returns 1."""
        resp = self.get(self.wg.port, "/fine")
        self.assertEqual((resp.status, resp.body), (200, b"A GET /fine\n"), resp)
        return 1

    def serve_until_closed(self, sock, on_tick=None):
        """Serves another client again and again while sock stays open; returns (bytes sock
        received, requests served meanwhile). on_tick runs before each wait (a trickle)."""
        received, served = bytearray(), 0
        deadline = time.monotonic() + GIVE_UP_S
        while time.monotonic() < deadline:
            if on_tick:
                on_tick()
            readable, _, _ = select.select([sock], [], [], TRICKLE_S)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                if not data:
                    return bytes(received), served
                received += data
            served += self.serve_another_client()
        self.fail(f"the abusive connection is still open after {GIVE_UP_S}s; it received "
                  f"{bytes(received)[:200]!r}")

    def assertCutWithStatus(self, received, status):
        self.assertTrue(received.startswith(b"HTTP/1.1 %d " % status), received[:300])

    def test_slowloris_head_a_byte_at_a_time_is_cut_at_header_read(self):
        """A head trickled a byte at a time, without end, gets 408 at timeouts.header_read
        (downstream_idle is far longer: the trickle does not extend the deadline), and another
        client is served meanwhile."""
        self.start({"header_read": "1s", "downstream_idle": "60s"})
        head = iter(b"GET /slowloris HTTP/1.1\r\nHost: proxy.test\r\nX-Trickle: "
                    + b"t" * (1 << 20))
        conn = self.connect(self.wg.port)

        def trickle():
            try:
                conn.sock.send(bytes([next(head)]))
            except OSError:
                pass  # closed by waygate: the next select sees it
        received, served = self.serve_until_closed(conn.sock, trickle)
        self.assertCutWithStatus(received, 408)
        self.assertGreater(served, 0, "no other client was served while the head trickled")
        self.wg.wait_for_log(r"error=header-timeout")
        self.assertNotIn("/slowloris", self.up.stats()["paths"])

    def test_upload_stalled_past_downstream_idle_is_cut(self):
        """A client that sends part of its body and then nothing is cut after downstream_idle,
        its exchange logged as downstream-timeout, and another client is served meanwhile."""
        self.start({"downstream_idle": "2s"})
        conn = self.connect(self.wg.port)
        conn.send(request("POST", "/sink", headers=[("Content-Length", str(1 << 20))])
                  + b"u" * 1024)
        wait_until(lambda: self.up.stats()["paths"].get("/sink"),
                   message="the upload's head at the upstream")
        received, served = self.serve_until_closed(conn.sock)
        self.assertNotIn(b" 200 ", received[:20], "the stalled upload was answered 200")
        self.assertGreater(served, 0, "no other client was served while the upload stalled")
        self.wg.wait_for_log(r'"POST /sink HTTP/1\.1" .*error=downstream-timeout')

    def test_client_not_reading_a_large_response_is_cut_and_memory_stays_bounded(self):
        """A client that reads the head of a large response and then nothing does not make
        waygate buffer the body: its RSS stays under the bound, the connection is cut after
        downstream_idle, and another client is served meanwhile."""
        self.start({"downstream_idle": "2s", "upstream_response": "60s"})
        conn = self.connect(self.wg.port, timeout=GIVE_UP_S, rcvbuf=16 * 1024)
        with RssSampler(self.wg) as rss:
            conn.send(request("GET", f"/bytes?n={SLOW_BYTES}"))
            self.assertEqual(conn.read_head().status, 200)
            served = 0
            log = re.compile(rf'"GET /bytes\?n={SLOW_BYTES} HTTP/1\.1" .*error=downstream-timeout')

            def cut():
                nonlocal served
                served += self.serve_another_client()
                return any(log.search(line) for line in self.wg.log_lines())
            wait_until(cut, timeout=GIVE_UP_S, interval=TRICKLE_S,
                       message="waygate to cut the client that does not read")
        self.assertGreater(served, 0)
        self.assertLess(rss.peak_mib(), RSS_LIMIT_MIB,
                        f"waygate's RSS while a client did not read {SLOW_BYTES} bytes")
        received = len(conn.buf)
        while data := conn.recv_raw():
            received += len(data)
        self.assertLess(received, SLOW_BYTES, "the whole body arrived anyway")

    def flood(self, head_start, line, status):
        """Sends an endless head (head_start, then line over and over, 16 MiB in all) without
        reading; asserts waygate answers status, closes, and serves another client meanwhile."""
        conn = self.connect(self.wg.port)
        sender = BackgroundSender(conn, [head_start] + [line * ((1 << 20) // len(line))] * 16)
        received, served = self.serve_until_closed(conn.sock)
        self.assertCutWithStatus(received, status)
        self.assertGreater(served, 0, "no other client was served during the flood")
        self.assertTrue(sender.join(GIVE_UP_S), "the flood's sender is still blocked")
        self.assertEqual(self.up.stats()["requests"], served, "the flood reached the upstream")

    def test_endless_stream_of_header_fields_is_431(self):
        """Header fields without end (4 bytes each) get 431 at max_request_headers."""
        self.start({})
        self.flood(b"GET /flood HTTP/1.1\r\nHost: proxy.test\r\n", b"A: b\r\n", 431)

    def test_endless_header_value_is_431(self):
        """One header value without end gets 431 at max_header_bytes."""
        self.start({})
        self.flood(b"GET /flood HTTP/1.1\r\nHost: proxy.test\r\nX-Big: ", b"b" * 4096, 431)


if __name__ == "__main__":
    unittest.main()
