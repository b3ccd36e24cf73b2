"""Abuse limits in the data path (docs/config.md, "Rate limits" and "Limits"): a path's
`rate_limit` answers 429 with Retry-After once its bucket (the route's, or the client's) is empty,
without touching other routes or clients, and a reload keeps a bucket whose limit stayed;
`limits.max_connections_per_client` closes a client's further connections at accept; and a
waygate out of file descriptors stops accepting, keeps serving the connections it has, says so
once, and accepts again when one closes.

Rates are 0.001 per second: no token comes back while a test runs, so the burst is exactly what
a test gets, with no timing involved.
"""

import os
import re
import resource
import select
import time

from harness import (HOST, HttpConnection, WaygateTestCase, admin_request, free_port,
                     port_accepts, proxy_config, request, wait_until)

SLOW = "0.001"  # requests per second: a token every 1000 s
OTHER_CLIENT = "127.0.0.2"  # another loopback address: another client to waygate
PAUSED = r"cannot accept: Too many open files"
STILL_PAUSED = r"debug worker \d+: still out of file descriptors"
RESUMED = r"accepting again"
RESUME_INTERVAL = 0.5  # seconds between tries while out of descriptors (worker.cc)


def respond(path, body, **keys):
    return {"exact": path, "respond": {"status": 200, "body": body}, **keys}


def get(port, target, source=None):
    """One request on its own connection; the response."""
    with HttpConnection(port, source=source) as conn:
        conn.send(request("GET", target))
        return conn.read_response()


def statuses(port, target, count, source=None):
    return [get(port, target, source).status for _ in range(count)]


def cpu_seconds(pid):
    """User and system CPU time the process has used (/proc/PID/stat, fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(admin_port, name, labels=""):
    """A sample's value from GET /metrics (labels as written there, `scope="route"`), or None."""
    body = admin_request(admin_port, "GET", "/metrics").body.decode()
    pattern = rf"^{re.escape(name)}{{{re.escape(labels)}}} (\S+)$" if labels else \
        rf"^{re.escape(name)} (\S+)$"
    found = re.search(pattern, body, re.M)
    return float(found.group(1)) if found else None


