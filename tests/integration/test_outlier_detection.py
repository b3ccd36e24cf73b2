"""Outlier detection (`outlier_detection` on a cluster): an endpoint that fails requests in a row
is ejected for a while, gets no traffic meanwhile, and returns; a cap keeps a share of the cluster
in; `enabled: false` turns it off.

Ejections are seen in waygate's stderr (`outlier: endpoint ... ejected for N s (...)`, `...
returns`); traffic is counted at the upstreams.
"""

import time
import unittest

from harness import (WaygateTestCase, ejected_line, refusing_address, returns_line,
                     upstream_answers, wait_for_answers)

POLL_TIMEOUT = 10.0  # a failure guard, not a timing expectation


def traffic(up):
    return up.stats()["requests"]


class OutlierTestCase(WaygateTestCase):

    def start(self, endpoints, outlier, workers=2, timeout=None):
        """waygate with one cluster "app"; timeout: the route's upstream timeout."""
        path = {"prefix": "/", "cluster": "app"}
        if timeout:
            path["timeout"] = timeout
        spec = {"endpoints": [getattr(e, "address", e) for e in endpoints]}
        if outlier is not None:
            spec["outlier_detection"] = outlier
        self.wg = self.start_proxy(self.env, {"app": spec}, workers=workers,
                                   routes=[{"hosts": ["*"], "paths": [path]}])
        self.port = self.wg.port

    def drive_until_ejected(self, address=None, count=1):
        """Sends requests one at a time until waygate has logged count ejections of address (of
        any endpoint when None); returns the ejection time of the last, in seconds. Bounded by
        time, not by a number of requests: on a loaded machine the control thread (at a lower
        priority than the workers) may take a while to act on the failures it has heard of."""
        regex = ejected_line(address)
        deadline = time.monotonic() + POLL_TIMEOUT
        sent = 0
        while time.monotonic() < deadline:
            self.get(self.port, f"/drive/{sent}")
            sent += 1
            found = self.wg.stderr_matches(regex)
            if len(found) >= count:
                return float(found[-1])
        who = f"{address} not" if address else "no endpoint"
        self.fail(f"{who} ejected {count} times after {sent} requests; stderr ends with:\n"
                  f"{self.wg.stderr_text()[-2000:]}")

    def ejections(self):
        return self.wg.stderr_matches(ejected_line())


class EjectionTest(OutlierTestCase):

    def test_consecutive_5xx_eject_the_endpoint(self):
        """consecutive_5xx: 3 ejects a backend answering 500; while ejected (30 s by default) it
        gets no request on either worker."""
        a, b = self.env.upstream("A"), self.env.upstream("B")
        f = self.env.upstream("F", args=["--fail-status", "500"])
        self.start([a, b, f], {"consecutive_5xx": 3})
        self.drive_until_ejected(f.address)
        self.assertGreaterEqual(traffic(f), 3)
        wait_for_answers(self.port, {"A", "B"}, POLL_TIMEOUT)
        before = traffic(f)
        answers = upstream_answers(self.port, 30)
        self.assertEqual(set(answers), {"A", "B"}, answers)
        self.assertEqual(traffic(f), before, "an ejected endpoint got traffic")

    def test_ejected_endpoint_returns_after_base_ejection_time(self):
        """With base_ejection_time: 1s the ejection lasts 1 s; then the endpoint (now answering
        200) takes traffic again."""
        a, b = self.env.upstream("A"), self.env.upstream("B")
        f = self.env.upstream("F", args=["--fail-status", "500"])
        self.start([a, b, f], {"consecutive_5xx": 3, "base_ejection_time": "1s"})
        self.assertEqual(self.drive_until_ejected(f.address), 1.0)
        f.set(fail_status=0)
        self.wg.wait_for_stderr(returns_line(f.address), 1, POLL_TIMEOUT)
        wait_for_answers(self.port, {"A", "B", "F"}, POLL_TIMEOUT)

    def test_second_ejection_lasts_twice_as_long(self):
        """An endpoint ejected a second time is ejected for twice base_ejection_time."""
        a, b = self.env.upstream("A"), self.env.upstream("B")
        f = self.env.upstream("F", args=["--fail-status", "500"])
        self.start([a, b, f], {"consecutive_5xx": 3, "base_ejection_time": "1s"})
        self.assertEqual(self.drive_until_ejected(f.address), 1.0)
        self.wg.wait_for_stderr(returns_line(f.address), 1, POLL_TIMEOUT)
        self.assertEqual(self.drive_until_ejected(f.address, count=2), 2.0)

    def test_consecutive_timeouts_eject_a_backend_that_never_answers(self):
        """A backend that accepts and never answers (route timeout 300ms) is ejected after
        consecutive_timeouts: 2, and gets no request while ejected."""
        a, b = self.env.upstream("A"), self.env.upstream("B")
        h = self.env.upstream("H", args=["--action", "hold"])
        self.start([a, b, h], {"consecutive_timeouts": 2}, timeout="300ms")
        self.drive_until_ejected(h.address)
        wait_for_answers(self.port, {"A", "B"}, POLL_TIMEOUT)
        before = traffic(h)
        answers = upstream_answers(self.port, 20)
        self.assertEqual(set(answers), {"A", "B"}, answers)
        self.assertEqual(traffic(h), before, "an ejected endpoint got traffic")

    def test_connect_failures_eject_by_default(self):
        """Without an outlier_detection key, an endpoint that refuses connections is ejected
        (consecutive_connect_failures: 3 by default)."""
        a, b = self.env.upstream("A"), self.env.upstream("B")
        refused = refusing_address()
        self.start([a, b, refused], None)
        self.drive_until_ejected(refused)


