#!/usr/bin/env python3
"""Measurement helpers for bench/e2e/tls.sh: the TLS check of a proxy, the full-handshake run
(hey without keep-alive, or parallel `openssl s_time -new`), the keep-alive HTTPS figures from wrk,
and the table.
Standard library only; the /proc readings and the report's medians come from timed_run.py, wrk
parsing and table layout from measure.py."""

import argparse
import os
import re
import socket
import ssl
import subprocess
import sys
import time

from measure import _table, emit_report, parse_wrk
from timed_run import (add_report_args, add_run_args, core_figures, emit, report_medians, sample,
                       table_rows, waygate_best_lines)

# The request each full-handshake client sends on its connections: hey's Go HTTP client (without
# keep-alive: HTTP/1.1, Connection: close) and `openssl s_time -www /` (HTTP/1.0, no Host). Either
# way the proxy closes after the response, so each request costs a new connection.
REQUESTS = {
    "hey": "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n",
    "s_time": "GET / HTTP/1.0\r\n\r\n",
}
# TLS 1.3 suites in the order the load clients offer them: OpenSSL's default (wrk, s_time), and
# Go's on a CPU with AES instructions (hey). A server that follows the client's order picks the
# first; one that prefers its own order may pick another.
OFFERS = [
    ("OpenSSL's default (wrk, s_time)",
     "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"),
    ("Go's (hey)", "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"),
]


def _suite_chosen(port, ca, offer):
    """The TLS 1.3 suite and key exchange the proxy picks when offered `offer`, in that order."""
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_3",
                          "-ciphersuites", offer, "-CAfile", ca, "-verify_return_error", "-brief"],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
    text = out.stdout + out.stderr
    suite = re.search(r"^Ciphersuite: (\S+)", text, re.M)
    group = re.search(r"^Server Temp Key: ([^,\n]+)", text, re.M)
    if out.returncode != 0 or not suite:
        raise SystemExit(f"openssl s_client could not connect to port {port}:\n{text}")
    return suite.group(1), group.group(1) if group else "?"


