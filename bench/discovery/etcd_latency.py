#!/usr/bin/env python3
"""From an etcd put to the first request routed by it: waygate follows a cluster's endpoints in
etcd; the script moves the cluster's one endpoint between two upstreams N times and measures, for
each move, the time from sending the put until a request through waygate is answered by the new
upstream (requests are sent back to back on one keep-alive connection meanwhile).

Usage: bench/discovery/etcd_latency.py [--changes 100] [--waygate-bin build/src/waygate]
Prints p50, p90, p99 and max in milliseconds. Needs Debian's etcd-server (/usr/bin/etcd).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)

from harness import HttpConnection, Upstream, free_port, port_accepts, request  # noqa: E402
import etcd_server  # noqa: E402


def wait_for(predicate, what, timeout=15):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.01)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--waygate-bin", default=os.path.join(ROOT, "build", "src", "waygate"))
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="waygate-etcd-latency-")
    processes = []
    try:
        etcd, client_port = etcd_server.start(work)
        processes.append(etcd)
        ups = [Upstream(work, "A"), Upstream(work, "B")]
        key = "/bench/svc/endpoint"
        value = {u.name: json.dumps({"address": "127.0.0.1", "port": u.port}) for u in ups}
        etcd_server.put(client_port, key, value["A"])

        port = free_port()
        config = os.path.join(work, "waygate.yaml")
        with open(config, "w") as f:
            f.write(f"""workers: 1
access_log: "off"
listeners: [{{ name: web, address: "127.0.0.1:{port}" }}]
routes: [{{ hosts: ["*"], paths: [{{ prefix: /, cluster: svc }}] }}]
clusters:
  - name: svc
    discovery: {{ etcd: {{ endpoints: ["http://127.0.0.1:{client_port}"], prefix: /bench/svc/ }} }}
""")
        waygate = subprocess.Popen([args.waygate_bin, "--config", config],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(waygate)
        wait_for(lambda: port_accepts(port), "waygate")
        conn = HttpConnection(port)

        def answered_by():
            conn.send(request("GET", "/"))
            resp = conn.read_response()
            return resp.header("x-upstream-name") if resp.status == 200 else None
        wait_for(lambda: answered_by() == "A", "the first endpoint")

        delays = []
        for i in range(args.changes):
            target = "B" if i % 2 == 0 else "A"
            start = time.monotonic()
            etcd_server.put(client_port, key, value[target])
            while answered_by() != target:
                if time.monotonic() - start > 10:
                    raise SystemExit(f"change {i}: not routed to {target} after 10 s")
            delays.append((time.monotonic() - start) * 1e3)
        conn.close()
        delays.sort()

        def pct(p):
            return delays[min(len(delays) - 1, int(round(p / 100 * (len(delays) - 1))))]
        print(f"etcd put -> first request routed by it, {len(delays)} changes: "
              f"p50 {pct(50):.2f} ms, p90 {pct(90):.2f} ms, p99 {pct(99):.2f} ms, "
              f"max {delays[-1]:.2f} ms (target p99 < 50 ms)")
        for up in ups:
            up.stop()
    finally:
        for proc in reversed(processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
