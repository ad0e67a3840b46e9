# Sourced by chaos/hosts.sh: the HA bed (BED_HA=1), PostgreSQL as a
# primary with a synchronous standby under pg_auto_failover (Debian's
# postgresql-15-auto-failover), each node and the monitor on a host of
# its own:
#
#   monitor  pg_auto_failover's monitor  10.213.0.17:5432
#   pg       node1, first the primary    10.213.0.11:5432
#   pg2      node2, first the standby    10.213.0.16:5432
#
# Why pg_auto_failover and not Patroni: both are in Debian 12, but
# Patroni needs a consensus store (etcd) beside it, and its leader lock's
# ttl (30 s by default, 20 s at the least by its documentation) is the
# time before a failover starts, past the 10 s we aim at; pg_auto_failover's
# monitor is one more PostgreSQL whose health checks tune down to seconds
# (start_pg_ha), and it manages synchronous replication itself
# (synchronous_standby_names follows the nodes' states).

# --- The HA bed (BED_HA=1): pg_auto_failover -------------------------------

HA_DIR="$BED_DIR/ha"
HA_PORT=5432
HA_NODES=(node1 node2)
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
monitor_url() { echo "postgres://autoctl_node@$(bed_addr monitor):$HA_PORT/pg_auto_failover?sslmode=disable"; }

# as_node NODE COMMAND...: COMMAND on NODE's host as the postgres user, with
# pg_autoctl's environment: its configuration (XDG_CONFIG_HOME), state
# (XDG_DATA_HOME) and pid file (XDG_RUNTIME_DIR) of its own under
# HA_DIR/NODE, so nothing lands in postgres's home or /tmp. pg_autoctl
# starts postgres with the default socket directory (/run/postgresql),
# which every node on port 5432 would share: each command runs with
# HA_DIR/NODE/sock mounted on /run/postgresql, in the mount namespace of
# its own that `ip netns exec` gives it (nothing is mounted outside it).
as_node() {
    local node="$1" d="$HA_DIR/$1"; shift
    bed_exec "$(ha_host "$node")" sh -c 'mount --bind "$1" /run/postgresql && shift && exec "$@"' _ "$d/sock" \
        runuser -u "$PG_USER" -- env PATH="$PG_BIN:/usr/bin:/bin" XDG_CONFIG_HOME="$d/config" \
        XDG_DATA_HOME="$d/share" XDG_RUNTIME_DIR="$d/run" PGDATA="$d/data" PGPORT="$HA_PORT" "$@"
}
# psql_node NODE [DB] ARGS...: psql on NODE's own postgres, through its socket.
psql_node() {
    local node="$1" db="$2"; shift 2
    as_node "$node" timeout 10 psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"
}
psql_monitor() { psql_node monitor pg_auto_failover -tA "$@"; }

# ha_run NODE: `pg_autoctl run` of NODE, in the background on its host
# (it starts and supervises the node's postgres). Log: logs/pgaf-NODE.log.
ha_run() {
    local d="$HA_DIR/$1"
    serve "$(ha_host "$1")" "pgaf-$1" sh -c 'mount --bind "$1" /run/postgresql && shift && exec "$@"' _ "$d/sock" \
        runuser -u "$PG_USER" -- env PATH="$PG_BIN:/usr/bin:/bin" XDG_CONFIG_HOME="$d/config" \
        XDG_DATA_HOME="$d/share" XDG_RUNTIME_DIR="$d/run" PGDATA="$d/data" PGPORT="$HA_PORT" pg_autoctl run
}

