#!/usr/bin/env python3
"""Times a change to one file of a large routes_dir against the same change to a config file that
holds every host itself.

  routes_dir.py --waygate build/src/waygate --hosts 100000 --files 1000 --changes 5
  routes_dir.py ... --own-clusters --dir-only

--own-clusters: each file defines a cluster of its own (the one config file: all of them) that its
hosts' `prefix: /` goes to, and a change gives the changed file's cluster another endpoint, so the
change adds nothing but changes a cluster as well as a route. --dir-only skips the one-file run.

Each host has `exact: /v` answered by waygate with a version and `prefix: /` to a cluster. A
change rewrites one file (or the whole config file) with a new version for one host, and the time
is taken from the rename to the first GET /v that answers it; waygate's own log line gives the
control thread's share ("reloaded ... ms"). Runs on loopback only; a bench, not a test.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def host_routes(first, count, version_of, cluster=None):
    """Routes for hosts first.. (to `cluster`, else to the shared c0..c99)."""
    lines = ["routes:"]
    for i in range(first, first + count):
        lines += [f'  - hosts: ["host{i}.example.com"]', "    paths:",
                  f'      - {{ exact: /v, respond: {{ status: 200, body: "{version_of(i)}" }} }}',
                  f"      - {{ prefix: /, cluster: {cluster or f'c{i % 100}'} }}"]
    return "\n".join(lines) + "\n"


def own_clusters_text(files, port_of):
    """Each file's own cluster (own0, own1, ...), as a `clusters:` list's items."""
    return "".join(f"  - {{ name: own{f}, endpoints: [127.0.0.1:{port_of(f)}] }}\n"
                   for f in files)


def clusters_text():
    return "clusters:\n" + "".join(f"  - {{ name: c{i}, endpoints: [127.0.0.1:{20000 + i}] }}\n"
                                   for i in range(100))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_version(port, host):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(f"GET /v HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data.split(b"\r\n\r\n", 1)[1].decode() if b" 200 " in data[:16] else None
    except OSError:
        return None


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def replace(path, text):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def wait_for(port, host, version, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if get_version(port, host) == version:
            return True
        time.sleep(0.002)
    return False


def run(args, work, use_dir):
    port = free_port()
    config = os.path.join(work, "waygate.yaml")
    head = f"workers: 1\naccess_log: off\nlisteners:\n  - {{ name: web, address: 127.0.0.1:{port} }}\n"
    per_file = args.hosts // args.files
    versions = {}
    ports = {}  # a file's own cluster's endpoint port, once a change moved it

    def version_of(i):
        return versions.get(i, "v0")

    def port_of(f):
        return ports.get(f, 30000)

    def file_text(f):
        if not args.own_clusters:
            return host_routes(f * per_file, per_file, version_of)
        return (host_routes(f * per_file, per_file, version_of, f"own{f}")
                + "clusters:\n" + own_clusters_text([f], port_of))

    def config_text():
        if not args.own_clusters:
            return head + host_routes(0, per_file * args.files, version_of) + clusters_text()
        routes = "routes:\n" + "".join(
            host_routes(f * per_file, per_file, version_of, f"own{f}").split("\n", 1)[1]
            for f in range(args.files))
        return head + routes + clusters_text() + own_clusters_text(range(args.files), port_of)

    if use_dir:
        routes_d = os.path.join(work, "routes.d")
        os.mkdir(routes_d)
        for f in range(args.files):
            with open(os.path.join(routes_d, f"f{f:05}.yaml"), "w") as out:
                out.write(file_text(f))
        with open(config, "w") as out:
            out.write(head + "routes_dir: routes.d\nroutes: []\n" + clusters_text())
    else:
        with open(config, "w") as out:
            out.write(config_text())
    stderr = open(os.path.join(work, "stderr"), "w+")
    started = time.monotonic()
    proc = subprocess.Popen([args.waygate, "--config", config], stderr=stderr,
                            stdout=subprocess.DEVNULL)
    try:
        if not wait_for(port, "host0.example.com", "v0", 600):
            sys.exit("waygate did not start")
        print(f"  start: {time.monotonic() - started:.2f} s to serve {per_file * args.files} hosts, "
              f"RSS {rss_mib(proc.pid):.0f} MiB")
        times = []
        for change in range(1, args.changes + 1):
            f = (change * 7919) % args.files
            host = f * per_file + per_file // 2
            versions[host] = f"v{change}"
            ports[f] = 30000 + change
            began = time.monotonic()
            if use_dir:
                replace(os.path.join(routes_d, f"f{f:05}.yaml"), file_text(f))
            else:
                replace(config, config_text())
            if not wait_for(port, f"host{host}.example.com", f"v{change}"):
                sys.exit("the change did not serve")
            times.append(time.monotonic() - began)
        print(f"  RSS after the changes: {rss_mib(proc.pid):.0f} MiB")
        stderr.seek(0)
        logged = re.findall(r"reloaded .*?(?:([0-9.]+) ms)?$", stderr.read(), re.M)
        for i, seconds in enumerate(times):
            print(f"  change {i + 1}: served after {seconds * 1000:.0f} ms"
                  + (f" (control thread: {logged[i]} ms)" if i < len(logged) and logged[i]
                     else ""))
        return times
    finally:
        proc.terminate()
        proc.wait(60)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waygate", default="build/src/waygate")
    parser.add_argument("--hosts", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=5)
    parser.add_argument("--own-clusters", action="store_true",
                        help="each file defines the cluster its hosts go to; a change moves it")
    parser.add_argument("--dir-only", action="store_true", help="skip the one-config-file run")
    args = parser.parse_args()
    runs = [(True, f"routes_dir: {args.files} files")]
    if not args.dir_only:
        runs.append((False, "one config file"))
    for use_dir, label in runs:
        if args.own_clusters:
            label += ", a cluster of each file's own"
        work = tempfile.mkdtemp(prefix="waygate-routes-dir-bench-")
        try:
            print(f"{label}, {args.hosts} hosts:")
            times = sorted(run(args, work, use_dir))
            print(f"  median {times[len(times) // 2] * 1000:.0f} ms")
        finally:
            shutil.rmtree(work)


if __name__ == "__main__":
    main()
