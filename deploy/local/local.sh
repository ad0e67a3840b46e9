#!/usr/bin/env bash
# The one-machine layout: PostgreSQL 15 with pg_bss, a Kafka-protocol broker
# (tansu), redis-server, bss-sidecar with the detectors of
# bss-detect/detectors.toml, Prometheus with the rules of deploy/monitoring,
# Alertmanager, postgres_exporter and redis_exporter. Everything listens on
# 127.0.0.1; data, logs and pid files are under one folder.
#
#   deploy/local/local.sh up       start what is not running (make demo does this)
#   deploy/local/local.sh status   what runs, and the key numbers from Prometheus
#   deploy/local/local.sh down     stop everything; PostgreSQL's data is kept
#   deploy/local/local.sh reset    down, then remove the folder (PostgreSQL too)
#   deploy/local/local.sh url      the libpq URL of its database
#   deploy/local/local.sh failover (LOCAL_HA=1) pg_auto_failover promotes the standby now
#
# LOCAL_HA=1 (for every command): PostgreSQL as a primary and a synchronous
# standby under pg_auto_failover (scripts/pgaf.sh): its monitor on port
# 29430, node1 on 29432 (first the primary), node2 on 29433, all on
# 127.0.0.1, under the folder's ha/. The clients (the sidecar, bss-loadgen)
# get both nodes and take the read-write one; a failover needs no one
# (`pg_autoctl perform failover` with node1's environment tries it).
# postgres_exporter (lib/pq, one host only) watches node1.
#
# The broker keeps its messages in memory, so `down` ends the forwarding: it
# drops the sidecar's slot and removes its spool, and the next `up` forwards
# the events appended from then on to an empty Kafka and Redis.
source "$(dirname "$0")/../../scripts/lib.sh"

LOCAL_DIR="${LOCAL_DIR:-$ROOT/target/local}"
export DEVDB="$LOCAL_DIR/postgres" PGPORT="${LOCAL_PG_PORT:-29432}"
URL="$("$ROOT/scripts/devdb.sh" url)"
# The URL of one node, for the clients that take one host only.
NODE_URL="$URL"
LOCAL_HA="${LOCAL_HA:-}"
SLOT=bss_local
RUN="$LOCAL_DIR/run"
LOGS="$LOCAL_DIR/logs"
# The ports of deploy/monitoring/prometheus.local.yml; the broker's, Redis's
# and the sidecar's are scripts/pipeline.sh's defaults.
PROMETHEUS_PORT=29090
ALERTMANAGER_PORT=29093
POSTGRES_EXPORTER_PORT=29188
REDIS_EXPORTER_PORT=29121
MONITORING="$ROOT/deploy/monitoring"
# Started in this order, stopped in the reverse one (the sidecar before the
# broker and Redis it drains into).
COMPONENTS=(broker redis sidecar postgres_exporter redis_exporter alertmanager prometheus)

source "$ROOT/scripts/pipeline.sh"
source "$ROOT/scripts/pgaf.sh"
PGAF_DIR="$LOCAL_DIR/ha"
PGAF_LOGS="$LOGS"
pgaf_addr() { echo 127.0.0.1; }
pgaf_port() {
    case "$1" in
        monitor) echo $((PGPORT - 2)) ;;
        node1) echo "$PGPORT" ;;
        node2) echo $((PGPORT + 1)) ;;
    esac
}
pgaf_on() { shift; "$@"; }
pgaf_serve() { local node="$1"; shift; spawn "pgaf-$node" "$@"; }
pgaf_hba() {
    printf '\n# pg_bss local layout: clients and the standby on loopback\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n'
}
PGAF_PROCESSES=(pgaf-monitor pgaf-node1 pgaf-node2)
if [ -n "$LOCAL_HA" ]; then
    URL="$(pgaf_url)"
fi

