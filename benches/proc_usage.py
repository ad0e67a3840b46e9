#!/usr/bin/env python3
"""Where the cores and the memory go, from /proc: what the benchmarks and
the soak use to account for every process of the pipeline.

  proc_usage.py sample OUT --role NAME=SPEC ... [--interval S] [--max-seconds S]
                       [--metrics URL --metric PREFIX ...] [--pg URL]
      Every S seconds (default 1) until SIGTERM/SIGINT or --max-seconds
      (default 7200), appends one JSON line to OUT:
        {"t": <unix time>, "roles": {NAME: {"cpu_s", "rss_anon_mb", "rss_mb", "procs"}},
         "machine": {...}, "metrics": {SAMPLE: value}, "pg": {...}}
      machine: the whole machine's counters (see machine()): CPU seconds by
      state since boot (busy, idle, iowait, steal: time the hypervisor gave
      another guest), memory available and in the page cache, pages the
      kernel scanned to reclaim memory, and probe_ms: the CPU time one
      fixed piece of work took (see probe()), what the machine's speed
      per instruction was at that moment.
      pg: with --pg, PostgreSQL's WAL written since its statistics were
      reset (bytes, full-page images) and its checkpoints, from
      pg_stat_wal and pg_stat_bgwriter through psql (one short connection
      per sample: meant for samples a minute apart); absent when the query
      fails.
      metrics: the samples of the Prometheus text at URL whose names start
      with a PREFIX (what a role's memory holds, e.g. the anomaly stage's
      keys), absent when URL does not answer.
      cpu_s is the role's CPU time (user + system) since sampling began
      (a process started since counts from its start), the processes that
      exited included: in full for the children of a tree: or pid: role's
      root (what the kernel adds to the root's cutime and cstime when it
      reaps them, so that PostgreSQL's short-lived autovacuum workers count
      even when no sample saw them), up to their last sample for any other.
      rss_anon_mb is their private memory (RssAnon: what a leak grows);
      rss_mb all of their resident memory (shared pages they touched too).
      SPEC is one of
        tree:PIDFILE   the process whose pid is the first line of PIDFILE
                       (a postmaster.pid), and its descendants
        pid:PID        that process and its descendants
        re:REGEX       processes whose command line (as ps shows it) matches
      A process counts for the first role that claims it, in the order given.

  proc_usage.py stages SAMPLES LOADGEN_REPORT
      Per stage of a bss-loadgen run: each role's CPU seconds and its CPU
      per acknowledged event (µs), from the samples inside the stage, and
      the median probe (the machine's speed, see windows).

  proc_usage.py windows SAMPLES LOADGEN_REPORT [--minutes M]
      Per M minutes (default 10) of a bss-loadgen run: the events
      acknowledged, CPU per event (all roles, and each), the machine's busy
      cores and what the hypervisor took (steal), memory available, page
      reclaim, the median probe (CPU ms of a fixed piece of work: higher
      is a slower machine), PostgreSQL's WAL per event, full-page images
      and checkpoints (when sampled with --pg), and the median second's
      append and end-to-end p95: whether a slower pipeline later in a run
      is one part, the machine, or queueing.

  proc_usage.py trend SAMPLES --max-mb-per-hour X [--skip-minutes M] [--not-judged ROLE ...]
      Each role's private-memory growth per hour (least-squares slope of
      rss_anon_mb over time, after the first M minutes, default 10), and
      each sampled metric at the start and the end of that window; exits 1
      when a role not named by --not-judged grows faster than X.
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import sampling

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def processes():
    """pid -> (ppid, cmdline, cpu ticks, rss bytes, rss_anon bytes, reaped
    children's cpu ticks)."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(f"/proc/{pid}/status") as f:
                status = f.read()
        except OSError:
            continue  # gone meanwhile
        # The command name may hold spaces and parentheses: fields follow the last ')'.
        fields = stat[stat.rindex(")") + 2:].split()
        ppid, ticks, rss_pages = int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[21])
        reaped = int(fields[13]) + int(fields[14])
        anon = re.search(r"^RssAnon:\s+(\d+) kB", status, re.M)
        out[pid] = (ppid, cmd, ticks, rss_pages * PAGE, int(anon.group(1)) * 1024 if anon else 0, reaped)
    return out


PROBE_LOOPS = 100_000


