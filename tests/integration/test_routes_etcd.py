"""Route entries from etcd, one key per entry under a prefix (`routes_source: { etcd: { prefix } }`,
docs/config.md "Routes from etcd (routes_source)"): every key under the prefix holds `routes:` and
optionally `clusters:`, like a routes_dir file; a change to one key is validated and applied
alone, a broken entry is refused alone (its last good version and every other entry keep
serving), a deleted key's routes go, PUT/DELETE /routes/NAME write the key with If-Match on its
mod_revision, and the entries keep serving while etcd is down.

The config file routes file.test to A and defines clusters A and B; the entries route hosts
NAME.test to them. Changes are waited for by polling the proxy or GET /routes_dir, never by
sleeping.
"""

import json
import os
import re
import signal
import subprocess

from harness import (HOST, WAYGATE_BIN, HttpConnection, free_port, keep_alive_answers_while,
                     port_accepts, request, to_yaml, wait_until)
from route_entries_case import POLL_TIMEOUT, RouteEntriesCase, route_entry

RECONNECT_TIMEOUT = 30.0  # "the change applied" after etcd was down: reconnect backoff comes first
TOKEN = "routes-etcd-token-41c9"


class RoutesEtcdTestCase(RouteEntriesCase):

    token = TOKEN

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.etcd = cls.class_env.etcd()

    def setUp(self):
        super().setUp()
        self.up_a, self.up_b, self.up_c = (self.env.upstream(n) for n in "ABC")
        self.prefix = f"/waygate/{self._testMethodName}/"
        self.port, self.admin_port = free_port(), free_port()

    def config(self, file_cluster="A", etcd=None, **more):
        etcd = etcd or {"endpoints": [self.etcd.url], "prefix": self.prefix}
        return to_yaml({**more,
            "workers": 2, "access_log": "off",
            "admin": {"address": f"{HOST}:{self.admin_port}", "token": TOKEN},
            "routes_source": {"etcd": etcd},
            "listeners": [{"name": "web", "address": f"{HOST}:{self.port}"}],
            "routes": [{"hosts": ["file.test"],
                        "paths": [{"prefix": "/", "cluster": file_cluster}]}],
            "clusters": [{"name": "A", "endpoints": [self.up_a.address]},
                         {"name": "B", "endpoints": [self.up_b.address]}]})

    def start(self, entries):
        """Puts the entries (name -> text) under the prefix, then starts waygate and waits until
        every entry is read."""
        for name, text in entries.items():
            self.put(name, text)
        self.wg = self.env.waygate(self.config(), self.port)
        wait_until(lambda: port_accepts(self.admin_port), message="the admin address to accept")
        self.wait_for_status(lambda f: set(f) == set(entries), "every entry to be read")
        self.assertEqual(self.status_page()["prefix"], self.prefix)

    def put(self, name, text):
        return self.etcd.put(self.prefix + name, text)

