"""Active health checks (`health_check` on a cluster): an endpoint that fails its checks gets no
traffic until it passes again, checks run once per process, and verdicts outlive reloads.

Upstreams answer `/healthz` as told (`--health-status`, `--health-body`, or `set()` at run time)
and count health checks apart from traffic, so "no traffic" is counted at the upstream. Verdicts
are seen in waygate's stderr (`health: cluster app: endpoint ... is now unhealthy (...)`).
"""

import threading
import time
import unittest

from harness import (ConnectionClosed, HttpConnection, WaygateTestCase, free_port, health_line,
                     proxy_config, request, upstream_answers, wait_for_answers, wait_until)

POLL_TIMEOUT = 10.0  # a failure guard for "the verdict applied", not a timing expectation


def http_check(**overrides):
    """A quick HTTP check of /healthz: every 300 ms, two results in a row turn the verdict."""
    check = {"http": {"path": "/healthz"}, "interval": "300ms", "timeout": "300ms",
             "healthy_threshold": 2, "unhealthy_threshold": 2}
    check.update(overrides)
    return check


def traffic(up):
    """Requests the upstream has served, health checks not counted."""
    return up.stats()["requests"]


def health_checks(up):
    return up.stats()["health_checks"]


class KeepAliveLoad:
    """GETs on keep-alive connections from several threads until stop(). Counts the requests
    answered 200 and records every failure: another status, or a connection that broke (after
    which the thread connects again)."""

    def __init__(self, port, threads=4):
        self.port = port
        self.completed = 0
        self.failures = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self, index):
        conn = None
        sent = 0
        while not self._stop.is_set():
            sent += 1
            target = f"/load/{index}/{sent}"
            try:
                if conn is None:
                    conn = HttpConnection(self.port)
                conn.send(request("GET", target))
                resp = conn.read_response()
            except (OSError, ConnectionClosed) as e:
                with self._lock:
                    self.failures.append(f"{target}: {e!r}")
                if conn is not None:
                    conn.close()
                conn = None
                continue
            with self._lock:
                if resp.status == 200:
                    self.completed += 1
                else:
                    self.failures.append(f"{target}: {resp!r}")
        if conn is not None:
            conn.close()

    def wait_for_completed(self, count):
        wait_until(lambda: self.completed >= count, POLL_TIMEOUT, 0.02,
                   f"{count} requests answered under load")

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(POLL_TIMEOUT)


class HealthCheckTestCase(WaygateTestCase):

    def start(self, endpoints, workers=2, routes=None, **cluster):
        """waygate with one cluster "app" of the given upstreams (or addresses)."""
        spec = {"endpoints": [getattr(e, "address", e) for e in endpoints], **cluster}
        self.wg = self.start_proxy(self.env, {"app": spec}, routes=routes, workers=workers)
        self.port = self.wg.port
        return self.wg

    def wait_for_verdict(self, up, state):
        return self.wg.wait_for_stderr(health_line("app", up.address, state), 1, POLL_TIMEOUT)

    def answers(self, count):
        return upstream_answers(self.port, count)


class TakingEndpointsOutTest(HealthCheckTestCase):

    def test_killed_backend_leaves_and_returns_without_client_errors(self):
        """Under keep-alive load on two workers, a SIGKILLed backend costs no client an error;
        once it is unhealthy it gets no traffic (back on its port, failing /healthz), and once
        /healthz passes it takes traffic again."""
        a, b, c = (self.env.upstream(name) for name in "ABC")
        self.start([a, b, c], health_check=http_check(),
                   outlier_detection={"enabled": False})  # health checks alone take B out
        load = KeepAliveLoad(self.port)
        self.addCleanup(load.stop)
        wait_until(lambda: traffic(b) > 0, POLL_TIMEOUT, 0.02, "B to take traffic")

        b.kill()
        self.wait_for_verdict(b, "unhealthy")
        b.start(["--health-status", "500"])  # same port, still failing its checks
        load.wait_for_completed(load.completed + 300)
        wait_until(lambda: health_checks(b) >= 2, POLL_TIMEOUT, 0.02, "checks of B")
        self.assertEqual(traffic(b), 0, "an unhealthy endpoint got traffic")

        b.set(health_status=200)
        self.wait_for_verdict(b, "healthy")
        wait_until(lambda: traffic(b) > 0, POLL_TIMEOUT, 0.02, "B to take traffic again")
        load.stop()
        self.assertEqual(load.failures, [], "clients saw errors while B died")
        self.assertGreater(load.completed, 300)

    def test_backend_failing_its_checks_never_gets_traffic(self):
        """With `initial: unhealthy`, a backend whose /healthz answers 500 gets no request, while
        the two that pass share the traffic."""
        a, c = self.env.upstream("A"), self.env.upstream("C")
        b = self.env.upstream("B", args=["--health-status", "500"])
        self.start([a, b, c], health_check=http_check(initial="unhealthy"))
        wait_for_answers(self.port, {"A", "C"}, POLL_TIMEOUT)
        answers = self.answers(20)
        self.assertEqual(set(answers), {"A", "C"}, answers)
        # B fails its checks all along, not only before its first check.
        wait_until(lambda: health_checks(b) >= 2, POLL_TIMEOUT, 0.02, "B to be checked twice")
        self.assertNotIn("B", self.answers(10))
        self.assertEqual(traffic(b), 0)

    def test_cluster_with_no_healthy_endpoint_answers_503_without_trying(self):
        """When every endpoint is unhealthy, requests get 503 (error=no-healthy-endpoint) at
        once and none reaches an endpoint."""
        a = self.env.upstream("A", args=["--health-status", "500"])
        b = self.env.upstream("B", args=["--health-status", "500"])
        self.start([a, b], health_check=http_check())
        self.wait_for_verdict(a, "unhealthy")
        self.wait_for_verdict(b, "unhealthy")
        wait_for_answers(self.port, {503}, POLL_TIMEOUT)
        before = traffic(a) + traffic(b)
        for i in range(10):
            self.assertErrorResponse(self.get(self.port, f"/down/{i}"), 503)
        self.assertEqual(traffic(a) + traffic(b), before, "a request reached an endpoint")
        self.wg.wait_for_log(r'"GET /down/\d+ HTTP/1\.1" 503 .*error=no-healthy-endpoint')


