"""GET /metrics on the admin address: Prometheus text that `promtool check metrics` accepts, with
counters that move by exactly the requests a test sends (by listener, cluster and status class),
parser refusals by reason, reloads by result, endpoint health from the active checks, discovery
updates with their delay, and outlier ejections.
"""

import json
import os
import re
import shutil
import subprocess

import certs
from harness import (HOST, HttpConnection, WaygateTestCase, admin_request, free_port, health_line,
                     port_accepts, proxy_config, refusing_address, wait_for_answers, wait_until)

PROMTOOL = shutil.which("promtool")
REFUSED = r"still serving the previous config"  # one line per refused reload
POLL_TIMEOUT = 10.0  # a failure guard, not a timing expectation
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse(text):
    """{(name, frozenset of (label, value))): value} for every sample line."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        labels = frozenset(LABEL.findall(match.group(2) or ""))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


class MetricsTestCase(WaygateTestCase):

    def start(self, clusters, routes=None, workers=2, tls=None, access_log="stdout"):
        self.admin_port = free_port()
        port = free_port()
        text = proxy_config(port, clusters, routes=routes, workers=workers, tls=tls,
                            access_log=access_log,
                            top={"admin": {"address": f"{HOST}:{self.admin_port}"}})
        self.wg = self.env.waygate(text, port)
        self.port = port
        wait_until(lambda: port_accepts(self.admin_port), message="the admin address to accept")

    def scrape_text(self):
        resp = admin_request(self.admin_port, "GET", "/metrics")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.header("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        return resp.body.decode()

    def scrape(self):
        return parse(self.scrape_text())

    def scrape_after(self, name, expected, **labels):
        """A scrape in which the sample has reached expected. A worker counts a request just
        after writing its response, so the client may read the response a moment before the
        count moves; exact values are asserted on the scrape returned."""
        last = {}

        def reached():
            last["m"] = self.scrape()
            return (value(last["m"], name, **labels) or 0) >= expected
        try:
            wait_until(reached, POLL_TIMEOUT, 0.02, f"{name} {labels} to reach {expected}")
        except AssertionError:
            pass  # the exact assertions that follow say what is wrong
        return last["m"]


APP_ROUTES = [{"hosts": ["*"], "paths": [{"prefix": "/app", "cluster": "app"}]}]


class RequestCountersTest(MetricsTestCase):

    def setUp(self):
        super().setUp()
        self.up = self.env.upstream("A")
        self.start({"app": [self.up.address]}, routes=APP_ROUTES)

    def test_promtool_accepts_the_scrape(self):
        """promtool check metrics finds no problem in /metrics after traffic of every kind."""
        if PROMTOOL is None:
            self.skipTest("promtool not installed (Debian package prometheus; "
                          "scripts/install-deps.sh installs it)")
        for target in ("/app/1", "/nowhere"):
            self.assertIn(self.get(self.port, target).status, (200, 404))
        with HttpConnection(self.port) as conn:
            conn.send(b"GET /app HTTP/1.1\r\nHost: proxy.test\r\nBad Header\r\n\r\n")
            self.assertEqual(conn.read_response().status, 400)
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=self.scrape_text().encode(),
                               capture_output=True, timeout=30)
        self.assertEqual(check.returncode, 0, check.stdout.decode() + check.stderr.decode())

    def test_requests_count_by_cluster_and_status_class(self):
        """7 GETs to cluster app count 7 under 2xx; a 404 for no route counts under cluster ""
        and 4xx; both histograms count every request, the upstream one only the proxied ones;
        each request's connection counts once."""
        # The harness's readiness probe connected once; a worker may accept it a moment later.
        before = self.scrape_after("waygate_downstream_connections_total", 1)
        for i in range(7):
            self.assertEqual(self.get(self.port, f"/app/{i}").status, 200)
        self.assertEqual(self.get(self.port, "/nowhere").status, 404)
        m = self.scrape_after("waygate_request_duration_seconds_count", 8)
        self.assertEqual(value(m, "waygate_requests_total", listener="web", cluster="app",
                               code_class="2xx"), 7)
        self.assertEqual(value(m, "waygate_requests_total", listener="web", cluster="app",
                               code_class="4xx"), 0)
        self.assertEqual(value(m, "waygate_requests_total", listener="web", cluster="",
                               code_class="4xx"), 1)
        self.assertEqual(value(m, "waygate_requests_total", listener="web", cluster="",
                               code_class="2xx"), 0)
        self.assertEqual(value(m, "waygate_request_duration_seconds_count"), 8)
        self.assertEqual(value(m, "waygate_request_duration_seconds_bucket", le="+Inf"), 8)
        self.assertEqual(value(m, "waygate_upstream_response_seconds_count"), 7)
        self.assertEqual(value(m, "waygate_downstream_connections_total")
                         - value(before, "waygate_downstream_connections_total"), 8)
        self.assertGreaterEqual(value(m, "waygate_upstream_connections_total"), 1)
        self.assertGreater(value(m, "waygate_response_bytes_total"), 0)
        self.assertGreater(value(m, "waygate_request_bytes_total"), 0)

    def test_refused_request_counts_under_its_reason(self):
        """A request with a malformed header line is refused 400 and counted as malformed; no
        other reason moves."""
        with HttpConnection(self.port) as conn:
            conn.send(b"GET /app HTTP/1.1\r\nHost: proxy.test\r\nBad Header\r\n\r\n")
            self.assertEqual(conn.read_response().status, 400)
        m = self.scrape_after("waygate_rejected_requests_total", 1, reason="malformed")
        self.assertEqual(value(m, "waygate_rejected_requests_total", reason="malformed"), 1)
        for reason in ("header-timeout", "body-too-large", "uri-too-long", "headers-too-large",
                       "version-not-supported"):
            self.assertEqual(value(m, "waygate_rejected_requests_total", reason=reason), 0, reason)
        self.assertEqual(value(m, "waygate_requests_total", listener="web", cluster="app",
                               code_class="2xx"), 0)

    def test_reloads_count_by_result(self):
        """A broken config written to the file counts as a refused reload, a changed one as an
        applied reload: as many as the log reports of each."""
        m = self.scrape()
        self.assertEqual(value(m, "waygate_reloads_total", result="applied"), 0)
        self.assertEqual(value(m, "waygate_reloads_total", result="refused"), 0)
        with open(self.wg.config_path) as f:
            good = f.read()
        self.wg.write_config(good + "nonsense: [\n")
        self.wg.wait_for_stderr(REFUSED, 1, POLL_TIMEOUT)
        self.wg.write_config(good + "# changed\n")
        self.wg.wait_for_reloads(1)
        m = self.scrape()
        refused = len(re.findall(REFUSED, self.wg.stderr_text()))
        self.assertEqual(value(m, "waygate_reloads_total", result="refused"), refused)
        self.assertEqual(value(m, "waygate_reloads_total", result="applied"),
                         self.wg.reload_count())
        self.assertGreater(value(m, "waygate_last_reload_duration_seconds"), 0)


