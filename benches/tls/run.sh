#!/usr/bin/env bash
# make bench-tls: the sidecar's catch-up over TLS against the same over
# plaintext, on the same servers (deploy/tls/bed.sh with TLS_BED_PLAIN=1:
# PostgreSQL, Redis and haproxy in front of tansu listen both ways) in the
# same run. EVENTS (default 500,000) events are in the store when a
# sidecar starts; the time until Kafka and Redis have acknowledged all of
# them, as events/s. Runs alternate plaintext, TLS, plaintext, TLS...
# (ROUNDS of each, default 3), each from its own slot (all made before the
# events, so each reads the same WAL) with a fresh spool and Redis emptied.
# Prints each run and the ratio of the medians.
source "$(dirname "$0")/../../scripts/lib.sh"
PIPELINE_KAFKA_PORT=29320 PIPELINE_REDIS_PORT=26520 PIPELINE_METRICS_PORT=29397
SIDECAR_CONFIG=""
source "$ROOT/scripts/pipeline.sh"
WORK="$ROOT/target/bench-tls"
EVENTS="${BENCH_TLS_EVENTS:-500000}"
ROUNDS="${BENCH_TLS_ROUNDS:-3}"
TLS_BED_PLAIN=1
SLOT=""
URL=""
source "$ROOT/deploy/tls/bed.sh"

trap tls_bed_down EXIT
tls_bed_down
make_pg_dir "$WORK"
tls_bed_up
URL="$(pg_url_tls "$PG_USER")"

runs=()
for r in $(seq "$ROUNDS"); do runs+=(plain tls); done
for i in "${!runs[@]}"; do
    tls_sql -c "SELECT pg_create_logical_replication_slot('bss_bench_tls_$i', 'pgoutput')" >/dev/null
done
DATA='{"kind": "data", "msisdn": "31612345678", "cell": "NL-AMS-117", "bytes": 48213771, "seconds": 0, "charge": 0.42, "currency": "EUR"}'
log "preloading $EVENTS events"
for t in $(seq 0 $((EVENTS / 1000 - 1))); do
    echo "SELECT count(bss.append_events('tlsbench-' || s, (SELECT jsonb_agg(jsonb_build_object('type', 'usage.recorded', 'data', '$DATA'::jsonb || jsonb_build_object('n', i))) FROM generate_series(1, 100) i))) FROM generate_series($((t * 10 + 1)), $((t * 10 + 10))) s;"
done >"$WORK/preload.sql"
chmod o+r "$WORK/preload.sql"
tls_sql -o /dev/null -f "$WORK/preload.sql"

# CPU seconds used so far by each part of the pipeline (utime + stime of
# its processes), one "part seconds" line each: where a run's time goes.
cpu_parts() {
    local part pids p total
    for part in sidecar postgres redis tansu haproxy; do
        case "$part" in
            sidecar) pids="$SIDECAR_PID" ;;
            postgres) pids="$(pgrep -d ' ' -f "^postgres: .*(sidecar|walsender)" || true)" ;;
            redis | tansu | haproxy) pids="${BED_PIDS[$part]}" ;;
        esac
        total=0
        for p in $pids; do
            [ -r "/proc/$p/stat" ] || continue
            total=$((total + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
        done
        echo "$part $total"
    done
}
TICKS="$(getconf CLK_TCK)"

declare -A rates
for i in "${!runs[@]}"; do
    mode="${runs[$i]}"
    SLOT="bss_bench_tls_$i"
    redis_tls_cli FLUSHALL >/dev/null
    rm -rf "$WORK/spool-$mode"
    start=$(date +%s.%N)
    start_tls_sidecar "$mode" "$WORK/sidecar-$i-$mode.log"
    end=$(python3 "$ROOT/benches/cdc/wait_delivered.py" "$METRICS_PORT" "$EVENTS" 900 kafka redis) ||
        die "the $mode catch-up did not finish within 900 s (log: $WORK/sidecar-$i-$mode.log)"
    rate=$(python3 -c "print(round($EVENTS / ($end - $start)))")
    rates[$mode]+="$rate "
    log "run $((i + 1)) ($mode): $EVENTS events in $(python3 -c "print(f'{$end - $start:.1f}')") s, $(printf "%'d" "$rate") events/s (sidecar start included)"
    # The sidecar's and the servers' processes as the run ends (the servers'
    # counts include the runs before: the difference to the last is this run's).
    cpu_parts >"$WORK/cpu-$i.txt"
    log "   CPU s: $(awk -v t="$TICKS" -v prev="$WORK/cpu-$((i - 1)).txt" '
        BEGIN { while ((getline l < prev) > 0) { split(l, a, " "); before[a[1]] = a[2] } }
        { d = $1 == "sidecar" || $1 == "postgres" ? $2 : $2 - before[$1]; printf "%s %.1f  ", $1, d / t }' "$WORK/cpu-$i.txt")"
    stop_sidecar
done
python3 - "${rates[plain]}" "${rates[tls]}" <<'PY'
import statistics, sys
plain = [int(x) for x in sys.argv[1].split()]
tls = [int(x) for x in sys.argv[2].split()]
p, t = statistics.median(plain), statistics.median(tls)
print(f"catch-up, median of {len(plain)}: plaintext {p:,.0f} events/s, TLS {t:,.0f} events/s: "
      f"TLS costs {100 * (1 - t / p):.1f}% of the rate (target: at most 10%)")
PY
