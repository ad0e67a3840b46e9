# Sourced (after lib.sh and pipeline.sh): a pg_auto_failover formation
# (Debian's postgresql-15-auto-failover): its monitor, node1 first the
# primary and node2 its synchronous standby, pg_bss in database bss, with
# the health checks tuned so that a failover takes seconds, not the
# defaults' 30 s. Used by the chaos suite's HA bed (chaos/ha.sh: each node
# on a host of its own) and the local layout's standby (deploy/local,
# LOCAL_HA=1: every node on 127.0.0.1, a port each).
#
# Why pg_auto_failover and not Patroni: both are in Debian 12, but Patroni
# needs a consensus store (etcd) beside it, and its leader lock's ttl (30 s
# by default, 20 s at the least by its documentation) is the time before a
# failover starts, past the 10 s we aim at; pg_auto_failover's monitor is
# one more PostgreSQL whose health checks tune down to seconds
# (pgaf_start), and it manages synchronous replication itself
# (synchronous_standby_names follows the nodes' states).
#
# The caller defines where the nodes run:
#   PGAF_DIR                each node's data, configuration, state and pid
#                           file under PGAF_DIR/NODE (NODE: monitor, node1, node2)
#   PGAF_LOGS               the directory for pg_autoctl's logs
#   pgaf_addr NODE          the address NODE listens on and is reached at
#   pgaf_port NODE          its port
#   pgaf_on NODE CMD...     runs CMD (a program, not a function) where NODE runs
#   pgaf_serve NODE CMD...  the same in the background, for the formation's life
#   pgaf_hba                prints the pg_hba.conf lines for the clients
#   PGAF_TLS (optional)     a folder of scripts/certs.sh (ca.crt, server.crt
#                           and .key naming every node's address, a client
#                           certificate for $PG_USER): every node and the
#                           monitor TLS-only (pgaf_tls_hba), pg_autoctl's
#                           connections verify-full; unset, plaintext

PGAF_NODES=(node1 node2)

# pgaf_as NODE CMD...: CMD where NODE runs, as the postgres user, with
# pg_autoctl's environment: its configuration (XDG_CONFIG_HOME), state
# (XDG_DATA_HOME) and pid file (XDG_RUNTIME_DIR) of its own under
# PGAF_DIR/NODE, so nothing lands in postgres's home or /tmp.
pgaf_as() {
    local node="$1"; shift
    pgaf_cmd "$node"
    pgaf_on "$node" "${PGAF_CMD[@]}" "$@"
}
# pgaf_cmd NODE: sets PGAF_CMD to that command prefix.
pgaf_cmd() {
    local d="$PGAF_DIR/$1"
    PGAF_CMD=(runuser -u "$PG_USER" -- env PATH="$PG_BIN:/usr/bin:/bin" XDG_CONFIG_HOME="$d/config"
        XDG_DATA_HOME="$d/share" XDG_RUNTIME_DIR="$d/run" PGDATA="$d/data" PGPORT="$(pgaf_port "$1")")
    # pg_autoctl's and the servers' own libpq sessions (the keeper, the
    # walreceiver, the monitor's health checks) show $PG_USER's certificate
    # where one is asked for.
    [ -n "${PGAF_TLS:-}" ] && PGAF_CMD+=(PGSSLCERT="$PGAF_TLS/$PG_USER.crt" PGSSLKEY="$PGAF_TLS/$PG_USER.key")
    return 0
}
# pgaf_ssl: pg_autoctl create's TLS options.
pgaf_ssl() {
    if [ -n "${PGAF_TLS:-}" ]; then
        echo --ssl-ca-file "$PGAF_TLS/ca.crt" --server-cert "$PGAF_TLS/server.crt" --server-key "$PGAF_TLS/server.key" \
            --ssl-mode verify-full
    else
        echo --no-ssl
    fi
}
# pgaf_tls_hba NODE: with PGAF_TLS, NODE's pg_hba.conf made TLS-only: its
# first lines refuse every TCP session without TLS; pg_auto_failover's own
# roles come in over TLS as pg_autoctl set them up (trust, as the rest of
# the formation); every other role by its client certificate (CN = role).
# pg_autoctl appends its lines below, where no plaintext session reaches.
pgaf_tls_hba() {
    [ -n "${PGAF_TLS:-}" ] || return 0
    local hba="$PGAF_DIR/$1/data/pg_hba.conf" tmp
    tmp="$(mktemp)"
    {
        echo "# pg_bss: TLS only (scripts/pgaf.sh pgaf_tls_hba)"
        echo "local     all          all                                 trust"
        echo "local     replication  all                                 trust"
        local net
        for net in 0.0.0.0/0 ::/0; do
            echo "hostnossl all          all                    $net  reject"
            echo "hostnossl replication  all                    $net  reject"
        done
        echo "hostssl   all          pgautofailover_monitor     127.0.0.1/32  trust"
        echo "hostssl   replication  pgautofailover_replicator  127.0.0.1/32  trust"
        echo "hostssl   all          pgautofailover_replicator  127.0.0.1/32  trust"
        echo "hostssl   pg_auto_failover autoctl_node           127.0.0.1/32  trust"
        echo "hostssl   all          all                        127.0.0.1/32  cert"
        echo "hostssl   replication  all                        127.0.0.1/32  cert"
        echo "# pg_auto_failover's and initdb's lines, below, are reached by no TCP session"
        cat "$hba"
    } >"$tmp"
    chown "$PG_USER" "$tmp"
    chmod 600 "$tmp"
    mv "$tmp" "$hba"
    # A postgres that create left running reads it now.
    pgaf_as "$1" pg_ctl -D "$PGAF_DIR/$1/data" reload >/dev/null 2>&1 || true
}
# pgaf_psql NODE DB ARGS...: psql on NODE's own postgres, through its socket.
pgaf_psql() {
    local node="$1" db="$2"; shift 2
    pgaf_as "$node" timeout 10 psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"
}
pgaf_monitor_psql() { pgaf_psql monitor pg_auto_failover -tA "$@"; }
pgaf_monitor_url() {
    local tls="sslmode=disable"
    [ -n "${PGAF_TLS:-}" ] && tls="sslmode=verify-full&sslrootcert=$PGAF_TLS/ca.crt"
    echo "postgres://autoctl_node@$(pgaf_addr monitor):$(pgaf_port monitor)/pg_auto_failover?$tls"
}
# pgaf_url [ROLE]: the clients' libpq URL: both nodes, the read-write one
# taken; with PGAF_TLS verify-full with ROLE's certificate (default $PG_USER).
pgaf_url() {
    local role="${1:-$PG_USER}" tls=""
    [ -n "${PGAF_TLS:-}" ] && tls="&sslmode=verify-full&sslrootcert=$PGAF_TLS/ca.crt&sslcert=$PGAF_TLS/$role.crt&sslkey=$PGAF_TLS/$role.key"
    echo "postgresql://$role@$(pgaf_addr node1):$(pgaf_port node1),$(pgaf_addr node2):$(pgaf_port node2)/bss?target_session_attrs=read-write$tls"
}