class RateLimitTest(WaygateTestCase):

    def start(self, paths, clusters=None):
        self.admin_port = free_port()
        self.port = free_port()
        self.clusters = clusters or {"unused": ["127.0.0.1:1"]}
        self.wg = self.env.waygate(self.config([{"hosts": ["*"], "paths": paths}]), self.port)
        wait_until(lambda: port_accepts(self.admin_port), message="the admin address to accept")

    def config(self, routes):
        return proxy_config(self.port, self.clusters, routes=routes,
                            top={"admin": {"address": f"{HOST}:{self.admin_port}"}})

    def test_the_request_after_the_burst_gets_429_with_retry_after(self):
        self.start([respond("/limited", "ok\n",
                            rate_limit={"requests_per_second": SLOW, "burst": 3}),
                    respond("/free", "free\n")])
        self.assertEqual(statuses(self.port, "/limited", 3), [200, 200, 200])
        refused = get(self.port, "/limited")
        self.assertEqual(refused.status, 429, refused)
        self.assertEqual(refused.body, b"429 Too Many Requests\n")
        # Whole seconds until a token is back: at most 1 / rate, and never 0.
        retry_after = refused.header("retry-after")
        self.assertRegex(retry_after or "", r"^[0-9]+$", refused)
        self.assertTrue(1 <= int(retry_after) <= 1000, retry_after)
        self.assertEqual(get(self.port, "/free").status, 200, "another route is not limited")
        self.assertEqual(get(self.port, "/limited", OTHER_CLIENT).status, 429,
                         "a route's own limit is shared by every client")
        line = self.wg.wait_for_log(r'"GET /limited HTTP/1\.1" 429 ')
        self.assertIn("error=rate-limited", line)
        self.assertEqual(metric(self.admin_port, "waygate_rate_limited_requests_total",
                                'scope="route"'), 2)
        self.assertEqual(metric(self.admin_port, "waygate_rate_limited_requests_total",
                                'scope="client"'), 0)

    def test_get_routes_shows_the_limits(self):
        self.start([respond("/limited", "ok\n",
                            rate_limit={"requests_per_second": "0.5", "burst": 3,
                                        "per_client": {"requests_per_second": 2}}),
                    respond("/free", "free\n")])
        paths = admin_request(self.admin_port, "GET", "/routes").json()["routes"][0]["paths"]
        self.assertEqual(paths[0]["rate_limit"], {"requests_per_second": 0.5, "burst": 3,
                                                  "per_client": {"requests_per_second": 2,
                                                                 "burst": 2}})
        self.assertNotIn("rate_limit", paths[1])

    def test_a_refused_request_never_reaches_the_upstream(self):
        up = self.env.upstream("A")
        self.start([{"prefix": "/", "cluster": "A",
                     "rate_limit": {"requests_per_second": SLOW, "burst": 2}}],
                   clusters={"A": [up.address]})
        self.assertEqual(statuses(self.port, "/x", 4), [200, 200, 429, 429])
        self.assertEqual(up.stats()["requests"], 2)

    def test_per_client_limits_count_each_client_apart(self):
        self.start([respond("/api", "ok\n",
                            rate_limit={"per_client": {"requests_per_second": SLOW,
                                                       "burst": 2}})])
        self.assertEqual(statuses(self.port, "/api", 3), [200, 200, 429])
        self.assertEqual(statuses(self.port, "/api", 3, OTHER_CLIENT), [200, 200, 429],
                         "another client has a bucket of its own")
        self.assertEqual(metric(self.admin_port, "waygate_rate_limited_requests_total",
                                'scope="client"'), 2)

    def test_a_client_over_its_limit_spends_nothing_of_the_routes(self):
        self.start([respond("/api", "ok\n",
                            rate_limit={"requests_per_second": SLOW, "burst": 3,
                                        "per_client": {"requests_per_second": SLOW,
                                                       "burst": 1}})])
        self.assertEqual(statuses(self.port, "/api", 4), [200, 429, 429, 429])
        self.assertEqual(statuses(self.port, "/api", 3, OTHER_CLIENT), [200, 429, 429])
        self.assertEqual(get(self.port, "/api", "127.0.0.3").status, 200,
                         "the route's burst of 3 had one request left")
        self.assertEqual(get(self.port, "/api", "127.0.0.4").status, 429)

    def test_a_reload_keeps_buckets_whose_limit_stayed(self):
        limited = respond("/limited", "ok\n",
                          rate_limit={"requests_per_second": SLOW, "burst": 2})
        self.start([limited])
        self.assertEqual(statuses(self.port, "/limited", 3), [200, 200, 429])
        # Another path added, this one left as it was: its empty bucket stays empty.
        self.wg.write_config(self.config([{"hosts": ["*"], "paths": [
            limited, respond("/added", "added\n")]}]))
        self.wg.wait_for_reloads(1)
        self.assertEqual(get(self.port, "/added").status, 200)
        self.assertEqual(get(self.port, "/limited").status, 429)
        # Its limit changed: a new bucket, full.
        self.wg.write_config(self.config([{"hosts": ["*"], "paths": [
            respond("/limited", "ok\n",
                    rate_limit={"requests_per_second": SLOW, "burst": 3})]}]))
        self.wg.wait_for_reloads(2)
        self.assertEqual(statuses(self.port, "/limited", 4), [200, 200, 200, 429])


class ConnectionsPerClientTest(WaygateTestCase):

    def test_a_clients_connections_over_the_limit_are_closed_at_accept(self):
        admin_port = free_port()
        port = free_port()
        wg = self.env.waygate(proxy_config(
            port, {"unused": ["127.0.0.1:1"]},
            routes=[{"hosts": ["*"], "paths": [respond("/", "ok\n")]}],
            limits={"max_connections_per_client": 2},
            top={"admin": {"address": f"{HOST}:{admin_port}"}}), port)
        wait_until(lambda: port_accepts(admin_port), message="the admin address to accept")
        # The harness's readiness probe was a connection too: retry until it has closed.
        held = [wait_until(lambda: self.served_connection(port),
                           message="a connection under the limit served") for _ in range(2)]
        refused_before = metric(admin_port, "waygate_refused_connections_total",
                                'limit="max_connections_per_client"')
        third = self.connect(port)
        try:
            third.send(request("GET", "/"))
        except OSError:
            pass  # closed by waygate already
        self.assertEqual(third.read_until_closed(), b"",
                         "the third connection must be closed without a response")
        self.assertEqual(metric(admin_port, "waygate_refused_connections_total",
                                'limit="max_connections_per_client"'), refused_before + 1)
        wg.wait_for_stderr(r"connection\(s\) refused since the last such line, the last from "
                           r"127\.0\.0\.1 \(max_connections_per_client 2 reached\)")
        self.assertTrue(self.served_connection(port, source=OTHER_CLIENT),
                        "another client is not limited")
        held[0].close()
        wait_until(lambda: self.served_connection(port),
                   message="a new connection once one has closed")


