"""Header handling: hop-by-hop removal both ways, X-Forwarded-*, X-Request-Id, pass-through."""

import re
import unittest

from harness import WaygateTestCase


class HeadersTest(WaygateTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("A")
        cls.wg = cls.start_proxy(cls.class_env, {"up": [cls.up.address]}, workers=1)

    def upstream_view(self, headers=(), host="proxy.test", target="/headers"):
        """What the upstream received: (request JSON, {lower name: [values]})."""
        resp = self.get(self.wg.port, target, host=host, headers=headers)
        self.assertEqual(resp.status, 200, resp)
        seen = resp.json()
        by_name = {}
        for name, value in seen["headers"]:
            by_name.setdefault(name.lower(), []).append(value)
        return seen, by_name

    def assertConnectionHeaderClean(self, by_name):
        tokens = {t.strip().lower() for v in by_name.get("connection", []) for t in v.split(",")}
        self.assertLessEqual(tokens, {"keep-alive", "close"},
                             f"Connection sent upstream names other headers: {tokens}")

    def test_connection_listed_headers_are_removed(self):
        _, seen = self.upstream_view([("Connection", "keep-alive, X-Custom-Hop, x-other-hop"),
                                      ("X-Custom-Hop", "1"), ("X-Other-Hop", "2"),
                                      ("X-Kept", "3")])
        self.assertNotIn("x-custom-hop", seen)
        self.assertNotIn("x-other-hop", seen)
        self.assertEqual(seen.get("x-kept"), ["3"])
        self.assertConnectionHeaderClean(seen)

    def test_standard_hop_by_hop_headers_are_removed(self):
        _, seen = self.upstream_view([("Keep-Alive", "timeout=5"),
                                      ("Proxy-Connection", "keep-alive"),
                                      ("TE", "gzip"), ("Trailer", "X-Checksum"),
                                      ("Upgrade", "h2c")])
        for name in ("keep-alive", "proxy-connection", "te", "trailer", "upgrade"):
            self.assertNotIn(name, seen, f"{name} should not be forwarded")
        self.assertConnectionHeaderClean(seen)

    def test_hop_by_hop_response_headers_are_removed(self):
        resp = self.get(self.wg.port, "/hop-response")
        self.assertEqual(resp.status, 200, resp)
        names = {k.lower() for k, _ in resp.headers}
        self.assertNotIn("x-resp-hop", names)
        self.assertNotIn("keep-alive", names)
        self.assertNotIn("proxy-connection", names)
        self.assertNotIn("x-resp-hop", resp.connection_tokens())
        self.assertEqual(resp.header("x-end-to-end"), "yes")
        self.assertEqual(resp.body, b"hop\n")

    def test_x_forwarded_headers_are_set(self):
        _, seen = self.upstream_view(host=f"Proxy.Test:{self.wg.port}")
        self.assertEqual(seen.get("x-forwarded-for"), ["127.0.0.1"])
        self.assertEqual(seen.get("x-forwarded-proto"), ["http"])
        self.assertEqual(seen.get("x-forwarded-host"), [f"Proxy.Test:{self.wg.port}"])

    def test_x_forwarded_for_appends_to_existing_chain(self):
        _, seen = self.upstream_view([("X-Forwarded-For", "203.0.113.7")])
        values = ", ".join(seen.get("x-forwarded-for", []))
        self.assertEqual([v.strip() for v in values.split(",")], ["203.0.113.7", "127.0.0.1"])

    def test_host_is_passed_through(self):
        _, seen = self.upstream_view(host="Some.Host.test:8080")
        self.assertEqual(seen.get("host"), ["Some.Host.test:8080"])

    def test_request_id_is_added_when_missing(self):
        _, first = self.upstream_view()
        _, second = self.upstream_view()
        self.assertEqual(len(first.get("x-request-id", [])), 1, first)
        self.assertRegex(first["x-request-id"][0], r"^\S{8,}$")
        self.assertNotEqual(first["x-request-id"], second.get("x-request-id"),
                            "each request needs its own id")

    def test_request_id_is_kept_when_present(self):
        _, seen = self.upstream_view([("X-Request-Id", "client-chosen-id-42")])
        self.assertEqual(seen.get("x-request-id"), ["client-chosen-id-42"])

    def test_request_id_appears_in_access_log(self):
        _, seen = self.upstream_view(target="/headers?log-id=1")
        request_id = re.escape(seen["x-request-id"][0])
        self.wg.wait_for_log(rf'"GET /headers\?log-id=1 HTTP/1\.1" 200 .* id={request_id} ')

    def test_end_to_end_headers_are_passed_in_order(self):
        headers = [("X-Multi", "one"), ("Accept", "text/plain"), ("X-Multi", "two"),
                   ("Cookie", "a=1; b=2"), ("X-Empty", "")]
        seen_json, seen = self.upstream_view(headers)
        self.assertEqual(seen.get("x-multi"), ["one", "two"])
        self.assertEqual(seen.get("accept"), ["text/plain"])
        self.assertEqual(seen.get("cookie"), ["a=1; b=2"])
        self.assertEqual(seen.get("x-empty"), [""])
        self.assertEqual((seen_json["method"], seen_json["target"]), ("GET", "/headers"))

    def test_request_method_is_passed_through(self):
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            body = b"" if method in ("GET", "OPTIONS", "DELETE") else b"data"
            resp = self.get(self.wg.port, "/m", method=method, body=body or None)
            self.assertEqual(resp.body, f"A {method} /m\n".encode())

    def test_multiple_set_cookie_headers_stay_separate(self):
        resp = self.get(self.wg.port, "/set-cookies")
        self.assertEqual(resp.header_values("set-cookie"),
                         ["a=1; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT", "b=2; Path=/"])

    def test_upstream_response_headers_are_passed_through(self):
        resp = self.get(self.wg.port, "/headers")
        self.assertEqual(resp.header("x-upstream-name"), "A")
        self.assertEqual(resp.header("content-type"), "application/json")


if __name__ == "__main__":
    unittest.main()
