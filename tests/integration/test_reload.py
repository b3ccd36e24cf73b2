"""Reloading the config while serving: the triggers (SIGHUP, the file changing on disk, POST
/reload on the admin address), refused configs, in-flight requests, listeners, upstream pools, and
reloads under constant keep-alive load (docs/config.md, "Reloading").

An applied reload is seen as a stderr line saying "reloaded" (Waygate.reload_count); a new route
is seen by polling until it answers. The file watcher sees every change a test makes to the file,
so a SIGHUP or POST /reload after a write may find the watcher got there first: both count.
"""

import base64
import os
import re
import signal
import socket
import threading
import time
import unittest

from harness import (HOST, ConnectionClosed, HttpConnection, WaygateTestCase, admin_request,
                     connection_refused, free_port, port_accepts, request, to_yaml, wait_until)
from upstream import Reader, ws_frame, ws_read_frame

POLL_TIMEOUT = 10.0  # a failure guard for "the new routes answer", not a timing expectation
# Nothing observable says "the watcher looked at the file and did nothing"; a test that checks
# that something did NOT happen waits this long (ten times the watcher's 100ms debounce) first.
QUIET_PERIOD = 1.0


def config_text(listeners, clusters, paths, admin_port=None, workers=1, access_log="stdout",
                **top):
    """listeners: {name: port}; clusters: {name: [address]}; paths: the "*" route's paths;
    top: further top-level keys (timeouts, limits)."""
    cfg = {"workers": workers, "access_log": access_log, **top}
    if admin_port:
        cfg["admin"] = {"address": f"{HOST}:{admin_port}"}
    cfg["listeners"] = [{"name": name, "address": f"{HOST}:{port}"}
                        for name, port in listeners.items()]
    cfg["routes"] = [{"hosts": ["*"], "paths": list(paths)}]
    cfg["clusters"] = [{"name": name, "endpoints": list(eps)} for name, eps in clusters.items()]
    return to_yaml(cfg)


def start_on_free_ports(env, text_for):
    """Starts waygate with text_for(port, admin_port) on ports that were free a moment ago;
    picks others if one was taken in between. Returns (waygate, port, admin_port)."""
    for attempt in range(3):
        port, admin_port = free_port(), free_port()
        try:
            wg = env.waygate(text_for(port, admin_port), port)
        except RuntimeError as e:
            if "in use" in str(e) and attempt < 2:
                continue
            raise
        wait_until(lambda: port_accepts(admin_port), message="the admin address to accept")
        return wg, port, admin_port


def version_path(n):
    return {"exact": "/version", "respond": {"status": 200, "body": f"v{n}\n"}}


def line_of(text, needle):
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


class ReloadTestCase(WaygateTestCase):
    """A waygate with one listener, an admin address and upstream A; configs are numbered
    versions that answer GET /version with "v<n>"."""

    def setUp(self):
        super().setUp()
        self.up = self.env.upstream("A")

        def text_for(port, admin_port):
            self.port, self.admin_port = port, admin_port
            return self.config(1)
        self.wg = start_on_free_ports(self.env, text_for)[0]

    def config(self, version, extra_paths=(), listeners=None, clusters=None, **top):
        clusters = clusters or {"A": [self.up.address]}
        paths = [version_path(version), *extra_paths,
                 {"prefix": "/", "cluster": next(iter(clusters))}]
        return config_text(listeners or {"web": self.port}, clusters, paths, self.admin_port,
                           **top)

    def version(self, conn=None, port=None):
        """The body of GET /version: on conn if given, else on a new connection."""
        if conn is None:
            with HttpConnection(port or self.port) as fresh:
                return self.version(fresh)
        conn.send(request("GET", "/version"))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        return resp.body.decode()

    def wait_for_version(self, n, conn=None):
        wait_until(lambda: self.version(conn) == f"v{n}\n", POLL_TIMEOUT,
                   message=f"GET /version to answer v{n}")

    def reload(self, how, text):
        """Writes text and triggers a reload: "in-place" and "rename" by the write alone,
        "sighup" and "admin" by a SIGHUP or POST /reload after an in-place write. Returns the
        admin response for "admin"."""
        self.wg.write_config(text, "rename" if how == "rename" else "in-place")
        if how == "sighup":
            self.wg.send_signal(signal.SIGHUP)
        elif how == "admin":
            return admin_request(self.admin_port, "POST", "/reload")
        return None

    def proxied(self, conn, target="/p"):
        conn.send(request("GET", target))
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, f"A GET {target}\n".encode()), resp)


