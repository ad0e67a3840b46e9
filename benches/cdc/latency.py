#!/usr/bin/env python3
"""Prints the bench-cdc table: catch-up rate, and per sink the
commit-to-acknowledgement latency percentiles of the steady window, from
the difference of bss_sidecar_commit_to_ack_seconds between two /metrics
dumps (linear interpolation inside a bucket, as Prometheus'
histogram_quantile does).

usage: latency.py BEFORE AFTER STEADY_EVENTS STEADY_SECONDS CATCHUP_EVENTS CATCHUP_SECONDS"""
import re
import sys

BUCKET = re.compile(r'^bss_sidecar_commit_to_ack_seconds_bucket\{(.*)\} (\S+)$')


def buckets(path):
    out = {}
    for line in open(path):
        m = BUCKET.match(line.strip())
        if not m:
            continue
        labels = dict(kv.split("=", 1) for kv in m.group(1).split(","))
        sink = labels["sink"].strip('"')
        le = labels["le"].strip('"')
        out.setdefault(sink, {})[float("inf") if le == "+Inf" else float(le)] = float(m.group(2))
    return out


def quantile(q, cum):
    """cum: sorted [(upper_bound, cumulative count)]."""
    total = cum[-1][1]
    if total == 0:
        return float("nan")
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in cum:
        if c >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_c) / max(c - prev_c, 1e-9)
        prev_le, prev_c = le, c
    return prev_le


before, after = buckets(sys.argv[1]), buckets(sys.argv[2])
steady_events, steady_s = int(sys.argv[3]), float(sys.argv[4])
catchup_events, catchup_s = int(sys.argv[5]), float(sys.argv[6])
print()
print("| measure | result | target |")
print("|---|---:|---|")
print(f"| catch-up: {catchup_events:,} stored events to Kafka and Redis | "
      f"{catchup_events / catchup_s:,.0f} events/s ({catchup_s:.1f} s) | ≥ 50,000 events/s |")
print(f"| steady appends | {steady_events / steady_s:,.0f} events/s for {steady_s:.0f} s | 6,667 events/s |")
for sink in sorted(after):
    cum = sorted((le, after[sink][le] - before.get(sink, {}).get(le, 0.0)) for le in after[sink])
    p = [quantile(q, cum) * 1000 for q in (0.5, 0.95, 0.99)]
    target = "p99 < 100 ms" if sink == "kafka" else ""
    print(f"| commit to {sink} ack, p50 / p95 / p99 | "
          f"{p[0]:.1f} / {p[1]:.1f} / {p[2]:.1f} ms ({cum[-1][1]:,.0f} events) | {target} |")
