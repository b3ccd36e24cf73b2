"""Lingering close: waygate answers a request before reading its body, and the client still reads
the whole answer.

Closing a socket with unread input makes the kernel send a reset, which can destroy a response
the client has not read yet. waygate must keep reading (and dropping) the rest of the body for a
while after answering. The reset is a race, so each case is repeated.
"""

import unittest

from harness import (BackgroundSender, ConnectionClosed, PatternChecker, WaygateTestCase,
                     request)

ROUNDS = 20


class LingeringCloseTest(WaygateTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("A")
        routes = [{"hosts": ["proxy.test"], "paths": [
            {"prefix": "/", "cluster": "up", "max_body_bytes": "1KiB"}]}]
        cls.wg = cls.start_proxy(cls.class_env, {"up": [cls.up.address]}, routes=routes,
                                 workers=1)

    def assertAnsweredWhileUploading(self, host, body_bytes, status):
        for round_ in range(ROUNDS):
            conn = self.connect(self.wg.port)
            head = request("POST", "/upload", host=host,
                           headers=[("Content-Length", str(body_bytes))])
            body = b"u" * (1 << 20)
            sender = BackgroundSender(conn, [head] + [body] * (body_bytes >> 20))
            try:
                resp = conn.read_response("POST")
            except ConnectionClosed as e:
                self.fail(f"round {round_}: no complete {status} response: {e}")
            self.assertErrorResponse(resp, status)
            conn.close()
            sender.join()
        self.assertEqual(self.up.stats()["requests"], 0)

    def test_body_over_the_limit_gets_the_whole_413_while_still_uploading(self):
        """A client still sending an 8 MiB body over the route's 1 KiB limit reads its whole 413."""
        self.assertAnsweredWhileUploading("proxy.test", 8 << 20, 413)

    def test_request_without_route_gets_the_whole_404_while_still_uploading(self):
        """A client still sending a 4 MiB body to a host without routes reads its whole 404."""
        self.assertAnsweredWhileUploading("nope.test", 4 << 20, 404)

    def test_response_queued_before_a_refused_upload_is_not_destroyed(self):
        """A response still queued for a slow reader survives the 413 of the upload after it."""
        n = 1 << 20
        conn = self.connect(self.wg.port, rcvbuf=64 * 1024)
        head = request("GET", f"/bytes?n={n}") + request(
            "POST", "/upload", headers=[("Content-Length", str(8 << 20))])
        sender = BackgroundSender(conn, [head] + [b"u" * (1 << 20)] * 8)
        # Read nothing until the upload is over (sent whole, or cut off by a close).
        sender.wait_finished_or_stalled()
        checker = PatternChecker()
        try:
            first = conn.read_response(on_body=checker)
            second = conn.read_response("POST")
        except ConnectionClosed as e:
            self.fail(f"the responses were cut off: {e}")
        self.assertEqual((first.status, first.body_length, checker.mismatch_at), (200, n, None))
        self.assertErrorResponse(second, 413)


if __name__ == "__main__":
    unittest.main()
