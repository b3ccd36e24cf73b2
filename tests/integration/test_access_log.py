"""The access log as an operator reads it: JSON lines (one object per request, each field right for
proxied, unrouted, fixed-response and failed requests), text templates, a log per listener,
rotation by rename and SIGUSR1 without losing a line, every buffered line written on SIGTERM, and
settings changed by a reload. Also the process log's levels (`log_level:`).
"""

import json
import os
import re
import signal
import threading
import unittest

from harness import (HOST, HttpConnection, WaygateTestCase, check_config, free_port, free_ports,
                     port_accepts, refusing_address, request, to_yaml, wait_until)

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PROCESS_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|warn|error) \S")
POLL_TIMEOUT = 10.0  # a failure guard, not a timing expectation


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        return f.read().decode("utf-8").splitlines()


def json_entries(path):
    """Every line of the file, each parsed as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in read_lines(path)]


def wait_for_entry(path, request_id):
    def find():
        for entry in json_entries(path):
            if entry["request_id"] == request_id:
                return entry
        return None
    return wait_until(find, POLL_TIMEOUT, 0.02, f"the JSON line of request {request_id} in {path}")


def open_fds_to(pid, path):
    """How many of the process's file descriptors refer to the file at path."""
    count = 0
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)) == path:
                count += 1
        except OSError:
            pass  # closed meanwhile
    return count


def config(listeners, access_log, workers=1, routes=None, clusters=None, top=None):
    cfg = {"workers": workers, "access_log": access_log, **(top or {})}
    cfg["listeners"] = listeners
    cfg["routes"] = routes or [{"hosts": ["*"], "paths": [{"prefix": "/", "cluster": "up"}]}]
    cfg["clusters"] = clusters
    return to_yaml(cfg)