# pgaf_run NODE: `pg_autoctl run` of NODE in the background (it starts and
# supervises the node's postgres).
pgaf_run() {
    pgaf_cmd "$1"
    pgaf_serve "$1" "${PGAF_CMD[@]}" pg_autoctl run
}

# pgaf_state NODE: the state the monitor last heard NODE report (empty if none).
pgaf_state() {
    pgaf_monitor_psql -c "SELECT reportedstate FROM pgautofailover.node WHERE nodename = '$1'" 2>/dev/null || true
}
pgaf_states() {
    pgaf_monitor_psql -F ' ' -c "SELECT nodename, reportedstate, goalstate FROM pgautofailover.node ORDER BY nodeid" 2>/dev/null |
        paste -sd ';' || true
}
# pgaf_primary: the node the monitor holds as the primary now (reported and
# assigned primary, wait_primary or single); empty during a failover.
pgaf_primary() {
    pgaf_monitor_psql -c "SELECT nodename FROM pgautofailover.node
        WHERE reportedstate IN ('primary', 'wait_primary', 'single') AND goalstate = reportedstate
        ORDER BY nodeid LIMIT 1" 2>/dev/null || true
}
# pgaf_synchronous NODE: NODE is a primary with a synchronous standby
# streaming (synchronous_standby_names set, a standby in sync or quorum).
pgaf_synchronous() {
    [ -n "$(pgaf_psql "$1" postgres -tAc "SHOW synchronous_standby_names" 2>/dev/null)" ] &&
        [ "$(pgaf_psql "$1" postgres -tAc "SELECT count(*) FROM pg_stat_replication
            WHERE sync_state IN ('sync', 'quorum') AND state = 'streaming'" 2>/dev/null)" -ge 1 ] 2>/dev/null
}
pgaf_in_state() { [ "$(pgaf_state "$1")" = "$2" ]; }
pgaf_monitor_tuned() {
    [ "$(pgaf_monitor_psql -c "SELECT string_agg(setting, ',' ORDER BY name) FROM pg_settings
        WHERE name IN ('pgautofailover.health_check_period', 'pgautofailover.health_check_timeout',
                       'pgautofailover.health_check_max_retries', 'pgautofailover.health_check_retry_delay',
                       'pgautofailover.node_considered_unhealthy_timeout', 'pgautofailover.primary_demote_timeout')")" \
        = "1,1000,500,1000,3000,5000" ]
}

# pgaf_wait SECONDS WHAT COMMAND...: wait_until, naming the monitor's view
# of the nodes when it gives up.
pgaf_wait() {
    local t="$1" what="$2"; shift 2
    for _ in $(seq $((t * 2))); do "$@" && return 0; sleep 0.5; done
    die "$what did not happen within ${t}s (monitor: $(pgaf_states); logs: $PGAF_LOGS/pgaf-*.log)"
}

