"""Shared helpers for waygate's integration tests: processes, configs and a raw HTTP client.

Environment:
  WAYGATE_BIN                   the waygate binary (default /work/main/build/src/waygate)
  WAYGATE_TEST_LARGE_BYTES      size of the large upload/download tests (default 1 GiB)
  WAYGATE_TEST_SLOW_BYTES       size of the slow-client response (default 256 MiB)
  WAYGATE_TEST_RSS_LIMIT_MIB    bound on waygate's peak RSS during large transfers (default 200)
  WAYGATE_TEST_KEEP             1 keeps each test's temporary directory (config, logs)
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM_PY = os.path.join(HERE, "upstream.py")
sys.path.insert(0, HERE)

from upstream import pattern, PATTERN_PERIOD  # noqa: E402  (shared with the upstream)

WAYGATE_BIN = os.environ.get("WAYGATE_BIN", "/work/main/build/src/waygate")
LARGE_BYTES = int(os.environ.get("WAYGATE_TEST_LARGE_BYTES", str(1 << 30)))
SLOW_BYTES = int(os.environ.get("WAYGATE_TEST_SLOW_BYTES", str(256 << 20)))
RSS_LIMIT_MIB = int(os.environ.get("WAYGATE_TEST_RSS_LIMIT_MIB", "200"))
KEEP_TMP = os.environ.get("WAYGATE_TEST_KEEP") == "1"
HOST = "127.0.0.1"
READY_TIMEOUT = 10.0
IO_TIMEOUT = 10.0
EXIT_TIMEOUT = 40.0


RELOADED = re.compile(r"\breloaded\b", re.I)
NOT_RELOADED = re.compile(r"\bnot reloaded\b", re.I)


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


def free_port():
    """A loopback port that was free a moment ago (used for waygate and refused endpoints)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


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
        if isinstance(value, dict):
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
                 access_log="stdout", top=None):
    """A waygate config: one listener on port; clusters maps name -> list of endpoints.

    Without routes, every host and path goes to the first cluster. top: further top-level keys
    (admin, normalize_paths, ...), written before the listeners.
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
    cfg["listeners"] = [{"name": "web", "address": f"{HOST}:{port}"}]
    cfg["routes"] = routes
    cfg["clusters"] = [{"name": name, "endpoints": list(eps)} for name, eps in clusters.items()]
    return to_yaml(cfg)


# -- processes ------------------------------------------------------------------------------------

class Upstream:
    """A running upstream.py process."""

    def __init__(self, workdir, name="up", args=()):
        """args: further upstream.py options (--fail-status 503)."""
        self.name = name
        self.stderr_path = os.path.join(workdir, f"upstream-{name}.stderr")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, UPSTREAM_PY, "--port", "0", "--name", name, *args],
            stdout=subprocess.PIPE, stderr=self._stderr)
        line = self._readline_with_timeout(READY_TIMEOUT)
        if not line.startswith(b"ready "):
            self.stop()
            raise RuntimeError(f"upstream {name} did not start: {line!r}")
        self.port = int(line.split()[1])
        self.address = f"{HOST}:{self.port}"

    def _readline_with_timeout(self, timeout):
        result = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(timeout)
        return result[0] if result else b""

    def get(self, action):
        """A direct request to the upstream (not through waygate); returns parsed JSON."""
        with HttpConnection(self.port) as conn:
            conn.send(request("GET", "/" + action, headers=[("Connection", "close")]))
            return json.loads(conn.read_response().body)

    def stats(self):
        return self.get("__stats")

    def close_idle(self):
        return self.get("__close-idle")["closed"]

    def release(self):
        """Lets every "hold" request answer (see upstream.py); returns how many were waiting."""
        return self.get("__release")["held"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self._stderr.close()


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

    def __init__(self, port, timeout=IO_TIMEOUT, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((HOST, port))
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

    def _fill(self, size=256 * 1024):
        try:
            data = self.sock.recv(size)
        except ConnectionResetError:
            data = b""
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
        try:
            return self.sock.recv(size)
        except ConnectionResetError:
            return b""

    def read_until_closed(self, timeout=IO_TIMEOUT):
        """Reads until the peer closes; returns what arrived. Fails if it stays open."""
        self.sock.settimeout(timeout)
        data = bytearray(self.buf)
        self.buf = bytearray()
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return bytes(data)
                data += chunk
        except ConnectionResetError:
            return bytes(data)
        except socket.timeout:
            raise AssertionError(f"connection still open after {timeout}s; "
                                 f"received {bytes(data)[:300]!r}")

    def is_closed(self, timeout=IO_TIMEOUT):
        """True once the peer has closed with no further bytes; False if bytes arrive first."""
        return self.read_until_closed(timeout) == b""


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


def admin_request(port, method, path, timeout=IO_TIMEOUT):
    """One request to waygate's admin address on a fresh connection; returns the response."""
    with HttpConnection(port, timeout=timeout) as conn:
        conn.send(request(method, path, host=f"{HOST}:{port}", headers=[("Connection", "close")],
                          body=b"" if method == "POST" else None))
        return conn.read_response(method)


# -- test cases -----------------------------------------------------------------------------------

class Env:
    """Owns a temporary directory and the processes started in it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="waygate-it-")
        self.upstreams = []
        self.waygates = []

    def upstream(self, name="up", args=()):
        up = Upstream(self.dir, name, args)
        self.upstreams.append(up)
        return up

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
            for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
                if marker in stderr:
                    problems.append(f"waygate stderr reports {marker}")
            if problems:
                problems.append(f"waygate stderr ({wg.stderr_path}):\n{stderr[-4000:]}")
        for up in self.upstreams:
            up.stop()
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

    @classmethod
    def start_proxy(cls, env, clusters, **kwargs):
        """Starts waygate in env for the given clusters (see proxy_config); returns it."""
        port = free_port()
        return env.waygate(proxy_config(port, clusters, **kwargs), port)

    def connect(self, port, **kwargs):
        conn = HttpConnection(port, **kwargs)
        self.addCleanup(conn.close)
        return conn

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


__all__ = ["BackgroundSender", "ConnectionClosed", "Env", "HttpConnection", "LARGE_BYTES",
           "PATTERN_PERIOD", "PatternChecker", "RSS_LIMIT_MIB", "RssSampler", "SLOW_BYTES",
           "WAYGATE_BIN", "WaygateTestCase", "admin_request", "chunked", "connection_refused",
           "free_port", "pattern", "port_accepts", "proxy_config", "request", "to_yaml",
           "wait_until"]
