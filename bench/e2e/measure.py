#!/usr/bin/env python3
"""Measurement helpers for bench/e2e/run.sh, reload.sh and failover.sh: process-tree CPU and RSS from
/proc, wrk output parsing, the idle and burst connection probes, the reload driver, the failover
sampler and analysis, and the final tables. Standard library only."""

import argparse
import http.client
import math
import os
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

# ---------------------------------------------------------------------------------------------
# /proc


def _stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (which may hold spaces and parentheses)."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    return data[data.rindex(")") + 2:].split()


def process_tree(root):
    """root and all its descendants. Proxies fork workers (nginx), so one pid is not enough."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(_stat_fields(entry)[1])
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_cpu_ticks(root, reaped=False):
    """utime+stime in clock ticks over the tree. /proc/PID/stat of a process covers all its threads.
    With reaped, also cutime+cstime: the time of children that exited and were waited for, such as
    the old workers a reload replaces."""
    total = 0
    for pid in process_tree(root):
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        if reaped:
            total += int(fields[13]) + int(fields[14])
    return total


def tree_rss_kib(root):
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def core_ticks(cpu):
    """(busy, total) clock ticks of one core from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:]]
                # user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
                total = sum(v[:8])
                return total - v[3] - v[4], total
    raise SystemExit(f"cpu{cpu} not in /proc/stat")


def cmd_sample(args):
    """One line the shell keeps before and after a run: proxy ticks, busy and total ticks of the
    proxy's core and of the load core, and the time."""
    busy, total = core_ticks(args.cpu)
    load_busy, load_total = core_ticks(args.load_cpu)
    print(tree_cpu_ticks(args.pid, args.with_reaped), busy, total, load_busy, load_total,
          f"{time.monotonic():.6f}")


def cmd_busy(args):
    """The busiest of the given cores over --seconds, in whole percent."""
    cpus = [int(c) for c in args.cpus.split(",")]
    before = [core_ticks(c) for c in cpus]
    time.sleep(args.seconds)
    after = [core_ticks(c) for c in cpus]
    print(max(round(100 * (a[0] - b[0]) / max(a[1] - b[1], 1)) for a, b in zip(after, before)))


def cmd_tree(args):
    print(" ".join(str(p) for p in process_tree(args.pid)))


# ---------------------------------------------------------------------------------------------
# wrk

_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(text):
    for unit in sorted(_TIME_UNITS, key=len, reverse=True):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * _TIME_UNITS[unit]
    raise ValueError(f"bad wrk time {text!r}")


def parse_wrk(path, allow_empty=False):
    """wrk's summary; allow_empty: a run that completed no request is a result too (failover.sh:
    a window in which every request failed), not an error."""
    out = {"requests": 0, "seconds": 0.0, "rps": 0.0, "p99_ms": float("nan"), "errors": 0, "non2xx": 0}
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            words = line.split()
            if line.startswith("99%"):
                out["p99_ms"] = _ms(words[1])
            elif " requests in " in line:
                # 1234 requests in 5.00s, 1.2MB read
                out["requests"] = int(words[0])
                out["seconds"] = _ms(words[3].rstrip(",")) / 1e3
            elif line.startswith("Requests/sec:"):
                out["rps"] = float(words[1])
            elif line.startswith("Socket errors:"):
                # Socket errors: connect 0, read 0, write 0, timeout 0
                out["errors"] = sum(int(w.rstrip(",")) for w in words[3::2])
            elif line.startswith("Non-2xx or 3xx responses:"):
                out["non2xx"] = int(words[-1])
    if out["requests"] == 0 and not allow_empty:
        raise SystemExit(f"{path}: wrk completed no request:\n" + open(path).read())
    return out


def _deltas(before, after):
    b, a = [float(x) for x in before.split()], [float(x) for x in after.split()]
    return [y - x for x, y in zip(b, a)]


def cmd_small(args):
    """Metrics of one small-response run, named "<key>.<metric>": req/s, p99, CPU per request, and
    how busy both cores were."""
    w = parse_wrk(args.wrk)
    proxy_ticks, core_busy, core_total, load_busy, load_total, wall = _deltas(args.before, args.after)
    emit = lambda metric, value: print(f"{args.proxy}\t{args.key}.{metric}\t{value}")
    emit("rps", w["rps"])
    emit("p99_ms", w["p99_ms"])
    emit("cpu_us", proxy_ticks * 1e6 / CLK_TCK / w["requests"])
    emit("requests", w["requests"])
    # Diagnostics for the notes: a proxy well below 100% of its core was not the bottleneck
    # (then core 1, shared by wrk and the upstream, was), and busy time on core 0 that is not
    # the proxy's is interference from something else on the machine (or softirq work).
    wall_ticks = wall * CLK_TCK
    emit("proxy_busy_pct", 100.0 * proxy_ticks / wall_ticks)
    emit("core_other_pct", 100.0 * max(0.0, core_busy - proxy_ticks) / max(core_total, 1))
    emit("load_core_pct", 100.0 * load_busy / max(load_total, 1))
    emit("errors", w["errors"] + w["non2xx"])


def cmd_big(args):
    w = parse_wrk(args.wrk)
    emit = lambda metric, value: print(f"{args.proxy}\t{metric}\t{value}")
    # Body throughput: every response is exactly 1 MiB of body, so responses/s is MiB/s. This is
    # exact, where wrk's "Transfer/sec" is rounded to two decimals of GB.
    emit("mib_s", w["rps"])
    emit("big_requests", w["requests"])
    emit("big_errors", w["errors"] + w["non2xx"])
    # The 1 MiB run is rarely CPU-bound on the proxy's core (wrk reads 8 KiB at a time on the
    # load core), so note how busy both cores were and what a MiB cost the proxy.
    proxy_ticks, _, _, load_busy, load_total, wall = _deltas(args.before, args.after)
    emit("big_busy_pct", 100.0 * proxy_ticks / (wall * CLK_TCK))
    emit("big_load_core_pct", 100.0 * load_busy / max(load_total, 1))
    emit("big_cpu_us_per_mib", proxy_ticks * 1e6 / CLK_TCK / w["requests"])


# ---------------------------------------------------------------------------------------------
# Idle keep-alive connections