class RoutesEtcdTest(RoutesEtcdTestCase):

    def test_every_key_under_the_prefix_is_an_entry(self):
        """Each key's routes serve, with the clusters it defines itself; a key put after the
        start routes too; keys outside the prefix are not read. GET /routes_dir shows each entry
        with its mod_revision as version."""
        self.etcd.put(f"/waygate/other-{self._testMethodName}", route_entry({"other.test": "A"}))
        self.start({"a": route_entry({"a.test": "A"}),
                    "own": route_entry({"own.test": "C"}, {"C": [self.up_c.address]})})
        self.assertEqual(self.answers("a.test"), ["A"] * 4)
        self.assertEqual(self.answers("own.test"), ["C"] * 4)
        self.assertEqual(self.answers("file.test"), ["A"] * 4)
        self.assertEqual(self.answers("other.test", 1), [404])
        revision = self.put("b", route_entry({"b.test": "B"}))
        self.wait_for("b.test", {"B"})
        files = self.status()
        self.assertEqual(sorted(files), ["a", "b", "own"])
        self.assertEqual(files["b"]["version"], f'"{revision}"')
        self.assertTrue(all(f["serving"] and not f["errors"] for f in files.values()), files)
        shown = json.loads(self.admin("GET", "/config").body)["config"]["routes_source"]
        self.assertEqual(shown, {"etcd": {"endpoints": [self.etcd.url], "prefix": self.prefix}})

    def test_changing_one_entry_moves_its_host_while_other_hosts_serve(self):
        """a.test moves from A to B when its key changes, while requests to b.test on a
        keep-alive connection are all answered by B; the log names the one entry applied."""
        self.start({"a": route_entry({"a.test": "A"}), "b": route_entry({"b.test": "B"})})
        self.assertEqual(self.answers("a.test"), ["A"] * 4)
        applied = r"(?m)^.*reloaded .*\(etcd .*$"
        before = len(self.wg.stderr_matches(applied))

        def move_a():
            self.put("a", route_entry({"a.test": "B"}))
            self.wait_for("a.test", {"B"})
        results, failures = keep_alive_answers_while(self.port, "b.test", move_a, POLL_TIMEOUT)
        self.assertEqual(failures, [])
        self.assertGreater(len(results), 50)
        self.assertEqual(set(results), {(200, "B")}, results[-60:])
        lines = self.wg.wait_for_stderr(applied, before + 1)[before:]
        self.assertTrue(any(f"etcd:{self.prefix}a" in line for line in lines), lines)
        self.assertFalse(any(f"etcd:{self.prefix}b" in line for line in lines), lines)

    def test_a_broken_entry_is_refused_alone(self):
        """An entry with an error is refused with etcd:KEY:LINE:COL in the log and GET
        /routes_dir; its previous version keeps serving, and so does every other entry. Fixed,
        it applies."""
        self.start({"a": route_entry({"a.test": "A"}), "b": route_entry({"b.test": "B"})})
        source = f"etcd:{self.prefix}a"
        self.put("a", "routes:\n  - hosts: [a.test]\n    paths:\n"
                      "      - { prefix: /, clsuter: B }\n")
        files = self.wait_for_status(lambda f: f["a"]["errors"], "a to be refused")
        errors = files["a"]["errors"]
        self.assertTrue(any("unknown key 'clsuter'" in e and e.startswith(f"{source}:4:")
                            for e in errors), errors)
        self.assertTrue(files["a"]["serving"])
        self.assertEqual(files["b"]["errors"], [])
        self.wg.wait_for_stderr(re.escape(f"refused: {source}:4:"))
        self.assertEqual(self.answers("a.test"), ["A"] * 4)
        self.assertEqual(self.answers("b.test"), ["B"] * 4)
        # A host another entry routes is refused too, naming that entry.
        self.put("c", route_entry({"b.test": "A"}))
        files = self.wait_for_status(lambda f: "c" in f and f["c"]["errors"], "c to be refused")
        self.assertIn(f"already routed by etcd:{self.prefix}b", files["c"]["errors"][0])
        self.assertFalse(files["c"]["serving"])
        self.assertEqual(self.answers("b.test"), ["B"] * 4)
        self.put("a", route_entry({"a.test": "B"}))
        self.wait_for("a.test", {"B"})
        self.assertEqual(self.status()["a"]["errors"], [])

    def test_an_entry_with_a_cluster_of_its_own_is_patched_in_and_out(self):
        """An entry adding a cluster and a host to it serves while b.test answers throughout;
        moving the cluster's endpoint and deleting the key follow, the cluster leaves GET
        /clusters, and each change is logged as patched in, not published whole."""
        self.start({"b": route_entry({"b.test": "B"})})
        patched = r"(?m)^.*reloaded .*\(etcd etcd:.*/own(?:, deleted)?\): .*routes and clusters " \
                  r"patched \((\d+) clusters set, (\d+) removed\)"

        def add():
            self.put("own", route_entry({"own.test": "C"}, {"C": [self.up_c.address]}))
            self.wait_for("own.test", {"C"})
        results, failures = keep_alive_answers_while(self.port, "b.test", add, POLL_TIMEOUT)
        self.assertEqual(failures, [])
        self.assertEqual(set(results), {(200, "B")}, results[-60:])
        self.assertEqual(self.wg.wait_for_stderr(patched, 1)[-1], ("1", "0"))
        self.put("own", route_entry({"own.test": "C"}, {"C": [self.up_a.address]}))
        self.wait_for("own.test", {"A"})
        self.assertEqual(self.wg.wait_for_stderr(patched, 2)[-1], ("1", "0"))
        self.etcd.delete(self.prefix + "own")
        self.wait_for("own.test", {404})
        self.assertEqual(self.wg.wait_for_stderr(patched, 3)[-1], ("0", "1"))
        clusters = json.loads(self.admin("GET", "/clusters").body)["clusters"]
        self.assertEqual([c["name"] for c in clusters], ["A", "B"])
        self.assertEqual(self.answers("b.test"), ["B"] * 4)

    def test_deleting_a_key_removes_its_routes(self):
        """A deleted key's hosts answer 404; the other entries keep serving."""
        self.start({"a": route_entry({"a.test": "A"}), "b": route_entry({"b.test": "B"})})
        self.assertEqual(self.answers("b.test"), ["B"] * 4)
        self.etcd.delete(self.prefix + "b")
        self.wait_for("b.test", {404})
        self.assertEqual(self.answers("a.test"), ["A"] * 4)
        self.assertNotIn("b", self.status())

    def test_reloading_the_config_file_keeps_the_entries(self):
        """A change to the config file reloads it with the entries as they are."""
        self.start({"a": route_entry({"a.test": "A"})})
        self.wg.write_config(self.config(file_cluster="B"))
        self.wait_for("file.test", {"B"})
        self.assertEqual(self.answers("a.test"), ["A"] * 4)
        self.assertIn("a", self.status())

    def test_the_entries_keep_serving_while_etcd_is_down(self):
        """etcd stopped: the entries read last keep serving; started again, a change applies."""
        self.start({"a": route_entry({"a.test": "A"})})
        self.etcd.stop()
        try:
            self.wg.wait_for_stderr(r"routes_source etcd prefix .*keep serving")
            self.assertEqual(self.answers("a.test"), ["A"] * 4)
            self.assertEqual(self.answers("file.test"), ["A"] * 4)
        finally:
            self.etcd.start()
            self.etcd.wait_ready()
        self.assertEqual(self.answers("a.test"), ["A"] * 4)
        self.put("a", route_entry({"a.test": "B"}))
        self.wait_for("a.test", {"B"}, RECONNECT_TIMEOUT)

    def test_prefix_and_key_together_are_a_config_error(self):
        """routes_source.etcd takes a key or a prefix; both is an error at FILE:LINE:COL, and so
        is a prefix beside a routes_dir."""
        path = os.path.join(self.env.dir, "both.yaml")
        with open(path, "w") as f:
            f.write(self.config(etcd={"endpoints": [self.etcd.url], "prefix": self.prefix,
                                      "key": "/k"}))
        check = subprocess.run([WAYGATE_BIN, "--check", path], capture_output=True, text=True,
                               timeout=60)
        self.assertEqual(check.returncode, 1, check.stderr)
        self.assertRegex(check.stderr, rf"^{re.escape(path)}:\d+:\d+: routes_source.etcd takes "
                                       r"one of key and prefix, not both\n$")
        os.mkdir(os.path.join(self.env.dir, "routes.d"))
        with open(path, "w") as f:
            f.write(self.config(routes_dir="routes.d"))
        check = subprocess.run([WAYGATE_BIN, "--check", path], capture_output=True, text=True,
                               timeout=60)
        self.assertEqual(check.returncode, 1, check.stderr)
        self.assertRegex(check.stderr, rf"^{re.escape(path)}:\d+:\d+: routes_dir and "
                                       r"routes_source.etcd.prefix both give route entries")


