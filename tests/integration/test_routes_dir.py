"""Routes from a directory (`routes_dir`, docs/config.md "Routes from a directory"): every
`*.yaml`/`*.yml` file holds `routes:` and optionally `clusters:`; a change to one file is read,
validated and applied alone, a broken file is refused alone (its last good version and every other
file keep serving), a deleted file's routes go, and PUT/DELETE /routes/NAME edit the directory
through the admin API with If-Match.

The config file routes nothing itself but defines clusters A and B; the files route hosts
NAME.test to them (or to a cluster of their own). Changes are waited for by polling the proxy or
GET /routes_dir, never by sleeping.
"""

import json
import os
import re
import subprocess
import tempfile

from harness import (HOST, WAYGATE_BIN, free_port, keep_alive_answers_while, port_accepts, to_yaml,
                     wait_until)
from route_entries_case import POLL_TIMEOUT, RouteEntriesCase, route_entry

TOKEN = "routes-dir-token-7d1e"


class RoutesDirTestCase(RouteEntriesCase):

    def setUp(self):
        super().setUp()
        self.up_a, self.up_b, self.up_c = (self.env.upstream(n) for n in "ABC")

    def start(self, files, token=None, routes_dir="routes.d"):
        """Starts waygate with the files (name -> text) in its routes_dir, relative to the
        config's directory."""
        self.base = tempfile.mkdtemp(prefix="wg-", dir=self.env.dir)
        self.dir = os.path.join(self.base, "routes.d")
        os.mkdir(self.dir)
        for name, text in files.items():
            self.write(name, text)
        self.port, self.admin_port = free_port(), free_port()
        self.token = token
        admin = {"address": f"{HOST}:{self.admin_port}"}
        if token:
            admin["token"] = token
        config = {"workers": 2, "access_log": "off", "admin": admin,
                  "listeners": [{"name": "web", "address": f"{HOST}:{self.port}"}],
                  "routes": [{"hosts": ["file.test"],
                              "paths": [{"prefix": "/", "cluster": "A"}]}],
                  "clusters": [{"name": "A", "endpoints": [self.up_a.address]},
                               {"name": "B", "endpoints": [self.up_b.address]}]}
        if routes_dir:
            config["routes_dir"] = routes_dir
        self.wg = self.env.waygate(to_yaml(config), self.port,
                                   config_path=None if not routes_dir else self.config_path())
        wait_until(lambda: port_accepts(self.admin_port), message="the admin address to accept")

    def config_path(self):
        return os.path.join(self.base, "waygate.yaml")

    def write(self, name, text, how="rename"):
        """Writes a file of the routes_dir; "rename" as editors do (a hidden temporary file
        renamed over it), "in-place" by truncating it."""
        path = os.path.join(self.dir, name)
        if how == "rename":
            tmp = os.path.join(self.dir, f".{name}.swp")
            with open(tmp, "w") as f:
                f.write(text)
            os.rename(tmp, path)
        else:
            with open(path, "w") as f:
                f.write(text)

