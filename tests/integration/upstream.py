#!/usr/bin/env python3
"""A scriptable HTTP/1.1 upstream for waygate's integration tests.

Run as its own process: ``python3 upstream.py --port N [--host ADDR] [--name NAME]
[--fail-status N] [--action ACTION] [--health-status N] [--health-body TEXT]``. It prints one
line ``ready <port>`` on stdout once it listens on ADDR (default 127.0.0.1; any 127.0.0.0/8
address works on Linux, and ``::1``; ``--port 0`` picks a free port) and nothing else on stdout
afterwards. One thread per connection, hand-written HTTP/1.1 parsing, keep-alive by default,
``Connection: close`` honoured. ``--fail-status N`` answers every request but the control and
health ones with status N (body ``status N\\n``): a broken endpoint beside healthy ones.
``--action ACTION`` answers every such request as if its path ended in ACTION (``hold``: an
endpoint that accepts and never answers; ``reset``). ``--health-status`` and ``--health-body``
set the answer to ``healthz`` (default 200 ``ok``). All four can be changed at run time with
``__set`` (below).

The behaviour is chosen by the LAST segment of the request path, so that a route prefix in
front of it does not matter (``/echo`` and ``/api/echo`` both echo). Query parameters:

  (anything else)      200, body ``NAME METHOD TARGET\\n`` (TARGET as received, query included)
  headers              200, JSON {method, target, version, headers: [[name, value], ...], peer,
                       trailers: [[name, value], ...] (of a chunked body), body_length}
  echo                 the request body, Content-Length framed
  echo-chunked         the request body, chunked
  bytes?n=N            N pattern bytes, Content-Length framed
  chunked?n=N&chunk=K  N pattern bytes in chunks of K bytes (default 4096)
  trailers             ``NAME METHOD TARGET\n`` chunked, with the trailer field ``X-Trailer: yes``
  close-delimited?n=N  N pattern bytes, no Content-Length, no chunked, close after the body
  sink                 reads the body as a stream; JSON {"length": N, "sha256": HEX}
  slow?delay=S         waits S seconds, then answers like the default
  kill                 200 with Content-Length 1000000, sends 10000 bytes, then resets the
                       socket (``mode=fin``: closes normally; ``chunked=1``: chunked framing)
  reset                reads the request, then resets the socket without any answer
  garbage              a malformed status line, then close
  status?code=N        status N; no body for 1xx/204/304, else ``status N\\n``
  hop-response         200 with hop-by-hop response headers (Connection: X-Resp-Hop,
                       X-Resp-Hop, Keep-Alive, Proxy-Connection) and X-End-To-End: yes
  set-cookies          200 with two Set-Cookie headers
  ws                   WebSocket handshake (RFC 6455), then echoes every frame back unmasked
  raw-upgrade          with ``Upgrade: TOKEN`` and ``Connection: upgrade``: 101 switching to
                       TOKEN (any token), then echoes raw bytes until the peer closes;
                       without them: answers like ``headers``
  close-header?hold=S  200 with ``Connection: close`` and Content-Length (``chunked=1``:
                       chunked), then keeps the socket open without reading for S seconds
                       (default 5) before closing: a proxy that ignores the header reuses it
  http10?hold=S        ``HTTP/1.0 200 OK`` with Content-Length and no keep-alive, then the same
                       hold as close-header
  hold                 waits until ``__release`` is requested, then answers like the default
                       (a test gathers concurrent requests at the upstream with it)
  healthz              the health endpoint: status and body from ``--health-status`` and
                       ``--health-body``, whatever ``--fail-status`` and ``--action`` say
  __stats              JSON {"connections_accepted", "connections_open", "requests",
                       "bytes_sent", "held", "health_checks", "last_health", "paths"}
  __set?K=V...         changes settings: fail_status, action (empty: none), health_status,
                       health_body; JSON of the settings now
  __close-idle         closes every connection waiting for its next request; JSON {"closed": N}
  __release            lets every ``hold`` request (waiting or to come) answer; JSON {"held": N}

Every response carries ``X-Upstream-Name: NAME``. Any request with ``close=1`` in its query is
answered with ``Connection: close`` and the connection is closed afterwards.

Counting: ``connections_accepted`` counts accepted TCP connections, except those whose first
request is to a control path (``__stats``, ``__close-idle``, ``__release``, ``__set``; the test
talks to the upstream directly for those); health-check connections (and bare TCP connects) are
counted. ``connections_open`` counts the same connections while they are open. ``requests``
counts the traffic: every request except the control and ``healthz`` ones; ``health_checks``
counts ``healthz`` requests, and ``last_health`` is the latest one's {method, target, host}
(null before the first). ``paths`` maps each path requested (control ones excepted, health ones
included) to its count. ``bytes_sent`` counts the response body bytes written so far, control
and health responses excluded (updated as a body is streamed, so a test can watch a blocked
sender); ``held`` the ``hold`` requests waiting for ``__release``.

Pattern bytes: byte i of a body is ``i % 251`` (the period does not divide any buffer size, so
lost, duplicated or reordered buffers change the bytes).
"""