def probe():
    """The CPU time, in ms, of a fixed piece of work (a Python loop of
    PROBE_LOOPS multiplications and remainders, about 14 ms on an idle core
    of this machine): CPU time, not elapsed, so waiting for a core does not
    count, but everything that makes each instruction slower does (a busy
    sibling hyperthread or neighbour on the host, shared caches, the clock).
    When the pipeline's CPU per event rises while the probe's rises by as
    much, the machine slowed down, not the pipeline. Taken with every
    sample: at one a second, about 1.4% of one core that no role is
    charged for."""
    began = time.process_time()
    x = 0
    for i in range(PROBE_LOOPS):
        x = (x + i * i) % 1_000_003
    return round(1000 * (time.process_time() - began), 2)


def machine():
    """The whole machine's counters: CPU seconds since boot by state
    (/proc/stat: busy is user, nice, system, irq and softirq; guest time is
    inside user), memory in MB (/proc/meminfo) and the pages the kernel
    scanned to reclaim memory (/proc/vmstat, kswapd and direct)."""
    with open("/proc/stat") as f:
        cpu = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (cpu + [0] * 8)[:8]
    mem = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            mem[key] = int(rest.split()[0])
    scanned = 0
    with open("/proc/vmstat") as f:
        for line in f:
            key, _, value = line.partition(" ")
            if key.startswith("pgscan_"):
                scanned += int(value)
    return {
        "busy_s": round((user + nice + system + irq + softirq) / TICKS, 2),
        "idle_s": round(idle / TICKS, 2),
        "iowait_s": round(iowait / TICKS, 2),
        "steal_s": round(steal / TICKS, 2),
        "available_mb": mem.get("MemAvailable", 0) // 1024,
        "cached_mb": mem.get("Cached", 0) // 1024,
        "dirty_mb": mem.get("Dirty", 0) // 1024,
        "pgscan": scanned,
        "probe_ms": probe(),
    }


PG_WAL = ("SELECT w.wal_bytes, w.wal_fpi, b.checkpoints_timed + b.checkpoints_req"
          " FROM pg_stat_wal w, pg_stat_bgwriter b")


def pg_wal(url):
    """PostgreSQL's WAL bytes and full-page images written, and its
    checkpoints, since its statistics were reset; None when psql fails."""
    try:
        out = subprocess.run(["psql", "-XAt", "-F", " ", "-d", url, "-c", PG_WAL], capture_output=True,
                             text=True, timeout=10)
        wal_bytes, fpi, checkpoints = out.stdout.split()
        return {"wal_bytes": int(wal_bytes), "wal_fpi": int(fpi), "checkpoints": int(checkpoints)}
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def descendants(root, procs):
    children = {}
    for pid, p in procs.items():
        children.setdefault(p[0], []).append(pid)
    seen, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in procs and pid not in seen:
            seen.add(pid)
            todo.extend(children.get(pid, []))
    return seen


def claim(roles, procs):
    """role name -> (set of pids, root pid or None), first role first."""
    taken, out = set(), {}
    for name, spec in roles:
        kind, _, arg = spec.partition(":")
        root = None
        if kind == "tree":
            try:
                with open(arg) as f:
                    root = int(f.readline())
            except (OSError, ValueError):
                pass
            pids = descendants(root, procs) if root else set()
        elif kind == "pid":
            root = int(arg)
            pids = descendants(root, procs)
        elif kind == "re":
            pattern = re.compile(arg)
            pids = {pid for pid, p in procs.items() if pattern.search(p[1])}
        else:
            sys.exit(f"proc_usage: unknown role spec {spec!r} (tree:PIDFILE, pid:PID or re:REGEX)")
        pids -= taken | {os.getpid()}
        taken |= pids
        out[name] = (pids, root if root in pids else None)
    return out


