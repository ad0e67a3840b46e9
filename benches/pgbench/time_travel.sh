#!/usr/bin/env bash
# make bench-pg, second part: time travel against the devdb, same run.
#   bss.aggregate of a 100,000-event stream with a snapshot every 1,000 events,
#   at the head and at a random past moment, against the full replay of an
#   equal stream without snapshots (1 client);
#   bss.append_event to a category with an inline projection vs one without
#   (16 clients, 10,000 streams each).
# BENCH_SECONDS (default 30) per append case, a third of it per read case.
source "$(dirname "$0")/../../scripts/lib.sh"
SECONDS_PER_CASE="${BENCH_SECONDS:-30}"
READ_SECONDS=$(((SECONDS_PER_CASE + 2) / 3))
URL="$("$ROOT/scripts/devdb.sh" url)"
WORK="$ROOT/target/bench-pg"
make_pg_dir "$WORK"
RUN="$(date +%s)"
SNAP="ttsnap$RUN-1"
FULL="ttfull$RUN-1"
EVENTS=100000
BATCH=100

psql_b() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$URL" "$@"; }

log "appending $EVENTS events to $SNAP (snapshot every 1,000) and to $FULL (none), $BATCH per transaction"
psql_b -c "SELECT bss.set_snapshot_policy('ttsnap$RUN', 1000)" >/dev/null
for stream in "$SNAP" "$FULL"; do
    for _ in $(seq 1 $((EVENTS / BATCH))); do
        echo "SELECT bss.append_events('$stream', (SELECT jsonb_agg(jsonb_build_object('type', 'usage.recorded', 'data',
              jsonb_build_object('n', i, 'cell', 'NL-AMS-' || (i % 300), 'bytes', i * 1000, 'charge', 0.01 * (i % 90),
                                 'msisdn', '3161' || (i % 1000), 'plan', 'postpaid-m'))) FROM generate_series(1, $BATCH) i));"
    done
done | psql_b >/dev/null
psql_b -At -c "SELECT count(*) FROM bss.snapshots WHERE stream_id = '$SNAP'" | grep -qx 100 ||
    die "expected 100 snapshots of $SNAP"
[ "$(psql_b -At -c "SELECT bss.aggregate('$SNAP')::text = bss.aggregate('$FULL')::text")" = t ] ||
    die "the two streams do not fold to the same state"

cat >"$WORK/aggregate_head.sql" <<SQL
SELECT bss.aggregate('$SNAP');
SQL
cat >"$WORK/aggregate_past.sql" <<SQL
\set v random(1, $EVENTS)
SELECT bss.aggregate('$SNAP', (SELECT recorded_at FROM bss.events WHERE stream_id = '$SNAP' AND stream_version = :v));
SQL
cat >"$WORK/aggregate_worst.sql" <<SQL
SELECT bss.aggregate('$SNAP', at_version => $((EVENTS - 1)));
SQL
cat >"$WORK/replay_head.sql" <<SQL
SELECT bss.aggregate('$FULL');
SQL
psql_b -c "SELECT bss.create_projection('bench_proj$RUN', 'usageproj$RUN')" >/dev/null
DATA='{"kind": "data", "msisdn": "31612345678", "cell": "NL-AMS-117", "bytes": 48213771, "charge": 0.42, "currency": "EUR"}'
cat >"$WORK/append_plain_category.sql" <<SQL
\set sid random(1, 10000)
SELECT bss.append_event('usagenoproj$RUN-' || :sid, 'usage.recorded', '$DATA'::jsonb);
SQL
cat >"$WORK/append_projected.sql" <<SQL
\set sid random(1, 10000)
SELECT bss.append_event('usageproj$RUN-' || :sid, 'usage.recorded', '$DATA'::jsonb);
SQL
chmod o+r "$WORK"/*.sql

latency() { # script clients seconds -> average latency in ms, tx/s
    as_pg "$PG_BIN/pgbench" -n -M prepared -c "$2" -j "$2" -T "$3" -f "$WORK/$1" "$URL" 2>&1 | tee "$WORK/$1.log" |
        awk '/^latency average = / { l = $4 } /^tps = / { t = $3 } END { printf "%.2f %.0f\n", l, t }'
}
log "running 4 read cases of ${READ_SECONDS}s and 2 append cases of ${SECONDS_PER_CASE}s"
read -r head_ms _ < <(latency aggregate_head.sql 1 "$READ_SECONDS")
read -r past_ms _ < <(latency aggregate_past.sql 1 "$READ_SECONDS")
read -r worst_ms _ < <(latency aggregate_worst.sql 1 "$READ_SECONDS")
read -r full_ms _ < <(latency replay_head.sql 1 "$READ_SECONDS")
read -r _ plain_tps < <(latency append_plain_category.sql 16 "$SECONDS_PER_CASE")
read -r _ proj_tps < <(latency append_projected.sql 16 "$SECONDS_PER_CASE")
rows=$(psql_b -At -c "SELECT count(*) FROM bss_projection.bench_proj$RUN")

times() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0fx", (b > 0 ? a / b : 0) }'; }
printf '\n%-58s %12s %14s\n' "bss.aggregate, 100,000-event stream (1 client)" "latency" "vs replay"
printf '%-58s %9s ms %14s\n' "at the head, snapshot every 1,000" "$head_ms" "$(times "$full_ms" "$head_ms")"
printf '%-58s %9s ms %14s\n' "at a random past moment, snapshot every 1,000" "$past_ms" "$(times "$full_ms" "$past_ms")"
printf '%-58s %9s ms %14s\n' "at version 99,999: 999 events after the newest snapshot" "$worst_ms" "$(times "$full_ms" "$worst_ms")"
printf '%-58s %9s ms %14s\n' "full replay, no snapshots" "$full_ms" "1x"
printf '\n%-58s %12s %14s\n' "bss.append_event, 16 clients, ${SECONDS_PER_CASE}s" "tx/s" "vs without"
printf '%-58s %12s %14s\n' "category without a projection" "$plain_tps" "100%"
printf '%-58s %12s %14s\n' "category with an inline projection ($rows rows)" "$proj_tps" \
    "$(awk -v a="$proj_tps" -v b="$plain_tps" 'BEGIN { printf "%.0f%%", (b > 0 ? 100 * a / b : 0) }')"
echo "(logs in $WORK)"
