"""How a request picks its route: host precedence, path matchers, method, header and query
matchers, first match in file order, and 404 when nothing matches (docs/config.md, "How a
request is routed").

Each cluster is its own upstream process named after the cluster, so X-Upstream-Name says which
route answered.
"""

import unittest

from harness import HttpConnection, WaygateTestCase, request


class RouteMatchTestCase(WaygateTestCase):
    """One waygate per class; served_by() names the upstream that answered."""

    CLUSTERS = ()
    ROUTES = []

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.class_env
        ups = {name: env.upstream(name) for name in cls.CLUSTERS}
        cls.wg = cls.start_proxy(env, {name: [up.address] for name, up in ups.items()},
                                 routes=cls.ROUTES, workers=1)

    def answer(self, host, target, method="GET", headers=()):
        with HttpConnection(self.wg.port) as conn:
            conn.send(request(method, target, host=host, headers=headers))
            return conn.read_response(method)

    def served_by(self, host, target, method="GET", headers=()):
        resp = self.answer(host, target, method, headers)
        self.assertEqual(resp.status, 200, f"{method} {host}{target} {headers}: {resp!r}")
        return resp.header("x-upstream-name")

    def assertServedBy(self, expected, host, target, method="GET", headers=()):
        self.assertEqual(self.served_by(host, target, method, headers), expected,
                         f"{method} http://{host}{target} with headers {list(headers)}")


class HostPrecedenceTest(RouteMatchTestCase):
    """Exact name, then the longest wildcard suffix, then "*"; listed least specific first so
    that precedence cannot come from file order."""

    CLUSTERS = ("star", "wild", "wild_eu", "exact", "exact_eu")
    ROUTES = [
        {"hosts": ["*"], "paths": [{"prefix": "/", "cluster": "star"}]},
        {"hosts": ["*.example.test"], "paths": [{"prefix": "/", "cluster": "wild"}]},
        {"hosts": ["*.eu.example.test"], "paths": [{"prefix": "/", "cluster": "wild_eu"}]},
        {"hosts": ["api.example.test", "other.test", "Mixed.Case.Test"],
         "paths": [{"prefix": "/", "cluster": "exact"}]},
        {"hosts": ["shop.eu.example.test"], "paths": [{"prefix": "/", "cluster": "exact_eu"}]},
    ]

    def test_exact_host_wins_over_wildcard(self):
        self.assertServedBy("exact", "api.example.test", "/a")

    def test_exact_host_wins_over_longer_wildcard(self):
        self.assertServedBy("exact_eu", "shop.eu.example.test", "/a")

    def test_every_host_of_an_entry_selects_it(self):
        self.assertServedBy("exact", "other.test", "/a")

    def test_longest_wildcard_suffix_wins(self):
        self.assertServedBy("wild_eu", "www.eu.example.test", "/a")
        self.assertServedBy("wild", "www.us.example.test", "/a")

    def test_wildcard_matches_several_labels_before_its_suffix(self):
        self.assertServedBy("wild_eu", "a.b.c.eu.example.test", "/a")
        self.assertServedBy("wild", "a.b.example.test", "/a")

    def test_wildcard_needs_a_label_before_its_suffix(self):
        # eu.example.test is not under *.eu.example.test, but is under *.example.test.
        self.assertServedBy("wild", "eu.example.test", "/a")
        self.assertServedBy("star", "example.test", "/a")

    def test_wildcard_does_not_match_an_empty_label(self):
        # ".eu.example.test" has no label before the suffix, only an empty one.
        self.assertServedBy("wild", ".eu.example.test", "/a")
        self.assertServedBy("star", ".example.test", "/a")

    def test_wildcard_suffix_must_end_at_a_label_boundary(self):
        self.assertServedBy("star", "www.notexample.test", "/a")
        self.assertServedBy("wild", "www.noteu.example.test", "/a")

    def test_unknown_host_falls_to_star(self):
        self.assertServedBy("star", "elsewhere.test", "/a")

    def test_host_match_is_case_insensitive(self):
        self.assertServedBy("exact", "API.Example.TEST", "/a")
        self.assertServedBy("wild_eu", "WWW.EU.EXAMPLE.TEST", "/a")
        self.assertServedBy("wild", "Www.Example.Test", "/a")

    def test_host_names_in_the_config_are_case_insensitive(self):
        self.assertServedBy("exact", "mixed.case.test", "/a")
        self.assertServedBy("exact", "MIXED.CASE.TEST", "/a")

    def test_host_surrounding_whitespace_is_ignored(self):
        # Optional whitespace around a field value is not part of it (RFC 9110, 5.5).
        self.assertServedBy("exact", "api.example.test ", "/a")
        self.assertServedBy("exact", "\tapi.example.test\t", "/a")

    def test_host_port_is_ignored(self):
        self.assertServedBy("exact", "api.example.test:8080", "/a")
        self.assertServedBy("wild_eu", "www.eu.example.test:1", "/a")
        self.assertServedBy("star", "elsewhere.test:443", "/a")

    def test_host_trailing_dot_is_ignored(self):
        self.assertServedBy("exact", "api.example.test.", "/a")
        self.assertServedBy("wild_eu", "www.eu.example.test.:8080", "/a")


