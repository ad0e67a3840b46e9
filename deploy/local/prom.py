#!/usr/bin/env python3
"""Asks the local layout's Prometheus (its HTTP API) what an operator wants
to know at a glance. Standard library only.

    prom.py numbers             the key numbers of the pipeline, as a table
    prom.py targets-up          exit 0 when every scrape target is up
    prom.py wait EXPR SECONDS   exit 0 once EXPR has a sample > 0
    prom.py query EXPR          the samples of EXPR, one per line
"""

import argparse
import json
import math
import sys
import time
import urllib.parse
import urllib.request


class Prometheus:
    def __init__(self, port, host="127.0.0.1"):
        self.base = f"http://{host}:{port}/api/v1"

    def get(self, path, **params):
        url = f"{self.base}/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise RuntimeError(f"{url}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr):
        """[(labels, value)] of an instant query."""
        data = self.get("query", query=expr)
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(s["metric"], float(s["value"][1])) for s in data["result"]]

    def targets(self):
        return self.get("targets", state="active")["activeTargets"]


def fmt(value, unit=""):
    if math.isnan(value):
        return "NaN"
    if unit == "s":
        return f"{value * 1000:.1f} ms"
    if unit == "B":
        for suffix in ("B", "KiB", "MiB", "GiB"):
            if abs(value) < 1024 or suffix == "GiB":
                return f"{value:.0f} {suffix}" if suffix == "B" else f"{value:.1f} {suffix}"
            value /= 1024
    if unit == "/s":
        return f"{value:,.1f}/s"
    return f"{value:,.0f}"


# (what, PromQL, label that tells the samples apart, unit)
NUMBERS = [
    ("events into the sidecar", "sum(bss:events_ingested:rate1m)", None, "/s"),
    ("events PostgreSQL recorded, last minute", 'sum(bss_stats_value{stat="events_last_minute"})', None, ""),
    ("delivered", "bss:sink_delivered:rate1m", "sink", "/s"),
    ("commit-to-ack p95 (5m)", "bss:commit_to_ack_seconds:p95_5m", "sink", "s"),
    ("delivered in total", "bss_sidecar_sink_delivered_events_total", "sink", ""),
    ("sink lag (events)", "bss_sidecar_sink_lag_events", "sink", ""),
    ("spool depth (events)", "bss_sidecar_spool_depth_events", None, ""),
    ("slot lag (PostgreSQL)", 'bss_stats_value{stat="slot_lag_bytes"}', "key", "B"),
    ("streams", 'bss_stats_value{stat="streams"}', None, ""),
    ("dead letters", 'bss_stats_value{stat="dead_letters"}', None, ""),
    ("anomalies found", "sum by (detector) (bss_sidecar_anomalies_total)", "detector", ""),
    ("Redis memory", "redis_memory_used_bytes", None, "B"),
]


def numbers(prom):
    targets = prom.targets()
    print("Prometheus targets: " + ", ".join(
        f"{t['labels'].get('job')} {t['health']}" for t in sorted(targets, key=lambda t: t["labels"].get("job", ""))))
    for what, expr, label, unit in NUMBERS:
        samples = prom.query(expr)
        if not samples:
            print(f"  {what:<42} (no data yet)")
        for labels, value in sorted(samples, key=lambda s: s[0].get(label or "", "")):
            name = f"{what} [{labels.get(label, '')}]" if label else what
            print(f"  {name:<42} {fmt(value, unit)}")
    firing = prom.query('ALERTS{alertstate="firing"}')
    print("Alerts firing: " + (", ".join(sorted(s[0]["alertname"] for s in firing)) or "none"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=29090)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("numbers")
    sub.add_parser("targets-up")
    wait = sub.add_parser("wait")
    wait.add_argument("expr")
    wait.add_argument("seconds", type=float)
    query = sub.add_parser("query")
    query.add_argument("expr")
    args = parser.parse_args()
    prom = Prometheus(args.port)

    if args.command == "numbers":
        numbers(prom)
    elif args.command == "targets-up":
        try:
            targets = prom.targets()
        except OSError:
            return 1
        return 0 if targets and all(t["health"] == "up" for t in targets) else 1
    elif args.command == "wait":
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            if any(v > 0 for _, v in prom.query(args.expr)):
                return 0
            time.sleep(1)
        print(f"prom.py: {args.expr} had no sample > 0 within {args.seconds:.0f} s", file=sys.stderr)
        return 1
    elif args.command == "query":
        for labels, value in prom.query(args.expr):
            print(json.dumps(labels, sort_keys=True), value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