class OutOfFileDescriptorsTest(WaygateTestCase):

    def test_accepting_pauses_and_resumes_and_is_logged_once(self):
        port = free_port()
        wg = self.env.waygate(proxy_config(
            port, {"unused": ["127.0.0.1:1"]},
            routes=[{"hosts": ["*"], "paths": [respond("/", "ok\n")]}],
            top={"log_level": "debug"}), port)
        served = self.connect(port)
        served.send(request("GET", "/"))
        self.assertEqual(served.read_response().status, 200)
        # No descriptor above those open now: the next accept finds none (or a hole below). The
        # soft limit, as `ulimit -n` sets; put back before waygate exits, as the sanitizers'
        # runtime needs descriptors of its own to report on anything.
        fds = [int(fd) for fd in os.listdir(f"/proc/{wg.pid}/fd")]
        soft, hard = resource.prlimit(wg.pid, resource.RLIMIT_NOFILE)
        resource.prlimit(wg.pid, resource.RLIMIT_NOFILE, (max(fds) + 1, hard))
        self.addCleanup(resource.prlimit, wg.pid, resource.RLIMIT_NOFILE, (soft, hard))

        # Connections until one is not served: waygate has said it cannot accept.
        waiting = []
        for _ in range(64):
            conn = self.connect(port)
            conn.send(request("GET", "/"))
            wait_until(lambda: select.select([conn.sock], [], [], 0)[0]
                       or wg.stderr_matches(PAUSED), message="a response or the pause")
            if wg.stderr_matches(PAUSED) and not select.select([conn.sock], [], [], 0)[0]:
                waiting.append(conn)
                break
            self.assertEqual(conn.read_response().status, 200)
            served = conn  # the newest served one; each keeps its descriptor
        self.assertTrue(waiting, "waygate never ran out of descriptors")
        waiting.append(self.connect(port))
        waiting[-1].send(request("GET", "/"))

        # The connections it has are served meanwhile, again and again.
        for _ in range(3):
            served.send(request("GET", "/"))
            self.assertEqual(served.read_response().status, 200)

        # It tries again on a timer, quietly: two more tries, and no line but the first above
        # debug level. However loaded the machine, tries cannot come faster than the timer runs,
        # and waiting costs no CPU: a loop that spun on the listener would log thousands of
        # tries, or burn a core. (Both bounds are far above what a waiting process uses; a
        # loaded machine can only make it use less.)
        started, cpu_before = time.monotonic(), cpu_seconds(wg.pid)
        tries_before = len(wg.stderr_matches(STILL_PAUSED))
        wg.wait_for_stderr(STILL_PAUSED, count=tries_before + 2)
        elapsed = time.monotonic() - started
        tries = len(wg.stderr_matches(STILL_PAUSED)) - tries_before
        self.assertLessEqual(tries, elapsed / RESUME_INTERVAL + 2)
        self.assertLess(cpu_seconds(wg.pid) - cpu_before, elapsed / 2,
                        "waygate spins while it cannot accept")
        self.assertEqual(len(wg.stderr_matches(PAUSED)), 1, wg.stderr_text())

        # One closes: its descriptor lets the waiting ones in, in turn.
        served.close()
        first = waiting[0].read_response()
        self.assertEqual(first.status, 200, first)
        waiting[0].close()
        self.assertEqual(waiting[1].read_response().status, 200)
        # With a descriptor to spare (an accept that finds none waiting, rather than none free),
        # the episode is over, said once; one line for its start in all.
        waiting[1].close()
        wg.wait_for_stderr(RESUMED)
        self.assertEqual(get(port, "/").status, 200)
        self.assertEqual(len(wg.stderr_matches(PAUSED)), 1, wg.stderr_text())