class ReloadTriggerTest(ReloadTestCase):

    def test_sighup_applies_the_changed_file(self):
        new = {"exact": "/new", "respond": {"status": 200, "body": "new route\n"}}
        self.wg.write_config(self.config(2, [new]))
        self.wg.send_signal(signal.SIGHUP)
        self.wg.wait_for_reloads(1)
        self.wait_for_version(2)
        resp = self.get(self.port, "/new")
        self.assertEqual((resp.status, resp.body), (200, b"new route\n"), resp)

    def test_keepalive_connection_stays_open_and_sees_new_routes(self):
        conn = self.connect(self.port)
        self.assertEqual(self.version(conn), "v1\n")
        self.proxied(conn)
        self.reload("sighup", self.config(2))
        self.wg.wait_for_reloads(1)
        self.wait_for_version(2, conn)  # the same connection, never reopened
        self.proxied(conn, "/after")

    def test_file_rewrite_in_place_triggers_reload(self):
        self.wg.write_config(self.config(2), "in-place")
        self.wg.wait_for_reloads(1)
        self.wait_for_version(2)

    def test_rename_replace_triggers_reload(self):
        self.wg.write_config(self.config(2), "rename")
        self.wg.wait_for_reloads(1)
        self.wait_for_version(2)

    def test_file_stays_watched_after_rename_replace(self):
        for n, how in enumerate(["rename", "in-place", "rename", "rename", "in-place"], 2):
            self.wg.write_config(self.config(n), how)
            self.wg.wait_for_reloads(n - 1)
            self.wait_for_version(n)

    def test_config_deleted_and_created_again_triggers_reload(self):
        os.remove(self.wg.config_path)
        with open(self.wg.config_path, "w") as f:
            f.write(self.config(2))
        self.wg.wait_for_reloads(1)
        self.wait_for_version(2)
        self.wg.write_config(self.config(3), "in-place")  # still watched afterwards
        self.wg.wait_for_reloads(2)
        self.wait_for_version(3)

    def test_burst_of_sighups_applies_the_last_file(self):
        for n in range(2, 8):
            self.reload("sighup", self.config(n))
        self.wait_for_version(7)

    def test_burst_of_writes_applies_the_last_one(self):
        # waygate is stopped while the test writes, so the whole burst is queued when it runs
        # again: however slowly this machine writes, the debounce sees one burst.
        texts = [self.config(n) for n in range(2, 8)]
        self.wg.send_signal(signal.SIGSTOP)
        try:
            for text in texts:
                self.wg.write_config(text, "in-place")
        finally:
            self.wg.send_signal(signal.SIGCONT)
        self.wait_for_version(7)
        time.sleep(QUIET_PERIOD)  # a negative check: no second reload follows
        self.assertEqual(self.wg.reload_count(), 1, self.wg.stderr_text())

    def test_identical_content_does_not_reload(self):
        same = self.config(1)
        self.wg.write_config(same, "in-place")
        self.wg.write_config(same, "rename")
        self.wg.send_signal(signal.SIGHUP)
        resp = admin_request(self.admin_port, "POST", "/reload")
        self.assertEqual((resp.status, resp.body.strip()), (200, b"unchanged"), resp)
        time.sleep(QUIET_PERIOD)  # a negative check: nothing to wait for
        self.assertEqual(self.wg.reload_count(), 0, self.wg.stderr_text())
        # A real change after them is applied once, however many triggers see it.
        self.reload("sighup", self.config(2))
        self.wg.wait_for_reloads(1)
        self.wait_for_version(2)
        time.sleep(QUIET_PERIOD)
        self.assertEqual(self.wg.reload_count(), 1, self.wg.stderr_text())


class GlobalSettingsReloadTest(ReloadTestCase):
    """timeouts and limits are part of the file a reload applies (only workers needs a
    restart)."""

    def test_reload_applies_global_body_limit(self):
        self.assertEqual(self.get(self.port, "/echo", method="POST", body=b"x" * 1000).status, 200)
        self.reload("sighup", self.config(2, limits={"max_body_bytes": 100}))
        self.wg.wait_for_reloads(1)
        wait_until(lambda: self.get(self.port, "/echo", method="POST",
                                    body=b"x" * 1000).status == 413,
                   POLL_TIMEOUT, message="413 for a body above the reloaded limit")

    def test_reload_applies_global_upstream_timeout(self):
        self.reload("sighup", self.config(2, timeouts={"upstream_response": "300ms"}))
        self.wg.wait_for_reloads(1)
        self.wait_for_version(2)
        self.assertEqual(self.get(self.port, "/slow?delay=3").status, 504)