def _response_complete(buf):
    """Whether buf holds one whole HTTP/1.1 200 response (Content-Length or chunked); raises on any
    other status or a response without a length."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    status_line, *headers = bytes(buf[:head_end]).decode("latin-1").split("\r\n")
    if status_line.split()[1] != "200":
        raise ConnectionError(f"unexpected status: {status_line}")
    fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in headers)}
    body = buf[head_end + 4:]
    if "content-length" in fields:
        return len(body) >= int(fields["content-length"])
    if fields.get("transfer-encoding", "").lower() == "chunked":
        return body.endswith(b"0\r\n\r\n")
    raise ConnectionError("response has no length; a keep-alive connection needs one")


def _read_response(sock):
    """Read one HTTP/1.1 response. Raises on EOF."""
    buf = b""
    while not _response_complete(buf):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the end of the response")
        buf += chunk


def _settled_rss(pid):
    """RSS once it stops moving: a proxy may still be releasing request buffers after replying."""
    last = tree_rss_kib(pid)
    for _ in range(30):
        time.sleep(0.1)
        now = tree_rss_kib(pid)
        if now == last:
            break
        last = now
    return last


def _raise_open_file_limit(count):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < count + 64:
        raise SystemExit(f"open-file limit {hard} is too low for {count} connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _readable(socks):
    """How many of socks have something to read or were closed: on an idle keep-alive connection,
    that is the proxy closing it."""
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
    return len(poller.poll(0))


def cmd_idle(args):
    _raise_open_file_limit(args.count)
    before = _settled_rss(args.pid)
    request = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\n\r\n".encode()
    socks = []
    try:
        for i in range(args.count):
            try:
                s = socket.create_connection(("127.0.0.1", args.port), timeout=10)
                socks.append(s)
                s.sendall(request)
                _read_response(s)
            except OSError as e:
                raise SystemExit(f"{args.proxy}: idle connection {i + 1} of {args.count}: {e}")
        after = _settled_rss(args.pid)
        # A connection the proxy closed would make the figure an underestimate, so count them.
        closed = _readable(socks)
    finally:
        for s in socks:
            s.close()
    emit = lambda metric, value: print(f"{args.proxy}\t{metric}\t{value}")
    emit("kib_idle", (after - before) / args.count)
    emit("rss_before_kib", before)
    emit("rss_after_kib", after)
    emit("idle_closed", closed)


_TCP_LISTEN, _TCP_TIME_WAIT, _TCP_ESTABLISHED = "0A", "06", "01"


def _tcp_counts(port, upstream_port):
    """(connections a server on `port` holds, established connections to `upstream_port`) from
    /proc/net/tcp. On loopback both ends of a connection are listed; the server's end is the one
    whose local port is `port`. Listening sockets and TIME_WAIT (no longer held) are left out."""
    held = upstream = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            state = fields[3]
            if local_port == port and state not in (_TCP_LISTEN, _TCP_TIME_WAIT):
                held += 1
            elif remote_port == upstream_port and state == _TCP_ESTABLISHED:
                upstream += 1
    return held, upstream


def _read_all_responses(socks, proxy, timeout):
    """Read one whole response on every socket, all at once, in whatever order they come."""
    pending = {}
    poller = select.poll()
    for s in socks:
        s.setblocking(False)
        pending[s.fileno()] = (s, bytearray())
        poller.register(s, select.POLLIN)
    deadline = time.monotonic() + timeout
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SystemExit(f"{proxy}: burst: {len(pending)} of {len(socks)} responses missing "
                             f"after {timeout:.0f} s")
        for fd, _ in poller.poll(min(left, 1.0) * 1000):
            s, buf = pending[fd]
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                raise SystemExit(f"{proxy}: burst: {e}")
            if not chunk:
                raise SystemExit(f"{proxy}: burst: a connection closed before its response")
            buf += chunk
            try:
                done = _response_complete(buf)
            except ConnectionError as e:
                raise SystemExit(f"{proxy}: burst: {e}")
            if done:
                poller.unregister(fd)
                del pending[fd]


def cmd_burst(args):
    """N clients that each send one request at once and then stay idle, as after a spike of
    traffic: connect all, send every request before reading any response, read them all, keep the
    connections open; then close them all and see how much memory the proxy gives back."""
    _raise_open_file_limit(args.count)
    held_before, _ = _tcp_counts(args.port, args.upstream_port)
    before = _settled_rss(args.pid)
    request = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\n\r\n".encode()
    socks = []
    try:
        for i in range(args.count):
            try:
                socks.append(socket.create_connection(("127.0.0.1", args.port), timeout=10))
            except OSError as e:
                raise SystemExit(f"{args.proxy}: burst connection {i + 1} of {args.count}: {e}")
        connected = _settled_rss(args.pid)
        start = time.monotonic()
        for s in socks:
            s.sendall(request)   # tens of bytes: never blocks on a fresh connection
        send_s = time.monotonic() - start
        _read_all_responses(socks, args.proxy, timeout=60)
        burst_s = time.monotonic() - start
        after = _settled_rss(args.pid)
        closed = _readable(socks)
    finally:
        for s in socks:
            s.close()
    # Wait, bounded, until the proxy has let go of the connections, then let RSS settle.
    drop_start = time.monotonic()
    while True:
        held, kept_upstream = _tcp_counts(args.port, args.upstream_port)
        if held <= held_before or time.monotonic() - drop_start >= 2.0:
            break
        time.sleep(0.02)
    drop_ms = (time.monotonic() - drop_start) * 1e3
    # Then until the proxy's idle upstream connections stop going away (a pool that sheds a
    # burst's surplus gradually, bounded): the RSS reading is of the proxy at rest again.
    settle_start = time.monotonic()
    last_change = settle_start
    while time.monotonic() - settle_start < 20.0 and time.monotonic() - last_change < 2.0:
        time.sleep(0.25)
        _, upstream_now = _tcp_counts(args.port, args.upstream_port)
        if upstream_now != kept_upstream:
            kept_upstream = upstream_now
            last_change = time.monotonic()
    settle_s = last_change - settle_start
    disconnected = _settled_rss(args.pid)
    emit = lambda metric, value: print(f"{args.proxy}\t{metric}\t{value}")
    emit("kib_burst", (after - before) / args.count)
    emit("burst_rss_ratio", disconnected / before)
    emit("burst_kib_connected", (connected - before) / args.count)
    emit("burst_rss_before_kib", before)
    emit("burst_rss_after_kib", after)
    emit("burst_rss_disconnected_kib", disconnected)
    emit("burst_requests", args.count)
    emit("burst_send_ms", send_s * 1e3)
    emit("burst_seconds", burst_s)
    emit("burst_closed", closed)
    emit("burst_settle_s", settle_s)
    emit("burst_drop_ms", drop_ms)
    emit("burst_still_held", max(0, held - held_before))
    emit("burst_kept_upstream", kept_upstream)


# ---------------------------------------------------------------------------------------------
# Report

# (metric, header, format, higher_is_better): per access log mode and connection count ...
LOAD_COLUMNS = [
    ("rps", "req/s", "{:.0f}", True),
    ("p99_ms", "p99 ms", "{:.2f}", False),
    ("cpu_us", "CPU µs/req", "{:.1f}", False),
]
# ... and once per proxy.
MEMORY_COLUMNS = [
    ("kib_idle", "KiB/idle conn", "{:.2f}", False),
    ("kib_burst", "KiB/conn after burst", "{:.2f}", False),
    ("burst_rss_ratio", "RSS after disconnect/before", "{:.2f}x", False),
    ("mib_s", "1 MiB MiB/s", "{:.0f}", True),
]
# The targets for waygate's shipped defaults after a burst.
BURST_KIB_TARGET = 1.0
BURST_RSS_RATIO_TARGET = 1.10


def load_results(path):
    """{proxy: {metric: [value per round]}} in the order proxies first appear."""
    results = {}
    with open(path) as f:
        for line in f:
            proxy, metric, value = line.rstrip("\n").split("\t")
            results.setdefault(proxy, {}).setdefault(metric, []).append(float(value))
    return results


def load_medians(path):
    """load_results (empty when no proxy got measured) and {proxy: {metric: median over rounds}}."""
    results = load_results(path) if os.path.getsize(path) else {}
    return results, {p: {m: statistics.median(v) for m, v in ms.items()} for p, ms in results.items()}


def _table(rows, groups=()):
    """Text table lines: the first column left-aligned, the others right-aligned, two spaces apart.
    A row of one cell is a section label. groups: (label, first column, column count), printed
    centred above their columns."""
    ncols = max(len(r) for r in rows)
    widths = [max((len(r[i]) for r in rows if len(r) > i and (i > 0 or len(r) > 1)), default=0)
              for i in range(ncols)]
    for label, first, count in groups:   # widen a group's last column if its label needs room
        span = sum(widths[first:first + count]) + 2 * (count - 1)
        widths[first + count - 1] += max(0, len(label) + 2 - span)

    def fmt(row):
        if len(row) == 1:
            return row[0]
        cells = [row[0].ljust(widths[0])] + [v.rjust(w) for v, w in zip(row[1:], widths[1:])]
        return "  ".join(cells).rstrip()

    lines = []
    if groups:
        line, col = " " * widths[0], 1
        for label, first, count in groups:
            line += "".join("  " + " " * widths[i] for i in range(col, first))
            span = sum(widths[first:first + count]) + 2 * (count - 1)
            line += "  " + f" {label} ".center(span, "-")
            col = first + count
        lines.append(line.rstrip())
    return lines + [fmt(r) for r in rows]


def _ratio_cell(value, best):
    """value / best, or "-" without both; best is the best of the peers (max or min)."""
    if value is None or best is None:
        return "-"
    return f"{value / best:.2f}x" if best > 0 else "n/a"


def _ratio_rows(med, waygates, peers, metrics):
    """A "<waygate row>/best" row per waygate row: its figure / the peers' best, per column; higher
    is True, False, or None for a column without a ratio (an empty cell). A waygate row without
    figures (it failed) gets "-" cells."""
    rows = []
    for w in waygates:
        cells = [f"{w}/best"]
        for metric, higher in metrics:
            if higher is None:
                cells.append("")
                continue
            vals = [med[p][metric] for p in peers if metric in med[p]]
            best = (max(vals) if higher else min(vals)) if vals else None
            cells.append(_ratio_cell(med.get(w, {}).get(metric), best))
        rows.append(cells)
    return rows


def _cell(m, metric, form):
    return form.format(m[metric]) if metric in m else "-"


def cmd_report(args):
    results, med = load_medians(args.results)
    order = [p for p in args.proxies.split(",") if p]
    modes = [m for m in args.modes.split(",") if m]
    conns = [c for c in args.conns.split(",") if c]
    peers = [p for p in order if not p.startswith("waygate") and p in med]
    waygates = [p for p in order if p.startswith("waygate") and p in med] if peers else []
    better = lambda higher: "higher" if higher else "lower"
    lines = [args.title, ""]

    # Small responses: a row block per access log mode, a column group per connection count.
    keys = [f"c{c}" for c in conns]
    metrics = [(f"{k}.{c[0]}", c) for k in keys for c in LOAD_COLUMNS]
    groups = [(f"{c} conns", 1 + i * len(LOAD_COLUMNS), len(LOAD_COLUMNS)) for i, c in enumerate(conns)]
    rows = [["small responses"] + [c[1] for _, c in metrics]]
    for mode in modes:
        rows.append([f"access log {mode}"])
        for p in order:
            m = med.get(p, {})
            rows.append([f"  {p}"] + [_cell(m, f"{mode}.{metric}", c[2]) for metric, c in metrics])
        rows += [["  " + r[0]] + r[1:] for r in _ratio_rows(
            med, waygates, peers, [(f"{mode}.{metric}", c[3]) for metric, c in metrics])]
    rows.append(["better"] + [better(c[3]) for _, c in metrics])
    lines += _table(rows, groups)

    # Memory, and 1 MiB responses: a row per proxy.
    lines.append("")
    rows = [["memory, 1 MiB"] + [c[1] for c in MEMORY_COLUMNS]]
    rows += [[p] + [_cell(med.get(p, {}), c[0], c[2]) for c in MEMORY_COLUMNS] for p in order]
    rows += _ratio_rows(med, waygates, peers, [(c[0], c[3]) for c in MEMORY_COLUMNS])
    rows.append(["better"] + [better(c[3]) for c in MEMORY_COLUMNS])
    lines += _table(rows)

    lines.append("")
    if waygates:
        lines.append("<row>/best divides that row's figure by the best of "
                     f"{' and '.join(peers)} in the column (max where higher")
        lines.append("is better, min where lower is better): >1x beats them on req/s and MiB/s, "
                     "<1x on the others.")
    w = med.get("waygate", {})
    if "kib_burst" in w:
        met = lambda ok: "met" if ok else "NOT MET"
        lines.append(f"targets for waygate: KiB/conn after burst <= {BURST_KIB_TARGET:.1f}: "
                     f"{met(w['kib_burst'] <= BURST_KIB_TARGET)} ({w['kib_burst']:.2f}); "
                     f"RSS after disconnect within {100 * (BURST_RSS_RATIO_TARGET - 1):.0f}% of before: "
                     f"{met(w['burst_rss_ratio'] <= BURST_RSS_RATIO_TARGET)} ({w['burst_rss_ratio']:.2f}x)")

    # Upstream connections each timed run opened: churn, where keep-alive pools were too small.
    runs = [(f"{mode}/{c}", f"{mode}.c{c}.upstream_conns", f"{mode}.c{c}.requests")
            for mode in modes for c in conns]
    runs += [("1 MiB", "big_upstream_conns", "big_requests"),
             ("burst", "burst_upstream_conns", "burst_requests")]
    measured = [p for p in order if p in med]
    if measured:
        lines.append("")
        rows = [["upstream conns opened"] + [r[0] for r in runs]]
        rows += [_upstream_row(med[p], p, runs) for p in measured]
        lines += _table(rows)
        lines.append("during each timed run, from the upstream's stub_status; in brackets, per "
                     "request served. After the warm-up,")
        lines.append("a pool that holds what the load needs opens none.")

    notes = []
    for p in order:
        m = med.get(p)
        if m is not None:
            notes += _proxy_notes(p, m, modes, conns, args)
    emit_report(lines, notes + (args.note or []), args.out)


def _upstream_row(m, proxy, runs):
    cells = [proxy]
    for _, conns_metric, requests_metric in runs:
        n, requests = m.get(conns_metric), m.get(requests_metric)
        if n is None:
            cells.append("-")
        elif requests:
            cells.append(f"{n:.0f} ({100 * n / requests:.1f}%)")
        else:
            cells.append(f"{n:.0f}")
    return cells


def _proxy_notes(p, m, modes, conns, args):
    """The notes under the tables for proxy p (its medians m): how busy the cores were, access log
    lines per request, RSS readings, and warnings."""
    notes = []
    at = "/".join(conns)
    for mode in modes:
        keys = [f"{mode}.c{c}" for c in conns]

        def per_conns(metric, form, keys=keys):
            return "/".join(form.format(m[f"{k}.{metric}"]) if f"{k}.{metric}" in m else "-" for k in keys)

        if not any(f"{k}.rps" in m for k in keys):
            continue
        notes.append(f"{p}, access log {mode}: proxy used {per_conns('proxy_busy_pct', '{:.0f}%')} of core "
                     f"{args.proxy_cpu} at {at} conns (other busy time there "
                     f"{per_conns('core_other_pct', '{:.0f}%')}), load core {args.load_cpu} "
                     f"{per_conns('load_core_pct', '{:.0f}%')} busy")
        if mode != "off":
            ratios = [m[f"{k}.log_lines"] / m[f"{k}.requests"] for k in keys
                      if f"{k}.log_lines" in m and m.get(f"{k}.requests")]
            notes.append(f"{p}: access log lines written per request served in the timed runs: "
                         + "/".join(f"{r:.2f}" for r in ratios))
            if any(r < 0.95 for r in ratios):
                notes.append(f"{p}: WARNING its access log missed requests; the {mode} mode is not "
                             "comparable for it")
        other = max((m.get(f"{k}.core_other_pct", 0) for k in keys), default=0)
        if other > 5:
            notes.append(f"{p}: WARNING something else used up to {other:.0f}% of core "
                         f"{args.proxy_cpu} during the access log {mode} runs; their figures are unreliable")
        errs = sum(m.get(f"{k}.errors", 0) for k in keys)
        if errs:
            notes.append(f"{p}: WARNING wrk saw {errs:.0f} socket errors or non-2xx responses "
                         f"with access log {mode}")
    if "big_busy_pct" in m:
        notes.append(f"{p}: 1 MiB run: proxy used {m['big_busy_pct']:.0f}% of its core, "
                     f"{m['big_cpu_us_per_mib']:.0f} µs CPU per MiB; "
                     f"load core {m['big_load_core_pct']:.0f}% busy")
    if m.get("big_errors", 0):
        notes.append(f"{p}: WARNING wrk saw {m['big_errors']:.0f} socket errors or non-2xx responses "
                     "in the 1 MiB run")
    if "rss_before_kib" in m:
        notes.append(f"{p}: idle: RSS {m['rss_before_kib']:.0f} KiB before the idle connections, "
                     f"{m['rss_after_kib']:.0f} KiB with them")
    if m.get("idle_closed", 0):
        notes.append(f"{p}: WARNING {m['idle_closed']:.0f} idle connections were closed by the proxy "
                     "before the RSS reading")
    if "burst_rss_before_kib" in m:
        notes.append(f"{p}: burst: {m['burst_requests']:.0f} requests sent in {m['burst_send_ms']:.0f} ms, "
                     f"all answered in {m['burst_seconds']:.2f} s; "
                     f"RSS {m['burst_rss_before_kib']:.0f} KiB before, "
                     f"{m['burst_rss_after_kib']:.0f} KiB after the responses "
                     f"({m['burst_kib_connected']:.2f} KiB/conn of it before any request was sent), "
                     f"{m['burst_rss_disconnected_kib']:.0f} KiB after the disconnect")
        notes.append(f"{p}: burst: the proxy let go of the closed connections within "
                     f"{m['burst_drop_ms']:.0f} ms; its upstream connections settled at "
                     f"{m['burst_kept_upstream']:.0f} after {m.get('burst_settle_s', 0):.1f} s more, "
                     "when RSS was read")
    if m.get("burst_closed", 0):
        notes.append(f"{p}: WARNING the proxy closed {m['burst_closed']:.0f} connections after their "
                     "burst response, before the RSS reading")
    if m.get("burst_still_held", 0):
        notes.append(f"{p}: WARNING {m['burst_still_held']:.0f} closed connections were still held 2 s "
                     "after the disconnect, at the RSS reading")
    return notes


# ---------------------------------------------------------------------------------------------
# Reloads under load (reload.sh)


def _socket_errors(path):
    """wrk's "Socket errors: connect 0, read 0, write 0, timeout 0" by kind; zeros when absent."""
    out = dict.fromkeys(("connect", "read", "write", "timeout"), 0)
    with open(path) as f:
        for line in f:
            if line.strip().startswith("Socket errors:"):
                words = line.split()
                for kind, n in zip(words[2::2], words[3::2]):
                    out[kind] = int(n.rstrip(","))
    return out


