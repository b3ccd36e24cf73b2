"""Routing by host and path, round-robin balancing and the access-log line of a proxied request."""

import collections
import os
import re
import unittest

from harness import WaygateTestCase, request, wait_until


class RoutingTest(WaygateTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.class_env
        cls.ups = {name: env.upstream(name) for name in ("star", "wild", "api", "exact", "rr1",
                                                         "rr2")}
        # Listed least specific first: precedence must come from the kind of name, not the order.
        routes = [
            {"hosts": ["*"], "paths": [{"prefix": "/", "cluster": "star"}]},
            {"hosts": ["*.example.test"], "paths": [{"prefix": "/", "cluster": "wild"}]},
            {"hosts": ["api.example.test"], "paths": [
                {"exact": "/exact", "cluster": "exact"},
                {"prefix": "/v1/", "cluster": "api"},
                {"prefix": "/v1/special/", "cluster": "exact"},
            ]},
            {"hosts": ["rr.test"], "paths": [{"prefix": "/", "cluster": "rr"}]},
        ]
        clusters = {name: [up.address] for name, up in cls.ups.items()
                    if not name.startswith("rr")}
        clusters["rr"] = [cls.ups["rr1"].address, cls.ups["rr2"].address]
        cls.wg = cls.start_proxy(env, clusters, routes=routes, workers=1)

    def served_by(self, host, target):
        resp = self.get(self.wg.port, target, host=host)
        self.assertEqual(resp.status, 200, f"{host}{target}: {resp!r}")
        return resp.header("x-upstream-name")

    def test_exact_host_wins_over_wildcard_and_star(self):
        self.assertEqual(self.served_by("api.example.test", "/v1/users"), "api")

    def test_wildcard_host_wins_over_star(self):
        self.assertEqual(self.served_by("www.example.test", "/v1/users"), "wild")

    def test_wildcard_does_not_match_the_bare_domain(self):
        self.assertEqual(self.served_by("example.test", "/"), "star")

    def test_unknown_host_falls_to_star(self):
        self.assertEqual(self.served_by("elsewhere.test", "/x"), "star")

    def test_host_match_is_case_insensitive(self):
        self.assertEqual(self.served_by("API.Example.TEST", "/v1/users"), "api")
        self.assertEqual(self.served_by("WWW.EXAMPLE.TEST", "/"), "wild")

    def test_host_port_is_ignored(self):
        self.assertEqual(self.served_by(f"api.example.test:{self.wg.port}", "/v1/x"), "api")
        self.assertEqual(self.served_by("api.example.test:1", "/v1/x"), "api")

    def test_paths_are_tried_in_file_order(self):
        self.assertEqual(self.served_by("api.example.test", "/v1/special/x"), "api")

    def test_exact_path_matches_only_itself(self):
        self.assertEqual(self.served_by("api.example.test", "/exact"), "exact")
        self.assertEqual(self.served_by("api.example.test", "/exact?query=1"), "exact")

    def test_unmatched_path_in_chosen_host_is_404_not_next_route(self):
        resp = self.get(self.wg.port, "/v2/users", host="api.example.test")
        self.assertErrorResponse(resp, 404)
        self.wg.wait_for_log(r'"GET /v2/users HTTP/1\.1" 404 .*error=no-route')

    def test_round_robin_alternates_endpoints(self):
        conn = self.connect(self.wg.port)
        names = []
        for i in range(10):
            conn.send(request("GET", f"/rr{i}", host="rr.test"))
            resp = conn.read_response()
            self.assertEqual(resp.status, 200, resp)
            names.append(resp.header("x-upstream-name"))
        self.assertEqual(collections.Counter(names), {"rr1": 5, "rr2": 5}, names)
        for a, b in zip(names, names[1:]):
            self.assertNotEqual(a, b, f"round robin should alternate: {names}")

    def test_access_log_line_describes_proxied_request(self):
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/v1/logged?x=1", host="api.example.test"))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200)
        client = f"127.0.0.1:{conn.sock.getsockname()[1]}"
        line = self.wg.wait_for_log(r'"GET /v1/logged\?x=1 HTTP/1\.1" 200 ')
        api = self.ups["api"].address
        rx = (rf'^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z {re.escape(client)} '
              rf'"GET /v1/logged\?x=1 HTTP/1\.1" 200 \d+ [\d.]+[mun]?s '
              rf'host=api\.example\.test cluster=api upstream={re.escape(api)} id=\S+ error=-$')
        self.assertRegex(line, rx)


class AccessLogTargetTest(WaygateTestCase):
    """access_log: stdout (covered above), stderr, a file, or off."""

    LINE = re.compile(r'"GET /logged HTTP/1\.1" 200 ')

    def run_one_request(self, access_log):
        up = self.env.upstream("A")
        wg = self.start_proxy(self.env, {"up": [up.address]}, access_log=access_log)
        self.assertEqual(self.get(wg.port, "/logged").status, 200)
        return wg

    def test_access_log_to_file(self):
        path = os.path.join(self.env.dir, "access.log")
        wg = self.run_one_request(path)

        def logged():
            if not os.path.exists(path):
                return False
            with open(path) as f:
                return any(self.LINE.search(line) for line in f)
        wait_until(logged, timeout=5, message=f"the access-log line in {path}")
        self.assertFalse(any(self.LINE.search(line) for line in wg.log_lines()))

    def test_access_log_to_stderr(self):
        wg = self.run_one_request("stderr")
        wait_until(lambda: self.LINE.search(wg.stderr_text()), timeout=5,
                   message="the access-log line on stderr")
        self.assertFalse(any(self.LINE.search(line) for line in wg.log_lines()))

    def test_access_log_off(self):
        wg = self.run_one_request("off")
        self.assertEqual(wg.stop(), 0)
        self.assertFalse(self.LINE.search(wg.stderr_text()))
        self.assertFalse(any(self.LINE.search(line) for line in wg.log_lines()))


if __name__ == "__main__":
    unittest.main()
