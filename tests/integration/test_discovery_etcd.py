"""Cluster endpoints from etcd (`discovery: etcd`), against a real etcd 3.4: every key under the
prefix is one endpoint; puts and deletes apply under load without a client error; bad values are
skipped; the watch survives etcd going away, catches up on what changed meanwhile, re-lists when
its revision was compacted, and fails over between members.

Changes "made while waygate is disconnected" are made deterministic by restarting the etcd
member on a private client port that waygate does not know: the changes (and a compaction) are
committed there, then the member comes back on the port waygate watches. A member that holds
waygate's watch is found by its watcher gauge (Etcd.watchers). Log lines are used only to know
that waygate has noticed etcd is gone.
"""

import json
import re
import threading

from harness import (ConnectionClosed, HttpConnection, WaygateTestCase, free_port,
                     proxy_config, request, upstream_answers, wait_for_answers, wait_for_leader,
                     wait_until)

POLL_TIMEOUT = 10.0  # a failure guard for "the change applied", not a timing expectation
# After etcd comes back, waygate's reconnect backoff (up to 10 s between tries) comes first.
RECONNECT_TIMEOUT = 30.0


def endpoint_value(up, weight=1):
    return json.dumps({"address": up.host, "port": up.port, "weight": weight})


def unreachable_warning(etcd):
    """A warn or error line naming the etcd member's client address."""
    return rf"(?m)^.* (?:warn|error) .*127[.]0[.]0[.]1:{etcd.client_port}\b.*$"


class KeepAliveLoad:
    """Client threads, each sending requests one after another on its own keep-alive connection.
    answers holds, in order of completion, the X-Upstream-Name of each 200 and the status of
    anything else; errors, every connection that failed (it is then replaced)."""

    def __init__(self, port, threads=4, target="/slow?delay=0.01"):
        self.port = port
        self.target = target
        self.lock = threading.Lock()
        self.answers = []
        self.errors = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self, index):
        conn = None
        while not self._stop.is_set():
            try:
                conn = conn or HttpConnection(self.port)
                conn.send(request("GET", self.target))
                resp = conn.read_response()
            except (OSError, ConnectionClosed, AssertionError) as e:
                with self.lock:
                    self.errors.append(f"client {index}: {e!r}")
                if conn:
                    conn.close()
                conn = None
                continue
            with self.lock:
                self.answers.append(resp.header("x-upstream-name") if resp.status == 200
                                    else resp.status)
        if conn:
            conn.close()

    def mark(self):
        with self.lock:
            return len(self.answers)

    def since(self, mark):
        with self.lock:
            return self.answers[mark:]

    def wait_for_seen(self, name, mark):
        wait_until(lambda: name in self.since(mark), POLL_TIMEOUT, 0.01,
                   f"{name} to answer under load")

    def wait_for_gone(self, name, mark, run=40):
        """Waits until the last run answers since mark come from others than name."""
        def gone():
            tail = self.since(mark)[-run:]
            return len(tail) == run and name not in tail
        wait_until(gone, POLL_TIMEOUT, 0.01, f"{run} answers in a row without {name}")

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


class EtcdTestCase(WaygateTestCase):
    """Upstreams A, B, C; each test's keys live under a prefix of its own."""

    def setUp(self):
        super().setUp()
        self.ups = {name: self.env.upstream(name) for name in "ABC"}
        self.prefix = f"/waygate/clusters/{self._testMethodName}/"

    def put_endpoint(self, etcd, name, key=None):
        return etcd.put(self.prefix + (key or name), endpoint_value(self.ups[name]))

    def start(self, etcd_urls, workers=1):
        cluster = {"discovery": {"etcd": {"endpoints": list(etcd_urls), "prefix": self.prefix}}}
        self.port = free_port()
        self.wg = self.env.waygate(proxy_config(self.port, {"web": cluster}, workers=workers),
                                   self.port)

    def wait_for(self, *expected, timeout=POLL_TIMEOUT):
        return wait_for_answers(self.port, expected, timeout)