def cmd_phase(args):
    """Metrics of one reload.sh phase, named "<phase>_<metric>": p99, req/s, errors, CPU."""
    w = parse_wrk(args.wrk)
    proxy_ticks, core_busy, core_total, _, _, _ = _deltas(args.before, args.after)
    emit = lambda metric, value: print(f"{args.proxy}\t{args.phase}_{metric}\t{value}")
    emit("p99_ms", w["p99_ms"])
    emit("rps", w["rps"])
    emit("errors", w["errors"])
    emit("non2xx", w["non2xx"])
    for kind, n in _socket_errors(args.wrk).items():
        emit(f"err_{kind}", n)
    emit("cpu_us", proxy_ticks * 1e6 / CLK_TCK / w["requests"])
    emit("core_other_pct", 100.0 * max(0.0, core_busy - proxy_ticks) / max(core_total, 1))


def _header_value(port, name):
    """The value of response header `name` to GET / on a new connection; None on any failure."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.getheader(name)
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def cmd_reloads(args):
    """Run the load command (wrk), and meanwhile reload the proxy --count times (0 for none),
    evenly over --duration seconds. The load starts only once this interpreter is up: Python's
    start-up, tens of ms of CPU on the load core, would otherwise raise the run's p99 by itself.
    Each reload renames the next variant (alternating) over the live config and signals the proxy;
    it counts as done once a new connection sees that variant's header value, polled for at most
    apply_timeout. A reload waits for its slot and for the previous one; none starts after the end."""
    apply_timeout = 2.0
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SystemExit("reloads: give the load command after --")
    sig = getattr(signal, "SIG" + args.signal)
    with open(args.load_out, "w") as out:
        load = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    start = time.monotonic()
    end = start + args.duration
    sent = done = 0
    apply_ms = []
    for k in range(args.count):
        due = start + (k + 0.5) * args.duration / args.count
        time.sleep(max(0.0, due - time.monotonic()))
        if time.monotonic() >= end:
            break
        variant, value = args.variants[k % 2], args.values[k % 2]
        staged = args.live + ".next"   # same directory, so the rename is atomic
        shutil.copyfile(variant, staged)
        os.replace(staged, args.live)
        try:
            os.kill(args.pid, sig)
        except ProcessLookupError:
            load.kill()
            raise SystemExit(f"{args.proxy}: pid {args.pid} is gone after {sent} reloads")
        signalled = time.monotonic()
        sent += 1
        while time.monotonic() - signalled < apply_timeout:
            if _header_value(args.port, args.header) == value:
                done += 1
                apply_ms.append((time.monotonic() - signalled) * 1e3)
                break
            time.sleep(0.01)
    if load.wait() != 0:
        raise SystemExit(f"{args.proxy}: {command[0]} exited with {load.returncode}; see {args.load_out}")
    if args.count == 0:
        return
    emit = lambda metric, value: print(f"{args.proxy}\t{metric}\t{value}")
    emit("reloads_planned", args.count)
    emit("reloads_sent", sent)
    emit("reloads_done", done)
    if apply_ms:
        emit("apply_ms_median", statistics.median(apply_ms))
        emit("apply_ms_max", max(apply_ms))


_RELOAD_COLUMNS = ["reloads", "steady p99 ms", "reload p99 ms", "reload/steady", "socket errors",
                   "non-2xx"]


def cmd_reload_report(args):
    results, med = load_medians(args.results)
    order = [p for p in args.proxies.split(",") if p]
    tot = {p: {m: sum(v) for m, v in ms.items()} for p, ms in results.items()}

    def ratio(p):
        m = med.get(p, {})
        if "steady_p99_ms" in m and "reload_p99_ms" in m and m["steady_p99_ms"] > 0:
            return m["reload_p99_ms"] / m["steady_p99_ms"]
        return None

    def row(p):
        m, t = med.get(p, {}), tot.get(p, {})
        cells = [p]
        cells.append(f"{t['reloads_done']:.0f}/{t['reloads_planned']:.0f}" if "reloads_done" in t else "-")
        cells.append(f"{m['steady_p99_ms']:.2f}" if "steady_p99_ms" in m else "-")
        cells.append(f"{m['reload_p99_ms']:.2f}" if "reload_p99_ms" in m else "-")
        cells.append(f"{ratio(p):.2f}x" if ratio(p) is not None else "-")
        cells.append(f"{t['reload_errors']:.0f}" if "reload_errors" in t else "-")
        cells.append(f"{t['reload_non2xx']:.0f}" if "reload_non2xx" in t else "-")
        return cells

    header = ["proxy"] + _RELOAD_COLUMNS
    rows = [row(p) for p in order]
    others = [p for p in order if p != "waygate" and "reload_p99_ms" in med.get(p, {})]
    compare = "reload_p99_ms" in med.get("waygate", {}) and others
    extra = []
    if compare:
        best = lambda values: min(values) if values else None
        cells = ["waygate/best", ""]
        for metric in ("steady_p99_ms", "reload_p99_ms"):
            b = best([med[p][metric] for p in others])
            cells.append(f"{med['waygate'][metric] / b:.2f}x" if b else "n/a")
        b = best([ratio(p) for p in others if ratio(p) is not None])
        cells.append(f"{ratio('waygate') / b:.2f}x" if b and ratio("waygate") is not None else "n/a")
        cells += ["", ""]
        extra.append(cells)
    extra.append(["better", "all", "lower", "lower", "lower", "fewer", "fewer"])

    widths = [max(len(r[i]) for r in rows + extra + [header]) for i in range(len(header))]

    def fmt(cells):
        padded = [cells[0].ljust(widths[0])] + [v.rjust(w) for v, w in zip(cells[1:], widths[1:])]
        return "  ".join(padded).rstrip()

    lines = [args.title, "", fmt(header)] + [fmt(r) for r in rows] + [fmt(r) for r in extra]
    lines.append("")
    lines.append("reloads: done/planned; done = a new connection saw the new config's header.")
    lines.append(f"p99: median of {args.rounds} round(s); reload/steady = reload p99 / steady p99.")
    lines.append("socket errors (wrk: connect+read+write+timeout) and non-2xx: in the reload run, "
                 "all rounds.")
    if compare:
        lines.append("waygate/best: waygate's figure / the lowest of the others in that column.")
        w, t = med["waygate"], tot["waygate"]
        vs = lambda metric: ", ".join(f"{p} {tot[p].get(metric, 0):.0f}" for p in others)
        lines.append("")
        lines.append(f"waygate under reload: socket errors {t.get('reload_errors', 0):.0f} "
                     f"vs {vs('reload_errors')}; "
                     f"non-2xx {t.get('reload_non2xx', 0):.0f} vs {vs('reload_non2xx')};")
        p99_vs = [f"{w['reload_p99_ms'] / med[p]['reload_p99_ms']:.2f}x {p}'s" for p in others]
        lines.append("  reload p99 " + ", ".join(p99_vs))
    if "reload_p99_ms" in med.get("waygate", {}):
        t = tot["waygate"]
        errors = t.get("reload_errors", 0) + t.get("steady_errors", 0)
        r = ratio("waygate")
        met = lambda ok: "met" if ok else "NOT MET"
        r_text = f"{r:.2f}x" if r is not None else "n/a"
        lines.append("targets for waygate: socket errors = 0 in both runs: "
                     f"{met(errors == 0)} ({errors:.0f});")
        lines.append(f"  reload p99 <= 2x steady p99: {met(r is not None and r <= 2)} ({r_text})")

    notes = []
    for p in order:
        m, t = med.get(p), tot.get(p)
        if m is None:
            continue
        if "reload_rps" in m:
            notes.append(f"{p}: req/s {m['steady_rps']:.0f} steady, {m['reload_rps']:.0f} under reload; "
                         f"CPU µs/req {m['steady_cpu_us']:.1f} steady, "
                         f"{m['reload_cpu_us']:.1f} under reload (exited workers included)")
        steady, reload = results[p].get("steady_p99_ms", []), results[p].get("reload_p99_ms", [])
        if len(steady) > 1:
            notes.append(f"{p}: p99 ms per round, steady/reload: "
                         + ", ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(steady, reload)))
        kinds = [f"{k} {t[f'reload_err_{k}']:.0f}" for k in ("connect", "read", "write", "timeout")
                 if t.get(f"reload_err_{k}", 0)]
        if kinds:
            notes.append(f"{p}: socket errors under reload: {', '.join(kinds)}")
        if "reload_upstream_conns" in m:
            notes.append(f"{p}: upstream connections opened: {m['steady_upstream_conns']:.0f} steady, "
                         f"{m['reload_upstream_conns']:.0f} under reload (the reload driver's probes "
                         "may add a few)")
        if "apply_ms_median" in m:
            notes.append(f"{p}: signal to new config seen on a new connection: "
                         f"median {m['apply_ms_median']:.0f} ms, max {m['apply_ms_max']:.0f} ms")
        if t.get("reloads_done", 0) < t.get("reloads_planned", 0):
            notes.append(f"{p}: WARNING only {t['reloads_done']:.0f} of {t['reloads_planned']:.0f} reloads "
                         f"were seen to apply ({t['reloads_sent']:.0f} sent)")
        if "procs_after" in m:
            notes.append(f"{p}: processes in its tree right after the reload run: {m['procs_after']:.0f}")
        if t.get("steady_errors", 0) or t.get("steady_non2xx", 0):
            notes.append(f"{p}: WARNING steady run had {t['steady_errors']:.0f} socket errors and "
                         f"{t['steady_non2xx']:.0f} non-2xx responses")
        other = {phase: m.get(f"{phase}_core_other_pct", 0) for phase in ("steady", "reload")}
        if max(other.values()) > 5:
            notes.append(f"{p}: WARNING something else used {other['steady']:.0f}% of core "
                         f"{args.proxy_cpu} in the steady run, {other['reload']:.0f}% in the reload run; "
                         "its figures are unreliable")
    emit_report(lines, notes + (args.note or []), args.out)


# ---------------------------------------------------------------------------------------------
# Failover (failover.sh)


def _failed_connects():
    """Failed TCP connection attempts on this machine so far (/proc/net/snmp, Tcp AttemptFails). A
    connect to a port nobody listens on counts one: that is how failover.sh sees a proxy still
    trying the backend it killed, which has no counter of its own while it is down."""
    with open("/proc/net/snmp") as f:
        tcp = [line.split() for line in f if line.startswith("Tcp:")]
    return int(tcp[1][tcp[0].index("AttemptFails")])


class _StubStatus:
    """The request counter of one nginx backend (stub_status), read on a keep-alive connection."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def requests(self):
        """(requests so far, or None when the backend does not answer; 1 when this read's own
        connect was refused, so the caller can take it out of the machine's failed connects)."""
        if self.conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=0.5)
            try:
                conn.connect()
            except ConnectionRefusedError:
                return None, 1
            except OSError:
                return None, 0
            self.conn = conn
        try:
            self.conn.request("GET", "/status")
            body = self.conn.getresponse().read()
            # "Active connections: 1 \nserver accepts handled requests\n 3 3 17 \n..."
            return int(body.split(b"\n")[2].split()[2]), 0
        except (OSError, http.client.HTTPException, IndexError, ValueError):
            self.conn.close()   # the backend was killed under it: reconnect on the next read
            self.conn = None
            return None, 0


