"""Which Upgrade requests become a tunnel: websocket by default, and the tokens a route lists in
`upgrades`. Any other Upgrade (h2c among them) is removed and the request proxied as plain HTTP.

upstream.py's raw-upgrade answers 101 to any Upgrade token and then echoes raw bytes, so an
upgrade waygate should have refused shows as a tunnel: the next request on the connection comes
back echoed instead of being routed.
"""

import base64
import json
import os
import unittest

from harness import WaygateTestCase, request

H2C_HEADERS = [("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
               ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")]
FOO_HEADERS = [("Connection", "Upgrade"), ("Upgrade", "foo")]


def websocket_headers():
    return [("Connection", "Upgrade"), ("Upgrade", "websocket"),
            ("Sec-WebSocket-Key", base64.b64encode(os.urandom(16)).decode()),
            ("Sec-WebSocket-Version", "13")]


class UpgradeTestCase(WaygateTestCase):

    def assertProxiedPlain(self, conn, target, headers):
        """Sends an upgrade request that must not become a tunnel: 200 from raw-upgrade's plain
        answer, no upgrade headers upstream, and the connection still routes HTTP."""
        conn.send(request("GET", target, headers=headers))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        seen = {name.lower(): value for name, value in json.loads(resp.body)["headers"]}
        self.assertNotIn("upgrade", seen, seen)
        self.assertNotIn("http2-settings", seen, seen)
        connection = {t.strip().lower() for t in seen.get("connection", "").split(",")}
        self.assertFalse(connection & {"upgrade", "http2-settings"}, seen)

    def assertStillRoutesHttp(self, conn):
        conn.send(request("GET", "/after", host="nope.test"))
        resp = conn.read_response()
        self.assertEqual(resp.status, 404, resp)


class DefaultUpgradeTest(UpgradeTestCase):
    """Routes without an `upgrades` key: only websocket is tunnelled."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("A")
        routes = [{"hosts": ["proxy.test"], "paths": [{"prefix": "/", "cluster": "up"}]}]
        cls.wg = cls.start_proxy(cls.class_env, {"up": [cls.up.address]}, routes=routes,
                                 workers=1)

    def test_h2c_upgrade_is_removed_before_the_upstream(self):
        """An h2c upgrade request reaches the upstream without Upgrade and HTTP2-Settings."""
        self.assertProxiedPlain(self.connect(self.wg.port), "/raw-upgrade", H2C_HEADERS)

    def test_h2c_upgrade_leaves_the_connection_routing_http(self):
        """After an h2c upgrade request, the next request on the connection is routed by host."""
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/raw-upgrade", headers=H2C_HEADERS))
        conn.read_response()  # a 101 here makes the next request go down a tunnel, unrouted
        self.assertStillRoutesHttp(conn)

    def test_unlisted_upgrade_token_is_proxied_as_plain_http(self):
        """Upgrade: foo on a route that lists no upgrades is removed and proxied as plain HTTP."""
        conn = self.connect(self.wg.port)
        self.assertProxiedPlain(conn, "/raw-upgrade", FOO_HEADERS)
        self.assertStillRoutesHttp(conn)


class RouteUpgradesTest(UpgradeTestCase):
    """A route's `upgrades` list names the tokens tunnelled on it; [] turns websocket off."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("A")
        routes = [{"hosts": ["proxy.test"], "paths": [
            {"prefix": "/foo/", "cluster": "up", "upgrades": ["foo"]},
            {"prefix": "/no-upgrades/", "cluster": "up", "upgrades": []},
            {"prefix": "/", "cluster": "up"}]}]
        cls.wg = cls.start_proxy(cls.class_env, {"up": [cls.up.address]}, routes=routes,
                                 workers=1)

    def test_token_listed_in_route_upgrades_is_tunnelled(self):
        """Upgrade: foo on a route with upgrades: [foo] switches protocols and tunnels bytes."""
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/foo/raw-upgrade", headers=FOO_HEADERS))
        resp = conn.read_response()
        self.assertEqual(resp.status, 101, resp)
        self.assertEqual((resp.header("upgrade") or "").lower(), "foo", resp)
        conn.send(b"raw bytes through the tunnel")
        echoed = b""
        while len(echoed) < len(b"raw bytes through the tunnel"):
            data = conn.recv_raw()
            self.assertTrue(data, f"tunnel closed after {echoed!r}")
            echoed += data
        self.assertEqual(echoed, b"raw bytes through the tunnel")

    def test_token_listed_on_another_route_is_proxied_as_plain_http(self):
        """Upgrade: foo on a route without it in upgrades is removed and proxied as plain HTTP."""
        conn = self.connect(self.wg.port)
        self.assertProxiedPlain(conn, "/other/raw-upgrade", FOO_HEADERS)
        self.assertStillRoutesHttp(conn)

    def test_empty_upgrades_turns_websocket_off(self):
        """A websocket upgrade on a route with upgrades: [] is proxied as plain HTTP."""
        conn = self.connect(self.wg.port)
        self.assertProxiedPlain(conn, "/no-upgrades/raw-upgrade", websocket_headers())
        self.assertStillRoutesHttp(conn)


if __name__ == "__main__":
    unittest.main()
