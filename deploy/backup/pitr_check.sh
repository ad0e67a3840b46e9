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
#      next version follows the restored one).
#
# Prints one line per check; exits 1 on the first that fails. Removes the
# cluster and the repository on any exit.
source "$(dirname "$0")/../../scripts/lib.sh"
source "$ROOT/scripts/pipeline.sh"  # wait_until

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

cluster stop >/dev/null
pgbr --delta --type=time "--target=$TARGET" --target-action=promote restore
URL="$(cluster start | tail -1)"
wait_until 60 "the restored cluster out of recovery" bash -c \
    "[ \"\$(runuser -u $PG_USER -- $PG_BIN/psql -X -tA -h 127.0.0.1 -p $PORT -d bss -c 'SELECT pg_is_in_recovery()')\" = f ]"
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
