#!/usr/bin/env bash
# make test-backup: base backups, continuous WAL archiving and a
# point-in-time restore of a pg_bss database with pgBackRest (Debian's
# pgbackrest), on a throwaway cluster (scripts/devdb.sh's, under
# target/backup on port 28819) and repository (target/backup/repo):
#
#   1. archive_command = pgbackrest archive-push; stanza-create; check; a
#      full backup;
#   2. events appended (the "before" set), the restore target time taken,
#      more events appended (the "after" set), the WAL switched so it is
#      archived;
#   3. the cluster stopped and restored to the target time (--type=time,
#      --target-action=promote) over its data directory (--delta);
#   4. checked: every "before" event is there, no "after" event is,
#      bss.streams agrees with bss.events, and appends go on (the stream's
#      next version follows the restored one);
#   5. the sidecar across it (a tansu broker, redis-server and bss-sidecar
#      from scripts/pipeline.sh, forwarding every event before the restore):
#      on the restored cluster it stops, naming the replay; `bss-sidecar
#      replay --after-restore --since TARGET` rebuilds Redis to exactly the
#      restored store (the undone events gone) and gives Kafka what it
#      lacks; started again, it streams on, and every event of the store is
#      in Kafka and, once, in order, in Redis;
#   6. the same without an operator: the sidecar runs with
#      --replay-after-restore through a second restore (to a later target,
#      on the new timeline) and rebuilds the sinks itself, taking the
#      target time from the timeline history.
#
# Prints one line per check; exits 1 on the first that fails. Removes the
# cluster and the repository on any exit.
source "$(dirname "$0")/../../scripts/lib.sh"
PIPELINE_KAFKA_PORT=29193 PIPELINE_REDIS_PORT=26480 PIPELINE_METRICS_PORT=29288
SIDECAR_CONFIG=""
source "$ROOT/scripts/pipeline.sh"  # wait_until, the broker, Redis and the sidecar
SLOT=bss_pitr
URL=""

WORK="$ROOT/target/backup"
DB="$WORK/pg"
REPO="$WORK/repo"
PORT=28819
CONF="$WORK/pgbackrest.conf"
STANZA=bss

cluster() { DEVDB="$DB" PGPORT="$PORT" DEVDB_SKIP_INSTALL="${SKIP_INSTALL:-}" "$ROOT/scripts/devdb.sh" "$@"; }
pgbr() { as_pg pgbackrest --config="$CONF" --stanza="$STANZA" "$@"; }
sql() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -tA -h 127.0.0.1 -p "$PORT" -d bss -c "$1"; }
ok() { printf '  ok   %s\n' "$*"; }
fail() { printf '  FAIL %s\n' "$*"; exit 1; }
cleanup() {
    stop_pipeline
    # The logs outlive the run (target/backup-logs), for a failure's reasons.
    if [ -d "$WORK/pipeline" ]; then
        rm -rf "$ROOT/target/backup-logs" && mkdir -p "$ROOT/target/backup-logs"
        cp "$WORK/pipeline/"*.log "$DB/"*.log "$ROOT/target/backup-logs/" 2>/dev/null || true
    fi
    if [ -f "$DB/data/postmaster.pid" ]; then cluster stop >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
cleanup
make_pg_dir "$WORK"
make_pg_dir "$REPO"
mkdir -p "$WORK/log" "$WORK/lock" && chown "$PG_USER" "$WORK/log" "$WORK/lock"

# The first start installs pg_bss (setup.sh) unless the caller did.
URL="$(cluster start | tail -1)"
SKIP_INSTALL=1
cat >"$CONF" <<CONF
[global]
repo1-path=$REPO
repo1-retention-full=2
log-path=$WORK/log
lock-path=$WORK/lock
log-level-console=warn
start-fast=y
archive-async=n

[$STANZA]
pg1-path=$DB/data
pg1-port=$PORT
pg1-socket-path=$DB
CONF
chown "$PG_USER" "$CONF"
sql "ALTER SYSTEM SET archive_mode = on" >/dev/null
sql "ALTER SYSTEM SET archive_command = 'pgbackrest --config=$CONF --stanza=$STANZA archive-push %p'" >/dev/null
cluster stop >/dev/null
URL="$(cluster start | tail -1)"
pgbr stanza-create
pgbr check
ok "stanza created; archive_command archives WAL (pgbackrest check)"
pgbr --type=full backup
ok "full backup: $(pgbr info --output=json | python3 -c 'import json,sys; b=json.load(sys.stdin)[0]["backup"][-1]; print(b["label"], b["info"]["size"], "bytes")')"

start_broker_and_redis "$WORK/pipeline"
start_sidecar "$WORK/pipeline"
SIDECAR_ARGS=(--database-url "$URL" --spool-dir "$WORK/pipeline/spool" --slot "$SLOT"
    --kafka-brokers "127.0.0.1:$KAFKA_PORT" --redis-url "redis://127.0.0.1:$REDIS_PORT")
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
redis_has() { # redis_has CATEGORY N: Redis's stream of CATEGORY holds N entries
    [ "$(rcli XLEN "bss:events:$1")" = "$2" ]
}
# restore_to TARGET: the cluster stopped, restored to TARGET and promoted.
restore_to() {
    cluster stop >/dev/null
    pgbr --delta --type=time "--target=$1" --target-action=promote restore
    URL="$(cluster start | tail -1)"
    wait_until 60 "the restored cluster out of recovery" bash -c \
        "[ \"\$(runuser -u $PG_USER -- $PG_BIN/psql -X -tA -h 127.0.0.1 -p $PORT -d bss -c 'SELECT pg_is_in_recovery()')\" = f ]"
}
# kafka_lacks OUT TOPIC...: how many events of the store these topics lack
# ("incomplete" if the broker could not be read whole); the read in OUT.
kafka_lacks() {
    local out="$1"; shift
    sql "SELECT event_id FROM bss.events" |
        "$PY_VENV/bin/python" "$ROOT/chaos/kafka_recount.py" "127.0.0.1:$KAFKA_PORT" "$@" >"$out"
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["acknowledged_not_in_broker"] if r["complete"] else "incomplete")' "$out"
}

