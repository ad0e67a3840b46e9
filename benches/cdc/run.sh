#!/usr/bin/env bash
# make bench-cdc: the sidecar between the devdb, a tansu broker and Redis,
# all on this machine.
#  1. catch-up: 1,000,000 events already in the store (1,000 transactions of
#     1,000 events) when the sidecar starts; the time until both Kafka and
#     Redis acknowledged all of them, as events/s; and first, as the
#     baseline, PostgreSQL's own client decoding the same WAL from its own
#     slot (pg_recvlogical, pgoutput with the sidecar's options, into
#     /dev/null): the catch-up as a ratio of it;
#  2. steady: appends at 6,667 events/s (400,000 a minute; pgbench -R, 10
#     events per transaction) for BENCH_SECONDS (default 60); the sidecar's
#     commit-to-acknowledgement latency per sink, p50/p95/p99, from its
#     histogram over that window;
#  3. replay: the sidecar stopped, Redis flushed, then `bss-sidecar replay`
#     of everything from the preload on (the preload and the steady events)
#     into Redis, then into Kafka, one sink at a time, as events/s.
source "$(dirname "$0")/../../scripts/lib.sh"
URL="$("$ROOT/scripts/devdb.sh" url)"
STEADY_SECONDS="${BENCH_SECONDS:-60}"
PRELOAD_TXNS=1000
STREAMS_PER_TXN=10
EVENTS_PER_STREAM=100
TOTAL=$((PRELOAD_TXNS * STREAMS_PER_TXN * EVENTS_PER_STREAM))
WORK="$ROOT/target/bench-cdc"
SLOT=bss_bench_cdc
BASELINE_SLOT=bss_bench_cdc_recvlogical
# The sidecar alone: its anomaly stage is measured by make bench-anomaly.
SIDECAR_CONFIG="${SIDECAR_CONFIG-}"
RUN="$(date +%s)"
source "$ROOT/scripts/pipeline.sh"
psql_b() { as_pg "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 "$URL" "$@"; }
make_pg_dir "$WORK"
rm -rf "$WORK/spool"
trap 'stop_pipeline; drop_slot $BASELINE_SLOT' EXIT
start_broker_and_redis "$WORK"

DATA='{"kind": "data", "msisdn": "31612345678", "cell": "NL-AMS-117", "bytes": 48213771, "seconds": 0, "charge": 0.42, "currency": "EUR"}'
BEFORE_PRELOAD="$(psql_b -qtAc "SELECT coalesce(max(global_position), 0) FROM bss.events")"
for slot in "$SLOT" "$BASELINE_SLOT"; do
    drop_slot "$slot"
    psql_b -qc "SELECT pg_create_logical_replication_slot('$slot', 'pgoutput')" >/dev/null
done
log "preloading $TOTAL events ($PRELOAD_TXNS transactions) into the store"
for t in $(seq 0 $((PRELOAD_TXNS - 1))); do
    lo=$((t * STREAMS_PER_TXN + 1)); hi=$((lo + STREAMS_PER_TXN - 1))
    echo "SELECT count(bss.append_events('cdc$RUN-' || s, (SELECT jsonb_agg(jsonb_build_object('type', 'usage.recorded', 'data', '$DATA'::jsonb || jsonb_build_object('n', i))) FROM generate_series(1, $EVENTS_PER_STREAM) i))) FROM generate_series($lo, $hi) s;"
done >"$WORK/preload.sql"
chmod o+r "$WORK/preload.sql"
psql_b -q -o /dev/null -f "$WORK/preload.sql"
PRELOAD_END="$(psql_b -qtAc "SELECT pg_current_wal_lsn()")"

# The baseline: PostgreSQL's decoder and client alone, the same options as
# the sidecar's (pgoutput protocol 1, binary tuples), up to the preload's end.
start=$(date +%s.%N)
as_pg "$PG_BIN/pg_recvlogical" -d "$URL" --slot "$BASELINE_SLOT" --start --endpos "$PRELOAD_END" --no-loop \
    -o proto_version=1 -o publication_names=bss_events -o binary=true -f /dev/null ||
    die "pg_recvlogical did not stream the preload"
end=$(date +%s.%N)
DECODER_RATE=$(python3 -c "print(round($TOTAL / ($end - $start)))")
log "PostgreSQL's decoder (pg_recvlogical): $TOTAL events in $(python3 -c "print(f'{$end - $start:.1f}')")s ($(printf "%'d" "$DECODER_RATE") events/s)"
drop_slot "$BASELINE_SLOT"

start=$(date +%s.%N)
start_sidecar "$WORK"
delivered() { echo "$(metric 'bss_sidecar_sink_delivered_events_total{sink="kafka"}') $(metric 'bss_sidecar_sink_delivered_events_total{sink="redis"}')"; }
end=$(python3 "$ROOT/benches/cdc/wait_delivered.py" "$METRICS_PORT" "$TOTAL" 900 kafka redis) ||
    die "the catch-up of $TOTAL events did not finish within 900 s"
CATCHUP_S=$(python3 -c "print(f'{$end - $start:.1f}')")
CATCHUP_RATE=$(python3 -c "print(f'{$TOTAL / ($end - $start):,.0f}')")
log "catch-up: $TOTAL events in ${CATCHUP_S}s ($CATCHUP_RATE events/s, sidecar start included): $(python3 -c "print(f'{100 * $TOTAL / ($end - $start) / $DECODER_RATE:.0f}')")% of PostgreSQL's decoder (target: at least 70%)"

log "steady load: 6,667 events/s for ${STEADY_SECONDS}s"
{
    echo '\set sid random(1, 10000)'
    printf "SELECT bss.append_events('steady$RUN-' || :sid, '["
    for i in $(seq 1 10); do
        [ "$i" = 1 ] || printf ','
        printf '{"type":"usage.recorded","data":%s}' "$DATA"
    done
    echo "]'::jsonb);"
} >"$WORK/steady.sql"
chmod o+r "$WORK/steady.sql"
http_get "$METRICS_PORT" /metrics >"$WORK/metrics-before.txt"
read -r before_k before_r < <(delivered)
as_pg "$PG_BIN/pgbench" -n -M prepared -c 4 -j 2 -R 667 -T "$STEADY_SECONDS" -f "$WORK/steady.sql" "$URL" >"$WORK/pgbench.txt" 2>&1
appended=$(awk '/number of transactions actually processed/ { split($NF, a, "/"); print a[1] * 10 }' "$WORK/pgbench.txt")
steady_done() {
    read -r k r < <(delivered)
    [ "${k%.*}" -ge $(( ${before_k%.*} + appended )) ] && [ "${r%.*}" -ge $(( ${before_r%.*} + appended )) ]
}
wait_until 60 "the steady events delivered" steady_done
http_get "$METRICS_PORT" /metrics >"$WORK/metrics-after.txt"
python3 "$ROOT/benches/cdc/latency.py" "$WORK/metrics-before.txt" "$WORK/metrics-after.txt" "$appended" "$STEADY_SECONDS" "$TOTAL" "$CATCHUP_S"

# 3. replay, with the sidecar stopped (it drains first).
stop_sidecar
redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null
replay_rate() { # replay_rate SINK: events/s of `bss-sidecar replay --sink SINK` from the preload on
    local t0 t1 n
    t0=$(date +%s.%N)
    "${SIDECAR_BIN:-$ROOT/target/release/bss-sidecar}" --database-url "$URL" --spool-dir "$WORK/spool" --slot "$SLOT" \
        --kafka-brokers "127.0.0.1:$KAFKA_PORT" --redis-url "redis://127.0.0.1:$REDIS_PORT" \
        replay --sink "$1" --from-position "$BEFORE_PRELOAD" >"$WORK/replay-$1.log" 2>&1 ||
        die "replay into $1 failed (log: $WORK/replay-$1.log)"
    t1=$(date +%s.%N)
    n="$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/replay-$1.log" | sed -n 's/.*replay done events=\([0-9]*\).*/\1/p')"
    python3 -c "print(f'replay into $1: {$n:,} events in {$t1 - $t0:.1f} s, {$n / ($t1 - $t0):,.0f} events/s (connecting and the slot included)')"
}
log "$(replay_rate redis)"
log "$(replay_rate kafka)"
