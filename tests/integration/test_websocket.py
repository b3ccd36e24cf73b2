"""WebSocket upgrade through waygate: handshake, then a byte tunnel both ways."""

import base64
import hashlib
import os
import unittest

from harness import WaygateTestCase, request
from upstream import Reader, WS_GUID, ws_frame, ws_read_frame


class WebSocketTest(WaygateTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("A")
        cls.wg = cls.start_proxy(cls.class_env, {"up": [cls.up.address]}, workers=1)

    def handshake(self, target="/ws"):
        """Opens a WebSocket through waygate; returns (connection, frame reader)."""
        conn = self.connect(self.wg.port)
        key = base64.b64encode(os.urandom(16)).decode()
        conn.send(request("GET", target, headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]))
        resp = conn.read_response()
        self.assertEqual(resp.status, 101, resp)
        self.assertEqual((resp.header("upgrade") or "").lower(), "websocket", resp)
        self.assertIn("upgrade", resp.connection_tokens(), resp)
        expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.assertEqual(resp.header("sec-websocket-accept"), expected)
        reader = Reader(conn.sock)
        reader.buf = conn.buf  # bytes that arrived with the 101 belong to the tunnel
        return conn, reader

    def test_websocket_echo_through_tunnel(self):
        conn, reader = self.handshake()
        conn.send(ws_frame(0x1, b"hello waygate", mask=os.urandom(4)))
        self.assertEqual(ws_read_frame(reader), (0x1, b"hello waygate"))

    def test_websocket_frames_of_every_length_encoding(self):
        conn, reader = self.handshake()
        for size in (0, 125, 126, 65535, 65536, 300000):
            payload = os.urandom(size)
            conn.send(ws_frame(0x2, payload, mask=os.urandom(4)))
            opcode, echoed = ws_read_frame(reader)
            self.assertEqual(opcode, 0x2)
            self.assertEqual(echoed, payload, f"payload of {size} bytes")

    def test_websocket_many_frames_in_one_write(self):
        conn, reader = self.handshake()
        messages = [f"message {i}".encode() for i in range(50)]
        conn.send(b"".join(ws_frame(0x1, m, mask=os.urandom(4)) for m in messages))
        for m in messages:
            self.assertEqual(ws_read_frame(reader), (0x1, m))

    def test_websocket_ping_gets_pong(self):
        conn, reader = self.handshake()
        conn.send(ws_frame(0x9, b"ping?", mask=os.urandom(4)))
        self.assertEqual(ws_read_frame(reader), (0xA, b"ping?"))

    def test_websocket_close_handshake_closes_connection(self):
        conn, reader = self.handshake()
        conn.send(ws_frame(0x8, b"\x03\xe8bye", mask=os.urandom(4)))
        self.assertEqual(ws_read_frame(reader), (0x8, b"\x03\xe8bye"))
        self.assertTrue(conn.is_closed(), "waygate should close the client side when the "
                                          "upstream closes the tunnel")

    def test_refused_upgrade_is_delivered_as_plain_response(self):
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/not-ws", headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", base64.b64encode(os.urandom(16)).decode()),
            ("Sec-WebSocket-Version", "13")]))
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"A GET /not-ws\n"))
        if "close" in resp.connection_tokens():
            self.assertTrue(conn.is_closed())
        else:  # kept open: it must still speak HTTP/1.1
            conn.send(request("GET", "/plain"))
            self.assertEqual(conn.read_response().body, b"A GET /plain\n")

    def test_websocket_and_http_clients_at_once(self):
        conn, reader = self.handshake()
        resp = self.get(self.wg.port, "/meanwhile")
        self.assertEqual(resp.status, 200)
        conn.send(ws_frame(0x1, b"still here", mask=os.urandom(4)))
        self.assertEqual(ws_read_frame(reader), (0x1, b"still here"))


if __name__ == "__main__":
    unittest.main()
