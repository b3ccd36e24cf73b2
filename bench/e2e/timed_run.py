"""A timed load run against one proxy, as tls_measure.py and h2_measure.py measure it: the /proc
samples taken around the run, the CPU figures made of them, the arguments every run and report
command takes, and the medians the reports start from.
Standard library only; the /proc readings and medians themselves come from measure.py."""

import statistics
import time

from measure import CLK_TCK, _cell, _deltas, _ratio_rows, core_ticks, load_medians, tree_cpu_ticks


def emit(proxy, metric, value):
    """One result line, as the shell collects them into results.tsv."""
    print(f"{proxy}\t{metric}\t{value}")


def _softirq_ticks(cpu):
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                return int(line.split()[7])
    raise SystemExit(f"cpu{cpu} not in /proc/stat")


def sample(pid, cpu, load_cpu):
    """As measure.py's `sample` (proxy ticks, both cores' busy and total ticks, the time), and the
    softirq ticks of the proxy's core."""
    return " ".join(str(v) for v in (tree_cpu_ticks(pid), *core_ticks(cpu), *core_ticks(load_cpu),
                                     time.monotonic(), _softirq_ticks(cpu)))


def core_figures(proxy, prefix, before, after, count):
    """CPU per operation of the proxy, its share of its core, how busy both cores were, and the
    busy time of the proxy's core that was not the proxy's: other work on the machine, or softirq
    work the kernel did not charge to the proxy (see README.md on CPU accounting)."""
    proxy_ticks, core_busy, core_total, load_busy, load_total, wall, softirq = (
        _deltas(before, after))
    emit(proxy, f"{prefix}.cpu_us", proxy_ticks * 1e6 / CLK_TCK / max(count, 1))
    emit(proxy, f"{prefix}.per_core", count * CLK_TCK / max(proxy_ticks, 1))
    emit(proxy, f"{prefix}.proxy_busy_pct", 100.0 * proxy_ticks / (wall * CLK_TCK))
    emit(proxy, f"{prefix}.core_busy_pct", 100.0 * core_busy / max(core_total, 1))
    emit(proxy, f"{prefix}.softirq_pct", 100.0 * softirq / max(core_total, 1))   # for the notes
    emit(proxy, f"{prefix}.core_other_pct",
         100.0 * max(0.0, core_busy - proxy_ticks) / max(core_total, 1))
    emit(proxy, f"{prefix}.load_core_pct", 100.0 * load_busy / max(load_total, 1))


def add_run_args(p):
    """What every timed run is told: which proxy, where it listens, its pid and core, the load's
    core, how long."""
    p.add_argument("--proxy", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--cpu", type=int, required=True)
    p.add_argument("--load-cpu", type=int, required=True)
    p.add_argument("--seconds", type=int, required=True)


def add_report_args(p):
    """What every report is told; the load's own arguments (connections, ...) are added beside."""
    p.add_argument("--results", required=True)
    p.add_argument("--proxies", required=True)
    p.add_argument("--failed", action="append", help="PROXY=why, shown instead of its figures")
    p.add_argument("--title", required=True)
    p.add_argument("--proxy-cpu", type=int, required=True)
    p.add_argument("--load-cpu", type=int, required=True)
    p.add_argument("--out")
    p.add_argument("--note", action="append")


def report_medians(args):
    """The figures a report starts from: every round's (results), their medians without the
    proxies that failed (med), the proxies in table order, why each failed one failed, and the
    peers waygate is compared with (those measured)."""
    results, med = load_medians(args.results)
    order = [p for p in args.proxies.split(",") if p]
    failed = dict(f.split("=", 1) for f in args.failed or [])
    for p in failed:
        med.pop(p, None)
    peers = [p for p in order if p != "waygate" and p in med]
    return results, med, order, failed, peers


def table_rows(med, order, failed, peers, columns, cell=_cell):
    """The table's header and a row per proxy (why it failed instead of its name alone), then
    waygate/best when waygate is a row. columns: (metric, header, format, higher is better; None:
    no ratio); cell(figures, metric, format) makes a cell."""
    rows = [["proxy"] + [c[1] for c in columns]]
    for p in order:
        m = med.get(p, {})
        rows.append([f"{p}: {failed[p]}" if p in failed else p]
                    + [cell(m, metric, form) for metric, _, form, _ in columns])
    if "waygate" in order:
        rows += _ratio_rows(med, ["waygate"], peers, [(c[0], c[3]) for c in columns])
    return rows


def waygate_best_lines(order, peers, how):
    """The line under the table that says what waygate/best divides by; how: which best, e.g. "max
    for rates, min for the others"."""
    if "waygate" not in order:
        return []
    return [f"waygate/best: waygate's figure / the best of {' and '.join(peers) or 'none'} ({how})."]


def paired_ratio_lines(results, peers, metrics):
    """waygate's figure over the best peer's of the same round, for each round, and their median.
    A round's runs are a minute apart at most, so a machine whose speed drifts over minutes (a
    shared VM) moves both figures of a pair alike, where the medians of the table come from
    different minutes. metrics: (metric, label), lower is better. Nothing when a proxy missed a
    round."""
    ours_all = results.get("waygate", {})
    lines = []
    for metric, label in metrics:
        ours = ours_all.get(metric, [])
        theirs = [results.get(p, {}).get(metric, []) for p in peers]
        if not ours or not theirs or any(len(t) != len(ours) for t in theirs):
            continue
        best = [min(t[i] for t in theirs) for i in range(len(ours))]
        ratios = [o / b for o, b in zip(ours, best)]
        per_round = ", ".join(f"{o:.2f} vs {b:.2f}" for o, b in zip(ours, best))
        lines.append(f"{label}, paired by round: waygate/best {statistics.median(ratios):.2f}x, the "
                     f"median of each round's ratio (waygate vs the best peer: {per_round})")
    return lines