def cmd_check(args):
    """One TLS 1.3 connection offering ALPN http/1.1 and verifying the benchmark's certificate,
    carrying the full-handshake client's request: the answer must be 200 with the upstream's body.
    Then which suite the proxy picks from each load client's offer. Prints one line on what was
    negotiated."""
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_alpn_protocols(["http/1.1"])
    with socket.create_connection(("127.0.0.1", args.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            # Read before the exchange: once the peer has closed, Python no longer reports them.
            version, alpn = tls.version(), tls.selected_alpn_protocol() or "none"
            tls.sendall(REQUESTS[args.client].format(port=args.port).encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if not re.match(r"HTTP/1\.[01] 200 ", status) or body != b"hello\n":
        raise SystemExit(f"GET / over TLS answered {status!r} with body {body[:80]!r}")
    chosen = [(who, *_suite_chosen(args.port, args.ca, offer)) for who, offer in OFFERS]
    print(f"{version}, ALPN {alpn}, key exchange {chosen[0][2]}; suite picked from "
          + ", from ".join(f"{who} offer: {suite}" for who, suite, _ in chosen))


# `openssl s_time` prints a character per connection: "r" for a resumed session, else the
# protocol's ("*" for TLS 1.3), then "<N> connections in <T> real seconds, <B> bytes read per
# connection".
_S_TIME_TOTAL = re.compile(r"^(\d+) connections in \d+ real seconds", re.M)


def _run_s_time(port, clients, seconds):
    """clients parallel `openssl s_time -new` processes. Each stops at its first failed connection
    and never times out on its own, so `timeout` bounds it. No CA locations: with the defaults it
    lists the system's certificate directory on every connection, which doubles its cost."""
    cmd = ["timeout", str(seconds + 10), "openssl", "s_time", "-connect", f"127.0.0.1:{port}",
           "-new", "-tls1_3", "-www", "/", "-time", str(seconds),
           "-no-CAfile", "-no-CApath", "-no-CAstore"]
    procs = [(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE),
              time.monotonic()) for _ in range(clients)]
    run = {"conns": 0, "rate": 0.0, "resumed": 0, "failures": 0, "messages": []}
    for proc, started in procs:
        out, err = proc.communicate()
        ran = time.monotonic() - started
        text = out.decode(errors="replace")
        total = _S_TIME_TOTAL.search(text)
        conns = int(total.group(1)) if total else 0
        run["conns"] += conns
        run["rate"] += conns / ran   # they run side by side: the rates add up
        run["resumed"] += text.split("\n\n", 1)[0].split("\n", 1)[-1].count("r") if total else 0
        if proc.returncode != 0 or not conns:
            run["failures"] += 1
            lines = err.decode(errors="replace").strip().splitlines()
            run["messages"].append(f"s_time exit {proc.returncode} after {conns} connections: "
                                   f"{lines[-1] if lines else 'no message'}")
    return run


def _run_hey(port, clients, seconds):
    """hey, Go's HTTP client without keep-alive: a new connection per request, `clients` at once,
    on one core. Go's TLS client keeps no sessions unless told to, and hey does not tell it, so
    every handshake is a full one."""
    cmd = ["timeout", str(seconds + 15), "hey", "-z", f"{seconds}s", "-c", str(clients),
           "-cpus", "1", "-disable-keepalive", "-t", "10", f"https://127.0.0.1:{port}/"]
    # Go's garbage collector takes a good part of hey's time at its default GOGC=100; 400 trades a
    # few tens of MB for more of the clients' core spent on handshakes.
    env = dict(os.environ)
    env.setdefault("GOGC", "400")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    text = out.stdout + out.stderr
    # Its summary: "Total: 5.0012 secs", "[200] 12345 responses" per status, and under "Error
    # distribution:" a "[count] error" line per kind of error.
    total = re.search(r"Total:\s+([\d.]+) secs", text)
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", text)}
    _, _, error_lines = text.partition("Error distribution:")
    errors = sum(int(n) for n in re.findall(r"^\s+\[(\d+)\]\s+\S", error_lines, re.M))
    run = {"conns": sum(codes.values()), "resumed": None, "messages": [],
           "rate": codes.get(200, 0) / float(total.group(1)) if total else 0.0,
           "failures": errors + sum(n for c, n in codes.items() if c != 200)}
    if out.returncode != 0 or not total:
        run["failures"] += 1
        run["messages"].append(f"hey exit {out.returncode}: {text.strip()[-500:]}")
    elif run["failures"]:
        _, _, summary = text.partition("Status code distribution:")
        run["messages"].append("hey: " + " ".join(summary.split())[:500])
    return run


CLIENTS = {"hey": _run_hey, "s_time": _run_s_time}


def cmd_handshakes(args):
    """Full handshakes per second: a 1 s warm-up, then the timed run; CPU figures over the timed
    run. The handshakes counted are the connections that got a response."""
    client = CLIENTS[args.client]
    client(args.port, args.clients, 1)
    before = sample(args.pid, args.cpu, args.load_cpu)
    run = client(args.port, args.clients, args.seconds)
    after = sample(args.pid, args.cpu, args.load_cpu)
    emit(args.proxy, "hs.rps", run["rate"])
    emit(args.proxy, "hs.conns", run["conns"])
    if run["resumed"] is not None:
        emit(args.proxy, "hs.resumed", run["resumed"])
    emit(args.proxy, "hs.failures", run["failures"])
    for m in run["messages"]:
        print(f"{args.proxy}: {m}", file=sys.stderr)
    core_figures(args.proxy, "hs", before, after, run["conns"])


def cmd_keepalive(args):
    """Keep-alive HTTPS: wrk for 1 s of warm-up, then the timed run; CPU figures over the latter."""
    wrk = ["wrk", f"-t{args.threads}", f"-c{args.conns}", "--latency",
           f"https://127.0.0.1:{args.port}/"]
    subprocess.run(wrk + ["-d1s"], capture_output=True, check=True)
    with open(args.out, "w") as out:
        before = sample(args.pid, args.cpu, args.load_cpu)
        subprocess.run(wrk + [f"-d{args.seconds}s"], stdout=out, stderr=subprocess.STDOUT,
                       check=True)
        after = sample(args.pid, args.cpu, args.load_cpu)
    w = parse_wrk(args.out)
    emit(args.proxy, "ka.rps", w["rps"])
    emit(args.proxy, "ka.p99_ms", w["p99_ms"])
    emit(args.proxy, "ka.requests", w["requests"])
    emit(args.proxy, "ka.errors", w["errors"] + w["non2xx"])
    core_figures(args.proxy, "ka", before, after, w["requests"])


# (metric, header, format, higher is better; None: no ratio)
COLUMNS = [
    ("hs.rps", "hs/s", "{:,.0f}", True),
    ("hs.core_pct", "proxy % (core)", None, None),
    ("hs.cpu_us", "CPU µs/hs", "{:.0f}", False),
    ("hs.per_core", "hs/s per core", "{:,.0f}", True),
    ("ka.rps", "req/s", "{:,.0f}", True),
    ("ka.core_pct", "proxy % (core)", None, None),
    ("ka.cpu_us", "CPU µs/req", "{:.1f}", False),
    ("ka.p99_ms", "p99 ms", "{:.2f}", False),
]
BUSY_ENOUGH_PCT = 90   # below this share of its core, the proxy was not what limited the rate


def _cell(m, metric, form):
    """A figure; the core column: the proxy's share of its core, and how busy the core was."""
    if metric.endswith(".core_pct"):
        prefix = metric.split(".")[0]
        if f"{prefix}.proxy_busy_pct" not in m:
            return "-"
        return f"{m[f'{prefix}.proxy_busy_pct']:.0f} ({m[f'{prefix}.core_busy_pct']:.0f})"
    return form.format(m[metric]) if metric in m else "-"


def _proxy_notes(p, m, args):
    notes = [f"{p}: {m['hs.conns']:,.0f} handshakes and {m['ka.requests']:,.0f} keep-alive "
             f"requests in the timed runs; core {args.load_cpu} (clients, upstream) "
             f"{m['hs.load_core_pct']:.0f}% and {m['ka.load_core_pct']:.0f}% busy; softirq time "
             f"on core {args.proxy_cpu} {m['hs.softirq_pct']:.0f}% and {m['ka.softirq_pct']:.0f}%"]
    for prefix, what in (("hs", "handshakes"), ("ka", "keep-alive")):
        busy, other = m[f"{prefix}.proxy_busy_pct"], m[f"{prefix}.core_other_pct"]
        if busy < BUSY_ENOUGH_PCT:
            why = []
            if m[f"{prefix}.load_core_pct"] >= BUSY_ENOUGH_PCT:
                why.append(f"core {args.load_cpu} (clients, upstream) was saturated")
            if other > 5:
                why.append(f"other work took {other:.0f}% of core {args.proxy_cpu}")
            notes.append(f"{p}: the proxy used {busy:.0f}% of core {args.proxy_cpu} in the {what} "
                         "run, so it did not set the rate there: "
                         f"{' and '.join(why) or 'neither core was saturated'}")
        if other > 5:
            notes.append(f"{p}: WARNING something else used {other:.0f}% of core {args.proxy_cpu} "
                         f"during the {what} run: re-run on a quiet machine")
    if m.get("hs.resumed"):
        notes.append(f"{p}: WARNING {m['hs.resumed']:.0f} handshakes were resumed, not full")
    if m["hs.failures"]:
        notes.append(f"{p}: WARNING {m['hs.failures']:.0f} failed handshake connections; see the "
                     "log")
    if m["ka.errors"]:
        notes.append(f"{p}: WARNING wrk saw {m['ka.errors']:.0f} socket errors or non-2xx "
                     "responses")
    return notes


def _round_notes(p, rounds):
    """Each round's rates and other work on the proxy's core, when there are several rounds."""
    if len(rounds.get("hs.rps", [])) < 2:
        return []
    figures = zip(rounds["hs.rps"], rounds["ka.rps"], rounds["hs.core_other_pct"],
                  rounds["ka.core_other_pct"])
    cells = " / ".join(f"{hs:,.0f} hs/s {ka:,.0f} req/s ({max(o1, o2):.0f}% other)"
                       for hs, ka, o1, o2 in figures)
    return [f"{p} per round: {cells}"]


def cmd_report(args):
    results, med, order, failed, peers = report_medians(args)
    rows = table_rows(med, order, failed, peers, COLUMNS, _cell)
    rows.append(["better"] + [{True: "higher", False: "lower", None: ""}[c[3]] for c in COLUMNS])
    groups = [(f"full handshakes ({args.hs_client} -c{args.clients})", 1, 4),
              (f"keep-alive HTTPS (wrk -t{args.threads} -c{args.conns})", 5, 4)]
    lines = [args.title, ""] + _table(rows, groups) + [""]
    lines += waygate_best_lines(order, peers, "max for rates, min for the others")
    lines += [
        f"proxy %: the proxy's utime+stime over the run in % of its core {args.proxy_cpu} (near "
        "100: the proxy set the rate);",
        "in brackets how busy that core was. hs/s per core: 1e6 / CPU µs per handshake, the rate "
        "at 100% of its core;",
        "the measured hs/s is lower when the clients' core limited it (see the notes).",
    ]
    notes = []
    for p in order:
        if p in med:
            notes += _proxy_notes(p, med[p], args) + _round_notes(p, results[p])
    emit_report(lines, notes + (args.note or []), args.out)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("check", help="one TLS 1.3 request with ALPN; print what was negotiated")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--client", choices=sorted(REQUESTS), required=True,
                   help="send the request this full-handshake client sends")
    p.add_argument("--ca", required=True, help="the certificate the proxy must present")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("handshakes",
                       help="full handshakes per second, a new connection per request")
    add_run_args(p)
    p.add_argument("--client", choices=sorted(CLIENTS), required=True)
    p.add_argument("--clients", type=int, required=True)
    p.set_defaults(func=cmd_handshakes)

    p = sub.add_parser("keepalive", help="keep-alive HTTPS requests per second with wrk")
    add_run_args(p)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--conns", type=int, required=True)
    p.add_argument("--out", required=True, help="wrk's output goes here")
    p.set_defaults(func=cmd_keepalive)

    p = sub.add_parser("report", help="print the table (median over rounds)")
    add_report_args(p)
    p.add_argument("--hs-client", required=True)
    p.add_argument("--clients", type=int, required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--conns", type=int, required=True)
    p.set_defaults(func=cmd_report)

    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
