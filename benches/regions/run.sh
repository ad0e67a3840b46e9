#!/usr/bin/env bash
# make bench-regions: the figures of the README's "Region scenarios
# measured": the chaos suite's region scenarios (chaos/run.sh, two whole
# pipelines joined over a 30 ms link) at 2,000 events/s in all and at
# 400,000 events a minute (6,667/s). A run that is not clean is reported,
# not hidden (at 400,000 a minute this 2-core machine is full). Each run's
# report is kept in target/bench-regions/<run>/; the table is printed and
# written to target/bench-regions/table.md.
source "$(dirname "$0")/../../scripts/lib.sh"
OUT="$ROOT/target/bench-regions"
RUNS=(
    "partition-2000 region-partition warmup=30 fault=60 after=20 rate=2000"
    "latency-2000 region-latency warmup=40 fault=5 after=5 rate=2000"
    "loss-2000 region-loss warmup=20 fault=30 after=20 rate=2000"
    "partition-6667 region-partition warmup=15 fault=60 after=20 rate=6667"
    "loss-6667 region-loss warmup=20 fault=30 after=20 rate=6667"
)
rm -rf "$OUT"
mkdir -p "$OUT"
built=""
for run in "${RUNS[@]}"; do
    read -r -a words <<<"$run"
    name="${words[0]}" scenario="${words[1]}"
    log "bench-regions: $name"
    CHAOS_NO_BUILD="$built" "$ROOT/chaos/run.sh" "$scenario" "${words[@]:2}" settle=120 ||
        log "bench-regions: $name was not clean (its report says why)"
    built=1
    cp -r "$ROOT/target/chaos/$scenario" "$OUT/$name"
done
python3 - "$OUT" "${RUNS[@]}" <<'PY'
import json, sys
out, runs = sys.argv[1], sys.argv[2:]
rows = ["| run | settings | ok | acknowledged | lost | conflicts | converged (s) | takeover (s) | RPO events / s | lag p50 / p95 / p99 (ms) |",
        "|---|---|---|---|---|---|---|---|---|---|"]
for run in runs:
    name, scenario, *settings = run.split()
    try:
        r = json.load(open(f"{out}/{name}/report.json"))
    except (OSError, ValueError):
        rows.append(f"| {name} | {' '.join(settings)} | no report | | | | | | | |")
        continue
    lag = r.get("replication_lag_ms") or {}
    rpo = f"{r['rpo_events']} / {r['rpo_seconds']}" if "rpo_events" in r else ""
    rows.append(f"| {name} | {' '.join(settings)} | {r.get('ok')} | {r.get('acknowledged')} | {r.get('lost')} | "
                f"{r.get('conflicted')} | {r.get('convergence_seconds')} | {r.get('takeover_seconds', '')} | {rpo} | "
                f"{lag.get('p50')} / {lag.get('p95')} / {lag.get('p99')} |")
text = "\n".join(rows)
open(f"{out}/table.md", "w").write(text + "\n")
print(text)
PY
