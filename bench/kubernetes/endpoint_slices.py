#!/usr/bin/env python3
"""5,000 Kubernetes Services of 20 endpoints each, one cluster each (`discovery: kubernetes`),
served by the project's API server stand-in (tests/integration/kube_api_server.py, plain HTTP so
that its own TLS does not count): how long waygate takes from its start until every cluster has
its endpoints, its resident memory then, and the delay from an EndpointSlice change to the first
request answered by the endpoint the change added.

Sync: waygate logs a line for each cluster whose endpoints it publishes ("discovery: cluster
svc-0042: 20 endpoints ..., routed by every worker"); the time is from starting the process to the
log timestamp of the last cluster's first such line, then checked once against GET /clusters
(every cluster has its endpoints). The stand-in's own time to answer the LIST (Python copying and
serialising every slice, in pages of 500 as waygate asks) is measured first and printed beside it.

Change delay: the Service `probe` is one of the 5,000; its slice has 19 endpoints that are not
ready and one that is, which each change moves between two upstreams (127.0.0.2 and 127.0.0.3).
The delay is from before the stand-in records the change until a request through waygate, sent
back to back on one keep-alive connection, is answered by the new upstream.

Usage: bench/kubernetes/endpoint_slices.py [--services 5000] [--endpoints 20] [--changes 200]
Not part of CI (it takes about a minute and most of a core).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from harness import HttpConnection, Upstream, free_port, port_accepts, request  # noqa: E402
from kube_api_server import KubeApiServer, endpoint_slice, write_kubeconfig  # noqa: E402

NAMESPACE = "bench"
PUBLISHED = re.compile(r"^(\S+) info discovery: cluster (\S+): \d+ endpoints")


def wait_for(predicate, what, timeout=120, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(interval)


def fake_addresses(n, count):
    """count addresses of 10.0.0.0/8 for Service n, none of them listened on."""
    return [f"10.{n // 256 % 256}.{n % 256}.{i + 1}" for i in range(count)]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--endpoints", type=int, default=20)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--waygate-bin", default=os.path.join(ROOT, "build", "src", "waygate"))
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="waygate-k8s-bench-")
    api = KubeApiServer(token="bench").start()
    ups = []
    waygate = None
    try:
        port = free_port()
        ups = [Upstream(work, name, host=host, port=port)
               for name, host in (("A", "127.0.0.2"), ("B", "127.0.0.3"))]
        names = [f"svc-{n:04d}" for n in range(args.services - 1)] + ["probe"]
        made = time.monotonic()
        for n, name in enumerate(names[:-1]):
            api.apply(endpoint_slice(NAMESPACE, f"{name}-abc12", name,
                                     fake_addresses(n, args.endpoints), port=8080))

        def probe_slice(up):
            fake = fake_addresses(args.services, args.endpoints - 1)
            return endpoint_slice(NAMESPACE, "probe-abc12", "probe", fake + [up.host],
                                  port=port, not_ready=fake)
        api.apply(probe_slice(ups[0]))
        print(f"stand-in: {args.services} EndpointSlices of {args.endpoints} endpoints made in "
              f"{time.monotonic() - made:.1f} s")

        # The stand-in's own share of the sync: the paged LIST waygate makes, made by the script.
        listed = time.monotonic()
        next_page = ""
        while True:
            url = (f"{api.url}/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices"
                   f"?limit=500&labelSelector=kubernetes.io%2Fservice-name{next_page}")
            req = urllib.request.Request(url, headers={"Authorization": "Bearer bench"})
            with urllib.request.urlopen(req, timeout=60) as r:
                token = json.load(r)["metadata"].get("continue")
            if not token:
                break
            next_page = f"&continue={urllib.parse.quote(token)}"
        list_s = time.monotonic() - listed
        script_pages = len(api.requests_seen("list"))

        kubeconfig = write_kubeconfig(os.path.join(work, "kubeconfig"), api.url, token="bench")
        listen_port = free_port()
        admin_port = free_port()
        config = os.path.join(work, "waygate.yaml")
        with open(config, "w") as f:
            f.write(f"""workers: 1