class RoutesEtcdAdminTest(RoutesEtcdTestCase):

    def test_put_creates_and_replaces_an_entry_with_if_match(self):
        """PUT /routes/NAME writes the key and applies it (201, then 200) with its mod_revision
        as ETag; GET answers the value and the same ETag; a PUT whose If-Match is stale (another
        writer changed the key) is 412 and changes nothing."""
        self.start({})
        body = route_entry({"d.test": "A"})
        resp = self.admin("PUT", "/routes/d", body)
        self.assertEqual(resp.status, 201, resp.body)
        first_tag = resp.header("etag")
        self.assertEqual(self.etcd.get(self.prefix + "d"), body)
        self.assertEqual(first_tag, f'"{self.etcd.revision()}"')
        self.assertEqual(self.answers("d.test"), ["A"] * 4)  # applied before the answer
        got = self.admin("GET", "/routes/d")
        self.assertEqual((got.status, got.header("etag"), got.body.decode()),
                         (200, first_tag, body))
        resp = self.admin("PUT", "/routes/d", route_entry({"d.test": "B"}),
                          headers=[("If-Match", first_tag)])
        self.assertEqual(resp.status, 200, resp.body)
        second_tag = resp.header("etag")
        self.assertNotEqual(second_tag, first_tag)
        self.assertEqual(self.answers("d.test"), ["B"] * 4)
        stale = self.admin("PUT", "/routes/d", route_entry({"d.test": "A"}),
                           headers=[("If-Match", first_tag)])
        self.assertEqual(stale.status, 412, stale.body)
        self.assertEqual(self.answers("d.test"), ["B"] * 4)
        # Another writer changes the key: the tag read before is stale.
        self.put("d", route_entry({"d.test": "B"}, {"C": [self.up_c.address]}))
        self.wait_for_status(lambda f: f["d"]["version"] != second_tag, "the write to be seen")
        stale = self.admin("PUT", "/routes/d", route_entry({"d.test": "A"}),
                           headers=[("If-Match", second_tag)])
        self.assertEqual(stale.status, 412, stale.body)
        self.assertEqual(self.etcd.get(self.prefix + "d"),
                         route_entry({"d.test": "B"}, {"C": [self.up_c.address]}))
        self.assertEqual(self.answers("d.test"), ["B"] * 4)

    def test_put_with_errors_is_400_and_changes_nothing(self):
        """A PUT body with errors is answered 400 with every error as etcd:KEY:LINE:COL; the key
        and the routes stay as they were."""
        self.start({"d": route_entry({"d.test": "A"})})
        resp = self.admin("PUT", "/routes/d", "routes:\n  - hosts: [d.test]\n    paths:\n"
                                              "      - { prefix: /, cluster: nowhere }\n")
        self.assertEqual(resp.status, 400, resp.body)
        self.assertRegex(resp.body.decode(),
                         rf"^{re.escape(f'etcd:{self.prefix}d')}:4:\d+: unknown cluster 'nowhere'")
        self.assertEqual(self.etcd.get(self.prefix + "d"), route_entry({"d.test": "A"}))
        self.assertEqual(self.admin("PUT", "/routes/..x", "").status, 400)
        self.assertEqual(self.answers("d.test"), ["A"] * 4)

    def test_delete_removes_the_key_and_its_routes(self):
        """DELETE /routes/NAME with a stale If-Match is 412; with the current one the key goes
        and its hosts answer 404. A key that is not there is 404; without the token, 401."""
        self.start({"d": route_entry({"d.test": "A"})})
        tag = self.admin("GET", "/routes/d").header("etag")
        self.assertEqual(self.admin("DELETE", "/routes/d", token="").status, 401)
        stale = self.admin("DELETE", "/routes/d", headers=[("If-Match", '"1"')])
        self.assertEqual(stale.status, 412, stale.body)
        self.assertEqual(self.answers("d.test"), ["A"] * 4)
        resp = self.admin("DELETE", "/routes/d", headers=[("If-Match", tag)])
        self.assertEqual(resp.status, 200, resp.body)
        self.assertIsNone(self.etcd.get(self.prefix + "d"))
        self.assertEqual(self.answers("d.test", 1), [404])
        self.assertEqual(self.admin("DELETE", "/routes/d").status, 404)
        self.assertEqual(self.admin("GET", "/routes/d").status, 404)

    def test_the_admin_port_answers_while_an_edit_waits_for_etcd(self):
        """A PUT waits for etcd, and only the PUT does: while etcd is stopped (SIGSTOP, so it
        neither answers nor refuses), GET /ready is answered at once and the proxy serves; once
        etcd runs again, the PUT is answered and applied."""
        self.start({"d": route_entry({"d.test": "A"})})
        body = route_entry({"d.test": "B"}).encode()
        with HttpConnection(self.admin_port) as put:
            self.etcd.proc.send_signal(signal.SIGSTOP)
            try:
                put.send(request("PUT", "/routes/d", host=f"{HOST}:{self.admin_port}",
                                 headers=[("Authorization", f"Bearer {TOKEN}")], body=body))
                self.assertEqual(self.admin("GET", "/ready").status, 200)
                self.assertEqual(self.answers("d.test"), ["A"] * 4)
                self.assertFalse(put.has_data(), "the PUT was answered while etcd was stopped")
            finally:
                self.etcd.proc.send_signal(signal.SIGCONT)
            resp = put.read_response("PUT")
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(self.answers("d.test"), ["B"] * 4)


    def test_an_edit_whose_client_left_still_lands_through_the_watch(self):
        """A client that closes its connection while its PUT waits for etcd gets nothing, and
        waygate neither crashes nor loses the write: etcd takes it and the watch applies it."""
        self.start({"d": route_entry({"d.test": "A"})})
        self.etcd.proc.send_signal(signal.SIGSTOP)
        try:
            with HttpConnection(self.admin_port) as put:
                put.send(request("PUT", "/routes/d", host=f"{HOST}:{self.admin_port}",
                                 headers=[("Authorization", f"Bearer {TOKEN}")],
                                 body=route_entry({"d.test": "B"}).encode()))
                self.assertEqual(self.admin("GET", "/ready").status, 200)
        finally:
            self.etcd.proc.send_signal(signal.SIGCONT)
        self.wait_for("d.test", {"B"})
        self.assertEqual(self.etcd.get(self.prefix + "d"), route_entry({"d.test": "B"}))

if __name__ == "__main__":
    import unittest
    unittest.main()
