"""The admin API's JSON endpoints (docs/config.md, "Admin API"), checked against the test's config,
its discovery sources and its health checks: GET /routes, /clusters, /config, /reloads, /live, and
POST /drain; and admin.token, without which nothing but the dashboard's pages is answered.

Changes (a discovery file rewritten, an upstream killed, a request held at its upstream) are waited
for by polling the JSON with a bounded deadline, never by sleeping.
"""

import json
import os
import re
import tempfile
import threading
import unittest

from harness import (HOST, WAYGATE_BIN, WaygateTestCase, admin_request, check_config, free_port,
                     port_accepts, proxy_config, wait_until)

POLL_TIMEOUT = 10.0  # a failure guard for "the change shows", not a timing expectation
TOKEN = "admin-test-token-5f0c2e"
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

ROUTES = [
    {"hosts": ["api.example.com"], "paths": [
        {"prefix": "/v1/", "cluster": "api"},
        {"exact": "/healthz", "respond": {"status": 200, "body": "ok\n"}},
        {"regex": "^/r/[0-9]+$", "cluster": "api"},
    ]},
    {"hosts": ["*.example.com"], "paths": [
        {"prefix": "/", "clusters": [{"name": "api", "weight": 90}, {"name": "web", "weight": 10}]},
    ]},
    {"hosts": ["*"], "paths": [
        {"prefix": "/", "redirect": {"scheme": "https", "code": 308}},
    ]},
]


def http_check():
    """A quick HTTP check of /healthz: every 300 ms, two results in a row turn the verdict."""
    return {"http": {"path": "/healthz"}, "interval": "300ms", "timeout": "300ms",
            "healthy_threshold": 2, "unhealthy_threshold": 2}


class AdminApiTestCase(WaygateTestCase):

    def start(self, clusters, routes=None, token=None, workers=1):
        self.admin_port = free_port()
        admin = {"address": f"{HOST}:{self.admin_port}"}
        if token:
            admin["token"] = token
        self.token = token
        self.port = free_port()
        text = proxy_config(self.port, clusters, routes=routes, workers=workers,
                            top={"admin": admin})
        self.wg = self.env.waygate(text, self.port)
        wait_until(lambda: port_accepts(self.admin_port), message="the admin address to accept")

    def admin(self, method, path, token=None):
        """A request to the admin address, with the test's token unless another is given ("" for
        none)."""
        token = self.token if token is None else token
        headers = [("Authorization", f"Bearer {token}")] if token else []
        return admin_request(self.admin_port, method, path, headers=headers)

    def get_json(self, path):
        resp = self.admin("GET", path)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.header("content-type"), "application/json", resp)
        self.assertEqual(resp.header("cache-control"), "no-store", resp)
        return json.loads(resp.body.decode("utf-8"))

    def clusters(self):
        return {c["name"]: c for c in self.get_json("/clusters")["clusters"]}

    def endpoints(self, cluster):
        return {e["address"]: e for e in self.clusters()[cluster]["endpoints"]}

    def wait_for_endpoints(self, cluster, predicate, message):
        """Polls /clusters until predicate(endpoints by address) holds; returns those
        endpoints."""
        last = {}

        def check():
            last["endpoints"] = self.endpoints(cluster)
            return predicate(last["endpoints"])
        try:
            wait_until(check, POLL_TIMEOUT, 0.05, message)
        except AssertionError:
            raise AssertionError(f"waited {POLL_TIMEOUT}s for {message}; cluster {cluster} "
                                 f"has {json.dumps(last.get('endpoints'), indent=1)}")
        return last["endpoints"]


class RoutesTest(AdminApiTestCase):

    def test_routes_lists_every_route_in_config_order(self):
        """GET /routes lists each route's hosts and paths as the config orders them: match kind,
        value and the one action each path has (cluster, clusters, respond, redirect)."""
        api, web = self.env.upstream("api"), self.env.upstream("web")
        self.start({"api": [api.address], "web": [web.address]}, routes=ROUTES)
        routes = self.get_json("/routes")["routes"]
        self.assertEqual([r["hosts"] for r in routes],
                         [["api.example.com"], ["*.example.com"], ["*"]])
        paths = [[{k: v for k, v in p.items()
                   if k in ("match", "value", "cluster", "clusters", "respond", "redirect")}
                  for p in route["paths"]] for route in routes]
        self.assertEqual(paths, [
            [{"match": "prefix", "value": "/v1/", "cluster": "api"},
             {"match": "exact", "value": "/healthz",
              "respond": {"status": 200, "body": "ok\n", "headers": {}}},
             {"match": "regex", "value": "^/r/[0-9]+$", "cluster": "api"}],
            [{"match": "prefix", "value": "/",
              "clusters": [{"name": "api", "weight": 90}, {"name": "web", "weight": 10}]}],
            [{"match": "prefix", "value": "/", "redirect": {"scheme": "https", "code": 308}}],
        ])


