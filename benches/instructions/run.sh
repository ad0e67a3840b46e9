#!/usr/bin/env bash
# make bench-instructions [BASE=<git rev>]: the instructions the append path
# executes, counted by callgrind (repeatable on a busy machine, unlike time),
# for this checkout's pg_bss and for BASE's (a git revision, default HEAD~). A
# single-user backend (postgres --single) runs each case in one transaction:
#   append_event   3,000 calls, 100 streams, the ~300-byte event of bench-pg
#   append_events  30 calls of 100 events
#   plain INSERT   3,000 rows into bss.events (no pg_bss code but uuidv7)
#   groups         the load generator's shape: 16 transactions of 32 prepared
#                  append_events calls of 6 events (each naming its
#                  event_id), one to each of 32 streams (new in the first
#                  transaction, existing after)
#   streams        the same events, each transaction one append_streams call
#                  of the 32 streams (only for a library that has it)
#   mixed          48 append_streams calls of 1 to 32 streams (6 events
#                  each), as the load generator's calls vary: the plan
#                  cache sees arrays of every length
# after a warm-up (DROP/CREATE EXTENSION, one append) that is also run alone
# and subtracted; each twice (CASES="groups streams" runs only those).
# Prints instructions per event. The libraries
# run under this checkout's SQL: BASE must declare the same C functions.
source "$(dirname "$0")/../../scripts/lib.sh"
WORK="$ROOT/target/bench-instructions"
LIB="$("$PG_CONFIG" --pkglibdir)/pg_bss.so"
BASE="$(git -C "$ROOT" rev-parse --verify "${BASE:-HEAD~}^{commit}")"
command -v valgrind >/dev/null || die "valgrind not found (apt-get install valgrind)"

rm -rf "$WORK"
make_pg_dir "$WORK"
# This checkout's library, as installed; put back on any exit. Libraries are
# swapped by a new file (--remove-destination), never rewritten in place:
# backends of other clusters that have the old one mapped would crash.
install_pg_bss
cp "$LIB" "$WORK/current.so"
trap 'cp --remove-destination "$WORK/current.so" "$LIB"; git -C "$ROOT" worktree remove --force "$WORK/base-src" 2>/dev/null || true' EXIT
log "building pg_bss at $BASE"
git -C "$ROOT" worktree add -q --detach "$WORK/base-src" "$BASE"
(cd "$WORK/base-src/pg_bss" && CARGO_TARGET_DIR="$WORK/base-target" \
    cargo build --release --lib --features pg15 --no-default-features >&2)
cp "$WORK/base-target/release/libpg_bss.so" "$WORK/base.so"

as_pg "$PG_BIN/initdb" -D "$WORK/data" -U "$PG_USER" --auth=trust >/dev/null
echo "CREATE DATABASE bench" | as_pg "$PG_BIN/postgres" --single -D "$WORK/data" postgres >/dev/null 2>&1

DATA='{"kind": "data", "msisdn": "31612345678", "imsi": "204081234567890", "cell": "NL-AMS-117", "apn": "internet", "plan": "postpaid-m", "bytes": 48213771, "seconds": 0, "charge": 0.42, "currency": "EUR", "session": "7f3c9a1e-5b2d-4e8f-9a6b-1c2d3e4f5a6b", "started_at": 1795515300, "zone": "NL-domestic"}'
N=3000
WARM="DROP EXTENSION IF EXISTS pg_bss CASCADE
CREATE EXTENSION pg_bss
SELECT bss.append_event('usage-0', 'usage.recorded', '$DATA'::jsonb)"
printf '%s\n' "$WARM" >"$WORK/warm.sql"
printf '%s\n%s\n' "$WARM" "SELECT count(bss.append_event('usage-' || (i % 100), 'usage.recorded', '$DATA'::jsonb)) FROM generate_series(1, $N) i" >"$WORK/append_event.sql"
printf '%s\n%s\n' "$WARM" "SELECT count(bss.append_events('usage-' || (i % 100), (SELECT jsonb_agg(jsonb_build_object('type', 'usage.recorded', 'data', '$DATA'::jsonb)) FROM generate_series(1, 100)))) FROM generate_series(1, $((N / 100))) i" >"$WORK/append_events.sql"
printf '%s\n%s\n' "$WARM" "INSERT INTO bss.events (global_position, stream_id, stream_version, event_id, source, type, \"time\", data, region, position_horizon) SELECT nextval('bss.global_position_seq'), 'usage-' || (i % 100), i, bss.uuidv7(), '/pg_bss', 'usage.recorded', now(), '$DATA'::jsonb, 'local', pg_current_xact_id() FROM generate_series(1, $N) i" >"$WORK/insert.sql"
# The groups and streams cases: the same 3,072 events, each with its own
# event_id as the load generator sends them (so each append looks its ids
# up as a retry would).
python3 - "$WORK" "$DATA" "$WARM" <<'PY'
import json, sys, uuid
work, data, warm = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
n = 0
def batch():
    global n
    events = []
    for _ in range(6):
        n += 1
        events.append({"type": "usage.recorded", "data": data,
                       "event_id": str(uuid.UUID(int=(0x0190F0F0 << 96) | (7 << 76) | (2 << 62) | n))})
    return json.dumps(events)