class EjectionLimitsTest(OutlierTestCase):

    def test_max_ejection_percent_keeps_half_the_cluster_in(self):
        """Of two endpoints both answering 500, max_ejection_percent: 50 lets one be ejected and
        keeps the other taking traffic."""
        f1 = self.env.upstream("F1", args=["--fail-status", "500"])
        f2 = self.env.upstream("F2", args=["--fail-status", "500"])
        self.start([f1, f2], {"consecutive_5xx": 3, "max_ejection_percent": 50})
        self.drive_until_ejected()
        self.assertEqual(len(self.ejections()), 1, self.wg.stderr_text()[-2000:])
        kept = f2 if self.wg.stderr_matches(ejected_line(f1.address)) else f1
        before = traffic(kept)
        for i in range(30):  # three in a row many times over: it would be ejected if it could
            self.get(self.port, f"/more/{i}")
        self.assertEqual(len(self.ejections()), 1, self.wg.stderr_text()[-2000:])
        self.assertGreaterEqual(traffic(kept) - before, 15)

    def test_ejected_endpoint_is_the_last_resort_when_the_others_are_down(self):
        """An endpoint ejected for 500s that has since recovered takes the requests (tried
        after the dead one refuses) when the only other endpoint dies, instead of every request
        getting a 502 for the rest of the ejection."""
        f = self.env.upstream("F", args=["--fail-status", "500"])
        b = self.env.upstream("B")
        self.start([f, b], {"consecutive_5xx": 3}, workers=1)
        self.drive_until_ejected(f.address)
        f.set(fail_status=0)
        b.kill()
        answers = upstream_answers(self.port, 8)
        self.assertEqual(answers, ["F"] * 8, self.wg.stderr_text()[-2000:])

    def test_disabled_never_ejects(self):
        """outlier_detection: { enabled: false } keeps a backend that times out every request in
        the rotation (the default would eject it after 3)."""
        a = self.env.upstream("A")
        h = self.env.upstream("H", args=["--action", "hold"])
        self.start([a, h], {"enabled": False}, workers=1, timeout="300ms")
        answers = upstream_answers(self.port, 12)
        self.assertEqual(sorted(answers, key=str), [504] * 6 + ["A"] * 6)
        self.assertEqual(traffic(h), 6)
        self.assertEqual(self.wg.stderr_matches(r"outlier:"), [])


if __name__ == "__main__":
    unittest.main()