class JsonLinesTest(WaygateTestCase):
    """One waygate writing JSON lines to a file; each test finds its request by its id."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.class_env
        cls.up = env.upstream("A")
        cls.dead = refusing_address()
        cls.log_path = os.path.join(env.dir, "access.json")
        cls.port = free_port()
        routes = [{"hosts": ["a.test"], "paths": [
            {"prefix": "/api/", "name": "api", "cluster": "up"},
            {"exact": "/fixed", "respond": {"status": 200, "body": "fixed\n"}},
            {"prefix": "/dead/", "cluster": "dead"},
        ]}]
        clusters = [{"name": "up", "endpoints": [cls.up.address]},
                    {"name": "dead", "endpoints": [cls.dead]}]
        text = config([{"name": "web", "address": f"{HOST}:{cls.port}"}],
                      {"path": cls.log_path, "format": "json"}, workers=2, routes=routes,
                      clusters=clusters)
        cls.wg = env.waygate(text, cls.port)

    def send(self, target, request_id=None, host="a.test"):
        """One request on a fresh connection: (response, its raw bytes, the client's address)."""
        headers = [("X-Request-Id", request_id)] if request_id is not None else []
        raw = request("GET", target, host=host, headers=headers)
        with HttpConnection(self.port) as conn:
            conn.send(raw)
            resp = conn.read_response()
            client = f"{HOST}:{conn.sock.getsockname()[1]}"
        return resp, raw, client

    def test_a_proxied_request(self):
        resp, raw, client = self.send("/api/item?q=1", "json-proxied")
        self.assertEqual(resp.status, 200)
        entry = wait_for_entry(self.log_path, "json-proxied")
        self.assertRegex(entry["time"], TIME)
        expected = {"client": client, "method": "GET", "target": "/api/item?q=1",
                    "protocol": "HTTP/1.1", "status": 200, "bytes_sent": len(resp.body),
                    "bytes_received": len(raw), "host": "a.test", "listener": "web",
                    "route": "api", "cluster": "up", "endpoint": self.up.address, "error": None}
        self.assertEqual({k: entry[k] for k in expected}, expected)
        for key in ("duration_ms", "upstream_connect_ms", "upstream_response_ms"):
            self.assertIsInstance(entry[key], float, key)
            self.assertGreaterEqual(entry[key], 0, key)
        # The response head came within the whole request's time.
        self.assertLessEqual(entry["upstream_response_ms"], entry["duration_ms"])

    def test_the_request_id_is_the_one_sent_upstream(self):
        resp, _, _ = self.send("/api/headers?log=generated-id")
        sent = {name.lower(): value for name, value in resp.json()["headers"]}["x-request-id"]
        entries = wait_until(
            lambda: [e for e in json_entries(self.log_path)
                     if e["target"] == "/api/headers?log=generated-id"],
            POLL_TIMEOUT, 0.02, "the line of the request without an id")
        self.assertEqual(entries[0]["request_id"], sent)

    def test_a_request_no_route_matches(self):
        resp, _, _ = self.send("/nowhere", "json-no-route", host="b.test")
        self.assertEqual(resp.status, 404)
        entry = wait_for_entry(self.log_path, "json-no-route")
        expected = {"status": 404, "route": None, "cluster": None, "endpoint": None,
                    "error": "no-route", "upstream_connect_ms": None,
                    "upstream_response_ms": None, "host": "b.test", "target": "/nowhere"}
        self.assertEqual({k: entry[k] for k in expected}, expected)

    def test_a_fixed_response(self):
        resp, _, _ = self.send("/fixed", "json-fixed")
        self.assertEqual((resp.status, resp.body), (200, b"fixed\n"))
        entry = wait_for_entry(self.log_path, "json-fixed")
        expected = {"status": 200, "route": "a.test/fixed", "cluster": None, "endpoint": None,
                    "error": None, "bytes_sent": 6, "upstream_response_ms": None}
        self.assertEqual({k: entry[k] for k in expected}, expected)

    def test_a_dead_upstream(self):
        resp, _, _ = self.send("/dead/x", "json-dead")
        self.assertEqual(resp.status, 502)
        entry = wait_for_entry(self.log_path, "json-dead")
        expected = {"status": 502, "route": "a.test/dead/", "cluster": "dead",
                    "endpoint": self.dead, "error": "upstream-refused",
                    "upstream_connect_ms": None, "upstream_response_ms": None}
        self.assertEqual({k: entry[k] for k in expected}, expected)

    def test_client_bytes_cannot_break_the_json(self):
        # Quotes, a backslash, a tab and bytes that are not UTF-8 in a header value.
        hostile = 'q"b\\s\tx' + "\xff\xfe" + "\xc3\xa9"
        resp, _, _ = self.send("/api/x", hostile)
        self.assertEqual(resp.status, 200)
        wait_until(lambda: any(e["target"] == "/api/x" and e["request_id"].startswith('q"b')
                               for e in json_entries(self.log_path)),
                   POLL_TIMEOUT, 0.02, "the line of the request with a hostile id")
        entry = [e for e in json_entries(self.log_path) if e["request_id"].startswith('q"b')][0]
        # Valid UTF-8 ("é") kept, each invalid byte replaced.
        self.assertEqual(entry["request_id"], 'q"b\\s\tx\ufffd\ufffdé')


class TemplateTest(WaygateTestCase):

    def test_a_template_renders_as_configured(self):
        up = self.env.upstream("A")
        template = "$status route=$route cluster=$cluster at=$endpoint err=$error " \
                   "on=$listener ${duration_ms}ms $$"
        wg = self.start_proxy(self.env, {"up": [up.address]},
                              access_log={"path": "stdout", "template": template})
        self.assertEqual(self.get(wg.port, "/templated").status, 200)
        line = wg.wait_for_log(r"^200 ")
        self.assertRegex(line, rf"^200 route=\*/ cluster=up at={re.escape(up.address)} err=- "
                               rf"on=web \d+\.\d{{3}}ms \$$")

    def test_an_unknown_variable_is_refused_with_its_position(self):
        result = check_config(self.env.dir, "listeners:\n"
                              "  - name: web\n"
                              "    address: 127.0.0.1:1\n"
                              "    access_log:\n"
                              "      path: stdout\n"
                              "      template: \"$status $bogus\"\n"
                              "routes: [{ hosts: ['*'], paths: [{ prefix: /, cluster: up }] }]\n"
                              "clusters: [{ name: up, endpoints: [127.0.0.1:2] }]\n", "bad.yaml")
        path = os.path.join(self.env.dir, "bad.yaml")
        self.assertEqual(result.returncode, 1, result)
        self.assertRegex(result.stderr, rf"^{re.escape(path)}:6:17: .*unknown variable '\$bogus'")


class PerListenerTest(WaygateTestCase):

    def test_a_listeners_own_log_goes_to_its_own_file(self):
        up = self.env.upstream("A")
        main_port, side_port = free_ports(2)
        main_log = os.path.join(self.env.dir, "main.log")
        side_log = os.path.join(self.env.dir, "side.json")
        text = config([{"name": "main", "address": f"{HOST}:{main_port}"},
                       {"name": "side", "address": f"{HOST}:{side_port}",
                        "access_log": {"path": side_log, "format": "json"}}],
                      main_log, clusters=[{"name": "up", "endpoints": [up.address]}])
        wg = self.env.waygate(text, main_port)
        wait_until(lambda: port_accepts(side_port), message="the second listener")
        self.assertEqual(self.get(main_port, "/m", headers=[("X-Request-Id", "to-main")]).status,
                         200)
        self.assertEqual(self.get(side_port, "/s", headers=[("X-Request-Id", "to-side")]).status,
                         200)
        entry = wait_for_entry(side_log, "to-side")
        self.assertEqual((entry["listener"], entry["target"]), ("side", "/s"))
        wait_until(lambda: any("id=to-main " in line for line in read_lines(main_log)),
                   POLL_TIMEOUT, 0.02, "the main listener's text line")
        self.assertEqual(wg.stop(), 0)  # everything written
        self.assertEqual([e["request_id"] for e in json_entries(side_log)], ["to-side"])
        self.assertEqual(len(read_lines(main_log)), 1, read_lines(main_log))
        self.assertEqual(wg.log_lines(), [])  # nothing on stdout, the default's default


class RequestLoop:
    """Sends requests one after another on keep-alive connections (several, so every worker
    gets some) until stopped, each with its own X-Request-Id; counts those answered."""

    def __init__(self, port, prefix, connections=4):
        self.port = port
        self.prefix = prefix
        self.answered = []
        self.errors = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(c,), daemon=True)
                         for c in range(connections)]

    def _run(self, c):
        n = 0
        try:
            with HttpConnection(self.port) as conn:
                while not self._stop.is_set():
                    request_id = f"{self.prefix}-{c}-{n}"
                    conn.send(request("GET", "/loop", headers=[("X-Request-Id", request_id)]))
                    if conn.read_response().status != 200:
                        raise AssertionError(f"request {request_id} failed")
                    self.answered.append(request_id)
                    n += 1
        except Exception as e:  # noqa: BLE001  (reported by stop())
            self.errors.append(repr(e))

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join()
        assert not self.errors, self.errors
        return list(self.answered)