def cmd_failover_sample(args):
    """Every --interval-ms until SIGTERM, one line: the time (the middle of the backend reads), each
    backend's request counter ("-" while it does not answer), the machine's failed connects, and
    how many of those were this sampler's own. --ready is created once the first line is written."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    backends = [_StubStatus(int(p)) for p in args.ports.split(",")]
    interval = args.interval_ms / 1e3
    due = time.monotonic()
    with open(args.out, "w") as out:
        while not stop:
            begin = time.time()
            counts, own = [], 0
            for backend in backends:
                n, refused = backend.requests()
                counts.append("-" if n is None else str(n))
                own += refused
            failed = _failed_connects()   # read after our own connects: they fall in this interval
            out.write(f"{(begin + time.time()) / 2:.6f} {' '.join(counts)} {failed} {own}\n")
            if args.ready and not os.path.exists(args.ready):
                out.flush()
                open(args.ready, "w").close()
            due += interval
            now = time.monotonic()
            due = max(due, now)   # behind after a busy moment on the core: keep the pace from here
            time.sleep(due - now)


def _failover_intervals(path):
    """(start, end, requests each backend served, failed connects of other processes) for each
    interval between two samples. A backend's figure is None where either sample missed it or its
    counter started again (the restarted process); each of our reads is one request, taken out."""
    rows = []
    with open(path) as f:
        for line in f:
            w = line.split()
            rows.append((float(w[0]), [None if x == "-" else int(x) for x in w[1:-2]], int(w[-2]),
                         int(w[-1])))
    out = []
    for (t0, n0, f0, _), (t1, n1, f1, own) in zip(rows, rows[1:]):
        served = [b - a - 1 if a is not None and b is not None and b > a else None
                  for a, b in zip(n0, n1)]
        out.append((t0, t1, served, f1 - f0 - own))
    return out


def _wrk_window(path):
    """One wrk run of failover.sh: its summary, socket errors by kind, and its latency histogram
    ({µs: count}, printed by the done() hook of failover.sh; None if the hook left it out)."""
    w = parse_wrk(path, allow_empty=True)
    w.update(_socket_errors(path))
    hist = {}
    with open(path) as f:
        for line in f:
            if line.startswith("latency_us "):
                _, value, count = line.split()
                hist[int(value)] = hist.get(int(value), 0) + int(count)
            elif line.startswith("latency_us_skipped"):
                hist = None
                break
    w["hist"] = hist
    return w


def _hist_percentile(hist, p):
    """wrk's percentile over a histogram {µs: count}: the smallest value whose cumulative count
    reaches round(p/100 * count + 0.5), rounded half up as C's round() in wrk."""
    rank = math.floor(p / 100 * sum(hist.values()) + 1.0)
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return value
    return None


