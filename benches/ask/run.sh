#!/usr/bin/env bash
# make bench-ask: what `bss-intel ask` costs PostgreSQL on a large store. A
# scratch database on the devdb is loaded with benches/ask/large_store.sql
# (857,000 events over 30 days of business time); each question of
# benches/ask/questions.txt is planned by bss-intel ask (--json, at
# 2026-11-20T12:00:00Z) and its SQL, with its parameters, timed by EXPLAIN
# ANALYZE after one warm-up run. The baseline: one day's events counted
# through bss.read_period (its BRIN index on business time) and through
# bss.read_all (the whole store). The scratch database is dropped on any exit.
source "$(dirname "$0")/../../scripts/lib.sh"
HERE="$ROOT/benches/ask"
DB="bss_bench_ask_$$"
NOW=2026-11-20T12:00:00Z
"$ROOT/scripts/intel_data.sh"
build_binaries
URL="$("$ROOT/scripts/devdb.sh" url)"
BASE="${URL%%\?*}"
DB_URL="${BASE%/bss}/$DB"
psql_on() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() { psql_on "$URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true; }
trap cleanup EXIT

log "loading benches/ask/large_store.sql into $DB"
psql_on "$URL" -c "CREATE DATABASE $DB" >/dev/null
psql_on "$DB_URL" -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_bss" >/dev/null
started=$SECONDS
psql_on "$DB_URL" -f "$HERE/large_store.sql" >/dev/null
log "$(psql_on "$DB_URL" -tAc "SELECT count(*) FROM bss.events") events in $((SECONDS - started)) s"

# Execution time of `sql` with text parameters `params` (a JSON array).
timed() {
    python3 - "$1" "$2" <<'PY' | psql_on "$DB_URL" | sed -n 's/^ *Execution Time: \([0-9.]*\) ms$/\1/p'
import json, sys
sql, params = sys.argv[1], json.loads(sys.argv[2])
lit = lambda p: "'" + p.replace("'", "''") + "'"
types = "(" + ",".join(["text"] * len(params)) + ")" if params else ""
args = "(" + ",".join(lit(p) for p in params) + ")" if params else ""
print(f"PREPARE q{types} AS {sql};")
print(f"EXECUTE q{args};")
print(f"EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) EXECUTE q{args};")
PY
}

# A field of the JSON object on standard input: text as is, the rest as JSON.
field() {
    python3 -c 'import json, sys
v = json.load(sys.stdin)[sys.argv[1]]
print(v if isinstance(v, str) else json.dumps(v))' "$1"
}

printf '\n| question | template | PostgreSQL ms |\n|---|---|---:|\n'
while IFS= read -r question; do
    [ -n "$question" ] || continue
    plan="$("$ROOT/target/release/bss-intel" --data-dir "$ROOT/target/intel" ask --database-url "$DB_URL" \
        --now "$NOW" --statement-timeout-ms 120000 --json "$question")"
    sql="$(field sql <<<"$plan")"
    params="$(field params <<<"$plan")"
    printf '| %s | %s | %s |\n' "$question" "$(field template <<<"$plan")" "$(timed "$sql" "$params")"
done <"$HERE/questions.txt"

day="'2026-11-19T00:00:00Z', '2026-11-20T00:00:00Z'"
printf '\n| one day of 30, counted through | PostgreSQL ms |\n|---|---:|\n'
printf '| bss.read_period | %s |\n' "$(timed "SELECT count(*) FROM bss.read_period($day, 0, 2147483647)" '[]')"
printf '| bss.read_all | %s |\n' "$(timed "SELECT count(*) FROM bss.read_all(0, 2147483647) e WHERE e.time >= '2026-11-19T00:00:00Z' AND e.time < '2026-11-20T00:00:00Z'" '[]')"
