"""Strict parsing of request lines and fields (RFC 9110/9112): what is refused, with which status,
and that each refusal closes the connection and leaves an access-log line naming the error.

The only route is "*", so a request with a Host that is not a valid host[:port] would reach the
upstream if waygate let it fall through to that route.
"""

import re
import unittest

from harness import ConnectionClosed, WaygateTestCase, request, wait_until

LOGGED_ERROR = r"error=(?!-)\S+"


def raw_request(head_lines, body=b""):
    """A request from raw head lines (bytes), CRLF-joined."""
    return b"\r\n".join(head_lines) + b"\r\n\r\n" + body


def many_headers(count):
    """A request with count header fields in all, Host included."""
    return request("GET", "/many", headers=[(f"X-H{i}", "v") for i in range(count - 1)])


class WireStrictnessTest(WaygateTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("A")
        cls.wg = cls.start_proxy(cls.class_env, {"up": [cls.up.address]}, workers=1)

    def count_log(self, status):
        rx = re.compile(rf'" {status} .*{LOGGED_ERROR}')
        return sum(1 for line in self.wg.log_lines() if rx.search(line))

    def assertRefused(self, raw, status=400):
        """raw gets a generated status, is not forwarded, closes the connection and is logged
        with an error."""
        before = self.count_log(status)
        forwarded = self.up.stats()["requests"]
        conn = self.connect(self.wg.port)
        conn.send(raw)
        try:
            resp = conn.read_response()
        except ConnectionClosed as e:
            self.fail(f"closed without a {status} response; sent {raw[:200]!r}: {e}")
        self.assertErrorResponse(resp, status)
        self.assertTrue(conn.is_closed(), f"connection left open after {status}")
        self.assertEqual(self.up.stats()["requests"], forwarded, "the request was forwarded")
        try:
            wait_until(lambda: self.count_log(status) > before, timeout=5, interval=0.05)
        except AssertionError:
            self.fail(f"no access-log line with {status} and an error; log tail:\n"
                      + "\n".join(self.wg.log_lines()[-5:]))

    def assertForwarded(self, raw):
        conn = self.connect(self.wg.port)
        conn.send(raw)
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)

    # -- field names and values --

    def test_header_name_with_at_sign_is_400(self):
        """A header name with '@' (not a token character) is refused."""
        self.assertRefused(raw_request([b"GET /h HTTP/1.1", b"Host: proxy.test", b"X-Foo@: 1"]))

    def test_header_name_with_braces_is_400(self):
        """A header name with '{' and '}' (not token characters) is refused."""
        self.assertRefused(raw_request([b"GET /h HTTP/1.1", b"Host: proxy.test", b"X{}: 1"]))

    def test_header_value_with_control_character_is_400(self):
        """A header value holding \\x01 is refused."""
        self.assertRefused(raw_request([b"GET /h HTTP/1.1", b"Host: proxy.test",
                                        b"X-Ctl: a\x01b"]))

    def test_header_value_with_delete_character_is_400(self):
        """A header value holding \\x7f (DEL) is refused."""
        self.assertRefused(raw_request([b"GET /h HTTP/1.1", b"Host: proxy.test",
                                        b"X-Del: a\x7fb"]))

    def test_header_value_with_tab_is_accepted(self):
        """A horizontal tab inside a header value is allowed."""
        self.assertForwarded(raw_request([b"GET /h HTTP/1.1", b"Host: proxy.test",
                                          b"X-Tab: a\tb"]))

    # -- Host --

    def test_host_with_a_space_is_400(self):
        """Host: exa mple.test is refused rather than routed to "*"."""
        self.assertRefused(request("GET", "/h", host="exa mple.test"))

    def test_empty_host_on_http11_is_400(self):
        """An empty Host on an HTTP/1.1 request is refused rather than routed to "*"."""
        self.assertRefused(raw_request([b"GET /h HTTP/1.1", b"Host:"]))

    def test_host_with_port_out_of_range_is_400(self):
        """Host: a.test:99999 is refused rather than routed to "*"."""
        self.assertRefused(request("GET", "/h", host="a.test:99999"))

    def test_host_with_non_numeric_port_is_400(self):
        """Host: a.test:abc is refused rather than routed to "*"."""
        self.assertRefused(request("GET", "/h", host="a.test:abc"))

    # -- request line --

    def test_http20_request_line_is_505(self):
        """GET / HTTP/2.0 gets 505 HTTP Version Not Supported."""
        self.assertRefused(request("GET", "/h", version="HTTP/2.0"), 505)

    def test_tab_in_request_target_is_400(self):
        """A tab inside the request target is refused."""
        self.assertRefused(raw_request([b"GET /a\tb HTTP/1.1", b"Host: proxy.test"]))

    def test_byte_above_0x7e_in_request_target_is_400(self):
        """A byte above 0x7E in the request target is refused."""
        self.assertRefused(raw_request([b"GET /caf\xe9 HTTP/1.1", b"Host: proxy.test"]))

    # -- header count --

    def test_100_request_headers_are_accepted(self):
        """A request with 100 header fields is forwarded."""
        self.assertForwarded(many_headers(100))

    def test_more_than_100_request_headers_is_431(self):
        """A request with 101 header fields gets 431."""
        self.assertRefused(many_headers(101), 431)

    # -- HTTP/1.0 with Transfer-Encoding --

    def test_http10_chunked_request_is_answered_then_the_connection_closed(self):
        """An HTTP/1.0 request with Transfer-Encoding is answered, then its connection closed."""
        conn = self.connect(self.wg.port)
        conn.send(request("POST", "/echo", version="HTTP/1.0",
                          headers=[("Connection", "keep-alive"),
                                   ("Transfer-Encoding", "chunked")],
                          body=b"5\r\nhello\r\n0\r\n\r\n"))
        resp = conn.read_response("POST")
        self.assertEqual((resp.status, resp.body), (200, b"hello"), resp)
        self.assertTrue(conn.is_closed(), "keep-alive honoured despite Transfer-Encoding")


class RequestHeaderLimitTest(WaygateTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("A")
        cls.wg = cls.start_proxy(cls.class_env, {"up": [cls.up.address]}, workers=1,
                                 limits={"max_request_headers": 200})

    def test_max_request_headers_raises_the_header_count_limit(self):
        """With limits.max_request_headers: 200, a request with 150 header fields is forwarded."""
        conn = self.connect(self.wg.port)
        conn.send(many_headers(150))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)


if __name__ == "__main__":
    unittest.main()
