#!/usr/bin/env python3
"""The checks of deploy/local/e2e_test.sh: after a bss-loadgen run against the
local layout, Prometheus (queried through its HTTP API, as Grafana would)
must hold the pipeline's metrics with values that match what PostgreSQL
stored. Exits 1 naming every check that failed."""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prom import Prometheus  # noqa: E402

PSQL = "/usr/lib/postgresql/15/bin/psql"
failures = []


def check(ok, what):
    print(f"  {'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def sql(url, query):
    cmd = [PSQL, "-X", "-qtA", url, "-c", query]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def value(prom, expr):
    """The one sample of expr, or None."""
    samples = prom.query(expr)
    return samples[0][1] if len(samples) == 1 else None


def eventually(seconds, probe):
    """probe() until it returns a true (ok, detail) or time runs out; the last result."""
    deadline = time.monotonic() + seconds
    while True:
        ok, detail = probe()
        if ok or time.monotonic() > deadline:
            return ok, detail
        time.sleep(2)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--report", required=True, help="bss-loadgen's --report JSON")
    parser.add_argument("--port", type=int, default=29090)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    report = json.load(open(args.report))
    url = args.database_url or subprocess.run(
        [os.path.join(os.path.dirname(os.path.abspath(__file__)), "local.sh"), "url"],
        check=True, capture_output=True, text=True).stdout.strip()
    prom = Prometheus(args.port)
    acked = report["acknowledged"]
    print(f"e2e_check: the load had {acked} events acknowledged, {report['failed']} failed")
    check(acked > 5000 and report["failed"] == 0, f"the load was acknowledged ({acked} events, none failed)")

    jobs = {t["labels"]["job"]: t["health"] for t in prom.targets()}
    for job in ("prometheus", "bss-sidecar", "postgres_exporter", "redis_exporter"):
        check(jobs.get(job) == "up", f"target {job} is up ({jobs.get(job)})")

    # Every event of this fresh database reached both sinks, and Prometheus
    # scraped the sidecar's counters after they got there. The anomaly stage
    # appends events of its own, so the total is read from PostgreSQL.
    def delivered_everything():
        stored = int(sql(url, "SELECT count(*) FROM bss.events"))
        kafka = value(prom, 'bss_sidecar_sink_delivered_events_total{sink="kafka"}')
        redis = value(prom, 'bss_sidecar_sink_delivered_events_total{sink="redis"}')
        return (kafka == stored and redis == stored,
                f"stored {stored}, Prometheus has kafka {kafka}, redis {redis}")
    ok, detail = eventually(90, delivered_everything)
    check(ok, f"Prometheus's delivered counters equal the events PostgreSQL stored ({detail})")
    stored = int(sql(url, "SELECT count(*) FROM bss.events"))
    check(stored >= acked, f"PostgreSQL holds at least the acknowledged events ({stored} >= {acked})")

    def source_counted():
        v = value(prom, "bss_sidecar_source_events_total")
        return v == stored, f"{v}"
    ok, detail = eventually(30, source_counted)
    check(ok, f"bss_sidecar_source_events_total is the events stored ({detail} vs {stored})")

    # The recording rules ran on those series (evaluated every 15 s).
    def rated():
        v = value(prom, 'bss:sink_delivered:rate1m{sink="kafka"}')
        return v is not None and v > 0, v
    ok, rate = eventually(60, rated)
    offered = report["offered_rate"]
    check(ok and rate < 10 * max(offered, 300),
          f"bss:sink_delivered:rate1m{{sink=kafka}} is positive and near the offered rate ({rate} vs {offered:.0f}/s)")
    p95 = value(prom, 'bss:commit_to_ack_seconds:p95_5m{sink="kafka"}')
    check(p95 is not None and 0 < p95 < 5, f"commit-to-ack p95 to Kafka is between 0 and 5 s ({p95})")

    # pg_bss's bss.stats, through postgres_exporter's custom query.
    def stats_scraped():
        v = value(prom, 'bss_stats_value{stat="head_position"}')
        head = int(sql(url, "SELECT max(global_position) FROM bss.events"))
        return v == head, f"{v} vs {head}"
    ok, detail = eventually(30, stats_scraped)
    check(ok, f"bss_stats_value{{stat=head_position}} is the store's head ({detail})")
    streams = value(prom, 'bss_stats_value{stat="streams"}')
    pg_streams = int(sql(url, "SELECT count(*) FROM bss.streams"))
    check(streams == pg_streams, f"bss_stats_value{{stat=streams}} is the stream count ({streams} vs {pg_streams})")
    check(value(prom, 'bss_stats_value{stat="slot_active", key="bss_local"}') == 1,
          "the sidecar's slot is active (bss_stats_value{stat=slot_active})")
    lag = value(prom, 'bss_stats_value{stat="slot_lag_bytes", key="bss_local"}')
    check(lag is not None and 0 <= lag < 64 * 1024 * 1024, f"slot lag is known and small ({lag} bytes)")

    def recorded_last_minute():
        v = value(prom, 'sum(bss_stats_value{stat="events_last_minute"})')
        return v is not None and 0 < v <= stored, v
    ok, detail = eventually(75, recorded_last_minute)
    check(ok, f"events_last_minute counts part of the load ({detail} of {stored})")

    def drained():
        depth = value(prom, "bss_sidecar_spool_depth_events")
        lags = [v for _, v in prom.query("bss_sidecar_sink_lag_events")]
        return depth == 0 and lags and all(v == 0 for v in lags), f"spool {depth}, sink lag {lags}"
    ok, detail = eventually(30, drained)
    check(ok, f"after the load the spool and the sinks caught up ({detail})")

    check(value(prom, "pg_up") == 1, "postgres_exporter reaches PostgreSQL (pg_up)")
    check(value(prom, "redis_up") == 1, "redis_exporter reaches Redis (redis_up)")
    keys = value(prom, 'sum(redis_db_keys)')
    check(keys is not None and keys > 0, f"Redis holds the sidecar's keys (redis_db_keys {keys})")

    print(f"e2e_check: {len(failures)} failed" + (": " + "; ".join(failures) if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