class ConfigMapReloadTest(WaygateTestCase):
    """The Kubernetes ConfigMap layout: the config is a symlink through "..data", and an update
    swaps "..data" to a new directory by rename; the config's own path never changes."""

    def test_configmap_symlink_swap_triggers_reload(self):
        up = self.env.upstream("A")
        port = free_port()
        mount = os.path.join(self.env.dir, "configmap")
        os.mkdir(mount)

        def publish(generation, text):
            data = os.path.join(mount, f"..gen{generation}")
            os.mkdir(data)
            with open(os.path.join(data, "waygate.yaml"), "w") as f:
                f.write(text)
            tmp = os.path.join(mount, "..data_tmp")
            os.symlink(f"..gen{generation}", tmp)
            os.rename(tmp, os.path.join(mount, "..data"))

        def text(n):
            return config_text({"web": port}, {"A": [up.address]},
                               [version_path(n), {"prefix": "/", "cluster": "A"}])

        publish(1, text(1))
        config_path = os.path.join(mount, "waygate.yaml")
        os.symlink(os.path.join("..data", "waygate.yaml"), config_path)
        wg = self.env.waygate(None, port, config_path=config_path)
        self.assertEqual(self.get(port, "/version").body, b"v1\n")
        for n in (2, 3):
            publish(n, text(n))
            wg.wait_for_reloads(n - 1)
            wait_until(lambda: self.get(port, "/version").body == f"v{n}\n".encode(),
                       POLL_TIMEOUT, message=f"v{n} after the ..data swap")


class AdminTest(ReloadTestCase):

    def test_ready_answers_200_ready(self):
        resp = admin_request(self.admin_port, "GET", "/ready")
        self.assertEqual((resp.status, resp.body.strip()), (200, b"ready"), resp)

    def test_post_reload_with_changed_file_answers_reloaded(self):
        # The watcher may apply the write before the POST arrives (then: "unchanged"); a few
        # tries make sure POST /reload itself answers "reloaded" at least once.
        answers = []
        for n in range(2, 6):
            resp = self.reload("admin", self.config(n))
            answers.append(resp.body.strip())
            self.assertEqual(resp.status, 200, resp)
            self.assertIn(resp.body.strip(), (b"reloaded", b"unchanged"), resp)
            self.wg.wait_for_reloads(n - 1)
            self.wait_for_version(n)
            if answers[-1] == b"reloaded":
                break
        self.assertIn(b"reloaded", answers)

    def test_post_reload_with_same_file_answers_unchanged(self):
        resp = admin_request(self.admin_port, "POST", "/reload")
        self.assertEqual((resp.status, resp.body.strip()), (200, b"unchanged"), resp)
        self.assertEqual(self.wg.reload_count(), 0)
        self.assertEqual(self.version(), "v1\n")

    def test_post_reload_with_broken_file_answers_400_with_position(self):
        text = self.config(2, [{"prefix": "/gone", "cluster": "nowhere"}])
        resp = self.reload("admin", text)
        self.assertEqual(resp.status, 400, resp)
        where = f"{self.wg.config_path}:{line_of(text, 'nowhere')}:"
        self.assertIn(where, resp.body.decode(), resp)
        self.assertIn("nowhere", resp.body.decode(), resp)
        self.assertEqual(self.version(), "v1\n")
        self.assertEqual(self.wg.reload_count(), 0)

    def test_post_reload_reports_every_error(self):
        text = self.config(2, [{"prefix": "/a", "cluster": "nowhere1"},
                               {"prefix": "/b", "cluster": "nowhere2"}])
        resp = self.reload("admin", text)
        self.assertEqual(resp.status, 400, resp)
        for name in ("nowhere1", "nowhere2"):
            self.assertIn(f"{self.wg.config_path}:{line_of(text, name)}:", resp.body.decode(),
                          resp)

    def test_ready_answers_503_draining_after_sigterm(self):
        conn = self.connect(self.port, timeout=30)
        conn.send(request("GET", "/slow?delay=5"))  # keeps waygate draining for a while
        wait_until(lambda: self.up.stats()["requests"] == 1, message="the request upstream")
        self.wg.send_signal(signal.SIGTERM)

        def draining():
            resp = admin_request(self.admin_port, "GET", "/ready")
            return resp if resp.status != 200 else None
        resp = wait_until(draining, POLL_TIMEOUT, message="GET /ready to stop answering 200")
        self.assertEqual((resp.status, resp.body.strip()), (503, b"draining"), resp)
        self.assertEqual(conn.read_response().status, 200)
        self.assertEqual(self.wg.wait(), 0)

    def test_ready_after_reloads(self):
        self.reload("admin", self.config(2))
        self.wg.wait_for_reloads(1)
        resp = admin_request(self.admin_port, "GET", "/ready")
        self.assertEqual((resp.status, resp.body.strip()), (200, b"ready"), resp)


