"""A config with many hosts (issue 17): every host routes, reloads keep serving while the new
table is built, and memory does not grow over repeated reloads.

Size: WAYGATE_TEST_MANY_HOSTS hosts (default 100,000; scripts/test.sh uses fewer under the
sanitizer), three paths each: a prefix /api/ to a cluster, an exact /id answered by waygate with
the host's number and the config's version, and a prefix / to the cluster.
"""

import os
import random
import re
import threading
import unittest

from harness import (HOST, HttpConnection, WaygateTestCase, admin_request, free_port, request,
                     wait_until)

HOSTS = int(os.environ.get("WAYGATE_TEST_MANY_HOSTS", "100000"))
CLUSTERS = 100
SAMPLE = 200
RELOADS = 10
# Guards against a hang; a config of 100,000 hosts loads in about a second.
LOAD_TIMEOUT = 60.0


def many_hosts_config(port, admin_port, upstream, version):
    lines = ["workers: 1", "access_log: off", f"admin: {{ address: {HOST}:{admin_port} }}",
             "listeners:", "  - name: web", f"    address: {HOST}:{port}", "routes:"]
    for i in range(HOSTS):
        cluster = f"c{i % CLUSTERS}"
        lines += [f'  - hosts: ["host{i}.example.com"]', "    paths:",
                  "      - prefix: /api/", f"        cluster: {cluster}",
                  "      - exact: /id",
                  f'        respond: {{ status: 200, body: "host{i} v{version}" }}',
                  "      - prefix: /", f"        cluster: {cluster}"]
    lines.append("clusters:")
    for c in range(CLUSTERS):
        lines += [f"  - name: c{c}", f"    endpoints: [{upstream}]"]
    return "\n".join(lines) + "\n"


def uses_sanitizer(pid):
    """ASan keeps freed memory in quarantine: resident memory says nothing about leaks there."""
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


class ManyHostsTest(WaygateTestCase):

    def setUp(self):
        super().setUp()
        self.up = self.env.upstream("A")
        self.port, self.admin_port = free_port(), free_port()
        self.version = 1
        self.wg = self.env.waygate(self.config(), self.port)
        wait_until(lambda: self.admin("GET", "/ready").status == 200, LOAD_TIMEOUT,
                   message="waygate to be ready")

    def config(self):
        return many_hosts_config(self.port, self.admin_port, self.up.address, self.version)

    def admin(self, method, path):
        return admin_request(self.admin_port, method, path, timeout=LOAD_TIMEOUT)

    def reload(self):
        self.version += 1
        self.wg.write_config(self.config(), how="rename")  # never seen half-written
        response = self.admin("POST", "/reload")
        # The file watcher may have applied the same text first: then it is unchanged here.
        self.assertEqual(response.status, 200, response.body)
        self.assertIn(response.body, (b"reloaded\n", b"unchanged\n"))

    def get_id(self, conn, i):
        conn.send(request("GET", "/id", host=f"host{i}.example.com"))
        return conn.read_response()

    def sample_hosts(self):
        rng = random.Random(17)
        return [0, HOSTS - 1] + rng.sample(range(HOSTS), min(SAMPLE, HOSTS))

    def test_every_sampled_host_routes_to_its_own_paths(self):
        with HttpConnection(self.port) as conn:
            for i in self.sample_hosts():
                response = self.get_id(conn, i)
                self.assertEqual((response.status, response.body), (200, f"host{i} v1".encode()))
            for i in (0, HOSTS // 2, HOSTS - 1):
                conn.send(request("GET", "/api/users", host=f"host{i}.example.com"))
                response = conn.read_response()
                self.assertEqual(response.status, 200, f"host{i}: {response.body!r}")
                self.assertEqual(response.header("X-Upstream-Name"), "A")
            conn.send(request("GET", "/id", host=f"host{HOSTS}.example.com"))
            self.assertEqual(conn.read_response().status, 404)

    def test_reloads_keep_serving_and_apply(self):
        errors, answered = [], [0]
        stop = threading.Event()

        def serve_meanwhile():
            try:
                with HttpConnection(self.port) as conn:
                    while not stop.is_set():
                        response = self.get_id(conn, 7)
                        if response.status != 200 or not re.fullmatch(rb"host7 v\d+",
                                                                     response.body):
                            errors.append((response.status, response.body))
                        answered[0] += 1
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(e)
        sender = threading.Thread(target=serve_meanwhile, daemon=True)
        sender.start()
        try:
            for _ in range(3):
                self.reload()
                # Requests answered since the last reload: serving went on while it was built.
                before = answered[0]
                wait_until(lambda: answered[0] > before, 10.0,
                           message="requests to be answered after the reload")
        finally:
            stop.set()
            sender.join(LOAD_TIMEOUT)
        self.assertEqual(errors, [])
        with HttpConnection(self.port) as conn:
            for i in (0, HOSTS - 1):
                self.assertEqual(self.get_id(conn, i).body, f"host{i} v{self.version}".encode())

    def test_memory_does_not_grow_over_reloads(self):
        if uses_sanitizer(self.wg.pid):
            self.skipTest("the sanitizer's quarantine holds freed memory")
        small_port = free_port()
        small = self.env.waygate(
            "workers: 1\naccess_log: off\nlisteners:\n"
            f"  - name: web\n    address: {HOST}:{small_port}\nroutes: []\nclusters: []\n",
            small_port)
        # What one config of this size keeps resident, beyond what any waygate needs.
        config_kib = self.wg.proc_status_kib("VmRSS") - small.proc_status_kib("VmRSS")
        for _ in range(2):
            self.reload()
        after_two = self.wg.proc_status_kib("VmRSS")
        for _ in range(RELOADS - 2):
            self.reload()
        # A config (or route table) leaked per reload would add several configs' worth here; the
        # old snapshot is freed once the worker has let go of it, so this waits for that.
        wait_until(lambda: self.wg.proc_status_kib("VmRSS") - after_two < config_kib / 4, 10.0,
                   message=f"resident memory to stay within a quarter of one config "
                           f"({config_kib} KiB) of its size after two reloads ({after_two} KiB)")
        with HttpConnection(self.port) as conn:
            self.assertEqual(self.get_id(conn, 3).body, f"host3 v{self.version}".encode())

    def test_unchanged_reloads_hand_back_what_they_read(self):
        """A reload of an unchanged file still reads and checks it whole; the document is freed
        and its pages handed back, so reloads that change nothing do not leave a config's worth of
        memory resident each."""
        if uses_sanitizer(self.wg.pid):
            self.skipTest("the sanitizer's quarantine holds freed memory")
        before = self.wg.proc_status_kib("VmRSS")
        for _ in range(3):
            response = self.admin("POST", "/reload")
            self.assertEqual((response.status, response.body), (200, b"unchanged\n"))
        grown = self.wg.proc_status_kib("VmRSS") - before
        # The document of this config alone is more than half of what the config keeps.
        self.assertLess(grown, before / 8, f"resident memory grew by {grown} KiB over "
                                           f"{before} KiB after three unchanged reloads")


if __name__ == "__main__":
    unittest.main()
