#!/usr/bin/env bash
# make bench-e2e: the seed's benchmark on this one machine. The devdb, a tansu
# broker, redis-server and bss-sidecar run as in `make demo`; bss-loadgen
# offers realistic BSS traffic open-loop through bss.append_events (8
# connections, CDRs in batches of 20) and reads it back from Kafka, matching
# events by ce_id:
#   400,000 events a minute (6,667/s) for BENCH_E2E_HOLD (default 10m), then
#   a spike (2x, 13,334/s for 30 s), then stress (3x, 20,000/s for 2 min).
# Writes target/bench-e2e/report.json and the chart docs/bench-e2e.svg, and
# prints the report.
source "$(dirname "$0")/../../scripts/lib.sh"
URL="$("$ROOT/scripts/devdb.sh" url)"
HOLD="${BENCH_E2E_HOLD:-10m}"
STAGES="${BENCH_E2E_STAGES:-10s:6667,$HOLD:6667,1s:13334,30s:13334,1s:6667,30s:6667,10s:20000,2m:20000}"
WORK="$ROOT/target/bench-e2e"
SLOT=bss_bench_e2e
source "$ROOT/scripts/pipeline.sh"
make_pg_dir "$WORK"
rm -rf "$WORK/spool"
trap stop_pipeline EXIT
start_broker_and_redis "$WORK"
log "building bss-loadgen"
cargo build -q -p bss-loadgen --release
start_sidecar "$WORK"

log "bss-loadgen: stages $STAGES"
"$ROOT/target/release/bss-loadgen" run --database-url "$URL" --stages "$STAGES" \
    --connections "${BENCH_E2E_CONNECTIONS:-8}" --batch-size "${BENCH_E2E_BATCH:-20}" --seed 42 \
    --kafka-brokers "127.0.0.1:$KAFKA_PORT" --e2e-timeout 120s \
    --report "$WORK/report.json" --chart "$WORK/chart.svg" --labels "$WORK/anomalies.jsonl"
mkdir -p "$ROOT/docs"
cp "$WORK/chart.svg" "$ROOT/docs/bench-e2e.svg"
http_get "$METRICS_PORT" /metrics >"$WORK/metrics.txt"
log "report: $WORK/report.json, chart: docs/bench-e2e.svg, sidecar metrics: $WORK/metrics.txt"