access_log: "off"
kubernetes: {{ kubeconfig: {kubeconfig} }}
admin: {{ address: "127.0.0.1:{admin_port}" }}
listeners: [{{ name: web, address: "127.0.0.1:{listen_port}" }}]
routes: [{{ hosts: ["*"], paths: [{{ prefix: /, cluster: probe }}] }}]
clusters:
""")
            for name in names:
                f.write(f"  - {{ name: {name}, discovery: {{ kubernetes: "
                        f"{{ service: {NAMESPACE}/{name}, port: http }} }} }}\n")
        log_path = os.path.join(work, "waygate.log")
        log = open(log_path, "w")
        started_wall = datetime.now(timezone.utc)
        started = time.monotonic()
        waygate = subprocess.Popen([args.waygate_bin, "--config", config],
                                   stdout=subprocess.DEVNULL, stderr=log)

        published = {}

        def all_published():
            with open(log_path) as f:
                for line in f:
                    match = PUBLISHED.match(line)
                    if match and match.group(2) not in published:
                        published[match.group(2)] = match.group(1)
            return len(published) >= len(names)
        wait_for(all_published, "every cluster's endpoints", interval=0.2)
        last = max(datetime.fromisoformat(t.replace("Z", "+00:00")) for t in published.values())
        sync_s = (last - started_wall).total_seconds()
        sync_seen_s = time.monotonic() - started
        lists = [r for r in api.requests_seen("list")[script_pages:]
                 if r[1].endswith("/endpointslices")]
        watches = api.watch_count("EndpointSlice")

        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/clusters", timeout=30) as r:
            clusters = json.load(r)["clusters"]
        short = [c["name"] for c in clusters
                 if c["total"] != (1 if c["name"] == "probe" else args.endpoints)]
        if short or len(clusters) != len(names):
            raise SystemExit(f"GET /clusters: {len(clusters)} clusters, {len(short)} without "
                             f"their endpoints ({short[:3]})")
        rss = rss_mib(waygate.pid)
        print(f"initial sync: {sync_s:.2f} s from start to the last cluster published "
              f"(seen by the script after {sync_seen_s:.2f} s); {len(lists)} LIST pages and "
              f"{watches} open watch of EndpointSlices; the stand-in alone takes "
              f"{list_s:.2f} s to serve that LIST")
        print(f"resident memory after sync: {rss:.1f} MiB")

        wait_for(lambda: port_accepts(listen_port), "the listener")
        conn = HttpConnection(listen_port)

        def answered_by():
            conn.send(request("GET", "/"))
            resp = conn.read_response()
            return resp.header("x-upstream-name") if resp.status == 200 else None
        wait_for(lambda: answered_by() == "A", "the probe's first endpoint", interval=0.01)

        delays = []
        for i in range(args.changes):
            target = ups[1] if i % 2 == 0 else ups[0]
            start = time.monotonic()
            api.apply(probe_slice(target))
            while answered_by() != target.name:
                if time.monotonic() - start > 10:
                    raise SystemExit(f"change {i}: {target.name} not reached within 10 s")
            delays.append((time.monotonic() - start) * 1000)
        print(f"EndpointSlice change to traffic, {len(delays)} changes: "
              f"p50 {percentile(delays, 50):.1f} ms, p90 {percentile(delays, 90):.1f} ms, "
              f"p99 {percentile(delays, 99):.1f} ms, max {max(delays):.1f} ms")
        print(f"resident memory after the changes: {rss_mib(waygate.pid):.1f} MiB")
    finally:
        if waygate:
            waygate.terminate()
            waygate.wait(timeout=30)
        for up in ups:
            up.stop()
        api.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
