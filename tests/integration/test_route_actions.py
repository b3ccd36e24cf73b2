"""What a matched route does: weighted clusters, redirect, respond, rewrite, header edits, the
per-route timeout and body limit; and `waygate --check` on configs that break those rules
(docs/config.md)."""

import collections
import os
import re
import shutil
import tempfile
import unittest
import urllib.parse

import harness
from harness import WAYGATE_BIN, WaygateTestCase, chunked, request


class WeightedClustersTest(WaygateTestCase):

    def test_weighted_clusters_split_by_weight(self):
        heavy, light = self.env.upstream("heavy"), self.env.upstream("light")
        routes = [{"hosts": ["*"], "paths": [
            {"prefix": "/", "clusters": [{"name": "heavy", "weight": 3},
                                         {"name": "light", "weight": 1}]}]}]
        wg = self.start_proxy(self.env, {"heavy": [heavy.address], "light": [light.address]},
                              routes=routes, workers=1)
        conn = self.connect(wg.port)
        counts = collections.Counter()
        for i in range(400):
            conn.send(request("GET", f"/w{i}"))
            resp = conn.read_response()
            self.assertEqual(resp.status, 200, resp)
            counts[resp.header("x-upstream-name")] += 1
        self.assertEqual(set(counts), {"heavy", "light"}, counts)
        self.assertGreater(counts["heavy"], counts["light"], counts)
        # 3:1 expects 300 of 400; a random pick stays within 240..360 (about 7 standard
        # deviations), a smooth weighted round robin gives exactly 300.
        self.assertTrue(240 <= counts["heavy"] <= 360, f"weights 3:1 over 400 requests: {counts}")


