"""Retries and circuit breakers: `per_try_timeout` moves a request off a hanging backend, bodies
up to 64 KiB are kept so a reset POST can be retried, retries are on by default for connect
failures and resets and off with `attempts: 0`, and `circuit_breakers` (requests, pending,
connections) answer 503 at once beyond their limits (error=cluster-overflow).

Each cluster pairs a broken endpoint (refused, resetting, or holding every request) with a live
one; outlier detection is turned off where it would take the broken one out of the rotation and
hide what is tested. Which endpoint served is read from X-Upstream-Name and counted at the
upstreams.
"""

import threading
import unittest

from harness import (ConnectionClosed, HttpConnection, WaygateTestCase, refusing_address, request,
                     upstream_answers, wait_until)

POLL_TIMEOUT = 10.0  # a failure guard, not a timing expectation
NO_OUTLIERS = {"enabled": False}


def traffic(up):
    return up.stats()["requests"]


class ResilienceTestCase(WaygateTestCase):

    def start(self, endpoints, path=None, workers=1, limits=None, timeouts=None, **cluster):
        """waygate with one cluster "app"; path: the route's keys besides prefix and cluster."""
        route = {"prefix": "/", "cluster": "app", **(path or {})}
        spec = {"endpoints": [getattr(e, "address", e) for e in endpoints], **cluster}
        self.wg = self.start_proxy(self.env, {"app": spec}, workers=workers, limits=limits,
                                   timeouts=timeouts,
                                   routes=[{"hosts": ["*"], "paths": [route]}])
        self.port = self.wg.port

    def send(self, method, target, body=None):
        with HttpConnection(self.port) as conn:
            conn.send(request(method, target, body=body))
            return conn.read_response(method)


class RetryTest(ResilienceTestCase):

    def test_per_try_timeout_moves_a_request_off_a_hanging_backend(self):
        """A try that gets no answer within per_try_timeout (300ms; the route allows 30 s) is
        retried on the other endpoint, within the same client request."""
        h = self.env.upstream("H", args=["--action", "hold"])
        a = self.env.upstream("A")
        retry = {"attempts": 2, "on": ["timeout"], "per_try_timeout": "300ms"}
        self.start([h, a], {"timeout": "30s", "retry": retry}, outlier_detection=NO_OUTLIERS)
        answers = upstream_answers(self.port, 6)
        self.assertEqual(answers, ["A"] * 6)
        self.assertGreaterEqual(traffic(h), 1, "the hanging backend was never tried")

    def test_small_post_is_retried_after_a_reset(self):
        """A POST with a 1 KiB body whose first try is reset is retried with the same body on the
        other endpoint."""
        r = self.env.upstream("R", args=["--action", "reset"])
        a = self.env.upstream("A")
        self.start([r, a], {"retry": {"attempts": 2, "on": ["reset"]}},
                   outlier_detection=NO_OUTLIERS)
        for i in range(6):
            body = (f"post {i} ".encode() * 200)[:1024]
            resp = self.send("POST", "/echo", body)
            self.assertEqual((resp.status, resp.header("x-upstream-name")), (200, "A"), resp)
            self.assertEqual(resp.body, body)
        self.assertGreaterEqual(traffic(r), 1, "the resetting backend was never tried")

    def test_post_over_64_kib_is_not_retried(self):
        """A POST with a 100 KiB body is not kept, so a reset try cannot be retried: 502."""
        r = self.env.upstream("R", args=["--action", "reset"])
        a = self.env.upstream("A")
        self.start([r, a], {"retry": {"attempts": 2, "on": ["reset"]}},
                   outlier_detection=NO_OUTLIERS)
        body = b"x" * (100 * 1024)
        statuses = []
        for _ in range(4):
            resp = self.send("POST", "/echo", body)
            if resp.status == 200:
                self.assertEqual(resp.body, body)
            statuses.append(resp.status)
        self.assertEqual(sorted(statuses), [200, 200, 502, 502])
        self.assertEqual(traffic(r), 2)

    def test_attempts_0_turns_retries_off(self):
        """retry: { attempts: 0 }: requests sent to a refused endpoint get 502."""
        a = self.env.upstream("A")
        refused = refusing_address()
        self.start([refused, a], {"retry": {"attempts": 0}}, outlier_detection=NO_OUTLIERS)
        answers = upstream_answers(self.port, 20)
        self.assertEqual(sorted(answers, key=str), [502] * 10 + ["A"] * 10)

    def test_connect_failure_is_retried_by_default(self):
        """Without a retry key, every request to a cluster with one refused endpoint of two
        succeeds."""
        a = self.env.upstream("A")
        refused = refusing_address()
        self.start([refused, a])
        self.assertEqual(upstream_answers(self.port, 20), ["A"] * 20)

    def test_reset_get_is_retried_by_default(self):
        """Without a retry key, a GET whose first try is reset is retried on the other
        endpoint."""
        r = self.env.upstream("R", args=["--action", "reset"])
        a = self.env.upstream("A")
        self.start([r, a], outlier_detection=NO_OUTLIERS)
        self.assertEqual(upstream_answers(self.port, 6), ["A"] * 6)
        self.assertGreaterEqual(traffic(r), 1, "the resetting backend was never tried")