append() { # append STREAM FROM TO
    sql "SELECT bss.append_events('$1', (SELECT jsonb_agg(jsonb_build_object('type', 'backup.test', 'data', jsonb_build_object('n', g))) FROM generate_series($2, $3) g), $(($2 - 1)))" >/dev/null
}
append customer-before 1 500
append ledger-before 1 250
sleep 1.1
TARGET="$(sql "SELECT now()")"
sleep 1.1
append customer-before 501 600
append account-after 1 300
sql "SELECT pg_switch_wal()" >/dev/null
sql "CHECKPOINT" >/dev/null
wait_until 30 "the last WAL segment archived" bash -c \
    "[ \"\$(runuser -u $PG_USER -- $PG_BIN/psql -X -tA -h 127.0.0.1 -p $PORT -d bss -c 'SELECT failed_count = 0 AND last_archived_wal IS NOT NULL FROM pg_stat_archiver')\" = t ]"
before_rows="$(sql "SELECT count(*) FROM bss.events WHERE stream_id IN ('customer-before', 'ledger-before') AND recorded_at <= '$TARGET'")"
[ "$before_rows" = 750 ] || fail "expected 750 events before the target, found $before_rows"
ok "750 events before the target time ($TARGET), 400 after"
all_forwarded() { redis_has customer 600 && redis_has account 300; }
wait_until 60 "the sidecar delivering all 1150 to Redis" all_forwarded
ok "the sidecar forwarded all 1150 to Kafka and Redis"
stop_sidecar

restore_to "$TARGET"
ok "restored to $TARGET and promoted (timeline $(sql "SELECT timeline_id FROM pg_control_checkpoint()"))"

[ "$(sql "SELECT count(*) FROM bss.events WHERE stream_id = 'customer-before'")" = 500 ] ||
    fail "customer-before: want versions 1..500, have $(sql "SELECT count(*) FROM bss.events WHERE stream_id = 'customer-before'")"
[ "$(sql "SELECT count(*) FROM bss.events WHERE stream_id = 'ledger-before'")" = 250 ] || fail "ledger-before is not whole"
[ "$(sql "SELECT count(*) FROM bss.events WHERE stream_id = 'account-after'")" = 0 ] || fail "account-after, appended after the target, is there"
ok "every event before the target is there (750), none after (customer-before 501..600 and account-after are gone)"
mismatch="$(sql "SELECT count(*) FROM bss.streams s WHERE s.version <> (SELECT max(stream_version) FROM bss.events e WHERE e.stream_id = s.stream_id)")"
[ "$mismatch" = 0 ] || fail "$mismatch streams whose version disagrees with their events"
[ "$(sql "SELECT count(*) FROM bss.streams WHERE stream_id = 'account-after'")" = 0 ] || fail "account-after's stream row survived"
ok "bss.streams agrees with bss.events"
append customer-before 501 510
[ "$(sql "SELECT max(stream_version) FROM bss.events WHERE stream_id = 'customer-before'")" = 510 ] || fail "appending after the restore"
ok "appends go on after the restore (customer-before 501..510 with expected version 500)"

# The sidecar on the restored cluster: its spool holds a history the
# server no longer has. It must stop and say what to run.
set +e
timeout 60 "$ROOT/target/release/bss-sidecar" "${SIDECAR_ARGS[@]}" >"$WORK/pipeline/restored.log" 2>&1
rc=$?
set -e
[ "$rc" = 1 ] || fail "the sidecar on the restored cluster exited with $rc, not 1 (log: $(tail -3 "$WORK/pipeline/restored.log"))"
grep -q -- "replay --after-restore" "$WORK/pipeline/restored.log" ||
    fail "the sidecar's error does not name the replay: $(tail -3 "$WORK/pipeline/restored.log")"