class EndpointHealthTest(MetricsTestCase):

    def test_killed_endpoint_shows_unhealthy(self):
        """With health checks, both endpoints show 1; once B is killed and its checks fail, B
        shows 0 and A still 1."""
        a, b = self.env.upstream("A"), self.env.upstream("B")
        check = {"http": {"path": "/healthz"}, "interval": "300ms", "timeout": "300ms",
                 "healthy_threshold": 2, "unhealthy_threshold": 2}
        self.start({"app": {"endpoints": [a.address, b.address], "health_check": check}})
        m = self.scrape()
        self.assertEqual(value(m, "waygate_endpoint_healthy", cluster="app", endpoint=a.address), 1)
        self.assertEqual(value(m, "waygate_endpoint_healthy", cluster="app", endpoint=b.address), 1)
        b.kill()
        self.wg.wait_for_stderr(health_line("app", b.address, "unhealthy"), 1, POLL_TIMEOUT)
        m = self.scrape()
        self.assertEqual(value(m, "waygate_endpoint_healthy", cluster="app", endpoint=b.address), 0)
        self.assertEqual(value(m, "waygate_endpoint_healthy", cluster="app", endpoint=a.address), 1)


class TlsHandshakeFailuresTest(MetricsTestCase):

    def test_handshake_failures_count_by_reason(self):
        """Plain HTTP and a junk handshake on a TLS listener each count once, under their reason;
        a good HTTPS request counts as a request, not as a failure."""
        up = self.env.upstream("A")
        cert = certs.get("example").copy_to(self.env.dir)
        self.start({"app": [up.address]}, workers=1,
                   tls={"certificates": [{"cert": cert.cert, "key": cert.key}]})
        with HttpConnection(self.port) as conn:
            conn.send(b"GET / HTTP/1.1\r\nHost: proxy.test\r\n\r\n")
            self.assertEqual(conn.read_response().status, 400)
        with HttpConnection(self.port) as conn:
            conn.send(b"\x16\x03\x01\x00\x40" + b"\xfe" * 64)  # a handshake record of junk
            conn.read_until_closed()
        samples = self.scrape_after("waygate_tls_handshake_failures_total", 1, reason="failed")
        failures = {reason: value(samples, "waygate_tls_handshake_failures_total", reason=reason)
                    for reason in ("failed", "timeout", "plaintext-http")}
        self.assertEqual(failures, {"failed": 1, "timeout": 0, "plaintext-http": 1})