def _shares(intervals, members):
    """Each member's share of the requests served by the members over these intervals."""
    totals = [sum(iv[2][i] for iv in intervals) for i in members]
    return [t / sum(totals) for t in totals] if sum(totals) else None


def cmd_failover(args):
    """The figures of one failover run: client errors per window from the three wrk runs, whole-run
    req/s and p99, and from the samples how long the proxy kept trying the killed backend and how
    long the restarted one took to get its share back."""
    emit = lambda metric, value: print(f"{args.proxy}\t{metric}\t{value}")
    windows = dict(zip(("before", "down", "after"), (_wrk_window(p) for p in args.wrk)))
    for name, w in windows.items():
        emit(f"{name}_requests", w["requests"])
        emit(f"{name}_rps", w["rps"])
        if w["requests"]:
            emit(f"{name}_p99_ms", w["p99_ms"])
        for kind in ("connect", "read", "write", "timeout"):
            emit(f"{name}_err_{kind}", w[kind])
        emit(f"{name}_non2xx", w["non2xx"])
        emit(f"{name}_errors", w["errors"] + w["non2xx"])
    emit("errors", sum(w["errors"] + w["non2xx"] for w in windows.values()))
    requests = sum(w["requests"] for w in windows.values())
    emit("rps", requests / sum(w["seconds"] for w in windows.values()))
    if all(w["hist"] is not None for w in windows.values()):
        merged = {}
        for w in windows.values():
            for value, count in w["hist"].items():
                merged[value] = merged.get(value, 0) + count
        if merged:
            emit("p99_ms", _hist_percentile(merged, 99) / 1e3)
    elif requests:
        emit("p99_ms", max(w["p99_ms"] for w in windows.values() if w["requests"]))
        emit("p99_upper_bound", 1)

    proxy_ticks, core_busy, core_total, _, _, wall = _deltas(args.before, args.after)
    emit("proxy_busy_pct", 100.0 * proxy_ticks / (wall * CLK_TCK))
    emit("core_other_pct", 100.0 * max(0.0, core_busy - proxy_ticks) / max(core_total, 1))

    intervals = _failover_intervals(args.samples)
    kill, restart, victim = args.kill, args.restart, args.victim
    steps = [t1 - t0 for t0, t1, _, _ in intervals]
    if steps:
        emit("sample_ms_median", statistics.median(steps) * 1e3)
        emit("sample_ms_max", max(steps) * 1e3)
    names = args.names.split(",")
    everyone = range(len(names))
    survivors = [i for i in everyone if i != victim]
    complete = lambda iv, members: all(iv[2][i] is not None for i in members)
    load = lambda iv, members: sum(iv[2][i] for i in members)

    # Before the kill: the shares (all three should serve), and what an interval normally carries,
    # so the intervals around the gaps between the wrk runs, nearly empty, are left out below.
    before = [iv for iv in intervals if iv[1] <= kill and complete(iv, everyone)]
    typical = statistics.median(load(iv, everyone) for iv in before) if before else 0
    loaded = lambda iv, members: complete(iv, members) and load(iv, members) >= typical / 4 > 0
    shares = _shares([iv for iv in before if loaded(iv, everyone)], everyone)
    if shares:
        for name, share in zip(names, shares):
            emit(f"share_before_{name}", share)
    emit("stray_failed_connects", sum(iv[3] for iv in intervals if iv[1] <= kill or iv[0] >= restart + 0.5))

    # The kill: failed connects from then on are attempts on the dead backend. Its health checks
    # make at most one per interval; more is live traffic. Settled: the end of the last interval
    # with more than one, counted from the kill.
    down = [iv for iv in intervals if iv[1] > kill and iv[0] < restart]
    emit("dead_attempts", sum(iv[3] for iv in down))
    busy = [iv[1] for iv in down if iv[3] > 1]
    settled_at = max(busy) if busy else kill
    if settled_at > restart:
        emit("settle_never", 1)
    else:
        emit("settle_s", settled_at - kill)
        quiet = [iv for iv in down if iv[0] >= settled_at and iv[1] <= restart]
        if quiet:
            emit("dead_attempts_per_s_settled", sum(iv[3] for iv in quiet) / (quiet[-1][1] - quiet[0][0]))
        shares = _shares([iv for iv in quiet if loaded(iv, survivors)], survivors)
        if shares:
            for i, share in zip(survivors, shares):
                emit(f"share_settled_{names[i]}", share)

    # The restart: the first interval in which the restarted backend served its third (within the
    # tolerance) of the requests, counted from the restart command to that interval's end.
    answered = [iv[1] for iv in intervals if iv[0] >= restart and iv[2][victim] is not None]
    if answered:
        emit("victim_up_ms", (answered[0] - restart) * 1e3)
    after = [iv for iv in intervals if iv[0] >= restart and loaded(iv, everyone)]
    within = [abs(load(iv, [victim]) / load(iv, everyone) * len(everyone) - 1) <= args.tolerance
              for iv in after]
    if True in within:
        first = within.index(True)
        emit("rejoin_s", after[first][1] - restart)
        later = within[first + 1:]
        if later:
            emit("rejoin_out_later_pct", 100.0 * later.count(False) / len(later))
    else:
        emit("rejoin_never", 1)
    if after:
        emit(f"share_end_{names[victim]}", _shares(after[-10:], everyone)[victim])


