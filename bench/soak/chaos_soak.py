#!/usr/bin/env python3
"""The chaos soak's driver (bench/soak/chaos_soak.sh runs it): waygate under mixed load while
backends are killed and restarted, the config is reloaded and etcd restarts; then a table of what
the clients saw, waygate's RSS after warm-up, crashes and sanitizer reports.

Load (one thread each): keep-alive GETs, a new connection per GET, 32 KiB uploads echoed back,
pipelined GETs (4 per write), WebSocket sessions. Chaos (one thread): a backend is killed
(SIGKILL) and started again on its port every few seconds, the config file is rewritten (a real
change, applied) or POST /reload sent (unchanged) every 3 s, an etcd-discovered backend's weight
flips, and etcd itself is killed and started again every 20 s. Routes retry connect failures,
resets, 502 and 503 on another endpoint, and at most one backend is down at a time (each cluster
keeps one up), so every HTTP request should succeed: a failure is a client error that the retry
policy could have avoided. A WebSocket session cut within a second of a kill of its backend is expected (a tunnel cannot be
retried); any other cut is counted as avoidable.
"""

import argparse
import base64
import hashlib
import json
import os
import random
import re
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import harness  # noqa: E402
from harness import HOST, HttpConnection, request  # noqa: E402
from upstream import Reader, WS_GUID, ws_frame, ws_read_frame  # noqa: E402

STATIC_BACKENDS = 3
DYNAMIC_BACKENDS = 2
UPLOAD_BYTES = 32 * 1024  # under the 64 KiB waygate keeps for a retry
PIPELINE_DEPTH = 4
RELOAD_EVERY_S = 3.0
KILL_EVERY_S = 4.0
DOWN_FOR_S = 2.0
ETCD_RESTART_EVERY_S = 20.0
RSS_EVERY_S = 5.0
EXPECTED_CUT_WINDOW_S = 1.0  # a WebSocket cut this soon after its backend's kill is expected
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer", "runtime error:")


def config_text(port, admin_port, static, etcd_url, generation):
    """The soak's config; `generation` goes into a response header, so each rewrite is a real
    change that the reload applies."""
    retry = "{ attempts: 3, on: [connect-failure, reset, 502, 503] }"
    # Without active checks an endpoint that outlier detection ejected stays out for the whole
    # ejection (30 s, growing) even once it is back: in a cluster of two, a kill of the other
    # then leaves nothing to retry on.
    health_check = ("{ http: { path: /healthz }, interval: 1s, timeout: 1s, healthy_threshold: 1,"
                    " unhealthy_threshold: 1 }")
    endpoints = ", ".join(up.address for up in static)
    return f"""workers: 2
admin: {{ address: "{HOST}:{admin_port}" }}
timeouts: {{ upstream_connect: 1s }}
listeners:
  - {{ name: web, address: "{HOST}:{port}" }}
routes:
  - hosts: ["*"]
    paths:
      - prefix: /static/
        cluster: static
        retry: {retry}
        response_headers: {{ add: {{ X-Soak-Generation: "{generation}" }} }}
      - prefix: /dynamic/
        cluster: dynamic
        retry: {retry}
clusters:
  - name: static
    endpoints: [{endpoints}]
    health_check: {health_check}
  - name: dynamic
    health_check: {health_check}
    discovery:
      etcd: {{ endpoints: ["{etcd_url}"], prefix: /soak/dynamic/ }}
"""


