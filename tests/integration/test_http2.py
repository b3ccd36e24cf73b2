"""HTTP/2 toward clients (issue 20): h2c with prior knowledge on a plain listener that enables it,
h2 by ALPN on a TLS listener, and HTTP/1.1 beside both on the same port.

Each stream is routed as an HTTP/1 request is (host from :authority) to HTTP/1.1 upstreams
(upstream.py). Clients: curl where it does the job (curl 7.88 cannot reuse an h2c connection for
a second transfer, so many streams on one plain connection are python3-h2's), and python3-h2
(H2Client below) where the test needs the frames: concurrent streams, flow control, resets,
GOAWAY.
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import unittest

try:
    import h2  # noqa: F401
except ImportError:
    # Debian's python3-h2 (scripts/install-deps.sh) is pure Python: an interpreter other than
    # Debian's (a pyenv one) can load it from there.
    sys.path.append("/usr/lib/python3/dist-packages")
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.errors  # noqa: E402
import h2.events  # noqa: E402
import h2.settings  # noqa: E402

import certs  # noqa: E402
from harness import (CURL_BIN, HOST, IO_TIMEOUT, WaygateTestCase, admin_request,  # noqa: E402
                     connection_refused, curl, free_port, port_accepts, proxy_config, wait_until)
from upstream import pattern  # noqa: E402

NGHTTP_BIN = shutil.which("nghttp") or "/usr/bin/nghttp"
HOSTS_ROUTES = [
    {"hosts": ["a.test"], "paths": [{"prefix": "/", "cluster": "a"}]},
    {"hosts": ["b.test"], "paths": [{"prefix": "/", "cluster": "b"}]},
]


class H2Client:
    """One HTTP/2 connection spoken frame by frame with python3-h2. Responses gather in
    self.streams: id -> {"headers": {name: value}, "body": bytearray, "ended", "reset"}, and
    "trailers": {name: value} when they came."""

    def __init__(self, port, tls=False, window=None):
        sock = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.set_alpn_protocols(["h2"])
            sock = context.wrap_socket(sock, server_hostname="proxy.test")
            assert sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol()
        self.sock = sock
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        if window is not None:
            self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.streams = {}
        self.goaway = None  # the ConnectionTerminated event, once it came
        self.ping_acks = 0
        self.closed = False
        self.flush()

    def close(self):
        self.sock.close()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path, authority="a.test", method="GET", body=None, headers=(),
                end_stream=True, content_length=True):
        """Opens a stream; returns its id. body (bytes) is sent whole, in one or more DATA
        frames as the windows allow (call pump until sent)."""
        sid = self.conn.get_next_available_stream_id()
        fields = [(":method", method), (":path", path), (":scheme", "http"),
                  (":authority", authority), *headers]
        if body is not None and content_length:
            fields.append(("content-length", str(len(body))))
        self.conn.send_headers(sid, fields, end_stream=end_stream and body is None)
        self.streams[sid] = {"headers": {}, "body": bytearray(), "ended": False, "reset": None,
                             "unsent": bytearray(body or b"")}
        self.flush()
        self.send_pending()
        return sid

    def send_pending(self):
        for sid, stream in self.streams.items():
            if not stream["unsent"] or stream["ended"] or stream["reset"] is not None:
                continue
            while stream["unsent"]:
                room = min(self.conn.local_flow_control_window(sid),
                           self.conn.max_outbound_frame_size)
                if room <= 0:
                    break
                chunk = bytes(stream["unsent"][:room])
                del stream["unsent"][:room]
                self.conn.send_data(sid, chunk, end_stream=not stream["unsent"])
        self.flush()

    def pump(self, acknowledge=lambda sid: True):
        """Reads once and handles the events. acknowledge(sid): whether DATA on that stream is
        acknowledged to the server (WINDOW_UPDATE on the stream); the connection's window is
        always given back, so one unread stream holds back only its own."""
        data = self.sock.recv(256 * 1024)
        if not data:
            self.closed = True
            return
        for event in self.conn.receive_data(data):
            stream = self.streams.get(getattr(event, "stream_id", None))
            if isinstance(event, h2.events.ResponseReceived):
                stream["headers"] = dict(event.headers)
            elif isinstance(event, h2.events.DataReceived):
                stream["body"] += event.data
                if acknowledge(event.stream_id):
                    self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                        event.stream_id)
                else:
                    self.conn.increment_flow_control_window(event.flow_controlled_length)
            elif isinstance(event, h2.events.PingAckReceived):
                self.ping_acks += 1
            elif isinstance(event, h2.events.TrailersReceived):
                stream["trailers"] = dict(event.headers)
            elif isinstance(event, h2.events.StreamEnded):
                stream["ended"] = True
            elif isinstance(event, h2.events.StreamReset):
                if stream is not None:
                    stream["reset"] = event.error_code
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.goaway = event
        self.send_pending()
        self.flush()

    def run_until(self, predicate, **kwargs):
        while not predicate():
            if self.closed:
                raise AssertionError("the server closed the connection")
            self.pump(**kwargs)

    def done(self, *sids):
        return all(self.streams[s]["ended"] or self.streams[s]["reset"] is not None
                   for s in sids)


class Http2TestCase(WaygateTestCase):

    def start(self, upstreams, routes=None, http2=True, tls=None, **kwargs):
        port = free_port()
        listener = {} if http2 is None else {"http2": http2}
        text = proxy_config(port, {name: [up.address] for name, up in upstreams.items()},
                            routes=routes, tls=tls, listener=listener, **kwargs)
        return self.env.waygate(text, port)

    def h2(self, port, **kwargs):
        client = H2Client(port, **kwargs)
        self.addCleanup(client.close)
        return client

    def held_stream(self, port, upstream):
        """Starts a stream for a.test that `upstream` holds; returns a function that waits for a
        GOAWAY on its connection, then lets the stream answer and checks that it finished whole
        after the GOAWAY (NO_ERROR). nghttp (nghttp2-client), since python3-h2 takes GOAWAY for
        the end of every stream."""
        client = subprocess.Popen(
            [NGHTTP_BIN, "-v", f"http://{HOST}:{port}/last/hold", "-H", ":authority: a.test"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(client.stdout.close)
        self.addCleanup(client.kill)
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(client.stdout), daemon=True)
        reader.start()
        wait_until(lambda: upstream.stats()["held"] == 1, message="the stream held upstream")

        def finished_after_goaway():
            wait_until(lambda: any("recv GOAWAY" in line for line in lines), message="GOAWAY")
            upstream.release()
            self.assertEqual(client.wait(IO_TIMEOUT), 0)
            reader.join(IO_TIMEOUT)
            out = "".join(lines)
            self.assertRegex(out, r"recv GOAWAY frame .*\n.*error_code=NO_ERROR")
            self.assertIn(f"{upstream.name} GET /last/hold", out)
        return finished_after_goaway


class PriorKnowledgeTest(Http2TestCase):

    def setUp(self):
        super().setUp()
        self.a = self.env.upstream("a")
        self.b = self.env.upstream("b")
        self.wg = self.start({"a": self.a, "b": self.b}, routes=HOSTS_ROUTES)

    def test_curl_prior_knowledge_is_routed_and_logged_as_http2(self):
        r = curl(f"http://{HOST}:{self.wg.port}/hello?x=1", "--http2-prior-knowledge",
                 "-H", "Host: b.test")
        self.assertEqual((r.returncode, r.status, r.http_version), (0, 200, "2"), r)
        self.assertEqual(r.body, b"b GET /hello?x=1\n")
        line = self.wg.wait_for_log(r'"GET /hello\?x=1 HTTP/2" 200')
        self.assertIn("cluster=b", line)

    def test_http1_still_works_on_the_same_port(self):
        r = curl(f"http://{HOST}:{self.wg.port}/one", "--http1.1", "-H", "Host: a.test")
        self.assertEqual((r.status, r.http_version, r.body), (200, "1.1", b"a GET /one\n"), r)
        self.wg.wait_for_log(r'"GET /one HTTP/1.1" 200')

    def test_concurrent_streams_on_one_connection_go_to_their_hosts(self):
        client = self.h2(self.wg.port)
        # Held at the upstreams until all have arrived: every stream is in flight at once.
        held = [client.request(f"/{i}/hold", authority="ab"[i % 2] + ".test") for i in range(20)]
        wait_until(lambda: self.a.stats()["held"] + self.b.stats()["held"] == 20,
                   message="all 20 streams held at the upstreams")
        quick = [client.request(f"/q{i}", authority="ab"[i % 2] + ".test") for i in range(30)]
        client.run_until(lambda: client.done(*quick))
        self.a.release()
        self.b.release()
        client.run_until(lambda: client.done(*held))
        for i, sid in enumerate(held):
            name = "ab"[i % 2]
            self.assertEqual(bytes(client.streams[sid]["body"]), f"{name} GET /{i}/hold\n".encode())
        for i, sid in enumerate(quick):
            name = "ab"[i % 2]
            self.assertEqual(client.streams[sid]["headers"][":status"], "200")
            self.assertEqual(bytes(client.streams[sid]["body"]), f"{name} GET /q{i}\n".encode())

    def test_upload_reaches_the_upstream_whole(self):
        body = os.urandom(3 * 1024 * 1024 + 17)
        digest = hashlib.sha256(body).hexdigest()
        client = self.h2(self.wg.port)
        # With content-length, and without (the body goes upstream chunked).
        sized = client.request("/sink", method="POST", body=body)
        unsized = client.request("/sink", method="POST", body=body, content_length=False)
        client.run_until(lambda: client.done(sized, unsized))
        for sid in (sized, unsized):
            stream = client.streams[sid]
            self.assertEqual(stream["headers"][":status"], "200")
            self.assertEqual(json.loads(bytes(stream["body"])),
                             {"length": len(body), "sha256": digest})

    def test_slow_stream_does_not_block_another_nor_fill_memory(self):
        total = 64 * 1024 * 1024
        client = self.h2(self.wg.port)
        slow = client.request(f"/bytes?n={total}")
        # The slow stream's window is never given back while the other stream runs.
        fast = client.request("/bytes?n=5000000")
        client.run_until(lambda: client.done(fast), acknowledge=lambda sid: sid != slow)
        self.assertEqual(len(client.streams[fast]["body"]), 5000000)
        self.assertEqual(bytes(client.streams[fast]["body"][:65536]), pattern(0, 65536))
        self.assertLessEqual(len(client.streams[slow]["body"]), 65535)
        # Backpressure reached the upstream: it could not write the whole body into waygate.
        self.assertLess(self.a.stats()["bytes_sent"], total / 2)
        # Read on, the slow stream gets all of it.
        client.conn.acknowledge_received_data(len(client.streams[slow]["body"]), slow)
        client.flush()
        client.run_until(lambda: client.done(slow))
        self.assertEqual(len(client.streams[slow]["body"]), total)

    def test_header_list_past_the_limit_is_431_on_its_stream(self):
        client = self.h2(self.wg.port)
        big = client.request("/big", headers=[("x-big", "v" * 40000)])
        small = client.request("/small")
        client.run_until(lambda: client.done(big, small))
        self.assertEqual(client.streams[big]["headers"][":status"], "431")
        self.assertEqual(bytes(client.streams[small]["body"]), b"a GET /small\n")

    def test_heads_the_http1_parser_refuses_are_refused_on_their_stream_too(self):
        # A stream's request reaches its session decoded, never as text for the HTTP/1 parser:
        # the parser's limits and syntax hold for it all the same, and nothing goes upstream.
        url = f"http://{HOST}:{self.wg.port}/"
        many_fields = [arg for i in range(120) for arg in ("-H", f"x-field-{i}: v")]
        cases = [(400, url + "x", ["-X", "FROB"]),            # no method llhttp knows
                 (414, url + "a" * 9000, []),                # past limits.max_uri_bytes
                 (431, url + "x", many_fields)]              # past limits.max_request_headers
        for status, target, args in cases:
            r = curl(target, "--http2-prior-knowledge", "-H", "Host: a.test", *args)
            self.assertEqual((r.status, r.http_version), (status, "2"), r)
        r = curl(url + "fine", "--http2-prior-knowledge", "-H", "Host: a.test")
        self.assertEqual((r.status, r.body), (200, b"a GET /fine\n"), r)
        self.assertEqual(self.a.stats()["requests"], 1)

    def test_field_limit_counts_the_fields_the_client_sent_as_for_http1(self):
        # limits.max_request_headers (100): curl sends Host, User-Agent and Accept besides these.
        url = f"http://{HOST}:{self.wg.port}/fields"
        for extra, status in ((97, 200), (98, 431)):
            fields = [arg for i in range(extra) for arg in ("-H", f"x-field-{i}: v")]
            for version in ("--http1.1", "--http2-prior-knowledge"):
                r = curl(url, version, "-H", "Host: a.test", *fields)
                self.assertEqual(r.status, status, (extra, version, r))

    def test_fields_the_http1_parser_refuses_never_reach_the_upstream(self):
        # A control character in a value, an uppercase or non-token name: the stream is refused,
        # the next one on the connection is served, and the upstream sees only that one.
        client = self.h2(self.wg.port)
        client.conn.config.validate_outbound_headers = False
        client.conn.config.normalize_outbound_headers = False
        bad = [client.request("/bad", headers=[(name, value)])
               for name, value in (("x-bad", "a\x01b"), ("X-Upper", "v"), ("x(bad)", "v"))]
        good = client.request("/good")
        client.run_until(lambda: client.done(good, *bad))
        for sid in bad:
            stream = client.streams[sid]
            self.assertTrue(stream["reset"] is not None
                            or stream["headers"].get(":status") == "400", stream)
        self.assertEqual(bytes(client.streams[good]["body"]), b"a GET /good\n")
        self.assertEqual(self.a.stats()["requests"], 1)

    def test_a_stream_sees_nothing_of_the_one_before_it_on_its_connection(self):
        # A connection reuses what a finished stream leaves for its next one: each request here
        # starts once the one before has ended, so it gets that one's state, which must be reset.
        client = self.h2(self.wg.port)

        def upload(body, trailers=()):
            """A POST /headers whose body has no length (it goes upstream chunked), with trailer
            fields after it when given; returns the upstream's view of it (JSON)."""
            sid = client.conn.get_next_available_stream_id()
            client.conn.send_headers(sid, [(":method", "POST"), (":path", "/headers"),
                                           (":scheme", "http"), (":authority", "a.test")])
            client.conn.send_data(sid, body, end_stream=not trailers)
            if trailers:
                client.conn.send_headers(sid, list(trailers), end_stream=True)
            client.streams[sid] = {"headers": {}, "body": bytearray(), "ended": False,
                                   "reset": None, "unsent": bytearray()}
            client.flush()
            return seen(sid)

        def seen(sid):
            client.run_until(lambda: client.done(sid))
            self.assertEqual(client.streams[sid]["headers"][":status"], "200", client.streams[sid])
            return json.loads(bytes(client.streams[sid]["body"]))

        def fields(view):
            return [(name.lower(), value) for name, value in view["headers"]]

        # A head past the limit is refused with the cookie crumbs it had gathered before.
        big = client.request("/headers", headers=[("cookie", "first=1"), ("x-first", "1"),
                                                  ("x-big", "v" * 40000)])
        client.run_until(lambda: client.done(big))
        self.assertEqual(client.streams[big]["headers"][":status"], "431")
        after_big = seen(client.request("/headers?n=2", headers=[("cookie", "second=2")]))
        self.assertEqual(after_big["target"], "/headers?n=2")
        cookies = [value for name, value in fields(after_big) if name == "cookie"]
        self.assertEqual(cookies, ["second=2"])
        self.assertNotIn("x-first", dict(fields(after_big)))

        # Two heads that together are past the limit, each within it.
        half = ("x-half", "h" * 20000)
        for _ in range(2):
            self.assertIn(half, fields(seen(client.request("/headers", headers=[half]))))

        # Host, without :authority, after a stream that had :authority.
        sid = client.conn.get_next_available_stream_id()
        client.conn.send_headers(sid, [(":method", "GET"), (":path", "/headers"),
                                       (":scheme", "http"), ("host", "a.test")], end_stream=True)
        client.streams[sid] = {"headers": {}, "body": bytearray(), "ended": False, "reset": None,
                               "unsent": bytearray()}
        client.flush()
        self.assertEqual(dict(fields(seen(sid)))["host"], "a.test")

        # A body with a length, then one without (chunked upstream) with trailer fields, then one
        # without them.
        sized = seen(client.request("/headers", method="POST", body=b"xyz"))
        self.assertEqual((sized["body_length"], dict(fields(sized))["content-length"]), (3, "3"))
        with_trailers = upload(b"abc", trailers=[("x-checksum", "42")])
        self.assertEqual((with_trailers["body_length"], with_trailers["trailers"]),
                         (3, [["x-checksum", "42"]]))
        without = upload(b"defgh")
        self.assertEqual((without["body_length"], without["trailers"]), (5, []))

        # A response with trailer fields, then one without them.
        for path, trailers in (("/trailers", {"x-trailer": "yes"}), ("/plain", None)):
            sid = client.request(path)
            client.run_until(lambda: client.done(sid))
            self.assertEqual(bytes(client.streams[sid]["body"]), f"a GET {path}\n".encode())
            self.assertEqual(client.streams[sid].get("trailers"), trailers)

        # waygate's own answers (no route: 404), one after another.
        for _ in range(2):
            sid = client.request("/nowhere", authority="nowhere.test")
            client.run_until(lambda: client.done(sid))
            self.assertEqual(client.streams[sid]["headers"][":status"], "404")

        # A HEAD, then a GET: the GET's response has its body.
        head = client.request("/bytes?n=10", method="HEAD")
        client.run_until(lambda: client.done(head))
        self.assertEqual(bytes(client.streams[head]["body"]), b"")
        get = client.request("/bytes?n=10")
        client.run_until(lambda: client.done(get))
        self.assertEqual(bytes(client.streams[get]["body"]), pattern(0, 10))

    def assert_resets_get_goaway(self, client, count):
        """Opens and at once resets count streams: the client gets GOAWAY ENHANCE_YOUR_CALM."""
        for _ in range(count):
            sid = client.conn.get_next_available_stream_id()
            client.conn.send_headers(sid, [(":method", "GET"), (":path", "/r"),
                                           (":scheme", "http"), (":authority", "a.test")])
            client.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        client.flush()
        while client.goaway is None and not client.closed:
            client.pump()
        self.assertIsNotNone(client.goaway, "no GOAWAY")
        self.assertEqual(client.goaway.error_code, h2.errors.ErrorCodes.ENHANCE_YOUR_CALM)

    def test_rapid_reset_gets_goaway_and_others_are_served(self):
        client = self.h2(self.wg.port)
        self.assert_resets_get_goaway(client, 500)
        self.wg.wait_for_stderr(r"http2: 127\.0\.0\.1 reset \d+ streams within \d+ ms "
                                r"\(rapid reset\): closing the connection")
        other = self.h2(self.wg.port)
        sid = other.request("/after")
        other.run_until(lambda: other.done(sid))
        self.assertEqual(bytes(other.streams[sid]["body"]), b"a GET /after\n")

    def test_rapid_reset_counts_streams_that_follow_answered_ones(self):
        # The streams reset here reuse what 100 answered streams left: that those had responses
        # must not make these look answered (a reset of an answered stream is not counted).
        client = self.h2(self.wg.port)
        answered = [client.request(f"/{i}") for i in range(100)]
        client.run_until(lambda: client.done(*answered))
        # Past the limit (twice the 100 streams allowed at once) only if every reset counts.
        self.assert_resets_get_goaway(client, 250)

    def test_sigterm_sends_goaway_and_lets_streams_finish(self):
        goaway = self.held_stream(self.wg.port, self.a)
        self.wg.send_signal(signal.SIGTERM)
        goaway()
        self.assertEqual(self.wg.wait(), 0)


