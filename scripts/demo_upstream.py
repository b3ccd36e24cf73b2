#!/usr/bin/env python3
"""A tiny HTTP/1.1 upstream for the demo and for poking at waygate by hand.

Answers every method and path with `hello from NAME: METHOD PATH` and an `X-Upstream: NAME` header,
always with Content-Length so that keep-alive connections from waygate can be reused. Prints
`ready` on stdout once it is listening, so a script can wait for that instead of sleeping.

    scripts/demo_upstream.py --port 9101 --name api-1
"""

import argparse
import http.server
import signal
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive by default, like a real backend
    # Headers and body go out in two writes; with Nagle on, a reused connection would wait ~40 ms
    # for the proxy's delayed ACK before sending the body.
    disable_nagle_algorithm = True

    def version_string(self):
        return "demo-upstream"

    def _skip(self, n):
        while n > 0:
            data = self.rfile.read(min(n, 65536))
            if not data:
                raise ValueError("body ended early")
            n -= len(data)

    def _discard_body(self):
        # Read the whole request body so the next request on the connection starts where it should.
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                self._skip(size + 2)  # chunk data and its CRLF
        else:
            self._skip(int(self.headers.get("Content-Length") or 0))

    def _answer(self):
        try:
            self._discard_body()
        except ValueError:
            self.send_error(400, "bad request body")  # also closes the connection
            return
        body = f"hello from {self.server.name}: {self.command} {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Upstream", self.server.name)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _answer

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True, help="shown in the body and in X-Upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--verbose", action="store_true", help="log each request on stderr")
    args = parser.parse_args()

    # SIGTERM (from demo.sh's cleanup) should end the process quietly, like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    server = http.server.ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.name = args.name
    server.verbose = args.verbose
    print("ready", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