# (metric, header, format, higher_is_better); errors are summed over rounds, the rest are medians.
FAILOVER_ERROR_COLUMNS = [("errors", "all"), ("before_errors", "before"), ("down_errors", "down"),
                          ("after_errors", "after")]
FAILOVER_COLUMNS = [
    ("settle_s", "settled s", "{:.2f}", False),
    ("rejoin_s", "rejoined s", "{:.2f}", False),
    ("rps", "req/s", "{:.0f}", True),
    ("p99_ms", "p99 ms", "{:.2f}", False),
]
_WINDOWS = (("before", "before the kill"), ("down", "kill..restart"), ("after", "after the restart"))


def cmd_failover_report(args):
    results, med = load_medians(args.results)
    order = [p for p in args.proxies.split(",") if p]
    tot = {p: {m: sum(v) for m, v in ms.items()} for p, ms in results.items()}
    peers = [p for p in order if p != "waygate" and "rps" in med.get(p, {})]
    compare = "rps" in med.get("waygate", {}) and peers

    def timed(m, metric, form):   # settle_s and rejoin_s have a "never" (settle_never, ...)
        if metric.endswith("_s") and m.get(metric[:-2] + "_never"):
            return "never"
        return _cell(m, metric, form)

    header = ["proxy"] + [c[1] for c in FAILOVER_ERROR_COLUMNS] + [c[1] for c in FAILOVER_COLUMNS]
    rows = [header]
    for p in order:
        m, t = med.get(p, {}), tot.get(p, {})
        cells = [p] + [_cell(t, metric, "{:.0f}") for metric, _ in FAILOVER_ERROR_COLUMNS]
        rows.append(cells + [timed(m, c[0], c[2]) for c in FAILOVER_COLUMNS])
    if compare:
        # Errors have no ratio (the best is often 0): the lines under the table compare them.
        ratio = _ratio_rows(med, ["waygate"], peers, [(c[0], c[3]) for c in FAILOVER_COLUMNS])[0]
        rows.append(ratio[:1] + [""] * len(FAILOVER_ERROR_COLUMNS) + ratio[1:])
    rows.append(["better"] + ["fewer"] * len(FAILOVER_ERROR_COLUMNS)
                + ["higher" if c[3] else "lower" for c in FAILOVER_COLUMNS])
    groups = [("client errors", 1, len(FAILOVER_ERROR_COLUMNS)),
              ("after kill, restart", 1 + len(FAILOVER_ERROR_COLUMNS), 2),
              ("whole run", 3 + len(FAILOVER_ERROR_COLUMNS), 2)]
    lines = [args.title, ""] + _table(rows, groups) + [""]
    lines += [
        f"client errors: wrk socket errors (connect, read, write, timeout) + non-2xx responses, summed "
        f"over {args.rounds} round(s);",
        "  before = before the kill, down = kill..restart, after = after the restart: three wrk runs "
        "back to back,",
        f"  the kill {args.kill_lead_ms:.0f} ms into the second, the restart between the second and "
        "the third; so each count is exact.",
        "settled: from the kill to the end of the last sampling interval (before the restart) in "
        "which the proxy",
        "  made more than one connect to the killed backend (refused connects: Tcp AttemptFails in "
        "/proc/net/snmp of the",
        f"  {'benchmark' if args.netns else 'MACHINE'}'s network namespace, less the sampler's own); "
        "a health check makes at most one per interval,",
        "  so more is live traffic. \"never\": still trying at the restart.",
        "rejoined: from the restart command to the end of the first sampling interval in which the "
        "restarted backend",
        f"  served 1/3 ± {100 * args.tolerance:.0f}% of the requests (each backend's nginx "
        "stub_status counter, less our reads).",
        f"settled and rejoined are medians over rounds, to within one sampling interval "
        f"({args.interval_ms:.0f} ms) plus the sampler's",
        "  own delays (the median and largest interval are in the notes); req/s and p99 cover the "
        "three runs together",
        "  (p99 from their merged latency histograms).",
    ]
    if compare:
        lines.append("waygate/best: waygate's figure / the best of "
                     f"{' and '.join(peers)} (max for req/s, min for the others).")
        vs = lambda metric: ", ".join(f"{p} {tot[p].get(metric, 0):.0f}" for p in peers)
        w = tot["waygate"]
        lines.append(f"waygate's client errors: {w.get('errors', 0):.0f} (down {w.get('down_errors', 0):.0f}, "
                     f"after {w.get('after_errors', 0):.0f}) vs {vs('errors')}")

    notes = []
    for p in order:
        if p in med:
            notes += _failover_notes(p, med[p], tot[p], results[p], args)
    if not args.netns:
        notes.append("WARNING run in the machine's network namespace (--no-netns, or no namespace "
                     "could be made): other processes' failed connects count as the proxies' in "
                     "\"settled\"")
    emit_report(lines, notes + (args.note or []), args.out)


