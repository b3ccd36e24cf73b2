#!/usr/bin/env python3
"""Measurement helpers for bench/e2e/h2.sh: one h2load run through a proxy (h2c by prior knowledge
or TLS with ALPN h2) with the proxy's CPU per request, and the table.
Standard library only; the /proc readings and the report's medians come from timed_run.py, the
table layout from measure.py."""

import argparse
import re
import subprocess

from measure import _table, emit_report
from timed_run import (add_report_args, add_run_args, core_figures, emit, paired_ratio_lines,
                       report_medians, sample, table_rows, waygate_best_lines)

MODES = ("h2c", "tls")


# h2load's summary lines:
#   finished in 5.00s, 61234.40 req/s, 3.21MB/s
#   requests: 306172 total, 306272 started, 306172 done, 306172 succeeded, 0 failed, 0 errored, ...
#   status codes: 306172 2xx, 0 3xx, 0 4xx, 0 5xx
_FINISHED = re.compile(r"^finished in [\d.]+\w*, ([\d.]+) req/s", re.M)
_REQUESTS = re.compile(r"^requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored", re.M)
_STATUS = re.compile(r"^status codes: (\d+) 2xx", re.M)
_ALPN = re.compile(r"^Application protocol: (\S+)", re.M)


def parse_h2load(text):
    finished, requests, status = _FINISHED.search(text), _REQUESTS.search(text), _STATUS.search(text)
    if not (finished and requests and status):
        raise SystemExit(f"h2load printed no summary:\n{text}")
    total, done, ok, failed, errored = (int(x) for x in requests.groups())
    alpn = _ALPN.search(text)
    return {"rps": float(finished.group(1)), "done": done, "ok2xx": int(status.group(1)),
            "failed": failed + errored + max(0, done - int(status.group(1))),
            "alpn": alpn.group(1) if alpn else "?"}


def cmd_run(args):
    """h2load for 1 s of warm-up, then the timed run; CPU figures over the latter."""
    scheme = "https" if args.mode == "tls" else "http"
    h2load = ["h2load", "-t1", f"-c{args.conns}", f"-m{args.streams}",
              f"{scheme}://127.0.0.1:{args.port}/"]
    subprocess.run(h2load + ["-D1"], capture_output=True, check=True)
    before = sample(args.pid, args.cpu, args.load_cpu)
    run = subprocess.run(h2load + [f"-D{args.seconds}"], capture_output=True, text=True,
                         check=True)
    after = sample(args.pid, args.cpu, args.load_cpu)
    with open(args.out, "w") as out:
        out.write(run.stdout + run.stderr)
    h = parse_h2load(run.stdout)
    if h["alpn"] != "h2" and args.mode == "tls":
        raise SystemExit(f"{args.proxy}: TLS negotiated {h['alpn']}, not h2")
    m = args.mode
    emit(args.proxy, f"{m}.rps", h["rps"])
    emit(args.proxy, f"{m}.requests", h["done"])
    emit(args.proxy, f"{m}.errors", h["failed"])
    core_figures(args.proxy, m, before, after, h["done"])


# (metric suffix, header, format, higher is better; None: no ratio)
COLUMNS = [
    ("rps", "req/s", "{:,.0f}", True),
    ("proxy_busy_pct", "proxy % (core)", "{:.0f}", None),
    ("cpu_us", "CPU µs/req", "{:.2f}", False),
]


def cmd_report(args):
    results, med, order, failed, peers = report_medians(args)
    metrics = [(f"{mode}.{c[0]}", *c[1:]) for mode in MODES for c in COLUMNS]
    rows = table_rows(med, order, failed, peers, metrics)
    width = len(COLUMNS)
    groups = [(f"h2c prior knowledge (h2load -c{args.conns} -m{args.streams})", 1, width),
              (f"TLS 1.3, ALPN h2 (h2load -c{args.conns} -m{args.streams})", 1 + width, width)]
    lines = [args.title, ""] + _table(rows, groups) + [""]
    lines += waygate_best_lines(order, peers, "max for req/s, min for CPU")
    lines += paired_ratio_lines(results, peers,
                                [(f"{mode}.cpu_us", f"{label} CPU µs/req") for mode, label in
                                 (("h2c", "h2c"), ("tls", "TLS"))])
    lines.append(f"proxy %: the proxy's utime+stime in % of its core {args.proxy_cpu} (near 100: "
                 "the proxy set the rate; lower: the client's core did).")
    notes = []
    for p in order:
        m = med.get(p)
        if not m:
            continue
        for mode in MODES:
            if m.get(f"{mode}.errors"):
                notes.append(f"{p}: WARNING {m[f'{mode}.errors']:.0f} {mode} requests failed or "
                             "were not 2xx")
            if m.get(f"{mode}.core_other_pct", 0) > 5:
                notes.append(f"{p}: WARNING other work used {m[f'{mode}.core_other_pct']:.0f}% of "
                             f"core {args.proxy_cpu} during the {mode} run: re-run on a quiet "
                             "machine")
            if m.get(f"{mode}.load_core_pct", 0) >= 90:
                notes.append(f"{p}: core {args.load_cpu} (h2load, upstream) was "
                             f"{m[f'{mode}.load_core_pct']:.0f}% busy in the {mode} run")
    emit_report(lines, notes + (args.note or []), args.out)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="one h2load run through a proxy; its figures on stdout")
    add_run_args(p)
    p.add_argument("--mode", choices=MODES, required=True)
    p.add_argument("--conns", type=int, required=True)
    p.add_argument("--streams", type=int, required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("report", help="print the table (median over rounds)")
    add_report_args(p)
    p.add_argument("--conns", type=int, required=True)
    p.add_argument("--streams", type=int, required=True)
    p.set_defaults(func=cmd_report)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
