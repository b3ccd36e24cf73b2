"""Route retries: `retry: {attempts, on: [...]}` sends a failed attempt to another endpoint.

Each cluster pairs a broken endpoint (a port nobody listens on, or an upstream that answers 503
to everything) with a live upstream L; round robin sends every other request to the broken one,
so without a retry half of them fail.
"""

import unittest

from harness import WaygateTestCase, refusing_address, request


class RetryTest(WaygateTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.class_env
        cls.live = env.upstream("L")
        cls.failing = env.upstream("F", args=["--fail-status", "503"])
        refused = refusing_address()
        dead = [refusing_address() for _ in range(5)]
        connect_retry = {"attempts": 2, "on": ["connect-failure"]}
        routes = [{"hosts": ["proxy.test"], "paths": [
            {"prefix": "/retry-connect/", "cluster": "half-refused", "retry": connect_retry},
            {"prefix": "/mostly-dead/", "cluster": "mostly-dead",
             "retry": {"attempts": 5, "on": ["connect-failure"]}},
            {"prefix": "/no-retry/", "cluster": "half-refused", "retry": {"attempts": 0}},
            {"prefix": "/retry-503/", "cluster": "half-503",
             "retry": {"attempts": 2, "on": ["503"]}}]}]
        # Outlier detection would eject the refused endpoint and hide what these tests look at.
        clusters = {"half-refused": {"endpoints": [refused, cls.live.address],
                                     "outlier_detection": {"enabled": False}},
                    "mostly-dead": {"endpoints": dead + [cls.live.address],
                                    "outlier_detection": {"enabled": False}},
                    "half-503": [cls.failing.address, cls.live.address]}
        cls.wg = cls.start_proxy(env, clusters, routes=routes, workers=1)

    def send(self, method, target, body=None):
        conn = self.connect(self.wg.port)
        conn.send(request(method, target, body=body))
        return conn.read_response(method)

    def assertAllFromLive(self, responses, bodies):
        got = [(r.status, r.header("x-upstream-name"), r.body) for r in responses]
        self.assertEqual(got, [(200, "L", body) for body in bodies])

    def test_connect_failure_is_retried_on_another_endpoint(self):
        """With on: [connect-failure], 20 GETs to a half-refused cluster all get 200."""
        targets = [f"/retry-connect/get{i}" for i in range(20)]
        self.assertAllFromLive([self.send("GET", t) for t in targets],
                               [f"L GET {t}\n".encode() for t in targets])

    def test_post_with_body_is_retried_after_connect_failure(self):
        """A POST whose connect failed is retried with its body, which was not sent yet."""
        bodies = [f"body {i}".encode() for i in range(20)]
        self.assertAllFromLive([self.send("POST", "/retry-connect/echo", b) for b in bodies],
                               bodies)

    def test_refused_connects_are_retried_beyond_the_retry_budget(self):
        """24 GETs at once to a cluster of five refusing endpoints and one live one all get 200:
        retries after a refused connect (which cost the cluster nothing) are not held back by
        the retry budget, which allows only a few retries in flight at once."""
        conns = [self.connect(self.wg.port) for _ in range(24)]
        targets = [f"/mostly-dead/get{i}" for i in range(len(conns))]
        for conn, target in zip(conns, targets):
            conn.send(request("GET", target))
        self.assertAllFromLive([conn.read_response() for conn in conns],
                               [f"L GET {t}\n".encode() for t in targets])

    def test_503_is_retried_on_another_endpoint(self):
        """With on: [503], 20 GETs to a cluster with an endpoint answering 503 all get 200."""
        targets = [f"/retry-503/get{i}" for i in range(20)]
        self.assertAllFromLive([self.send("GET", t) for t in targets],
                               [f"L GET {t}\n".encode() for t in targets])

    def test_refused_endpoint_gives_502_without_retry(self):
        """With retries off, requests sent to the refused endpoint get 502."""
        statuses = [self.send("GET", f"/no-retry/get{i}").status for i in range(20)]
        self.assertIn(502, statuses)
        self.assertEqual(set(statuses), {200, 502}, statuses)


if __name__ == "__main__":
    unittest.main()
