# Sourced by chaos/run.sh: the restore-pitr scenario's operator. pgBackRest
# (as deploy/backup/pitr_check.sh sets it up) archives the bed's PostgreSQL
# and takes a full backup before the load; mid-load the database is
# restored to a moment of the load, and the sidecar brought back the way the
# README tells an operator to:
#
#   1. pgbackrest check (the WAL up to now archived), PostgreSQL stopped
#      (-m immediate), restored to the target time (--type=time,
#      --target-action=promote) and started;
#   2. the sidecar, restarted by its loop, stops at each start naming the
#      replay (its spool holds a history the restored server does not);
#   3. the loop stopped, `bss-sidecar replay --after-restore --since TARGET`
#      with the sidecar's settings, the watch told that Redis was rebuilt
#      (SIGUSR1), the sidecar started again.

PITR_DIR="$BED_DIR/pitr"

pitr_pgbr() {
    bed_exec pg runuser -u "$PG_USER" -- pgbackrest --config="$PITR_DIR/pgbackrest.conf" --stanza=bss "$@"
}

# pitr_setup: WAL archiving on, the stanza, a full backup.
pitr_setup() {
    make_pg_dir "$PITR_DIR"
    mkdir -p "$PITR_DIR/repo" "$PITR_DIR/log" "$PITR_DIR/lock"
    cat >"$PITR_DIR/pgbackrest.conf" <<CONF
[global]
repo1-path=$PITR_DIR/repo
repo1-retention-full=1
log-path=$PITR_DIR/log
lock-path=$PITR_DIR/lock
log-level-console=warn
start-fast=y

[bss]
pg1-path=$BED_DIR/pg/data
pg1-port=$PG_PORT_INNER
pg1-socket-path=$BED_DIR/pg
CONF
    chown -R "$PG_USER" "$PITR_DIR"
    psql_bed -c "ALTER SYSTEM SET archive_mode = on" \
        -c "ALTER SYSTEM SET archive_command = 'pgbackrest --config=$PITR_DIR/pgbackrest.conf --stanza=bss archive-push %p'" >/dev/null
    pg_ctl_bed -w -m fast restart -o "-p $PG_PORT_INNER" -l "$BED_DIR/pg/postgres.log" >/dev/null
    pitr_pgbr stanza-create
    pitr_pgbr check
    pitr_pgbr --type=full backup
    log "restore-pitr: archiving on, full backup taken ($(pitr_pgbr info --output=json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["backup"][-1]["label"])'))"
}

pitr_promoted() { [ "$(psql_bed -tAc "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ]; }
pitr_sidecar_refused() { grep -q -- "replay --after-restore" "$BED_DIR/logs/sidecar.log"; }

# pitr_restore TARGET_UNIX DIR: the restore and the sidecar's way back (see
# the header); the replay's log is DIR/replay.log.
pitr_restore() {
    local target="$1" dir="$2" at args
    at="$(date -u -d "@$target" '+%Y-%m-%d %H:%M:%S.%6N+00')"
    pitr_pgbr check
    log "restore-pitr: stopping PostgreSQL (-m immediate) and restoring it to $at"
    pg_ctl_bed -w -m immediate stop >/dev/null
    pitr_pgbr --delta --type=time "--target=$at" --target-action=promote restore
    pg_ctl_bed -w -o "-p $PG_PORT_INNER" -l "$BED_DIR/pg/postgres.log" start >/dev/null
    wait_until 120 "the restored PostgreSQL promoted" pitr_promoted
    log "restore-pitr: restored and promoted (timeline $(psql_bed -tAc "SELECT timeline_id FROM pg_control_checkpoint()"))"
    wait_until 60 "the sidecar stopping on the restored server, naming the replay" pitr_sidecar_refused
    stop_sidecar_loop
    mapfile -t args < <(sidecar_args)
    log "restore-pitr: bss-sidecar replay --after-restore --since '$at'"
    bed_exec sidecar "$BIN/bss-sidecar" "${args[@]}" replay --after-restore --since "$at" >"$dir/replay.log" 2>&1 ||
        die "restore-pitr: the replay failed (log: $dir/replay.log)"
    kill -USR1 "$(pid_of watch)"
    start_sidecar
}