# The settings scripts/devdb.sh gives a single node, after pg_auto_failover's
# own (its include comes first, so these win).
pgaf_pg_settings() {
    cat <<'CONF'

# --- pg_bss (as scripts/devdb.sh) ---
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

# pgaf_create_node NODE: `pg_autoctl create postgres`, with pg_bss's
# settings and the clients' pg_hba rules, and the keeper's network
# partition timeout tuned.
pgaf_create_node() {
    local node="$1"
    pgaf_as "$node" timeout 180 pg_autoctl create postgres --pgdata "$PGAF_DIR/$node/data" --pgport "$(pgaf_port "$node")" \
        --hostname "$(pgaf_addr "$node")" --name "$node" --dbname bss --auth trust $(pgaf_ssl) \
        --monitor "$(pgaf_monitor_url)" >>"$PGAF_LOGS/pgaf-$node-create.log" 2>&1 ||
        die "pg_autoctl create postgres of $node failed (log: $PGAF_LOGS/pgaf-$node-create.log)"
    pgaf_pg_settings | pgaf_as "$node" tee -a "$PGAF_DIR/$node/data/postgresql.conf" >/dev/null
    pgaf_hba | pgaf_as "$node" tee -a "$PGAF_DIR/$node/data/pg_hba.conf" >/dev/null
    pgaf_tls_hba "$node"
    pgaf_as "$node" pg_autoctl config set timeout.network_partition_timeout 3 >/dev/null
    # create may leave postgres running: pg_autoctl run starts it again
    # with the settings above.
    pgaf_as "$node" pg_ctl -D "$PGAF_DIR/$node/data" -w -m fast stop >/dev/null 2>&1 || true
}

# pgaf_start: the whole formation: monitor, node1 (primary), node2
# (synchronous standby), pg_bss in database bss on the primary.
pgaf_start() {
    local n
    for n in monitor "${PGAF_NODES[@]}"; do
        make_pg_dir "$PGAF_DIR/$n"
        mkdir -p "$PGAF_DIR/$n/config" "$PGAF_DIR/$n/share" "$PGAF_DIR/$n/run"
        chown "$PG_USER" "$PGAF_DIR/$n/config" "$PGAF_DIR/$n/share" "$PGAF_DIR/$n/run"
        chmod 700 "$PGAF_DIR/$n/run"
    done
    pgaf_as monitor timeout 120 pg_autoctl create monitor --pgdata "$PGAF_DIR/monitor/data" --pgport "$(pgaf_port monitor)" \
        --hostname "$(pgaf_addr monitor)" --auth trust $(pgaf_ssl) >>"$PGAF_LOGS/pgaf-monitor-create.log" 2>&1 ||
        die "pg_autoctl create monitor failed (log: $PGAF_LOGS/pgaf-monitor-create.log)"
    pgaf_tls_hba monitor
    pgaf_run monitor
    wait_until 60 "the pg_auto_failover monitor accepting connections" \
        pgaf_as monitor pg_isready -q -h "$(pgaf_addr monitor)" -p "$(pgaf_port monitor)"
    wait_until 30 "the monitor's extension" pgaf_monitor_psql -o /dev/null -c "SELECT 1 FROM pgautofailover.formation"
    # Failover in seconds, not the defaults' 30 s: the monitor checks each
    # node every second, gives up on it after one retry, and considers it
    # unhealthy after 3 s without a report from its keeper.
    pgaf_monitor_psql -c "ALTER SYSTEM SET pgautofailover.health_check_period = 1000" \
        -c "ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000" \
        -c "ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1" \
        -c "ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 500" \
        -c "ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 3000" \
        -c "ALTER SYSTEM SET pgautofailover.primary_demote_timeout = 5000" \
        -c "SELECT pg_reload_conf()" >/dev/null
    wait_until 10 "the monitor's tuned timeouts in force" pgaf_monitor_tuned
    pgaf_create_node node1
    pgaf_run node1
    pgaf_wait 90 "node1 the single primary" pgaf_in_state node1 single
    pgaf_create_node node2
    pgaf_run node2
    pgaf_wait 180 "node2 a secondary of node1" pgaf_in_state node2 secondary
    pgaf_wait 60 "node1 primary with node2 in sync" pgaf_in_state node1 primary
    pgaf_wait 60 "synchronous replication on node1" pgaf_synchronous node1
    pgaf_psql node1 bss -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pg_bss" \
        -c "SELECT bss.ensure_partitions()" >/dev/null
    log "pg_auto_failover up: $(pgaf_states); primary node1 ($(pgaf_addr node1):$(pgaf_port node1)), synchronous standby node2 ($(pgaf_addr node2):$(pgaf_port node2))"
}