import argparse
import base64
import hashlib
import json
import socket
import struct
import sys
import threading
import time
import urllib.parse

PATTERN_PERIOD = 251
_BLOCK = 64 * 1024
_PATTERN = bytes(i % PATTERN_PERIOD for i in range(_BLOCK + PATTERN_PERIOD))
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONTROL_PATHS = ("__stats", "__close-idle", "__release", "__set")
HEALTH_ACTION = "healthz"


def pattern(offset, length):
    """Bytes [offset, offset + length) of the test pattern; length <= 64 KiB."""
    start = offset % PATTERN_PERIOD
    return _PATTERN[start:start + length]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.connections_accepted = 0
        self.connections_open = 0
        self.requests = 0
        self.bytes_sent = 0
        self.held = 0
        self.health_checks = 0
        self.last_health = None
        self.paths = {}
        self.idle = set()  # connections waiting for the first byte of their next request

    def add(self, field, amount=1):
        with self.lock:
            setattr(self, field, getattr(self, field) + amount)

    def count_request(self, req):
        """Counts a request that is not a control one."""
        with self.lock:
            self.paths[req.path] = self.paths.get(req.path, 0) + 1
            if req.action == HEALTH_ACTION:
                self.health_checks += 1
                self.last_health = {"method": req.method, "target": req.target,
                                    "host": req.header("host")}
            else:
                self.requests += 1

    def snapshot(self):
        with self.lock:
            return {"connections_accepted": self.connections_accepted,
                    "connections_open": self.connections_open,
                    "requests": self.requests, "bytes_sent": self.bytes_sent,
                    "held": self.held, "health_checks": self.health_checks,
                    "last_health": self.last_health, "paths": dict(self.paths)}


class ClientGone(Exception):
    pass


