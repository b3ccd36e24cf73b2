"""The admin listener under idle connections, and where it may listen.

Connections that open and send nothing must not lock operators out: GET /ready and POST /reload on
a new connection are answered while they sit there. A config that puts the admin API on every
interface without admin.token is refused.
"""

import os
import re
import socket
import subprocess
import tempfile
import unittest

from harness import (HOST, WAYGATE_BIN, WaygateTestCase, admin_request, free_port, port_accepts,
                     proxy_config, wait_until)


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


class AdminAddressCheckTest(unittest.TestCase):

    def test_check_refuses_admin_on_all_interfaces(self):
        """waygate --check refuses admin.address 0.0.0.0:9901 without a token with exit 1 and
        FILE:LINE:COL."""
        if not os.access(WAYGATE_BIN, os.X_OK):
            self.skipTest(f"waygate binary not found at {WAYGATE_BIN}")
        text = proxy_config(free_port(), {"up": ["127.0.0.1:9"]},
                            top={"admin": {"address": "0.0.0.0:9901"}})
        line = next(i for i, l in enumerate(text.splitlines(), 1) if "0.0.0.0:9901" in l)
        tmp = self.enterContext(tempfile.TemporaryDirectory(prefix="waygate-admin-"))
        path = os.path.join(tmp, "waygate.yaml")
        with open(path, "w") as f:
            f.write(text)
        out = subprocess.run([WAYGATE_BIN, "--check", path], capture_output=True, text=True,
                             errors="replace", timeout=30)
        self.assertEqual(out.returncode, 1, out)
        self.assertRegex(out.stdout + out.stderr, rf"{re.escape(path)}:{line}:\d+: ")


if __name__ == "__main__":
    unittest.main()
