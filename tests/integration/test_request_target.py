"""The request target: absolute-form, path normalisation before routing and forwarding, and the one
Host header the upstream sees.

Each upstream answers /.../headers with the target and headers it received (upstream.py), and
names itself in X-Upstream-Name, so a test sees both where a request went and what arrived.
"""

import json
import unittest

from harness import WaygateTestCase, request


class TargetTestCase(WaygateTestCase):
    """Clusters admin, public and rest on upstreams A, P and R; routes /admin to A, /public to P
    and everything else to R (the "*" host). top: further top-level config keys."""

    top = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ups = {name: cls.class_env.upstream(name) for name in ("A", "P", "R")}
        cls.ups = ups
        routes = [{"hosts": ["*"], "paths": [
            {"prefix": "/admin", "cluster": "admin"},
            {"prefix": "/public", "cluster": "public"},
            {"prefix": "/", "cluster": "rest"}]}]
        clusters = {"admin": [ups["A"].address], "public": [ups["P"].address],
                    "rest": [ups["R"].address]}
        cls.wg = cls.start_proxy(cls.class_env, clusters, routes=routes, workers=1, top=cls.top)

    def forward(self, raw):
        """Sends raw bytes on a new connection; returns (upstream name, what the upstream saw)."""
        conn = self.connect(self.wg.port)
        conn.send(raw)
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        return resp.header("x-upstream-name"), json.loads(resp.body)

    def assertRouted(self, target, upstream, seen_target):
        name, seen = self.forward(request("GET", target))
        self.assertEqual((name, seen["target"]), (upstream, seen_target))

    def assertRefused(self, target):
        before = sum(up.stats()["requests"] for up in self.ups.values())
        resp = self.get(self.wg.port, target)
        self.assertErrorResponse(resp, 400)
        self.assertEqual(sum(up.stats()["requests"] for up in self.ups.values()), before)


class DefaultNormalisationTest(TargetTestCase):
    """No normalize_paths key: the defaults."""

    def test_dot_dot_segment_is_resolved_before_routing(self):
        """/public/../admin is routed and forwarded as /admin."""
        self.assertRouted("/public/../admin/headers", "A", "/admin/headers")

    def test_dot_segment_is_removed(self):
        """/a/./b is forwarded as /a/b."""
        self.assertRouted("/a/./b/headers", "R", "/a/b/headers")

    def test_percent_encoded_unreserved_character_is_decoded_before_routing(self):
        """/%61dmin is routed and forwarded as /admin."""
        self.assertRouted("/%61dmin/headers", "A", "/admin/headers")

    def test_repeated_slashes_are_merged_by_default(self):
        """//admin is routed and forwarded as /admin."""
        self.assertRouted("//admin/headers", "A", "/admin/headers")

    def test_query_string_is_forwarded_unchanged(self):
        """Normalising the path leaves the query string as the client sent it."""
        self.assertRouted("/public/../admin/headers?next=/a/../b//c&x=%2F%61",
                          "A", "/admin/headers?next=/a/../b//c&x=%2F%61")

    def test_encoded_slash_in_the_path_is_400_by_default(self):
        """/public/..%2Fadmin is refused with 400."""
        self.assertRefused("/public/..%2Fadmin/headers")

    def test_encoded_backslash_in_the_path_is_400(self):
        """/public/..%5cadmin is refused with 400."""
        self.assertRefused("/public/..%5cadmin/headers")


    def test_asterisk_form_is_only_for_options(self):
        """GET * is 400; OPTIONS * asks about the server and matches no path route (404)."""
        self.assertRefused("*")
        resp = self.get(self.wg.port, "*", method="OPTIONS")
        self.assertErrorResponse(resp, 404)


class MergeSlashesOffTest(TargetTestCase):
    top = {"normalize_paths": {"merge_slashes": False}}

    def test_repeated_slashes_are_kept_when_merge_slashes_is_off(self):
        """With merge_slashes: false, //admin does not match prefix /admin and is kept."""
        self.assertRouted("//admin/headers", "R", "//admin/headers")


class EscapedSlashesKeepTest(TargetTestCase):
    top = {"normalize_paths": {"escaped_slashes": "keep"}}

    def test_encoded_slash_is_kept_when_escaped_slashes_is_keep(self):
        """With escaped_slashes: keep, /public/..%2Fadmin goes to /public unchanged."""
        self.assertRouted("/public/..%2Fadmin/headers", "P", "/public/..%2Fadmin/headers")


class EscapedSlashesUnescapeTest(TargetTestCase):
    top = {"normalize_paths": {"escaped_slashes": "unescape"}}

    def test_encoded_slash_is_decoded_when_escaped_slashes_is_unescape(self):
        """With escaped_slashes: unescape, /public/..%2Fadmin is routed and forwarded as /admin."""
        self.assertRouted("/public/..%2Fadmin/headers", "A", "/admin/headers")


class AbsoluteFormTest(WaygateTestCase):
    """Routes differ by host: api.test goes to upstream API, other.test to OTHER."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        api, other = cls.class_env.upstream("API"), cls.class_env.upstream("OTHER")
        routes = [{"hosts": ["api.test"], "paths": [{"prefix": "/", "cluster": "api"}]},
                  {"hosts": ["other.test"], "paths": [{"prefix": "/", "cluster": "other"}]}]
        cls.wg = cls.start_proxy(cls.class_env, {"api": [api.address], "other": [other.address]},
                                 routes=routes, workers=1)

    def absolute_form(self):
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "http://api.test/v1/headers?q=1", host="other.test"))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        return resp

    def test_absolute_form_is_routed_by_its_authority(self):
        """GET http://api.test/... with Host: other.test is routed by api.test."""
        self.assertEqual(self.absolute_form().header("x-upstream-name"), "API")

    def test_absolute_form_reaches_the_upstream_in_origin_form(self):
        """The upstream sees the path and query of an absolute-form target, not the URL."""
        self.assertEqual(self.absolute_form().json()["target"], "/v1/headers?q=1")

    def test_absolute_form_authority_is_the_only_host_upstream(self):
        """The upstream sees exactly one Host header: the absolute-form target's authority."""
        headers = self.absolute_form().json()["headers"]
        self.assertEqual([v for k, v in headers if k.lower() == "host"], ["api.test"], headers)


class HostHeaderTest(WaygateTestCase):
    """Exactly one Host header reaches the upstream."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("A")
        cls.wg = cls.start_proxy(cls.class_env, {"up": [cls.up.address]}, workers=1)

    def hosts_seen(self, raw):
        conn = self.connect(self.wg.port)
        conn.send(raw)
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        return [v for k, v in resp.json()["headers"] if k.lower() == "host"]

    def test_http10_request_without_host_reaches_the_upstream_with_one_host(self):
        """An HTTP/1.0 request without Host is forwarded with exactly one Host header."""
        hosts = self.hosts_seen(request("GET", "/headers", host=None, version="HTTP/1.0"))
        self.assertEqual(len(hosts), 1, hosts)

    def test_http11_host_reaches_the_upstream_once_and_unchanged(self):
        """An HTTP/1.1 request's Host is forwarded as the one Host header, value unchanged."""
        hosts = self.hosts_seen(request("GET", "/headers", host="client.test:8080"))
        self.assertEqual(hosts, ["client.test:8080"])


if __name__ == "__main__":
    unittest.main()