class HeldGet:
    """A GET to /hold on its own connection, read in a thread."""

    def __init__(self, port, index):
        self.status = None
        self.done = threading.Event()
        self.conn = HttpConnection(port, timeout=30.0)
        self.conn.send(request("GET", f"/hold?i={index}"))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            self.status = self.conn.read_response().status
        except (OSError, ConnectionClosed) as e:
            self.status = repr(e)
        finally:
            self.done.set()

    def close(self):
        self.conn.close()
        self._thread.join(POLL_TIMEOUT)


class CircuitBreakerTest(ResilienceTestCase):

    def hold(self, count, start=0):
        gets = [HeldGet(self.port, start + i) for i in range(count)]
        self.addCleanup(lambda: [g.close() for g in gets])
        return gets

    @staticmethod
    def answered(gets):
        return [g.status for g in gets if g.done.is_set()]

    def test_max_requests_answers_503_at_once_beyond_the_limit(self):
        """max_requests: 2 with 4 concurrent requests held at the upstream: two reach it, two
        get 503 before it answers anything (error=cluster-overflow)."""
        a = self.env.upstream("A")
        self.addCleanup(a.release)
        self.start([a], circuit_breakers={"max_requests": 2})
        gets = self.hold(4)
        wait_until(lambda: a.stats()["held"] == 2 and len(self.answered(gets)) == 2,
                   POLL_TIMEOUT, 0.01, "two held and two answered")
        self.assertEqual(self.answered(gets), [503, 503])
        a.release()
        wait_until(lambda: len(self.answered(gets)) == 4, POLL_TIMEOUT, 0.01, "every answer")
        self.assertEqual(sorted(self.answered(gets)), [200, 200, 503, 503])
        self.assertEqual(traffic(a), 2)
        self.wg.wait_for_log(r'"GET /hold\?i=\d HTTP/1\.1" 503 .*error=cluster-overflow')

    def test_max_pending_answers_503_at_once_beyond_the_queue(self):
        """One connection per endpoint and max_pending: 1: of 3 concurrent held requests one is
        served, one waits for the connection and is served after, the third gets 503 at once."""
        a = self.env.upstream("A")
        self.addCleanup(a.release)
        self.start([a], limits={"max_upstream_connections_per_endpoint": 1},
                   timeouts={"upstream_connect": "20s"},  # the waiting one must not time out
                   circuit_breakers={"max_pending": 1})
        gets = self.hold(1)
        wait_until(lambda: a.stats()["held"] == 1, POLL_TIMEOUT, 0.01, "the first to be held")
        gets += self.hold(2, start=1)
        wait_until(lambda: len(self.answered(gets)) == 1, POLL_TIMEOUT, 0.01, "a 503")
        self.assertEqual(self.answered(gets), [503])
        self.assertEqual(a.stats()["held"], 1)
        a.release()
        wait_until(lambda: len(self.answered(gets)) == 3, POLL_TIMEOUT, 0.01, "every answer")
        self.assertEqual(sorted(self.answered(gets)), [200, 200, 503])
        self.assertEqual(traffic(a), 2)
        self.wg.wait_for_log(r'"GET /hold\?i=\d HTTP/1\.1" 503 .*error=cluster-overflow')

    def test_max_connections_caps_the_connections_of_the_whole_cluster(self):
        """max_connections: 1 over two endpoints: while the first request holds the one
        connection, a request balanced to the other endpoint gets 503 at once (nothing there to
        wait for) and one balanced to the same endpoint waits for the connection and is served."""
        a, b = self.env.upstream("A"), self.env.upstream("B")
        self.addCleanup(a.release)
        self.addCleanup(b.release)
        # A long connect timeout: the waiting request must not time out.
        self.start([a, b], timeouts={"upstream_connect": "20s"},
                   circuit_breakers={"max_connections": 1})
        gets = self.hold(1)
        wait_until(lambda: a.stats()["held"] + b.stats()["held"] == 1, POLL_TIMEOUT, 0.01,
                   "the first to be held")
        gets += self.hold(2, start=1)  # round robin: one to each endpoint
        wait_until(lambda: len(self.answered(gets)) == 1, POLL_TIMEOUT, 0.01, "a 503")
        self.assertEqual(self.answered(gets), [503])
        a.release()
        b.release()
        wait_until(lambda: len(self.answered(gets)) == 3, POLL_TIMEOUT, 0.01, "every answer")
        self.assertEqual(sorted(self.answered(gets)), [200, 200, 503])
        self.assertEqual(sorted([traffic(a), traffic(b)]), [0, 2])
        self.wg.wait_for_log(r'"GET /hold\?i=\d HTTP/1\.1" 503 .*error=cluster-overflow')


if __name__ == "__main__":
    unittest.main()