class ClustersTest(AdminApiTestCase):

    def test_clusters_lists_every_cluster_with_its_endpoints(self):
        """GET /clusters lists each cluster of the config in order, with its policy, its health
        check and its listed endpoints: healthy, weight 1, from the static source."""
        a, b, c = (self.env.upstream(n) for n in "ABC")
        self.start({"api": {"endpoints": [a.address, b.address], "lb": "least_request",
                            "health_check": http_check()},
                    "web": [c.address]}, routes=ROUTES)
        clusters = self.get_json("/clusters")["clusters"]
        self.assertEqual([c["name"] for c in clusters], ["api", "web"])
        api, web = clusters
        self.assertEqual((api["lb"], api["total"], api["healthy"], api["panic"], api["sources"]),
                         ("least_request", 2, 2, False, ["static"]))
        self.assertEqual(api["health_check"]["kind"], "http")
        self.assertEqual(api["health_check"]["path"], "/healthz")
        self.assertEqual(api["health_check"]["interval_ms"], 300)
        self.assertEqual((web["lb"], web["total"], web["health_check"]), ("round_robin", 1, None))
        self.assertEqual(api["endpoints"], [
            {"address": up.address, "weight": 1, "health": "healthy", "healthy": True,
             "source": "static", "active_requests": 0} for up in (a, b)])
        self.assertEqual([e["address"] for e in web["endpoints"]], [c.address])

    def test_endpoint_failing_its_health_check_turns_unhealthy(self):
        """An endpoint whose upstream is killed turns "unhealthy" (healthy false) in /clusters
        once its checks fail, and the cluster's healthy count drops; the other stays healthy."""
        a, b = self.env.upstream("A"), self.env.upstream("B")
        self.start({"api": {"endpoints": [a.address, b.address], "health_check": http_check()}})
        self.wait_for_endpoints("api", lambda e: e[b.address]["health"] == "healthy",
                                "B to be healthy")
        b.kill()
        endpoints = self.wait_for_endpoints("api", lambda e: e[b.address]["health"] != "healthy",
                                            "B to leave the healthy state")
        self.assertEqual(endpoints[b.address]["health"], "unhealthy")
        self.assertFalse(endpoints[b.address]["healthy"])
        self.assertEqual(endpoints[a.address]["health"], "healthy")
        self.assertEqual(self.clusters()["api"]["healthy"], 1)

    def test_file_source_endpoints_come_and_go_with_the_file(self):
        """An endpoint listed in a discovery file shows with source "file" beside the static
        one, and leaves /clusters when the file no longer lists it."""
        a, b, c = (self.env.upstream(n) for n in "ABC")
        path = os.path.join(self.env.dir, "web-endpoints.yaml")

        def write(*ups):
            with open(path, "w") as f:
                f.write("".join(f"- address: {up.host}\n  port: {up.port}\n" for up in ups))
        write(b)
        self.start({"web": {"endpoints": [a.address], "discovery": {"file": {"path": path}}}})
        self.assertEqual(self.clusters()["web"]["sources"], ["static", f"file:{path}"])
        endpoints = self.wait_for_endpoints("web", lambda e: b.address in e, "B from the file")
        self.assertEqual(endpoints[b.address]["source"], "file")
        self.assertEqual(endpoints[a.address]["source"], "static")
        write(c)
        endpoints = self.wait_for_endpoints(
            "web", lambda e: c.address in e and b.address not in e, "C to replace B")
        self.assertEqual(sorted(endpoints), sorted([a.address, c.address]))
        self.assertEqual(endpoints[c.address]["source"], "file")

    def test_active_requests_counts_requests_in_flight(self):
        """A request held at its upstream counts 1 in its endpoint's active_requests (summed over
        the workers), and 0 once it has been answered."""
        a = self.env.upstream("A")
        a.set(action="hold")
        self.start({"app": [a.address]}, workers=2)
        answers = []
        sender = threading.Thread(target=lambda: answers.append(self.get(self.port, "/held")),
                                  daemon=True)
        sender.start()
        self.wait_for_endpoints("app", lambda e: e[a.address]["active_requests"] == 1,
                                "the held request to count")
        a.release()
        sender.join(POLL_TIMEOUT)
        self.assertEqual([r.status for r in answers], [200])
        self.wait_for_endpoints("app", lambda e: e[a.address]["active_requests"] == 0,
                                "the answered request to stop counting")


