"""Route entries that define clusters (docs/config.md "Routes from a directory"): a change to one
such file adds, changes or removes its clusters and patches its routes in, without rebuilding the
whole route table or looking at the other clusters. Other hosts keep answering meanwhile, a
removed cluster's health checks stop, the log says the patch path was taken, and GET /config,
/clusters and /routes answer as after a whole reload.

The config file routes file.test to cluster A (with a health check, the clock the tests count
intervals by) and defines B; the files route NAME.test to A or to a cluster of their own.
"""

import json
import os
import unittest

from harness import keep_alive_answers_while, to_yaml, wait_until
from route_entries_case import POLL_TIMEOUT, route_entry
from test_routes_dir import RoutesDirTestCase

# Quick checks, so a few intervals pass in a test; two passes in a row make an endpoint healthy.
HEALTH_CHECK = {"http": {"path": "/healthz"}, "interval": "200ms", "timeout": "200ms",
                "healthy_threshold": 2, "unhealthy_threshold": 2}
PATCHED = (r"reloaded .* \(routes_dir .*/{name}(?:, deleted)?\): serving \d+ routes, "
           r"routes and clusters patched \((\d+) clusters set, (\d+) removed\)")


def own_cluster_file(host, cluster, endpoints, health_check=None):
    """A routes_dir file routing host to a cluster it defines itself."""
    value = {"routes": [{"hosts": [host], "paths": [{"prefix": "/", "cluster": cluster}]}],
             "clusters": [{"name": cluster, "endpoints": list(endpoints)}]}
    if health_check:
        value["clusters"][0]["health_check"] = health_check
    return to_yaml(value)


def health_checks(up):
    return up.stats()["health_checks"]