class RefusedConfigTest(ReloadTestCase):
    """A broken file changes nothing: the old routes answer, the error is logged with its
    position, and a later good file is applied."""

    def assertRefused(self, text, needle, how="sighup", lines_after=0):
        """lines_after: the error may be reported that many lines after the needle's (a YAML
        parser notices an unclosed bracket at the next token)."""
        conn = self.connect(self.port)
        self.assertEqual(self.version(conn), "v1\n")
        self.reload(how, text)
        first = line_of(text, needle)
        lines = "|".join(str(n) for n in range(first, first + lines_after + 1))
        self.wg.wait_for_stderr(rf"{re.escape(self.wg.config_path)}:({lines}):\d+")
        self.assertEqual(self.wg.reload_count(), 0, self.wg.stderr_text())
        self.assertEqual(self.version(conn), "v1\n")
        self.assertEqual(self.version(), "v1\n")
        self.proxied(conn)

    def test_yaml_error_is_refused_and_old_routes_keep_serving(self):
        text = self.config(2).replace('hosts: ["*"]', 'hosts: ["*"')
        self.assertRefused(text, 'hosts: ["*"', lines_after=1)

    def test_unknown_cluster_is_refused_and_old_routes_keep_serving(self):
        self.assertRefused(self.config(2, [{"prefix": "/x", "cluster": "nowhere"}]), "nowhere")

    def test_broken_file_seen_by_the_watcher_is_refused(self):
        self.assertRefused(self.config(2, [{"prefix": "/x", "cluster": "nowhere"}]), "nowhere",
                           how="rename")

    def test_missing_file_is_refused(self):
        os.remove(self.wg.config_path)
        resp = admin_request(self.admin_port, "POST", "/reload")
        self.assertEqual(resp.status, 400, resp)
        self.assertIn(self.wg.config_path, resp.body.decode(), resp)
        self.assertEqual(self.version(), "v1\n")

    def test_empty_file_is_refused(self):
        resp = self.reload("admin", "")
        self.assertEqual(resp.status, 400, resp)
        self.assertIn(f"{self.wg.config_path}:", resp.body.decode(), resp)
        self.assertEqual(self.version(), "v1\n")
        self.assertEqual(self.wg.reload_count(), 0)

    def test_good_file_after_a_refused_one_is_applied(self):
        self.assertRefused(self.config(2, [{"prefix": "/x", "cluster": "nowhere"}]), "nowhere")
        self.reload("sighup", self.config(3))
        self.wg.wait_for_reloads(1)
        self.wait_for_version(3)


