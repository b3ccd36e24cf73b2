"""A throwaway etcd for the discovery benchmarks: start one member on free loopback ports and talk
to its HTTP/JSON gateway."""

import base64
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "tests", "integration"))

from harness import free_port  # noqa: E402


def b64(text):
    return base64.b64encode(text.encode()).decode()


def call(port, path, body):
    """POSTs a JSON body to the gateway; returns the JSON answer."""
    data = json.dumps(body).encode()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", data, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


def put(port, key, value):
    call(port, "/v3/kv/put", {"key": b64(key), "value": b64(value)})


def start(work):
    """Starts etcd with its data in `work`; returns (process, client port) once it answers."""
    client, peer = free_port(), free_port()
    proc = subprocess.Popen(
        ["etcd", "--name", "bench", "--data-dir", os.path.join(work, "etcd"),
         "--listen-client-urls", f"http://127.0.0.1:{client}",
         "--advertise-client-urls", f"http://127.0.0.1:{client}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"bench=http://127.0.0.1:{peer}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while True:
        try:
            put(client, "/ready", "1")
            return proc, client
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("etcd did not start")
            time.sleep(0.05)
