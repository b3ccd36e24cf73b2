"""Differential framing: ambiguous messages through waygate, judged by what the other side records.

Requests: waygate sits in front of a recording upstream (recording_upstream.py) that keeps the exact
bytes of every connection. For each request in REQUEST_CASES, waygate either refuses it (the
listed 4xx, the connection closed, and no whole request at the upstream), or the upstream receives
exactly the requests a strict reading gives, each well framed (strict_http parses the recorded
bytes: the expected bodies, nothing left over that could be a request of its own). A sentinel
request after each case proves that no hidden response or request is still in the pipe.

Responses: an upstream answers with ambiguous framing (RESPONSE_CASES). The client must get one
response that a strict parser reads (or a 502), never a second one or bytes that leak into the
next response, and the next request, on the same client connection and on a new one through the
pooled upstream connection, must get its own answer.
"""

import unittest

import strict_http
from harness import ConnectionClosed, WaygateTestCase, wait_until
from recording_upstream import RecordingUpstream, default_body

CASE_TIMEOUT = 5.0


# -- building requests ---------------------------------------------------------------------------

def msg(start, *fields, body=b"", host=b"Host: proxy.test"):
    """A request from its start line and field lines (bytes), with Host first unless host=None;
    CRLF line ends."""
    lines = [start] + ([host] if host else []) + list(fields)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def post(*fields, body=b"", target=b"/p"):
    return msg(b"POST " + target + b" HTTP/1.1", *fields, body=body)


def get(target=b"/g", *fields):
    return msg(b"GET " + target + b" HTTP/1.1", *fields)


CHUNKED = b"Transfer-Encoding: chunked"
HELLO_CHUNKED = b"5\r\nhello\r\n0\r\n\r\n"
# A body that is itself a request: forwarded as data, it must never become a request upstream.
INNER = b"GET /smuggled HTTP/1.1\r\nHost: proxy.test\r\n\r\n"


# -- reading responses ---------------------------------------------------------------------------

def read_response(conn, method="GET"):
    """The next final response on conn, parsed strictly (1xx skipped); ConnectionClosed at the
    end of the stream, AssertionError when the bytes break the grammar."""
    data = bytearray(conn.buf)
    conn.buf = bytearray()
    while True:
        try:
            resp, used = strict_http.parse_response(data, method)
            data = data[used:]
            if resp.status >= 200:
                conn.buf = data
                return resp
            continue
        except strict_http.Incomplete:
            pass
        except strict_http.Malformed as e:
            raise AssertionError(f"waygate's response does not parse strictly ({e}): "
                                 f"{bytes(data)!r}")
        chunk = conn.recv_raw()
        if not chunk:
            raise ConnectionClosed(f"closed with {bytes(data)[:300]!r} unread")
        data += chunk


# -- what may happen -------------------------------------------------------------------------------

class Forwarded:
    """One request the upstream must receive, well framed, and whose answer the client gets."""

    def __init__(self, method, target, body=b"", host="proxy.test"):
        self.method, self.target, self.body, self.host = method, target, body, host

    def key(self):
        return (self.method, self.target, self.body)

    def answer(self):
        return default_body(self.method, self.target, self.body)

    def __repr__(self):
        return f"forwarded {self.method} {self.target} body={self.body!r}"


class Refused:
    """A status of waygate's own; with closes, the connection ends after it."""

    def __init__(self, statuses, closes=True):
        self.statuses, self.closes = set(statuses), closes

    def __repr__(self):
        return f"refused {sorted(self.statuses)}"


class Outcome:
    def __init__(self, steps, closes=False):
        self.steps = steps
        # The connection ends after the last step (a refusal that closes, or a response that
        # must close the connection).
        self.closes = closes or (bool(steps) and isinstance(steps[-1], Refused)
                                 and steps[-1].closes)

    def forwarded(self):
        return [s for s in self.steps if isinstance(s, Forwarded)]

    def __repr__(self):
        return " then ".join(map(repr, self.steps)) + (", then closed" if self.closes else "")


def fwd(*steps, closes=False):
    """The request(s) must be forwarded: each Forwarded or ("METHOD", "/target", body)."""
    return [Outcome([s if isinstance(s, (Forwarded, Refused)) else Forwarded(*s) for s in steps],
                    closes)]


def refuse(*statuses, closes=True):
    return [Outcome([Refused(statuses, closes)])]


def either(*outcome_lists):
    return [o for outcomes in outcome_lists for o in outcomes]


P_HELLO = ("POST", "/p", b"hello")