class InFlightTest(ReloadTestCase):

    def gone_config(self):
        """Version 2: only /version; everything else is 404."""
        return config_text({"web": self.port}, {"A": [self.up.address]}, [version_path(2)],
                           self.admin_port)

    def test_in_flight_request_finishes_after_its_route_is_removed(self):
        conn = self.connect(self.port, timeout=30)
        conn.send(request("GET", "/slow?delay=3"))
        wait_until(lambda: self.up.stats()["requests"] == 1, message="the request upstream")
        self.reload("sighup", self.gone_config())
        self.wg.wait_for_reloads(1)
        # The reload must have been applied while the request was still waiting upstream.
        self.assertEqual(self.up.stats()["bytes_sent"], 0,
                         "inconclusive: the upstream answered before the reload was applied")
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"A GET /slow?delay=3\n"), resp)
        wait_until(lambda: self.get(self.port, "/slow?delay=0").status == 404, POLL_TIMEOUT,
                   message="/slow to be 404 on a new connection")

    def test_request_with_unfinished_body_keeps_its_route(self):
        # The test holds the request in flight by not sending all of its body yet.
        conn = self.connect(self.port)
        conn.send(request("POST", "/echo", headers=[("Content-Length", "10")]) + b"hello")
        # Routed once it reaches the upstream (the body is streamed, not buffered first).
        wait_until(lambda: self.up.stats()["requests"] == 1, message="the request upstream")
        self.reload("sighup", self.gone_config())
        self.wg.wait_for_reloads(1)
        wait_until(lambda: self.get(self.port, "/echo").status == 404, POLL_TIMEOUT,
                   message="/echo to be 404 on a new connection")
        conn.send(b"world")
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"helloworld"), resp)
        # The next request on that connection uses the new routes.
        conn.send(request("GET", "/echo"))
        self.assertEqual(conn.read_response().status, 404)

    def test_in_flight_request_finishes_after_its_cluster_is_removed(self):
        other = self.env.upstream("B")
        conn = self.connect(self.port, timeout=30)
        conn.send(request("GET", "/slow?delay=3"))
        wait_until(lambda: self.up.stats()["requests"] == 1, message="the request upstream")
        self.reload("sighup", self.config(2, clusters={"B": [other.address]}))
        self.wg.wait_for_reloads(1)
        self.assertEqual(self.up.stats()["bytes_sent"], 0,
                         "inconclusive: the upstream answered before the reload was applied")
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"A GET /slow?delay=3\n"), resp)
        conn.send(request("GET", "/next"))
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.header("x-upstream-name")), (200, "B"), resp)

    def test_websocket_tunnel_survives_reload_that_removes_its_route(self):
        conn = self.connect(self.port)
        key = base64.b64encode(os.urandom(16)).decode()
        conn.send(request("GET", "/ws", headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]))
        resp = conn.read_response()
        self.assertEqual(resp.status, 101, resp)
        reader = Reader(conn.sock)
        reader.buf = conn.buf
        conn.send(ws_frame(0x1, b"before", mask=os.urandom(4)))
        self.assertEqual(ws_read_frame(reader), (0x1, b"before"))
        self.reload("sighup", self.gone_config())
        self.wg.wait_for_reloads(1)
        wait_until(lambda: self.get(self.port, "/ws").status == 404, POLL_TIMEOUT,
                   message="/ws to be 404 on a new connection")
        conn.send(ws_frame(0x1, b"after", mask=os.urandom(4)))
        self.assertEqual(ws_read_frame(reader), (0x1, b"after"))


