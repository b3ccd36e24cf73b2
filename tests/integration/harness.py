"""Shared helpers for waygate's integration tests: processes, configs and a raw HTTP client, TLS
clients and a TLS upstream, and the servers service discovery talks to (etcd, dnsmasq).

Environment:
  WAYGATE_BIN                   the waygate binary (default /work/main/build/src/waygate)
  WAYGATE_TEST_LARGE_BYTES      size of the large upload/download tests (default 1 GiB)
  WAYGATE_TEST_SLOW_BYTES       size of the slow-client response (default 256 MiB)
  WAYGATE_TEST_RSS_LIMIT_MIB    bound on waygate's peak RSS during large transfers (default 200)
  WAYGATE_TEST_KEEP             1 keeps each test's temporary directory (config, logs)
  WAYGATE_TEST_ETCD             the etcd binary (default /usr/bin/etcd, Debian's etcd-server)
  WAYGATE_TEST_DNSMASQ          the dnsmasq binary (default /usr/sbin/dnsmasq)
  WAYGATE_TEST_NGINX            the nginx binary TLS upstreams run (default /usr/sbin/nginx)
"""

import base64
import json
import os
import pwd
import random
import re
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM_PY = os.path.join(HERE, "upstream.py")
sys.path.insert(0, HERE)

import certs  # noqa: E402
from ports import free_port, free_ports  # noqa: E402  (see ports.py for why not port 0)
from upstream import pattern, PATTERN_PERIOD  # noqa: E402  (shared with the upstream)

WAYGATE_BIN = os.environ.get("WAYGATE_BIN", "/work/main/build/src/waygate")
LARGE_BYTES = int(os.environ.get("WAYGATE_TEST_LARGE_BYTES", str(1 << 30)))
SLOW_BYTES = int(os.environ.get("WAYGATE_TEST_SLOW_BYTES", str(256 << 20)))
RSS_LIMIT_MIB = int(os.environ.get("WAYGATE_TEST_RSS_LIMIT_MIB", "200"))
KEEP_TMP = os.environ.get("WAYGATE_TEST_KEEP") == "1"
ETCD_BIN = os.environ.get("WAYGATE_TEST_ETCD", "/usr/bin/etcd")
DNSMASQ_BIN = os.environ.get("WAYGATE_TEST_DNSMASQ", "/usr/sbin/dnsmasq")
HOST = "127.0.0.1"
READY_TIMEOUT = 10.0
IO_TIMEOUT = 10.0
EXIT_TIMEOUT = 40.0


RELOADED = re.compile(r"\breloaded\b", re.I)
# "not reloaded" is a refused config; "certificates reloaded" is a TLS listener that read its
# certificate files again, not a config reload.
NOT_RELOADED = re.compile(r"\bnot reloaded\b|\bcertificates reloaded\b", re.I)


def health_line(cluster, address, state):
    """The stderr line waygate writes when an active health check turns an endpoint healthy or
    unhealthy (state); the reason in parentheses after it is not matched."""
    return (rf"health: cluster {re.escape(cluster)}: "
            rf"endpoint {re.escape(address)} is now {state}\b")


def ejected_line(address=None):
    """The stderr line of an outlier ejection (of address; None: of any endpoint); group 1 is
    the ejection time in seconds."""
    endpoint = r"\S+" if address is None else re.escape(address)
    return rf"outlier: endpoint {endpoint} ejected for (\d+(?:\.\d+)?) ?s\b"


def returns_line(address):
    """The stderr line of an ejected endpoint's return."""
    return rf"outlier: endpoint {re.escape(address)} returns\b"


def wait_until(predicate, timeout=10.0, interval=0.02, message="condition"):
    """Polls predicate until it returns a truthy value; raises AssertionError after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


# Sockets that hold refusing ports for the life of the test process.
_refusing_sockets = []


def refusing_address():
    """A loopback address that refuses connections for the life of the test process: its port
    is bound (without SO_REUSEADDR) and never listened on, so nothing can listen on it while
    the test runs."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    _refusing_sockets.append(s)
    return f"{HOST}:{s.getsockname()[1]}"


def hold_port(host, port):
    """A socket bound to host:port (without SO_REUSEADDR, never listened on), or None when the
    port is taken already: while a test's server is stopped, no test running beside it can take
    its port from free_port() or a bind to port 0 and answer in its place, and connections and
    datagrams to it are still refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
        return s
    except OSError:
        s.close()
        return None


def release_port(hold):
    if hold is not None:
        hold.close()


def port_accepts(port):
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


def connection_refused(port):
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


# -- YAML -----------------------------------------------------------------------------------------

def _yaml_scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))  # a JSON string is a valid YAML double-quoted scalar


def _yaml_lines(obj, indent):
    pad = " " * indent
    lines = []
    for key, value in obj.items():
        if isinstance(value, dict) and not value:
            lines.append(f"{pad}{key}: {{}}")
        elif isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            lines += _yaml_lines(value, indent + 2)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"{pad}{key}:")
            for item in value:
                item_lines = _yaml_lines(item, indent + 4)
                item_lines[0] = f"{pad}  - " + item_lines[0].lstrip()
                lines += item_lines
        elif isinstance(value, list):
            lines.append(f"{pad}{key}: [{', '.join(_yaml_scalar(v) for v in value)}]")
        else:
            lines.append(f"{pad}{key}: {_yaml_scalar(value)}")
    return lines


def to_yaml(obj):
    return "\n".join(_yaml_lines(obj, 0)) + "\n"


def proxy_config(port, clusters, routes=None, workers=1, timeouts=None, limits=None,
                 access_log="stdout", top=None, tls=None, listener=None, more_listeners=()):
    """A waygate config: one listener "web" on port; clusters maps name -> list of endpoints, or
    name -> the cluster's keys other than its name ({"discovery": {...}}, {"tls": {...}}).

    Without routes, every host and path goes to the first cluster. top: further top-level keys
    (admin, normalize_paths, dns, routes_source, ...), written before the listeners. tls: the
    listener's tls block ({"certificates": [{"cert": ..., "key": ...}], ...}). listener: the
    listener's other keys ({"http2": True}). more_listeners: further listeners, whole.
    """
    if routes is None:
        first = next(iter(clusters))
        routes = [{"hosts": ["*"], "paths": [{"prefix": "/", "cluster": first}]}]
    cfg = {"workers": workers, "access_log": access_log}
    if timeouts:
        cfg["timeouts"] = timeouts
    if limits:
        cfg["limits"] = limits
    cfg.update(top or {})
    cfg["listeners"] = [{"name": "web", "address": f"{HOST}:{port}", **(listener or {})}]
    if tls is not None:
        cfg["listeners"][0]["tls"] = tls
    cfg["listeners"] += more_listeners
    cfg["routes"] = routes
    cfg["clusters"] = [{"name": name, **spec} if isinstance(spec, dict)
                       else {"name": name, "endpoints": list(spec)}
                       for name, spec in clusters.items()]
    return to_yaml(cfg)


def check_config(directory, text, name="check.yaml"):
    """waygate --check on text, written to directory/name: the finished process (text output)."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return subprocess.run([WAYGATE_BIN, "--check", path], capture_output=True, text=True,
                          errors="replace", timeout=IO_TIMEOUT)