def _failover_notes(p, m, t, per_round, args):
    notes = []
    kinds = []
    for window, label in _WINDOWS:
        found = [f"{kind} {t[f'{window}_err_{kind}']:.0f}" for kind in ("connect", "read", "write", "timeout")
                 if t.get(f"{window}_err_{kind}")]
        if t.get(f"{window}_non2xx"):
            found.append(f"non-2xx {t[f'{window}_non2xx']:.0f}")
        if found:
            kinds.append(f"{label}: {', '.join(found)}")
    if kinds:
        notes.append(f"{p}: client errors {'; '.join(kinds)}")
    cell = lambda metric, form: form.format(m[metric]) if metric in m else "-"
    notes.append(f"{p}: req/s {' / '.join(cell(f'{w}_rps', '{:.0f}') for w, _ in _WINDOWS)}, "
                 f"p99 ms {' / '.join(cell(f'{w}_p99_ms', '{:.2f}') for w, _ in _WINDOWS)} "
                 f"(before / kill..restart / after); it used {cell('proxy_busy_pct', '{:.0f}')}% of "
                 f"core {args.proxy_cpu} over the three")
    if m.get("p99_upper_bound"):
        notes.append(f"{p}: whole-run p99 is the largest of the three runs' (a latency histogram "
                     "was too costly to print): an upper bound")
    names = args.names.split(",")
    victim = names[args.victim]
    before = [f"{n} {m[f'share_before_{n}']:.2f}" for n in names if f"share_before_{n}" in m]
    settled = [f"{n} {m[f'share_settled_{n}']:.2f}" for n in names if f"share_settled_{n}" in m]
    text = f"{p}: shares of requests: before the kill {', '.join(before) or '-'}"
    if settled:
        text += f"; settled, until the restart {', '.join(settled)}"
    if f"share_end_{victim}" in m:
        text += f"; {victim} over the last {10 * args.interval_ms / 1e3:.1f} s {m[f'share_end_{victim}']:.2f}"
    notes.append(text)
    text = f"{p}: connects to the killed backend while it was down: {m.get('dead_attempts', 0):.0f}"
    if "dead_attempts_per_s_settled" in m:
        text += f", {m['dead_attempts_per_s_settled']:.1f}/s once settled (health checks or live probes)"
    notes.append(text)
    if m.get("rejoin_out_later_pct"):
        notes.append(f"{p}: after rejoining, {victim}'s share left 1/3 ± {100 * args.tolerance:.0f}% "
                     f"in {m['rejoin_out_later_pct']:.0f}% of the sampling intervals")
    if len(per_round.get("rps", [])) > 1:
        per = lambda metric: "/".join(f"{v:.2f}" for v in per_round.get(metric, []))
        notes.append(f"{p}: per round: settled s {per('settle_s') or '-'}, rejoined s {per('rejoin_s') or '-'}, "
                     f"errors {'/'.join(f'{v:.0f}' for v in per_round['errors'])}")
    if "sample_ms_median" in m:
        notes.append(f"{p}: sampling interval median {m['sample_ms_median']:.0f} ms, largest "
                     f"{m['sample_ms_max']:.0f} ms; the restarted backend answered "
                     f"{cell('victim_up_ms', '{:.0f}')} ms after the restart command (sampled)")
    if t.get("stray_failed_connects"):
        where = "in the benchmark's network namespace" if args.netns else "on the machine"
        notes.append(f"{p}: WARNING {t['stray_failed_connects']:.0f} failed connects {where} while no "
                     "backend was down: they count in \"settled\" too")
    if m.get("core_other_pct", 0) > 5:
        notes.append(f"{p}: WARNING something else used {m['core_other_pct']:.0f}% of core "
                     f"{args.proxy_cpu} during the run")
    return notes