class ListenerReloadTest(ReloadTestCase):

    def test_listener_added_by_reload_accepts(self):
        conn = self.connect(self.port)
        self.proxied(conn)
        extra = free_port()
        self.reload("sighup", self.config(2, listeners={"web": self.port, "extra": extra}))
        self.wg.wait_for_reloads(1)
        wait_until(lambda: port_accepts(extra), POLL_TIMEOUT, message="the new listener")
        self.assertEqual(self.version(port=extra), "v2\n")
        self.proxied(conn, "/still-open")

    def test_listener_removed_by_reload_stops_accepting(self):
        extra = free_port()
        self.reload("sighup", self.config(2, listeners={"web": self.port, "extra": extra}))
        wait_until(lambda: port_accepts(extra), POLL_TIMEOUT, message="the extra listener")
        conn = self.connect(self.port)
        self.proxied(conn)
        self.reload("sighup", self.config(3))
        self.wg.wait_for_reloads(2)
        wait_until(lambda: connection_refused(extra), POLL_TIMEOUT,
                   message="the removed listener to refuse connections")
        self.proxied(conn, "/still-open")
        self.assertEqual(self.version(), "v3\n")

    def test_listener_address_change_moves_it(self):
        first, second = free_port(), free_port()
        self.reload("sighup", self.config(2, listeners={"web": self.port, "extra": first}))
        wait_until(lambda: port_accepts(first), POLL_TIMEOUT, message="the extra listener")
        conn = self.connect(self.port)
        self.proxied(conn)
        self.reload("sighup", self.config(3, listeners={"web": self.port, "extra": second}))
        wait_until(lambda: port_accepts(second), POLL_TIMEOUT, message="the moved listener")
        wait_until(lambda: connection_refused(first), POLL_TIMEOUT,
                   message="the old address to refuse connections")
        self.assertEqual(self.version(port=second), "v3\n")
        self.proxied(conn, "/still-open")

    def test_in_flight_request_on_a_removed_listener_finishes_and_its_connection_closes(self):
        """The connection drains as on SIGTERM: its request is answered whole, with Connection:
        close, and then it ends, so the client moves to a listener the config still has."""
        extra = free_port()
        self.reload("sighup", self.config(2, listeners={"web": self.port, "extra": extra}))
        wait_until(lambda: port_accepts(extra), POLL_TIMEOUT, message="the extra listener")
        conn = self.connect(extra, timeout=30)
        conn.send(request("GET", "/slow?delay=3"))
        wait_until(lambda: self.up.stats()["requests"] == 1, message="the request upstream")
        self.reload("sighup", self.config(3))
        wait_until(lambda: connection_refused(extra), POLL_TIMEOUT,
                   message="the removed listener to refuse connections")
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"A GET /slow?delay=3\n"), resp)
        self.assertEqual(resp.header("connection"), "close")
        self.assertTrue(conn.is_closed())

    def test_idle_connection_on_a_removed_listener_is_closed(self):
        """A keep-alive connection between requests on a removed listener is closed at once
        (before, it stayed open and served, on an address the config no longer has)."""
        extra = free_port()
        self.reload("sighup", self.config(2, listeners={"web": self.port, "extra": extra}))
        wait_until(lambda: port_accepts(extra), POLL_TIMEOUT, message="the extra listener")
        idle = self.connect(extra)
        self.proxied(idle)
        kept = self.connect(self.port)
        self.proxied(kept)
        self.reload("sighup", self.config(3))
        self.assertTrue(idle.is_closed())
        self.proxied(kept, "/still-open")

    def test_listener_that_cannot_bind_leaves_the_others_alone(self):
        conn = self.connect(self.port)
        self.proxied(conn)
        with socket.socket() as taken:
            taken.bind((HOST, 0))
            taken.listen(1)
            busy = taken.getsockname()[1]
            self.reload("sighup", self.config(2, listeners={"web": self.port, "busy": busy}))
            self.wg.wait_for_stderr(rf":{busy}\b.*in use|in use.*:{busy}\b")
        self.assertTrue(self.wg.running())
        self.proxied(conn, "/still-open")
        self.assertIn(self.version(), ("v1\n", "v2\n"))

    def test_listeners_swapping_addresses_under_new_connections_lose_none(self):
        # Sockets follow addresses: swapping the names of two listeners keeps both sockets, so
        # no connect is refused and none waiting to be accepted is dropped.
        extra = free_port()
        swapped = [self.config(2, listeners={"web": self.port, "extra": extra}),
                   self.config(3, listeners={"extra": self.port, "web": extra})]
        self.reload("sighup", swapped[0])
        self.wg.wait_for_reloads(1)
        wait_until(lambda: port_accepts(extra), POLL_TIMEOUT, message="the extra listener")
        stop = threading.Event()
        self.addCleanup(stop.set)
        clients = [NewConnectionClient(port, stop) for port in (self.port, extra) * 2]
        for client in clients:
            client.start()
        wait_until(lambda: all(c.done > 0 for c in clients), message="every client served")
        for i in range(2, 42):
            before = sum(c.done for c in clients)
            self.reload("sighup", swapped[(i - 1) % 2])
            self.wg.wait_for_reloads(i)
            wait_until(lambda: sum(c.done for c in clients) > before + 8,
                       message="new connections served after the reload")
        stop.set()
        for client in clients:
            client.join(30)
        errors = [e for c in clients for e in c.errors]
        self.assertFalse(errors, f"{len(errors)} failed connections; the first ones:\n"
                                 + "\n".join(errors[:10]))

    def test_listener_renamed_on_the_same_address_keeps_accepting(self):
        self.reload("sighup", self.config(2, listeners={"renamed": self.port}))
        self.wg.wait_for_reloads(1)
        wait_until(lambda: self.version() == "v2\n", POLL_TIMEOUT,
                   message="v2 from the renamed listener")

    def test_listeners_swapping_addresses_both_accept(self):
        extra = free_port()
        self.reload("sighup", self.config(2, listeners={"web": self.port, "extra": extra}))
        wait_until(lambda: port_accepts(extra), POLL_TIMEOUT, message="the extra listener")
        self.reload("sighup", self.config(3, listeners={"web": extra, "extra": self.port}))
        self.wg.wait_for_reloads(2)

        def answers_v3(port):
            try:
                return self.version(port=port) == "v3\n"
            except OSError:  # between the close and the open
                return False
        for port in (self.port, extra):
            wait_until(lambda: answers_v3(port), POLL_TIMEOUT, message=f"v3 on port {port}")