class LocalActionsTest(WaygateTestCase):
    """redirect and respond: answered by waygate itself, the upstream sees nothing."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("up")
        routes = [
            {"hosts": ["redirect.test"], "paths": [
                {"exact": "/r-default", "redirect": {"path": "/landing"}},
                {"exact": "/r-scheme", "redirect": {"scheme": "https"}},
                {"exact": "/r-host", "redirect": {"host": "new.test", "code": 302}},
                {"exact": "/r-port", "redirect": {"scheme": "https", "port": 8443, "code": 307}},
                {"exact": "/r-path", "redirect": {"path": "/landing", "code": 303}},
                {"prefix": "/old/", "redirect": {"prefix": "/new/", "code": 308}},
                {"exact": "/r-all", "redirect": {"scheme": "https", "host": "www.example.test",
                                                 "path": "/", "code": 308}},
            ]},
            {"hosts": ["respond.test"], "paths": [
                {"exact": "/healthz", "respond": {"status": 200, "body": "ok\n",
                                                  "headers": {"Content-Type": "text/plain"}}},
                {"exact": "/teapot", "respond": {"status": 418, "body": "short and stout",
                                                 "headers": {"X-A": "1", "X-B": "two"}}},
                {"exact": "/empty", "respond": {"status": 204}},
                {"exact": "/gone", "respond": {"status": 410}},
            ]},
            {"hosts": ["*"], "paths": [{"prefix": "/", "cluster": "up"}]},
        ]
        cls.wg = cls.start_proxy(cls.class_env, {"up": [cls.up.address]}, routes=routes,
                                 workers=1)

    def setUp(self):
        super().setUp()
        self.upstream_requests = self.up.stats()["requests"]

    def tearDown(self):
        self.assertEqual(self.up.stats()["requests"], self.upstream_requests,
                         "a local action reached the upstream")
        super().tearDown()

    def assertRedirect(self, target, code, location, host="redirect.test"):
        resp = self.get(self.wg.port, target, host=host)
        self.assertEqual(resp.status, code, resp)
        got = resp.header("location")
        self.assertIsNotNone(got, f"no Location header: {resp!r}")
        # A relative Location is resolved against the request URL, as a client would.
        self.assertEqual(urllib.parse.urljoin(f"http://{host}{target}", got), location,
                         f"GET http://{host}{target}: Location {got!r}")
        return resp

    def test_redirect_default_code_is_301(self):
        self.assertRedirect("/r-default", 301, "http://redirect.test/landing")

    def test_redirect_scheme_keeps_host_and_path(self):
        self.assertRedirect("/r-scheme", 301, "https://redirect.test/r-scheme")

    def test_redirect_host(self):
        self.assertRedirect("/r-host", 302, "http://new.test/r-host")

    def test_redirect_port(self):
        self.assertRedirect("/r-port", 307, "https://redirect.test:8443/r-port")

    def test_redirect_path_replaces_the_whole_path(self):
        self.assertRedirect("/r-path", 303, "http://redirect.test/landing")

    def test_redirect_prefix_replaces_the_matched_prefix(self):
        self.assertRedirect("/old/a/b", 308, "http://redirect.test/new/a/b")

    def test_redirect_keeps_the_query(self):
        self.assertRedirect("/old/a?x=1&y=two", 308, "http://redirect.test/new/a?x=1&y=two")
        self.assertRedirect("/r-path?q=1", 303, "http://redirect.test/landing?q=1")

    def test_redirect_scheme_host_and_path_together(self):
        self.assertRedirect("/r-all?k=v", 308, "https://www.example.test/?k=v")

    def test_redirect_keeps_the_connection_open(self):
        conn = self.connect(self.wg.port)
        for target in ("/r-path", "/old/x"):
            conn.send(request("GET", target, host="redirect.test"))
            resp = conn.read_response()
            self.assertIn(resp.status, (303, 308), resp)
            self.assertNotIn("close", resp.connection_tokens(), resp)

    def test_redirect_status_lines_have_standard_reasons(self):
        reasons = {"/r-default": (301, "Moved Permanently"), "/r-host": (302, "Found"),
                   "/r-path": (303, "See Other"), "/r-port": (307, "Temporary Redirect"),
                   "/old/x": (308, "Permanent Redirect")}
        for target, (code, reason) in reasons.items():
            resp = self.get(self.wg.port, target, host="redirect.test")
            self.assertEqual((resp.status, resp.reason), (code, reason), resp)

    def test_redirect_keeps_the_request_port(self):
        self.assertRedirect("/r-path?x=1", 303, "http://redirect.test:8080/landing?x=1",
                            host="redirect.test:8080")

    def test_request_body_of_a_local_answer_is_never_read_as_a_request(self):
        # The body looks like a request; a proxy that answers without reading the body must
        # close the connection rather than parse it as the next request.
        smuggled = request("GET", "/teapot", host="respond.test")
        for host, target in (("respond.test", "/healthz"), ("redirect.test", "/r-path"),
                             ("respond.test", "/no-such-path")):
            conn = self.connect(self.wg.port)
            conn.send(request("POST", target, host=host, body=smuggled)
                      + request("GET", "/empty", host="respond.test"))
            first = conn.read_response()
            self.assertIn(first.status, (200, 303, 404), first)
            if "close" in first.connection_tokens():
                self.assertTrue(conn.is_closed(), f"POST {host}{target}: open after close")
                continue
            second = conn.read_response()
            self.assertEqual(second.status, 204, f"POST {host}{target}: body taken for a "
                                                 f"request: {second!r}")

    def test_respond_status_body_and_headers(self):
        resp = self.get(self.wg.port, "/healthz", host="respond.test")
        self.assertEqual((resp.status, resp.body), (200, b"ok\n"), resp)
        self.assertEqual(resp.header("content-type"), "text/plain", resp)
        resp = self.get(self.wg.port, "/teapot", host="respond.test")
        self.assertEqual((resp.status, resp.body), (418, b"short and stout"), resp)
        self.assertEqual((resp.header("x-a"), resp.header("x-b")), ("1", "two"), resp)

    def test_respond_without_body(self):
        resp = self.get(self.wg.port, "/empty", host="respond.test")
        self.assertEqual((resp.status, resp.body), (204, b""), resp)
        resp = self.get(self.wg.port, "/gone", host="respond.test")
        self.assertEqual((resp.status, resp.body), (410, b""), resp)
        self.assertEqual(resp.header("content-length"), "0", resp)

    def test_respond_answers_head_without_body(self):
        resp = self.get(self.wg.port, "/healthz", host="respond.test", method="HEAD")
        self.assertEqual((resp.status, resp.body), (200, b""), resp)

    def test_respond_keeps_the_connection_open(self):
        conn = self.connect(self.wg.port)
        for _ in range(3):
            conn.send(request("GET", "/healthz", host="respond.test"))
            resp = conn.read_response()
            self.assertEqual((resp.status, resp.body), (200, b"ok\n"), resp)


class ForwardEditsTest(WaygateTestCase):
    """rewrite, request_headers and response_headers on forwarded requests."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("up")
        routes = [{"hosts": ["edit.test"], "paths": [
            {"prefix": "/v1/", "cluster": "up", "rewrite": {"prefix": "/"}},
            {"prefix": "/api", "cluster": "up", "rewrite": {"prefix": "/internal"}},
            {"prefix": "/seg", "segments": True, "cluster": "up",
             "rewrite": {"prefix": "/inner"}},
            {"prefix": "/h/", "cluster": "up", "rewrite": {"host": "api.internal"}},
            {"prefix": "/both/", "cluster": "up",
             "rewrite": {"prefix": "/", "host": "api.internal"}},
            {"prefix": "/reqh/", "cluster": "up",
             "request_headers": {"add": {"X-Env": "prod", "X-Route": "reqh"},
                                 "remove": ["X-Debug", "x-secret"]}},
            {"prefix": "/resph/", "cluster": "up",
             "response_headers": {"add": {"Cache-Control": "no-store",
                                          "X-Served-By": "waygate"},
                                  "remove": ["X-Upstream-Name", "set-cookie"]}},
            {"prefix": "/", "cluster": "up"},
        ]}]
        cls.wg = cls.start_proxy(cls.class_env, {"up": [cls.up.address]}, routes=routes,
                                 workers=1)

    def upstream_view(self, target, headers=(), host="edit.test"):
        """What the upstream received: (target, {lower name: [values]})."""
        resp = self.get(self.wg.port, target, host=host, headers=headers)
        self.assertEqual(resp.status, 200, resp)
        seen = resp.json()
        by_name = {}
        for name, value in seen["headers"]:
            by_name.setdefault(name.lower(), []).append(value)
        return seen["target"], by_name

    def test_rewrite_prefix_replaces_the_matched_prefix(self):
        self.assertEqual(self.upstream_view("/v1/users/headers?x=1")[0], "/users/headers?x=1")
        self.assertEqual(self.upstream_view("/api/headers")[0], "/internal/headers")
        self.assertEqual(self.upstream_view("/apiary/headers")[0], "/internalary/headers")

    def test_rewrite_prefix_of_a_segment_prefix(self):
        self.assertEqual(self.upstream_view("/seg/a/headers")[0], "/inner/a/headers")

    def test_path_without_rewrite_is_forwarded_unchanged(self):
        self.assertEqual(self.upstream_view("/plain/headers?a=b")[0], "/plain/headers?a=b")

    def test_rewrite_host_replaces_host_and_keeps_original_in_x_forwarded_host(self):
        target, seen = self.upstream_view("/h/headers", host="Edit.Test:8080")
        self.assertEqual(target, "/h/headers")
        self.assertEqual(seen.get("host"), ["api.internal"])
        self.assertEqual(seen.get("x-forwarded-host"), ["Edit.Test:8080"])

    def test_rewrite_prefix_and_host_together(self):
        target, seen = self.upstream_view("/both/x/headers?q=1")
        self.assertEqual(target, "/x/headers?q=1")
        self.assertEqual(seen.get("host"), ["api.internal"])
        self.assertEqual(seen.get("x-forwarded-host"), ["edit.test"])

    def test_request_headers_add(self):
        _, seen = self.upstream_view("/reqh/headers")
        self.assertEqual(seen.get("x-env"), ["prod"])
        self.assertEqual(seen.get("x-route"), ["reqh"])

    def test_request_headers_remove_any_case(self):
        _, seen = self.upstream_view("/reqh/headers", headers=[
            ("X-Debug", "1"), ("x-debug", "2"), ("X-SECRET", "s"), ("X-Kept", "k")])
        self.assertNotIn("x-debug", seen)
        self.assertNotIn("x-secret", seen)
        self.assertEqual(seen.get("x-kept"), ["k"])

    def test_request_headers_apply_only_to_their_route(self):
        _, seen = self.upstream_view("/other/headers", headers=[("X-Debug", "1")])
        self.assertNotIn("x-env", seen)
        self.assertEqual(seen.get("x-debug"), ["1"])

    def test_response_headers_add(self):
        resp = self.get(self.wg.port, "/resph/x", host="edit.test")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.header_values("cache-control"), ["no-store"], resp)
        self.assertEqual(resp.header("x-served-by"), "waygate", resp)
        self.assertEqual(resp.body, b"up GET /resph/x\n")

    def test_response_headers_remove_every_value(self):
        resp = self.get(self.wg.port, "/resph/set-cookies", host="edit.test")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.header_values("x-upstream-name"), [], resp)
        self.assertEqual(resp.header_values("set-cookie"), [], resp)
        self.assertEqual(resp.body, b"cookies\n")

    def test_response_headers_apply_only_to_their_route(self):
        resp = self.get(self.wg.port, "/other/set-cookies", host="edit.test")
        self.assertEqual(resp.header("x-upstream-name"), "up", resp)
        self.assertEqual(len(resp.header_values("set-cookie")), 2, resp)
        self.assertIsNone(resp.header("x-served-by"), resp)