# -- processes ------------------------------------------------------------------------------------

class Upstream:
    """A running upstream.py process; kill() and start() take it away and bring it back on the
    same port, which is held while it is away (see hold_port)."""

    def __init__(self, workdir, name="up", args=(), host=HOST, port=0):
        """args: further upstream.py options (--fail-status 503). host: the loopback address to
        listen on; port: 0 for any free one."""
        self.name = name
        self.host = host
        self.port = port
        self.args = list(args)
        self.stderr_path = os.path.join(workdir, f"upstream-{name}.stderr")
        self.proc = None
        self._port_hold = None
        self.start()

    def start(self, args=None):
        """Starts the process (again, on the port it had; with args instead of the last ones
        when given) and waits until it listens."""
        assert not self.running()
        if args is not None:
            self.args = list(args)
        release_port(self._port_hold)
        self._port_hold = None
        with open(self.stderr_path, "ab") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, UPSTREAM_PY, "--host", self.host, "--port", str(self.port),
                 "--name", self.name, *self.args],
                stdout=subprocess.PIPE, stderr=stderr)
        line = self._readline_with_timeout(READY_TIMEOUT)
        if not line.startswith(b"ready "):
            self.stop()
            raise RuntimeError(f"upstream {self.name} did not start on {self.host}:{self.port}:"
                               f" {line!r}")
        self.port = int(line.split()[1])
        self.address = (f"[{self.host}]:{self.port}" if ":" in self.host
                        else f"{self.host}:{self.port}")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _readline_with_timeout(self, timeout):
        result = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(timeout)
        return result[0] if result else b""

    def get(self, action):
        """A direct request to the upstream (not through waygate); returns parsed JSON."""
        with HttpConnection(self.port, host=self.host) as conn:
            conn.send(request("GET", "/" + action, headers=[("Connection", "close")]))
            return json.loads(conn.read_response().body)

    def stats(self):
        return self.get("__stats")

    def close_idle(self):
        return self.get("__close-idle")["closed"]

    def release(self):
        """Lets every "hold" request answer (see upstream.py); returns how many were waiting."""
        return self.get("__release")["held"]

    def set(self, **settings):
        """Changes settings at run time (fail_status, action, health_status, health_body; see
        upstream.py); returns them all."""
        query = urllib.parse.urlencode(settings)
        return self.get(f"__set?{query}")

    def stop(self):
        """Kills the process (SIGKILL: its connections end as a crash ends them)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        if self.port and self._port_hold is None:
            self._port_hold = hold_port(self.host, self.port)

    kill = stop

    def close(self):
        self.stop()
        release_port(self._port_hold)
        self._port_hold = None


class Waygate:
    """A running waygate process; stdout (the access log) and stderr go to files."""

    def __init__(self, workdir, config_text, port, config_path=None):
        """config_path, when given, names a config the caller has laid out already (a symlink,
        say); config_text is then written through it only if it is not None."""
        self.workdir = workdir
        self.port = port
        self.config_path = config_path or os.path.join(workdir, "waygate.yaml")
        if config_text is not None:
            with open(self.config_path, "w") as f:
                f.write(config_text)
        self.stdout_path = os.path.join(workdir, "waygate.stdout")
        self.stderr_path = os.path.join(workdir, "waygate.stderr")
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([WAYGATE_BIN, "--config", self.config_path],
                                     stdout=self._stdout, stderr=self._stderr)
        self.pid = self.proc.pid
        self.exit_code = None
        deadline = time.monotonic() + READY_TIMEOUT
        while not port_accepts(port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"waygate exited with {self.proc.returncode} before listening:"
                                   f"\n{self.stderr_text()[-3000:]}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"waygate did not listen on {port} within {READY_TIMEOUT}s:"
                                   f"\n{self.stderr_text()[-3000:]}")
            time.sleep(0.02)

    def running(self):
        return self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=EXIT_TIMEOUT):
        """Waits for exit; kills it (and returns None) if it does not exit in time."""
        try:
            self.exit_code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.exit_code = None
        return self.exit_code

    def stop(self, sig=signal.SIGTERM):
        if self.running():
            self.send_signal(sig)
        return self.wait()

    def close_files(self):
        self._stdout.close()
        self._stderr.close()

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_lines(self):
        with open(self.stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace").splitlines()

    def wait_for_log(self, regex, timeout=5.0):
        """The first access-log line matching regex; the log is flushed within about 1 s."""
        compiled = re.compile(regex)

        def find():
            for line in self.log_lines():
                if compiled.search(line):
                    return line
            return None
        try:
            return wait_until(find, timeout, 0.05, f"an access-log line matching {regex!r}")
        except AssertionError:
            raise AssertionError(f"no access-log line matches {regex!r}; log is:\n"
                                 + "\n".join(self.log_lines()[-20:]))

    # -- reloading (see "Reloading" in docs/config.md) --

    def write_config(self, text, how="in-place"):
        """Replaces the config file's content: "in-place" truncates and rewrites the file,
        "rename" writes a temporary file beside it and renames it over the config."""
        if how == "in-place":
            with open(self.config_path, "w") as f:
                f.write(text)
        elif how == "rename":
            tmp = os.path.join(os.path.dirname(self.config_path), ".waygate.yaml.tmp")
            with open(tmp, "w") as f:
                f.write(text)
            os.rename(tmp, self.config_path)
        else:
            raise ValueError(how)

    def reload_count(self):
        """Reloads applied so far: stderr lines that say "reloaded" (not "not reloaded")."""
        return sum(1 for line in self.stderr_text().splitlines()
                   if RELOADED.search(line) and not NOT_RELOADED.search(line))

    def wait_for_reloads(self, count, timeout=10.0):
        """Waits until at least count reloads have been applied; returns the count."""
        try:
            return wait_until(lambda: (n := self.reload_count()) >= count and n, timeout, 0.01,
                              f"{count} applied reloads")
        except AssertionError:
            raise AssertionError(f"{self.reload_count()} reloads applied, waited for {count}; "
                                 f"stderr ends with:\n{self.stderr_text()[-3000:]}")

    def stderr_matches(self, regex):
        return re.findall(regex, self.stderr_text(), re.M)

    def wait_for_stderr(self, regex, count=1, timeout=10.0):
        """Waits until stderr holds at least count matches of regex; returns the matches."""
        try:
            return wait_until(lambda: (m := self.stderr_matches(regex)) and len(m) >= count
                              and m, timeout, 0.01, f"{count} stderr matches of {regex!r}")
        except AssertionError:
            raise AssertionError(f"stderr has {len(self.stderr_matches(regex))} matches of "
                                 f"{regex!r}, waited for {count}; it ends with:\n"
                                 f"{self.stderr_text()[-3000:]}")

    def proc_status_kib(self, field):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise KeyError(field)


class RssSampler:
    """Samples a process's VmRSS in a thread; peak_mib() also takes VmHWM (the kernel's peak)."""

    def __init__(self, waygate, interval=0.05):
        self.waygate = waygate
        self.interval = interval
        self.max_rss_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.max_rss_kib = max(self.max_rss_kib, self.waygate.proc_status_kib("VmRSS"))
            except (OSError, KeyError):
                return
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def peak_mib(self):
        hwm = self.waygate.proc_status_kib("VmHWM")
        return max(hwm, self.max_rss_kib) / 1024.0


# -- raw HTTP client ------------------------------------------------------------------------------

def request(method, target, host="proxy.test", headers=(), body=None, version="HTTP/1.1"):
    """Request bytes. Adds Host (unless host is None) and Content-Length when a body is given
    and no Content-Length or Transfer-Encoding header is."""
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    names = {k.lower() for k, _ in headers}
    lines += [f"{k}: {v}" for k, v in headers]
    if body is not None and not names & {"content-length", "transfer-encoding"}:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body or b"")


def chunked(*pieces, trailers=b""):
    """A chunked body made of the given byte strings."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return out + b"0\r\n" + trailers + b"\r\n"