# ha_state NODE: the state the monitor last heard NODE report (empty if none).
ha_state() {
    psql_monitor -c "SELECT reportedstate FROM pgautofailover.node WHERE nodename = '$1'" 2>/dev/null || true
}
ha_states() {
    psql_monitor -F ' ' -c "SELECT nodename, reportedstate, goalstate FROM pgautofailover.node ORDER BY nodeid" 2>/dev/null |
        paste -sd ';' || true
}
# ha_primary: the host (pg, pg2) whose node the monitor holds as the primary
# now (reported and assigned primary, wait_primary or single); empty during
# a failover.
ha_primary() {
    local node
    node="$(psql_monitor -c "SELECT nodename FROM pgautofailover.node
        WHERE reportedstate IN ('primary', 'wait_primary', 'single') AND goalstate = reportedstate
        ORDER BY nodeid LIMIT 1" 2>/dev/null || true)"
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
# ha_synchronous HOST: that node is the primary with a synchronous standby
# streaming (synchronous_standby_names set, a standby in sync or quorum).
ha_synchronous() {
    local node
    case "$1" in pg|pg2) node="$(ha_node "$1")" ;; *) return 1 ;; esac
    [ -n "$(psql_node "$node" postgres -tAc "SHOW synchronous_standby_names" 2>/dev/null)" ] &&
        [ "$(psql_node "$node" postgres -tAc "SELECT count(*) FROM pg_stat_replication
            WHERE sync_state IN ('sync', 'quorum') AND state = 'streaming'" 2>/dev/null)" -ge 1 ] 2>/dev/null
}
monitor_tuned() {
    [ "$(psql_monitor -c "SELECT string_agg(setting, ',' ORDER BY name) FROM pg_settings
        WHERE name IN ('pgautofailover.health_check_period', 'pgautofailover.health_check_timeout',
                       'pgautofailover.health_check_max_retries', 'pgautofailover.health_check_retry_delay',
                       'pgautofailover.node_considered_unhealthy_timeout', 'pgautofailover.primary_demote_timeout')")" \
        = "1,1000,500,1000,3000,5000" ]
}
# ha_in_state NODE STATE: the monitor's reported state of NODE is STATE.
ha_in_state() { [ "$(ha_state "$1")" = "$2" ]; }

# ha_wait SECONDS WHAT COMMAND...: wait_until, naming the monitor's view
# of the nodes when it gives up.
ha_wait() {
    local t="$1" what="$2"; shift 2
    for _ in $(seq $((t * 2))); do "$@" && return 0; sleep 0.5; done
    die "$what did not happen within ${t}s (monitor: $(ha_states); logs: $BED_DIR/logs/pgaf-*.log)"
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
        as_node "$node" timeout 120 postgres --single -F -D "$data" template1 </dev/null \
            >>"$BED_DIR/logs/pgaf-$node-recovery.log" 2>&1 ||
            log "crash recovery of $node in single-user mode failed (log: $BED_DIR/logs/pgaf-$node-recovery.log)"
    fi
    ha_run "$node"
}

# The settings scripts/devdb.sh gives the single node, after
# pg_auto_failover's own (its include comes first, so these win).
ha_pg_settings() {
    cat <<'CONF'

# --- pg_bss chaos HA bed (as scripts/devdb.sh) ---
wal_level = logical                 # the sidecar reads events by logical decoding
max_wal_senders = 12
max_replication_slots = 12
max_connections = 100
shared_buffers = 256MB
synchronous_commit = on             # an acknowledged append survives a crash, and the standby has it
max_wal_size = 4GB
checkpoint_timeout = 15min
CONF
}
# The bed's clients (sidecar, loadgen) as today: trust from the bed's
# network, replication included (the sidecar's logical replication
# connection matches the database bss, a standby's physical one
# `replication`).
ha_pg_hba() {
    printf '\n# pg_bss chaos HA bed: every host of the bed\nhost all all %s.0/24 trust\nhost replication all %s.0/24 trust\n' \
        "$BED_NET" "$BED_NET"
}

