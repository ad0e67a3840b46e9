#!/usr/bin/env python3
"""Prints the bss-wal criterion results (target/criterion) as the README
table, with the durable group commit as a ratio of its baseline measured in
the same run. Each benchmark's newest result is used; a benchmark id that
was not re-run (an old baseline group size) is skipped by age."""
import json
import os
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
GROUPS = ("append_buffered", "append_durable", "iter_from", "open")


def results():
    for group in GROUPS:
        for dirpath, _, files in os.walk(os.path.join(ROOT, group)):
            if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
                continue
            with open(os.path.join(dirpath, "benchmark.json")) as f:
                bench = json.load(f)
            with open(os.path.join(dirpath, "estimates.json")) as f:
                est = json.load(f)
            ns = est["mean"]["point_estimate"]
            mtime = os.path.getmtime(os.path.join(dirpath, "estimates.json"))
            yield bench["full_id"], bench.get("throughput") or {}, ns, mtime


def rate(throughput, ns):
    if "Elements" in throughput:
        return throughput["Elements"] / ns * 1e9, "records/s"
    if "Bytes" in throughput:
        return throughput["Bytes"] / ns * 1e9 / 1e9, "GB/s"
    return 1e9 / ns, "runs/s"


rows = sorted(results(), key=lambda r: (GROUPS.index(r[0].split('/')[0]), r[0]))
if not rows:
    sys.exit(f"no criterion results under {ROOT}; run `make bench-wal` first")
def newest(prefix):
    """The newest result of a baseline whose id starts with prefix/."""
    return max((r for r in rows if r[0].startswith(prefix + "/")),
               key=lambda r: r[3], default=None)


BASELINES = {name: newest("append_durable/" + name)
             for name in ("write_all_sync_data", "write_all_sync_data_zero_filled")}
wal_durable = None
print("| benchmark | mean time per iteration | rate |")
print("|---|---:|---:|")
for full_id, tp, ns, mtime in rows:
    kind = full_id.split("/")[1] if full_id.startswith("append_durable/") else None
    if kind in BASELINES and full_id != BASELINES[kind][0]:
        continue
    value, unit = rate(tp, ns)
    if full_id.startswith("append_durable/bss_wal"):
        wal_durable = value
    if ns >= 1e6:
        t = f"{ns / 1e6:,.1f} ms"
    elif ns >= 1e3:
        t = f"{ns / 1e3:,.1f} µs"
    else:
        t = f"{ns:,.0f} ns"
    print(f"| `{full_id}` | {t} | {value:,.2f} {unit} |" if unit == "GB/s"
          else f"| `{full_id}` | {t} | {value:,.0f} {unit} |")
print()
for name, b in BASELINES.items():
    if wal_durable and b:
        base, _ = rate(b[1], b[2])
        print(f"Durable group commit: bss-wal at {wal_durable / base:.0%} of "
              f"{name} ({b[0].split('/')[-1]}).")