class ConfigTest(AdminApiTestCase):

    def test_config_shows_defaults_and_never_the_token(self):
        """GET /config shows the config in force with defaults filled in (timeouts in ms,
        limits), its absolute path and load time, every listener, route and cluster, and the
        token as "<redacted>": neither the token nor a wrong one sent appears there or in the
        log."""
        a = self.env.upstream("A")
        self.start({"api": [a.address], "web": [a.address]}, routes=ROUTES, token=TOKEN)
        self.assertEqual(self.admin("GET", "/config", token=TOKEN[:-1]).status, 401)
        resp = self.admin("GET", "/config")
        self.assertEqual(resp.status, 200, resp)
        self.assertNotIn(TOKEN.encode(), resp.body)
        page = json.loads(resp.body)
        self.assertEqual(page["path"], os.path.abspath(self.wg.config_path))
        self.assertRegex(page["loaded_at"], RFC3339_UTC)
        config = page["config"]
        self.assertEqual(config["admin"]["token"], "<redacted>")
        self.assertEqual(config["admin"]["address"], f"{HOST}:{self.admin_port}")
        self.assertEqual(config["workers"], 1)
        self.assertEqual(config["timeouts"]["header_read_ms"], 10000)
        self.assertEqual(config["timeouts"]["drain_ms"], 30000)
        self.assertEqual(config["limits"]["max_header_bytes"], 32 * 1024)
        self.assertEqual(config["limits"]["max_request_headers"], 100)
        self.assertEqual([(l["name"], l["address"]) for l in config["listeners"]],
                         [("web", f"{HOST}:{self.port}")])
        self.assertEqual([r["hosts"] for r in config["routes"]],
                         [r["hosts"] for r in ROUTES])
        self.assertEqual([c["name"] for c in config["clusters"]], ["api", "web"])
        self.assertEqual(config["clusters"][0]["lb"], "round_robin")
        self.assertEqual(config["clusters"][0]["outlier_detection"]["consecutive_connect_failures"],
                         3)
        # Neither the token nor the near miss sent above is logged.
        self.assertNotIn(TOKEN[:-1], self.wg.stderr_text())


class AuthTest(AdminApiTestCase):

    def setUp(self):
        super().setUp()
        self.up = self.env.upstream("A")
        self.start({"app": [self.up.address]}, token=TOKEN)

    def assertUnauthorized(self, resp):
        self.assertEqual(resp.status, 401, resp)
        self.assertEqual(resp.header("www-authenticate"), 'Bearer realm="waygate"', resp)
        self.assertEqual(json.loads(resp.body), {"error": "unauthorized"})

    def test_requests_without_the_token_are_refused(self):
        """With a token set, every endpoint answers 401 without it, and nothing happens: a
        POST /drain without it leaves waygate serving."""
        for method, path in (("GET", "/clusters"), ("GET", "/routes"), ("GET", "/config"),
                             ("GET", "/reloads"), ("GET", "/metrics"), ("POST", "/reload"), ("POST", "/drain"),
                             ("GET", "/no-such-page")):
            with self.subTest(method=method, path=path):
                self.assertUnauthorized(self.admin(method, path, token=""))
        self.assertEqual(self.admin("GET", "/ready").status, 200)
        self.assertTrue(self.wg.running())

    def test_a_wrong_token_is_refused(self):
        """A token that differs from the configured one (shorter, longer, another case) is
        refused with 401."""
        for wrong in (TOKEN[:-1], TOKEN + "0", TOKEN.upper(), "x"):
            with self.subTest(token=wrong):
                self.assertUnauthorized(self.admin("GET", "/clusters", token=wrong))

    def test_the_token_is_accepted(self):
        """With the token as a bearer token, the JSON endpoints answer 200."""
        for path in ("/clusters", "/routes", "/config", "/reloads", "/live"):
            with self.subTest(path=path):
                self.assertEqual(self.admin("GET", path).status, 200)

    def test_dashboard_pages_need_no_token(self):
        """GET / (the dashboard's page, which holds no data) is never refused for want of a
        token."""
        self.assertNotEqual(self.admin("GET", "/", token="").status, 401)

    def test_probes_need_no_token(self):
        """GET /ready and /live answer a kubelet's or a load balancer's probe, which has no
        secret to send; they tell nothing but whether waygate is up."""
        self.assertEqual(self.admin("GET", "/ready", token="").status, 200)
        self.assertEqual(self.admin("GET", "/live", token="").status, 200)