class CheckKindsTest(HealthCheckTestCase):

    def test_expect_accepts_listed_statuses_and_ranges_only(self):
        """expect: ["200-204", "418"] passes 200 and 418 and fails 302 (which the default
        200-399 would pass)."""
        a = self.env.upstream("A", args=["--health-status", "418"])
        b = self.env.upstream("B", args=["--health-status", "302"])
        c = self.env.upstream("C", args=["--health-status", "200"])
        check = http_check(initial="unhealthy")
        check["http"]["expect"] = ["200-204", "418"]
        self.start([a, b, c], health_check=check)
        wait_for_answers(self.port, {"A", "C"}, POLL_TIMEOUT)
        answers = self.answers(20)
        self.assertEqual(set(answers), {"A", "C"}, answers)
        # B fails its checks all along, not only before its first check.
        wait_until(lambda: health_checks(b) >= 2, POLL_TIMEOUT, 0.02, "B to be checked twice")
        self.assertNotIn("B", self.answers(10))
        self.assertEqual(traffic(b), 0)

    def test_body_must_contain_the_expected_text(self):
        """http.body: "ready" passes a 200 whose body contains it and fails one whose does not."""
        a = self.env.upstream("A", args=["--health-body", "state: ready"])
        b = self.env.upstream("B", args=["--health-body", "state: starting"])
        check = http_check(initial="unhealthy")
        check["http"]["body"] = "ready"
        self.start([a, b], health_check=check)
        wait_for_answers(self.port, {"A"}, POLL_TIMEOUT)
        self.assertEqual(set(self.answers(10)), {"A"})
        # B fails its checks all along, not only before its first check.
        wait_until(lambda: health_checks(b) >= 2, POLL_TIMEOUT, 0.02, "B to be checked twice")
        self.assertNotIn("B", self.answers(10))
        self.assertEqual(traffic(b), 0)

    def test_http_check_sends_the_configured_method_path_and_host(self):
        """http: {path, method: HEAD, host: app.internal} is the request the endpoint gets."""
        a = self.env.upstream("A")
        check = http_check()
        check["http"] = {"path": "/healthz", "method": "HEAD", "host": "app.internal"}
        self.start([a], health_check=check)
        wait_until(lambda: health_checks(a) >= 1, POLL_TIMEOUT, 0.02, "a check of A")
        self.assertEqual(a.stats()["last_health"],
                         {"method": "HEAD", "target": "/healthz", "host": "app.internal"})
        self.assertEqual(traffic(a), 0, "a health check was counted as traffic")

    def test_tcp_check_follows_a_listening_port(self):
        """A tcp check turns an endpoint healthy once its port accepts (sending no request) and
        unhealthy once it is gone."""
        a = self.env.upstream("A")
        b_port = free_port()  # nothing listens there yet
        check = http_check(initial="unhealthy")
        del check["http"]
        check["tcp"] = {}
        self.start([a, f"127.0.0.1:{b_port}"], health_check=check)
        wait_for_answers(self.port, {"A"}, POLL_TIMEOUT)

        b = self.env.upstream("B", port=b_port)
        self.wait_for_verdict(b, "healthy")
        self.assertGreater(b.stats()["connections_accepted"], 0, "B was never connected to")
        self.assertEqual(health_checks(b), 0, "a tcp check sent an HTTP request")
        wait_for_answers(self.port, {"A", "B"}, POLL_TIMEOUT)

        b.kill()
        self.wait_for_verdict(b, "unhealthy")