def scrape(url, prefixes):
    """The samples at url whose names start with one of prefixes; {} when it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith(tuple(prefixes)):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


def sample(args):
    roles = []
    for r in args.role:
        name, sep, spec = r.partition("=")
        if not sep:
            sys.exit(f"proc_usage: --role {r!r} is not NAME=SPEC")
        roles.append((name, spec))
    first = {}     # pid -> its ticks when sampling began (not counted), 0 if born since
    last = {}      # pid -> (role, ticks at its last sample, ppid)
    gone = {name: 0 for name, _ in roles}  # ticks of processes that exited
    roots = {}     # role -> (root pid, its reaped children's ticks when first seen, at its last sample)
    began = False  # whether the first sample is taken
    with open(args.out, "a") as out:
        def take():
            nonlocal began
            procs = processes()
            owned = claim(roles, procs)
            for pid in [p for p in last if p not in procs]:
                role, ticks, ppid = last.pop(pid)
                if role in roots and ppid == roots[role][0]:
                    # Reaped: the root's count has all of it, this its CPU
                    # before sampling began too.
                    gone[role] -= first.pop(pid)
                else:
                    gone[role] += ticks - first.pop(pid)
            line = {"t": round(time.time(), 3), "roles": {}}
            for name, (pids, root) in owned.items():
                if root is not None:
                    was = roots.get(name)
                    if was and was[0] != root:  # a new root: keep what the old one reaped
                        gone[name] += was[2] - was[1]
                        was = None
                    reaped = procs[root][5]
                    roots[name] = (root, was[1] if was else reaped, reaped)
                ticks = rss = anon = 0
                for pid in pids:
                    p = procs[pid]
                    first.setdefault(pid, 0 if began else p[2])
                    last[pid] = (name, p[2], p[0])
                    ticks += p[2] - first[pid]
                    rss += p[3]
                    anon += p[4]
                if name in roots:
                    ticks += roots[name][2] - roots[name][1]
                line["roles"][name] = {
                    "cpu_s": round((ticks + gone[name]) / TICKS, 2),
                    "rss_anon_mb": round(anon / 2**20, 1),
                    "rss_mb": round(rss / 2**20, 1),
                    "procs": len(pids),
                }
            line["machine"] = machine()
            if args.metrics:
                line["metrics"] = scrape(args.metrics, args.metric)
            if args.pg:
                wal = pg_wal(args.pg)
                if wal:
                    line["pg"] = wal
            out.write(json.dumps(line) + "\n")
            out.flush()
            began = True

        sampling.every(args.interval, args.max_seconds, take)


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def at(samples, t):
    """The last sample at or before t (the first when none is)."""
    best = samples[0]
    for s in samples:
        if s["t"] <= t:
            best = s
    return best


def load_run(args):
    """The samples, the bss-loadgen report, the run's start (unix time)
    and the roles sampled."""
    samples = load(args.samples)
    with open(args.report) as f:
        report = json.load(f)
    start = datetime.datetime.fromisoformat(report["started_at"].replace("Z", "+00:00")).timestamp()
    return samples, report, start, list(samples[-1]["roles"])


def cpu_used(a, b, roles):
    """Each role's CPU seconds between samples a and b."""
    return {r: b["roles"].get(r, {}).get("cpu_s", 0) - a["roles"].get(r, {}).get("cpu_s", 0) for r in roles}


def probe_between(samples, a, b):
    """The median probe of the samples after a, up to b (None without any)."""
    return median(s["machine"].get("probe_ms") for s in samples if a["t"] < s["t"] <= b["t"] and "machine" in s)


def stages(args):
    samples, report, start, roles = load_run(args)
    print("| stage | rate (events/s) | " + " | ".join(roles) + " | all | CPU per event | probe |")
    print("|---|---:|" + "---:|" * (len(roles) + 3))
    for phase in report.get("phases", []):
        a, b = at(samples, start + phase["from_s"]), at(samples, start + phase["to_s"])
        seconds = b["t"] - a["t"]
        events = phase["achieved_rate"] * (phase["to_s"] - phase["from_s"])
        if seconds <= 0 or events <= 0:
            continue
        used = cpu_used(a, b, roles)
        total = sum(used.values())
        cells = " | ".join(f"{used[r]:.1f} s" for r in roles)
        print(f"| {phase['stage']} ({phase['from_s']}-{phase['to_s']} s) | {phase['achieved_rate']:,.0f} | {cells} | "
              f"{total:.1f} s ({total / seconds:.2f} cores) | {1e6 * total / events:.0f} µs | {fmt_ms(probe_between(samples, a, b))} |")


def median(values):
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else None


