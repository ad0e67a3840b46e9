#!/usr/bin/env bash
# Regions on this machine: one PostgreSQL 15 cluster with pg_bss per region
# (scripts/devdb.sh's, under target/regions/<region>), each with bss.region
# set to its name, joined to every other by bss.add_region (logical
# replication both ways, dblink for forwarded appends).
#
#   scripts/regions.sh start   create and join what is missing (idempotent);
#                              prints REGION=URL,... (BSS_REGION_URLS) last
#   scripts/regions.sh stop    stop every region's cluster
#   scripts/regions.sh reset   stop and remove them
#   scripts/regions.sh test    start, the two-region tests (make test-regions), stop
#
# REGIONS (default "eu us") names them; the first listens on REGIONS_PORT
# (default 28851), the next on the port after, and so on.
source "$(dirname "$0")/lib.sh"

read -r -a NAMES <<<"${REGIONS:-eu us}"
BASE_PORT="${REGIONS_PORT:-28851}"
DIR="$ROOT/target/regions"

port_of() {
    local i
    for i in "${!NAMES[@]}"; do
        [ "${NAMES[$i]}" = "$1" ] && { echo $((BASE_PORT + i)); return; }
    done
    die "no region $1 (REGIONS: ${NAMES[*]})"
}
url_of() { echo "postgresql://$PG_USER@127.0.0.1:$(port_of "$1")/bss"; }
conninfo_of() { echo "host=127.0.0.1 port=$(port_of "$1") dbname=bss user=$PG_USER connect_timeout=5"; }
devdb() { DEVDB="$DIR/$1" PGPORT="$(port_of "$1")" DEVDB_SKIP_INSTALL="${REGIONS_SKIP_INSTALL:-}" "$ROOT/scripts/devdb.sh" "${@:2}"; }
psql_region() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR/$1" -p "$(port_of "$1")" -d bss "${@:2}"; }

start() {
    mkdir -p "$DIR"
    chown "$PG_USER" "$DIR" 2>/dev/null || true
    local r other urls=()
    for r in "${NAMES[@]}"; do
        devdb "$r" start >/dev/null
        # Installed once: the other regions use the same build.
        REGIONS_SKIP_INSTALL=1
        if [ "$(psql_region "$r" -tAc "SELECT bss.local_region()")" != "$r" ]; then
            # The library defines bss.region: loaded first (LOAD), ALTER SYSTEM knows it.
            psql_region "$r" -c "LOAD 'pg_bss'" -c "ALTER SYSTEM SET bss.region = '$r'" -c "SELECT pg_reload_conf()" >/dev/null
            wait_until 10 "region $r's bss.region" region_named "$r"
        fi
    done
    for r in "${NAMES[@]}"; do
        for other in "${NAMES[@]}"; do
            [ "$r" = "$other" ] && continue
            psql_region "$r" -c "SET client_min_messages = warning" \
                -c "SELECT bss.add_region('$other', '$(conninfo_of "$other")')" >/dev/null
        done
        urls+=("$r=$(url_of "$r")")
    done
    log "regions ${NAMES[*]} joined"
    (IFS=,; echo "${urls[*]}")
}
region_named() { [ "$(psql_region "$1" -tAc "SELECT bss.local_region()")" = "$1" ]; }

stop() {
    local r
    for r in "${NAMES[@]}"; do
        [ -d "$DIR/$r/data" ] && devdb "$r" stop
    done
    return 0
}

run_tests() {
    trap stop EXIT
    local urls
    urls="$(start | tail -1)"
    build_binaries
    BSS_REGION_URLS="$urls" BSS_REGION_KEEPER="$ROOT/target/release/bss-region-keeper" cargo test --release --workspace --exclude pg_bss --test regions -- --test-threads 1
}

case "${1:-}" in
    start) source "$ROOT/scripts/pipeline.sh"; start ;;
    stop) stop ;;
    reset) stop; rm -rf "$DIR"; log "regions removed" ;;
    test) source "$ROOT/scripts/pipeline.sh"; run_tests ;;
    *) die "usage: $0 start|stop|reset|test" ;;
esac
