#!/usr/bin/env bash
# make bench-pg (after run.sh, whose pgbench scripts it runs): what a
# synchronous standby costs an append. A fresh primary (scripts/devdb.sh's
# cluster, under target/bench-pg/primary on port 28817) and a streaming
# standby of it (pg_basebackup -R, target/bench-pg/standby, port 28818), both
# on this machine. The same cases as run.sh, each as one node (the standby
# stopped) and with the standby synchronous (synchronous_standby_names =
# 'bench_standby', synchronous_commit = on: a commit returns once the
# standby has flushed it), alternating one node, synchronous, one node,
# synchronous, BENCH_SECONDS (default 30) each; the table gives the mean of
# each pair. Both clusters are removed on any exit.
source "$(dirname "$0")/../../scripts/lib.sh"
source "$ROOT/scripts/pipeline.sh"  # wait_until
SECONDS_PER_CASE="${BENCH_SECONDS:-30}"
WORK="$ROOT/target/bench-pg"
PRIMARY="$WORK/primary"
STANDBY="$WORK/standby"
PRIMARY_PORT=28817
STANDBY_PORT=28818
NAME=bench_standby
[ -f "$WORK/append_event.sql" ] || die "no pgbench scripts in $WORK: run benches/pgbench/run.sh first (make bench-pg does)"

primary() { DEVDB="$PRIMARY" PGPORT="$PRIMARY_PORT" DEVDB_SKIP_INSTALL=1 "$ROOT/scripts/devdb.sh" "$@"; }
standby_ctl() { as_pg "$PG_BIN/pg_ctl" -D "$STANDBY/data" "$@"; }
sql() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -tA "$URL" -c "$1"; }
cleanup() {
    if [ -f "$STANDBY/data/postmaster.pid" ]; then standby_ctl -m immediate stop >/dev/null 2>&1 || true; fi
    if [ -f "$PRIMARY/data/postmaster.pid" ]; then primary stop >/dev/null 2>&1 || true; fi
    rm -rf "$PRIMARY" "$STANDBY"
}
trap cleanup EXIT
cleanup

URL="$(primary start | tail -1)"
make_pg_dir "$STANDBY"
log "base backup of the primary for the standby"
as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U "$PG_USER" -D "$STANDBY/data" -R -X stream -c fast
# -R wrote a primary_conninfo; this one, later in the file, names the standby.
echo "primary_conninfo = 'host=127.0.0.1 port=$PRIMARY_PORT user=$PG_USER application_name=$NAME'" |
    as_pg tee -a "$STANDBY/data/postgresql.auto.conf" >/dev/null
start_standby() { standby_ctl -o "-p $STANDBY_PORT -k $STANDBY" -l "$STANDBY/postgres.log" -w start >/dev/null; }
in_sync() { [ "$(sql "SELECT count(*) FROM pg_stat_replication WHERE application_name = '$NAME' AND sync_state = 'sync'")" = 1 ]; }

one_node() {
    sql "ALTER SYSTEM RESET synchronous_standby_names" >/dev/null
    sql "SELECT pg_reload_conf()" >/dev/null
    [ -f "$STANDBY/data/postmaster.pid" ] && standby_ctl -m fast -w stop >/dev/null
    return 0
}
synchronous() {
    [ -f "$STANDBY/data/postmaster.pid" ] || start_standby
    sql "ALTER SYSTEM SET synchronous_standby_names = '$NAME'" >/dev/null
    sql "SELECT pg_reload_conf()" >/dev/null
    # It first replays what the one-node case before wrote without it (after
    # the batch case, gigabytes of WAL): that can take minutes here.
    wait_until 600 "the standby synchronous" in_sync
}

run() { # script clients -> transactions per second
    as_pg "$PG_BIN/pgbench" -n -M prepared -c "$2" -j 2 -T "$SECONDS_PER_CASE" -f "$WORK/$1" "$URL" 2>&1 \
        | tee "$WORK/sync-$1.log" | awk '/^tps = / { printf "%.0f", $3 }'
}
mean() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (a + b) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", (b > 0 ? 100 * a / b : 0) }'; }

sql "SELECT bss.ensure_partitions()" >/dev/null
declare -A tps
for script in "append_event.sql 16" "append_events.sql 2"; do
    set -- $script
    log "$1, $2 clients: one node, synchronous, one node, synchronous (${SECONDS_PER_CASE}s each)"
    one_node; a1=$(run "$1" "$2")
    synchronous; s1=$(run "$1" "$2")
    one_node; a2=$(run "$1" "$2")
    synchronous; s2=$(run "$1" "$2")
    tps[$1 one]=$(mean "$a1" "$a2")
    tps[$1 sync]=$(mean "$s1" "$s2")
done
one_node

printf '\n%-32s %8s %14s %14s %14s\n' "case (pgbench -M prepared, ${SECONDS_PER_CASE}s x 2)" clients "one node tx/s" "sync tx/s" "sync/one node"
printf '%-32s %8s %14s %14s %14s\n' "bss.append_event" 16 "${tps[append_event.sql one]}" "${tps[append_event.sql sync]}" \
    "$(ratio "${tps[append_event.sql sync]}" "${tps[append_event.sql one]}")"
printf '%-32s %8s %14s %14s %14s\n' "bss.append_events, 100 events" 2 "${tps[append_events.sql one]}" "${tps[append_events.sql sync]}" \
    "$(ratio "${tps[append_events.sql sync]}" "${tps[append_events.sql one]}")"
echo "(a streaming standby on the same 2 cores: its WAL receiver and replay take CPU from the primary too; logs in $WORK)"
