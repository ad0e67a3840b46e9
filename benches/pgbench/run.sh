#!/usr/bin/env bash
# make bench-pg: pgbench against the devdb (synchronous_commit on), 10,000 streams
# of one category, a ~300-byte usage event. Same run, same table:
#   bss.append_event          vs a plain single-row INSERT   (16 clients)
#   bss.append_events x 100   vs a plain 100-row INSERT      (2 clients)
#   bss.append_events x 100 of a type with a JSON Schema vs of one without
#   bss.append_event and append_events x 100 of a type whose schema marks two
#     fields personal (x-pii: sealed per data subject) vs the same schema without
# BENCH_SECONDS (default 30) per case. Prints one table.
source "$(dirname "$0")/../../scripts/lib.sh"
SECONDS_PER_CASE="${BENCH_SECONDS:-30}"
URL="$("$ROOT/scripts/devdb.sh" url)"
WORK="$ROOT/target/bench-pg"
make_pg_dir "$WORK"

# A usage record (CDR) of about 300 bytes as text. No ':' directly before a
# letter or digit: pgbench would read it as a variable.
DATA='{"kind": "data", "msisdn": "31612345678", "imsi": "204081234567890", "cell": "NL-AMS-117", "apn": "internet", "plan": "postpaid-m", "bytes": 48213771, "seconds": 0, "charge": 0.42, "currency": "EUR", "session": "7f3c9a1e-5b2d-4e8f-9a6b-1c2d3e4f5a6b", "started_at": 1795515300, "zone": "NL-domestic"}'
[ "${#DATA}" -ge 290 ] || die "sample event is ${#DATA} bytes"

COLS='global_position, stream_id, stream_version, event_id, source, type, "time", data, region, position_horizon'
row() { # the row append_event stores, spelled out for a plain INSERT
    echo "(nextval('bss.global_position_seq'), 'usage-' || :sid, $1, bss.uuidv7(), '/pg_bss', 'usage.recorded', now(), '$DATA'::jsonb, 'local', pg_current_xact_id())"
}

