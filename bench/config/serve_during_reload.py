#!/usr/bin/env python3
"""Whether waygate's worker keeps serving at full speed while a reload of a large config is built:
the same wrk load spread over every host, first steady, then while the config is reloaded back to
back (each reload starts when the previous one has been published).

  serve_during_reload.py --waygate build/src/waygate --hosts 100000 --duration 10

The config is gen_config.py's (3 paths a host); requests go to each host's `exact: /health`,
answered by waygate itself, so the worker is the only thing measured. waygate runs one worker; its
thread ("worker 0") alone is pinned to --worker-cpu, and everything else, its control thread that
builds the reloads included, shares --load-cpu with wrk. The worker's CPU time per request comes
from its thread's counters in /proc: if the worker served at full speed, it does not change
between the phases. Loopback only; a bench, not a test.
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TICKS = os.sysconf("SC_CLK_TCK")

WRK_SCRIPT = """
local hosts = %d
request = function()
  local host = "host" .. math.random(0, hosts - 1) .. ".example.com"
  return wrk.format("GET", "/health", { Host = host })
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin(port, method, path):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    with urllib.request.urlopen(request, timeout=60) as answer:
        return answer.status


def thread_named(pid, name):
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/comm") as f:
            if f.read().strip() == name:
                return int(task)
    sys.exit(f"no thread named {name!r} in waygate {pid}")


def thread_ticks(pid, tid):
    with open(f"/proc/{pid}/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def parse_wrk(text):
    def ms(value, unit):
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))}
    for percent in ("50", "99"):
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        figures[f"p{percent}"] = ms(*found.groups())
    found = re.search(r"(\d+) requests in", text)
    figures["requests"] = int(found.group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    figures["non_2xx"] = int(non_2xx.group(1)) if non_2xx else 0
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       text)
    figures["socket_errors"] = sum(int(n) for n in errors.groups()) if errors else 0
    return figures


def run_phase(args, port, pid, worker, script, reload_config=None):
    """wrk for --duration seconds; with reload_config (config path, admin port), reloads back to
    back meanwhile. The wrk figures, the worker's CPU and the reloads done and their times."""
    stop = threading.Event()
    reload_times = []

    def reload_loop():
        path, admin_port = reload_config
        while not stop.is_set():
            with open(path, "a") as f:
                # A changed text: an unchanged one is skipped.
                f.write(f"# reload {len(reload_times)}\n")
            started = time.monotonic()
            admin(admin_port, "POST", "/reload")
            reload_times.append(time.monotonic() - started)

    before = thread_ticks(pid, worker)
    started = time.monotonic()
    reloader = threading.Thread(target=reload_loop) if reload_config else None
    if reloader:
        reloader.start()
    out = subprocess.run(["taskset", "-c", str(args.load_cpu), "wrk", "-t1",
                          f"-c{args.connections}", f"-d{args.duration}s", "--latency", "-s", script,
                          f"http://127.0.0.1:{port}/"], capture_output=True, text=True, check=True)
    stop.set()
    if reloader:
        reloader.join()
    elapsed = time.monotonic() - started
    cpu_s = (thread_ticks(pid, worker) - before) / TICKS
    figures = parse_wrk(out.stdout)
    figures["worker_busy"] = 100.0 * cpu_s / elapsed
    figures["worker_us_per_req"] = 1e6 * cpu_s / max(figures["requests"], 1)
    figures["reloads"] = reload_times
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waygate", default=os.path.join(HERE, "../../build/src/waygate"))
    parser.add_argument("--hosts", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--worker-cpu", type=int, default=0)
    parser.add_argument("--load-cpu", type=int, default=1)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="waygate-serve-reload-")
    port, admin_port = free_port(), free_port()
    config = os.path.join(work, "config.yaml")
    with open(config, "w") as f:
        subprocess.run([sys.executable, os.path.join(HERE, "gen_config.py"), "--hosts",
                        str(args.hosts), "--paths", "3", "--port", str(port), "--admin-port",
                        str(admin_port)], stdout=f, check=True)
    script = os.path.join(work, "hosts.lua")
    with open(script, "w") as f:
        f.write(WRK_SCRIPT % args.hosts)
    log = open(os.path.join(work, "waygate.log"), "w")
    proc = subprocess.Popen(["taskset", "-c", str(args.load_cpu), args.waygate, "--config", config],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if admin(admin_port, "GET", "/ready") == 200:
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"waygate did not become ready; see {log.name}")
                time.sleep(0.05)
        worker = thread_named(proc.pid, "worker 0")
        subprocess.run(["taskset", "-p", "-c", str(args.worker_cpu), str(worker)],
                       stdout=subprocess.DEVNULL, check=True)
        load = os.getloadavg()[0]
        steady = run_phase(args, port, proc.pid, worker, script)
        reloading = run_phase(args, port, proc.pid, worker, script, (config, admin_port))
    finally:
        proc.terminate()
        proc.wait()
    print(f"# {args.hosts} hosts x 3 paths, wrk -c{args.connections} {args.duration} s a phase "
          f"spread over every host; load average {load:.2f} before")
    print(f"{'phase':<10} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7} {'non-2xx':>8} "
          f"{'worker %':>9} {'µs/req':>7} {'reloads':>8}")
    for name, figures in (("steady", steady), ("reloading", reloading)):
        times = figures["reloads"]
        reloads = f"{len(times)}, {sorted(times)[len(times) // 2]:.2f} s" if times else "-"
        print(f"{name:<10} {figures['rps']:>9.0f} {figures['p50']:>7.2f} {figures['p99']:>7.2f} "
              f"{figures['socket_errors']:>7} {figures['non_2xx']:>8} "
              f"{figures['worker_busy']:>9.1f} {figures['worker_us_per_req']:>7.2f} {reloads:>8}")
    print(f"reloading/steady: req/s {reloading['rps'] / steady['rps']:.2f}x, "
          f"p99 {reloading['p99'] / steady['p99']:.2f}x, worker µs/req "
          f"{reloading['worker_us_per_req'] / steady['worker_us_per_req']:.2f}x")


if __name__ == "__main__":
    main()