class ListenerRemovedTest(Http2TestCase):

    def test_a_listener_removed_by_reload_sends_goaway_and_lets_streams_finish(self):
        """Its connections drain as on SIGTERM (the process goes on serving elsewhere): a client
        hears GOAWAY and moves to a listener the config still has, and its stream under way
        is answered whole."""
        a = self.env.upstream("a")
        port, extra = free_port(), free_port()

        def config(with_extra):
            more = [{"name": "extra", "address": f"{HOST}:{extra}", "http2": True}]
            return proxy_config(port, {"a": [a.address]}, routes=HOSTS_ROUTES[:1],
                                listener={"http2": True}, more_listeners=more if with_extra else ())
        wg = self.env.waygate(config(True), port)
        wait_until(lambda: port_accepts(extra), message="the extra listener")
        goaway = self.held_stream(extra, a)
        wg.write_config(config(False))
        wg.send_signal(signal.SIGHUP)
        goaway()
        wait_until(lambda: connection_refused(extra), message="the extra listener gone")


class ClientGoneTest(Http2TestCase):

    def test_client_gone_with_responses_held_frees_its_connection(self):
        """A client that leaves while waygate holds response bytes it never let through (a window
        of 0) takes its connection's slot with it: h2load and browsers close connections with
        streams in flight all the time."""
        up = self.env.upstream("a")
        admin_port = free_port()
        # No timer may clean up after the fact: only the client's leaving ends the streams.
        wg = self.start({"a": up}, timeouts={"downstream_idle": "1h"},
                        top={"admin": {"address": f"{HOST}:{admin_port}"}})
        client = H2Client(wg.port, window=0)
        sids = [client.request(f"/held/{i}") for i in range(4)]
        # Each response's head came (HEADERS are not flow-controlled); its body stays in waygate.
        client.run_until(lambda: all(client.streams[s]["headers"] for s in sids))
        self.assertEqual(self.active_connections(admin_port), 1)
        client.close()
        wait_until(lambda: self.active_connections(admin_port) == 0,
                   message="the client's connection released")

    def test_client_gone_is_heard_by_a_stream_after_one_the_client_reset(self):
        """The stream the client reset heard that its client left; the next one, which reuses
        what that one left, must hear it again when the client goes."""
        up = self.env.upstream("a")
        admin_port = free_port()
        wg = self.start({"a": up}, timeouts={"downstream_idle": "1h"},
                        top={"admin": {"address": f"{HOST}:{admin_port}"}})
        self.addCleanup(up.release)
        client = self.h2(wg.port)
        first = client.request("/first/hold")
        wait_until(lambda: up.stats()["held"] == 1, message="the first stream held upstream")
        client.conn.reset_stream(first, h2.errors.ErrorCodes.CANCEL)
        # The reset stream finishes from the loop before waygate reads past the PING's answer.
        client.conn.ping(b"12345678")
        client.flush()
        client.run_until(lambda: client.ping_acks == 1)
        client.request("/second/hold")
        wait_until(lambda: up.stats()["held"] == 2, message="the second stream held upstream")
        self.assertEqual(self.active_connections(admin_port), 1)
        client.close()
        wait_until(lambda: self.active_connections(admin_port) == 0,
                   message="the client's connection released")

    @staticmethod
    def active_connections(admin_port):
        text = admin_request(admin_port, "GET", "/metrics").body.decode()
        return next(int(line.split()[1]) for line in text.splitlines()
                    if line.startswith("waygate_downstream_connections_active "))