class NoStarTest(RouteMatchTestCase):
    CLUSTERS = ("exact", "wild")
    ROUTES = [
        {"hosts": ["api.example.test"], "paths": [{"prefix": "/api/", "cluster": "exact"}]},
        {"hosts": ["*.example.test"], "paths": [{"prefix": "/", "cluster": "wild"}]},
    ]

    def test_unknown_host_without_star_is_404(self):
        resp = self.answer("elsewhere.test", "/no-host")
        self.assertErrorResponse(resp, 404)
        self.wg.wait_for_log(r'"GET /no-host HTTP/1\.1" 404 .*error=no-route')

    def test_bare_domain_of_wildcard_without_star_is_404(self):
        self.assertErrorResponse(self.answer("example.test", "/a"), 404)

    def test_unmatched_path_does_not_fall_through_to_a_wildcard_entry(self):
        # The host picks one entry; a path that entry lacks is 404 although the wildcard entry
        # would take it.
        self.assertServedBy("exact", "api.example.test", "/api/x")
        self.assertServedBy("wild", "www.example.test", "/other")
        self.assertErrorResponse(self.answer("api.example.test", "/other"), 404)


class PathMatchTest(RouteMatchTestCase):
    """One host per behaviour; "a" is the route under test, "b" the fallback after it."""

    CLUSTERS = ("a", "b", "c")
    ROUTES = [
        {"hosts": ["exact.test"], "paths": [
            {"exact": "/x", "cluster": "a"},
            {"prefix": "/", "cluster": "b"}]},
        {"hosts": ["prefix.test"], "paths": [
            {"prefix": "/v1", "cluster": "a"},
            {"prefix": "/", "cluster": "b"}]},
        {"hosts": ["segments.test"], "paths": [
            {"prefix": "/v1", "segments": True, "cluster": "a"},
            {"prefix": "/", "cluster": "b"}]},
        {"hosts": ["segments-slash.test"], "paths": [
            {"prefix": "/v1/", "segments": True, "cluster": "a"},
            {"prefix": "/", "cluster": "b"}]},
        {"hosts": ["regex.test"], "paths": [
            {"regex": r"/users/\d+", "cluster": "a"},
            {"regex": "/files/.*[.](png|jpe?g)", "cluster": "c"},
            {"prefix": "/", "cluster": "b"}]},
        {"hosts": ["order.test"], "paths": [
            {"prefix": "/api/", "cluster": "a"},
            {"prefix": "/api/special/", "cluster": "b"},
            {"exact": "/api/special/x", "cluster": "c"},
            {"regex": "/late/.*", "cluster": "b"},
            {"prefix": "/late/", "cluster": "c"}]},
        {"hosts": ["method.test"], "paths": [
            {"prefix": "/", "methods": ["GET", "POST"], "cluster": "a"},
            {"prefix": "/", "methods": ["DELETE"], "cluster": "c"},
            {"prefix": "/", "cluster": "b"}]},
        {"hosts": ["only-get.test"], "paths": [
            {"prefix": "/", "methods": ["GET"], "cluster": "a"}]},
    ]

    def test_exact_path_matches_only_itself(self):
        self.assertServedBy("a", "exact.test", "/x")
        self.assertServedBy("b", "exact.test", "/x/")
        self.assertServedBy("b", "exact.test", "/xy")
        self.assertServedBy("b", "exact.test", "/")

    def test_exact_path_ignores_the_query(self):
        self.assertServedBy("a", "exact.test", "/x?y=1")

    def test_plain_prefix_matches_inside_a_segment(self):
        self.assertServedBy("a", "prefix.test", "/v1")
        self.assertServedBy("a", "prefix.test", "/v1/users")
        self.assertServedBy("a", "prefix.test", "/v1x")
        self.assertServedBy("b", "prefix.test", "/v2")
        self.assertServedBy("b", "prefix.test", "/v")

    def test_segment_prefix_matches_itself_and_below(self):
        self.assertServedBy("a", "segments.test", "/v1")
        self.assertServedBy("a", "segments.test", "/v1/")
        self.assertServedBy("a", "segments.test", "/v1/x/y")
        self.assertServedBy("a", "segments.test", "/v1?q=1")

    def test_segment_prefix_does_not_match_a_longer_segment(self):
        self.assertServedBy("b", "segments.test", "/v1x")
        self.assertServedBy("b", "segments.test", "/v1x/y")
        self.assertServedBy("b", "segments.test", "/v")

    def test_segment_prefix_with_trailing_slash(self):
        self.assertServedBy("a", "segments-slash.test", "/v1/x")
        self.assertServedBy("a", "segments-slash.test", "/v1/")
        self.assertServedBy("b", "segments-slash.test", "/v1x")

    def test_regex_must_match_the_whole_path(self):
        self.assertServedBy("a", "regex.test", "/users/42")
        self.assertServedBy("b", "regex.test", "/users/42/x")
        self.assertServedBy("b", "regex.test", "/x/users/42")
        self.assertServedBy("b", "regex.test", "/users/")

    def test_regex_alternation_is_anchored_as_a_whole(self):
        self.assertServedBy("c", "regex.test", "/files/a/b.png")
        self.assertServedBy("c", "regex.test", "/files/x.jpeg")
        self.assertServedBy("b", "regex.test", "/files/x.png.txt")

    def test_regex_ignores_the_query(self):
        self.assertServedBy("a", "regex.test", "/users/42?id=abc")

    def test_first_match_in_file_order_wins(self):
        # /api/special/x matches all three entries; the first listed wins, however specific
        # the later ones are.
        self.assertServedBy("a", "order.test", "/api/special/x")
        self.assertServedBy("b", "order.test", "/late/x")

    def test_no_path_match_is_404(self):
        resp = self.answer("order.test", "/other")
        self.assertErrorResponse(resp, 404)
        self.wg.wait_for_log(r'"GET /other HTTP/1\.1" 404 .*error=no-route')

    def test_method_matcher_selects_listed_methods(self):
        self.assertServedBy("a", "method.test", "/m", method="GET")
        self.assertServedBy("a", "method.test", "/m", method="POST")
        self.assertServedBy("c", "method.test", "/m", method="DELETE")

    def test_method_matcher_skips_other_methods(self):
        self.assertServedBy("b", "method.test", "/m", method="PUT")
        self.assertServedBy("b", "method.test", "/m", method="PATCH")
        self.assertServedBy("b", "method.test", "/m", method="OPTIONS")

    def test_unlisted_method_with_no_other_route_is_404(self):
        self.assertErrorResponse(self.answer("only-get.test", "/m", method="PUT"), 404)
        self.assertServedBy("a", "only-get.test", "/m", method="GET")