# ha_create_node NODE: `pg_autoctl create postgres` on its host, with the
# bed's settings and pg_hba rules, and the keeper's network partition
# timeout tuned.
ha_create_node() {
    local node="$1" host
    host="$(ha_host "$1")"
    as_node "$node" timeout 180 pg_autoctl create postgres --pgdata "$HA_DIR/$node/data" --pgport "$HA_PORT" \
        --hostname "$(bed_addr "$host")" --name "$node" --dbname bss --auth trust --no-ssl \
        --monitor "$(monitor_url)" >>"$BED_DIR/logs/pgaf-$node-create.log" 2>&1 ||
        die "pg_autoctl create postgres of $node failed (log: $BED_DIR/logs/pgaf-$node-create.log)"
    ha_pg_settings | as_node "$node" tee -a "$HA_DIR/$node/data/postgresql.conf" >/dev/null
    ha_pg_hba | as_node "$node" tee -a "$HA_DIR/$node/data/pg_hba.conf" >/dev/null
    as_node "$node" pg_autoctl config set timeout.network_partition_timeout 3 >/dev/null
    # create may leave postgres running: pg_autoctl run starts it again
    # with the settings above.
    as_node "$node" pg_ctl -D "$HA_DIR/$node/data" -w -m fast stop >/dev/null 2>&1 || true
}

# The whole HA PostgreSQL: monitor, node1 (primary), node2 (synchronous
# standby), pg_bss in database bss on the primary.
start_pg_ha() {
    local n
    for n in monitor "${HA_NODES[@]}"; do
        make_pg_dir "$HA_DIR/$n"
        mkdir -p "$HA_DIR/$n/config" "$HA_DIR/$n/share" "$HA_DIR/$n/run" "$HA_DIR/$n/sock"
        chown "$PG_USER" "$HA_DIR/$n/config" "$HA_DIR/$n/share" "$HA_DIR/$n/run" "$HA_DIR/$n/sock"
        chmod 700 "$HA_DIR/$n/run"
    done
    as_node monitor timeout 120 pg_autoctl create monitor --pgdata "$HA_DIR/monitor/data" --pgport "$HA_PORT" \
        --hostname "$(bed_addr monitor)" --auth trust --no-ssl >>"$BED_DIR/logs/pgaf-monitor-create.log" 2>&1 ||
        die "pg_autoctl create monitor failed (log: $BED_DIR/logs/pgaf-monitor-create.log)"
    ha_run monitor
    wait_until 60 "the pg_auto_failover monitor accepting connections" \
        as_node monitor pg_isready -q -h "$(bed_addr monitor)" -p "$HA_PORT"
    wait_until 30 "the monitor's extension" psql_monitor -o /dev/null -c "SELECT 1 FROM pgautofailover.formation"
    # Failover in seconds, not the defaults' 30 s: the monitor checks each
    # node every second, gives up on it after one retry, and considers it
    # unhealthy after 3 s without a report from its keeper.
    psql_monitor -c "ALTER SYSTEM SET pgautofailover.health_check_period = 1000" \
        -c "ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000" \
        -c "ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1" \
        -c "ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 500" \
        -c "ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 3000" \
        -c "ALTER SYSTEM SET pgautofailover.primary_demote_timeout = 5000" \
        -c "SELECT pg_reload_conf()" >/dev/null
    wait_until 10 "the monitor's tuned timeouts in force" monitor_tuned
    ha_create_node node1
    ha_run node1
    ha_wait 90 "node1 the single primary" ha_in_state node1 single
    ha_create_node node2
    ha_run node2
    ha_wait 180 "node2 a secondary of node1" ha_in_state node2 secondary
    ha_wait 60 "node1 primary with node2 in sync" ha_in_state node1 primary
    ha_wait 60 "synchronous replication on node1" ha_synchronous pg
    psql_node node1 bss -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pg_bss" \
        -c "SELECT bss.ensure_partitions()" >/dev/null
    log "HA PostgreSQL up: $(ha_states); primary node1 ($(bed_addr pg)), synchronous standby node2 ($(bed_addr pg2))"
}