# PostgreSQL up: the devdb, or with LOCAL_HA the formation (created the
# first time, its nodes run again after a `down`).
postgres_up() {
    if [ -z "$LOCAL_HA" ]; then
        "$ROOT/scripts/devdb.sh" start >/dev/null
        return
    fi
    install_pg_bss
    if [ ! -f "$PGAF_DIR/node2/data/PG_VERSION" ]; then
        rm -rf "$PGAF_DIR"
        pgaf_start
        return
    fi
    local n
    for n in monitor "${PGAF_NODES[@]}"; do pgaf_run "$n"; done
    pgaf_wait 120 "a primary with its synchronous standby" pgaf_formation_in_sync
    log "pg_auto_failover up: $(pgaf_states)"
}
pgaf_formation_in_sync() { local p; p="$(pgaf_primary)" && [ -n "$p" ] && pgaf_synchronous "$p"; }
postgres_down() {
    if [ -z "$LOCAL_HA" ]; then
        [ -f "$DEVDB/data/PG_VERSION" ] && "$ROOT/scripts/devdb.sh" stop
        return 0
    fi
    local i
    for ((i = ${#PGAF_PROCESSES[@]} - 1; i >= 0; i--)); do stop "${PGAF_PROCESSES[i]}"; done
}

pid_of() { cat "$RUN/$1.pid" 2>/dev/null; }
alive() { local p; p="$(pid_of "$1")" && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
record() { echo "$2" >"$RUN/$1.pid"; }

# spawn NAME COMMAND...: runs COMMAND in the background, logging to logs/NAME.log.
spawn() {
    local name="$1"; shift
    "$@" >"$LOGS/$name.log" 2>&1 &
    record "$name" $!
}

up() {
    local c running=()
    for c in "${COMPONENTS[@]}"; do alive "$c" && running+=("$c"); done
    if [ ${#running[@]} -eq ${#COMPONENTS[@]} ]; then
        log "the local layout is already running ($LOCAL_DIR)"
        print_endpoints
        return
    fi
    [ ${#running[@]} -eq 0 ] || die "part of the local layout runs (${running[*]}); run $0 down first"
    "$ROOT/scripts/setup.sh"
    for p in "$PROMETHEUS_PORT" "$ALERTMANAGER_PORT" "$POSTGRES_EXPORTER_PORT" "$REDIS_EXPORTER_PORT"; do
        port_free "$p" || die "port $p is taken (the ports are those of deploy/monitoring/prometheus.local.yml)"
    done
    mkdir -p "$RUN" "$LOGS"
    # Whatever fails from here on, nothing is left running half-started.
    trap 'status=$?; if [ $status -ne 0 ]; then log "start failed; stopping what started"; down; fi' EXIT

    postgres_up
    start_broker_and_redis "$LOGS"
    record broker "${PIDS[0]}"
    record redis "${PIDS[1]}"
    rm -rf "$LOCAL_DIR/spool"
    start_sidecar "$LOCAL_DIR" "$LOGS/sidecar.log"
    record sidecar "$SIDECAR_PID"

    log "starting postgres_exporter, redis_exporter, Alertmanager and Prometheus"
    DATA_SOURCE_NAME="${NODE_URL}?sslmode=disable" spawn postgres_exporter prometheus-postgres-exporter \
        --web.listen-address="127.0.0.1:$POSTGRES_EXPORTER_PORT" \
        --extend.query-path="$MONITORING/postgres_exporter/queries.yaml"
    spawn redis_exporter prometheus-redis-exporter \
        -web.listen-address "127.0.0.1:$REDIS_EXPORTER_PORT" -redis.addr "redis://127.0.0.1:$REDIS_PORT"
    mkdir -p "$LOCAL_DIR/alertmanager" "$LOCAL_DIR/prometheus"
    spawn alertmanager prometheus-alertmanager --config.file="$MONITORING/alertmanager.yml" \
        --storage.path="$LOCAL_DIR/alertmanager" --web.listen-address="127.0.0.1:$ALERTMANAGER_PORT" \
        --cluster.listen-address=
    spawn prometheus prometheus --config.file="$MONITORING/prometheus.local.yml" \
        --storage.tsdb.path="$LOCAL_DIR/prometheus" --storage.tsdb.retention.time=7d \
        --web.listen-address="127.0.0.1:$PROMETHEUS_PORT"
    wait_until 30 "Prometheus ready (log: $LOGS/prometheus.log)" http_ok "$PROMETHEUS_PORT" /-/ready
    wait_until 60 "every Prometheus target up" "$ROOT/deploy/local/prom.py" --port "$PROMETHEUS_PORT" targets-up
    trap - EXIT
    log "the local layout is up ($LOCAL_DIR)"
    print_endpoints
}

print_endpoints() {
    cat <<EOF
  PostgreSQL     $URL
  Kafka (tansu)  127.0.0.1:$KAFKA_PORT
  Redis          redis://127.0.0.1:$REDIS_PORT
  bss-sidecar    http://127.0.0.1:$METRICS_PORT/ (status page), /metrics, /healthz
  Prometheus     http://127.0.0.1:$PROMETHEUS_PORT/
  Alertmanager   http://127.0.0.1:$ALERTMANAGER_PORT/
  logs           $LOGS/
EOF
}

# stop NAME: SIGTERM, then up to 30 s to exit (the sidecar drains), then SIGKILL.
stop() {
    local name="$1" pid
    pid="$(pid_of "$name")" || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name (pid $pid) did not stop within 30 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$RUN/$name.pid"
}

down() {
    local i
    for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop "${COMPONENTS[i]}"; done
    # The broker's messages are gone with it: forwarding starts afresh.
    as_pg "$PG_BIN/psql" -X "$URL" -qtAc "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$SLOT' AND NOT active" >/dev/null 2>&1 || true
    postgres_down
    rm -rf "$LOCAL_DIR/spool"
    log "the local layout is down"
}

status() {
    local c
    for c in "${COMPONENTS[@]}"; do
        if alive "$c"; then printf '  %-18s running (pid %s)\n' "$c" "$(pid_of "$c")"; else printf '  %-18s stopped\n' "$c"; fi
    done
    [ -n "$LOCAL_HA" ] && printf '  %-18s %s\n' pg_auto_failover "$(pgaf_states)"
    alive prometheus && "$ROOT/deploy/local/prom.py" --port "$PROMETHEUS_PORT" numbers
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    reset) down; rm -rf "$LOCAL_DIR"; log "removed $LOCAL_DIR" ;;
    url) echo "$URL" ;;
    failover)
        [ -n "$LOCAL_HA" ] || die "failover: the local layout has one PostgreSQL without LOCAL_HA=1"
        log "pg_auto_failover: failover (monitor: $(pgaf_states))"
        pgaf_as node1 timeout 120 pg_autoctl perform failover
        log "monitor: $(pgaf_states)" ;;
    *) die "usage: $0 up|status|down|reset|url|failover" ;;
esac