class Tally:
    """Outcome counts, shared by the load threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.examples = {}

    def add(self, kind, outcome, example=None):
        with self.lock:
            key = (kind, outcome)
            self.counts[key] = self.counts.get(key, 0) + 1
            if example and key not in self.examples:
                self.examples[key] = example


class Soak:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.deadline = None
        self.stop = threading.Event()
        self.tally = Tally()
        self.kills = {}  # backend name -> monotonic times it was killed
        self.kills_lock = threading.Lock()
        self.events = {"backend kills": 0, "config rewrites": 0, "POST /reload": 0,
                       "etcd restarts": 0, "etcd weight changes": 0}
        self.rss_kib = []  # (seconds since start, VmRSS KiB)
        self.crashed = None

    # -- setup --

    def start(self):
        h = harness
        self.etcd = h.Etcd(self.workdir, "etcd")
        self.etcd.start()
        self.etcd.wait_ready()
        self.static = [h.Upstream(self.workdir, f"s{i}") for i in range(STATIC_BACKENDS)]
        self.dynamic = [h.Upstream(self.workdir, f"d{i}") for i in range(DYNAMIC_BACKENDS)]
        for i, up in enumerate(self.dynamic):
            self.put_dynamic(i, up, 1)
        self.port, self.admin_port = h.free_ports(2)
        self.generation = 1
        self.wg = h.Waygate(self.workdir, self.config(), self.port)
        self.started = time.monotonic()
        # Both clusters answer before the load starts.
        h.wait_until(lambda: self.probe("/static/ready") and self.probe("/dynamic/ready"), 20.0,
                     0.1, "both clusters to answer")

    def config(self):
        return config_text(self.port, self.admin_port, self.static, self.etcd.url,
                           self.generation)

    def put_dynamic(self, index, up, weight):
        value = json.dumps({"address": HOST, "port": up.port, "weight": weight})
        self.etcd.put(f"/soak/dynamic/{index}", value)

    def probe(self, target):
        try:
            with HttpConnection(self.port, timeout=2.0) as conn:
                conn.send(request("GET", target, headers=[("Connection", "close")]))
                return conn.read_response().status == 200
        except (OSError, harness.ConnectionClosed, AssertionError):
            return False

    # -- load --

    def running(self):
        return not self.stop.is_set() and time.monotonic() < self.deadline

    def check_response(self, kind, resp, target, body=None):
        """Counts one response: ok, or the way it failed."""
        if resp.status != 200:
            self.tally.add(kind, f"HTTP {resp.status}", f"{target}: {resp!r}")
        elif body is not None and resp.body != body:
            self.tally.add(kind, "wrong body", f"{target}: {len(resp.body)} bytes")
        elif body is None and not re.match(rb"^[sd]\d ", resp.body):
            self.tally.add(kind, "wrong body", f"{target}: {resp.body[:80]!r}")
        else:
            self.tally.add(kind, "ok")

    def target(self, n):
        return f"/{'static' if n % 3 else 'dynamic'}/r{n}"

    def on_kept_connections(self, kind, exchange):
        """Runs exchange(conn, n) on one keep-alive connection after another while the soak runs;
        a connection that breaks is counted under `kind` and replaced. `n` counts the calls."""
        n = 0
        while self.running():
            try:
                with HttpConnection(self.port) as conn:
                    while self.running():
                        n += 1
                        exchange(conn, n)
            except (OSError, harness.ConnectionClosed) as e:
                self.tally.add(kind, "connection error", repr(e))

    def keep_alive_load(self):
        def get(conn, n):
            target = self.target(n)
            conn.send(request("GET", target))
            self.check_response("keep-alive GET", conn.read_response(), target)
        self.on_kept_connections("keep-alive GET", get)

    def new_connection_load(self):
        n = 0
        while self.running():
            n += 1
            target = self.target(n)
            try:
                with HttpConnection(self.port) as conn:
                    conn.send(request("GET", target, headers=[("Connection", "close")]))
                    self.check_response("new-connection GET", conn.read_response(), target)
            except (OSError, harness.ConnectionClosed) as e:
                self.tally.add("new-connection GET", "connection error", repr(e))

    def upload_load(self):
        def post(conn, n):
            body = os.urandom(UPLOAD_BYTES)
            target = f"/{'static' if n % 2 else 'dynamic'}/echo"
            conn.send(request("POST", target, body=body))
            self.check_response("upload POST", conn.read_response("POST"), target, body)
        self.on_kept_connections("upload POST", post)

    def pipeline_load(self):
        def pipelined(conn, n):
            first = (n - 1) * PIPELINE_DEPTH
            targets = [self.target(first + i) for i in range(PIPELINE_DEPTH)]
            conn.send(b"".join(request("GET", t) for t in targets))
            for t in targets:
                self.check_response("pipelined GET", conn.read_response(), t)
        self.on_kept_connections("pipelined GET", pipelined)

    def websocket_load(self):
        while self.running():
            backend = None
            try:
                with HttpConnection(self.port) as conn:
                    key = base64.b64encode(os.urandom(16)).decode()
                    conn.send(request("GET", "/static/ws", headers=[
                        ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                        ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]))
                    resp = conn.read_response()
                    accept = base64.b64encode(
                        hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
                    if resp.status != 101 or resp.header("sec-websocket-accept") != accept:
                        self.tally.add("WebSocket session", f"handshake HTTP {resp.status}",
                                       repr(resp))
                        continue
                    backend = resp.header("x-upstream-name")
                    reader = Reader(conn.sock)
                    reader.buf = conn.buf
                    for i in range(20):
                        message = f"soak {i}".encode()
                        conn.send(ws_frame(0x1, message, mask=os.urandom(4)))
                        if ws_read_frame(reader) != (0x1, message):
                            raise ConnectionError("wrong echo")
                        time.sleep(0.05)  # a session that lives through some chaos
                    conn.send(ws_frame(0x8, b"\x03\xe8", mask=os.urandom(4)))
                    ws_read_frame(reader)
                    self.tally.add("WebSocket session", "ok")
            except Exception as e:  # noqa: BLE001 (any cut is counted, whatever raised it)
                if backend and self.killed_recently(backend):
                    self.tally.add("WebSocket session", "cut by its backend's kill (expected)")
                else:
                    self.tally.add("WebSocket session", "connection error", repr(e))

    def killed_recently(self, name):
        now = time.monotonic()
        with self.kills_lock:
            times = self.kills.get(name, [])
        return any(now - t < EXPECTED_CUT_WINDOW_S + DOWN_FOR_S for t in times)

    # -- chaos --

    def chaos(self):
        next_kill = time.monotonic() + KILL_EVERY_S
        next_reload = time.monotonic() + RELOAD_EVERY_S
        next_etcd = time.monotonic() + ETCD_RESTART_EVERY_S
        next_rss = time.monotonic()
        reloads = 0
        while self.running():
            now = time.monotonic()
            if not self.wg.running():
                self.crashed = f"waygate exited with {self.wg.proc.returncode}"
                self.stop.set()
                return
            if now >= next_rss:
                self.rss_kib.append((now - self.started, self.wg.proc_status_kib("VmRSS")))
                next_rss += RSS_EVERY_S
            if now >= next_kill:
                self.kill_a_backend()
                next_kill = time.monotonic() + KILL_EVERY_S
            if now >= next_reload:
                reloads += 1
                self.reload(reloads)
                next_reload = time.monotonic() + RELOAD_EVERY_S
            if now >= next_etcd:
                self.restart_etcd()
                next_etcd = time.monotonic() + ETCD_RESTART_EVERY_S
            time.sleep(0.1)

    def kill_a_backend(self):
        up = random.choice(self.static + self.dynamic)
        with self.kills_lock:
            self.kills.setdefault(up.name, []).append(time.monotonic())
        up.kill()
        self.events["backend kills"] += 1
        # The chaos thread waits while it is down: at most one backend is ever down.
        self.stop.wait(DOWN_FOR_S)
        up.start()

    def reload(self, count):
        if count % 2:
            self.generation += 1
            self.wg.write_config(self.config(), how="rename")
            self.events["config rewrites"] += 1
        else:
            harness.admin_request(self.admin_port, "POST", "/reload")
            self.events["POST /reload"] += 1
            index = random.randrange(DYNAMIC_BACKENDS)
            try:
                self.put_dynamic(index, self.dynamic[index], random.choice((1, 2, 3)))
                self.events["etcd weight changes"] += 1
            except OSError:
                pass  # etcd is restarting

    def restart_etcd(self):
        self.etcd.kill()
        self.stop.wait(1.0)
        self.etcd.start()
        self.etcd.wait_ready()
        self.events["etcd restarts"] += 1

    # -- run and report --

    def run(self, minutes):
        self.start()
        self.deadline = time.monotonic() + minutes * 60
        loads = [self.keep_alive_load, self.keep_alive_load, self.new_connection_load,
                 self.upload_load, self.pipeline_load, self.websocket_load]
        threads = [threading.Thread(target=f, daemon=True) for f in loads]
        for t in threads:
            t.start()
        self.chaos()
        self.stop.set()
        for t in threads:
            t.join(harness.IO_TIMEOUT * 2)

    def finish(self):
        """Scrapes the retry counter, stops waygate (SIGTERM) and everything else; returns
        (exit code or None, waygate's stderr, retries waygate made)."""
        retries = None
        if self.wg.running():
            try:
                status, body = metrics_text(self.admin_port)
                if status == 200:
                    retries = sum(int(float(line.split()[-1])) for line in body.splitlines()
                                  if line.startswith("waygate_retries_total"))
            except OSError:
                pass
        code = self.wg.stop() if self.wg.running() else self.wg.proc.returncode
        self.wg.close_files()
        for up in self.static + self.dynamic:
            up.stop()
        self.etcd.close()
        return code, self.wg.stderr_text(), retries


def metrics_text(admin_port):
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            f"http://{HOST}:{admin_port}/metrics", timeout=10) as resp:
        return resp.status, resp.read().decode()