def text_ids(lines):
    return [re.search(r" id=(\S+) ", line).group(1) for line in lines]


class RotationTest(WaygateTestCase):

    def test_rename_and_sigusr1_lose_no_line(self):
        up = self.env.upstream("A")
        path = os.path.join(self.env.dir, "access.log")
        rotated = path + ".1"
        wg = self.start_proxy(self.env, {"up": [up.address]}, access_log=path, workers=2)
        with RequestLoop(wg.port, "rot") as loop:
            wait_until(lambda: len(read_lines(path)) >= 20, POLL_TIMEOUT, 0.02,
                       "lines before the rotation")
            os.rename(path, rotated)
            wg.send_signal(signal.SIGUSR1)
            wait_until(lambda: len(read_lines(path)) >= 20, POLL_TIMEOUT, 0.02,
                       "lines in the new file at the old path")
            # Every worker has left the renamed file: waygate closed it.
            wait_until(lambda: open_fds_to(wg.pid, rotated) == 0, POLL_TIMEOUT, 0.02,
                       "the renamed file to be closed")
        answered = loop.stop()
        self.assertEqual(wg.stop(), 0)
        before, after = text_ids(read_lines(rotated)), text_ids(read_lines(path))
        self.assertEqual(len(before) + len(after), len(answered))
        self.assertEqual(sorted(before + after), sorted(answered))
        self.assertGreater(len(before), 0)
        self.assertGreater(len(after), 0)
        wg.wait_for_stderr(r"SIGUSR1: access logs reopened")


