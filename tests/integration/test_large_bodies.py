"""Large bodies are streamed, not buffered: waygate's peak RSS stays bounded.

Sizes: WAYGATE_TEST_LARGE_BYTES (default 1 GiB) for uploads and downloads,
WAYGATE_TEST_SLOW_BYTES (default 256 MiB) for the slow client; the RSS bound is
WAYGATE_TEST_RSS_LIMIT_MIB (default 200). The slow-client size must exceed the bound, or a
proxy that buffers everything would pass.
"""

import hashlib
import time
import unittest

from harness import (LARGE_BYTES, RSS_LIMIT_MIB, SLOW_BYTES, PatternChecker, RssSampler,
                     WaygateTestCase, pattern, request, wait_until)

TRANSFER_TIMEOUT = 120.0  # per socket operation; a stall fails rather than hangs


def send_pattern(conn, n, digest, chunked=False):
    """Writes n pattern bytes (as one body or as 64 KiB chunks), hashing what was sent."""
    block = 1 << 20
    offset = 0
    while offset < n:
        size = min(block, n - offset)
        data = b"".join(pattern(offset + i, min(65536, size - i)) for i in range(0, size, 65536))
        digest.update(data)
        if chunked:
            conn.send(b"".join(b"%x\r\n%s\r\n" % (len(p), p)
                               for p in (data[i:i + 65536] for i in range(0, size, 65536))))
        else:
            conn.send(data)
        offset += size
    if chunked:
        conn.send(b"0\r\n\r\n")


class LargeBodyTest(WaygateTestCase):

    def setUp(self):
        super().setUp()
        self.up = self.env.upstream("A")
        self.wg = self.start_proxy(self.env, {"up": [self.up.address]}, workers=1)

    def assertRssBounded(self, sampler):
        peak = sampler.peak_mib()
        self.assertLess(peak, RSS_LIMIT_MIB, f"waygate's peak RSS was {peak:.0f} MiB")

    def upload(self, n, chunked):
        conn = self.connect(self.wg.port, timeout=TRANSFER_TIMEOUT)
        headers = [("Transfer-Encoding", "chunked")] if chunked else [("Content-Length", str(n))]
        digest = hashlib.sha256()
        with RssSampler(self.wg) as sampler:
            conn.send(request("POST", "/sink", headers=headers))
            send_pattern(conn, n, digest, chunked)
            resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json(), {"length": n, "sha256": digest.hexdigest()})
        self.assertRssBounded(sampler)

    def download(self, target, n):
        conn = self.connect(self.wg.port, timeout=TRANSFER_TIMEOUT)
        checker = PatternChecker()
        with RssSampler(self.wg) as sampler:
            conn.send(request("GET", target))
            resp = conn.read_response(on_body=checker)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body_length, n)
        self.assertIsNone(checker.mismatch_at, f"body differs at byte {checker.mismatch_at}")
        self.assertRssBounded(sampler)

    def test_large_upload_is_streamed_with_bounded_memory(self):
        self.upload(LARGE_BYTES, chunked=False)

    def test_large_chunked_upload_is_streamed_with_bounded_memory(self):
        self.upload(LARGE_BYTES // 4, chunked=True)

    def test_large_download_is_streamed_with_bounded_memory(self):
        self.download(f"/bytes?n={LARGE_BYTES}", LARGE_BYTES)

    def test_large_chunked_download_is_streamed_with_bounded_memory(self):
        n = LARGE_BYTES // 4
        self.download(f"/chunked?n={n}&chunk=65536", n)

    def test_slow_client_gets_every_byte_with_bounded_memory(self):
        n = SLOW_BYTES
        conn = self.connect(self.wg.port, timeout=TRANSFER_TIMEOUT, rcvbuf=16384)
        checker = PatternChecker()
        with RssSampler(self.wg) as sampler:
            conn.send(request("GET", f"/bytes?n={n}"))
            head = conn.read_head()
            self.assertEqual(head.status, 200, head)
            self.assertEqual(head.header("content-length"), str(n))
            # Read the start slowly, in small pieces with pauses.
            received = 0
            for _ in range(50):
                data = conn.recv_raw(1024)
                self.assertTrue(data, "connection closed early")
                checker(data)
                received += len(data)
                time.sleep(0.01)
            # Stop reading until the upstream cannot send any more: waygate must push back.
            last = [-1, 0]

            def upstream_stalled():
                sent = self.up.stats()["bytes_sent"]
                if sent == n:
                    return True  # sent everything: the assertion below reports it
                last[1] = last[1] + 1 if sent == last[0] else 0
                last[0] = sent
                return last[1] >= 10
            wait_until(upstream_stalled, timeout=60, interval=0.1,
                       message="the upstream to stop making progress")
            sent_while_stalled = self.up.stats()["bytes_sent"]
            self.assertLess(sent_while_stalled, n // 2,
                            f"the upstream sent {sent_while_stalled} of {n} bytes to a client that "
                            f"had read {received}: waygate does not apply backpressure")
            # Then read the rest.
            while received < n:
                data = conn.recv_raw(min(1 << 20, n - received))
                self.assertTrue(data, f"connection closed after {received} of {n} bytes")
                checker(data)
                received += len(data)
        self.assertIsNone(checker.mismatch_at, f"body differs at byte {checker.mismatch_at}")
        self.assertRssBounded(sampler)


if __name__ == "__main__":
    unittest.main()
