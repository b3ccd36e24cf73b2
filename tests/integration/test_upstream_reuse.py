"""An upstream response that ends its connection (Connection: close, HTTP/1.0 without keep-alive)
is never followed by another request on that connection.

The upstream keeps such a connection open, unread, for 5 s after the response (upstream.py's
close-header and http10), so waygate cannot learn from the socket that it is done: only the
response head says so. The request that follows is a POST with a body, which waygate's retry of
a stale pooled connection does not cover, so a reuse shows as a 502.
"""

import unittest

from harness import WaygateTestCase, request


class UpstreamConnectionEndTest(WaygateTestCase):

    def setUp(self):
        super().setUp()
        self.up = self.env.upstream("A")
        self.wg = self.start_proxy(self.env, {"up": [self.up.address]}, workers=1)

    def assertNextRequestUsesANewConnection(self, first_target):
        conn = self.connect(self.wg.port)
        conn.send(request("GET", first_target))
        first = conn.read_response()
        self.assertEqual((first.status, first.body), (200, f"A GET {first_target}\n".encode()),
                         first)
        conn.send(request("POST", "/echo", body=b"second request body"))
        second = conn.read_response()
        self.assertEqual((second.status, second.body), (200, b"second request body"), second)
        self.assertEqual(self.up.stats()["connections_accepted"], 2)

    def test_connection_close_on_a_response_ends_the_upstream_connection(self):
        """Connection: close on an upstream response is not followed by another request."""
        self.assertNextRequestUsesANewConnection("/close-header")

    def test_http10_response_without_keep_alive_ends_the_upstream_connection(self):
        """An HTTP/1.0 upstream response without keep-alive is not followed by another request."""
        self.assertNextRequestUsesANewConnection("/http10")

    def test_connection_close_on_a_chunked_response_ends_the_upstream_connection(self):
        """Connection: close on a chunked upstream response is not followed by another request."""
        self.assertNextRequestUsesANewConnection("/close-header?chunked=1")


if __name__ == "__main__":
    unittest.main()
