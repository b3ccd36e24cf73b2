"""Load-balancing policies (`lb`, `hash_on`, `sticky`, endpoint weights): which backend a request
reaches, read from X-Upstream-Name and counted at the upstreams.

ring_hash and maglev keep a key on one backend and move few keys when a backend leaves;
least_request avoids a busy backend; random spreads without rotating; weights from a file source
skew round robin; a sticky cookie keeps a client on its backend unless that backend is unhealthy.
"""

import json
import os
import threading
import unittest

from harness import (ConnectionClosed, HttpConnection, WaygateTestCase, health_line, proxy_config,
                     request, upstream_answers, wait_for_answers, wait_until)

POLL_TIMEOUT = 10.0  # a failure guard, not a timing expectation
STICKY = "waygate_sticky"


def name_of(resp):
    if resp.status != 200:
        raise AssertionError(f"expected 200, got {resp!r}")
    return resp.header("x-upstream-name")


class LbTestCase(WaygateTestCase):

    def start(self, endpoints, workers=2, **cluster):
        self.cluster = {"endpoints": [e.address for e in endpoints], **cluster}
        self.workers = workers
        self.wg = self.start_proxy(self.env, {"app": self.cluster}, workers=workers)
        self.port = self.wg.port

    def reload_with(self, endpoints):
        """Rewrites the config with these endpoints (the cluster's other keys kept) and waits
        until the reload is applied."""
        reloads = self.wg.reload_count()
        self.cluster["endpoints"] = [e.address for e in endpoints]
        self.wg.write_config(proxy_config(self.port, {"app": self.cluster},
                                          workers=self.workers))
        self.wg.wait_for_reloads(reloads + 1)

    def backend(self, headers=(), conn=None, source=None):
        """The backend that answers one GET (on conn, or a fresh connection from source)."""
        if conn is not None:
            conn.send(request("GET", "/lb", headers=headers))
            return name_of(conn.read_response())
        with HttpConnection(self.port, source=source) as fresh:
            fresh.send(request("GET", "/lb", headers=headers))
            return name_of(fresh.read_response())


class HashPolicyTests:
    """Tests every hashing policy passes; a subclass sets LB and SURVIVORS_MOVED (the share of
    keys on backends that stay which may move when another backend leaves)."""

    LB = None
    SURVIVORS_MOVED = 0.0

    def start_hashing(self, names="ABC", hash_on=None):
        ups = {name: self.env.upstream(name) for name in names}
        self.start(list(ups.values()), lb=self.LB, hash_on=hash_on or {"header": "X-User"})
        # Four keep-alive connections used in turn, so that each key reaches both workers.
        self.conns = [self.connect(self.port) for _ in range(4)]
        self.turn = 0
        return ups

    def backend_for(self, key):
        conn = self.conns[self.turn % len(self.conns)]
        self.turn += 1
        return self.backend([("X-User", key)], conn=conn)

    def mapping(self, keys):
        return {key: self.backend_for(key) for key in keys}

    def test_same_key_always_reaches_the_same_backend(self):
        self.start_hashing()
        for key in (f"user-{i}" for i in range(20)):
            seen = {self.backend_for(key) for _ in range(8)}  # twice on every connection
            self.assertEqual(len(seen), 1, f"{key} reached {sorted(seen)}")

    def test_keys_spread_over_every_backend(self):
        self.start_hashing()
        mapping = self.mapping(f"user-{i}" for i in range(300))
        counts = {name: list(mapping.values()).count(name) for name in "ABC"}
        for name, count in counts.items():
            self.assertGreaterEqual(count, 30, counts)  # a tenth of the keys at least

    def test_removing_a_backend_moves_about_a_third_of_the_keys(self):
        ups = self.start_hashing()
        keys = [f"user-{i}" for i in range(300)]
        before = self.mapping(keys)
        on_c = [k for k in keys if before[k] == "C"]
        self.reload_with([ups["A"], ups["B"]])
        # Every connection (and so both workers) has the new host set once C's keys leave C.
        wait_until(lambda: all(self.backend_for(k) != "C" for k in on_c[:8]), POLL_TIMEOUT,
                   0.02, "C's keys to leave C")
        after = self.mapping(keys)
        self.assertNotIn("C", after.values())
        moved = [k for k in keys if after[k] != before[k]]
        self.assertTrue(50 <= len(moved) <= 200, f"{len(moved)} of 300 keys moved")
        survivors = [k for k in keys if before[k] != "C"]
        moved_survivors = [k for k in survivors if after[k] != before[k]]
        self.assertLessEqual(len(moved_survivors), self.SURVIVORS_MOVED * len(survivors),
                             f"{len(moved_survivors)} keys moved between backends that stayed")


