"""Every status waygate produces itself: the status, a text/plain body and an access-log line.

One waygate serves the whole module; each test waits for its own access-log line, so the next
test's count starts from a settled log.
"""

import re
import unittest

from harness import (ConnectionClosed, WaygateTestCase, chunked, refusing_address, request,
                     wait_until)


def _routes():
    def path(prefix, cluster, **extra):
        return dict({"prefix": prefix, "cluster": cluster}, **extra)
    return [{"hosts": ["proxy.test"], "paths": [
        path("/small/", "up", max_body_bytes=100),
        path("/big/", "up", max_body_bytes="10KiB"),
        path("/timeout/", "up", timeout="300ms"),
        path("/empty/", "empty"),
        path("/refused/", "refused"),
        {"exact": "/exact", "cluster": "up"},
        path("/up/", "up"),
    ]}]


class ErrorStatusTest(WaygateTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = cls.class_env.upstream("A")
        clusters = {"up": [cls.up.address], "empty": [],
                    "refused": [refusing_address()]}
        cls.wg = cls.start_proxy(cls.class_env, clusters, routes=_routes(), workers=1,
                                 limits={"max_header_bytes": "4KiB", "max_uri_bytes": "1KiB",
                                         "max_body_bytes": "1KiB"})

    # -- helpers ---------------------------------------------------------------------------------

    def log_pattern(self, status, error):
        return re.compile(rf'" {status} .*error={error}')

    def count_log(self, status, error):
        rx = self.log_pattern(status, error)
        return sum(1 for line in self.wg.log_lines() if rx.search(line))

    def exchange(self, raw, status, error, closes=False, method="GET"):
        """Sends raw on a new connection; asserts the error response and its access-log line."""
        before = self.count_log(status, error)
        requests_before = self.up.stats()["requests"]
        conn = self.connect(self.wg.port)
        conn.send(raw)
        try:
            resp = conn.read_response(method, skip_continue=False)
        except ConnectionClosed as e:
            self.fail(f"connection closed without a {status} response; sent {raw[:300]!r}: {e}")
        self.assertErrorResponse(resp, status)
        if closes:
            self.assertTrue(conn.is_closed(), f"connection should be closed after {status}")
        self.wait_log_count(status, error, before + 1)
        return resp, self.up.stats()["requests"] - requests_before

    def wait_log_count(self, status, error, count):
        try:
            wait_until(lambda: self.count_log(status, error) >= count, timeout=5, interval=0.05)
        except AssertionError:
            self.fail(f"no access-log line with status {status} and error={error}; log tail:\n"
                      + "\n".join(self.wg.log_lines()[-10:]))

    def assertBadRequest(self, raw, head_is_malformed=True, error="malformed"):
        _, forwarded = self.exchange(raw, 400, error, closes=True)
        if head_is_malformed:  # a bad body may be found after the head went upstream
            self.assertEqual(forwarded, 0, "a malformed request must not reach the upstream")

    # -- 400 -------------------------------------------------------------------------------------

    def test_content_length_with_transfer_encoding_is_400(self):
        self.assertBadRequest(
            b"POST /up/echo HTTP/1.1\r\nHost: proxy.test\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")

    def test_two_content_lengths_are_400(self):
        self.assertBadRequest(
            b"POST /up/echo HTTP/1.1\r\nHost: proxy.test\r\nContent-Length: 5\r\n"
            b"Content-Length: 6\r\n\r\nhello!")

    def test_non_numeric_content_length_is_400(self):
        self.assertBadRequest(
            b"POST /up/echo HTTP/1.1\r\nHost: proxy.test\r\nContent-Length: 5x\r\n\r\nhello")

    def test_bad_chunk_size_is_400(self):
        self.assertBadRequest(
            b"POST /up/echo HTTP/1.1\r\nHost: proxy.test\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"zz\r\nhello\r\n0\r\n\r\n", head_is_malformed=False)

    def test_overflowing_chunk_size_is_400(self):
        self.assertBadRequest(
            b"POST /up/echo HTTP/1.1\r\nHost: proxy.test\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"10000000000000000000001\r\nhello\r\n0\r\n\r\n", head_is_malformed=False)

    def test_unknown_transfer_coding_is_400(self):
        self.assertBadRequest(
            b"POST /up/echo HTTP/1.1\r\nHost: proxy.test\r\nTransfer-Encoding: gzip\r\n\r\n"
            b"hello")

    def test_obs_fold_header_is_400(self):
        self.assertBadRequest(
            b"GET /up/fold HTTP/1.1\r\nHost: proxy.test\r\nX-Folded: first\r\n  second\r\n\r\n")

    def test_whitespace_before_colon_is_400(self):
        self.assertBadRequest(
            b"GET /up/space HTTP/1.1\r\nHost: proxy.test\r\nX-Space : value\r\n\r\n")

    def test_http11_without_host_is_400(self):
        self.assertBadRequest(b"GET /up/nohost HTTP/1.1\r\nAccept: */*\r\n\r\n",
                              error="missing-host")

    def test_two_host_headers_are_400(self):
        # RFC 9112 section 3.2: a request with more than one Host field MUST get 400.
        self.assertBadRequest(
            b"GET /up/hosts HTTP/1.1\r\nHost: proxy.test\r\nHost: other.test\r\n\r\n")

    def test_garbage_request_line_is_400(self):
        self.assertBadRequest(b"THIS IS NOT HTTP\r\n\r\n")

    # -- 404 -------------------------------------------------------------------------------------

    def test_unknown_host_is_404(self):
        _, forwarded = self.exchange(request("GET", "/up/x", host="other.test"), 404,
                                     "no-route")
        self.assertEqual(forwarded, 0)

    def test_unknown_path_is_404(self):
        self.exchange(request("GET", "/nothing/here"), 404, "no-route")

    def test_exact_path_does_not_match_longer_path(self):
        self.assertEqual(self.get(self.wg.port, "/exact").status, 200)
        self.exchange(request("GET", "/exact/more"), 404, "no-route")

    # -- 413 -------------------------------------------------------------------------------------

    def test_body_over_max_body_bytes_is_413(self):
        self.exchange(request("POST", "/up/echo", body=b"x" * 2000), 413, r"(?!-)\S+")

    def test_body_at_max_body_bytes_is_accepted(self):
        resp = self.get(self.wg.port, "/up/echo", method="POST", body=b"y" * 1024)
        self.assertEqual((resp.status, resp.body), (200, b"y" * 1024))

    def test_chunked_body_over_max_body_bytes_is_413(self):
        body = chunked(b"a" * 700, b"b" * 700)
        self.exchange(request("POST", "/up/echo", headers=[("Transfer-Encoding", "chunked")],
                              body=body), 413, r"(?!-)\S+")

    def test_route_max_body_bytes_lowers_the_limit(self):
        resp = self.get(self.wg.port, "/small/echo", method="POST", body=b"z" * 100)
        self.assertEqual((resp.status, resp.body), (200, b"z" * 100))
        self.exchange(request("POST", "/small/echo", body=b"z" * 101), 413, r"(?!-)\S+")

    def test_route_max_body_bytes_raises_the_limit(self):
        resp = self.get(self.wg.port, "/big/echo", method="POST", body=b"w" * 5000)
        self.assertEqual((resp.status, resp.body), (200, b"w" * 5000))

    def test_expect_100_continue_with_too_large_body_is_413_without_continue(self):
        raw = request("POST", "/up/echo", headers=[("Content-Length", "5000"),
                                                   ("Expect", "100-continue")])
        _, forwarded = self.exchange(raw, 413, r"(?!-)\S+")
        self.assertEqual(forwarded, 0)

    # -- 414 / 431 -------------------------------------------------------------------------------

    def test_uri_over_max_uri_bytes_is_414(self):
        _, forwarded = self.exchange(request("GET", "/up/" + "a" * 2000), 414, r"(?!-)\S+")
        self.assertEqual(forwarded, 0)

    def test_uri_under_max_uri_bytes_is_accepted(self):
        target = "/up/" + "a" * 900
        resp = self.get(self.wg.port, target)
        self.assertEqual((resp.status, resp.body), (200, f"A GET {target}\n".encode()))

    def test_huge_header_over_max_header_bytes_is_431(self):
        _, forwarded = self.exchange(
            request("GET", "/up/big-header", headers=[("X-Big", "b" * 5000)]), 431,
            r"(?!-)\S+")
        self.assertEqual(forwarded, 0)

    def test_many_headers_over_max_header_bytes_are_431(self):
        headers = [(f"X-H{i}", "v" * 50) for i in range(100)]
        self.exchange(request("GET", "/up/many-headers", headers=headers), 431, r"(?!-)\S+")

    def test_header_under_max_header_bytes_is_accepted(self):
        resp = self.get(self.wg.port, "/up/ok-header", headers=[("X-Big", "b" * 2000)])
        self.assertEqual(resp.status, 200, resp)

    # -- 502 / 503 / 504 -------------------------------------------------------------------------

    def test_refused_upstream_is_502(self):
        resp, _ = self.exchange(request("GET", "/refused/x"), 502, "upstream-refused")
        self.assertEqual(resp.body, b"502 Bad Gateway\n")

    def test_malformed_upstream_response_is_502(self):
        self.exchange(request("GET", "/up/garbage"), 502, r"(?!-)\S+")

    def test_upstream_reset_before_response_is_502(self):
        self.exchange(request("GET", "/up/reset"), 502, r"(?!-)\S+")

    def test_cluster_without_endpoints_is_503(self):
        self.exchange(request("GET", "/empty/x"), 503, r"(?!-)\S+")

    def test_route_timeout_is_504(self):
        self.exchange(request("GET", "/timeout/slow?delay=3"), 504, "upstream-timeout")

    def test_error_responses_keep_the_proxy_serving(self):
        self.exchange(request("GET", "/refused/x"), 502, "upstream-refused")
        resp = self.get(self.wg.port, "/up/still-fine")
        self.assertEqual((resp.status, resp.body), (200, b"A GET /up/still-fine\n"))


if __name__ == "__main__":
    unittest.main()
