#!/usr/bin/env python3
"""Writes a waygate config with many hosts, for timing how the control plane loads it.

  gen_config.py --hosts 100000 --paths 3 --clusters 1000 --port 18600 > big.yaml

Each host gets its own route; with --paths 3 a route has a prefix /api/ to a cluster, an exact
/health answered by waygate, and a prefix / to the same cluster (with --paths 1, only the last).
"""
import argparse
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100_000)
    parser.add_argument("--paths", type=int, choices=(1, 3), default=3)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--port", type=int, default=18600, help="the listener's port")
    parser.add_argument("--admin-port", type=int, default=0, help="an admin listener, if set")
    parser.add_argument("--endpoint-base", type=int, default=20000,
                        help="cluster i's endpoint is 127.0.0.1:(base + i)")
    args = parser.parse_args()

    out = sys.stdout
    out.write("workers: 1\naccess_log: off\n")
    if args.admin_port:
        out.write(f"admin: {{ address: 127.0.0.1:{args.admin_port} }}\n")
    out.write(f"listeners:\n  - name: web\n    address: 127.0.0.1:{args.port}\nroutes:\n")
    for i in range(args.hosts):
        cluster = f"c{i % args.clusters}"
        out.write(f'  - hosts: ["host{i}.example.com"]\n    paths:\n')
        if args.paths == 3:
            out.write(f"      - prefix: /api/\n        cluster: {cluster}\n")
            out.write('      - exact: /health\n        respond: { status: 200, body: "ok\\n" }\n')
        out.write(f"      - prefix: /\n        cluster: {cluster}\n")
    out.write("clusters:\n")
    for i in range(args.clusters):
        out.write(f"  - name: c{i}\n    endpoints: [127.0.0.1:{args.endpoint_base + i}]\n")


if __name__ == "__main__":
    main()
