"""Cluster endpoints from a file (`discovery: file`): its endpoints route traffic, every way of
replacing it is seen (rewrite in place, rename, symlink swap), a missing or invalid file keeps the
last endpoints, and endpoints that leave finish the requests they have in flight.

Which upstream answered is read from X-Upstream-Name; a change is waited for by polling until
exactly the expected upstreams answer (harness.wait_for_answers). Log lines are used only to know
that waygate has processed a bad file.
"""

import json
import os

from harness import (HttpConnection, WaygateTestCase, free_port, proxy_config, request,
                     upstream_answers, wait_for_answers, wait_until)

POLL_TIMEOUT = 10.0  # a failure guard for "the change applied", not a timing expectation
SOURCE = "endpoints/web.yaml"  # relative: resolved against the config file's directory


def endpoints_yaml(entries):
    """A YAML list in block style, one key per line; nested values in flow style. Entry i's
    "address" line is line 1 + the number of keys in the entries before it."""
    lines = []
    for entry in entries:
        for i, (key, value) in enumerate(entry.items()):
            lines.append(("- " if i == 0 else "  ") + f"{key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def kept_warning(count):
    """A stderr line naming the endpoints file and how many endpoints are kept, in any order
    ("1 endpoint" is accepted as well as "1 endpoints")."""
    return (rf"(?m)^(?=.*{SOURCE.replace('.', '[.]')})"
            rf"(?=.*keeping the last {count} endpoints?\b).*$")


class FileDiscoveryTestCase(WaygateTestCase):
    """Upstreams A, B and C; a config in its own directory with cluster "web" reading
    endpoints/web.yaml beside it (not created until a test writes it)."""

    def setUp(self):
        super().setUp()
        self.ups = {name: self.env.upstream(name) for name in "ABC"}
        self.conf_dir = os.path.join(self.env.dir, "conf")
        os.makedirs(os.path.join(self.conf_dir, "endpoints"))
        self.config_path = os.path.join(self.conf_dir, "waygate.yaml")
        self.source_path = os.path.join(self.conf_dir, SOURCE)

    def entry(self, name, **extra):
        up = self.ups[name]
        return {"address": up.host, "port": up.port, **extra}

    def write_source(self, text, how="in-place", path=None):
        path = path or self.source_path
        if how == "in-place":
            with open(path, "w") as f:
                f.write(text)
        elif how == "rename":
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.rename(tmp, path)
        else:
            raise ValueError(how)

    def write_endpoints(self, names, how="in-place"):
        self.write_source(endpoints_yaml([self.entry(n) for n in names]), how)

    def start(self, static=None, source=SOURCE):
        spec = {}
        if static is not None:
            spec["endpoints"] = [self.ups[n].address for n in static]
        spec["discovery"] = {"file": {"path": source}}
        self.port = free_port()
        self.wg = self.env.waygate(proxy_config(self.port, {"web": spec}), self.port,
                                   config_path=self.config_path)

    def wait_for(self, *expected):
        return wait_for_answers(self.port, expected, POLL_TIMEOUT)


class FileSourceTest(FileDiscoveryTestCase):

    def test_endpoints_in_the_file_route_traffic(self):
        self.write_source(endpoints_yaml([
            self.entry("A", weight=1, zone="eu-1", metadata={"any": "thing", "n": [1, 2]}),
            self.entry("B")]))  # weight left to its default
        self.start()
        self.wait_for("A", "B")

    def test_json_file_routes_traffic(self):
        self.write_source(json.dumps([self.entry("A"), self.entry("B", weight=1)]))
        self.start()
        self.wait_for("A", "B")

    def test_static_endpoints_and_file_are_merged_once(self):
        self.write_endpoints(["B", "A"])  # A is listed in both places
        self.start(static=["A"])
        self.wait_for("A", "B")
        answers = upstream_answers(self.port, 10)
        # Round robin over {A, B}; a second copy of A would take two turns in three.
        self.assertEqual((answers.count("A"), answers.count("B")), (5, 5), answers)

    def test_missing_file_answers_503_until_it_appears(self):
        self.start()
        self.wait_for(503)
        self.write_endpoints(["A"])
        self.wait_for("A")


class FileReplacementTest(FileDiscoveryTestCase):

    def test_rewrite_in_place_moves_traffic(self):
        self.write_endpoints(["A"])
        self.start()
        self.wait_for("A")
        self.write_endpoints(["B", "C"], "in-place")
        self.wait_for("B", "C")

    def test_rename_over_the_file_moves_traffic(self):
        self.write_endpoints(["A"])
        self.start()
        self.wait_for("A")
        self.write_endpoints(["B", "C"], "rename")
        self.wait_for("B", "C")
        self.write_endpoints(["A"], "rename")  # the watch follows the new inode
        self.wait_for("A")

    def test_symlink_swap_moves_traffic(self):
        # The Kubernetes ConfigMap layout: the file is a symlink through "..data", and an update
        # swaps "..data" to a new directory by rename; the file's own path never changes.
        mount = os.path.join(self.conf_dir, "endpoints")

        def publish(generation, names):
            data = os.path.join(mount, f"..gen{generation}")
            os.mkdir(data)
            self.write_source(endpoints_yaml([self.entry(n) for n in names]),
                              path=os.path.join(data, "web.yaml"))
            tmp = os.path.join(mount, "..data_tmp")
            os.symlink(f"..gen{generation}", tmp)
            os.rename(tmp, os.path.join(mount, "..data"))

        publish(1, ["A"])
        os.symlink(os.path.join("..data", "web.yaml"), self.source_path)
        self.start()
        self.wait_for("A")
        publish(2, ["B", "C"])
        self.wait_for("B", "C")
        publish(3, ["C"])
        self.wait_for("C")


class FileProblemTest(FileDiscoveryTestCase):

    def test_deleted_file_keeps_the_last_endpoints_until_it_is_back(self):
        self.write_endpoints(["A", "B"])
        self.start()
        self.wait_for("A", "B")
        os.unlink(self.source_path)
        self.wg.wait_for_stderr(kept_warning(2))
        self.assertEqual(set(upstream_answers(self.port, 10)), {"A", "B"})
        self.write_endpoints(["C"])
        self.wait_for("C")

    def test_syntax_error_keeps_the_last_endpoints_with_its_position(self):
        self.write_endpoints(["A", "B"])
        self.start()
        self.wait_for("A", "B")
        # By rename: an in-place write could be read half done, and fail for another reason.
        self.write_source(endpoints_yaml([self.entry("C")]) + "- {address: [\n", "rename")
        warning = self.wg.wait_for_stderr(kept_warning(2))[0]
        self.assertRegex(warning, rf"{SOURCE.replace('.', '[.]')}:\d+:\d+")
        self.assertEqual(set(upstream_answers(self.port, 10)), {"A", "B"})
        self.write_endpoints(["C"])  # fixed
        self.wait_for("C")

    def test_invalid_endpoint_keeps_the_last_endpoints_with_its_line(self):
        self.write_endpoints(["A", "B"])
        self.start()
        self.wait_for("A", "B")
        # Lines 1-2: C; line 3: the bad entry's address, line 4: its port.
        self.write_source(endpoints_yaml([self.entry("C"),
                                          {"address": "127.0.0.1", "port": 70000}]), "rename")
        warning = self.wg.wait_for_stderr(kept_warning(2))[0]
        self.assertRegex(warning, rf"{SOURCE.replace('.', '[.]')}:4:\d+")
        self.assertEqual(set(upstream_answers(self.port, 10)), {"A", "B"})
        self.write_endpoints(["C"])
        self.wait_for("C")

    def test_entry_without_a_port_is_invalid(self):
        self.write_endpoints(["A"])
        self.start()
        self.wait_for("A")
        self.write_source(endpoints_yaml([self.entry("C"), {"address": "127.0.0.1"}]), "rename")
        warning = self.wg.wait_for_stderr(kept_warning(1))[0]
        self.assertRegex(warning, rf"{SOURCE.replace('.', '[.]')}:3:\d+")  # the entry's line
        self.assertEqual(set(upstream_answers(self.port, 10)), {"A"})


class FileDrainTest(FileDiscoveryTestCase):

    def test_request_in_flight_on_a_removed_endpoint_finishes(self):
        self.write_endpoints(["A"])
        self.start()
        self.wait_for("A")
        held = HttpConnection(self.port)
        self.addCleanup(held.close)
        held.send(request("GET", "/hold"))
        wait_until(lambda: self.ups["A"].stats()["held"] == 1, POLL_TIMEOUT,
                   message="the request to wait at A")
        self.write_endpoints(["B"])
        self.wait_for("B")  # A has left the cluster while its request is still in flight
        self.assertEqual(self.ups["A"].release(), 1)
        resp = held.read_response()
        self.assertEqual((resp.status, resp.header("x-upstream-name")), (200, "A"), resp)