with open(f"{work}/groups.sql", "w") as f:
    f.write(warm + "\nPREPARE a(text, jsonb) AS SELECT bss.append_events($1, $2)\n")
    for t in range(16):
        f.write("BEGIN\n")
        for s in range(32):
            f.write(f"EXECUTE a('group-{s}', '{batch()}')\n")
        f.write("COMMIT\n")
def streams_case(name, calls):
    """One append_streams call per element of calls (its streams), 6 events
    a stream; writes NAME.sql and the events' count to NAME.events."""
    global n
    n = 0
    with open(f"{work}/{name}.sql", "w") as f:
        f.write(warm + "\nPREPARE m(text[], jsonb[]) AS SELECT bss.append_streams($1, $2)\n")
        for names in calls:
            elements = ",".join('"' + batch().replace('"', '\\"') + '"' for _ in names)
            f.write(f"EXECUTE m('{{{','.join(names)}}}', '{{{elements}}}')\n")
    with open(f"{work}/{name}.events", "w") as f:
        f.write(str(n))
streams_case("streams", [[f"group-{s}" for s in range(32)]] * 16)
sizes = [1, 3, 5, 8, 13, 2, 21, 4, 6, 32, 9, 7]
streams_case("mixed", [[f"group-{(t * 7 + s) % 64}" for s in range(sizes[t % len(sizes)])] for t in range(48)])
PY
GROUP_EVENTS=$((16 * 32 * 6))
chmod o+r "$WORK"/*.sql

# Instructions of one single-user backend running a script with a library.
count() {
    cp --remove-destination "$WORK/$1.so" "$LIB"
    rm -f "$WORK/cg.out"
    as_pg valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" \
        "$PG_BIN/postgres" --single -D "$WORK/data" -c fsync=off bench <"$WORK/$2.sql" >"$WORK/last.log" 2>&1
    if grep -q "ERROR" "$WORK/last.log"; then
        grep "ERROR" "$WORK/last.log" >&2
        die "$2 with the $1 library failed"
    fi
    sed -n 's/^\(summary\|totals\): *//p' "$WORK/cg.out" | head -1
}

count current warm >/dev/null # the first run after CREATE DATABASE does more
printf '%-14s %-8s %16s %16s\n' case library "per event, run 1" "per event, run 2"
for c in ${CASES:-append_event append_events insert groups streams mixed}; do
    events=$N
    [ "$c" != groups ] || events=$GROUP_EVENTS
    [ ! -f "$WORK/$c.events" ] || events="$(cat "$WORK/$c.events")"
    libs=(base current)
    # (grep without -q reads all of nm's output: no SIGPIPE under pipefail)
    if { [ "$c" = streams ] || [ "$c" = mixed ]; } && ! nm -D "$WORK/base.so" | grep bss_append_streams >/dev/null; then
        libs=(current)
        printf '%-14s %-8s %16s %16s\n' "$c" base "n/a" "n/a"
    fi
    for lib in "${libs[@]}"; do
        per=()
        for run in 1 2; do
            warm="$(count "$lib" warm)"
            total="$(count "$lib" "$c")"
            per+=("$(((total - warm) / events))")
        done
        printf '%-14s %-8s %16s %16s\n' "$c" "$lib" "${per[0]}" "${per[1]}"
    done
done
log "base: $BASE ($(git -C "$ROOT" log -1 --format=%s "$BASE" | cut -c1-60)...)"