class StreamTimeoutTest(Http2TestCase):

    def test_stalled_stream_times_out_alone_and_its_connection_goes_on(self):
        """downstream_idle holds for each stream: one whose client promised a body and sent none
        is reset when it runs out, while its connection stays open and serves the next stream."""
        up = self.env.upstream("a")
        wg = self.start({"a": up}, timeouts={"downstream_idle": "1s"})
        client = self.h2(wg.port)
        stalled = client.conn.get_next_available_stream_id()
        client.conn.send_headers(stalled, [(":method", "POST"), (":path", "/sink"),
                                           (":scheme", "http"), (":authority", "a.test"),
                                           ("content-length", "10")])
        client.streams[stalled] = {"headers": {}, "body": bytearray(), "ended": False,
                                   "reset": None, "unsent": bytearray()}
        client.flush()
        served = client.request("/served")
        client.run_until(lambda: client.done(stalled, served))
        self.assertEqual(client.streams[stalled]["reset"], h2.errors.ErrorCodes.INTERNAL_ERROR)
        self.assertEqual(bytes(client.streams[served]["body"]), b"a GET /served\n")
        after = client.request("/after")
        client.run_until(lambda: client.done(after))
        self.assertEqual(bytes(client.streams[after]["body"]), b"a GET /after\n")


