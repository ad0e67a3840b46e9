# Sourced by chaos/hosts.sh: the HA bed (BED_HA=1), PostgreSQL as a
# primary with a synchronous standby under pg_auto_failover
# (scripts/pgaf.sh, which says why pg_auto_failover), each node and the
# monitor on a host of its own:
#
#   monitor  pg_auto_failover's monitor  10.213.0.17:5432
#   pg       node1, first the primary    10.213.0.11:5432
#   pg2      node2, first the standby    10.213.0.16:5432
source "$ROOT/scripts/pgaf.sh"

HA_DIR="$BED_DIR/ha"
PGAF_DIR="$HA_DIR"
PGAF_LOGS="$BED_DIR/logs"
# ha_host NODE: the bed host a pg_auto_failover node (or the monitor) runs on.
ha_host() {
    case "$1" in
        monitor) echo monitor ;;
        node1) echo pg ;;
        node2) echo pg2 ;;
        *) die "no pg_auto_failover node $1" ;;
    esac
}
# ha_node HOST: the node on a bed host (pg, pg2).
ha_node() {
    case "$1" in
        pg) echo node1 ;;
        pg2) echo node2 ;;
        *) die "no pg_auto_failover node on host $1" ;;
    esac
}
pgaf_addr() { bed_addr "$(ha_host "$1")"; }
pgaf_port() { echo 5432; }
# pg_autoctl starts postgres with the default socket directory
# (/run/postgresql), which every node on port 5432 would share: each
# command runs with HA_DIR/NODE/sock mounted on /run/postgresql, in the
# mount namespace of its own that `ip netns exec` gives it (nothing is
# mounted outside it).
pgaf_on() {
    local node="$1"; shift
    bed_exec "$(ha_host "$node")" sh -c 'mount --bind "$1" /run/postgresql && shift && exec "$@"' _ "$HA_DIR/$node/sock" "$@"
}
pgaf_serve() {
    local node="$1"; shift
    serve "$(ha_host "$node")" "pgaf-$node" sh -c 'mount --bind "$1" /run/postgresql && shift && exec "$@"' _ "$HA_DIR/$node/sock" "$@"
}
# The bed's clients (sidecar, loadgen) as today: trust from the bed's
# network, replication included (the sidecar's logical replication
# connection matches the database bss, a standby's physical one
# `replication`).
pgaf_hba() {
    printf '\n# pg_bss chaos HA bed: every host of the bed\nhost all all %s.0/24 trust\nhost replication all %s.0/24 trust\n' \
        "$BED_NET" "$BED_NET"
}

psql_node() { pgaf_psql "$@"; }
ha_states() { pgaf_states; }
# ha_primary: the host (pg, pg2) of the node the monitor holds as the
# primary now; empty during a failover.
ha_primary() {
    local node
    node="$(pgaf_primary)"
    [ -n "$node" ] && ha_host "$node"
    return 0
}
# ha_standby: the host of the other node (the one ha_primary is not).
ha_standby() {
    case "$(ha_primary)" in
        pg) echo pg2 ;;
        pg2) echo pg ;;
    esac
}
# ha_synchronous HOST: that host's node is a primary with a synchronous
# standby streaming.
ha_synchronous() {
    case "$1" in pg|pg2) pgaf_synchronous "$(ha_node "$1")" ;; *) return 1 ;; esac
}

# ha_kill_host HOST: the node's host dies: kill -9 of every process in its
# namespace (pg_autoctl and postgres; pg_autoctl would restart a postgres
# killed alone).
ha_kill_host() {
    ns_kill "$(bed_ns "$1")" || die "processes of host $1 survived kill -9"
}
# ha_restart HOST: `pg_autoctl run` again on the host of a killed node: it
# rejoins as a secondary (pg_rewind when its timeline forked). A killed
# primary first finishes its crash recovery in single-user mode (no
# listener: nobody can write to it), as pg_rewind would: pg_autoctl 2.0
# otherwise writes standby.signal before pg_rewind's own single-user
# recovery, which then fails ("standby mode is not supported by single-user
# servers"), and falls back to a pg_basebackup that waits for a spread
# checkpoint of the new primary (minutes).
ha_restart() {
    local node data
    node="$(ha_node "$1")"
    data="$HA_DIR/$node/data"
    if [ ! -f "$data/standby.signal" ] && [ -f "$data/postmaster.pid" ]; then
        pgaf_as "$node" timeout 120 postgres --single -F -D "$data" template1 </dev/null \
            >>"$BED_DIR/logs/pgaf-$node-recovery.log" 2>&1 ||
            log "crash recovery of $node in single-user mode failed (log: $BED_DIR/logs/pgaf-$node-recovery.log)"
    fi
    pgaf_run "$node"
}

# The whole HA PostgreSQL of the bed.
start_pg_ha() {
    local n
    for n in monitor "${PGAF_NODES[@]}"; do
        mkdir -p "$HA_DIR/$n/sock"
        chown "$PG_USER" "$HA_DIR/$n/sock"
    done
    pgaf_start
}
