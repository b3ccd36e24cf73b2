"""The dashboard in headless Chromium: waygate (tests/integration/harness.py) with real upstreams
and HTTP health checks, and dashboard_test.mjs (playwright-core) driving Debian's chromium against
its admin address. See README.md here.

Run through ctest (`ctest --test-dir build -R dashboard`), or directly:
  WAYGATE_BIN=build/src/waygate python3 tests/browser/test_dashboard.py
Without chromium the test is skipped (exit 77, which ctest reports as skipped); everything else
that is missing (node, playwright-core) fails it.
"""

import json
import os
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import HOST, WaygateTestCase, free_port, port_accepts, proxy_config, wait_until  # noqa: E402

CHROMIUM = os.environ.get("WAYGATE_TEST_CHROMIUM", "/usr/bin/chromium")
NODE = os.environ.get("WAYGATE_TEST_NODE") or shutil.which("node") or "node"
SCREENSHOT = os.environ.get("WAYGATE_TEST_SCREENSHOT")  # a path: the test saves the page there
# Routes in the large-table test: a hundred times what the page draws, and few enough that an ASan
# waygate on a loaded machine loads them within the harness's start timeout (100,000 take about
# 12 s there); WAYGATE_TEST_DASHBOARD_ROUTES=100000 runs the full size.
MANY_ROUTES = int(os.environ.get("WAYGATE_TEST_DASHBOARD_ROUTES", "30000"))
SKIP_EXIT_CODE = 77  # ctest's SKIP_RETURN_CODE for this test
NODE_TIMEOUT = 300.0  # a hung browser fails the test instead of holding ctest

# Health checks: every 500 ms, two failures turn an endpoint unhealthy.
CHECK = {"interval_ms": 500, "timeout_ms": 300, "unhealthy_threshold": 2}
DASHBOARD_REFRESH_MS = 1000  # how often the page reads /clusters (dashboard.js)
# A killed endpoint is unhealthy after unhealthy_threshold checks, each at most interval + timeout
# apart; the page shows it after its next read of /clusters, at most two refreshes later (one
# may be in flight). The slack is for a shared, loaded machine (and ASan), not a timing claim.
SLACK_MS = 5000
UNHEALTHY_DEADLINE_MS = (CHECK["unhealthy_threshold"] * (CHECK["interval_ms"] + CHECK["timeout_ms"])
                         + 2 * DASHBOARD_REFRESH_MS + SLACK_MS)


def chromium_missing():
    if os.access(CHROMIUM, os.X_OK):
        return None
    return (f"SKIPPED: chromium not found at {CHROMIUM} (Debian: chromium, which "
            f"scripts/install-deps.sh installs; or set WAYGATE_TEST_CHROMIUM)")


def health_check(kind):
    check = {"interval": f"{CHECK['interval_ms']}ms", "timeout": f"{CHECK['timeout_ms']}ms",
             "healthy_threshold": 1, "unhealthy_threshold": CHECK["unhealthy_threshold"]}
    check.update({"http": {"path": "/healthz"}} if kind == "http" else {"tcp": {}})
    return check