class ProbeScheduleTest(HealthCheckTestCase):

    def test_two_workers_probe_each_endpoint_once_per_interval(self):
        """With workers: 2, an endpoint sees about one probe per interval, not one per worker."""
        interval_s = 0.2
        a, b = self.env.upstream("A"), self.env.upstream("B")
        self.start([a, b], workers=2, health_check=http_check(interval="200ms", timeout="200ms"))
        wait_until(lambda: health_checks(a) >= 2 and health_checks(b) >= 2, POLL_TIMEOUT, 0.02,
                   "checks to start")
        start, first = time.monotonic(), [health_checks(a), health_checks(b)]
        time.sleep(15 * interval_s)  # the behaviour: how many probes 15 intervals bring
        elapsed, last = time.monotonic() - start, [health_checks(a), health_checks(b)]
        expected = elapsed / interval_s
        for name, before, after in zip("AB", first, last):
            probes = after - before
            # One stream per worker would bring about 2 * expected.
            self.assertLessEqual(probes, 1.5 * expected + 2,
                                 f"{name}: {probes} probes in {elapsed:.2f}s")
            self.assertGreaterEqual(probes, max(3, 0.3 * expected),
                                    f"{name}: {probes} probes in {elapsed:.2f}s")


class HealthAcrossReloadsTest(HealthCheckTestCase):

    ROUTES = [{"hosts": ["*"], "paths": [{"prefix": "/", "cluster": "app"}]}]
    # The same routes and clusters plus a path that answers by itself: a reload unrelated to "app".
    OTHER_ROUTES = [{"hosts": ["*"], "paths": [
        {"exact": "/unrelated", "respond": {"status": 200, "body": "unrelated\n"}},
        {"prefix": "/", "cluster": "app"}]}]

    def config(self, endpoints, routes, check):
        spec = {"endpoints": [e.address for e in endpoints], "health_check": check}
        return proxy_config(self.port, {"app": spec}, routes=routes, workers=2)

    def test_endpoints_present_at_start_take_traffic_at_once(self):
        """Without `initial`, endpoints in the config at start serve the very first requests,
        before any check has had time to pass twice (one worker: they take turns)."""
        a, b = self.env.upstream("A"), self.env.upstream("B")
        self.start([a, b], workers=1, health_check=http_check(interval="2s", timeout="1s"))
        self.assertEqual(self.answers(4), ["A", "B", "A", "B"])

    def test_endpoint_added_by_reload_gets_no_traffic_until_it_passes(self):
        """Without `initial`, an endpoint that joins later is unhealthy until it has passed
        healthy_threshold checks."""
        a, b = self.env.upstream("A"), self.env.upstream("B")
        c = self.env.upstream("C", args=["--health-status", "500"])
        check = http_check()
        self.start([a, b], routes=self.ROUTES, health_check=check)
        self.wg.write_config(self.config([a, b, c], self.ROUTES, check))
        self.wg.wait_for_reloads(1)
        answers = self.answers(20)  # before C's first check
        wait_until(lambda: health_checks(c) >= 1, POLL_TIMEOUT, 0.02, "a check of C")
        answers += self.answers(20)  # after it
        self.assertEqual(set(answers), {"A", "B"}, answers)
        self.assertEqual(traffic(c), 0, "an endpoint got traffic before passing a check")

        c.set(health_status=200)
        self.wait_for_verdict(c, "healthy")
        wait_for_answers(self.port, {"A", "B", "C"}, POLL_TIMEOUT)

    def test_verdicts_survive_an_unrelated_reload(self):
        """An unhealthy endpoint stays out, and healthy ones stay in, right after a reload that
        does not touch the cluster."""
        a, b = self.env.upstream("A"), self.env.upstream("B")
        c = self.env.upstream("C", args=["--health-status", "500"])
        check = http_check()
        self.start([a, b, c], routes=self.ROUTES, health_check=check)
        self.wait_for_verdict(c, "unhealthy")
        wait_for_answers(self.port, {"A", "B"}, POLL_TIMEOUT)
        before = traffic(c)

        self.wg.write_config(self.config([a, b, c], self.OTHER_ROUTES, check))
        self.wg.wait_for_reloads(1)
        wait_until(lambda: self.get(self.port, "/unrelated").status == 200, POLL_TIMEOUT, 0.02,
                   "the reloaded routes")
        answers = self.answers(20)
        self.assertEqual(set(answers), {"A", "B"}, answers)
        self.assertEqual(traffic(c), before, "the unhealthy endpoint got traffic after a reload")


if __name__ == "__main__":
    unittest.main()
