"""A small HTTP/2 upstream (h2c by prior knowledge) on python3-h2, for the tests that need to choose
its frames: SETTINGS_MAX_CONCURRENT_STREAMS, a GOAWAY with a chosen last_stream_id, trailers, a
response that never comes. It runs in the test process, one thread per connection, and counts the
connections it accepted.

Paths: /healthz answers `health_status` (counted in `health_checks`, not in `answered`); /hold answers once `hold` requests are waiting at once (a barrier, released anyway after
IO_TIMEOUT so that a failing test ends); /never never answers; /trailers answers without a
content-length and with trailers; anything else answers 200 with a body naming the method, path,
request body length and the connection (its number, from 1) that carried it.
"""

import socket
import sys
import threading

try:
    import h2  # noqa: F401
except ImportError:
    # Debian's python3-h2 is pure Python: an interpreter other than Debian's can load it.
    sys.path.append("/usr/lib/python3/dist-packages")
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.exceptions  # noqa: E402
import h2.settings  # noqa: E402
from hyperframe.frame import GoAwayFrame  # noqa: E402

from harness import HOST, IO_TIMEOUT  # noqa: E402


class H2Upstream:
    def __init__(self, max_streams=100, goaway_after=None, gather=0, hold=0, health_status=200,
                 name=None, close_after_health=False):
        """goaway_after=N: the first connection, on its Nth request, sends GOAWAY naming that
        request's stream as the last one it processes; later streams get no answer, and the
        connection closes once the earlier ones are answered. gather=N: the first connection
        answers nothing until N requests have arrived on it (or IO_TIMEOUT passed), so that
        they are all under way at once."""
        self.max_streams = max_streams
        self.goaway_after = goaway_after
        self.gather = gather
        self.hold = hold
        self.health_status = health_status
        self.name = name  # sent as X-Upstream-Name, as upstream.py's servers do
        self.close_after_health = close_after_health  # each /healthz answer ends its connection
        self.health_checks = 0
        self.health_requests = set()  # (:method, :path, :scheme, :authority) of the checks
        self.lock = threading.Condition()
        self.connections = 0
        self.answered = 0
        self.unanswered = 0  # streams a GOAWAY left unprocessed
        self.waiting = 0  # requests at the /hold barrier
        self.goaway_sent = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.address = f"{HOST}:{self.port}"
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.closed = True
        self.sock.close()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                number = self.connections
            threading.Thread(target=self._serve, args=(client, number), daemon=True).start()

    def _serve(self, client, number):
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        conn = h2.connection.H2Connection(config=config)
        conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.max_streams})
        conn.initiate_connection()
        client.sendall(conn.data_to_send())
        requests = {}  # stream id -> {"headers", "body"}
        ready = []  # streams received whole, not yet answered
        count = 0  # requests this connection received whole
        last_stream = None  # set once this connection sent GOAWAY
        closing = False  # close_after_health: a /healthz was answered
        gathering = number == 1 and self.gather > 0
        if gathering:
            client.settimeout(IO_TIMEOUT)
        try:
            while True:
                try:
                    data = client.recv(65536)
                except socket.timeout:
                    data, gathering = None, False  # gave up waiting: answer what came
                    client.settimeout(None)
                if data == b"":
                    return
                try:
                    events = conn.receive_data(data or b"")
                except h2.exceptions.ProtocolError:
                    return
                for event in events:
                    if isinstance(event, h2.events.RequestReceived):
                        requests[event.stream_id] = {"headers": dict(event.headers), "body": b""}
                    elif isinstance(event, h2.events.DataReceived):
                        if event.stream_id in requests:
                            requests[event.stream_id]["body"] += event.data
                        conn.acknowledge_received_data(event.flow_controlled_length,
                                                       event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        ready.append(event.stream_id)
                if gathering and len(ready) >= self.gather:
                    gathering = False
                    client.settimeout(None)
                    ready.sort()  # in the order the streams were opened, not completed
                while ready and not gathering:
                    stream_id = ready.pop(0)
                    if last_stream is not None and stream_id > last_stream:
                        with self.lock:
                            self.unanswered += 1
                        continue
                    count += 1
                    if self._goaway_now(number, count):
                        # Framed by hand: python3-h2 sends nothing more after its own GOAWAY, and
                        # the streams up to last_stream_id are still to be answered.
                        last_stream = stream_id
                        goaway = GoAwayFrame(0)
                        goaway.last_stream_id = stream_id
                        client.sendall(conn.data_to_send() + goaway.serialize())
                    if self._answer(conn, stream_id, requests.pop(stream_id), number):
                        closing = True
                client.sendall(conn.data_to_send())
                if closing:
                    return
                if last_stream is not None and not any(s <= last_stream for s in requests):
                    return  # GOAWAY sent and every stream it kept was answered
        except OSError:
            return
        finally:
            client.close()

    def _goaway_now(self, number, count):
        with self.lock:
            if self.goaway_sent or number != 1 or count != self.goaway_after:
                return False
            self.goaway_sent = True
            return True

    def _answer(self, conn, stream_id, request, number):
        headers = request["headers"]
        path = headers.get(":path", "")
        if path == "/never":
            return
        if path == "/healthz":
            conn.send_headers(stream_id, [(":status", str(self.health_status)),
                                          ("content-length", "3")])
            conn.send_data(stream_id, b"ok\n", end_stream=True)
            with self.lock:
                self.health_checks += 1
                self.health_requests.add((headers.get(":method"), path, headers.get(":scheme"),
                                          headers.get(":authority")))
            return self.close_after_health
        if path == "/hold":
            with self.lock:
                self.waiting += 1
                self.lock.notify_all()
                self.lock.wait_for(lambda: self.waiting >= self.hold, timeout=IO_TIMEOUT)
        if path == "/trailers":
            conn.send_headers(stream_id, [(":status", "200"), ("content-type", "text/plain")])
            conn.send_data(stream_id, b"hello")
            conn.send_headers(stream_id, [("grpc-status", "0"), ("x-checksum", "abc")],
                              end_stream=True)
        else:
            body = (f"{headers.get(':method')} {path} {len(request['body'])} "
                    f"connection={number} scheme={headers.get(':scheme')} "
                    f"authority={headers.get(':authority')}").encode()
            named = [("x-upstream-name", self.name)] if self.name else []
            conn.send_headers(stream_id, [(":status", "200"), ("content-length", str(len(body))),
                                          ("x-connection", str(number)), *named])
            conn.send_data(stream_id, body, end_stream=True)
        with self.lock:
            self.answered += 1
