#!/usr/bin/env python3
"""Waits until every sink named has delivered at least EVENTS events (the
bss_sidecar_sink_delivered_events_total counter on /metrics), polling every
50 ms from this one process, so the wait takes no CPU from the run it
measures (a shell loop forking curl, sed and awk took about 5% of it).
Prints the Unix time at which the last sink got there; exits 1 after
TIMEOUT seconds.

usage: wait_delivered.py METRICS_PORT EVENTS TIMEOUT SINK..."""
import sys
import time
import urllib.request


def delivered(port):
    out = {}
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        body = urllib.request.urlopen(url, timeout=2).read().decode()
    except OSError:
        return out
    for line in body.splitlines():
        if line.startswith("bss_sidecar_sink_delivered_events_total{"):
            labels, value = line.rsplit(" ", 1)
            sink = labels.split('sink="', 1)[1].split('"', 1)[0]
            out[sink] = float(value)
    return out


def main():
    port, events, timeout, sinks = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = delivered(port)
        now = time.time()  # after the reply: never earlier than the delivery
        if all(got.get(s, 0) >= events for s in sinks):
            print(f"{now:.3f}")
            return 0
        time.sleep(0.05)
    print(f"after {timeout:.0f}s: delivered {got}, waiting for {events} on {sinks}", file=sys.stderr)
    return 1


sys.exit(main())