class RingHashTest(HashPolicyTests, LbTestCase):
    LB = "ring_hash"
    SURVIVORS_MOVED = 0.0  # a ring only loses the removed backend's points

    def test_client_address_keeps_each_client_on_one_backend(self):
        """hash_on: { client_address: true }: every connection from one source address reaches
        the same backend, whatever its port; different addresses spread."""
        self.start_hashing(hash_on={"client_address": True})
        mapping = {}
        for i in range(10, 40):
            source = f"127.0.0.{i}"
            seen = {self.backend(source=source) for _ in range(3)}
            self.assertEqual(len(seen), 1, f"{source} reached {sorted(seen)}")
            mapping[source] = seen.pop()
        self.assertGreaterEqual(len(set(mapping.values())), 2, mapping)


class MaglevTest(HashPolicyTests, LbTestCase):
    LB = "maglev"
    SURVIVORS_MOVED = 0.1  # Maglev's table moves a few of them

    def test_cookie_keeps_a_session_on_one_backend(self):
        """hash_on: { cookie: session }: the same cookie value reaches the same backend; other
        cookies in the header do not matter."""
        self.start_hashing(hash_on={"cookie": "session"})
        mapping = {}
        for i in range(20):
            seen = {self.backend([("Cookie", f"theme=t{n}; session=s{i}; lang=en")])
                    for n in range(4)}
            self.assertEqual(len(seen), 1, f"session s{i} reached {sorted(seen)}")
            mapping[i] = seen.pop()
        self.assertGreaterEqual(len(set(mapping.values())), 2, mapping)


class BackgroundGet:
    """One GET on its own connection, in a thread; response (or error) when done is set."""

    def __init__(self, port, target):
        self.response = None
        self.error = None
        self.done = threading.Event()
        self.conn = HttpConnection(port, timeout=30.0)
        self.conn.send(request("GET", target))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            self.response = self.conn.read_response()
        except (OSError, ConnectionClosed) as e:
            self.error = e
        finally:
            self.done.set()

    def close(self):
        self.conn.close()
        self._thread.join(POLL_TIMEOUT)


class PolicyTest(LbTestCase):

    def test_least_request_prefers_an_idle_backend(self):
        """With one request held at B, least_request sends every new request to the idle A
        (round robin would send half of them to B)."""
        b, a = self.env.upstream("B"), self.env.upstream("A")
        a.release()  # A answers /hold at once; B keeps what it gets
        self.start([b, a], workers=1, lb="least_request")  # in-flight counts are per worker
        gets = []
        self.addCleanup(lambda: [g.close() for g in gets])
        self.addCleanup(b.release)
        for i in range(40):  # until one /hold lands on B
            gets.append(BackgroundGet(self.port, f"/hold?i={i}"))
            wait_until(lambda: gets[-1].done.is_set() or b.stats()["held"] >= 1, POLL_TIMEOUT,
                       0.01, "the held request to be answered or held")
            if b.stats()["held"] >= 1:
                break
        self.assertEqual(b.stats()["held"], 1)
        wait_until(lambda: all(g.done.is_set() for g in gets[:-1]), POLL_TIMEOUT, 0.01,
                   "A's answers")
        answers = upstream_answers(self.port, 20)
        self.assertEqual(answers, ["A"] * 20)

    def test_random_spreads_without_rotating(self):
        """lb: random reaches every backend, and not in a fixed turn (round robin on one worker
        would repeat A, B, C)."""
        ups = [self.env.upstream(name) for name in "ABC"]
        self.start(ups, workers=1, lb="random")
        answers = upstream_answers(self.port, 60)
        self.assertEqual(set(answers), {"A", "B", "C"}, answers)
        self.assertTrue(any(answers[i] != answers[i + 3] for i in range(57)),
                        f"a fixed rotation: {answers}")

    def test_file_weights_skew_round_robin(self):
        """Weights 1 and 3 from a discovery file give A about a quarter of the requests."""
        a, b = self.env.upstream("A"), self.env.upstream("B")
        source = os.path.join(self.env.dir, "endpoints.json")
        with open(source, "w") as f:
            json.dump([{"address": a.host, "port": a.port, "weight": 1},
                       {"address": b.host, "port": b.port, "weight": 3}], f)
        self.wg = self.start_proxy(self.env, {"app": {"lb": "round_robin",
                                                      "discovery": {"file": {"path": source}}}},
                                   workers=1)
        answers = upstream_answers(self.wg.port, 120)
        self.assertEqual(set(answers), {"A", "B"}, answers)
        self.assertTrue(18 <= answers.count("A") <= 42,
                        f"A got {answers.count('A')} of 120 (expected about 30)")


