"""Message framing through waygate: Content-Length, chunked, close-delimited, HEAD, 1xx."""

import os
import subprocess
import unittest

from harness import PatternChecker, WaygateTestCase, chunked, request


class FramingTest(WaygateTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("A")
        cls.wg = cls.start_proxy(cls.class_env, {"up": [cls.up.address]}, workers=1)

    def assertPatternBody(self, resp, n):
        self.assertEqual(len(resp.body), n, resp)
        checker = PatternChecker()
        checker(resp.body)
        self.assertIsNone(checker.mismatch_at, f"body differs at byte {checker.mismatch_at}")

    def test_content_length_request_body_is_echoed(self):
        body = os.urandom(100000)
        resp = self.get(self.wg.port, "/echo", method="POST", body=body)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, body)

    def test_chunked_request_body_is_echoed(self):
        conn = self.connect(self.wg.port)
        raw = (b"5\r\nhello\r\n"
               b"1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
               b"3;ext=1\r\n123\r\n"
               b"0\r\n\r\n")
        conn.send(request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")], body=raw))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, b"helloabcdefghijklmnopqrstuvwxyz123")

    def test_chunked_request_body_with_trailers_is_echoed(self):
        conn = self.connect(self.wg.port)
        body = chunked(b"abc", b"defg", trailers=b"X-Checksum: 42\r\n")
        conn.send(request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")], body=body))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, b"abcdefg")

    def test_chunked_request_body_sent_in_pieces_is_echoed(self):
        conn = self.connect(self.wg.port)
        conn.send(request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")], body=b""))
        pieces = [os.urandom(n) for n in (1, 1000, 70000, 3)]
        for p in pieces:
            conn.send(b"%x\r\n" % len(p))
            conn.send(p + b"\r\n")
        conn.send(b"0\r\n\r\n")
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, b"".join(pieces))

    def test_empty_chunked_request_body(self):
        conn = self.connect(self.wg.port)
        conn.send(request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")],
                          body=b"0\r\n\r\n"))
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, b""))

    def test_chunked_response_is_delivered(self):
        resp = self.get(self.wg.port, "/chunked?n=300000&chunk=1000")
        self.assertEqual(resp.status, 200, resp)
        self.assertPatternBody(resp, 300000)

    def test_chunked_response_to_http10_client_is_not_chunked(self):
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/chunked?n=50000&chunk=777", version="HTTP/1.0"))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertNotEqual(resp.framing, "chunked", "HTTP/1.0 clients cannot read chunked")
        self.assertPatternBody(resp, 50000)

    def test_chunked_response_echo(self):
        body = os.urandom(12345)
        resp = self.get(self.wg.port, "/echo-chunked", method="POST", body=body)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, body)

    def test_close_delimited_response_to_http11_client_is_chunked(self):
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/close-delimited?n=50000"))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.framing, "chunked", resp)
        self.assertPatternBody(resp, 50000)
        conn.send(request("GET", "/after"))
        self.assertEqual(conn.read_response().body, b"A GET /after\n",
                         "the client connection stays usable after a re-framed response")

    def test_close_delimited_response_to_http10_client_is_closed(self):
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/close-delimited?n=50000", version="HTTP/1.0"))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertNotEqual(resp.framing, "chunked", resp)
        self.assertPatternBody(resp, 50000)
        self.assertTrue(conn.is_closed())

    def test_head_response_has_no_body(self):
        conn = self.connect(self.wg.port)
        conn.send(request("HEAD", "/bytes?n=1000") + request("GET", "/next"))
        head = conn.read_response("HEAD")
        self.assertEqual(head.status, 200, head)
        self.assertEqual(head.header("content-length"), "1000")
        self.assertEqual(head.body, b"")
        self.assertEqual(conn.read_response().body, b"A GET /next\n")

    def test_head_of_chunked_response_has_no_body(self):
        conn = self.connect(self.wg.port)
        conn.send(request("HEAD", "/chunked?n=1000") + request("GET", "/next"))
        head = conn.read_response("HEAD")
        self.assertEqual((head.status, head.body), (200, b""))
        self.assertEqual(conn.read_response().body, b"A GET /next\n")

    def test_204_and_304_responses_have_no_body(self):
        conn = self.connect(self.wg.port)
        conn.send(request("GET", "/status?code=204") + request("GET", "/status?code=304")
                  + request("GET", "/next"))
        self.assertEqual(conn.read_response().status, 204)
        self.assertEqual(conn.read_response().status, 304)
        self.assertEqual(conn.read_response().body, b"A GET /next\n")

    def test_non_200_upstream_status_is_passed_through(self):
        for code in (201, 302, 404, 418, 500, 503):
            resp = self.get(self.wg.port, f"/status?code={code}")
            self.assertEqual(resp.status, code, resp)
            self.assertEqual(resp.body, f"status {code}\n".encode())
            self.assertEqual(resp.header("x-upstream-name"), "A")

    def test_expect_100_continue_gets_interim_response_before_body(self):
        conn = self.connect(self.wg.port)
        body = b"sent after 100"
        conn.send(request("POST", "/echo", body=None,
                          headers=[("Content-Length", str(len(body))),
                                   ("Expect", "100-continue")]))
        interim = conn.read_response(skip_continue=False)
        self.assertEqual(interim.status, 100, interim)
        self.assertEqual(interim.version, "HTTP/1.1")
        conn.send(body)
        final = conn.read_response()
        self.assertEqual(final.status, 200, final)
        self.assertEqual(final.body, body)

    def test_expect_100_continue_with_chunked_body(self):
        conn = self.connect(self.wg.port)
        conn.send(request("POST", "/echo", headers=[("Transfer-Encoding", "chunked"),
                                                    ("Expect", "100-continue")]))
        interim = conn.read_response(skip_continue=False)
        self.assertEqual(interim.status, 100, interim)
        conn.send(chunked(b"chunked ", b"after 100"))
        final = conn.read_response()
        self.assertEqual((final.status, final.body), (200, b"chunked after 100"))

    def test_curl_chunked_upload_is_echoed(self):
        body = os.urandom(200000)
        out = subprocess.run(["curl", "-sS", "--fail", "-T", "-", "-X", "POST",
                              f"http://127.0.0.1:{self.wg.port}/echo"],
                             input=body, capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, body)

    def test_curl_http10(self):
        out = subprocess.run(["curl", "-sS", "--fail", "--http1.0",
                              f"http://127.0.0.1:{self.wg.port}/ten"],
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, b"A GET /ten\n")

    def test_query_string_and_encoded_target_are_passed_verbatim(self):
        # Escapes that are not unreserved characters stay as they came; the query is not touched.
        # (Encoded slashes are refused by default: test_request_target covers them.)
        target = "/path%20with/%C3%A9?a=1&b=%20x&c=%E2%82%AC&d=%2f"
        resp = self.get(self.wg.port, target)
        self.assertEqual(resp.body, f"A GET {target}\n".encode())


if __name__ == "__main__":
    unittest.main()