class RoutesDirClustersTest(RoutesDirTestCase):

    def start_with_checks(self, files):
        """start(), with a health check on the config's cluster A."""
        self.start(files)
        self.config_text = to_yaml({
            "workers": 2, "access_log": "off",
            "admin": {"address": f"127.0.0.1:{self.admin_port}"},
            "listeners": [{"name": "web", "address": f"127.0.0.1:{self.port}"}],
            "routes_dir": "routes.d",
            "routes": [{"hosts": ["file.test"], "paths": [{"prefix": "/", "cluster": "A"}]}],
            "clusters": [{"name": "A", "endpoints": [self.up_a.address],
                          "health_check": HEALTH_CHECK},
                         {"name": "B", "endpoints": [self.up_b.address]}]})
        reloads = self.wg.reload_count()
        self.wg.write_config(self.config_text, how="rename")
        self.wg.wait_for_reloads(reloads + 1)
        wait_until(lambda: health_checks(self.up_a) >= 1, POLL_TIMEOUT, 0.02, "checks of A")

    def change_while_other_hosts_serve(self, change):
        """Runs change() while a keep-alive load asks for a.test, which must answer from A
        throughout."""
        results, failures = keep_alive_answers_while(self.port, "a.test", change, POLL_TIMEOUT)
        self.assertEqual(failures, [])
        self.assertGreater(len(results), 50)
        self.assertEqual(set(results), {(200, "A")})

    def wait_patched(self, name, count=1):
        """The log lines saying `name`'s change took the patch path; (set, removed) of the last."""
        return self.wg.wait_for_stderr(PATCHED.format(name=name), count)[-1]

    def clusters(self):
        resp = self.admin("GET", "/clusters")
        self.assertEqual(resp.status, 200, resp)
        return {c["name"]: c for c in json.loads(resp.body)["clusters"]}

    def test_a_file_adding_a_cluster_serves_it_while_other_hosts_serve(self):
        """A new file with a cluster of its own and a host routed to it: the host answers from
        the new cluster, the cluster is listed, and a.test answers throughout."""
        self.start({"a.yaml": route_entry({"a.test": "A"})})

        def add():
            self.write("own.yaml", own_cluster_file("own.test", "C", [self.up_c.address]))
            self.wait_for("own.test", ["C"])
        self.change_while_other_hosts_serve(add)
        self.assertEqual(self.wait_patched("own.yaml"), ("1", "0"))
        self.assertEqual([e["address"] for e in self.clusters()["C"]["endpoints"]],
                         [self.up_c.address])
        self.assertEqual(self.answers("a.test"), ["A"] * 4)
        self.assertEqual(self.answers("file.test"), ["A"] * 4)

    def test_changing_a_files_cluster_endpoints_moves_its_host(self):
        """The file's cluster gets other endpoints: its host follows them, other hosts serve."""
        self.start({"a.yaml": route_entry({"a.test": "A"}),
                    "own.yaml": own_cluster_file("own.test", "C", [self.up_c.address])})
        self.assertEqual(self.answers("own.test"), ["C"] * 4)

        def change():
            self.write("own.yaml", own_cluster_file("own.test", "C", [self.up_b.address]))
            self.wait_for("own.test", ["B"])
        self.change_while_other_hosts_serve(change)
        self.assertEqual(self.wait_patched("own.yaml"), ("1", "0"))
        self.assertEqual([e["address"] for e in self.clusters()["C"]["endpoints"]],
                         [self.up_b.address])

    def test_renaming_a_files_cluster_serves_the_new_one(self):
        """The file's cluster C becomes D: C is gone from /clusters, D serves the host."""
        self.start({"own.yaml": own_cluster_file("own.test", "C", [self.up_c.address])})
        self.write("own.yaml", own_cluster_file("own.test", "D", [self.up_b.address]))
        self.wait_for("own.test", ["B"])
        self.assertEqual(self.wait_patched("own.yaml"), ("1", "1"))
        self.assertEqual(sorted(self.clusters()), ["A", "B", "D"])

    def test_a_file_naming_a_cluster_it_no_longer_defines_is_refused_alone(self):
        """own.yaml renames its cluster C to D but its route still names C: the file is refused
        naming C, its previous version (C) keeps serving, and so do the other files."""
        self.start({"a.yaml": route_entry({"a.test": "A"}),
                    "own.yaml": own_cluster_file("own.test", "C", [self.up_c.address])})
        self.write("own.yaml", to_yaml({
            "routes": [{"hosts": ["own.test"], "paths": [{"prefix": "/", "cluster": "C"}]}],
            "clusters": [{"name": "D", "endpoints": [self.up_b.address]}]}))
        files = self.wait_for_status(lambda f: f["own.yaml"]["errors"], "own.yaml to be refused")
        self.assertIn("'C'", "".join(files["own.yaml"]["errors"]))
        self.assertTrue(files["own.yaml"]["serving"])
        self.assertEqual(self.answers("own.test"), ["C"] * 4)
        self.assertEqual(self.answers("a.test"), ["A"] * 4)
        self.assertEqual(sorted(self.clusters()), ["A", "B", "C"])

    def test_deleting_a_file_removes_its_host_its_cluster_and_its_checks(self):
        """The file with a checked cluster is deleted: its host is gone (404), its cluster is no
        longer listed, and its endpoint is no longer checked while A's checks go on."""
        self.start_with_checks({"a.yaml": route_entry({"a.test": "A"})})
        self.write("own.yaml", own_cluster_file("own.test", "C", [self.up_c.address],
                                                HEALTH_CHECK))
        self.wait_for("own.test", ["C"])
        wait_until(lambda: health_checks(self.up_c) >= 2, POLL_TIMEOUT, 0.02, "checks of C")

        def delete():
            os.remove(os.path.join(self.dir, "own.yaml"))
            self.wait_for("own.test", [404])
        self.change_while_other_hosts_serve(delete)
        self.assertEqual(self.wait_patched("own.yaml", 2), ("0", "1"))
        self.assertNotIn("C", self.clusters())
        # A probe sent before the deletion may still land: count from two of A's intervals on.
        a_checks = health_checks(self.up_a)
        wait_until(lambda: health_checks(self.up_a) >= a_checks + 2, POLL_TIMEOUT, 0.02,
                   "two more checks of A")
        c_checks = health_checks(self.up_c)
        wait_until(lambda: health_checks(self.up_a) >= a_checks + 6, POLL_TIMEOUT, 0.02,
                   "four more checks of A")
        self.assertEqual(health_checks(self.up_c), c_checks, "C is still checked")

    def test_admin_pages_after_patches_are_those_of_a_whole_reload(self):
        """After files with clusters are added, changed and deleted, GET /config, /clusters and
        /routes answer what they answer once the config file's reload rebuilt everything."""
        self.start_with_checks({"a.yaml": route_entry({"a.test": "A"}),
                                "m.yaml": own_cluster_file("m.test", "M", [self.up_c.address])})
        self.write("k.yaml", own_cluster_file("k.test", "K", [self.up_b.address], HEALTH_CHECK))
        self.write("z.yaml", own_cluster_file("z.test", "Z", [self.up_c.address]))
        self.wait_for("z.test", ["C"])
        self.write("m.yaml", own_cluster_file("m.test", "M2", [self.up_a.address]))
        self.wait_for("m.test", ["A"])
        os.remove(os.path.join(self.dir, "z.yaml"))
        self.wait_for("z.test", [404])
        self.write("k.yaml", own_cluster_file("k.test", "K", [self.up_a.address], HEALTH_CHECK))
        self.wait_for("k.test", ["A"])
        self.wait_patched("k.yaml", 2)
        wait_until(lambda: self.clusters()["K"]["endpoints"][0]["health"] == "healthy",
                   POLL_TIMEOUT, 0.02, "K's endpoint to pass its checks")
        patched = self.pages()
        self.assertEqual([c["name"] for c in patched["/clusters"]["clusters"]],
                         ["A", "B", "K", "M2"])

        reloads = self.wg.reload_count()
        self.wg.write_config(self.config_text + "# rebuilt whole\n", how="rename")
        self.wg.wait_for_reloads(reloads + 1)
        self.assertEqual(self.pages(), patched)

    def pages(self):
        """GET /config, /clusters and /routes, less what a reload changes by itself."""
        pages = {}
        for path in ("/config", "/clusters", "/routes"):
            resp = self.admin("GET", path)
            self.assertEqual(resp.status, 200, resp)
            pages[path] = json.loads(resp.body)
        pages["/config"].pop("loaded_at", None)
        for cluster in pages["/clusters"]["clusters"]:
            for endpoint in cluster["endpoints"]:
                endpoint.pop("active_requests")
        return pages


if __name__ == "__main__":
    unittest.main()
