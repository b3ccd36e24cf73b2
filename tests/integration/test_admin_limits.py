"""The admin listener under idle connections.

Connections that open and send nothing must not lock operators out: GET /ready and POST /reload on
a new connection are answered while they sit there. Where the admin API may listen (loopback, or
anywhere with admin.token) is test_admin_api's CheckTest.
"""

import socket
import unittest

from harness import HOST, WaygateTestCase, admin_request, free_port, port_accepts, wait_until


class SilentAdminConnectionsTest(WaygateTestCase):

    def setUp(self):
        super().setUp()
        self.up = self.env.upstream("A")
        self.admin_port = free_port()
        self.wg = self.start_proxy(self.env, {"up": [self.up.address]}, workers=1,
                                   top={"admin": {"address": f"{HOST}:{self.admin_port}"}})
        wait_until(lambda: port_accepts(self.admin_port), message="the admin address to accept")

    def open_silent(self, count):
        for _ in range(count):
            sock = socket.create_connection((HOST, self.admin_port), timeout=5)
            self.addCleanup(sock.close)

    def test_64_silent_connections_do_not_block_ready(self):
        """GET /ready on a new connection is answered while 64 others sit silent."""
        self.open_silent(64)
        resp = admin_request(self.admin_port, "GET", "/ready")
        self.assertEqual((resp.status, resp.body.strip()), (200, b"ready"), resp)

    def test_100_silent_connections_do_not_block_ready(self):
        """GET /ready on a new connection is answered while 100 others sit silent."""
        self.open_silent(100)
        resp = admin_request(self.admin_port, "GET", "/ready")
        self.assertEqual((resp.status, resp.body.strip()), (200, b"ready"), resp)

    def test_100_silent_connections_do_not_block_reload(self):
        """POST /reload on a new connection is answered while 100 others sit silent."""
        self.open_silent(100)
        resp = admin_request(self.admin_port, "POST", "/reload")
        self.assertEqual((resp.status, resp.body.strip()), (200, b"unchanged"), resp)


if __name__ == "__main__":
    unittest.main()