ok "the sidecar stops on the restored cluster: $(grep -o 'the server on timeline [^:]*' "$WORK/pipeline/restored.log" | head -1)"
"$ROOT/target/release/bss-sidecar" "${SIDECAR_ARGS[@]}" replay --after-restore --since "$TARGET" >"$WORK/pipeline/replay.log" 2>&1 ||
    fail "replay --after-restore failed: $(tail -5 "$WORK/pipeline/replay.log")"
redis_has customer 510 || fail "Redis's customer stream after the replay: $(rcli XLEN bss:events:customer) entries, want 510"
redis_has ledger 250 || fail "Redis's ledger stream after the replay: $(rcli XLEN bss:events:ledger) entries, want 250"
redis_has account 0 || fail "Redis still holds account-after, which the restore undid"
[ "$(rcli HGET bss:agg:customer-before version)" = 510 ] || fail "Redis's customer-before state is at version $(rcli HGET bss:agg:customer-before version), want 510"
ok "replay --after-restore: Redis holds exactly the restored store (760 events, customer-before 501..510 appended since the restore among them; the 400 undone are gone)"

start_sidecar "$WORK/pipeline" "$WORK/pipeline/sidecar-restored.log"
append customer-before 511 520
wait_until 60 "customer-before 501..520 in Redis" redis_has customer 520
[ "$(rcli HGET bss:agg:customer-before version)" = 520 ] || fail "Redis's customer-before state is at version $(rcli HGET bss:agg:customer-before version), want 520"
python3 - "$(rcli HGET bss:agg:customer-before state)" <<'PY' || fail "Redis's customer-before state is not the restored stream's"
import json, sys
assert json.loads(sys.argv[1]) == {"n": 520}, sys.argv[1]
PY
positions="$(rcli XRANGE bss:events:customer - + | awk 'prev == "global_position" { print } { prev = $0 }' | sort -n | uniq | wc -l)"
[ "$positions" = 520 ] || fail "Redis's customer stream holds $positions distinct positions, want 520"
versions_in_order="$(rcli XRANGE bss:events:customer - + | awk 'prev == "version" { if ($0 != v + 1) bad = 1; v = $0 } { prev = $0 } END { print bad ? "no" : "yes" }')"
[ "$versions_in_order" = yes ] || fail "Redis's customer stream is not versions 1..520 in order"
ok "the sidecar streams on after the replay: customer-before 1..520 once and in order in Redis"
missing="$(kafka_lacks "$WORK/pipeline/recount.json" bss.customer bss.ledger)"
[ "$missing" = 0 ] || fail "events of the restored store not in Kafka: $missing ($(cat "$WORK/pipeline/recount.json"))"
ok "every event of the restored store ($(sql "SELECT count(*) FROM bss.events")) is in Kafka"

# 6. A second restore, the sidecar running with --replay-after-restore.
stop_sidecar
export BSS_REPLAY_AFTER_RESTORE=true
start_sidecar "$WORK/pipeline" "$WORK/pipeline/sidecar-auto.log"
unset BSS_REPLAY_AFTER_RESTORE
append kept-1 1 100
sleep 1.1
TARGET2="$(sql "SELECT now()")"
sleep 1.1
append undone-1 1 100
both_forwarded() { redis_has kept 100 && redis_has undone 100; }
wait_until 60 "kept-1 and undone-1 in Redis" both_forwarded
pgbr check
restore_to "$TARGET2"
ok "restored again, to $TARGET2 (timeline $(sql "SELECT timeline_id FROM pg_control_checkpoint()")), the sidecar left running"
rebuilt() { redis_has undone 0 && redis_has kept 100 && redis_has customer 520 && healthy; }
wait_until 90 "the sidecar rebuilding Redis by itself (log: $WORK/pipeline/sidecar-auto.log)" rebuilt
grep -q "replay_after_restore: rebuilding the sinks" "$WORK/pipeline/sidecar-auto.log" ||
    fail "the sidecar's log does not say it replayed after the restore"
append kept-1 101 110
wait_until 60 "kept-1 101..110 in Redis" redis_has kept 110
[ "$(rcli HGET bss:agg:kept-1 version)" = 110 ] || fail "Redis's kept-1 state is at version $(rcli HGET bss:agg:kept-1 version), want 110"
missing="$(kafka_lacks "$WORK/pipeline/recount2.json" bss.customer bss.ledger bss.kept)"
[ "$missing" = 0 ] || fail "events of the twice-restored store not in Kafka: $missing ($(cat "$WORK/pipeline/recount2.json"))"
ok "--replay-after-restore: the sidecar rebuilt Redis to the restored store by itself (undone-1 gone, kept-1 there) and streams on; Kafka holds every event of the store"
