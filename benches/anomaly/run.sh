#!/usr/bin/env bash
# make bench-anomaly: what the anomaly stage costs the sidecar. The pipeline
# of `make demo` runs twice under the same bss-loadgen traffic (a 10 s ramp
# to 6,667 events/s, then 400,000 a minute held for BENCH_ANOMALY_SECONDS,
# default 60, with labelled anomalies):
# once without detectors, once with bss-detect/detectors.toml. For each run,
# the sidecar's CPU time (user + system, /proc) from its start until Kafka,
# Redis and the stage have everything, per event and as a share of a core at
# 6,667 events/s.
source "$(dirname "$0")/../../scripts/lib.sh"
URL="$("$ROOT/scripts/devdb.sh" url)"
LOAD_SECONDS="${BENCH_ANOMALY_SECONDS:-60}"
WORK="$ROOT/target/bench-anomaly"
SLOT=bss_bench_anomaly
source "$ROOT/scripts/pipeline.sh"
make_pg_dir "$WORK"
trap stop_pipeline EXIT
start_broker_and_redis "$WORK"
log "building bss-loadgen"
build_binaries
psql_b() { as_pg "$PG_BIN/psql" -X -qtA -v ON_ERROR_STOP=1 "$URL" "$@"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICKS="$(getconf CLK_TCK)"

# run_once NAME DETECTORS: prints "NAME events cpu_seconds".
run_once() {
    local name="$1" dir="$WORK/$1" head events
    rm -rf "$dir" && mkdir -p "$dir"
    head="$(psql_b -c 'SELECT coalesce(max(global_position), 0) FROM bss.events')"
    SIDECAR_CONFIG="$2" start_sidecar "$dir"
    "$ROOT/target/release/bss-loadgen" run --database-url "$URL" --stages "10s:6667,${LOAD_SECONDS}s:6667" \
        --connections 16 --batch-size 20 --seed 7 --anomalies 0.001 --labels "$dir/labels.jsonl" \
        --report "$dir/report.json" >"$dir/loadgen.txt" 2>&1
    # Anomalies appended by the stage are events too: wait for those to settle.
    settled() {
        [ "$(metric 'bss_sidecar_sink_lag_events{sink="anomaly"}')" = 0 ] || return 1
        events="$(psql_b -c "SELECT count(*) FROM bss.events WHERE global_position > $head")"
        local k r
        k="$(metric 'bss_sidecar_sink_delivered_events_total{sink="kafka"}')"
        r="$(metric 'bss_sidecar_sink_delivered_events_total{sink="redis"}')"
        [ "${k%.*}" -ge "$events" ] && [ "${r%.*}" -ge "$events" ]
    }
    wait_until 600 "the $name run delivered" settled
    sleep 1
    settled
    http_get "$METRICS_PORT" /metrics >"$dir/metrics.txt"
    local ticks
    ticks="$(cpu_ticks "$SIDECAR_PID")"
    stop_sidecar
    echo "$name $events $(python3 -c "print($ticks / $TICKS)")"
}

log "run 1: the sidecar without detectors"
base="$(run_once without '')"
log "run 2: the sidecar with bss-detect/detectors.toml"
with="$(run_once with "$ROOT/bss-detect/detectors.toml")"
grep '^bss_sidecar_anomalies_total' "$WORK/with/metrics.txt" || true
python3 - "$base" "$with" <<'PY'
import sys
rows = [a.split() for a in sys.argv[1:3]]
print(f"| sidecar | events | CPU s | CPU us/event | cores at 6,667 events/s |")
print(f"|---|---:|---:|---:|---:|")
per = {}
for name, events, cpu in rows:
    us = float(cpu) / int(events) * 1e6
    per[name] = us
    print(f"| {name} detectors | {int(events):,} | {float(cpu):.1f} | {us:.1f} | {us * 6667 / 1e6:.3f} |")
stage = per["with"] - per["without"]
print(f"\nanomaly stage: {stage:.1f} us CPU per event, {stage * 6667 / 1e6:.3f} of a core at 6,667 events/s")
PY