class UpstreamPoolReloadTest(ReloadTestCase):

    def test_reload_keeps_pooled_upstream_connections(self):
        conn = self.connect(self.port)
        for i in range(3):
            self.proxied(conn, f"/before{i}")
        self.assertEqual(self.up.stats()["connections_accepted"], 1)
        self.reload("sighup", self.config(2))
        self.wg.wait_for_reloads(1)
        self.wait_for_version(2, conn)
        for i in range(3):
            self.proxied(conn, f"/after{i}")
        self.proxied(self.connect(self.port), "/new-client")
        self.assertEqual(self.up.stats()["connections_accepted"], 1,
                         "the reload dropped the pooled upstream connection")

    def test_pool_kept_for_an_endpoint_that_stays_in_a_changed_cluster(self):
        conn = self.connect(self.port)
        self.proxied(conn, "/before")
        other = self.env.upstream("B")
        self.reload("sighup", self.config(2, clusters={"A": [self.up.address, other.address]}))
        self.wg.wait_for_reloads(1)
        self.wait_for_version(2, conn)
        names = set()
        for i in range(6):
            conn.send(request("GET", f"/after{i}"))
            resp = conn.read_response()
            self.assertEqual(resp.status, 200, resp)
            names.add(resp.header("x-upstream-name"))
        self.assertEqual(names, {"A", "B"})
        self.assertEqual(self.up.stats()["connections_accepted"], 1,
                         "the reload dropped the pooled connection to the endpoint that stayed")


class LoadClient(threading.Thread):
    """Loops GET requests on one keep-alive connection; records every socket error and every
    response that is not a 200 from upstream A or B."""

    def __init__(self, port, index, stop):
        super().__init__(daemon=True)
        self.port = port
        self.index = index
        self.stop_event = stop
        self.done = 0
        self.connections = 0
        self.errors = []
        self.unexpected = []

    def run(self):
        conn = None
        i = 0
        while not self.stop_event.is_set():
            target = f"/load/{self.index}/{i}"
            i += 1
            try:
                if conn is None:
                    conn = HttpConnection(self.port, timeout=20)
                    self.connections += 1
                conn.send(request("GET", target, host="load.test"))
                resp = conn.read_response()
            except (ConnectionClosed, OSError, AssertionError) as e:
                self.errors.append(f"GET {target} (connection {self.connections}): {e!r}")
                if conn:
                    conn.close()
                conn = None
                continue
            name = resp.header("x-upstream-name")
            if (resp.status != 200 or name not in ("A", "B")
                    or resp.body != f"{name} GET {target}\n".encode()):
                self.unexpected.append(f"GET {target}: {resp!r}")
            self.done += 1
        if conn:
            conn.close()


class NewConnectionClient(threading.Thread):
    """Loops one request per new connection (Connection: close); records every failure."""

    def __init__(self, port, stop):
        super().__init__(daemon=True)
        self.port = port
        self.stop_event = stop
        self.done = 0
        self.errors = []

    def run(self):
        i = 0
        while not self.stop_event.is_set():
            target = f"/fresh/{self.port}/{i}"
            i += 1
            try:
                with HttpConnection(self.port, timeout=20) as conn:
                    conn.send(request("GET", target, headers=[("Connection", "close")]))
                    resp = conn.read_response()
                if resp.status != 200:
                    self.errors.append(f"GET {target} on port {self.port}: {resp!r}")
            except (ConnectionClosed, OSError, AssertionError) as e:
                self.errors.append(f"GET {target} on port {self.port}: {e!r}")
            self.done += 1