class CheckTest(unittest.TestCase):

    def check(self, admin):
        if not os.access(WAYGATE_BIN, os.X_OK):
            self.skipTest(f"waygate binary not found at {WAYGATE_BIN}")
        text = proxy_config(free_port(), {"up": ["127.0.0.1:9"]}, top={"admin": admin})
        tmp = self.enterContext(tempfile.TemporaryDirectory(prefix="waygate-admin-"))
        out = check_config(tmp, text, "waygate.yaml")
        return text, os.path.join(tmp, "waygate.yaml"), out

    def test_check_refuses_admin_off_loopback_without_a_token(self):
        """waygate --check refuses admin.address 0.0.0.0 without a token, at the address's
        FILE:LINE:COL, naming admin.token."""
        text, path, out = self.check({"address": "0.0.0.0:9901"})
        line = next(i for i, l in enumerate(text.splitlines(), 1) if "0.0.0.0:9901" in l)
        self.assertEqual(out.returncode, 1, out)
        self.assertRegex(out.stderr, rf"{re.escape(path)}:{line}:\d+: .*not loopback.*admin\.token")

    def test_check_accepts_admin_off_loopback_with_a_token(self):
        """The same address with admin.token set passes --check."""
        _, _, out = self.check({"address": "0.0.0.0:9901", "token": TOKEN})
        self.assertEqual(out.returncode, 0, out)
        self.assertNotIn(TOKEN, out.stdout + out.stderr)


class ReloadsTest(AdminApiTestCase):

    def test_reloads_records_refused_and_applied_reloads_newest_first(self):
        """A broken config written to the file and then a good one show in /reloads, newest
        first: applied, then refused with the error's FILE:LINE:COL; both triggered by the file,
        with a time and a duration."""
        a = self.env.upstream("A")
        self.start({"app": [a.address]})
        self.assertEqual(self.get_json("/reloads"), {"reloads": []})
        with open(self.wg.config_path) as f:
            good = f.read()
        self.wg.write_config(good + "nonsense: [\n")
        wait_until(lambda: len(self.get_json("/reloads")["reloads"]) == 1, POLL_TIMEOUT, 0.05,
                   "the refused reload")
        self.wg.write_config(good + "# changed\n")
        wait_until(lambda: len(self.get_json("/reloads")["reloads"]) == 2, POLL_TIMEOUT, 0.05,
                   "the applied reload")
        applied, refused = self.get_json("/reloads")["reloads"]
        self.assertEqual((applied["result"], applied["trigger"]), ("applied", "file"))
        self.assertEqual((refused["result"], refused["trigger"]), ("refused", "file"))
        self.assertRegex(refused["message"], rf"^{re.escape(self.wg.config_path)}:\d+:\d+: ")
        for entry in (applied, refused):
            self.assertRegex(entry["time"], RFC3339_UTC)
            self.assertIsInstance(entry["duration_ms"], (int, float))
            self.assertGreaterEqual(entry["duration_ms"], 0)


class LiveAndDrainTest(AdminApiTestCase):

    def test_live_answers_while_workers_run(self):
        """GET /live answers 200 {"live": true} with no stuck worker."""
        a = self.env.upstream("A")
        self.start({"app": [a.address]}, workers=2)
        self.assertEqual(self.get_json("/live"), {"live": True, "stuck_workers": []})

    def test_drain_answers_202_finishes_in_flight_requests_and_exits_0(self):
        """POST /drain answers 202 {"draining": true}; /ready then answers 503 while a request
        held at its upstream is in flight; once released, that request gets its 200 and waygate
        exits 0."""
        a = self.env.upstream("A")
        a.set(action="hold")
        self.start({"app": [a.address]}, token=TOKEN)
        answers = []
        sender = threading.Thread(target=lambda: answers.append(self.get(self.port, "/held")),
                                  daemon=True)
        sender.start()
        wait_until(lambda: a.stats()["held"] == 1, POLL_TIMEOUT, 0.02, "the request to be held")
        resp = self.admin("POST", "/drain")
        self.assertEqual(resp.status, 202, resp)
        self.assertEqual(json.loads(resp.body), {"draining": True})
        ready = self.admin("GET", "/ready")
        self.assertEqual((ready.status, ready.body), (503, b"draining\n"))
        self.assertTrue(self.wg.running())
        a.release()
        sender.join(POLL_TIMEOUT)
        self.assertEqual([r.status for r in answers], [200])
        self.assertEqual(self.wg.wait(), 0)

    def test_get_drain_is_405(self):
        """GET /drain answers 405 with Allow: POST and leaves waygate serving."""
        a = self.env.upstream("A")
        self.start({"app": [a.address]})
        resp = self.admin("GET", "/drain")
        self.assertEqual(resp.status, 405, resp)
        self.assertEqual(resp.header("allow"), "POST")
        self.assertEqual(self.admin("GET", "/ready").status, 200)


if __name__ == "__main__":
    unittest.main()
