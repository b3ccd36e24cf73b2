#!/usr/bin/env python3
"""One change to a cluster of 10,000 endpoints, while another cluster serves traffic: the control
thread's time to rebuild and publish that cluster's host set, the time until the worker routes by
it, and whether the worker's event loop stalled meanwhile.

waygate runs with one worker, alone on core 0; its control thread, etcd, wrk and the upstream run
on core 1. Cluster `app` (one upstream) takes a steady keep-alive load from wrk; cluster `big`
takes its 10,000 endpoints from etcd (one key each), and the script replaces one of them N times.
waygate's log gives, per change, the control thread's time and the delay until the worker applied
it, and at exit the worker's longest event-loop lag (an upper bound, to about 1 ms) and its longest
update. wrk's latency shows what clients saw.

Usage: bench/discovery/cluster_change.py [--endpoints 10000] [--changes 20]
"""

import argparse
import json
import os
import re
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

from harness import Upstream, free_port, port_accepts  # noqa: E402
import etcd_server  # noqa: E402

PREFIX = "/bench/big/"


def endpoint_value(n):
    return json.dumps({"address": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}",
                       "port": 8080})


def wait_for(predicate, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoints", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--waygate-bin", default=os.path.join(ROOT, "build", "src", "waygate"))
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (apt-get install wrk)")

    work = tempfile.mkdtemp(prefix="waygate-cluster-change-")
    waygate = etcd = None
    try:
        os.sched_setaffinity(0, {1})  # this script, and what it starts, on core 1
        up = Upstream(work, "app")
        etcd, etcd_port = etcd_server.start(work)
        for start in range(0, args.endpoints, 100):  # etcd takes at most 128 operations a txn
            ops = [{"request_put": {"key": etcd_server.b64(f"{PREFIX}{n:06d}"),
                                    "value": etcd_server.b64(endpoint_value(n))}}
                   for n in range(start, min(args.endpoints, start + 100))]
            etcd_server.call(etcd_port, "/v3/kv/txn", {"success": ops})
        port = free_port()
        config = os.path.join(work, "waygate.yaml")
        with open(config, "w") as f:
            f.write(f"""workers: 1
access_log: "off"
listeners: [{{ name: web, address: "127.0.0.1:{port}" }}]
routes: [{{ hosts: ["*"], paths: [{{ prefix: /, cluster: app }}] }}]
clusters:
  - {{ name: app, endpoints: ["{up.address}"] }}
  - name: big
    discovery: {{ etcd: {{ endpoints: ["http://127.0.0.1:{etcd_port}"], prefix: {PREFIX} }} }}
""")
        stderr_path = os.path.join(work, "waygate.stderr")
        with open(stderr_path, "w") as stderr:
            waygate = subprocess.Popen(["taskset", "-c", "0", args.waygate_bin, "--config", config],
                                       stdout=subprocess.DEVNULL, stderr=stderr)
        wait_for(lambda: port_accepts(port), "waygate")
        # The worker, started on core 0, stays there; the control thread (whose thread id is the
        # process id) moves to core 1.
        os.sched_setaffinity(waygate.pid, {1})
        wait_for(lambda: f"cluster big: {args.endpoints} endpoints" in open(stderr_path).read(),
                 "waygate to take the cluster from etcd")
        duration = max(4, args.changes // 5 + 3)
        wrk = subprocess.Popen(["wrk", "-t1", "-c16", f"-d{duration}s", "--latency",
                                f"http://127.0.0.1:{port}/"], stdout=subprocess.PIPE, text=True)
        time.sleep(1)  # wrk's warm-up: the changes happen under load
        for change in range(1, args.changes + 1):
            etcd_server.put(etcd_port, f"{PREFIX}{change % args.endpoints:06d}",
                            endpoint_value(args.endpoints + change))
            time.sleep(0.2)  # spread the changes over the run
        wrk_out, _ = wrk.communicate()
        waygate.send_signal(signal.SIGTERM)
        waygate.wait(30)
        log = open(stderr_path).read()
        changes = re.findall(r"cluster big: (\d+) endpoints .*?routed by every worker ([\d.]+) ms "
                             r"after the change arrived \(control thread CPU ([\d.]+) ms\)", log)[1:]
        lags = re.findall(r"worker (\d+): longest event-loop lag ([\d.]+) ms, longest update "
                          r"([\d.]+) ms", log)
        control = sorted(float(c[2]) for c in changes)
        applied = sorted(float(c[1]) for c in changes)
        print(f"{len(changes)} changes of one endpoint in a cluster of {args.endpoints}:")
        if changes:
            print(f"  control thread CPU per change: median {control[len(control) // 2]:.2f} ms, "
                  f"max {control[-1]:.2f} ms (target < 5 ms)")
            print(f"  change arrived -> the worker routing by it: median "
                  f"{applied[len(applied) // 2]:.2f} ms, max {applied[-1]:.2f} ms")
        for worker, lag, update in lags:
            print(f"  worker {worker}: longest event-loop lag {lag} ms (to ~1 ms), longest update "
                  f"{update} ms (target: no stall over 1 ms)")
        latency = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", wrk_out)
        p99 = re.search(r"99%\s+(\S+)", wrk_out)
        errors = re.search(r"Socket errors:.*", wrk_out)
        print(f"  clients meanwhile (wrk -c16, {duration} s): latency avg {latency.group(1)}, "
              f"max {latency.group(3)}, p99 {p99.group(1) if p99 else '?'}"
              + (f"; {errors.group(0)}" if errors else "; no socket errors"))
        up.stop()
    finally:
        for proc in (waygate, etcd):
            if proc and proc.poll() is None:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