cat >"$WORK/append_event.sql" <<SQL
\set sid random(1, 10000)
SELECT bss.append_event('usage-' || :sid, 'usage.recorded', '$DATA'::jsonb);
SQL
cat >"$WORK/insert_one.sql" <<SQL
\set sid random(1, 10000)
INSERT INTO bss.events ($COLS) VALUES $(row 1);
SQL
{
    echo '\set sid random(1, 10000)'
    printf "SELECT bss.append_events('usage-' || :sid, '["
    for i in $(seq 1 100); do
        [ "$i" = 1 ] || printf ','
        printf '{"type":"usage.recorded","data":%s}' "$DATA"
    done
    echo "]'::jsonb);"
} >"$WORK/append_events.sql"
{
    echo '\set sid random(1, 10000)'
    printf "INSERT INTO bss.events (%s) VALUES " "$COLS"
    for i in $(seq 1 100); do
        [ "$i" = 1 ] || printf ', '
        printf '%s' "$(row "$i")"
    done
    echo ";"
} >"$WORK/insert_many.sql"
sed 's/"usage.recorded"/"usage.validated"/g' "$WORK/append_events.sql" >"$WORK/append_events_schema.sql"
sed 's/"usage.recorded"/"usage.personal"/g' "$WORK/append_events.sql" >"$WORK/append_events_personal.sql"
sed "s/'usage.recorded'/'usage.validated'/" "$WORK/append_event.sql" >"$WORK/append_event_schema.sql"
sed "s/'usage.recorded'/'usage.personal'/" "$WORK/append_event.sql" >"$WORK/append_event_personal.sql"
chmod o+r "$WORK"/*.sql
# The schema a mediation system would register for its CDRs (every field typed,
# ranges, the MSISDN pattern, the UUID format): what validation costs is this.
SCHEMA='{"type": "object", "additionalProperties": false,
  "required": ["kind", "msisdn", "cell", "bytes", "seconds", "charge", "currency"],
  "properties": {"kind": {"enum": ["voice", "sms", "data"]}, "msisdn": {"type": "string", "pattern": "^[0-9]{8,15}$"},
    "imsi": {"type": "string", "pattern": "^[0-9]{15}$"}, "cell": {"type": "string", "minLength": 1}, "apn": {"type": "string"},
    "plan": {"type": "string"}, "bytes": {"type": "integer", "minimum": 0}, "seconds": {"type": "integer", "minimum": 0},
    "charge": {"type": "number", "minimum": 0}, "currency": {"enum": ["EUR", "USD", "GBP"]},
    "session": {"type": "string", "format": "uuid"}, "started_at": {"type": "integer"}, "zone": {"type": "string"}}}'
as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$URL" -c "SELECT bss.register_schema('usage.validated', '$SCHEMA')" >/dev/null
# The same, with the subscriber's numbers personal: sealed under the stream's key.
PERSONAL="$(echo "$SCHEMA" | sed 's/"msisdn": {"type": "string",/"msisdn": {"type": "string", "x-pii": true,/; s/"imsi": {"type": "string",/"imsi": {"type": "string", "x-pii": true,/')"
[ "$(grep -o x-pii <<<"$PERSONAL" | wc -l)" = 2 ] || die "the personal schema marks $(grep -o x-pii <<<"$PERSONAL" | wc -l) fields, not 2"
as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$URL" -c "SELECT bss.register_schema('usage.personal', '$PERSONAL')" >/dev/null

run() { # script clients -> transactions per second
    as_pg "$PG_BIN/pgbench" -n -M prepared -c "$2" -j 2 -T "$SECONDS_PER_CASE" -f "$WORK/$1" "$URL" 2>&1 \
        | tee "$WORK/$1.log" | awk '/^tps = / { printf "%.0f", $3 }'
}

as_pg "$PG_BIN/psql" -X -q "$URL" -c "SELECT bss.ensure_partitions()" >/dev/null
log "warming up"
BENCH_WARM=$(SECONDS_PER_CASE=5 run append_event.sql 16)
log "running 8 cases of ${SECONDS_PER_CASE}s each"
one_plain=$(run insert_one.sql 16)
one_bss=$(run append_event.sql 16)
one_schema=$(run append_event_schema.sql 16)
one_personal=$(run append_event_personal.sql 16)
many_plain=$(run insert_many.sql 2)
many_bss=$(run append_events.sql 2)
many_schema=$(run append_events_schema.sql 2)
many_personal=$(run append_events_personal.sql 2)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", (b > 0 ? 100 * a / b : 0) }'; }
printf '\n%-34s %8s %10s %12s %9s\n' "case (pgbench -M prepared, ${SECONDS_PER_CASE}s)" clients "tx/s" "events/s" "vs plain"
printf '%-34s %8s %10s %12s %9s\n' "plain INSERT, 1 row" 16 "$one_plain" "$one_plain" "100%"
printf '%-34s %8s %10s %12s %9s\n' "bss.append_event" 16 "$one_bss" "$one_bss" "$(ratio "$one_bss" "$one_plain")"
printf '%-34s %8s %10s %12s %9s\n' "bss.append_event, schema" 16 "$one_schema" "$one_schema" "$(ratio "$one_schema" "$one_plain")"
printf '%-34s %8s %10s %12s %9s\n' "bss.append_event, schema, 2 x-pii" 16 "$one_personal" "$one_personal" "$(ratio "$one_personal" "$one_plain")"
printf '%-34s %8s %10s %12s %9s\n' "plain INSERT, 100 rows" 2 "$many_plain" "$((many_plain * 100))" "100%"
printf '%-34s %8s %10s %12s %9s\n' "bss.append_events, 100 events" 2 "$many_bss" "$((many_bss * 100))" "$(ratio "$many_bss" "$many_plain")"
printf '%-34s %8s %10s %12s %9s\n' "bss.append_events, 100, schema" 2 "$many_schema" "$((many_schema * 100))" "$(ratio "$many_schema" "$many_plain")"
printf '%-34s %8s %10s %12s %9s\n' "append_events, 100, 2 x-pii" 2 "$many_personal" "$((many_personal * 100))" "$(ratio "$many_personal" "$many_plain")"
echo "(with a JSON Schema: $(ratio "$many_schema" "$many_bss") of append_events without one; warm-up: $BENCH_WARM tx/s; logs in $WORK)"
echo "(personal fields sealed: append_event $(ratio "$one_personal" "$one_schema"), append_events $(ratio "$many_personal" "$many_schema") of the same schema without them)"
as_pg "$PG_BIN/psql" -X -q "$URL" -c "SELECT bss.register_schema('usage.validated', NULL)" -c "SELECT bss.register_schema('usage.personal', NULL)" >/dev/null
