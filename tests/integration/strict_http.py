"""A strict HTTP/1.1 reader for the differential framing tests: what waygate writes (requests to an
upstream, responses to a client) must parse under RFC 9112's grammar with no leniency at all, so
that no other parser could read it differently. Python 3 standard library only.

parse_request(data) and parse_response(data, method) take bytes starting at a message's first
byte and return (Message, bytes consumed). They raise Incomplete when data ends inside the
message and Malformed when it breaks the grammar (a bare CR or LF, obs-fold, whitespace before a
colon, a header name that is not a token, a control byte in a value, several or malformed framing
headers, a chunk line that is not exactly `hex[;ext]CRLF`, chunk data not followed by CRLF).
"""

import re

TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rb"(" + TOKEN + rb") ([\x21-\x7e]+) HTTP/1\.1")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-9][0-9]{2}) [\t \x21-\x7e\x80-\xff]*")
_FIELD_LINE = re.compile(rb"(" + TOKEN + rb"):[ \t]*((?:[\x21-\x7e\x80-\xff]+(?:[ \t]+"
                         rb"[\x21-\x7e\x80-\xff]+)*)?)[ \t]*")
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_CHUNK_EXT = (rb"(?:[ \t]*;[ \t]*" + TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + TOKEN + rb"|" + _QUOTED
              + rb"))?)*")
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})" + _CHUNK_EXT)


class Incomplete(Exception):
    """The bytes end inside a message."""


class Malformed(Exception):
    """The bytes are not a valid HTTP/1.1 message."""


class Message:
    def __init__(self, start_line, headers):
        self.start_line = start_line
        self.headers = headers  # [(name, value)] as bytes, in wire order
        self.body = b""
        self.trailers = []
        self.method = self.target = None
        self.status = None

    def values(self, name):
        name = name.lower().encode()
        return [v for k, v in self.headers if k.lower() == name]

    def header(self, name):
        values = self.values(name)
        return values[0].decode("latin-1") if values else None

    def __repr__(self):
        what = (f"{self.method} {self.target}" if self.method is not None
                else f"status {self.status}")
        return f"<{what} headers={self.headers} body={self.body[:80]!r}>"


def _line(data, pos):
    """The line at pos (without its CRLF) and the position after it."""
    end = data.find(b"\r\n", pos)
    line = data[pos:] if end < 0 else data[pos:end]
    partial = line[:-1] if end < 0 and line.endswith(b"\r") else line  # a CRLF yet to come
    if b"\r" in partial or b"\n" in partial:
        raise Malformed(f"bare CR or LF in line {line[:120]!r}")
    if end < 0:
        raise Incomplete()
    return line, end + 2


def _fields(data, pos):
    """Field lines up to the empty line; returns ([(name, value)], position after it)."""
    fields = []
    while True:
        line, pos = _line(data, pos)
        if not line:
            return fields, pos
        m = _FIELD_LINE.fullmatch(line)
        if not m:
            raise Malformed(f"malformed field line {line[:120]!r}")
        fields.append((m.group(1), m.group(2)))


def _head(data, start_pattern):
    line, pos = _line(data, 0)
    m = start_pattern.fullmatch(line)
    if not m:
        raise Malformed(f"malformed start line {line[:120]!r}")
    headers, pos = _fields(data, pos)
    return m, Message(line, headers), pos


def _framing(msg):
    """("chunked", None), ("length", n) or (None, None), refusing anything ambiguous."""
    te = msg.values("transfer-encoding")
    cl = msg.values("content-length")
    if te and cl:
        raise Malformed("Content-Length with Transfer-Encoding")
    if len(te) > 1 or len(cl) > 1:
        raise Malformed("framing header repeated")
    if te:
        if te[0].lower() != b"chunked":
            raise Malformed(f"Transfer-Encoding {te[0]!r} is not exactly chunked")
        return "chunked", None
    if cl:
        if not re.fullmatch(rb"[0-9]{1,18}", cl[0]):
            raise Malformed(f"Content-Length {cl[0]!r}")
        return "length", int(cl[0])
    return None, None


def _chunked_body(data, pos, msg):
    parts = []
    while True:
        line, pos = _line(data, pos)
        m = _CHUNK_LINE.fullmatch(line)
        if not m:
            raise Malformed(f"malformed chunk line {line[:120]!r}")
        size = int(m.group(1), 16)
        if size == 0:
            msg.trailers, pos = _fields(data, pos)
            msg.body = b"".join(parts)
            return pos
        after = data[pos + size:pos + size + 2]
        if not b"\r\n".startswith(after):
            raise Malformed("chunk data not followed by CRLF")
        if len(after) < 2:
            raise Incomplete()
        parts.append(data[pos:pos + size])
        pos += size + 2


def parse_request(data):
    """One request at the start of data: (Message, bytes consumed)."""
    data = bytes(data)
    m, msg, pos = _head(data, _REQUEST_LINE)
    msg.method, msg.target = m.group(1).decode(), m.group(2).decode()
    if len(msg.values("host")) != 1:
        raise Malformed(f"{len(msg.values('host'))} Host fields")
    kind, length = _framing(msg)
    if kind == "chunked":
        return msg, _chunked_body(data, pos, msg)
    length = length or 0
    if len(data) < pos + length:
        raise Incomplete()
    msg.body = data[pos:pos + length]
    return msg, pos + length


def parse_response(data, method="GET", until_close=False):
    """One response at the start of data: (Message, bytes consumed). A response without
    Content-Length or chunked framing runs to the end of data when until_close (the connection
    has closed), else it is Incomplete."""
    data = bytes(data)
    m, msg, pos = _head(data, _STATUS_LINE)
    msg.status = int(m.group(1))
    kind, length = _framing(msg)
    if msg.status in (204,) or 100 <= msg.status < 200:
        if kind is not None:
            raise Malformed(f"{msg.status} response with a framing header")
        return msg, pos
    if method == "HEAD" or msg.status == 304:
        return msg, pos
    if kind == "chunked":
        return msg, _chunked_body(data, pos, msg)
    if kind == "length":
        if len(data) < pos + length:
            raise Incomplete()
        msg.body = data[pos:pos + length]
        return msg, pos + length
    if not until_close:
        raise Incomplete()
    msg.body = data[pos:]
    return msg, len(data)


def parse_requests(data):
    """Every whole request in data, in order, and the bytes after the last one."""
    requests = []
    data = bytes(data)
    while data:
        try:
            msg, used = parse_request(data)
        except Incomplete:
            break
        requests.append(msg)
        data = data[used:]
    return requests, data