class RouteLimitsTest(WaygateTestCase):
    """timeout and max_body_bytes per route, in both directions against the global value."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("up")
        routes = [{"hosts": ["*"], "paths": [
            {"prefix": "/short/", "cluster": "up", "timeout": "300ms"},
            {"prefix": "/long/", "cluster": "up", "timeout": "20s"},
            {"prefix": "/small/", "cluster": "up", "max_body_bytes": "1KiB"},
            {"prefix": "/big/", "cluster": "up", "max_body_bytes": "1MiB"},
            {"prefix": "/", "cluster": "up"},
        ]}]
        cls.wg = cls.start_proxy(cls.class_env, {"up": [cls.up.address]}, routes=routes,
                                 timeouts={"upstream_response": "2s"},
                                 limits={"max_body_bytes": 4096})

    def test_shorter_route_timeout_is_504(self):
        resp = self.get(self.wg.port, "/short/slow?delay=1.5")
        self.assertErrorResponse(resp, 504)
        self.wg.wait_for_log(r'"GET /short/slow\?delay=1\.5 HTTP/1\.1" 504 .*upstream-timeout')

    def test_longer_route_timeout_lets_slow_upstream_answer(self):
        resp = self.get(self.wg.port, "/long/slow?delay=3")
        self.assertEqual((resp.status, resp.body), (200, b"up GET /long/slow?delay=3\n"), resp)

    def test_global_timeout_applies_without_route_timeout(self):
        self.assertErrorResponse(self.get(self.wg.port, "/slow?delay=3"), 504)

    def test_route_body_limit_smaller_than_global_is_413(self):
        resp = self.get(self.wg.port, "/small/echo", method="POST", body=b"x" * 1025)
        self.assertErrorResponse(resp, 413)

    def test_route_body_limit_allows_body_at_the_limit(self):
        resp = self.get(self.wg.port, "/small/echo", method="POST", body=b"y" * 1024)
        self.assertEqual((resp.status, resp.body), (200, b"y" * 1024), resp)

    def test_route_body_limit_applies_to_chunked_bodies(self):
        resp = self.get(self.wg.port, "/small/echo", method="POST",
                        headers=[("Transfer-Encoding", "chunked")],
                        body=chunked(b"a" * 1000, b"b" * 1000))
        self.assertErrorResponse(resp, 413)

    def test_route_body_limit_larger_than_global(self):
        body = b"z" * 100_000
        resp = self.get(self.wg.port, "/big/echo", method="POST", body=body)
        self.assertEqual((resp.status, resp.body_length), (200, len(body)), resp)

    def test_global_body_limit_applies_without_route_limit(self):
        resp = self.get(self.wg.port, "/echo", method="POST", body=b"x" * 5000)
        self.assertErrorResponse(resp, 413)


# -- waygate --check ------------------------------------------------------------------------------

# A valid config; each case below adds a snippet to one of its sections. Lines ending in "#!"
# are where the case's error is; a message on any of them counts.
CHECK_BASE = """\
workers: 1
listeners:
  - name: web
    address: 127.0.0.1:18080
{listeners}routes:
  - hosts: ["ok.test"]
    paths:
      - prefix: /
        cluster: up
{routes}clusters:
  - name: up
    endpoints: ["127.0.0.1:9"]
{clusters}"""


def _route(host, *path_lines):
    return "\n".join([f'  - hosts: ["{host}"]', "    paths:",
                      *("      " + line for line in path_lines)]) + "\n"


CHECK_CASES = {
    "unknown_key": ("routes", _route("k.test", "- prefix: /", "  colour: red  #!",
                                     "  cluster: up")),
    "wrong_type": ("routes", _route("t.test", "- prefix: /", "  segments: [true]  #!",
                                    "  cluster: up")),
    "bad_duration": ("routes", _route("d.test", "- prefix: /", "  timeout: 5 parsecs  #!",
                                      "  cluster: up")),
    "unknown_cluster": ("routes", _route("u.test", "- prefix: /", "  cluster: nowhere  #!")),
    "unknown_weighted_cluster": ("routes", _route(
        "w.test", "- prefix: /",
        "  clusters: [ { name: up, weight: 1 }, { name: elsewhere, weight: 1 } ]  #!")),
    "zero_weight": ("routes", _route("z.test", "- prefix: /",
                                     "  clusters: [ { name: up, weight: 0 } ]  #!")),
    "duplicate_cluster": ("clusters", '  - name: up  #!\n    endpoints: ["127.0.0.1:10"]\n'),
    "duplicate_listener": ("listeners", "  - name: web  #!\n    address: 127.0.0.1:18081\n"),
    "duplicate_host": ("routes", '  - hosts: ["ok.test"]  #!\n    paths:\n'
                                 "      - prefix: /\n        cluster: up\n"),
    "invalid_path_regex": ("routes", _route("r.test", '- regex: "/users/(["  #!',
                                            "  cluster: up")),
    "invalid_header_regex": ("routes", _route("hr.test", "- prefix: /", "  headers:",
                                              '    - { name: x-a, regex: "a(" }  #!',
                                              "  cluster: up")),
    "cluster_and_redirect": ("routes", _route("c.test", "- prefix: /  #!", "  cluster: up  #!",
                                              "  redirect: { path: / }  #!")),
    "redirect_and_respond": ("routes", _route("c2.test", "- prefix: /  #!",
                                              "  redirect: { path: / }  #!",
                                              "  respond: { status: 200 }  #!")),
    "no_action": ("routes", _route("n.test", "- prefix: /  #!", "  timeout: 1s  #!")),
    "prefix_and_exact": ("routes", _route("pe.test", "- prefix: /  #!", "  exact: /x  #!",
                                          "  cluster: up")),
    "header_exact_and_regex": ("routes", _route(
        "he.test", "- prefix: /", "  headers:",
        '    - { name: x-a, exact: a, regex: "^a$" }  #!', "  cluster: up")),
    "bad_redirect_code": ("routes", _route("rc.test", "- prefix: /",
                                           "  redirect: { path: /, code: 200 }  #!")),
}


def check_config(cases):
    """The config text with the given cases, and {case: set of marked line numbers}."""
    parts = {"listeners": "", "routes": "", "clusters": ""}
    for name in cases:
        section, snippet = CHECK_CASES[name]
        parts[section] += snippet.replace("#!", f"#! {name}")
    text = CHECK_BASE.format(**parts)
    marked = collections.defaultdict(set)
    for number, line in enumerate(text.splitlines(), 1):
        m = re.search(r"#! (\w+)$", line)
        if m:
            marked[m.group(1)].add(number)
    return text, dict(marked)


class CheckTest(unittest.TestCase):
    """`waygate --check FILE`: exit 1 and FILE:LINE:COL for every problem, in one run."""

    @classmethod
    def setUpClass(cls):
        if not os.access(WAYGATE_BIN, os.X_OK):
            raise unittest.SkipTest(f"waygate binary not found at {WAYGATE_BIN}")

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="waygate-check-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def check(self, text):
        """(exit code, output, {line: [(col, message)]}) of waygate --check on text."""
        out = harness.check_config(self.dir, text)
        path = os.path.join(self.dir, "check.yaml")
        output = out.stdout + out.stderr
        found = collections.defaultdict(list)
        for m in re.finditer(rf"^{re.escape(path)}:(\d+):(\d+): ?(.*)$", output, re.M):
            found[int(m.group(1))].append((int(m.group(2)), m.group(3)))
        numbered = "\n".join(f"{i:3} {l}" for i, l in enumerate(text.splitlines(), 1))
        return out.returncode, f"{output}\nconfig:\n{numbered}", found

    def assertReported(self, cases):
        text, marked = check_config(cases)
        code, output, found = self.check(text)
        self.assertEqual(code, 1, output)
        missing = [name for name in cases if not marked[name] & set(found)]
        self.assertEqual(missing, [], f"no FILE:LINE:COL message on the marked lines of "
                                      f"{missing}; output:\n{output}")
        for line, messages in found.items():
            for col, message in messages:
                self.assertGreaterEqual(col, 1, f"1-based column on line {line}: {message}")
        return found, marked

    def test_base_config_is_valid(self):
        code, output, _ = self.check(check_config([])[0])
        self.assertEqual(code, 0, output)

    def test_every_problem_is_reported_in_one_run(self):
        self.assertReported(list(CHECK_CASES))

    def test_unknown_key_points_at_the_key(self):
        found, marked = self.assertReported(["unknown_key"])
        line = min(marked["unknown_key"])
        self.assertIn(9, [col for col, _ in found[line]], f"'colour' is at column 9: {found}")
        self.assertTrue(any("colour" in message for _, message in found[line]), found)

    def test_wrong_type(self):
        self.assertReported(["wrong_type"])

    def test_bad_duration(self):
        self.assertReported(["bad_duration"])

    def test_unknown_cluster(self):
        found, marked = self.assertReported(["unknown_cluster"])
        line = min(marked["unknown_cluster"])
        self.assertTrue(any("nowhere" in message for _, message in found[line]), found)

    def test_unknown_cluster_in_weighted_clusters(self):
        self.assertReported(["unknown_weighted_cluster"])

    def test_zero_weight(self):
        self.assertReported(["zero_weight"])

    def test_duplicate_cluster_name(self):
        self.assertReported(["duplicate_cluster"])

    def test_duplicate_listener_name(self):
        self.assertReported(["duplicate_listener"])

    def test_host_in_two_route_entries(self):
        self.assertReported(["duplicate_host"])

    def test_invalid_path_regex(self):
        self.assertReported(["invalid_path_regex"])

    def test_invalid_header_regex(self):
        self.assertReported(["invalid_header_regex"])

    def test_cluster_and_redirect_conflict(self):
        self.assertReported(["cluster_and_redirect"])

    def test_redirect_and_respond_conflict(self):
        self.assertReported(["redirect_and_respond"])

    def test_path_without_action(self):
        self.assertReported(["no_action"])

    def test_prefix_and_exact_conflict(self):
        self.assertReported(["prefix_and_exact"])

    def test_header_matcher_with_exact_and_regex(self):
        self.assertReported(["header_exact_and_regex"])

    def test_bad_redirect_code(self):
        self.assertReported(["bad_redirect_code"])

    def test_yaml_syntax_error_has_a_position(self):
        text = check_config([])[0].replace('hosts: ["ok.test"]', 'hosts: ["ok.test"')
        line = next(i for i, l in enumerate(text.splitlines(), 1) if '"ok.test"' in l)
        code, output, found = self.check(text)
        self.assertEqual(code, 1, output)
        self.assertTrue(found, f"no FILE:LINE:COL message; output:\n{output}")
        self.assertTrue(any(line <= n <= line + 4 for n in found),
                        f"the YAML error should point near line {line}; output:\n{output}")


if __name__ == "__main__":
    unittest.main()