class RoutesDirTest(RoutesDirTestCase):

    def test_routes_from_every_file_route_and_other_names_are_ignored(self):
        """Each *.yaml and *.yml file's routes serve, with the clusters a file defines itself;
        hidden, backup and other files are not read."""
        self.start({
            "a.yaml": route_entry({"a.test": "A"}),
            "b.yml": route_entry({"b.test": "B"}),
            "c.yaml": "",  # an empty file routes nothing, and is no error
            "own.yaml": route_entry({"own.test": "C"}, {"C": [self.up_c.address]}),
            ".hidden.yaml": route_entry({"hidden.test": "A"}),
            "backup.yaml~": route_entry({"backup.test": "A"}),
            "notes.txt": route_entry({"notes.test": "A"}),
        })
        self.assertEqual(self.answers("own.test"), ["C"] * 4)
        self.assertEqual(self.answers("a.test"), ["A"] * 4)
        self.assertEqual(self.answers("b.test"), ["B"] * 4)
        self.assertEqual(self.answers("file.test"), ["A"] * 4)
        for host in ("hidden.test", "backup.test", "notes.test"):
            self.assertEqual(self.answers(host, 1), [404], host)
        files = self.status()
        self.assertEqual(sorted(files), ["a.yaml", "b.yml", "c.yaml", "own.yaml"])
        self.assertTrue(all(f["serving"] and not f["errors"] for f in files.values()), files)
        self.assertEqual((files["own.yaml"]["hosts"], files["own.yaml"]["clusters"]), (1, 1))

    def test_changing_one_file_moves_its_host_while_other_hosts_serve(self):
        """a.test moves from A to B when a.yaml is replaced (by rename, as editors do), while
        requests to b.test on a keep-alive connection are all answered by B; the log names the
        one file that was read."""
        self.start({"a.yaml": route_entry({"a.test": "A"}),
                    "b.yaml": route_entry({"b.test": "B"})})
        self.assertEqual(self.answers("a.test"), ["A"] * 4)

        def move_a():
            self.write("a.yaml", route_entry({"a.test": "B"}))
            self.wait_for("a.test", {"B"})
        results, failures = keep_alive_answers_while(self.port, "b.test", move_a, POLL_TIMEOUT)
        self.assertEqual(failures, [])
        self.assertGreater(len(results), 50)
        self.assertEqual(set(results), {(200, "B")}, results[-60:])
        lines = self.wg.wait_for_stderr(r"(?m)^.*reloaded .*\(routes_dir .*$")
        self.assertTrue(any(os.path.join(self.dir, "a.yaml") in line for line in lines), lines)
        self.assertFalse(any("b.yaml" in line for line in lines), lines)

    def test_get_routes_shows_the_files_routes_after_the_config_files(self):
        """GET /routes and GET /config list the config file's routes, then each file's in file
        name order, and a changed file's new routes in its place."""
        self.start({"b.yaml": route_entry({"b.test": "B"}),
                    "a.yaml": route_entry({"a.test": "A"})})

        def hosts_shown():
            routes = json.loads(self.admin("GET", "/routes").body)["routes"]
            config = json.loads(self.admin("GET", "/config").body)["config"]["routes"]
            self.assertEqual(routes, config)
            return [host for route in routes for host in route["hosts"]]
        self.assertEqual(hosts_shown(), ["file.test", "a.test", "b.test"])
        self.write("a.yaml", route_entry({"a2.test": "A", "*.a.test": "B"}))
        self.wait_for("x.a.test", {"B"})
        self.assertEqual(hosts_shown(), ["file.test", "a2.test", "*.a.test", "b.test"])

    def test_a_broken_file_is_refused_alone(self):
        """A file with an error is refused with FILE:LINE:COL in the log, GET /routes_dir and GET
        /reloads; its previous version keeps serving, and so does every other file; the refusal
        counts in waygate_reloads_total. Fixed, it applies."""
        self.start({"a.yaml": route_entry({"a.test": "A"}),
                    "b.yaml": route_entry({"b.test": "B"})})
        path = os.path.join(self.dir, "a.yaml")
        self.write("a.yaml", "routes:\n  - hosts: [a.test]\n    paths:\n"
                             "      - { prefix: /, clsuter: B }\n")
        files = self.wait_for_status(lambda f: f["a.yaml"]["errors"], "a.yaml to be refused")
        errors = files["a.yaml"]["errors"]
        self.assertTrue(errors[0].startswith(f"{path}:4:"), errors)
        self.assertTrue(any("unknown key 'clsuter'" in e and e.startswith(f"{path}:4:")
                            for e in errors), errors)
        self.assertTrue(files["a.yaml"]["serving"])
        self.assertEqual(files["b.yaml"]["errors"], [])
        self.wg.wait_for_stderr(re.escape(f"refused: {path}:4:"))
        self.assertEqual(self.answers("a.test"), ["A"] * 4)
        self.assertEqual(self.answers("b.test"), ["B"] * 4)
        reloads = json.loads(self.admin("GET", "/reloads").body)["reloads"]
        self.assertEqual((reloads[0]["trigger"], reloads[0]["result"]), ("routes_dir", "refused"))
        self.assertIn(f"{path}:4:", reloads[0]["message"])
        metrics = self.admin("GET", "/metrics").body.decode()
        self.assertRegex(metrics, r'waygate_reloads_total\{result="refused"\} 1\b')
        # A file that was never good routes nothing while refused.
        self.write("new.yaml", "routes: 7\n")
        self.wait_for_status(lambda f: "new.yaml" in f and f["new.yaml"]["errors"],
                             "new.yaml to be refused")
        self.assertFalse(self.status()["new.yaml"]["serving"])
        self.write("a.yaml", route_entry({"a.test": "B"}))
        self.wait_for("a.test", {"B"})
        self.assertEqual(self.status()["a.yaml"]["errors"], [])

    def test_deleting_a_file_removes_its_routes(self):
        """A deleted file's hosts answer 404; the other files keep serving."""
        self.start({"a.yaml": route_entry({"a.test": "A"}),
                    "b.yaml": route_entry({"b.test": "B"})})
        self.assertEqual(self.answers("b.test"), ["B"] * 4)
        os.remove(os.path.join(self.dir, "b.yaml"))
        self.wait_for("b.test", {404})
        self.assertEqual(self.answers("a.test"), ["A"] * 4)
        self.assertNotIn("b.yaml", self.status())

    def test_a_host_or_cluster_in_two_files_is_refused_naming_both(self):
        """A file that routes a host another file routes (or the config file), or defines a
        cluster another file defines, is refused with an error naming both files; the first
        keeps it."""
        self.start({"a.yaml": route_entry({"a.test": "C"}, {"C": [self.up_c.address]})})
        a_path, z_path = (os.path.join(self.dir, n) for n in ("a.yaml", "z.yaml"))
        self.write("z.yaml", route_entry({"z.test": "B", "a.test": "B"}))
        files = self.wait_for_status(lambda f: "z.yaml" in f and f["z.yaml"]["errors"],
                                     "z.yaml to be refused")
        self.assertEqual(len(files["z.yaml"]["errors"]), 1, files)
        error = files["z.yaml"]["errors"][0]
        self.assertTrue(error.startswith(f"{z_path}:"), error)
        self.assertIn(f"'a.test' is already routed by {a_path}", error)
        self.write("z.yaml", route_entry({"z.test": "C"}, {"C": [self.up_b.address]}))
        self.wait_for_status(lambda f: "already defined by" in "".join(f["z.yaml"]["errors"]),
                             "z.yaml's cluster C to be refused")
        self.write("z.yaml", route_entry({"file.test": "B"}))
        files = self.wait_for_status(lambda f: "file.test" in "".join(f["z.yaml"]["errors"]),
                                     "z.yaml's file.test to be refused")
        self.assertIn(self.config_path(), files["z.yaml"]["errors"][0])
        self.assertEqual(self.answers("a.test"), ["C"] * 4)
        self.assertEqual(self.answers("z.test", 1), [404])
        self.assertEqual(self.answers("file.test"), ["A"] * 4)

    def test_reloading_the_config_file_keeps_the_files_routes(self):
        """A change to the config file reloads it with the routes_dir's files as they are; a
        config that would route a host a file routes is refused naming both files."""
        self.start({"a.yaml": route_entry({"a.test": "A"})})
        with open(self.config_path()) as f:
            config = f.read()
        self.wg.write_config(config.replace("cluster: \"A\"", "cluster: \"B\""))
        self.wait_for("file.test", {"B"})
        self.assertEqual(self.answers("a.test"), ["A"] * 4)
        self.wg.write_config(config.replace("file.test", "a.test"))
        lines = self.wg.wait_for_stderr(r"(?m)^.*reload \(file\) refused: .*$")
        self.assertIn(f"{self.config_path()}:", lines[0])
        self.assertIn(f"is already routed by {os.path.join(self.dir, 'a.yaml')}", lines[0])
        self.assertEqual(self.answers("a.test"), ["A"] * 4)
        self.assertEqual(self.answers("file.test"), ["B"] * 4)


    def test_check_reads_every_file(self):
        """waygate --check validates the routes_dir's files too: each error as FILE:LINE:COL,
        exit 1; with the files fixed, exit 0."""
        self.start({"a.yaml": route_entry({"a.test": "A"}),
                    "b.yaml": "routes:\n  - hosts: [b.test]\n    paths: 7\n"})
        check = subprocess.run([WAYGATE_BIN, "--check", self.config_path()],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(check.returncode, 1, check.stderr)
        self.assertEqual(check.stderr,
                         f"{os.path.join(self.dir, 'b.yaml')}:3:12: paths must be a list\n")
        self.write("b.yaml", route_entry({"b.test": "B"}))
        check = subprocess.run([WAYGATE_BIN, "--check", self.config_path()],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(check.returncode, 0, check.stderr)


class RoutesDirAdminTest(RoutesDirTestCase):

    def test_put_creates_and_replaces_a_file_with_if_match(self):
        """PUT /routes/NAME writes NAME.yaml and applies it (201, then 200), with the file's
        version as ETag; GET answers the file and the same ETag; a PUT whose If-Match is stale
        is 412 and changes nothing."""
        self.start({}, token=TOKEN)
        body = route_entry({"d.test": "A"})
        resp = self.admin("PUT", "/routes/d", body)
        self.assertEqual(resp.status, 201, resp.body)
        first_tag = resp.header("etag")
        self.assertRegex(first_tag, r'^"[0-9a-f]{16}"$')
        with open(os.path.join(self.dir, "d.yaml")) as f:
            self.assertEqual(f.read(), body)
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
        self.assertEqual(self.admin("GET", "/routes/d.yaml").header("etag"), second_tag)
        self.assertEqual(self.answers("d.test"), ["B"] * 4)
        # JSON is YAML: the same schema, written as it came.
        resp = self.admin("PUT", "/routes/j", json.dumps(
            {"routes": [{"hosts": ["j.test"], "paths": [{"prefix": "/", "cluster": "A"}]}]}))
        self.assertEqual(resp.status, 201, resp.body)
        self.assertEqual(self.answers("j.test"), ["A"] * 4)

    def test_put_with_errors_is_400_and_changes_nothing(self):
        """A PUT body with errors is answered 400 with every error as FILE:LINE:COL; the file
        on disk and the routes stay as they were."""
        self.start({"d.yaml": route_entry({"d.test": "A"})}, token=TOKEN)
        path = os.path.join(self.dir, "d.yaml")
        resp = self.admin("PUT", "/routes/d", "routes:\n  - hosts: [d.test]\n    paths:\n"
                                              "      - { prefix: /, cluster: nowhere }\n")
        self.assertEqual(resp.status, 400, resp.body)
        self.assertRegex(resp.body.decode(),
                         rf"^{re.escape(path)}:4:\d+: unknown cluster 'nowhere'")
        with open(path) as f:
            self.assertEqual(f.read(), route_entry({"d.test": "A"}))
        resp = self.admin("PUT", "/routes/e", route_entry({"d.test": "B"}))
        self.assertEqual(resp.status, 400, resp.body)
        self.assertIn(f"already routed by {path}", resp.body.decode())
        self.assertFalse(os.path.exists(os.path.join(self.dir, "e.yaml")))
        self.assertEqual(self.admin("PUT", "/routes/..x", "").status, 400)
        self.assertEqual(self.answers("d.test"), ["A"] * 4)

    def test_delete_removes_the_file_and_its_routes(self):
        """DELETE /routes/NAME with a stale If-Match is 412; with the current one (or none) the
        file goes and its hosts answer 404. A file that is not there is 404."""
        self.start({"d.yaml": route_entry({"d.test": "A"}),
                    "k.yaml": route_entry({"k.test": "B"})}, token=TOKEN)
        tag = self.admin("GET", "/routes/d").header("etag")
        stale = self.admin("DELETE", "/routes/d", headers=[("If-Match", '"0000000000000000"')])
        self.assertEqual(stale.status, 412, stale.body)
        self.assertEqual(self.answers("d.test"), ["A"] * 4)
        resp = self.admin("DELETE", "/routes/d", headers=[("If-Match", tag)])
        self.assertEqual(resp.status, 200, resp.body)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "d.yaml")))
        self.assertEqual(self.answers("d.test", 1), [404])
        self.assertEqual(self.admin("DELETE", "/routes/d").status, 404)
        self.assertEqual(self.admin("DELETE", "/routes/k").status, 200)
        self.assertEqual(self.answers("k.test", 1), [404])

    def test_edits_need_the_token(self):
        """Without the admin token PUT, DELETE and GET /routes/NAME are 401 and the directory
        stays as it was."""
        self.start({"d.yaml": route_entry({"d.test": "A"})}, token=TOKEN)
        for method, body in (("PUT", route_entry({"x.test": "A"})), ("DELETE", None),
                             ("GET", None)):
            for token in ("", "wrong"):
                resp = self.admin(method, "/routes/d", body, token=token)
                self.assertEqual(resp.status, 401, (method, token))
        self.assertEqual(self.admin("GET", "/routes_dir", token="").status, 401)
        self.assertEqual(sorted(os.listdir(self.dir)), ["d.yaml"])
        self.assertEqual(self.answers("d.test"), ["A"] * 4)

    def test_without_a_routes_dir_the_endpoints_say_so(self):
        """Without routes_dir, GET /routes_dir and GET /routes/NAME are 404 and PUT and DELETE
        are 409, each saying the config names none."""
        self.start({}, routes_dir=None)
        for method, status in (("GET", 404), ("PUT", 409), ("DELETE", 409)):
            resp = self.admin(method, "/routes/d", route_entry({"d.test": "A"})
                              if method == "PUT" else None)
            self.assertEqual(resp.status, status, method)
            self.assertIn("no routes_dir", resp.body.decode())
        self.assertEqual(self.admin("GET", "/routes_dir").status, 404)


if __name__ == "__main__":
    import unittest
    unittest.main()
