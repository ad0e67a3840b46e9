#!/usr/bin/env bash
# make bench-e2e: the seed's benchmark on this one machine. The devdb, a tansu
# broker, redis-server and bss-sidecar run as in `make demo`; bss-loadgen
# offers realistic BSS traffic open-loop (8 connections, CDRs in batches of
# 20, a connection's backlog as one bss.append_streams call, or as
# append_events calls with BENCH_GROUP_APPEND=calls) and reads it back from
# Kafka, matching events by ce_id:
#   400,000 events a minute (6,667/s) for BENCH_E2E_HOLD (default 10m), then
#   a spike (2x, 13,334/s for 30 s), then stress (3x, 20,000/s for 2 min),
#   a minute at 1x, then the extreme spike (50,000/s offered for 60 s: the
#   load generator's queue and the sidecar's spool take what the pipeline
#   cannot) and 3 minutes at 1x, after which it says how long each sink took
#   to catch up (stage BENCH_E2E_SPIKE_STAGE, default 11, the extreme spike).
# Writes target/bench-e2e/report.json and the chart docs/bench-e2e.svg, and
# prints the report, then the CPU seconds of each part of the pipeline per
# stage (benches/proc_usage.py, sampled from /proc each second).
source "$(dirname "$0")/../../scripts/lib.sh"
URL="$("$ROOT/scripts/devdb.sh" url)"
HOLD="${BENCH_E2E_HOLD:-10m}"
STAGES="${BENCH_E2E_STAGES:-10s:6667,$HOLD:6667,1s:13334,30s:13334,1s:6667,30s:6667,10s:20000,2m:20000,1s:6667,60s:6667,1s:50000,60s:50000,1s:6667,3m:6667}"
SPIKE_STAGE="${BENCH_E2E_SPIKE_STAGE-11}"
WORK="$ROOT/target/bench-e2e"
SLOT=bss_bench_e2e
source "$ROOT/scripts/pipeline.sh"
source "$ROOT/benches/usage.sh"
make_pg_dir "$WORK"
rm -rf "$WORK/spool" "$WORK/usage.jsonl" "$WORK/lag.jsonl"
SAMPLER=""
LAG_SAMPLER=""
trap 'kill $SAMPLER $LAG_SAMPLER 2>/dev/null || true; stop_pipeline' EXIT
start_measured_pipeline "$WORK" 1
python3 "$ROOT/benches/sink_lag.py" sample "$METRICS_PORT" "$WORK/lag.jsonl" --max-seconds 172800 &
LAG_SAMPLER=$!

log "bss-loadgen: stages $STAGES"
"$ROOT/target/release/bss-loadgen" run --database-url "$URL" --stages "$STAGES" \
    --connections "${BENCH_E2E_CONNECTIONS:-8}" --batch-size "${BENCH_E2E_BATCH:-20}" --seed 42 \
    --group-append "${BENCH_GROUP_APPEND:-streams}" \
    --kafka-brokers "127.0.0.1:$KAFKA_PORT" --e2e-timeout 120s \
    --report "$WORK/report.json" --chart "$WORK/chart.svg" --labels "$WORK/anomalies.jsonl"
stop_usage_sampler
kill -TERM "$LAG_SAMPLER" && wait "$LAG_SAMPLER" || true
log "CPU per stage (user + system, from /proc):"
python3 "$ROOT/benches/proc_usage.py" stages "$WORK/usage.jsonl" "$WORK/report.json" | tee "$WORK/cpu.md"
if [ -n "$SPIKE_STAGE" ]; then
    log "the sinks after stage $SPIKE_STAGE (the extreme spike):"
    python3 "$ROOT/benches/sink_lag.py" catchup "$WORK/lag.jsonl" "$WORK/report.json" "$SPIKE_STAGE" | tee "$WORK/catchup.txt"
fi
mkdir -p "$ROOT/docs"
cp "$WORK/chart.svg" "$ROOT/docs/bench-e2e.svg"
http_get "$METRICS_PORT" /metrics >"$WORK/metrics.txt"
log "report: $WORK/report.json, chart: docs/bench-e2e.svg, sidecar metrics: $WORK/metrics.txt"