class DiscoveryAndEjectionTest(MetricsTestCase):

    def test_discovery_updates_count_with_their_delay(self):
        """A change to a cluster's endpoints file counts once under the cluster and source kind,
        and its delay (from the change reaching waygate to every worker routing by it) lands in
        the histogram."""
        a, b = self.env.upstream("A"), self.env.upstream("B")
        source = os.path.join(self.env.dir, "web-endpoints.yaml")

        def write_endpoints(up):
            with open(source + ".tmp", "w") as f:
                f.write(f"- address: {up.host}\n  port: {up.port}\n")
            os.rename(source + ".tmp", source)
        write_endpoints(a)
        self.start({"web": {"discovery": {"file": {"path": source}}}})
        wait_for_answers(self.port, {"A"}, POLL_TIMEOUT)
        before = self.scrape()
        updates = value(before, "waygate_discovery_updates_total", cluster="web",
                        source="file") or 0
        delays = value(before, "waygate_discovery_delay_seconds_count", source="file") or 0
        write_endpoints(b)
        wait_for_answers(self.port, {"B"}, POLL_TIMEOUT)
        m = self.scrape_after("waygate_discovery_updates_total", updates + 1, cluster="web",
                              source="file")
        self.assertEqual(value(m, "waygate_discovery_updates_total", cluster="web",
                               source="file"), updates + 1)
        self.assertEqual(value(m, "waygate_discovery_delay_seconds_count", source="file"),
                         delays + 1)
        self.assertGreater(value(m, "waygate_discovery_delay_seconds_sum", source="file"), 0)

    def test_ejections_count_by_cluster(self):
        """An endpoint answering 500 in a row is ejected by outlier detection: the cluster's
        ejection counter goes from 0 to 1."""
        a = self.env.upstream("A")
        failing = self.env.upstream("F", args=["--fail-status", "500"])
        self.start({"app": {"endpoints": [a.address, failing.address],
                            "outlier_detection": {"consecutive_5xx": 2}}}, routes=APP_ROUTES,
                   workers=1)
        self.assertEqual(value(self.scrape(), "waygate_outlier_ejections_total", cluster="app"), 0)

        def ejected():
            self.get(self.port, "/app/drive")
            return self.wg.stderr_matches(r"outlier: endpoint \S+ ejected for")
        wait_until(ejected, POLL_TIMEOUT, 0, "the failing endpoint to be ejected")
        m = self.scrape_after("waygate_outlier_ejections_total", 1, cluster="app")
        self.assertEqual(value(m, "waygate_outlier_ejections_total", cluster="app"), 1)