class ConnectionClosed(Exception):
    """The peer closed (or reset) the connection before the response was complete."""

    def __init__(self, message, response=None):
        super().__init__(message)
        self.response = response  # the head and the partial body, when the head had arrived


class Response:
    def __init__(self, version, status, reason, headers):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value), in wire order
        self.body = b""
        self.body_length = 0
        self.framing = None  # "content-length", "chunked", "close" or "none"
        self.trailers = []

    def header(self, name):
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def connection_tokens(self):
        return {t.strip().lower() for v in self.header_values("connection") for t in v.split(",")}

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return (f"<Response {self.status} {self.reason!r} headers={self.headers} "
                f"body[{self.body_length}]={self.body[:200]!r}>")


class HttpConnection:
    """A client connection on which a test writes raw bytes and reads whole responses."""

    def __init__(self, port, timeout=IO_TIMEOUT, rcvbuf=None, host=HOST, source=None):
        """source: the local address to connect from (another 127.0.0.0/8 address, say)."""
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                                  socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source:
            self.sock.bind((source, 0))
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = bytearray()
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def has_data(self):
        """Bytes (or the end of the stream) have arrived and wait to be read."""
        return bool(self.buf) or bool(select.select([self.sock], [], [], 0)[0])

    def _recv(self, size):
        """The next bytes from the socket; b"" at the end of the stream (a reset included)."""
        try:
            return self.sock.recv(size)
        except ConnectionResetError:
            return b""

    def _fill(self, size=256 * 1024):
        data = self._recv(size)
        if not data:
            self.eof = True
            raise ConnectionClosed("connection closed by peer")
        self.buf += data

    def _readline(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > 1 << 20:
                raise AssertionError("header line longer than 1 MiB")
            self._fill()

    def read_head(self):
        status_line = self._readline().decode("latin-1")
        m = re.match(r"(HTTP/\d\.\d) (\d{3})(?: (.*))?$", status_line)
        if not m:
            raise AssertionError(f"malformed status line {status_line!r}")
        headers = []
        while True:
            line = self._readline().decode("latin-1")
            if not line:
                break
            name, sep, value = line.partition(":")
            if not sep:
                raise AssertionError(f"malformed header line {line!r}")
            headers.append((name, value.strip()))
        return Response(m.group(1), int(m.group(2)), m.group(3) or "", headers)

    def read_response(self, method="GET", skip_continue=True, on_body=None):
        """Reads the next response. 100 and 102/103 responses are skipped unless skip_continue
        is False (101 is always returned). on_body(bytes) receives the body instead of
        Response.body when given (for large bodies)."""
        while True:
            resp = self.read_head()
            if not (skip_continue and resp.status in (100, 102, 103)):
                break
        parts = []

        def deliver(data):
            resp.body_length += len(data)
            if on_body:
                on_body(data)
            else:
                parts.append(bytes(data))
        try:
            self._read_body(resp, method, deliver)
        except ConnectionClosed as e:
            resp.body = b"".join(parts)
            raise ConnectionClosed(f"{e} after {resp.body_length} body bytes of {resp!r}", resp)
        resp.body = b"".join(parts)
        return resp

    def _read_body(self, resp, method, deliver):
        te = (resp.header("transfer-encoding") or "").lower()
        cl = resp.header("content-length")
        if method == "HEAD" or resp.status < 200 or resp.status in (204, 304):
            resp.framing = "none"
        elif te:
            if te.split(",")[-1].strip() != "chunked":
                raise AssertionError(f"response with Transfer-Encoding {te!r}")
            resp.framing = "chunked"
            while True:
                size_line = self._readline().split(b";", 1)[0].strip()
                size = int(size_line, 16)
                if size == 0:
                    while True:
                        line = self._readline()
                        if not line:
                            return
                        name, _, value = line.decode("latin-1").partition(":")
                        resp.trailers.append((name, value.strip()))
                self._read_exact_into(size, deliver)
                if self._read_exact(2) != b"\r\n":
                    raise AssertionError("chunk data not followed by CRLF")
        elif cl is not None:
            resp.framing = "content-length"
            if len(resp.header_values("content-length")) != 1:
                raise AssertionError(f"several Content-Length headers: {resp.headers}")
            self._read_exact_into(int(cl), deliver)
        else:
            resp.framing = "close"
            while True:
                if self.buf:
                    deliver(self.buf)
                    self.buf = bytearray()
                try:
                    self._fill()
                except ConnectionClosed:
                    return

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def _read_exact_into(self, n, deliver):
        while n > 0:
            if not self.buf:
                self._fill(min(n, 1 << 20))
            take = min(n, len(self.buf))
            deliver(memoryview(self.buf)[:take].tobytes() if take < len(self.buf) else self.buf)
            if take < len(self.buf):
                del self.buf[:take]
            else:
                self.buf = bytearray()
            n -= take

    def recv_raw(self, size=65536):
        """Whatever bytes are buffered or arrive next; b"" at end of stream."""
        if self.buf:
            data = bytes(self.buf)
            self.buf = bytearray()
            return data
        return self._recv(size)

    def read_until_closed(self, timeout=IO_TIMEOUT):
        """Reads until the peer closes; returns what arrived. Fails if it stays open."""
        self.sock.settimeout(timeout)
        data = bytearray(self.buf)
        self.buf = bytearray()
        try:
            while True:
                chunk = self._recv(65536)
                if not chunk:
                    return bytes(data)
                data += chunk
        except socket.timeout:
            raise AssertionError(f"connection still open after {timeout}s; "
                                 f"received {bytes(data)[:300]!r}")

    def is_closed(self, timeout=IO_TIMEOUT):
        """True once the peer has closed with no further bytes; False if bytes arrive first."""
        return self.read_until_closed(timeout) == b""


def upstream_answers(port, count, target="/", host="proxy.test"):
    """count requests, each on a fresh connection: the X-Upstream-Name of each 200 response, the
    status (an int) of any other."""
    answers = []
    for _ in range(count):
        with HttpConnection(port) as conn:
            conn.send(request("GET", target, host=host, headers=[("Connection", "close")]))
            resp = conn.read_response()
        answers.append(resp.header("x-upstream-name") if resp.status == 200 else resp.status)
    return answers


def keep_alive_answers_while(port, host, change, timeout=10.0):
    """Requests for host one after another on one keep-alive connection while change() runs (it
    returns once its effect is seen), then 50 more; at most 20,000. Returns the (status,
    X-Upstream-Name) of each and the exceptions the sender met (a connection cut, say)."""
    results, failures = [], []
    started, changed = threading.Event(), threading.Event()

    def send():
        after = 0
        try:
            with HttpConnection(port) as conn:
                while len(results) < 20_000 and after < 50:
                    conn.send(request("GET", "/", host=host))
                    resp = conn.read_response()
                    results.append((resp.status, resp.header("x-upstream-name")))
                    started.set()
                    after += changed.is_set()
        except Exception as e:  # noqa: BLE001 - returned to the test
            failures.append(e)
        started.set()
    sender = threading.Thread(target=send)
    sender.start()
    started.wait(timeout)
    try:
        change()
    finally:
        changed.set()
        sender.join(60)
    assert not sender.is_alive(), "the requests went on after the change"
    return results, failures


def wait_for_answers(port, expected, timeout=10.0, **kwargs):
    """Polls until 2 * len(expected) requests in a row are answered by exactly the upstream
    names (or statuses) in expected, each at least once. Round robin sends at least one of them
    to every endpoint the cluster has, so an endpoint that is still there is seen. kwargs go to
    upstream_answers; returns the last answers."""
    expected = set(expected)
    last = []

    def settled():
        last[:] = upstream_answers(port, 2 * len(expected), **kwargs)
        return set(last) == expected
    try:
        wait_until(settled, timeout, 0.05, "the answers")
    except AssertionError:
        raise AssertionError(f"waited {timeout}s for answers from exactly "
                             f"{sorted(map(str, expected))}; the last were {last}")
    return list(last)


class BackgroundSender:
    """Writes bytes to a connection from a thread, so a test can read (or not) meanwhile.

    data is one bytes object or an iterable of them. Errors end the sending quietly (the peer
    may close on purpose); error holds the exception. sent counts the bytes the kernel took.
    """

    def __init__(self, conn, data):
        self.sock = conn.sock
        self.data = [data] if isinstance(data, (bytes, bytearray)) else data
        self.sent = 0
        self.error = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            for piece in self.data:
                view = memoryview(piece)
                while view:
                    n = self.sock.send(view[:1 << 20])
                    self.sent += n
                    view = view[n:]
        except OSError as e:
            self.error = e
        finally:
            self.done.set()

    def join(self, timeout=IO_TIMEOUT):
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def wait_finished_or_stalled(self, polls=10, interval=0.1, timeout=60.0):
        """Waits until the sender is done or its byte count stayed the same for polls polls
        in a row (the peer stopped reading); returns the bytes sent."""
        last = [-1, 0]

        def settled():
            if self.done.is_set():
                return True
            last[1] = last[1] + 1 if self.sent == last[0] else 0
            last[0] = self.sent
            return last[1] >= polls
        wait_until(settled, timeout, interval, "the sender to finish or stall")
        return self.sent


def admin_request(port, method, path, timeout=IO_TIMEOUT, headers=()):
    """One request to waygate's admin address on a fresh connection; returns the response.
    headers: more (name, value) pairs, such as ("Authorization", "Bearer TOKEN")."""
    with HttpConnection(port, timeout=timeout) as conn:
        conn.send(request(method, path, host=f"{HOST}:{port}",
                          headers=[("Connection", "close"), *headers],
                          body=b"" if method == "POST" else None))
        return conn.read_response(method)


# -- TLS: clients (Python's ssl, openssl s_client, curl) and a TLS upstream (nginx) ---------------

def tls_context(ca=None, cert=None, versions=None, ciphers=None, alpn=None):
    """A client ssl.SSLContext. ca: a CA file the server's chain must verify against (None: no
    verification); cert: a certs.Cert sent as the client certificate; versions: (lowest, highest)
    ssl.TLSVersion; ciphers: an OpenSSL cipher string for TLS 1.2; alpn: protocols offered.

    Host names are not checked: tests tell certificates apart by their fingerprints (Tls.served).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if ca:
        ctx.load_verify_locations(cafile=ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        ctx.load_cert_chain(cert.cert, cert.key)
    if versions:
        ctx.minimum_version, ctx.maximum_version = versions
    if ciphers:
        ctx.set_ciphers(ciphers)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


class Tls:
    """What a client saw of a TLS handshake: the version, cipher and ALPN protocol, the server's
    certificate (DER) and which test certificate that is (certs.identify), and the session."""

    def __init__(self, sock):
        self.version = sock.version()
        self.cipher = sock.cipher()[0]
        self.alpn = sock.selected_alpn_protocol()
        self.der = sock.getpeercert(binary_form=True)
        self.served = certs.identify(self.der)
        self.reused = sock.session_reused

    def __repr__(self):
        return f"<Tls {self.version} {self.cipher} served={self.served} reused={self.reused}>"


class HttpsConnection(HttpConnection):
    """An HttpConnection over TLS. The handshake is done when the constructor returns, or it
    raised ssl.SSLError (or ConnectionError); self.tls describes it. server_hostname is sent as
    SNI (None: no SNI); session: a session of an earlier connection to resume."""

    def __init__(self, port, context, server_hostname=None, session=None, timeout=IO_TIMEOUT,
                 host=HOST, source=None):
        super().__init__(port, timeout=timeout, host=host, source=source)
        raw = self.sock
        try:
            self.sock = context.wrap_socket(raw, server_hostname=server_hostname,
                                            session=session)
        except BaseException:
            raw.close()
            raise
        self.tls = Tls(self.sock)

    def _recv(self, size):
        # A peer that closes without a TLS close_notify ends the stream as a close does.
        try:
            return super()._recv(size)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            return b""

    @property
    def session(self):
        """The TLS session to resume; in TLS 1.3 it arrives after the handshake, with the first
        response."""
        return self.sock.session


def https_get(port, target, context, server_hostname=None, host="proxy.test", headers=(),
              session=None):
    """One request on a fresh TLS connection; returns (response, Tls)."""
    with HttpsConnection(port, context, server_hostname, session) as conn:
        conn.send(request("GET", target, host=host, headers=headers))
        return conn.read_response(), conn.tls


OPENSSL_BIN = shutil.which("openssl") or "/usr/bin/openssl"
CURL_BIN = shutil.which("curl") or "/usr/bin/curl"


class SClient:
    """The outcome of one `openssl s_client` run: its exit status and output, parsed.

    handshakes: (New|Reused, cipher) for each connection it made (several with -reconnect);
    cipher is "(NONE)" when that handshake failed. protocol ("TLSv1.2") and cipher: those of the
    first connection, None when its handshake failed. served: which test certificate the server
    sent (certs.identify), alpn: the protocol the server chose or None.
    """

    def __init__(self, returncode, output):
        self.returncode = returncode
        self.output = output
        # "New, TLSv1.0, Cipher is X": that version is the cipher's, not the protocol's.
        self.handshakes = re.findall(r"^(New|Reused), \S+, Cipher is (\S+)", output, re.M)
        self.cipher = self.handshakes[0][1] if self.handshakes else "(NONE)"
        self.cipher = None if self.cipher == "(NONE)" else self.cipher
        # TLS 1.2 and older print the protocol with the session; TLS 1.3 prints the session
        # only when a ticket arrives, and its ciphers are TLS 1.3 ones.
        protocol = re.search(r"^\s*Protocol\s*: (\S+)", output, re.M)
        if self.cipher is None:
            self.protocol = None
        elif protocol:
            self.protocol = protocol.group(1)
        else:
            self.protocol = re.search(r"^(?:New|Reused), (\S+), ", output, re.M).group(1)
        self.reused = [kind == "Reused" for kind, _ in self.handshakes]
        alpn = re.search(r"^ALPN protocol: (\S+)", output, re.M)
        self.alpn = alpn.group(1) if alpn else None
        ders = certs.pem_certificates(output)
        self.served = certs.identify(ders[0]) if ders else None

    @property
    def connected(self):
        """Whether the (first) handshake completed."""
        return self.protocol is not None

    def __repr__(self):
        return (f"<SClient exit={self.returncode} handshakes={self.handshakes} "
                f"served={self.served} alpn={self.alpn}; output ends:\n{self.output[-1500:]}>")


def s_client(port, *args, servername=None, data=None, timeout=IO_TIMEOUT):
    """Runs `openssl s_client -connect 127.0.0.1:port args...`; returns an SClient.

    servername: the SNI name (None: no SNI). data: bytes written once the handshake is done, and
    s_client then reads until the server closes (-ign_eof): send a request with Connection: close
    to see its response and, in TLS 1.3, the session tickets (for -sess_out). Without data it
    closes right after the handshake.
    """
    cmd = [OPENSSL_BIN, "s_client", "-connect", f"{HOST}:{port}"]
    cmd += ["-servername", servername] if servername else ["-noservername"]
    if data is not None:
        cmd.append("-ign_eof")
    out = subprocess.run([*cmd, *args], input=data or b"", capture_output=True, timeout=timeout)
    return SClient(out.returncode, (out.stdout + out.stderr).decode("utf-8", "replace"))


class CurlResult:
    def __init__(self, returncode, status, http_version, body, stderr):
        self.returncode = returncode
        self.status = status  # 0 when no response came
        self.http_version = http_version
        self.body = body
        self.stderr = stderr

    def __repr__(self):
        return (f"<curl exit={self.returncode} status={self.status} http={self.http_version} "
                f"body={self.body[:200]!r} stderr={self.stderr[-500:]!r}>")


_CURL_INFO = b"\n--curl-write-out--"


def curl(url, *args, timeout=IO_TIMEOUT):
    """Runs `curl -sS url args...`; returns a CurlResult."""
    out = subprocess.run([CURL_BIN, "-sS", "--max-time", str(timeout), "-o", "-", "-w",
                          _CURL_INFO.decode() + " %{http_code} %{http_version}", *args, url],
                         capture_output=True, timeout=timeout + 5)
    body, _, info = out.stdout.rpartition(_CURL_INFO)
    status, version = (info.split() + [b"0", b"0"])[:2]
    return CurlResult(out.returncode, int(status), version.decode(), body,
                      out.stderr.decode("utf-8", "replace"))


NGINX_BIN = os.environ.get("WAYGATE_TEST_NGINX", "/usr/sbin/nginx")

_NGINX_CONFIG = """\
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log stderr info;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  upstream app {{
    server {upstream};
    keepalive 16;
  }}
  server {{
    listen {host}:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    keepalive_requests {requests_per_connection};
{client_ca}
    location / {{
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Tls-Sni $ssl_server_name;
      proxy_set_header X-Client-Dn $ssl_client_s_dn;
      proxy_set_header X-Tls-Reused $ssl_session_reused;
      proxy_buffering off;
    }}
  }}
}}
"""


class TlsUpstream:
    """nginx (Debian's nginx-light) terminating TLS in front of an Upstream: that upstream's
    answers and counters, over TLS with cert (a certs.Cert). The upstream's /headers shows the
    SNI name the client sent (X-Tls-Sni, absent without SNI), whether the client resumed a
    session (X-Tls-Reused: "r", else "."), and, with client_ca (a CA file), the subject of the
    client certificate nginx then requires (X-Client-Dn). requests_per_connection=1 makes every
    request arrive on a connection of its own. Env.tls_upstream starts one and stops it when the
    test ends."""

    def __init__(self, workdir, upstream, cert, name="tls", client_ca=None,
                 requests_per_connection=100000):
        self.upstream = upstream
        self.cert = cert
        self.client_ca = client_ca
        self.requests_per_connection = requests_per_connection
        self.name = name
        self.dir = os.path.join(workdir, f"nginx-{name}")
        os.mkdir(self.dir)
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.port = None
        self.proc = None
        self._stderr = open(self.stderr_path, "ab")

    @property
    def address(self):
        return f"{HOST}:{self.port}"

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        """Starts nginx (again, on the same port once it has one) and waits until it accepts."""
        assert not self.running()
        for attempt in range(3):
            port = self.port or free_port()
            config = os.path.join(self.dir, "nginx.conf")
            client_ca = (f"    ssl_client_certificate {self.client_ca};\n"
                         f"    ssl_verify_client on;" if self.client_ca else "")
            with open(config, "w") as f:
                f.write(_NGINX_CONFIG.format(dir=self.dir, host=HOST, port=port,
                                             upstream=self.upstream.address, cert=self.cert.cert,
                                             key=self.cert.key, client_ca=client_ca,
                                             requests_per_connection=self.requests_per_connection))
            self.proc = subprocess.Popen([NGINX_BIN, "-p", self.dir, "-c", config],
                                         stdout=subprocess.DEVNULL, stderr=self._stderr)
            deadline = time.monotonic() + READY_TIMEOUT
            while self.proc.poll() is None and time.monotonic() < deadline:
                if port_accepts(port):
                    self.port = port
                    return
                time.sleep(0.02)
            self.kill()
            if self.port is not None or attempt == 2:
                break  # the port was ours: a restart must not move
        raise RuntimeError(f"nginx did not start:\n{self.stderr_text()[-3000:]}")

    def stop(self, sig=signal.SIGTERM):
        if self.running():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self):
        self.stop(signal.SIGKILL)

    def close(self):
        self.kill()
        self._stderr.close()

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


# -- servers for service discovery: etcd and dnsmasq ----------------------------------------------

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _b64(data):
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def _prefix_end(key):
    """etcd's range_end for every key that starts with key."""
    raw = bytearray(key.encode())
    while raw and raw[-1] == 0xFF:
        raw.pop()
    raw[-1] += 1
    return bytes(raw)


class Etcd:
    """One etcd member (Debian's etcd-server, v3.4), spoken to through its HTTP/JSON gateway.

    Its data directory lives in workdir, so stop() then start() keeps the keys and revisions;
    start(client_port=N) brings the member back on another client port, where nothing that knew
    the old URL can reach it. Etcd.cluster_members() makes members that form one cluster. Env
    starts them (Env.etcd, Env.etcd_cluster) and stops them when the test ends.
    """

    def __init__(self, workdir, name="etcd", client_port=None, peer_port=None,
                 initial_cluster=None):
        """initial_cluster: "name=http://127.0.0.1:PEER,..." for a member of a cluster; a
        single-member cluster of its own by default."""
        self.workdir = workdir
        self.name = name
        self.data_dir = os.path.join(workdir, f"{name}.data")
        self.stderr_path = os.path.join(workdir, f"{name}.stderr")
        if client_port is None or peer_port is None:
            client_port, peer_port = free_ports(2)
        self.client_port = client_port
        self.peer_port = peer_port
        self.peer_url = f"http://{HOST}:{peer_port}"
        self.initial_cluster = initial_cluster or f"{name}={self.peer_url}"
        self.proc = None
        self._stderr = None

    @classmethod
    def cluster_members(cls, workdir, size=3, prefix="etcd"):
        """size members (not started) that form one cluster when all are started."""
        ports = free_ports(2 * size)
        names = [f"{prefix}{i + 1}" for i in range(size)]
        initial = ",".join(f"{n}=http://{HOST}:{ports[2 * i + 1]}" for i, n in enumerate(names))
        return [cls(workdir, n, ports[2 * i], ports[2 * i + 1], initial)
                for i, n in enumerate(names)]

    @property
    def url(self):
        return f"http://{HOST}:{self.client_port}"

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, client_port=None):
        """Starts the process (again); call wait_ready() before using it."""
        assert not self.running()
        if client_port is not None:
            self.client_port = client_port
        if self._stderr is None:
            self._stderr = open(self.stderr_path, "ab")
        # Short heartbeats and elections: a killed leader is replaced in about a second.
        self.proc = subprocess.Popen(
            [ETCD_BIN, "--name", self.name, "--data-dir", self.data_dir,
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
             "--initial-cluster", self.initial_cluster, "--initial-cluster-state", "new",
             "--initial-cluster-token", os.path.basename(self.workdir),
             "--heartbeat-interval", "50", "--election-timeout", "500",
             "--logger", "zap", "--log-level", "warn"],
            stdout=subprocess.DEVNULL, stderr=self._stderr)

    def healthy(self):
        try:
            with _NO_PROXY.open(self.url + "/health", timeout=1.0) as resp:
                return json.loads(resp.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def wait_ready(self, timeout=30.0):
        """Waits until the member answers /health with a leader elected."""
        def ready():
            if not self.running():
                raise RuntimeError(f"etcd {self.name} exited with {self.proc.returncode}:\n"
                                   f"{self.stderr_text()[-3000:]}")
            return self.healthy()
        wait_until(ready, timeout, 0.05, f"etcd {self.name} at {self.url} to be healthy")

    def stop(self, sig=signal.SIGTERM):
        """Stops the member (SIGTERM: a clean shutdown; SIGKILL: a crash) and waits for it."""
        if self.running():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self):
        self.stop(signal.SIGKILL)

    def close(self):
        self.stop(signal.SIGKILL)
        if self._stderr:
            self._stderr.close()

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    # -- the KV API (POST /v3/kv/..., keys and values base64) --

    def call(self, path, body, timeout=5.0):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with _NO_PROXY.open(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def put(self, key, value):
        """Sets key to value (str or bytes); returns the revision of the write."""
        return int(self.call("/v3/kv/put", {"key": _b64(key), "value": _b64(value)})
                   ["header"]["revision"])

    def delete(self, key, prefix=False):
        """Deletes key (or every key under it); returns how many were deleted."""
        body = {"key": _b64(key)}
        if prefix:
            body["range_end"] = _b64(_prefix_end(key))
        return int(self.call("/v3/kv/deleterange", body).get("deleted", 0))

    def get(self, key):
        kvs = self.call("/v3/kv/range", {"key": _b64(key)}).get("kvs", [])
        return base64.b64decode(kvs[0]["value"]).decode() if kvs else None

    def revision(self):
        return int(self.call("/v3/kv/range", {"key": _b64("\0")})["header"]["revision"])

    def compact(self, revision=None):
        """Compacts the history up to revision (default: the current one), physically: a
        watch that starts at an earlier revision is then canceled with compact_revision set."""
        revision = revision or self.revision()
        self.call("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        return revision

    def status(self):
        """/v3/maintenance/status: {"header": {"member_id": ...}, "leader": ..., ...}."""
        return self.call("/v3/maintenance/status", {}, timeout=1.0)

    def watchers(self):
        """Watchers this member serves now (its etcd_debugging_mvcc_watcher_total gauge): how a
        test finds the member a client watches through."""
        with _NO_PROXY.open(self.url + "/metrics", timeout=5.0) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith("etcd_debugging_mvcc_watcher_total "):
                    return int(float(line.split()[1]))
        raise AssertionError(f"etcd {self.name}: no watcher gauge in /metrics")


def wait_for_leader(members, timeout=30.0):
    """Waits until every running member names the same leader, and it is one of them (after a
    leader is killed, a write proposed before the survivors notice is lost and times out)."""
    def agreed():
        try:
            statuses = [m.status() for m in members if m.running()]
        except (OSError, ValueError):
            return False
        ids = {st["header"]["member_id"] for st in statuses}
        leaders = {st.get("leader") for st in statuses}
        return len(leaders) == 1 and leaders <= ids
    wait_until(agreed, timeout, 0.05, "the running etcd members to agree on a leader")


_DNS_TYPES = {"A": 1, "AAAA": 28, "SRV": 33}
NXDOMAIN = 3


def _dns_name(msg, pos):
    """The (possibly compressed) name at pos, and the position after it."""
    labels, end = [], None
    while True:
        n = msg[pos]
        if n & 0xC0 == 0xC0:
            end = pos + 2 if end is None else end
            pos = ((n & 0x3F) << 8) | msg[pos + 1]
            continue
        pos += 1
        if n == 0:
            return ".".join(labels), pos if end is None else end
        labels.append(msg[pos:pos + n].decode("ascii"))
        pos += n


def dns_query(port, name, qtype="A", host=HOST, timeout=1.0):
    """One UDP query. Returns (rcode, answers): answers are (ttl, value) of the given type, value
    an address for A/AAAA and (priority, weight, port, target) for SRV."""
    qid = random.randrange(1 << 16)
    question = b"".join(bytes([len(label)]) + label.encode("ascii")
                        for label in name.split(".")) + b"\0"
    query = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + struct.pack(
        "!HH", _DNS_TYPES[qtype], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(query, (host, port))
        while True:
            msg = sock.recv(65535)
            if struct.unpack("!H", msg[:2])[0] == qid:
                break
    _, flags, qdcount, ancount, _, _ = struct.unpack("!HHHHHH", msg[:12])
    pos = 12
    for _ in range(qdcount):
        pos = _dns_name(msg, pos)[1] + 4
    answers = []
    for _ in range(ancount):
        pos = _dns_name(msg, pos)[1]
        rtype, _, ttl, length = struct.unpack("!HHIH", msg[pos:pos + 10])
        pos += 10
        rdata = msg[pos:pos + length]
        if rtype == _DNS_TYPES[qtype] == 1:
            answers.append((ttl, socket.inet_ntop(socket.AF_INET, rdata)))
        elif rtype == _DNS_TYPES[qtype] == 28:
            answers.append((ttl, socket.inet_ntop(socket.AF_INET6, rdata)))
        elif rtype == _DNS_TYPES[qtype] == 33:
            priority, weight, srv_port = struct.unpack("!HHH", rdata[:6])
            answers.append((ttl, (priority, weight, srv_port, _dns_name(msg, pos + 6)[0])))
        pos += length
    return flags & 0xF, answers


class DnsServer:
    """dnsmasq on a free loopback port, the only authority for names under .test.

    A/AAAA records come from a hosts file: set_hosts() rewrites it, sends SIGHUP (dnsmasq reads
    it again) and waits until dnsmasq answers from the new content. SRV records are fixed at
    start (restart to change them). Every record has a TTL of ttl seconds; a name under .test
    that is not in the file is NXDOMAIN. kill() and start() take it away and bring it back on
    the same port, which is held while it is away (see hold_port): UDP queries to it are refused,
    never answered by another test's dnsmasq. Env.dns_server starts one and stops it when the test ends.
    """

    def __init__(self, workdir, name="dns", hosts=None, srv=(), ttl=1):
        """hosts: {name: [address, ...]}; srv: [(service, target, port, priority, weight)]."""
        self.name = name
        self.hosts_path = os.path.join(workdir, f"{name}.hosts")
        self.stderr_path = os.path.join(workdir, f"{name}.stderr")
        self.hosts = {}
        self._write_hosts(hosts or {})
        self.srv = list(srv)
        self.ttl = ttl
        self.port = None
        self.proc = None
        self._port_hold = None
        self._stderr = open(self.stderr_path, "ab")

    @property
    def address(self):
        return f"{HOST}:{self.port}"

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _write_hosts(self, hosts):
        with open(self.hosts_path, "w") as f:
            for host, addresses in hosts.items():
                f.writelines(f"{address} {host}\n" for address in addresses)
        self.hosts = {host: list(addresses) for host, addresses in hosts.items()}

    def start(self, srv=None):
        """Starts dnsmasq (again, on the same port once it has one; srv replaces the SRV
        records) and waits until it answers."""
        assert not self.running()
        if srv is not None:
            self.srv = list(srv)
        self._release_port()
        for attempt in range(3):
            port = self.port or free_port()
            self.proc = subprocess.Popen(
                [DNSMASQ_BIN, "--keep-in-foreground", "--no-resolv", "--no-hosts",
                 f"--addn-hosts={self.hosts_path}", f"--local-ttl={self.ttl}", "--local=/test/",
                 f"--port={port}", f"--listen-address={HOST}", "--bind-interfaces",
                 "--pid-file=", f"--user={pwd.getpwuid(os.getuid()).pw_name}",
                 "--log-facility=-", "--log-queries",
                 *(f"--srv-host={service},{target},{p},{priority},{weight}"
                   for service, target, p, priority, weight in self.srv)],
                stdout=subprocess.DEVNULL, stderr=self._stderr)
            if self._wait_answering(port):
                self.port = port
                return
            if self.port is not None or attempt == 2:
                break  # the port was ours: a restart must not move
        raise RuntimeError(f"dnsmasq did not start:\n{self.stderr_text()[-3000:]}")

    def _wait_answering(self, port):
        deadline = time.monotonic() + READY_TIMEOUT
        while self.proc.poll() is None and time.monotonic() < deadline:
            try:
                dns_query(port, "ready.test", timeout=0.2)
                return True
            except OSError:  # socket.timeout, or refused while it binds
                pass
        self.stop()
        return False

    def lookup(self, name, qtype="A"):
        """dnsmasq's answer: None for NXDOMAIN, else the sorted values."""
        rcode, answers = dns_query(self.port, name, qtype)
        return None if rcode == NXDOMAIN else sorted(value for _, value in answers)

    def set_hosts(self, hosts):
        """Replaces the hosts file and, while dnsmasq runs, waits until it answers every old
        and new name from it (dnsmasq handles SIGHUP asynchronously). A stopped dnsmasq reads
        the file when it starts."""
        names = set(self.hosts) | set(hosts)
        self._write_hosts(hosts)
        if not self.running():
            return
        self.proc.send_signal(signal.SIGHUP)

        def expected(name, family):
            if name not in self.hosts:
                return None
            return sorted(a for a in self.hosts[name] if (":" in a) == (family == "AAAA"))

        def answers_from_file():
            return all(self.lookup(n, t) == expected(n, t) for n in names for t in ("A", "AAAA"))
        wait_until(answers_from_file, READY_TIMEOUT, 0.02, "dnsmasq to answer from the new hosts")

    def stop(self, sig=signal.SIGTERM):
        if self.running():
            self.proc.send_signal(sig)
            self.proc.wait(EXIT_TIMEOUT)
        if self.port is not None and self._port_hold is None:
            self._port_hold = hold_port(HOST, self.port)

    def _release_port(self):
        release_port(self._port_hold)
        self._port_hold = None

    def kill(self):
        self.stop(signal.SIGKILL)

    def close(self):
        self.kill()
        self._release_port()
        self._stderr.close()

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


# -- test cases -----------------------------------------------------------------------------------

class Env:
    """Owns a temporary directory and the processes started in it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="waygate-it-")
        self.upstreams = []
        self.waygates = []
        self.servers = []  # Etcd, DnsServer and TlsUpstream instances

    def upstream(self, name="up", args=(), host=HOST, port=0):
        up = Upstream(self.dir, name, args, host, port)
        self.upstreams.append(up)
        return up

    def etcd(self, name="etcd"):
        """A single-member etcd, started and healthy."""
        return self.etcd_cluster(1, name)[0]

    def etcd_cluster(self, size=3, prefix="etcd"):
        """size etcd members forming one cluster, all started and healthy."""
        if not os.access(ETCD_BIN, os.X_OK):
            raise unittest.SkipTest(f"etcd not found at {ETCD_BIN} (Debian: etcd-server)")
        members = (Etcd.cluster_members(self.dir, size, prefix) if size > 1
                   else [Etcd(self.dir, prefix)])
        self.servers += members
        for member in members:
            member.start()
        for member in members:
            member.wait_ready()
        return members

    def dns_server(self, name="dns", hosts=None, srv=(), ttl=1):
        """A started dnsmasq (see DnsServer)."""
        if not os.access(DNSMASQ_BIN, os.X_OK):
            raise unittest.SkipTest(f"dnsmasq not found at {DNSMASQ_BIN} (Debian: dnsmasq-base)")
        server = DnsServer(self.dir, name, hosts, srv, ttl)
        self.servers.append(server)
        server.start()
        return server

    def tls_upstream(self, upstream, cert, name="tls", client_ca=None, **options):
        """A started nginx serving upstream over TLS (see TlsUpstream)."""
        if not os.access(NGINX_BIN, os.X_OK):
            raise unittest.SkipTest(f"nginx not found at {NGINX_BIN} (Debian: nginx-light)")
        server = TlsUpstream(self.dir, upstream, cert, name, client_ca, **options)
        self.servers.append(server)
        server.start()
        return server

    def waygate(self, config_text, port, config_path=None):
        sub = tempfile.mkdtemp(prefix="wg-", dir=self.dir)
        wg = Waygate(sub, config_text, port, config_path)
        self.waygates.append(wg)
        return wg

    def close(self):
        """Stops everything; returns problems found with the waygate processes."""
        problems = []
        for wg in self.waygates:
            if wg.exit_code is None and wg.running():
                code = wg.stop()
                if code != 0:
                    problems.append(f"waygate (pid {wg.pid}) exited with {code} on SIGTERM")
            wg.close_files()
            stderr = wg.stderr_text()
            for marker in ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer",
                           "runtime error:"):
                if marker in stderr:
                    problems.append(f"waygate stderr reports {marker}")
            if problems:
                problems.append(f"waygate stderr ({wg.stderr_path}):\n{stderr[-4000:]}")
        for server in self.servers:
            server.close()
        for up in self.upstreams:
            up.close()
        if KEEP_TMP or problems:
            sys.stderr.write(f"\n[kept test directory {self.dir}]\n")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return problems


class WaygateTestCase(unittest.TestCase):
    """Base class. Per-test processes through self.env; per-class ones through cls.class_env.

    Both are stopped when the test (or class) ends, and waygate must exit 0 on SIGTERM.
    """

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.access(WAYGATE_BIN, os.X_OK):
            raise unittest.SkipTest(f"waygate binary not found at {WAYGATE_BIN} (set WAYGATE_BIN)")
        cls.class_env = Env()
        cls.addClassCleanup(cls._close_env, cls.class_env)

    @staticmethod
    def _close_env(env):
        problems = env.close()
        if problems:
            raise AssertionError("\n".join(problems))

    def setUp(self):
        super().setUp()
        self.env = Env()
        self.addCleanup(self._close_env, self.env)
        # Registered after _close_env, so it runs first, while the logs are still there.
        self.addCleanup(self._print_logs_if_failed)

    def _print_logs_if_failed(self):
        """A failed test prints the end of each waygate's stderr: a failure seen once in CI must
        be explainable from CI's output alone."""
        # While a cleanup runs, unittest's own success flag reads true; the result's lists
        # say whether this test failed.
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if not any(test is self for test, _ in getattr(result, "failures", []) +
                   getattr(result, "errors", [])):
            return
        for env in (self.env, self.class_env):
            for wg in env.waygates:
                print(f"\n--- {wg.stderr_path} (last 4000 characters) ---\n"
                      f"{wg.stderr_text()[-4000:]}", file=sys.stderr)

    @classmethod
    def start_proxy(cls, env, clusters, **kwargs):
        """Starts waygate in env for the given clusters (see proxy_config); returns it."""
        port = free_port()
        return env.waygate(proxy_config(port, clusters, **kwargs), port)

    def connect(self, port, **kwargs):
        conn = HttpConnection(port, **kwargs)
        self.addCleanup(conn.close)
        return conn

    def served_connection(self, port, target="/", source=None):
        """A keep-alive connection on which GET `target` was answered 200, kept open until the
        test ends; None when it was refused or cut instead (a connection limit may still count
        one that has just closed, the harness's readiness probe's say)."""
        conn = HttpConnection(port, source=source)
        try:
            conn.send(request("GET", target))
            if conn.read_response().status == 200:
                self.addCleanup(conn.close)
                return conn
        except (ConnectionClosed, OSError):
            pass
        conn.close()
        return None

    def get(self, port, target, host="proxy.test", headers=(), method="GET", body=None):
        """One request on a fresh connection; returns the response."""
        with HttpConnection(port) as conn:
            conn.send(request(method, target, host=host, headers=headers, body=body))
            return conn.read_response(method)

    def assertErrorResponse(self, resp, status):
        """A waygate-generated error: status, text/plain, body '<status> <reason>\\n'."""
        self.assertEqual(resp.status, status, resp)
        self.assertIn("text/plain", resp.header("content-type") or "", resp)
        self.assertRegex(resp.body.decode("latin-1"), rf"^{status} [A-Za-z -]+\n$")


class PatternChecker:
    """Verifies a streamed body against the test pattern without keeping it."""

    def __init__(self):
        self.offset = 0
        self.mismatch_at = None

    def __call__(self, data):
        if self.mismatch_at is None:
            view = memoryview(data)
            pos = 0
            while pos < len(view):
                size = min(64 * 1024, len(view) - pos)
                if view[pos:pos + size] != pattern(self.offset + pos, size):
                    self.mismatch_at = self.offset + pos
                    break
                pos += size
        self.offset += len(data)


__all__ = ["BackgroundSender", "ConnectionClosed", "DnsServer", "Env", "Etcd", "HttpConnection",
           "HttpsConnection", "LARGE_BYTES", "NXDOMAIN", "PATTERN_PERIOD", "PatternChecker",
           "RSS_LIMIT_MIB", "RssSampler", "SClient", "SLOW_BYTES", "Tls", "TlsUpstream",
           "WAYGATE_BIN", "WaygateTestCase", "admin_request", "chunked", "connection_refused",
           "curl", "dns_query", "ejected_line", "free_port", "free_ports", "health_line",
           "https_get", "pattern", "port_accepts", "proxy_config", "request", "returns_line",
           "s_client", "tls_context", "to_yaml", "upstream_answers", "wait_for_answers",
           "wait_for_leader", "wait_until"]
