"""HTTP/2 abuse (issue 20): the known floods each close the offending connection with GOAWAY
(ENHANCE_YOUR_CALM) and a log line, while another client's connection is served; an HPACK bomb
is refused on its own stream (431) and the connection goes on.

The frames are written by hand (RFC 9113 section 4.1 layout), with Debian's hpack for header
blocks: python3-h2 will not send what these clients send.
"""

import socket
import struct
import sys
import unittest

try:
    import hpack  # noqa: F401
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")  # Debian's python3-hpack, as test_http2
import hpack  # noqa: E402

from harness import HOST, IO_TIMEOUT, WaygateTestCase, proxy_config, free_port  # noqa: E402

DATA, HEADERS, PRIORITY, SETTINGS, PING, GOAWAY, CONTINUATION = 0, 1, 2, 4, 6, 7, 9
END_STREAM, END_HEADERS = 0x1, 0x4
ENHANCE_YOUR_CALM = 0xB
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) \
        + payload


class RawH2:
    """One HTTP/2 connection written frame by frame."""

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))

    def close(self):
        self.sock.close()

    def request_block(self, path="/", extra=()):
        return self.encoder.encode([(":method", "GET"), (":path", path), (":scheme", "http"),
                                    (":authority", "a.test"), *extra])

    def send(self, data):
        """Sends; a server that closed on us part way is what some tests want."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def frames_until_closed(self):
        """Every frame the server sent until it closed the connection: [(type, stream, payload)]."""
        data = b""
        try:
            while chunk := self.sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
        frames, at = [], 0
        while at + 9 <= len(data):
            length = int.from_bytes(data[at:at + 3], "big")
            kind, stream = data[at + 3], int.from_bytes(data[at + 5:at + 9], "big") & 0x7FFFFFFF
            frames.append((kind, stream, data[at + 9:at + 9 + length]))
            at += 9 + length
        return frames

    def response(self, stream):
        """Reads until stream's response head; its fields as a dict."""
        data = b""
        while True:
            while len(data) < 9 or len(data) < 9 + int.from_bytes(data[:3], "big"):
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise AssertionError(f"the server closed the connection before stream {stream}")
                data += chunk
            length = int.from_bytes(data[:3], "big")
            kind, sid = data[3], int.from_bytes(data[5:9], "big") & 0x7FFFFFFF
            payload, data = data[9:9 + length], data[9 + length:]
            if kind == HEADERS:
                fields = dict(self.decoder.decode(payload))
                if sid == stream:
                    return fields


class Http2AbuseTest(WaygateTestCase):

    def setUp(self):
        super().setUp()
        self.up = self.env.upstream("a")
        port = free_port()
        self.wg = self.env.waygate(proxy_config(port, {"a": [self.up.address]},
                                                listener={"http2": True}), port)

    def raw(self):
        client = RawH2(self.wg.port)
        self.addCleanup(client.close)
        return client

    def assert_flood_refused(self, flood, log_regex):
        """flood(client) abuses one connection: it gets GOAWAY ENHANCE_YOUR_CALM and is closed,
        with a log line, while a connection opened before it is served after it."""
        bystander = self.raw()
        client = self.raw()
        flood(client)
        frames = client.frames_until_closed()
        goaways = [payload for kind, _, payload in frames if kind == GOAWAY]
        self.assertTrue(goaways, f"no GOAWAY among {[kind for kind, _, _ in frames]}")
        self.assertEqual(int.from_bytes(goaways[-1][4:8], "big"), ENHANCE_YOUR_CALM)
        self.wg.wait_for_stderr(log_regex)
        bystander.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, bystander.request_block("/b")))
        self.assertEqual(bystander.response(1)[":status"], "200")

    def test_continuation_flood(self):
        def flood(client):
            client.send(frame(HEADERS, 0, 1, client.request_block()))
            client.send(frame(CONTINUATION, 0, 1) * 10000)
        self.assert_flood_refused(flood, r"http2: closing the connection from 127\.0\.0\.1: "
                                         r"reading: Too many CONTINUATION frames")

    def test_ping_flood(self):
        # A client that never reads the PING acks it asks for.
        self.assert_flood_refused(lambda c: c.send(frame(PING, 0, 0, b"12345678") * 100000),
                                  r"http2: closing the connection from 127\.0\.0\.1: reading: "
                                  r"Flooding was detected")

    def test_settings_flood(self):
        self.assert_flood_refused(lambda c: c.send(frame(SETTINGS, 0, 0) * 100000),
                                  r"http2: closing the connection from 127\.0\.0\.1: reading: "
                                  r"Flooding was detected")

    def test_priority_flood(self):
        priority = frame(PRIORITY, 0, 3, b"\x00\x00\x00\x01\x10")
        self.assert_flood_refused(lambda c: c.send(priority * 100000),
                                  r"http2: 127\.0\.0\.1 sent \d+ PRIORITY frames for 0 streams "
                                  r"\(a flood\): closing the connection")

    def test_empty_data_flood(self):
        def flood(client):
            client.send(frame(HEADERS, END_HEADERS, 1, client.request_block()))
            client.send(frame(DATA, 0, 1) * 100000)
        self.assert_flood_refused(flood, r"http2: 127\.0\.0\.1 sent \d+ empty DATA frames in a row "
                                         r"\(a flood\): closing the connection")

    def test_hpack_bomb_is_431_on_its_stream_and_the_connection_goes_on(self):
        client = self.raw()
        # One 4,000-byte field put in the dynamic table, then named again by one byte 1,000 times:
        # 4 MB of fields from 5 KB on the wire.
        bomb = client.request_block("/bomb") + client.encoder.encode([("b", "v" * 4000)]) \
            + b"\xbe" * 1000
        client.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, bomb))
        self.assertEqual(client.response(1)[":status"], "431")
        self.wg.wait_for_stderr(r"http2: refused stream 1 from 127\.0\.0\.1 with 431: header list "
                                r"past max_header_bytes")
        client.send(frame(HEADERS, END_HEADERS | END_STREAM, 3, client.request_block("/after")))
        self.assertEqual(client.response(3)[":status"], "200")
        self.assertEqual(self.up.stats()["requests"], 1)  # /after only


if __name__ == "__main__":
    unittest.main()