def emit_report(lines, notes, out):
    """Prints the table lines and the notes under them; also writes them to `out` if given."""
    if notes:
        lines.append("")
        lines.extend("note: " + n for n in notes)
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if out:
        with open(out, "w") as f:
            f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("sample", help="print proxy-tree CPU ticks, core busy/total ticks, time")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--cpu", type=int, required=True)
    p.add_argument("--load-cpu", type=int, required=True)
    p.add_argument("--with-reaped", action="store_true",
                   help="count the CPU time of exited children too (reload.sh)")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("busy", help="print how busy the busiest of some cores is, in percent")
    p.add_argument("--cpus", required=True, help="comma-separated core numbers")
    p.add_argument("--seconds", type=float, default=2)
    p.set_defaults(func=cmd_busy)

    p = sub.add_parser("tree", help="print a process and its descendants")
    p.add_argument("--pid", type=int, required=True)
    p.set_defaults(func=cmd_tree)

    for name, func in (("small", cmd_small), ("big", cmd_big)):
        p = sub.add_parser(name, help=f"metrics of the {name}-response wrk run")
        p.add_argument("--proxy", required=True)
        if name == "small":
            p.add_argument("--key", required=True, help="metric prefix: access log mode and connections")
        p.add_argument("--wrk", required=True)
        p.add_argument("--before", required=True, help="output of sample before the run")
        p.add_argument("--after", required=True, help="output of sample after the run")
        p.set_defaults(func=func)

    p = sub.add_parser("idle", help="RSS per idle keep-alive connection")
    p.add_argument("--proxy", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.set_defaults(func=cmd_idle)

    p = sub.add_parser("burst", help="RSS per connection after a burst of requests, and after it ends")
    p.add_argument("--proxy", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream-port", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.set_defaults(func=cmd_burst)

    p = sub.add_parser("report", help="print the tables (median over rounds)")
    p.add_argument("--results", required=True)
    p.add_argument("--proxies", required=True, help="rows, in order")
    p.add_argument("--modes", required=True, help="access log modes, in order")
    p.add_argument("--conns", required=True, help="connection counts of the small runs, in order")
    p.add_argument("--title", default="")
    p.add_argument("--proxy-cpu", default="0")
    p.add_argument("--load-cpu", default="1")
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--note", action="append")
    p.add_argument("--out")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("phase", help="metrics of one reload.sh run (steady or under reload)")
    p.add_argument("--proxy", required=True)
    p.add_argument("--phase", required=True)
    p.add_argument("--wrk", required=True)
    p.add_argument("--before", required=True, help="output of sample --with-reaped before the run")
    p.add_argument("--after", required=True, help="output of sample --with-reaped after the run")
    p.set_defaults(func=cmd_phase)

    p = sub.add_parser("reloads", help="run wrk; meanwhile reload a proxy N times, alternating two configs")
    p.add_argument("--proxy", required=True)
    p.add_argument("--pid", type=int, required=True, help="the process to signal")
    p.add_argument("--signal", required=True, help="HUP, USR2, ...")
    p.add_argument("--live", required=True, help="the config file the proxy reads")
    p.add_argument("--variants", nargs=2, required=True,
                   help="the two configs to alternate, the first used first")
    p.add_argument("--values", nargs=2, required=True, help="the header value each variant serves")
    p.add_argument("--header", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, required=True, help="reloads; 0 runs the load alone")
    p.add_argument("--duration", type=float, required=True, help="the load's duration in seconds")
    p.add_argument("--load-out", required=True, help="where the load command's output goes")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- the load command (wrk ...)")
    p.set_defaults(func=cmd_reloads)

    p = sub.add_parser("reload-report", help="print the reload.sh table")
    p.add_argument("--results", required=True)
    p.add_argument("--proxies", required=True)
    p.add_argument("--title", default="")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--proxy-cpu", default="0")
    p.add_argument("--note", action="append")
    p.add_argument("--out")
    p.set_defaults(func=cmd_reload_report)

    p = sub.add_parser("failover-sample", help="sample backend request counters and failed connects")
    p.add_argument("--ports", required=True, help="the backends' ports, comma-separated")
    p.add_argument("--interval-ms", type=float, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--ready", help="a file created once the first sample is written")
    p.set_defaults(func=cmd_failover_sample)

    p = sub.add_parser("failover", help="figures of one failover.sh run")
    p.add_argument("--proxy", required=True)
    p.add_argument("--wrk", nargs=3, required=True, help="the wrk outputs: before, down, after")
    p.add_argument("--samples", required=True, help="output of failover-sample")
    p.add_argument("--names", required=True, help="the backends' names, in sampling order")
    p.add_argument("--victim", type=int, required=True, help="index of the killed backend")
    p.add_argument("--kill", type=float, required=True, help="time of the kill (epoch seconds)")
    p.add_argument("--restart", type=float, required=True, help="time of the restart (epoch seconds)")
    p.add_argument("--tolerance", type=float, default=0.2, help="rejoined: share within 1/3 ± this")
    p.add_argument("--before", required=True, help="output of sample before the first run")
    p.add_argument("--after", required=True, help="output of sample after the last run")
    p.set_defaults(func=cmd_failover)

    p = sub.add_parser("failover-report", help="print the failover.sh table")
    p.add_argument("--results", required=True)
    p.add_argument("--proxies", required=True)
    p.add_argument("--names", required=True, help="the backends' names")
    p.add_argument("--victim", type=int, required=True)
    p.add_argument("--title", default="")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--interval-ms", type=float, required=True)
    p.add_argument("--kill-lead-ms", type=float, required=True)
    p.add_argument("--tolerance", type=float, default=0.2)
    p.add_argument("--netns", type=int, default=1, help="0: the run shared the machine's network namespace")
    p.add_argument("--proxy-cpu", default="0")
    p.add_argument("--note", action="append")
    p.add_argument("--out")
    p.set_defaults(func=cmd_failover_report)

    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