class EtcdSourceTest(EtcdTestCase):
    """One etcd member for the class."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.etcd = cls.class_env.etcd()

    def test_keys_under_the_prefix_route_traffic(self):
        self.put_endpoint(self.etcd, "A")
        self.put_endpoint(self.etcd, "B")
        # A sibling prefix that merely starts the same way is not part of the cluster.
        self.etcd.put(self.prefix.rstrip("/") + "-other/c", endpoint_value(self.ups["C"]))
        self.start([self.etcd.url])
        self.wait_for("A", "B")

    def test_puts_and_deletes_under_load_cause_no_client_error(self):
        self.put_endpoint(self.etcd, "A")
        self.start([self.etcd.url], workers=2)
        self.wait_for("A")
        load = KeepAliveLoad(self.port)
        try:
            mark = load.mark()
            self.put_endpoint(self.etcd, "B")
            load.wait_for_seen("B", mark)
            self.put_endpoint(self.etcd, "C")
            load.wait_for_seen("C", mark)
            mark = load.mark()
            self.etcd.delete(self.prefix + "A")
            load.wait_for_gone("A", mark)
            mark = load.mark()
            self.etcd.delete(self.prefix + "B")
            load.wait_for_gone("B", mark)
            mark = load.mark()
            self.put_endpoint(self.etcd, "A")
            load.wait_for_seen("A", mark)
        finally:
            load.stop()
        self.assertEqual(load.errors, [])
        statuses = {a for a in load.answers if not isinstance(a, str)}
        self.assertEqual(statuses, set(), "every request should have been answered 200")
        self.assertEqual(set(load.answers), {"A", "B", "C"})

    def test_bad_values_are_skipped_with_a_warning_naming_the_key(self):
        bad = {self.prefix + "not-json": "10.0.0.7:8080",
               self.prefix + "no-port": json.dumps({"address": "127.0.0.1"})}
        for key, value in bad.items():
            self.etcd.put(key, value)
        self.put_endpoint(self.etcd, "A")
        self.start([self.etcd.url])
        self.wait_for("A")
        for key in bad:
            self.wg.wait_for_stderr(rf"(?m)^.*{re.escape(key)}\b.*$")
        later = self.prefix + "bad-port"
        self.etcd.put(later, json.dumps({"address": "127.0.0.1", "port": "eighty"}))
        self.wg.wait_for_stderr(rf"(?m)^.*{re.escape(later)}\b.*$")
        self.put_endpoint(self.etcd, "B")  # good values still apply after a bad one
        self.wait_for("A", "B")


class EtcdOutageTest(EtcdTestCase):
    """Each test has an etcd member of its own, which it stops and starts again."""

    def setUp(self):
        super().setUp()
        self.etcd = self.env.etcd()
        self.put_endpoint(self.etcd, "A")
        self.put_endpoint(self.etcd, "B")
        self.start([self.etcd.url])
        self.wait_for("A", "B")

    def stop_etcd_and_check_hosts_are_kept(self):
        noticed = len(self.wg.stderr_matches(unreachable_warning(self.etcd)))
        self.etcd.stop()
        self.wg.wait_for_stderr(unreachable_warning(self.etcd), noticed + 1)
        self.assertEqual(set(upstream_answers(self.port, 10)), {"A", "B"})

    def restart_etcd_on_a_private_port(self):
        """etcd back, on a client port waygate does not know: changes made now are committed
        while waygate cannot see them. Returns the port waygate watches."""
        watched = self.etcd.client_port
        self.etcd.start(client_port=free_port())
        self.etcd.wait_ready()
        return watched

    def restart_etcd_on(self, port):
        self.etcd.stop()
        self.etcd.start(client_port=port)
        self.etcd.wait_ready()

    def test_change_after_etcd_restart_applies(self):
        self.stop_etcd_and_check_hosts_are_kept()
        self.etcd.start()
        self.etcd.wait_ready()
        self.put_endpoint(self.etcd, "C")
        self.wait_for("A", "B", "C", timeout=RECONNECT_TIMEOUT)

    def test_changes_made_while_disconnected_apply_when_the_watch_resumes(self):
        self.stop_etcd_and_check_hosts_are_kept()
        watched = self.restart_etcd_on_a_private_port()
        self.put_endpoint(self.etcd, "C")
        self.etcd.delete(self.prefix + "A")
        self.assertEqual(set(upstream_answers(self.port, 10)), {"A", "B"})  # still unseen
        self.restart_etcd_on(watched)
        self.wait_for("B", "C", timeout=RECONNECT_TIMEOUT)

    def test_compacted_revision_forces_a_relist(self):
        self.stop_etcd_and_check_hosts_are_kept()
        watched = self.restart_etcd_on_a_private_port()
        seen = self.etcd.revision()  # the newest revision waygate can have seen
        self.put_endpoint(self.etcd, "C")
        self.etcd.delete(self.prefix + "A")
        compacted = self.etcd.compact()
        # A watch resuming after `seen` starts at seen + 1 at the latest, which is compacted
        # away now: etcd cancels it, and only a new range read shows that A left.
        self.assertGreater(compacted, seen + 1)
        self.restart_etcd_on(watched)
        self.wait_for("B", "C", timeout=RECONNECT_TIMEOUT)


class EtcdClusterTest(EtcdTestCase):

    def test_watch_fails_over_to_another_member(self):
        members = self.env.etcd_cluster(3)
        self.put_endpoint(members[0], "A")
        self.start([m.url for m in members])
        self.wait_for("A")
        watched = wait_until(lambda: next((m for m in members if m.watchers() > 0), None),
                             POLL_TIMEOUT, 0.05, "a member to hold waygate's watch")
        watched.kill()
        survivors = [m for m in members if m is not watched]
        wait_for_leader(survivors)
        self.put_endpoint(survivors[0], "B")
        self.wait_for("A", "B", timeout=RECONNECT_TIMEOUT)