class ShutdownTest(WaygateTestCase):

    def test_sigterm_writes_every_buffered_line(self):
        up = self.env.upstream("A")
        path = os.path.join(self.env.dir, "access.json")
        wg = self.start_proxy(self.env, {"up": [up.address]},
                              access_log={"path": path, "format": "json"}, workers=2)
        sent = []
        conns = [HttpConnection(wg.port) for _ in range(4)]
        try:
            for n in range(300):
                request_id = f"term-{n}"
                conn = conns[n % len(conns)]
                conn.send(request("GET", "/term", headers=[("X-Request-Id", request_id)]))
                self.assertEqual(conn.read_response().status, 200)
                sent.append(request_id)
        finally:
            for conn in conns:
                conn.close()
        # At once: most lines are still in the workers' buffers.
        self.assertEqual(wg.stop(), 0)
        self.assertEqual(sorted(e["request_id"] for e in json_entries(path)), sorted(sent))


class ReloadTest(WaygateTestCase):

    def test_a_reload_moves_the_log_to_a_new_file_and_format(self):
        up = self.env.upstream("A")
        port = free_port()
        first = os.path.join(self.env.dir, "first.log")
        second = os.path.join(self.env.dir, "second.json")
        listeners = [{"name": "web", "address": f"{HOST}:{port}"}]
        clusters = [{"name": "up", "endpoints": [up.address]}]
        wg = self.env.waygate(config(listeners, first, clusters=clusters), port)
        self.assertEqual(self.get(port, "/a", headers=[("X-Request-Id", "before")]).status, 200)
        wait_until(lambda: any("id=before " in line for line in read_lines(first)),
                   POLL_TIMEOUT, 0.02, "the first line")
        wg.write_config(config(listeners, {"path": second, "format": "json"}, clusters=clusters))
        wg.send_signal(signal.SIGHUP)
        wg.wait_for_reloads(1)
        self.assertEqual(self.get(port, "/b", headers=[("X-Request-Id", "after")]).status, 200)
        self.assertEqual(wait_for_entry(second, "after")["target"], "/b")
        wait_until(lambda: open_fds_to(wg.pid, first) == 0, POLL_TIMEOUT, 0.02,
                   "the first file to be closed")
        self.assertEqual(text_ids(read_lines(first)), ["before"])
        self.assertNotIn("take a restart", wg.stderr_text())


class ProcessLogTest(WaygateTestCase):

    def start_with(self, top):
        up = self.env.upstream("A")
        port = free_port()
        text = config([{"name": "web", "address": f"{HOST}:{port}"}], "off",
                      clusters=[{"name": "up", "endpoints": [up.address]}], top=top)
        return self.env.waygate(text, port)

    def assert_parseable(self, wg):
        lines = wg.stderr_text().splitlines()
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, PROCESS_LOG_LINE)

    def test_info_is_the_default_level(self):
        wg = self.start_with({})
        wg.wait_for_stderr(r" info waygate \S+ ready")
        self.assertEqual(wg.stop(), 0)
        self.assert_parseable(wg)

    def test_log_level_warn_keeps_warnings_and_errors_only(self):
        wg = self.start_with({"log_level": "warn"})
        wg.write_config("listeners: [oops\n")  # a refused reload logs errors
        wg.send_signal(signal.SIGHUP)
        wg.wait_for_stderr(r" error reload \(SIGHUP\) refused: ")
        self.assertEqual(wg.stop(), 0)
        self.assert_parseable(wg)
        levels = {PROCESS_LOG_LINE.match(line).group(1) for line in wg.stderr_text().splitlines()}
        self.assertEqual(levels - {"warn", "error"}, set(), wg.stderr_text())


if __name__ == "__main__":
    unittest.main()