class HeaderAndQueryMatchTest(RouteMatchTestCase):
    """Header and query matchers; "a" when they hold, "b" (the next path) otherwise."""

    CLUSTERS = ("a", "b")

    @staticmethod
    def entry(host, **matchers):
        return {"hosts": [host], "paths": [dict(prefix="/", cluster="a", **matchers),
                                           {"prefix": "/", "cluster": "b"}]}

    ROUTES = [
        entry("h-present.test", headers=[{"name": "x-canary", "present": True}]),
        entry("h-absent.test", headers=[{"name": "x-debug", "present": False}]),
        entry("h-exact.test", headers=[{"name": "x-tenant", "exact": "blue"}]),
        entry("h-regex.test", headers=[{"name": "x-tenant", "regex": "^(blue|green)$"}]),
        entry("h-case.test", headers=[{"name": "X-Tenant", "exact": "blue"}]),
        entry("h-all.test", headers=[{"name": "x-one", "present": True},
                                     {"name": "x-two", "exact": "2"}]),
        entry("q-present.test", query=[{"name": "debug", "present": True}]),
        entry("q-absent.test", query=[{"name": "debug", "present": False}]),
        entry("q-exact.test", query=[{"name": "v", "exact": "2"}]),
        entry("q-regex.test", query=[{"name": "id", "regex": "^[0-9]+$"}]),
        entry("q-all.test", query=[{"name": "a", "exact": "1"}, {"name": "b", "present": True}]),
        entry("mixed.test", methods=["POST"], headers=[{"name": "x-one", "present": True}],
              query=[{"name": "q", "present": True}]),
    ]

    def test_header_present(self):
        self.assertServedBy("a", "h-present.test", "/", headers=[("X-Canary", "1")])
        self.assertServedBy("a", "h-present.test", "/", headers=[("x-CANARY", "")])
        self.assertServedBy("b", "h-present.test", "/")
        self.assertServedBy("b", "h-present.test", "/", headers=[("X-Canary-Not", "1")])

    def test_header_absent(self):
        self.assertServedBy("a", "h-absent.test", "/")
        self.assertServedBy("b", "h-absent.test", "/", headers=[("X-Debug", "0")])
        self.assertServedBy("b", "h-absent.test", "/", headers=[("X-DEBUG", "")])

    def test_header_exact(self):
        self.assertServedBy("a", "h-exact.test", "/", headers=[("X-Tenant", "blue")])
        self.assertServedBy("b", "h-exact.test", "/", headers=[("X-Tenant", "green")])
        self.assertServedBy("b", "h-exact.test", "/", headers=[("X-Tenant", "blueish")])
        self.assertServedBy("b", "h-exact.test", "/", headers=[("X-Tenant", "bblue")])
        self.assertServedBy("b", "h-exact.test", "/")

    def test_header_exact_ignores_surrounding_whitespace(self):
        # Optional whitespace around a field value is not part of it (RFC 9110, 5.5).
        self.assertServedBy("a", "h-exact.test", "/", headers=[("X-Tenant", "  blue\t")])

    def test_header_regex(self):
        self.assertServedBy("a", "h-regex.test", "/", headers=[("X-Tenant", "blue")])
        self.assertServedBy("a", "h-regex.test", "/", headers=[("X-Tenant", "green")])
        self.assertServedBy("b", "h-regex.test", "/", headers=[("X-Tenant", "red")])
        self.assertServedBy("b", "h-regex.test", "/", headers=[("X-Tenant", "bluegreen")])
        self.assertServedBy("b", "h-regex.test", "/")

    def test_header_names_are_case_insensitive(self):
        self.assertServedBy("a", "h-case.test", "/", headers=[("x-tenant", "blue")])
        self.assertServedBy("a", "h-case.test", "/", headers=[("X-TENANT", "blue")])
        self.assertServedBy("a", "h-exact.test", "/", headers=[("x-TeNaNt", "blue")])

    def test_every_header_matcher_must_hold(self):
        both = [("X-One", "1"), ("X-Two", "2")]
        self.assertServedBy("a", "h-all.test", "/", headers=both)
        self.assertServedBy("b", "h-all.test", "/", headers=both[:1])
        self.assertServedBy("b", "h-all.test", "/", headers=both[1:])
        self.assertServedBy("b", "h-all.test", "/", headers=[("X-One", "1"), ("X-Two", "3")])

    def test_query_present(self):
        self.assertServedBy("a", "q-present.test", "/p?debug=1")
        self.assertServedBy("a", "q-present.test", "/p?x=1&debug=")
        self.assertServedBy("a", "q-present.test", "/p?x=1&debug")
        self.assertServedBy("b", "q-present.test", "/p")
        self.assertServedBy("b", "q-present.test", "/p?debugger=1")
        self.assertServedBy("b", "q-present.test", "/p?x=debug")

    def test_query_absent(self):
        self.assertServedBy("a", "q-absent.test", "/p")
        self.assertServedBy("a", "q-absent.test", "/p?nodebug=1")
        self.assertServedBy("b", "q-absent.test", "/p?debug=0")

    def test_query_exact(self):
        self.assertServedBy("a", "q-exact.test", "/p?v=2")
        self.assertServedBy("a", "q-exact.test", "/p?a=b&v=2&c=d")
        self.assertServedBy("b", "q-exact.test", "/p?v=22")
        self.assertServedBy("b", "q-exact.test", "/p?v=3")
        self.assertServedBy("b", "q-exact.test", "/p")

    def test_query_regex(self):
        self.assertServedBy("a", "q-regex.test", "/p?id=12345")
        self.assertServedBy("b", "q-regex.test", "/p?id=12a")
        self.assertServedBy("b", "q-regex.test", "/p?id=")
        self.assertServedBy("b", "q-regex.test", "/p")

    def test_query_matcher_ignores_the_path(self):
        # A path that looks like a query parameter is not one.
        self.assertServedBy("b", "q-present.test", "/debug=1")

    def test_every_query_matcher_must_hold(self):
        self.assertServedBy("a", "q-all.test", "/p?a=1&b=x")
        self.assertServedBy("a", "q-all.test", "/p?b&a=1")
        self.assertServedBy("b", "q-all.test", "/p?a=1")
        self.assertServedBy("b", "q-all.test", "/p?a=2&b=x")

    def test_method_header_and_query_matchers_combine(self):
        self.assertServedBy("a", "mixed.test", "/p?q=1", method="POST", headers=[("X-One", "1")])
        self.assertServedBy("b", "mixed.test", "/p?q=1", method="GET", headers=[("X-One", "1")])
        self.assertServedBy("b", "mixed.test", "/p", method="POST", headers=[("X-One", "1")])
        self.assertServedBy("b", "mixed.test", "/p?q=1", method="POST")


if __name__ == "__main__":
    unittest.main()