class Reader:
    """Buffered reads from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def fill(self):
        data = self.sock.recv(256 * 1024)
        if not data:
            raise ClientGone()
        self.buf += data

    def readline(self, limit=1 << 20):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > limit:
                raise ValueError("line too long")
            self.fill()

    def read_some(self, n):
        if not self.buf:
            self.fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data


class Request:
    def __init__(self, method, target, version, headers, reader, sock):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        parsed = urllib.parse.urlsplit(target)
        self.path = parsed.path
        self.query = dict(urllib.parse.parse_qsl(parsed.query))
        self.action = self.path.rstrip("/").rsplit("/", 1)[-1] if self.path != "/" else ""
        self._reader = reader
        self._sock = sock
        self._continue_sent = False
        te = self.header("transfer-encoding")
        cl = self.header("content-length")
        self.chunked = te is not None and "chunked" in te.lower()
        self.remaining = 0 if self.chunked else int(cl) if cl else 0
        self.body_done = not self.chunked and self.remaining == 0
        self._chunk_left = 0
        self.trailers = []  # of a chunked body, once it has been read whole

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def connection_tokens(self):
        tokens = set()
        for k, v in self.headers:
            if k.lower() == "connection":
                tokens.update(t.strip().lower() for t in v.split(","))
        return tokens

    def wants_keep_alive(self):
        tokens = self.connection_tokens()
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens

    def _maybe_continue(self):
        expect = self.header("expect")
        if not self._continue_sent and expect and expect.lower() == "100-continue":
            self._continue_sent = True
            self._sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

    def read_body_piece(self, max_bytes=256 * 1024):
        """Returns the next piece of the body, or b"" once it has been read whole."""
        if self.body_done:
            return b""
        self._maybe_continue()
        r = self._reader
        if not self.chunked:
            data = r.read_some(min(self.remaining, max_bytes))
            self.remaining -= len(data)
            self.body_done = self.remaining == 0
            return data
        if self._chunk_left == 0:
            size_line = r.readline().split(b";", 1)[0].strip()
            size = int(size_line, 16)
            if size == 0:
                while (line := r.readline()) not in (b"\r\n", b"\n"):
                    name, _, value = line.decode("latin-1").partition(":")
                    self.trailers.append((name, value.strip()))
                self.body_done = True
                return b""
            self._chunk_left = size
        data = r.read_some(min(self._chunk_left, max_bytes))
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            r.read_exact(2)  # CRLF after the chunk data
        return data

    def read_body(self):
        parts = []
        while True:
            piece = self.read_body_piece()
            if not piece:
                return b"".join(parts)
            parts.append(piece)


def read_request(reader, sock):
    """Parses one request head; None on a clean end of the connection."""
    try:
        line = reader.readline()
        while line in (b"\r\n", b"\n"):  # tolerate empty lines between requests
            line = reader.readline()
    except ClientGone:
        return None
    method, target, version = line.decode("latin-1").strip().split(" ", 2)
    headers = []
    while True:
        line = reader.readline()
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name, value.strip()))
    return Request(method, target, version, headers, reader, sock)


class Handler:
    def __init__(self, server, sock, peer):
        self.server = server
        self.name = server.name
        self.stats = server.stats
        self.sock = sock
        self.peer = peer
        self.reader = Reader(sock)
        self.counting = True  # False while answering a control request

    # -- writing -------------------------------------------------------------------------------

    def head_bytes(self, req, status, reason, headers, keep_alive):
        lines = [f"HTTP/1.1 {status} {reason}", f"X-Upstream-Name: {self.name}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if not keep_alive:
            lines.append("Connection: close")
        elif req.version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send_head(self, req, status, reason, headers, keep_alive):
        self.sock.sendall(self.head_bytes(req, status, reason, headers, keep_alive))

    def send_body(self, data):
        self.sock.sendall(data)
        if self.counting:
            self.stats.add("bytes_sent", len(data))

    def respond(self, req, status, body=b"", headers=(), reason="OK", keep_alive=True):
        headers = list(headers)
        if not (100 <= status < 200 or status in (204, 304)):
            headers.append(("Content-Length", str(len(body))))
        head = self.head_bytes(req, status, reason, headers, keep_alive)
        if req.method == "HEAD":
            body = b""
        # One send for head and body: a backend killed (SIGKILL) while answering then either
        # answered whole or not at all, as a real server writing one small response does.
        self.sock.sendall(head + body)
        if body and self.counting:
            self.stats.add("bytes_sent", len(body))
        return keep_alive

    def send_pattern(self, n, chunk=None):
        offset = 0
        while offset < n:
            size = min(chunk or _BLOCK, n - offset, _BLOCK)
            data = pattern(offset, size)
            if chunk:
                self.sock.sendall(b"%x\r\n" % size)
                self.send_body(data)
                self.sock.sendall(b"\r\n")
            else:
                self.send_body(data)
            offset += size

    def reset(self):
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    # -- the connection loop -------------------------------------------------------------------

    def run(self):
        first = True
        counted = True  # in connections_open
        try:
            while True:
                with self.stats.lock:
                    self.stats.idle.add(self.sock)
                req = read_request(self.reader, self.sock)
                with self.stats.lock:
                    self.stats.idle.discard(self.sock)
                if req is None:
                    return
                control = req.action in CONTROL_PATHS
                if control and first:
                    self.stats.add("connections_accepted", -1)
                    self.stats.add("connections_open", -1)
                    counted = False
                if not control:
                    self.stats.count_request(req)
                first = False
                self.counting = not control and req.action != HEALTH_ACTION
                keep_alive = self.dispatch(req)
                if not keep_alive:
                    return
                while req.read_body_piece():  # the handler did not want the rest of the body
                    pass
        except (ClientGone, OSError, ValueError):
            pass
        finally:
            with self.stats.lock:
                self.stats.idle.discard(self.sock)
            if counted:
                self.stats.add("connections_open", -1)
            try:
                self.sock.close()
            except OSError:
                pass

    def dispatch(self, req):
        action = req.action
        traffic = action not in CONTROL_PATHS and action != HEALTH_ACTION
        if self.server.fail_status and traffic:
            return self.do_fail(req, req.wants_keep_alive())
        if self.server.action and traffic:
            action = self.server.action
        method = getattr(self, "do_" + action.replace("-", "_"), None)
        keep = req.wants_keep_alive() and req.query.get("close") != "1"
        if method is None:
            return self.do_default(req, keep)
        return method(req, keep)

    # -- behaviours ----------------------------------------------------------------------------

    def do_default(self, req, keep):
        req.read_body()
        body = f"{self.name} {req.method} {req.target}\n".encode("latin-1")
        return self.respond(req, 200, body, [("Content-Type", "text/plain")], keep_alive=keep)

    def do_headers(self, req, keep):
        length = len(req.read_body())
        body = json.dumps({"method": req.method, "target": req.target, "version": req.version,
                           "headers": req.headers, "peer": f"{self.peer[0]}:{self.peer[1]}",
                           "trailers": req.trailers, "body_length": length})
        return self.respond(req, 200, body.encode(), [("Content-Type", "application/json")],
                            keep_alive=keep)

    def do_echo(self, req, keep):
        body = req.read_body()
        return self.respond(req, 200, body, [("Content-Type", "application/octet-stream")],
                            keep_alive=keep)

    def do_echo_chunked(self, req, keep):
        body = req.read_body()
        self.send_head(req, 200, "OK", [("Transfer-Encoding", "chunked")], keep)
        for i in range(0, len(body), 1000):
            piece = body[i:i + 1000]
            self.sock.sendall(b"%x\r\n" % len(piece))
            self.send_body(piece)
            self.sock.sendall(b"\r\n")
        self.sock.sendall(b"0\r\n\r\n")
        return keep

    def do_bytes(self, req, keep):
        req.read_body()
        n = int(req.query.get("n", "0"))
        self.send_head(req, 200, "OK", [("Content-Length", str(n))], keep)
        if req.method != "HEAD":
            self.send_pattern(n)
        return keep

    def do_chunked(self, req, keep):
        req.read_body()
        n = int(req.query.get("n", "0"))
        chunk = int(req.query.get("chunk", "4096"))
        self.send_head(req, 200, "OK", [("Transfer-Encoding", "chunked")], keep)
        if req.method != "HEAD":
            self.send_pattern(n, chunk)
            self.sock.sendall(b"0\r\n\r\n")
        return keep

    def do_trailers(self, req, keep):
        req.read_body()
        body = f"{self.name} {req.method} {req.target}\n".encode("latin-1")
        self.send_head(req, 200, "OK", [("Transfer-Encoding", "chunked")], keep)
        self.sock.sendall(b"%x\r\n" % len(body) + body + b"\r\n0\r\nX-Trailer: yes\r\n\r\n")
        return keep

    def do_close_delimited(self, req, keep):
        req.read_body()
        n = int(req.query.get("n", "0"))
        self.send_head(req, 200, "OK", [], keep_alive=False)
        self.send_pattern(n)
        return False

    def do_sink(self, req, keep):
        digest = hashlib.sha256()
        length = 0
        while True:
            piece = req.read_body_piece(1 << 20)
            if not piece:
                break
            digest.update(piece)
            length += len(piece)
        body = json.dumps({"length": length, "sha256": digest.hexdigest()}).encode()
        return self.respond(req, 200, body, [("Content-Type", "application/json")],
                            keep_alive=keep)

    def do_slow(self, req, keep):
        req.read_body()
        time.sleep(float(req.query.get("delay", "1")))
        return self.do_default(req, keep)

    def do_kill(self, req, keep):
        req.read_body()
        if req.query.get("chunked") == "1":
            self.send_head(req, 200, "OK", [("Transfer-Encoding", "chunked")], True)
            for i in range(10):
                self.sock.sendall(b"3e8\r\n")
                self.send_body(pattern(i * 1000, 1000))
                self.sock.sendall(b"\r\n")
        else:
            self.send_head(req, 200, "OK", [("Content-Length", "1000000")], True)
            self.send_pattern(10000)
        if req.query.get("mode") == "fin":
            self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()
        else:
            self.reset()
        return False

    def do_reset(self, req, keep):
        req.read_body()
        self.reset()
        return False

    def do_garbage(self, req, keep):
        req.read_body()
        self.sock.sendall(b"HTTQ/1.1 2x0 Nonsense\r\nContent-Length: 2\r\n\r\nok")
        return False

    def do_status(self, req, keep):
        req.read_body()
        code = int(req.query.get("code", "200"))
        body = b"" if code in (204, 304) else f"status {code}\n".encode()
        return self.respond(req, code, body, reason="Status", keep_alive=keep)

    def do_fail(self, req, keep):
        req.read_body()
        code = self.server.fail_status
        return self.respond(req, code, f"status {code}\n".encode(), reason="Status",
                            keep_alive=keep)

    def do_healthz(self, req, keep):
        req.read_body()
        code = self.server.health_status
        body = b"" if code < 200 or code in (204, 304) else self.server.health_body.encode()
        return self.respond(req, code, body, [("Content-Type", "text/plain")], reason="Health",
                            keep_alive=keep)

    def do___set(self, req, keep):
        req.read_body()
        server = self.server
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(req.target).query,
                                            keep_blank_values=True))  # action= clears it
        for key in ("fail_status", "health_status"):
            if key in query:
                setattr(server, key, int(query[key]))
        for key in ("action", "health_body"):
            if key in query:
                setattr(server, key, query[key])
        body = json.dumps({"fail_status": server.fail_status, "action": server.action,
                           "health_status": server.health_status,
                           "health_body": server.health_body}).encode()
        return self.respond(req, 200, body, [("Content-Type", "application/json")],
                            keep_alive=keep)

    def hold_open(self, req):
        """Keeps the connection open, unread, after a response that said it would close."""
        time.sleep(float(req.query.get("hold", "5")))

    def do_close_header(self, req, keep):
        req.read_body()
        body = f"{self.name} {req.method} {req.target}\n".encode("latin-1")
        if req.query.get("chunked") == "1":
            self.send_head(req, 200, "OK", [("Transfer-Encoding", "chunked")], keep_alive=False)
            self.sock.sendall(b"%x\r\n" % len(body))
            self.send_body(body)
            self.sock.sendall(b"\r\n0\r\n\r\n")
        else:
            self.respond(req, 200, body, [("Content-Type", "text/plain")], keep_alive=False)
        self.hold_open(req)
        return False

    def do_http10(self, req, keep):
        req.read_body()
        body = f"{self.name} {req.method} {req.target}\n".encode("latin-1")
        self.sock.sendall((f"HTTP/1.0 200 OK\r\nX-Upstream-Name: {self.name}\r\n"
                           f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n")
                          .encode("latin-1"))
        self.send_body(body)
        self.hold_open(req)
        return False

    def do_hold(self, req, keep):
        req.read_body()
        self.stats.add("held")
        self.server.released.wait()
        self.stats.add("held", -1)
        return self.do_default(req, keep)

    def do___release(self, req, keep):
        req.read_body()
        held = self.stats.snapshot()["held"]
        self.server.released.set()
        return self.respond(req, 200, json.dumps({"held": held}).encode(),
                            [("Content-Type", "application/json")], keep_alive=keep)

    def do_raw_upgrade(self, req, keep):
        token = req.header("upgrade")
        if not token or "upgrade" not in req.connection_tokens():
            return self.do_headers(req, keep)
        self.sock.sendall(("HTTP/1.1 101 Switching Protocols\r\n"
                           f"X-Upstream-Name: {self.name}\r\n"
                           f"Upgrade: {token}\r\nConnection: Upgrade\r\n\r\n").encode("latin-1"))
        if self.reader.buf:  # bytes that came with the request head belong to the tunnel
            self.sock.sendall(bytes(self.reader.buf))
            self.reader.buf.clear()
        while True:
            data = self.sock.recv(65536)
            if not data:
                return False
            self.sock.sendall(data)

    def do_hop_response(self, req, keep):
        req.read_body()
        headers = [("Connection", "X-Resp-Hop"), ("X-Resp-Hop", "1"),
                   ("Keep-Alive", "timeout=5, max=100"), ("Proxy-Connection", "keep-alive"),
                   ("X-End-To-End", "yes")]
        return self.respond(req, 200, b"hop\n", headers, keep_alive=keep)

    def do_set_cookies(self, req, keep):
        req.read_body()
        headers = [("Set-Cookie", "a=1; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT"),
                   ("Set-Cookie", "b=2; Path=/")]
        return self.respond(req, 200, b"cookies\n", headers, keep_alive=keep)

    def do___stats(self, req, keep):
        req.read_body()
        body = json.dumps(self.stats.snapshot()).encode()
        return self.respond(req, 200, body, [("Content-Type", "application/json")],
                            keep_alive=keep)

    def do___close_idle(self, req, keep):
        req.read_body()
        with self.stats.lock:
            idle = [s for s in self.stats.idle if s is not self.sock]
        for s in idle:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        body = json.dumps({"closed": len(idle)}).encode()
        return self.respond(req, 200, body, [("Content-Type", "application/json")],
                            keep_alive=keep)

    def do_ws(self, req, keep):
        key = req.header("sec-websocket-key")
        upgrade = (req.header("upgrade") or "").lower()
        if "upgrade" not in req.connection_tokens() or upgrade != "websocket" or not key:
            return self.respond(req, 400, b"not a websocket handshake\n", keep_alive=keep)
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.sock.sendall(("HTTP/1.1 101 Switching Protocols\r\n"
                           f"X-Upstream-Name: {self.name}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        while True:
            opcode, payload = ws_read_frame(self.reader)
            if opcode == 0x9:  # ping -> pong
                self.sock.sendall(ws_frame(0xA, payload))
                continue
            self.sock.sendall(ws_frame(opcode, payload))
            if opcode == 0x8:  # close: echoed, then the server closes
                return False


def ws_unmask(payload, mask):
    n = len(payload)
    if n == 0:
        return payload
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def ws_read_frame(reader):
    b0, b1 = reader.read_exact(2)
    opcode = b0 & 0x0F
    length = b1 & 0x7F
    if length == 126:
        length = struct.unpack("!H", reader.read_exact(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", reader.read_exact(8))[0]
    mask = reader.read_exact(4) if b1 & 0x80 else None
    payload = reader.read_exact(length)
    if mask:
        payload = ws_unmask(payload, mask)
    return opcode, payload


def ws_frame(opcode, payload, mask=None):
    head = bytes([0x80 | opcode])
    mask_bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if mask:
        return head + mask + ws_unmask(payload, mask)
    return head + payload


class Server:
    def __init__(self, port, name, fail_status=0, host="127.0.0.1", action="",
                 health_status=200, health_body="ok"):
        self.name = name
        self.fail_status = fail_status
        self.action = action  # answers every traffic request as this action ("" for none)
        self.health_status = health_status
        self.health_body = health_body
        self.released = threading.Event()  # set by __release: hold requests answer
        self.stats = Stats()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]

    def serve_forever(self):
        while True:
            conn, peer = self.sock.accept()
            self.stats.add("connections_accepted")
            self.stats.add("connections_open")
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            handler = Handler(self, conn, peer)
            threading.Thread(target=handler.run, daemon=True).start()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--name", default="upstream")
    parser.add_argument("--fail-status", type=int, default=0)
    parser.add_argument("--action", default="")
    parser.add_argument("--health-status", type=int, default=200)
    parser.add_argument("--health-body", default="ok")
    args = parser.parse_args()
    server = Server(args.port, args.name, args.fail_status, args.host, args.action,
                    args.health_status, args.health_body)
    sys.stdout.write(f"ready {server.port}\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