class MetricsMatchTheAccessLogTest(MetricsTestCase):

    def test_request_counters_match_the_access_log(self):
        """Proxied (200), unrouted (404), fixed (204) and failed (502) requests on two workers:
        the counters by cluster and status class say what the JSON access log's lines say."""
        up = self.env.upstream("A")
        log_path = os.path.join(self.env.dir, "access.json")
        routes = [{"hosts": ["*"], "paths": [
            {"prefix": "/app", "cluster": "app"},
            {"exact": "/fixed", "respond": {"status": 204}},
            {"prefix": "/dead", "cluster": "dead"}]}]
        self.start({"app": [up.address], "dead": [refusing_address()]}, routes=routes,
                   access_log={"path": log_path, "format": "json"})
        sent = 0
        for target, count in (("/app/x", 7), ("/nowhere", 3), ("/fixed", 2), ("/dead/x", 2)):
            for i in range(count):
                with HttpConnection(self.port) as conn:  # new connections: both workers serve
                    conn.send(f"GET {target}?{i} HTTP/1.1\r\nHost: proxy.test\r\n\r\n".encode())
                    conn.read_response()
                sent += 1

        def logged():
            with open(log_path) as f:
                lines = [json.loads(line) for line in f if line.strip()]
            return len(lines) >= sent and lines
        entries = wait_until(logged, POLL_TIMEOUT, 0.02, f"{sent} access-log lines")
        by_log = {}
        for entry in entries:
            key = (entry["cluster"] or "", f"{entry['status'] // 100}xx")
            by_log[key] = by_log.get(key, 0) + 1
        self.assertEqual(by_log, {("app", "2xx"): 7, ("", "4xx"): 3, ("", "2xx"): 2,
                                  ("dead", "5xx"): 2}, "inconclusive: the log itself is off")
        m = self.scrape_after("waygate_requests_total", 2, listener="web", cluster="dead",
                              code_class="5xx")
        by_metrics = {}
        for (name, labels), count in m.items():
            if name == "waygate_requests_total" and count:
                labels = dict(labels)
                by_metrics[(labels["cluster"], labels["code_class"])] = count
        self.assertEqual(by_metrics, by_log)


class RouteCountersTest(MetricsTestCase):

    def routes(self, names):
        """One route per (name, prefix); a name of None leaves the path unnamed."""
        return [{"hosts": ["*"], "paths": [
            {"prefix": prefix, "cluster": "app", **({"name": name} if name else {})}
            for name, prefix in names]}]

    def route_counts(self, samples):
        return {dict(labels)["route"]: count for (name, labels), count in samples.items()
                if name == "waygate_route_requests_total" and dict(labels)["code_class"] == "2xx"}

    def test_named_routes_count_by_name_across_reloads(self):
        """Requests count under their route's name (unnamed routes under none); after a reload
        that puts a new named route first and drops another, each name keeps its count."""
        up = self.env.upstream("A")
        self.start({"app": [up.address]},
                   routes=self.routes([("api", "/api"), ("web", "/web"), (None, "/other")]))
        for target, count in (("/api/x", 3), ("/web/x", 2), ("/other/x", 4)):
            for _ in range(count):
                self.assertEqual(self.get(self.port, target).status, 200)
        m = self.scrape_after("waygate_route_requests_total", 2, route="web", code_class="2xx")
        self.assertEqual(self.route_counts(m), {"api": 3, "web": 2})

        text = proxy_config(self.port, {"app": [up.address]}, workers=2,
                            routes=self.routes([("new", "/new"), ("api", "/api")]),
                            top={"admin": {"address": f"{HOST}:{self.admin_port}"}})
        self.wg.write_config(text)
        self.wg.wait_for_reloads(1)
        wait_for_answers(self.port, {"A"}, POLL_TIMEOUT, target="/new/x")
        self.assertEqual(self.get(self.port, "/api/y").status, 200)
        m = self.scrape_after("waygate_route_requests_total", 4, route="api", code_class="2xx")
        counts = self.route_counts(m)
        self.assertEqual(counts["api"], 4)
        self.assertNotIn("web", counts)
        self.assertGreaterEqual(counts.get("new", 0), 1)
