#!/usr/bin/env python3
"""How far behind each of the sidecar's sinks is, over a run: what the
end-to-end benchmark uses to say how long each sink takes to catch up
after a spike.

  sink_lag.py sample PORT OUT [--interval S] [--max-seconds S]
      Every S seconds (default 1) until SIGTERM/SIGINT or --max-seconds,
      appends {"t": <unix time>, "lag": {SINK: events}} to OUT, from the
      sidecar's bss_sidecar_sink_lag_events on 127.0.0.1:PORT/metrics
      (events in its spool the sink has not delivered yet).

  sink_lag.py catchup SAMPLES LOADGEN_REPORT STAGE [--below N]
      For each sink: its largest lag from the start of bss-loadgen's stage
      STAGE (0-based) on, and the seconds from that stage's end until its
      lag was below N events (default 6,667, one second of 400,000 a
      minute) and stayed there; "not caught up" when it never did.
"""
import argparse
import datetime
import json
import re
import sys
import time

import sampling
import urllib.request

LAG = re.compile(r'^bss_sidecar_sink_lag_events\{sink="([^"]+)"\} (\S+)$')


def sample(args):
    with open(args.out, "a") as out:
        def take():
            lag = {}
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{args.port}/metrics", timeout=2) as r:
                    for line in r.read().decode().splitlines():
                        m = LAG.match(line)
                        if m:
                            lag[m.group(1)] = float(m.group(2))
            except OSError:
                pass  # the sidecar restarting: no sample this second
            if lag:
                out.write(json.dumps({"t": round(time.time(), 3), "lag": lag}) + "\n")
                out.flush()

        sampling.every(args.interval, args.max_seconds, take)


def catchup(args):
    with open(args.samples) as f:
        samples = [json.loads(line) for line in f if line.strip()]
    with open(args.report) as f:
        report = json.load(f)
    start = datetime.datetime.fromisoformat(report["started_at"].replace("Z", "+00:00")).timestamp()
    phase = next((p for p in report["phases"] if p["stage"] == args.stage), None)
    if phase is None:
        sys.exit(f"sink_lag: the report has no stage {args.stage}")
    begin, end = start + phase["from_s"], start + phase["to_s"]
    after = [s for s in samples if s["t"] >= begin]
    if not after:
        sys.exit("sink_lag: no samples from that stage on")
    for sink in sorted(after[-1]["lag"]):
        peak = max(s["lag"].get(sink, 0) for s in after)
        # The first sample after the stage's end from which the lag stays below N.
        caught = None
        for s in after:
            if s["t"] < end:
                continue
            if s["lag"].get(sink, 0) < args.below:
                caught = caught if caught is not None else s["t"]
            else:
                caught = None
        told = f"{caught - end:.0f} s after the stage ended" if caught is not None else "not caught up"
        print(f"{sink}: at most {peak:,.0f} events behind; below {args.below:,} again {told}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("port", type=int)
    s.add_argument("out")
    s.add_argument("--interval", type=float, default=1.0)
    s.add_argument("--max-seconds", type=float, default=7200)
    c = sub.add_parser("catchup")
    c.add_argument("samples")
    c.add_argument("report")
    c.add_argument("stage", type=int)
    c.add_argument("--below", type=int, default=6667)
    args = ap.parse_args()
    {"sample": sample, "catchup": catchup}[args.cmd](args)


if __name__ == "__main__":
    main()
