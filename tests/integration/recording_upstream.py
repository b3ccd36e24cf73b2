"""An upstream that records the exact bytes of every connection, for the differential framing tests.

It runs in the test's own process (threads, one per connection) so that a test can read what each
connection carried and whether it has ended. Requests are parsed with strict_http; each whole one
is answered 200 with the body ``METHOD TARGET BODY-LENGTH\\n`` (Content-Length framed), unless a
test scripted the raw bytes to answer its path with (script()). A request that does not parse
strictly is recorded as the connection's error, and the connection is closed unanswered.
"""

import select
import socket
import threading
import time

import strict_http

HOST = "127.0.0.1"


def default_body(method, target, body):
    return f"{method} {target} {len(body)}\n".encode("latin-1")


class RecordedConnection:
    def __init__(self, number):
        self.number = number
        self.data = bytearray()  # every byte received, in order
        self.closed = False      # the peer closed it, or the upstream did
        self.error = None        # why the upstream gave up on it (a strict parse error)
        self.requests = []       # whole requests answered, in order
        self.reading = False     # input is in the serving thread's hands and not recorded yet


class RecordingUpstream:
    def __init__(self):
        self._lock = threading.Lock()
        self._connections = []
        self._scripts = {}
        self._late = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((HOST, 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self.address = f"{HOST}:{self.port}"
        self._sockets = []
        self._accepting = False  # a connection is being taken from the listener's queue
        self._stopped = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    # -- what a test drives ----------------------------------------------------------------------

    def script(self, path, response, close=False, late=b""):
        """Answers requests for path with the raw bytes response; close: then close the
        connection; late: bytes sent on the connection once release_late() is called."""
        with self._lock:
            self._scripts[path] = (response, close, late)

    def release_late(self):
        """Lets every connection waiting to send its late bytes send them."""
        self._late.set()

    def mark(self):
        """A position in every connection's record; since() returns what came after it. What has
        reached the upstream is recorded first: bytes a case sent that are still unread (waygate
        wrote them just before it answered the client) are not taken for the next case's."""
        self._settle()
        with self._lock:
            return {c.number: len(c.data) for c in self._connections}

    def _settle(self, timeout=5.0):
        """Waits until no connection waits to be accepted and none has input unread or in hand."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                busy = self._accepting or any(c.reading for c in self._connections if not c.closed)
                sockets = [s for c, s in zip(self._connections, self._sockets) if not c.closed]
            if not busy:
                try:
                    readable, _, _ = select.select(sockets + [self._listener], [], [], 0)
                except (OSError, ValueError):
                    readable = [None]  # one closed meanwhile: look again
                if not readable:
                    return
            if time.monotonic() > deadline:
                raise AssertionError("the recording upstream did not take in what reached it")
            time.sleep(0.002)

    def since(self, mark):
        """[(RecordedConnection, bytes received after mark)] for connections with new bytes."""
        with self._lock:
            return [(c, bytes(c.data[mark.get(c.number, 0):])) for c in self._connections
                    if len(c.data) > mark.get(c.number, 0)]

    def connections(self):
        with self._lock:
            return list(self._connections)

    def close(self):
        self._stopped = True
        self._late.set()
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    # -- serving ---------------------------------------------------------------------------------

    def _accept_loop(self):
        while not self._stopped:
            try:
                select.select([self._listener], [], [])
                with self._lock:
                    self._accepting = True
                sock, _ = self._listener.accept()
            except (OSError, ValueError):
                return
            with self._lock:
                conn = RecordedConnection(len(self._connections))
                self._connections.append(conn)
                self._sockets.append(sock)
                self._accepting = False
            threading.Thread(target=self._serve, args=(sock, conn), daemon=True).start()

    def _serve(self, sock, conn):
        pending = b""
        try:
            while True:
                select.select([sock], [], [])
                with self._lock:
                    conn.reading = True
                data = sock.recv(65536)
                if not data:
                    return
                with self._lock:
                    conn.data += data
                    conn.reading = False
                pending += data
                while pending:
                    try:
                        request, used = strict_http.parse_request(pending)
                    except strict_http.Incomplete:
                        break
                    pending = pending[used:]
                    with self._lock:
                        conn.requests.append(request)
                    if not self._answer(sock, request):
                        return
        except strict_http.Malformed as e:
            with self._lock:
                conn.error = str(e)
        except OSError:
            pass
        finally:
            with self._lock:
                conn.closed = True
            sock.close()

    def _answer(self, sock, request):
        """Answers one request; False when the connection is to close."""
        path = request.target.split("?", 1)[0]
        with self._lock:
            scripted = self._scripts.get(path)
        if scripted is None:
            body = default_body(request.method, request.target, request.body)
            head = (f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
            sock.sendall(head + (b"" if request.method == "HEAD" else body))
            return True
        response, close, late = scripted
        sock.sendall(response)
        if late:
            self._late.wait()
            sock.sendall(late)
        if close:
            sock.shutdown(socket.SHUT_WR)
            return False
        return True