class ListenerSettingTest(Http2TestCase):

    def test_plain_listener_without_http2_speaks_only_http1(self):
        up = self.env.upstream("a")
        wg = self.start({"a": up}, http2=None)
        r = curl(f"http://{HOST}:{wg.port}/x", "--http2-prior-knowledge")
        self.assertNotEqual(r.http_version, "2", r)
        self.assertEqual(curl(f"http://{HOST}:{wg.port}/x").status, 200)


class AlpnTest(Http2TestCase):

    def setUp(self):
        super().setUp()
        self.a = self.env.upstream("a")
        self.b = self.env.upstream("b")
        cert = certs.get("default")
        self.tls = {"certificates": [{"cert": cert.cert, "key": cert.key}]}

    def test_alpn_h2_by_default_with_many_streams_and_http1_beside(self):
        wg = self.start({"a": self.a, "b": self.b}, routes=HOSTS_ROUTES, http2=None, tls=self.tls)
        resolve = ["--resolve", f"a.test:{wg.port}:{HOST}"]
        urls = [f"https://a.test:{wg.port}/p{i}" for i in range(20)]
        out = subprocess.run([CURL_BIN, "-sS", "-k", "--http2", "--parallel", "--parallel-max",
                              "20", "-w", "%{http_version} %{local_port}\n", *resolve, *urls],
                             capture_output=True, timeout=IO_TIMEOUT + 5, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        bodies = sorted(line for line in lines if line.startswith("a "))
        self.assertEqual(bodies, sorted(f"a GET /p{i}" for i in range(20)))
        infos = {line for line in lines if not line.startswith("a ")}
        self.assertEqual(len(infos), 1, infos)  # one connection, HTTP/2 for all
        self.assertTrue(next(iter(infos)).startswith("2 "), infos)
        wg.wait_for_log(r'"GET /p19 HTTP/2" 200')
        old = curl(f"https://a.test:{wg.port}/old", "-k", "--http1.1", *resolve)
        self.assertEqual((old.http_version, old.body), ("1.1", b"a GET /old\n"), old)

    def test_streams_over_tls_go_to_their_hosts_with_forwarded_proto_https(self):
        wg = self.start({"a": self.a, "b": self.b}, routes=HOSTS_ROUTES, http2=None, tls=self.tls)
        client = self.h2(wg.port, tls=True)
        sids = [client.request("/headers", authority="ab"[i % 2] + ".test") for i in range(10)]
        client.run_until(lambda: client.done(*sids))
        for i, sid in enumerate(sids):
            stream = client.streams[sid]
            self.assertEqual(stream["headers"]["x-upstream-name"], "ab"[i % 2])
            seen = {n.lower(): v for n, v in json.loads(bytes(stream["body"]))["headers"]}
            self.assertEqual(seen["x-forwarded-proto"], "https")
            self.assertEqual(seen["host"], "ab"[i % 2] + ".test")

    def test_http2_false_offers_only_http1(self):
        wg = self.start({"a": self.a}, http2=False, tls=self.tls)
        r = curl(f"https://{HOST}:{wg.port}/x", "-k", "--http2")
        self.assertEqual((r.status, r.http_version), (200, "1.1"), r)


if __name__ == "__main__":
    unittest.main()