class ReloadUnderLoadTest(WaygateTestCase):
    """Reloads through all four triggers while 8 clients loop on keep-alive connections; the
    two configs route everything to A or to B, both of which answer 200."""

    CLIENTS = 8
    TRIGGERS = ("in-place", "rename", "sighup", "admin")

    def test_reloads_under_keepalive_load_are_invisible_to_clients(self):
        self.run_load(reloads=200, drop_other_cluster=False)

    def test_reloads_that_remove_the_busy_cluster_are_invisible_to_clients(self):
        # Each config knows only its own cluster: requests in flight to the other one finish
        # on a cluster (and pool) that the new snapshot no longer has.
        self.run_load(reloads=100, drop_other_cluster=True)

    def run_load(self, reloads, drop_other_cluster):
        env = self.env
        ups = {"A": env.upstream("A"), "B": env.upstream("B")}

        def text(target, port, admin_port):
            clusters = {name: [up.address] for name, up in ups.items()
                        if not drop_other_cluster or name == target}
            return config_text({"web": port}, clusters, [{"prefix": "/", "cluster": target}],
                               admin_port, workers=2)

        wg, port, admin_port = start_on_free_ports(env, lambda *ports: text("A", *ports))
        configs = {"A": text("A", port, admin_port), "B": text("B", port, admin_port)}
        broken = {
            reloads // 3: configs["B"].replace('hosts: ["*"]', 'hosts: ["*"'),  # YAML error
            2 * reloads // 3: configs["B"].replace('cluster: "B"', 'cluster: "nowhere"'),
        }
        self.assertNotEqual(broken[2 * reloads // 3], configs["B"])

        stop = threading.Event()
        clients = [LoadClient(port, i, stop) for i in range(self.CLIENTS)]
        for client in clients:
            client.start()
        self.addCleanup(stop.set)
        wait_until(lambda: all(c.done > 0 for c in clients), message="every client served")

        running = "A"
        admin_answers = []
        for i in range(reloads):
            how = self.TRIGGERS[i % len(self.TRIGGERS)]
            if i in broken:
                # Clients must see nothing change: the admin refuses it, so does the watcher.
                before = sum(c.done for c in clients)
                wg.write_config(broken[i], "rename")
                resp = admin_request(admin_port, "POST", "/reload")
                self.assertEqual(resp.status, 400, resp)
                self.assertIn(f"{wg.config_path}:", resp.body.decode(), resp)
                wait_until(lambda: sum(c.done for c in clients) > before + 50,
                           message="clients served while the broken config was in place")
            target = "B" if running == "A" else "A"
            wg.write_config(configs[target], "rename" if how == "rename" else "in-place")
            if how == "sighup":
                wg.send_signal(signal.SIGHUP)
            elif how == "admin":
                resp = admin_request(admin_port, "POST", "/reload")
                self.assertEqual(resp.status, 200, resp)
                admin_answers.append(resp.body.strip())
            wg.wait_for_reloads(i + 1)
            running = target

        served = sum(c.done for c in clients)
        stop.set()
        for client in clients:
            client.join(30)
            self.assertFalse(client.is_alive(), f"client {client.index} is stuck")

        errors = [e for c in clients for e in c.errors]
        unexpected = [u for c in clients for u in c.unexpected]
        self.assertFalse(errors, f"{len(errors)} socket errors; the first ones:\n"
                                 + "\n".join(errors[:10]))
        self.assertFalse(unexpected, f"{len(unexpected)} unexpected responses; the first ones:\n"
                                     + "\n".join(unexpected[:10]))
        self.assertEqual([c.connections for c in clients], [1] * self.CLIENTS)
        self.assertEqual(wg.reload_count(), reloads, "a reload was applied twice")
        self.assertTrue(set(admin_answers) <= {b"reloaded", b"unchanged"}, admin_answers)
        self.assertGreater(served, reloads, "the clients were barely served")
        stats = {name: up.stats() for name, up in ups.items()}
        self.assertTrue(all(s["requests"] > 0 for s in stats.values()), stats)
        if not drop_other_cluster:
            # At most CLIENTS requests are ever in flight, so kept pools need no more
            # connections than that.
            self.assertTrue(all(s["connections_accepted"] <= self.CLIENTS
                                for s in stats.values()),
                            f"upstream connections were not reused across reloads: {stats}")
        self.assertTrue(wg.stderr_matches(rf"{re.escape(wg.config_path)}:\d+:\d+"),
                        "the refused configs' errors were not logged with their position")


if __name__ == "__main__":
    unittest.main()