def print_table(title, rows):
    width = max(len(r[0]) for r in rows)
    print(f"\n{title}")
    print("-" * (width + 14))
    for name, value in rows:
        print(f"{name:<{width}}  {value:>10}")


def report(soak, minutes, code, stderr, retries, warmup_s):
    """Prints the tables; returns the problems that make the soak fail."""
    problems = []
    counts = soak.tally.counts
    print(f"\n== chaos soak: {minutes} min, {soak.args.waygate}")

    rows = []
    kinds = sorted({k for k, _ in counts})
    avoidable = 0
    for kind in kinds:
        for (k, outcome), n in sorted(counts.items()):
            if k != kind:
                continue
            rows.append((f"{kind}: {outcome}", n))
            if outcome != "ok" and "(expected)" not in outcome:
                avoidable += n
    total = sum(counts.values())
    rows.append(("all requests and sessions", total))
    print_table("Requests by outcome", rows)

    print_table("Failures", [
        ("client errors a retry could have avoided", avoidable),
        ("retries waygate made (waygate_retries_total)",
         "n/a" if retries is None else retries),
        ("crashes (waygate exited before the end)", 1 if soak.crashed else 0),
        ("exit code on SIGTERM at the end", "n/a" if code is None else code),
    ])
    if avoidable:
        problems.append(f"{avoidable} client errors a retry could have avoided")
        for key, example in sorted(soak.tally.examples.items()):
            print(f"  e.g. {key[0]}: {key[1]}: {example}")
    if soak.crashed:
        problems.append(soak.crashed)
    elif code != 0:
        problems.append(f"waygate exited with {code} on SIGTERM")

    applied = sum(1 for line in stderr.splitlines()
                  if harness.RELOADED.search(line) and not harness.NOT_RELOADED.search(line))
    print_table("Chaos", sorted(soak.events.items()) + [("reloads applied (waygate's log)",
                                                         applied)])

    after = [(t, kib) for t, kib in soak.rss_kib if t >= warmup_s]
    if after:
        rows = [(f"RSS at {t:5.0f} s", f"{kib / 1024:.1f} MiB") for t, kib in after]
        first = after[0][1]
        last = max(kib for _, kib in after[-3:])
        growth = last - first
        # Flat: the last samples within 10% (at least 4 MiB) of the first after warm-up.
        flat = growth <= max(first // 10, 4096)
        rows.append(("growth after warm-up", f"{growth / 1024:+.1f} MiB"))
        rows.append(("flat", "yes" if flat else "NO"))
        print_table(f"RSS after a {warmup_s:.0f} s warm-up (every {RSS_EVERY_S:.0f} s)", rows)
        if not flat:
            problems.append(f"RSS grew {growth / 1024:.1f} MiB after warm-up")

    reports = [m for m in SANITIZER_MARKERS if m in stderr]
    leak = "LeakSanitizer" in stderr
    print_table("Sanitizers", [
        ("sanitizer reports in waygate's stderr", len(reports)),
        ("leaks (LeakSanitizer at exit)",
         ("yes" if leak else "none") if soak.args.asan else "n/a (not ASan)"),
    ])
    if reports:
        problems.append("sanitizer reports: " + ", ".join(reports))
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--waygate", required=True, help="the waygate binary")
    parser.add_argument("--asan", action="store_true", help="the binary is an ASan build")
    args = parser.parse_args()
    harness.WAYGATE_BIN = args.waygate

    workdir = tempfile.mkdtemp(prefix="waygate-soak-")
    print(f"chaos soak: {args.minutes} min; logs in {workdir}", flush=True)
    soak = Soak(args, workdir)
    try:
        soak.run(args.minutes)
    finally:
        code, stderr, retries = soak.finish()
    warmup_s = min(30.0, args.minutes * 60 / 4)
    problems = report(soak, args.minutes, code, stderr, retries, warmup_s)
    if problems:
        print("\nchaos soak FAILED: " + "; ".join(problems))
        print(f"waygate's stderr: {soak.wg.stderr_path}")
        return 1
    print("\nchaos soak passed")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