def windows(args):
    samples, report, start, roles = load_run(args)
    timeline = report.get("timeline", [])
    step = int(60 * args.minutes)
    print("| minutes | events/s | CPU per event | " + " | ".join(roles) +
          " | busy cores | steal | available | reclaim (pages/s) | probe | WAL per event | full-page images per 1,000"
          " | checkpoints | append p95 | end to end p95 |")
    print("|---|---:|---:|" + "---:|" * (len(roles) + 10))
    end = len(timeline)
    for lo in range(0, end, step):
        hi = min(lo + step, end)
        a, b = at(samples, start + lo), at(samples, start + hi)
        seconds = b["t"] - a["t"]
        events = sum(s["achieved"] for s in timeline[lo:hi])
        if seconds <= 0 or events <= 0:
            continue
        used = cpu_used(a, b, roles)
        per_event = " | ".join(f"{1e6 * used[r] / events:.1f}" for r in roles)
        ma, mb = a.get("machine"), b.get("machine")
        if ma and mb:
            busy = (mb["busy_s"] - ma["busy_s"]) / seconds
            steal = (mb["steal_s"] - ma["steal_s"]) / seconds
            machine_cells = (f"{busy:.2f} | {steal:.2f} | {mb['available_mb']:,} MB | "
                             f"{(mb['pgscan'] - ma['pgscan']) / seconds:,.0f} | "
                             f"{fmt_ms(probe_between(samples, a, b))}")
        else:
            machine_cells = "- | - | - | - | -"
        pa, pb = a.get("pg"), b.get("pg")
        if pa and pb:
            pg_cells = (f"{(pb['wal_bytes'] - pa['wal_bytes']) / events:,.0f} B | "
                        f"{1000 * (pb['wal_fpi'] - pa['wal_fpi']) / events:.1f} | {pb['checkpoints'] - pa['checkpoints']}")
        else:
            pg_cells = "- | - | -"
        p95 = median(s.get("append_p95_ms") for s in timeline[lo:hi])
        e2e = median(s.get("e2e_p95_ms") for s in timeline[lo:hi])
        print(f"| {lo / 60:.0f}-{hi / 60:.0f} | {events / (hi - lo):,.0f} | {1e6 * sum(used.values()) / events:.0f} µs | "
              f"{per_event} | {machine_cells} | {pg_cells} | {fmt_ms(p95)} | {fmt_ms(e2e)} |")


def fmt_ms(v):
    return "-" if v is None else f"{v:.1f} ms"


def trend(args):
    samples = [s for s in load(args.samples)]
    if not samples:
        sys.exit("proc_usage: no samples")
    t0 = samples[0]["t"] + 60 * args.skip_minutes
    kept = [s for s in samples if s["t"] >= t0]
    if len(kept) < 3:
        sys.exit(f"proc_usage: {len(kept)} samples after the first {args.skip_minutes} minutes: too few for a trend")
    hours = (kept[-1]["t"] - kept[0]["t"]) / 3600
    failed = []
    print(f"private memory (RssAnon) per role over {hours:.2f} h after the first {args.skip_minutes} min "
          f"({len(kept)} samples); bound {args.max_mb_per_hour} MB/h")
    for role in samples[-1]["roles"]:
        pts = [(s["t"] / 3600, s["roles"][role]["rss_anon_mb"]) for s in kept if role in s["roles"]]
        n = len(pts)
        mx, my = sum(p[0] for p in pts) / n, sum(p[1] for p in pts) / n
        var = sum((p[0] - mx) ** 2 for p in pts)
        slope = sum((p[0] - mx) * (p[1] - my) for p in pts) / var if var else 0.0
        if role in args.not_judged:
            verdict = "-"
        elif slope <= args.max_mb_per_hour:
            verdict = "ok"
        else:
            verdict = "GROWS"
            failed.append(role)
        print(f"  {verdict:5} {role:10} {pts[0][1]:8.1f} MB -> {pts[-1][1]:8.1f} MB, {slope:+8.2f} MB/h")
    first, last = kept[0].get("metrics", {}), kept[-1].get("metrics", {})
    for name in sorted(set(first) | set(last)):
        print(f"  metric {name}: {first.get(name, 0):,.0f} -> {last.get(name, 0):,.0f}")
    if failed:
        print(f"memory grows beyond {args.max_mb_per_hour} MB/h: {', '.join(failed)}")
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("out")
    s.add_argument("--role", action="append", required=True)
    s.add_argument("--interval", type=float, default=1.0)
    s.add_argument("--max-seconds", type=float, default=7200)
    s.add_argument("--metrics")
    s.add_argument("--metric", action="append", default=[])
    s.add_argument("--pg")
    st = sub.add_parser("stages")
    st.add_argument("samples")
    st.add_argument("report")
    w = sub.add_parser("windows")
    w.add_argument("samples")
    w.add_argument("report")
    w.add_argument("--minutes", type=float, default=10)
    tr = sub.add_parser("trend")
    tr.add_argument("samples")
    tr.add_argument("--max-mb-per-hour", type=float, required=True)
    tr.add_argument("--skip-minutes", type=float, default=10)
    tr.add_argument("--not-judged", nargs="*", default=[])
    args = ap.parse_args()
    {"sample": sample, "stages": stages, "windows": windows, "trend": trend}[args.cmd](args)


if __name__ == "__main__":
    main()
