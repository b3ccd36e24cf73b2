"""Active health checks of `protocol: http2` clusters (issue 20): the HTTP check speaks the
cluster's protocol, h2c by prior knowledge or h2 by ALPN over TLS, so an endpoint that speaks
nothing but HTTP/2 passes when it serves and fails when its check answers 503.

Upstreams: nghttpd (Debian's nghttp2-server) where a real HTTP/2-only server does the job;
h2_upstream.H2Upstream where the test chooses the check's answer and counts traffic apart from
checks. Verdicts are watched in /clusters on the admin address and in waygate's stderr.
"""

import json
import os

import certs
from h2_upstream import H2Upstream
from harness import (HOST, admin_request, free_port, health_line, port_accepts, proxy_config,
                     wait_for_answers, wait_until)
from test_health_checks import POLL_TIMEOUT, http_check
from test_upstream_http2 import UpstreamHttp2TestCase


class Http2HealthCheckTestCase(UpstreamHttp2TestCase):

    def start(self, endpoints, **cluster):
        """waygate with one `protocol: http2` cluster "app" and an admin address."""
        self.admin_port = free_port()
        self.port = free_port()
        spec = {"protocol": "http2", "endpoints": [e.address for e in endpoints], **cluster}
        text = proxy_config(self.port, {"app": spec}, workers=2,
                            top={"admin": {"address": f"{HOST}:{self.admin_port}"}})
        self.wg = self.env.waygate(text, self.port)
        wait_until(lambda: port_accepts(self.admin_port), message="the admin address to accept")

    def health(self):
        """Each endpoint's health in /clusters, by address."""
        resp = admin_request(self.admin_port, "GET", "/clusters")
        self.assertEqual(resp.status, 200, resp)
        clusters = json.loads(resp.body.decode())["clusters"]
        app = next(c for c in clusters if c["name"] == "app")
        return {e["address"]: e["health"] for e in app["endpoints"]}

    def wait_for_health(self, server, state):
        wait_until(lambda: self.health()[server.address] == state, POLL_TIMEOUT, 0.05,
                   f"{server.address} to be {state} in /clusters")
        self.wg.wait_for_stderr(health_line("app", server.address, state), 1, POLL_TIMEOUT)

    def nghttpd_with_healthz(self, cert=None):
        server = self.nghttpd(cert=cert)
        with open(os.path.join(self.env.dir, "htdocs", "healthz"), "wb") as f:
            f.write(b"ok\n")
        return server


class H2cHealthCheckTest(Http2HealthCheckTestCase):

    def test_h2c_only_upstream_passing_its_checks_turns_healthy_and_serves(self):
        """nghttpd --no-tls, which speaks nothing but HTTP/2, starts unhealthy, passes its
        HTTP/2 checks of /healthz, turns healthy and serves."""
        server = self.nghttpd_with_healthz()
        self.start([server], health_check=http_check(initial="unhealthy"))
        self.wait_for_health(server, "healthy")
        resp = self.get(self.port, "/hello.txt")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, b"hello over h2\n")

    def test_h2c_endpoint_whose_check_answers_503_is_marked_down_and_avoided(self):
        """Of two h2c endpoints that start healthy, the one whose /healthz answers 503 turns
        unhealthy and gets no more traffic, while the other stays healthy and takes it all."""
        a = H2Upstream(name="A")
        b = H2Upstream(name="B", health_status=503)
        for server in (a, b):
            self.addCleanup(server.close)
        self.start([a, b], health_check=http_check())
        self.wait_for_health(b, "unhealthy")
        wait_for_answers(self.port, {"A"}, POLL_TIMEOUT)
        served_by_b, checks_of_b = b.answered, b.health_checks
        # B fails its checks all along, not only before its first verdict.
        wait_until(lambda: b.health_checks >= checks_of_b + 2, POLL_TIMEOUT, 0.02,
                   "B to be checked twice more")
        answers = wait_for_answers(self.port, {"A"}, POLL_TIMEOUT)
        self.assertEqual(set(answers), {"A"}, answers)
        self.assertEqual(b.answered, served_by_b, "an unhealthy endpoint got traffic")
        self.assertEqual(self.health()[a.address], "healthy")
        self.assertGreater(a.health_checks, 0)

    def test_check_sends_the_configured_path_and_host_as_http2_fields(self):
        """http: {path, host} become the check stream's :path and :authority (:scheme http),
        and an endpoint that answers them 200 turns healthy."""
        server = H2Upstream(name="A")
        self.addCleanup(server.close)
        check = http_check(initial="unhealthy")
        check["http"] = {"path": "/healthz", "host": "app.internal"}
        self.start([server], health_check=check)
        self.wait_for_health(server, "healthy")
        self.assertIn(("GET", "/healthz", "http", "app.internal"), server.health_requests)

    def test_checks_share_one_connection_while_the_endpoint_keeps_it(self):
        """Checks go as streams of one connection kept between them, not a connection each."""
        server = H2Upstream(name="A")
        self.addCleanup(server.close)
        self.start([server], health_check=http_check())
        wait_until(lambda: server.health_checks >= 4, POLL_TIMEOUT, 0.02, "four checks")
        self.assertEqual(server.connections, 1)

    def test_endpoint_closing_the_connection_after_each_check_stays_healthy(self):
        """An endpoint that closes the kept connection after answering is checked on a new one
        each time, and every check passes: the closed connection costs no failure."""
        server = H2Upstream(name="A", close_after_health=True)
        self.addCleanup(server.close)
        self.start([server], health_check=http_check(healthy_threshold=1,
                                                     unhealthy_threshold=1))
        wait_until(lambda: server.health_checks >= 6, POLL_TIMEOUT, 0.02, "six checks")
        self.assertGreaterEqual(server.connections, 6)
        self.assertEqual(self.wg.stderr_matches(health_line("app", server.address, "unhealthy")),
                         [])
        self.assertEqual(self.health()[server.address], "healthy")


class TlsH2HealthCheckTest(Http2HealthCheckTestCase):

    def test_tls_h2_upstream_is_checked_over_h2_chosen_by_alpn(self):
        """nghttpd with a certificate (h2 by ALPN only) passes its checks over TLS."""
        server = self.nghttpd_with_healthz(cert=certs.get("example"))
        self.start([server], health_check=http_check(initial="unhealthy"),
                   tls={"sni": "example.test", "ca": certs.get("ca").cert})
        self.wait_for_health(server, "healthy")
        resp = self.get(self.port, "/hello.txt")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, b"hello over h2\n")