# name, raw request bytes, what may happen, why
REQUEST_CASES = [
    # -- Content-Length and Transfer-Encoding together, and Transfer-Encoding variants --
    ("cl-and-te", post(b"Content-Length: 5", CHUNKED, body=HELLO_CHUNKED),
     refuse(400), "the classic CL.TE desync; RFC 9112 6.1 and docs: 400"),
    ("te-and-cl", post(CHUNKED, b"Content-Length: 5", body=HELLO_CHUNKED),
     refuse(400), "TE.CL in the other order"),
    ("cl-and-te-hiding-a-request", post(b"Content-Length: 53", CHUNKED,
                                        body=b"0\r\n\r\n" + INNER),
     refuse(400), "the TE reading finds a second request inside the CL reading's body"),
    ("te-chunked-chunked", post(b"Transfer-Encoding: chunked, chunked", body=HELLO_CHUNKED),
     either(refuse(400, 501), fwd(P_HELLO)), "chunked applied twice (RFC 9112 6.1 forbids it)"),
    ("te-two-chunked-fields", post(CHUNKED, CHUNKED, body=HELLO_CHUNKED),
     either(refuse(400, 501), fwd(P_HELLO)), "the same as a list, in two fields"),
    ("te-identity", post(b"Transfer-Encoding: identity", body=b"hello"),
     refuse(400, 501), "identity is no longer a transfer coding; the length is unknown"),
    ("te-identity-with-cl", post(b"Transfer-Encoding: identity", b"Content-Length: 5",
                                 body=b"hello"),
     refuse(400, 501), "a proxy that drops identity would read CL, another TE"),
    ("te-xchunked", post(b"Transfer-Encoding: xchunked", body=HELLO_CHUNKED),
     refuse(400, 501), "not chunked, whatever a substring match says"),
    ("te-chunkedx", post(b"Transfer-Encoding: chunkedx", body=HELLO_CHUNKED),
     refuse(400, 501), "not chunked either"),
    ("te-leading-space", post(b"Transfer-Encoding:  chunked", body=HELLO_CHUNKED),
     fwd(P_HELLO), "optional whitespace before a value is allowed"),
    ("te-trailing-space", post(b"Transfer-Encoding: chunked ", body=HELLO_CHUNKED),
     fwd(P_HELLO), "and after it"),
    ("te-tab-before-value", post(b"Transfer-Encoding:\tchunked", body=HELLO_CHUNKED),
     fwd(P_HELLO), "a tab is optional whitespace too"),
    ("te-vertical-tab", post(b"Transfer-Encoding: chunked\x0b", body=HELLO_CHUNKED),
     refuse(400), "\\x0b is not whitespace but a control byte"),
    ("te-form-feed", post(b"Transfer-Encoding: \x0cchunked", body=HELLO_CHUNKED),
     refuse(400), "\\x0c neither"),
    ("te-uppercase", post(b"Transfer-Encoding: CHUNKED", body=HELLO_CHUNKED),
     fwd(P_HELLO), "coding names are case-insensitive"),
    ("te-name-uppercase", post(b"TRANSFER-ENCODING: chunked", body=HELLO_CHUNKED),
     fwd(P_HELLO), "field names are case-insensitive"),
    ("te-chunked-then-gzip", post(b"Transfer-Encoding: chunked, gzip", body=HELLO_CHUNKED),
     refuse(400, 501), "chunked is not last: the length cannot be determined (RFC 9112 6.3)"),
    ("te-gzip-then-chunked", post(b"Transfer-Encoding: gzip, chunked", body=HELLO_CHUNKED),
     refuse(501), "re-framed as chunked alone, the body would lose its gzip coding"),
    ("te-gzip-field-then-chunked-field", post(b"Transfer-Encoding: gzip", CHUNKED,
                                              body=HELLO_CHUNKED),
     refuse(501), "the same in two fields"),
    ("te-empty", post(b"Transfer-Encoding:", b"Content-Length: 5", body=b"hello"),
     either(refuse(400, 501), fwd(P_HELLO)), "an empty TE beside CL: one reading only if any"),
    ("te-comma-only", post(b"Transfer-Encoding: ,", body=HELLO_CHUNKED),
     refuse(400, 501), "a list of no codings"),
    ("te-space-before-name", post(b" Transfer-Encoding: chunked", body=HELLO_CHUNKED),
     refuse(400), "a line that starts with a space is obs-fold of the line before"),
    ("te-http10", msg(b"POST /p HTTP/1.0", b"Connection: keep-alive", CHUNKED,
                      body=HELLO_CHUNKED) + get(b"/after"),
     fwd(P_HELLO, closes=True),
     "TE in HTTP/1.0 is answered then closed (RFC 9112 6.1): the next request is not read"),

    # -- Content-Length values --
    ("cl-list-same", post(b"Content-Length: 5, 5", body=b"hello"),
     either(refuse(400), fwd(P_HELLO)), "RFC 9110 8.6 lets a recipient take 5 or refuse"),
    ("cl-two-fields-same", post(b"Content-Length: 5", b"Content-Length: 5", body=b"hello"),
     either(refuse(400), fwd(P_HELLO)), "the same, in two fields"),
    ("cl-two-fields-differ", post(b"Content-Length: 5", b"Content-Length: 50", body=b"hello"),
     refuse(400), "two lengths: there is no right one"),
    ("cl-list-differ", post(b"Content-Length: 5, 6", body=b"hello!"),
     refuse(400), "the same in one field"),
    ("cl-plus", post(b"Content-Length: +5", body=b"hello"),
     refuse(400), "a sign is not a digit (some atoi accept it)"),
    ("cl-minus", post(b"Content-Length: -1", body=b"hello"),
     refuse(400), "nor is a minus"),
    ("cl-leading-space", post(b"Content-Length:  5", body=b"hello"),
     fwd(P_HELLO), "optional whitespace before the value"),
    ("cl-hex", post(b"Content-Length: 0x5", body=b"hello"),
     refuse(400), "not decimal (strtol with base 0 reads 5)"),
    ("cl-inner-space", post(b"Content-Length: 1 2", body=b"x" * 12),
     refuse(400), "two numbers, or 12 to a parser that drops spaces"),
    ("cl-huge", post(b"Content-Length: 99999999999999999999999", body=b"hello"),
     refuse(400, 413), "overflows 64 bits: wraps to a small number in a careless parser"),
    ("cl-empty", post(b"Content-Length:", body=b"hello"),
     refuse(400), "no length at all"),
    ("cl-trailing-garbage", post(b"Content-Length: 5x", body=b"hello"),
     refuse(400), "digits then garbage"),
    ("cl-shorter-than-sent", post(b"Content-Length: 5", body=b"helloGARBAGE\r\n\r\n"),
     either(fwd(P_HELLO, Refused({400}))),
     "the bytes after the body are the next request, here a malformed one"),
    ("cl-body-is-a-request", post(b"Content-Length: %d" % len(INNER), body=INNER),
     fwd(("POST", "/p", INNER)), "a body that looks like a request is data, forwarded as such"),
    ("chunked-body-is-a-request", post(CHUNKED, body=b"%x\r\n%s\r\n0\r\n\r\n" % (
        len(INNER), INNER)),
     fwd(("POST", "/p", INNER)), "the same, chunked"),
    ("get-with-body", msg(b"GET /g HTTP/1.1", b"Content-Length: 5", body=b"hello"),
     fwd(("GET", "/g", b"hello")), "a GET may have a body; it must not become a request"),

    # -- Host --
    ("host-twice", get(b"/g", b"Host: other.test"),
     refuse(400), "RFC 9112 3.2: more than one Host is 400"),
    ("host-twice-same", get(b"/g", b"Host: proxy.test"),
     refuse(400), "even when both say the same"),
    ("host-missing", msg(b"GET /g HTTP/1.1", host=None),
     refuse(400), "HTTP/1.1 requires Host"),
    ("absolute-form", msg(b"GET http://proxy.test/abs?q=1 HTTP/1.1", host=b"Host: other.test"),
     fwd(Forwarded("GET", "/abs?q=1")), "the target's authority wins over Host (RFC 9112 3.2.2)"),
    ("absolute-form-with-port", msg(b"GET http://proxy.test:8080/abs HTTP/1.1"),
     fwd(Forwarded("GET", "/abs", host="proxy.test:8080")), "the port is part of the authority"),
    ("absolute-form-userinfo", msg(b"GET http://user@proxy.test/abs HTTP/1.1"),
     either(refuse(400), fwd(("GET", "/abs"))), "userinfo is deprecated in http URIs"),
    ("absolute-form-no-path", msg(b"GET http://proxy.test HTTP/1.1"),
     fwd(("GET", "/")), "an empty path is /"),
    ("authority-form-connect", msg(b"CONNECT proxy.test:443 HTTP/1.1"),
     refuse(405, closes=False), "CONNECT is not served (docs: 405)"),
    ("authority-form-get", msg(b"GET proxy.test:443 HTTP/1.1"),
     refuse(400), "authority-form is only for CONNECT"),
    ("asterisk-form-get", msg(b"GET * HTTP/1.1"),
     refuse(400), "asterisk-form is only for OPTIONS"),

    # -- line endings --
    ("bare-lf-everywhere", b"GET /g HTTP/1.1\nHost: proxy.test\n\n",
     either(refuse(400), fwd(("GET", "/g"))), "RFC 9112 2.2: a recipient MAY accept bare LF"),
    ("bare-lf-after-request-line", b"GET /g HTTP/1.1\nHost: proxy.test\r\n\r\n",
     either(refuse(400), fwd(("GET", "/g"))), "one bare LF"),
    ("bare-lf-ends-head", b"GET /g HTTP/1.1\r\nHost: proxy.test\r\n\n",
     either(refuse(400), fwd(("GET", "/g"))), "the empty line as a bare LF"),
    ("bare-cr-in-value", get(b"/g", b"X-A: a\rb"),
     either(refuse(400), fwd(("GET", "/g"))),
     "RFC 9112 2.2: invalid, or replaced by SP; never a line end"),
    ("bare-cr-line-ends", b"GET /g HTTP/1.1\rHost: proxy.test\r\r",
     refuse(400), "CR alone is no line end"),
    ("bare-cr-ends-head-hiding-a-request",
     b"GET /g HTTP/1.1\r\nHost: proxy.test\r\n\r" + INNER,
     refuse(400), "CRLF then CR then a request: not an end of head, so not two requests"),
    ("bare-cr-x-ends-head-hiding-a-request",
     b"GET /g HTTP/1.1\r\nHost: proxy.test\r\n\rX" + INNER,
     refuse(400), "llhttp 8 took CR and any byte as the head's end: /smuggled came next"),
    ("lf-cr-ends-head", b"GET /g HTTP/1.1\r\nHost: proxy.test\r\n\n\r\n" + INNER,
     either(refuse(400), fwd(("GET", "/g"), ("GET", "/smuggled"))),
     "bare LF ends the head; then a stray CRLF before the next request is allowed"),
    ("cr-in-chunk-line", post(CHUNKED, body=b"5\rhello\r\n0\r\n\r\n"),
     refuse(400), "a chunk-size line ended by CR alone"),

    # -- NUL and control bytes --
    ("nul-in-name", get(b"/g", b"X-A\x00: 1"),
     refuse(400), "NUL ends a C string: a parser may see X-A"),
    ("nul-in-value", get(b"/g", b"X-A: a\x00b"),
     refuse(400), "NUL in a value"),
    ("nul-in-target", b"GET /g\x00/h HTTP/1.1\r\nHost: proxy.test\r\n\r\n",
     refuse(400), "NUL in the target"),
    ("nul-in-cl", post(b"Content-Length: 5\x00", body=b"hello"),
     refuse(400), "NUL after the digits"),
    ("escape-in-name", get(b"/g", b"X-\x1bA: 1"),
     refuse(400), "ESC is no token character"),
    ("del-in-te", post(b"Transfer-Encoding: chunked\x7f", body=HELLO_CHUNKED),
     refuse(400), "DEL after chunked"),
    ("high-byte-in-value", get(b"/g", b"X-A: caf\xe9"),
     fwd(("GET", "/g")), "obs-text is allowed in values"),

    # -- field syntax --
    ("obs-fold", get(b"/g", b"X-A: 1", b" folded"),
     refuse(400), "obs-fold: RFC 9112 5.2 lets a server refuse it (docs: 400)"),
    ("obs-fold-of-te", post(b"Transfer-Encoding:", b" chunked", body=HELLO_CHUNKED),
     refuse(400), "a folded TE is chunked to one parser and empty to another"),
    ("space-before-colon", post(b"Content-Length : 5", body=b"hello"),
     refuse(400), "RFC 9112 5.1: MUST be 400; some parsers take it as Content-Length"),
    ("tab-before-colon", post(b"Transfer-Encoding\t: chunked", body=HELLO_CHUNKED),
     refuse(400), "the same with a tab"),
    ("no-colon", get(b"/g", b"X-A 1"),
     refuse(400), "a field line without a colon"),
    ("empty-name", get(b"/g", b": 1"),
     refuse(400), "a field without a name"),

    # -- chunk sizes, extensions, data, trailers --
    ("chunk-size-overflow", post(CHUNKED, body=b"ffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
     refuse(400), "72 bits of size: wraps to a small number in a careless parser"),
    ("chunk-size-negative", post(CHUNKED, body=b"-1\r\nhello\r\n0\r\n\r\n"),
     refuse(400), "no sign in a chunk size"),
    ("chunk-size-0x", post(CHUNKED, body=b"0x5\r\nhello\r\n0\r\n\r\n"),
     refuse(400), "0x5 is 0 then garbage, or 5 to strtol"),
    ("chunk-size-plus", post(CHUNKED, body=b"+5\r\nhello\r\n0\r\n\r\n"),
     refuse(400), "no plus either"),
    ("chunk-size-leading-zeros", post(CHUNKED, body=b"0005\r\nhello\r\n0000\r\n\r\n"),
     fwd(P_HELLO), "leading zeros are fine"),
    ("chunk-size-uppercase", post(CHUNKED, body=b"A\r\n0123456789\r\n0\r\n\r\n"),
     fwd(("POST", "/p", b"0123456789")), "hex digits in either case"),
    ("chunk-size-space-then-ext", post(CHUNKED, body=b"5 ;x\r\nhello\r\n0\r\n\r\n"),
     either(refuse(400), fwd(P_HELLO)), "BWS before ';' (RFC 9112 7.1.1), often refused"),
    ("chunk-size-trailing-space", post(CHUNKED, body=b"5 \r\nhello\r\n0\r\n\r\n"),
     either(refuse(400), fwd(P_HELLO)), "whitespace without an extension"),
    ("chunk-size-empty", post(CHUNKED, body=b"\r\nhello\r\n0\r\n\r\n"),
     refuse(400), "no size at all"),
    ("chunk-ext", post(CHUNKED, body=b"5;name\r\nhello\r\n0\r\n\r\n"),
     fwd(P_HELLO), "an extension name"),
    ("chunk-ext-value", post(CHUNKED, body=b"5;name=value;other=x\r\nhello\r\n0\r\n\r\n"),
     either(refuse(400), fwd(P_HELLO)), "valid, but llhttp 8 refuses an extension after a value"),
    ("chunk-ext-quoted", post(CHUNKED, body=b'5;name="a;b"\r\nhello\r\n0\r\n\r\n'),
     either(refuse(400), fwd(P_HELLO)), "a quoted value with a ';' in it"),
    ("chunk-ext-quoted-crlf", post(CHUNKED, body=b'5;name="a\r\n0\r\n\r\n"\r\nhello\r\n0\r\n\r\n'),
     refuse(400), "a quoted string cannot span lines; reading it as one hides the body"),
    ("chunk-ext-no-name", post(CHUNKED, body=b"5;=x\r\nhello\r\n0\r\n\r\n"),
     either(refuse(400), fwd(P_HELLO)), "an extension without a name"),
    ("chunk-ext-nul", post(CHUNKED, body=b"5;x\x00\r\nhello\r\n0\r\n\r\n"),
     refuse(400), "NUL in an extension"),
    ("chunk-ext-bare-lf", post(CHUNKED, body=b"5;x\nhello\r\n0\r\n\r\n"),
     either(refuse(400), fwd(P_HELLO)), "a chunk line ended by a bare LF"),
    ("chunk-data-no-crlf", post(CHUNKED, body=b"5\r\nhello0\r\n\r\n"),
     refuse(400), "chunk data must be followed by CRLF"),
    ("chunk-data-too-long", post(CHUNKED, body=b"5\r\nhelloXX\r\n0\r\n\r\n"),
     refuse(400), "more data than the size said"),
    ("chunk-data-lf-only", post(CHUNKED, body=b"5\r\nhello\n0\r\n\r\n"),
     either(refuse(400), fwd(P_HELLO)), "chunk data followed by a bare LF"),
    ("chunk-data-hiding-a-request", post(CHUNKED, body=b"5\r\nhello" + INNER + b"0\r\n\r\n"),
     refuse(400), "a parser that skips to the next CRLF would find a request"),
    ("last-chunk-ext", post(CHUNKED, body=b"5\r\nhello\r\n0;end\r\n\r\n"),
     fwd(P_HELLO), "the last chunk may carry extensions"),
    ("trailer", post(CHUNKED, body=b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n"),
     fwd(P_HELLO), "trailers are allowed"),
    ("trailer-framing-fields", post(CHUNKED, body=b"5\r\nhello\r\n0\r\nContent-Length: 50\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\n"),
     either(refuse(400), fwd(P_HELLO)), "framing fields in trailers must not frame anything"),
    ("trailer-malformed", post(CHUNKED, body=b"5\r\nhello\r\n0\r\nnot a field\r\n\r\n"),
     either(refuse(400), fwd(P_HELLO)), "a trailer line that is not a field"),
    ("trailer-obs-fold", post(CHUNKED, body=b"5\r\nhello\r\n0\r\nX-T: 1\r\n folded\r\n\r\n"),
     either(refuse(400), fwd(P_HELLO)), "obs-fold in a trailer"),
    ("trailer-hiding-a-request", post(CHUNKED, body=b"5\r\nhello\r\n0\r\n" + INNER),
     either(refuse(400), fwd(P_HELLO)), "a request line where a trailer should be"),

    # -- pipelining after a bad request, and around good ones --
    ("bad-then-good", get(b"/g", b"Bad Name: 1") + get(b"/second"),
     refuse(400), "nothing after a refused request is read"),
    ("cl-te-then-good", post(b"Content-Length: 5", CHUNKED, body=HELLO_CHUNKED) + get(b"/second"),
     refuse(400), "nor after a refused body"),
    ("bad-chunk-then-good", post(CHUNKED, body=b"zz\r\nhello\r\n0\r\n\r\n") + get(b"/second"),
     refuse(400), "nor after a body refused halfway"),
    ("good-then-bad", get(b"/first") + get(b"/g", b"X-A\x00: 1"),
     fwd(("GET", "/first"), Refused({400})), "the good request is served, then the bad refused"),
    ("good-chunked-then-good", post(CHUNKED, body=HELLO_CHUNKED) + get(b"/second"),
     fwd(P_HELLO, ("GET", "/second")), "pipelined requests, each forwarded whole"),
    ("blank-lines-between", get(b"/first") + b"\r\n\r\n" + get(b"/second"),
     either(refuse(400), fwd(("GET", "/first"), ("GET", "/second")),
            fwd(("GET", "/first"), Refused({400}))),
     "RFC 9112 2.2: a server SHOULD ignore at least one empty line before a request"),

    # -- request line --
    ("version-1.2", msg(b"GET /g HTTP/1.2"), refuse(400, 505), "no such version"),
    ("version-lowercase", msg(b"GET /g http/1.1"), refuse(400), "HTTP-name is case-sensitive"),
    ("version-0.9", b"GET /g\r\n\r\n", refuse(400, 505), "HTTP/0.9 has no head at all"),
    ("two-spaces", msg(b"GET  /g HTTP/1.1"), either(refuse(400), fwd(("GET", "/g"))),
     "RFC 9112 3 lets a recipient split the request line on any whitespace"),
    ("method-lowercase", msg(b"get /g HTTP/1.1"), either(refuse(400, 501), fwd(("get", "/g"))),
     "methods are case-sensitive; get is not GET"),
    ("target-with-fragment", msg(b"GET /g#frag HTTP/1.1"),
     either(refuse(400), fwd(("GET", "/g"))), "a fragment is not part of a request target"),

    # -- Expect --
    ("expect-100", post(b"Content-Length: 5", b"Expect: 100-continue", body=b"hello"),
     fwd(P_HELLO), "the body sent at once, without waiting for the 100"),
    ("expect-100-uppercase", post(b"Content-Length: 5", b"Expect: 100-Continue", body=b"hello"),
     fwd(P_HELLO), "expectation tokens are case-insensitive"),
    ("expect-100-chunked", post(CHUNKED, b"Expect: 100-continue", body=HELLO_CHUNKED),
     fwd(P_HELLO), "with a chunked body"),
    ("expect-100-no-body", get(b"/g", b"Expect: 100-continue"),
     fwd(("GET", "/g")), "nothing to wait for"),
    ("expect-unknown", post(b"Content-Length: 5", b"Expect: 200-ok", body=b"hello"),
     either(refuse(417, closes=False), fwd(P_HELLO)), "RFC 9110 10.1.1: 417 or ignore it"),

    # -- sizes --
    ("header-too-large", get(b"/g", b"X-Big: " + b"b" * (40 << 10)),
     refuse(431), "over max_header_bytes (32 KiB by default)"),
    ("too-many-headers", get(b"/g", *[b"X-H%d: v" % i for i in range(150)]),
     refuse(431), "over max_request_headers (100 by default)"),
    ("target-too-long", msg(b"GET /" + b"t" * (9 << 10) + b" HTTP/1.1"),
     refuse(414), "over max_uri_bytes (8 KiB by default)"),
]


class RequestFramingTest(WaygateTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = RecordingUpstream()
        cls.addClassCleanup(cls.up.close)
        cls.wg = cls.start_proxy(cls.class_env, {"up": [cls.up.address]}, workers=1)

    def observe(self, conn, outcomes):
        """Reads responses until they match an outcome whole (returned) or none (a failure)."""
        seen = []
        while True:
            matching = [o for o in outcomes if self.steps_match(seen, o.steps)]
            if not matching:
                self.fail(f"the client saw {seen}; allowed: {outcomes}")
            done = [o for o in matching if len(o.steps) == len(seen)]
            if done:
                return done[0]
            try:
                resp = read_response(conn)
            except ConnectionClosed as e:
                self.fail(f"the client saw {seen}, then the connection closed ({e}); "
                          f"allowed: {outcomes}")
            except TimeoutError:
                self.fail(f"the client saw {seen}, then nothing for {CASE_TIMEOUT}s; "
                          f"allowed: {outcomes}")
            seen.append(resp.status if resp.status != 200 else resp.body.decode("latin-1"))

    @staticmethod
    def steps_match(seen, steps):
        if len(seen) > len(steps):
            return False
        for got, step in zip(seen, steps):
            if isinstance(step, Refused):
                if got not in step.statuses:
                    return False
            elif got != step.answer().decode("latin-1"):
                return False
        return True

    def run_case(self, name, raw, outcomes):
        mark = self.up.mark()
        conn = self.connect(self.wg.port, timeout=CASE_TIMEOUT)
        conn.send(raw)
        outcome = self.observe(conn, outcomes)
        sentinel = f"/sentinel/{name}"
        if outcome.closes:
            rest = conn.read_until_closed()
            self.assertEqual(rest, b"", "bytes after the last response, on a closing connection")
            with self.connect(self.wg.port) as other:
                other.send(get(sentinel.encode()))
                self.assertEqual(read_response(other).body,
                                 default_body("GET", sentinel, b""))
        else:
            # Any response to a hidden request would come before the sentinel's.
            conn.send(get(sentinel.encode()))
            try:
                resp = read_response(conn)
            except ConnectionClosed:
                # Only a refusal that need not close may close anyway.
                self.assertIsInstance(outcome.steps[-1], Refused, "closed before the sentinel")
                with self.connect(self.wg.port) as other:
                    other.send(get(sentinel.encode()))
                    resp = read_response(other)
            self.assertEqual(resp.body, default_body("GET", sentinel, b""),
                             "a response the client did not ask for came first")
        self.check_upstream(mark, outcome, sentinel)

    def check_upstream(self, mark, outcome, sentinel):
        """What the upstream received since mark: exactly the outcome's requests (and the
        sentinel), each well framed; an unfinished request only on a connection that ended."""
        received = []
        for conn, data in self.up.since(mark):
            self.assertIsNone(conn.error, f"upstream connection {conn.number}: {data!r}")
            try:
                requests, rest = strict_http.parse_requests(data)
            except strict_http.Malformed as e:
                self.fail(f"waygate sent the upstream a malformed request ({e}): {data!r}")
            if rest:
                self.assertTrue(outcome.steps and isinstance(outcome.steps[-1], Refused),
                                f"an unfinished request upstream: {rest!r}")
                wait_until(lambda: conn.closed, timeout=CASE_TIMEOUT,
                           message=f"waygate to close the upstream connection left with {rest!r}")
            received += requests
        for request in received:
            expected = next((f for f in outcome.forwarded() if f.target == request.target), None)
            if expected and request.header("host") != expected.host:
                self.fail(f"{request.target} reached the upstream with Host "
                          f"{request.header('host')!r}, not {expected.host!r}")
        got = sorted((r.method, r.target, r.body) for r in received)
        want = sorted([f.key() for f in outcome.forwarded()] + [("GET", sentinel, b"")])
        self.assertEqual(got, want, "the requests the upstream received")

    def test_ambiguous_requests_are_refused_or_forwarded_as_one_reading(self):
        for name, raw, outcomes, why in REQUEST_CASES:
            with self.subTest(name, why=why):
                self.run_case(name, raw, outcomes)


# -- responses ------------------------------------------------------------------------------------

def response(*lines, body=b""):
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


OK = b"HTTP/1.1 200 OK"
# A whole response: should waygate read it as the answer to the next request, the pool is poisoned.
SMUGGLED = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nsmuggled!"
SMUGGLED_CL = b"Content-Length: %d" % len(SMUGGLED)
CUT = "cut"  # the client got part of a response, then the connection closed
BAD = 502

# name, request method, raw response, what the client may get (status and body, CUT or BAD), why;
# options: close (the upstream closes after it), late (bytes sent once the client has its response)
RESPONSE_CASES = [
    ("cl-and-te", "GET", response(OK, b"Content-Length: 0", CHUNKED, body=HELLO_CHUNKED),
     [BAD, (200, b"hello")], "two framings: TE wins (RFC 9112 6.3) or it is an error", {}),
    ("te-and-cl-hiding-a-response", "GET",
     response(OK, CHUNKED, b"Content-Length: %d" % (5 + len(SMUGGLED)),
              body=b"0\r\n\r\n" + SMUGGLED),
     [BAD, (200, b"")], "the CL reading sees one body, the TE reading a second response", {}),
    ("two-cl-differ", "GET", response(OK, b"Content-Length: 5", b"Content-Length: 14",
                                      body=b"hellosmuggled!"),
     [BAD], "RFC 9112 6.3: a proxy MUST answer 502 and close the upstream connection", {}),
    ("two-cl-same", "GET", response(OK, b"Content-Length: 5", b"Content-Length: 5", body=b"hello"),
     [BAD, (200, b"hello")], "the same length twice may be taken as one", {}),
    ("cl-list-differ", "GET", response(OK, b"Content-Length: 5, 14", body=b"hellosmuggled!"),
     [BAD], "two lengths in one field", {}),
    ("cl-plus", "GET", response(OK, b"Content-Length: +5", body=b"hello"),
     [BAD], "a sign is not a digit", {}),
    ("cl-huge", "GET", response(OK, b"Content-Length: 99999999999999999999999", body=b"hello"),
     [BAD], "overflows 64 bits", {}),
    ("chunk-size-overflow", "GET",
     response(OK, CHUNKED, body=b"ffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
     [BAD, CUT], "72 bits of chunk size", {}),
    ("chunk-size-negative", "GET", response(OK, CHUNKED, body=b"-1\r\nhello\r\n0\r\n\r\n"),
     [BAD, CUT], "no sign in a chunk size", {}),
    ("chunk-data-no-crlf", "GET", response(OK, CHUNKED, body=b"5\r\nhello" + SMUGGLED),
     [BAD, CUT], "chunk data not followed by CRLF; a lax parser finds a response", {}),
    ("bytes-after-cl-body", "GET", response(OK, b"Content-Length: 5", body=b"hello" + SMUGGLED),
     [(200, b"hello")], "a response after the response: the connection cannot be reused", {}),
    ("bytes-after-chunked-body", "GET", response(OK, CHUNKED, body=HELLO_CHUNKED + SMUGGLED),
     [(200, b"hello")], "the same after a chunked body", {}),
    ("bytes-after-body-later", "GET", response(OK, b"Content-Length: 5", body=b"hello"),
     [(200, b"hello")], "a response nobody asked for, on an idle pooled connection",
     {"late": SMUGGLED}),
    ("head-with-body", "HEAD", response(OK, SMUGGLED_CL, body=SMUGGLED),
     [(200, b"")], "a response to HEAD has no body, whatever Content-Length says", {}),
    ("interim-then-final", "GET",
     b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n"
     + response(OK, b"Content-Length: 5", body=b"final"),
     [(200, b"final")], "1xx responses before the final one", {}),
    ("interim-with-content-length", "GET",
     b"HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\nhello"
     + response(OK, b"Content-Length: 5", body=b"final"),
     [BAD, (200, b"final")], "a 1xx has no body: 'hello' is not one", {}),
    ("204-with-body", "GET", response(b"HTTP/1.1 204 No Content", SMUGGLED_CL, body=SMUGGLED),
     [(204, b"")], "204 has no body (RFC 9110 15.3.5)", {}),
    ("204-chunked", "GET", response(b"HTTP/1.1 204 No Content", CHUNKED, body=b"0\r\n\r\n"),
     [(204, b"")], "nor a chunked one", {}),
    ("304-with-body", "GET", response(b"HTTP/1.1 304 Not Modified", SMUGGLED_CL, body=SMUGGLED),
     [(304, b"")], "304 has no body (RFC 9110 15.4.5)", {}),
    ("te-not-chunked", "GET", response(OK, b"Transfer-Encoding: gzip", body=b"hello"),
     [BAD], "read until close (RFC 9112 6.3), and re-framed it would lose its gzip coding",
     {"close": True}),
    ("te-gzip-then-chunked", "GET",
     response(OK, b"Transfer-Encoding: gzip, chunked", body=HELLO_CHUNKED),
     [BAD], "de-chunked and re-framed, the body would reach the client without its coding", {}),
    ("obs-fold", "GET", response(OK, b"X-A: 1", b" folded", b"Content-Length: 5", body=b"hello"),
     [BAD, (200, b"hello")], "RFC 9112 5.2: 502, or the fold replaced by spaces", {}),
    ("bare-cr-ends-head", "GET", OK + b"\r\nContent-Length: 5\r\n\rXhello",
     [BAD], "CR and a byte is no end of head", {}),
]


class ResponseFramingTest(WaygateTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.up = RecordingUpstream()
        cls.addClassCleanup(cls.up.close)
        cls.wg = cls.start_proxy(cls.class_env, {"up": [cls.up.address]}, workers=1,
                                 timeouts={"upstream_response": "5s"})

    def assertAnswered(self, conn, target):
        conn.send(get(target.encode()))
        resp = read_response(conn)
        self.assertEqual((resp.status, resp.body), (200, default_body("GET", target, b"")),
                         f"the answer to {target}")

    def run_case(self, name, method, raw, allowed, options):
        path = f"/r/{name}"
        self.up.script(path, raw, close=options.get("close", False),
                       late=options.get("late", b""))
        conn = self.connect(self.wg.port, timeout=CASE_TIMEOUT)
        conn.send(msg(f"{method} {path} HTTP/1.1".encode()))
        try:
            resp = read_response(conn, method)
            got = (resp.status, resp.body) if resp.status < 500 else resp.status
        except ConnectionClosed:
            got = CUT
        self.assertIn(got, allowed, "what the client got")
        if options.get("late"):
            carrier = next(c for c in self.up.connections()
                           if any(r.target == path for r in c.requests))
            self.up.release_late()
            wait_until(lambda: carrier.closed, timeout=CASE_TIMEOUT,
                       message="waygate to close the upstream connection that sent bytes "
                               "nobody asked for")
        # The client connection: the next request gets its own answer, or it closed cleanly.
        if got != CUT:
            try:
                self.assertAnswered(conn, f"/next/{name}/same-client")
            except ConnectionClosed:
                self.assertEqual(conn.buf, b"", "bytes after the response, then a close")
        # The pooled upstream connection, if waygate kept it: the next request's own answer.
        for i in range(2):
            with self.connect(self.wg.port, timeout=CASE_TIMEOUT) as other:
                self.assertAnswered(other, f"/next/{name}/{i}")
        for upstream in self.up.connections():
            self.assertIsNone(upstream.error,
                              f"upstream connection {upstream.number}: {upstream.data!r}")

    def test_ambiguous_responses_never_poison_a_connection(self):
        for name, method, raw, allowed, why, options in RESPONSE_CASES:
            with self.subTest(name, why=why):
                self.run_case(name, method, raw, allowed, options)


if __name__ == "__main__":
    unittest.main()