class DashboardTest(WaygateTestCase):

    def setUp(self):
        missing = chromium_missing()
        if missing:
            self.skipTest(missing)
        playwright = os.path.join(HERE, "node_modules", "playwright-core")
        self.assertTrue(os.path.isdir(playwright),
                        f"{playwright} is missing: run `npm ci` in {HERE} "
                        "(scripts/install-deps.sh does)")
        super().setUp()

    def test_dashboard_shows_config_traffic_reloads_and_health(self):
        """The page loads without console errors or failed requests; shows every route and
        cluster of the config; shows traffic as a non-zero rate and an admin reload; and shows a
        killed endpoint unhealthy within a deadline derived from its health check."""
        a, b, c, d, e = (self.env.upstream(name) for name in "ABCDE")
        clusters = {
            "app": {"endpoints": [a.address, b.address, c.address],
                    "health_check": health_check("http")},
            "api": {"endpoints": [d.address], "lb": "least_request",
                    "health_check": health_check("tcp")},
            "canary": {"endpoints": [e.address], "health_check": health_check("http")},
        }
        routes = [
            {"hosts": ["app.test", "www.app.test"], "paths": [
                {"prefix": "/api/", "cluster": "api"},
                {"exact": "/healthz", "respond": {"status": 200, "body": "ok\n"}},
                {"prefix": "/", "cluster": "app"}]},
            {"hosts": ["*.canary.test"], "paths": [
                {"prefix": "/", "clusters": [{"name": "app", "weight": 90},
                                             {"name": "canary", "weight": 10}]}]},
            {"hosts": ["old.test"], "paths": [
                {"regex": "^/v[0-9]+/.*$", "redirect": {"scheme": "https", "code": 308}}]},
        ]
        # What each path's row must show: its match value and its target.
        texts = [
            [["/api/", "api"], ["/healthz", "200"], ["/", "app"]],
            [["/", "app 90%", "canary 10%"]],
            [["^/v[0-9]+/.*$", "https", "308"]],
        ]
        admin_port = free_port()
        port = free_port()
        config = proxy_config(port, clusters, routes=routes, workers=2,
                              top={"admin": {"address": f"{HOST}:{admin_port}"}})
        self.env.waygate(config, port)
        wait_until(lambda: port_accepts(admin_port), message="the admin address to accept")

        scenario = {
            "admin_url": f"http://{HOST}:{admin_port}/",
            "proxy_url": f"http://{HOST}:{port}",
            "traffic": {"host": "app.test", "path": "/hello"},
            "clusters": [{"name": name, "endpoints": spec["endpoints"]}
                         for name, spec in clusters.items()],
            "routes": [{"hosts": route["hosts"],
                        "paths": [{"texts": t} for t in route_texts]}
                       for route, route_texts in zip(routes, texts)],
            "victim": {"cluster": "app", "address": b.address, "pid": b.proc.pid,
                       "deadline_ms": UNHEALTHY_DEADLINE_MS},
        }
        self.run_node("dashboard_test.mjs", scenario, screenshot=SCREENSHOT)

    def test_large_route_table_is_filtered_not_drawn_whole(self):
        """With a large route table the page counts every route, draws a few hundred, and the
        filter finds any one host."""
        up = self.env.upstream("A")
        total = MANY_ROUTES
        routes = [{"hosts": [f"h{i}.test"], "paths": [{"prefix": "/", "cluster": f"c{i % 2}"}]}
                  for i in range(total)]
        admin_port = free_port()
        port = free_port()
        config = proxy_config(port, {"c0": [up.address], "c1": [up.address]}, routes=routes,
                              top={"admin": {"address": f"{HOST}:{admin_port}"}})
        self.env.waygate(config, port)
        wait_until(lambda: port_accepts(admin_port), message="the admin address to accept")
        self.run_node("dashboard_test.mjs", {
            "kind": "many-routes",
            "admin_url": f"http://{HOST}:{admin_port}/",
            "total_routes": total,
            "find": {"host": f"h{total - 3}.test", "target": f"c{(total - 3) % 2}"},
        })

    def test_token_is_asked_for_and_kept_for_the_tab(self):
        """With admin.token set, the page asks for it, says when it is wrong, and once given
        shows the data, also after a reload of the page."""
        up = self.env.upstream("A")
        admin_port = free_port()
        port = free_port()
        token = "dashboard-test-token-0123456789"
        config = proxy_config(port, {"app": [up.address]},
                              top={"admin": {"address": f"{HOST}:{admin_port}", "token": token}})
        self.env.waygate(config, port)
        wait_until(lambda: port_accepts(admin_port), message="the admin address to accept")
        self.run_node("dashboard_test.mjs", {
            "kind": "token",
            "admin_url": f"http://{HOST}:{admin_port}/",
            "token": token,
            "clusters": [{"name": "app", "endpoints": [up.address]}],
        })

    def run_node(self, script, scenario, screenshot=None):
        path = os.path.join(self.env.dir, "scenario.json")
        with open(path, "w") as f:
            json.dump(scenario, f, indent=2)
        command = [NODE, os.path.join(HERE, script), path]
        if screenshot:
            command += ["--screenshot", os.path.abspath(screenshot)]
        try:
            result = subprocess.run(command, cwd=HERE, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, timeout=NODE_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            self.fail(f"{script} did not finish within {NODE_TIMEOUT}s:\n"
                      f"{(e.stdout or b'').decode(errors='replace')}")
        output = result.stdout.decode(errors="replace")
        sys.stderr.write("\n" + output)
        self.assertEqual(result.returncode, 0, f"{script} failed (output above)")


if __name__ == "__main__":
    # ctest reports exit 77 as skipped (SKIP_RETURN_CODE): say so once, before any process starts.
    missing = chromium_missing()
    if missing:
        print(missing)
        sys.exit(SKIP_EXIT_CODE)
    unittest.main(verbosity=2)