def sticky_cookie(resp):
    """(value, the whole Set-Cookie) of the sticky cookie a response sets, or None."""
    for header in resp.header_values("set-cookie"):
        name, _, rest = header.partition("=")
        if name.strip() == STICKY:
            return rest.split(";", 1)[0].strip(), header
    return None


class StickyTest(LbTestCase):

    def start_sticky(self, names="ABC", **cluster):
        ups = {name: self.env.upstream(name) for name in names}
        self.start(list(ups.values()), sticky={"cookie": STICKY, "ttl": "1h"}, **cluster)
        return ups

    def first_visit(self):
        """A request without the cookie: (backend, cookie value)."""
        resp = self.get(self.port, "/lb")
        cookie = sticky_cookie(resp)
        self.assertIsNotNone(cookie, f"no {STICKY} cookie set: {resp!r}")
        return name_of(resp), cookie[0]

    def with_cookie(self, value):
        return [("Cookie", f"other=1; {STICKY}={value}")]

    def test_cookie_set_on_first_response_keeps_the_client_on_its_backend(self):
        """The first response sets the cookie (Max-Age from ttl: 1h); requests that send it
        back reach the same backend."""
        self.start_sticky()
        resp = self.get(self.port, "/lb")
        cookie = sticky_cookie(resp)
        self.assertIsNotNone(cookie, f"no {STICKY} cookie set: {resp!r}")
        value, header = cookie
        self.assertIn("max-age=3600", header.lower().replace(" ", ""), header)
        first = name_of(resp)
        seen = [self.backend(self.with_cookie(value)) for _ in range(10)]
        self.assertEqual(seen, [first] * 10)
        self.assertGreaterEqual(len(set(upstream_answers(self.port, 6))), 2,
                                "without the cookie requests should rotate")

    def test_cookie_holds_across_a_reload_that_adds_a_backend(self):
        ups = self.start_sticky()
        d = self.env.upstream("D")
        first, value = self.first_visit()
        self.reload_with(list(ups.values()) + [d])
        wait_for_answers(self.port, {"A", "B", "C", "D"}, POLL_TIMEOUT)
        seen = [self.backend(self.with_cookie(value)) for _ in range(10)]
        self.assertEqual(seen, [first] * 10)

    def test_cookie_naming_an_unhealthy_backend_is_ignored(self):
        """A cookie for a backend that turned unhealthy is re-picked: another backend answers
        and sets a new cookie, which then sticks."""
        check = {"http": {"path": "/healthz"}, "interval": "300ms", "timeout": "300ms",
                 "healthy_threshold": 2, "unhealthy_threshold": 2}
        ups = self.start_sticky(health_check=check)
        first, value = self.first_visit()
        ups[first].set(health_status=500)
        self.wg.wait_for_stderr(health_line("app", ups[first].address, "unhealthy"), 1,
                                POLL_TIMEOUT)
        moved = []

        def repicked():
            resp = self.get(self.port, "/lb", headers=self.with_cookie(value))
            moved[:] = [resp]
            return name_of(resp) != first
        wait_until(repicked, POLL_TIMEOUT, 0.02, "the cookie to be ignored")
        second = name_of(moved[0])
        cookie = sticky_cookie(moved[0])
        self.assertIsNotNone(cookie, f"no new cookie when re-picked: {moved[0]!r}")
        self.assertNotEqual(cookie[0], value)
        seen = [self.backend(self.with_cookie(cookie[0])) for _ in range(5)]
        self.assertEqual(seen, [second] * 5)


if __name__ == "__main__":
    unittest.main()
