#!/usr/bin/env bash
# The one-machine layout: PostgreSQL 15 with pg_bss, a Kafka-protocol broker
# (tansu), redis-server, bss-sidecar with the detectors of
# bss-detect/detectors.toml, Prometheus with the rules of deploy/monitoring,
# Alertmanager, postgres_exporter and redis_exporter. Everything listens on
# 127.0.0.1; data, logs and pid files are under one folder.
#
# PostgreSQL, Redis and Kafka speak TLS only, with certificates of a private
# CA that scripts/certs.sh makes once under the folder's certs/ (the
# servers' and one per client; Redis's ACL passwords beside them): clients
# log in with verify-full and a client certificate; the sidecar as role
# sidecar (bss_sidecar), Redis as its ACL user bss-sidecar, Kafka with
# security.protocol=SSL through haproxy in front of tansu (deploy/tls/bed.sh
# starts them, as for make test-tls). Prometheus scrapes the sidecar and the
# exporters over plain HTTP on loopback.
#
#   deploy/local/local.sh up       start what is not running (make demo does this)
#   deploy/local/local.sh status   what runs, and the key numbers from Prometheus
#   deploy/local/local.sh down     stop everything; PostgreSQL's data is kept
#   deploy/local/local.sh reset    down, then remove the folder (PostgreSQL too)
#   deploy/local/local.sh url      the libpq URL of its database
#   deploy/local/local.sh failover (LOCAL_HA=1) pg_auto_failover promotes the standby now
#   deploy/local/local.sh redis-cli [ARGS]   redis-cli over TLS as Redis's ACL user admin
#   deploy/local/local.sh kafka-config       a Kafka client's TLS settings, one key=value a line
#
# LOCAL_HA=1 (for every command): PostgreSQL as a primary and a synchronous
# standby under pg_auto_failover (scripts/pgaf.sh): its monitor on port
# 29430, node1 on 29432 (first the primary), node2 on 29433, all on
# 127.0.0.1, under the folder's ha/. The clients (the sidecar, bss-loadgen)
# get both nodes and take the read-write one; a failover needs no one
# (`pg_autoctl perform failover` with node1's environment tries it).
# postgres_exporter (lib/pq, one host only) watches node1. The nodes and
# the monitor are TLS-only too (scripts/pgaf.sh with PGAF_TLS): clients by
# their certificate, pg_auto_failover's own roles over TLS (trust, on
# loopback).
#
# The broker keeps its messages in memory, so `down` ends the forwarding: it
# drops the sidecar's slot and removes its spool, and the next `up` forwards
# the events appended from then on to an empty Kafka and Redis.
source "$(dirname "$0")/../../scripts/lib.sh"

LOCAL_DIR="${LOCAL_DIR:-$ROOT/target/local}"
export DEVDB="$LOCAL_DIR/postgres" PGPORT="${LOCAL_PG_PORT:-29432}" DEVDB_TLS="$LOCAL_DIR/certs"
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
COMPONENTS=(broker haproxy redis sidecar postgres_exporter redis_exporter alertmanager prometheus)

source "$ROOT/scripts/pipeline.sh"
WORK="$LOCAL_DIR" TLS_LOGS="$LOGS" TLS_PG_PORT="$PGPORT" TLS_SPOOL="$LOCAL_DIR/spool"
source "$ROOT/deploy/tls/bed.sh"
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
PGAF_TLS="$CERTS"
if [ -n "$LOCAL_HA" ]; then
    URL="$(pgaf_url)"
    # Names, not addresses: the sidecar's replication client checks names.
    TLS_PG_HOSTS="localhost:$(pgaf_port node1),localhost:$(pgaf_port node2)"
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

# The superuser's session through the Unix socket (the scripts' own; no certificate).
local_psql() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DEVDB" -p "$PGPORT" -d bss "$@"; }

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
    for p in "$KAFKA_PORT" "$TANSU_PORT" "$REDIS_PORT" "$METRICS_PORT"; do
        port_free "$p" || die "port $p is taken; set PIPELINE_KAFKA_PORT / PIPELINE_REDIS_PORT / PIPELINE_METRICS_PORT"
    done
    mkdir -p "$RUN" "$LOGS"
    # Whatever fails from here on, nothing is left running half-started.
    trap 'status=$?; if [ $status -ne 0 ]; then log "start failed; stopping what started"; down; fi' EXIT

    tls_certs
    postgres_up
    build_sidecar
    log "starting tansu behind haproxy (Kafka over TLS) on localhost:$KAFKA_PORT and redis-server (TLS) on localhost:$REDIS_PORT"
    tls_kafka_up
    record broker "${BED_PIDS[tansu]}"
    record haproxy "${BED_PIDS[haproxy]}"
    tls_redis_up
    record redis "${BED_PIDS[redis]}"
    rm -rf "$LOCAL_DIR/spool"
    if [ -z "$LOCAL_HA" ]; then
        tls_sidecar_role local_psql
    else
        tls_sidecar_role pgaf_psql "$(pgaf_primary)" bss
    fi
    SIDECAR_CONFIG="${SIDECAR_CONFIG-$ROOT/bss-detect/detectors.toml}"
    log "starting bss-sidecar (slot $SLOT, spool $LOCAL_DIR/spool, metrics http://127.0.0.1:$METRICS_PORT/metrics)"
    start_tls_sidecar tls "$LOGS/sidecar.log"
    record sidecar "$SIDECAR_PID"
    wait_until 60 "bss-sidecar streaming (log: $LOGS/sidecar.log)" healthy

    log "starting postgres_exporter, redis_exporter, Alertmanager and Prometheus"
    DATA_SOURCE_NAME="$NODE_URL" spawn postgres_exporter prometheus-postgres-exporter \
        --web.listen-address="127.0.0.1:$POSTGRES_EXPORTER_PORT" \
        --extend.query-path="$MONITORING/postgres_exporter/queries.yaml"
    REDIS_USER=exporter REDIS_PASSWORD="$(tls_secret redis-exporter)" spawn redis_exporter prometheus-redis-exporter \
        -web.listen-address "127.0.0.1:$REDIS_EXPORTER_PORT" -redis.addr "rediss://localhost:$REDIS_PORT" \
        -tls-ca-cert-file "$CERTS/ca.crt" -tls-client-cert-file "$CERTS/client.crt" -tls-client-key-file "$CERTS/client.key"
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
  Kafka          localhost:$KAFKA_PORT, TLS only (tansu behind haproxy): $0 kafka-config
  Redis          rediss://localhost:$REDIS_PORT, TLS only, ACL users: $0 redis-cli
  certificates   $CERTS/ (ca.crt; a client certificate per role)
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
    redis-cli) shift; redis_tls_cli "$@" ;;
    kafka-config)
        printf '%s\n' "bootstrap.servers=localhost:$KAFKA_PORT" security.protocol=SSL "ssl.ca.location=$CERTS/ca.crt" \
            "ssl.certificate.location=$CERTS/client.crt" "ssl.key.location=$CERTS/client.key" ;;
    failover)
        [ -n "$LOCAL_HA" ] || die "failover: the local layout has one PostgreSQL without LOCAL_HA=1"
        log "pg_auto_failover: failover (monitor: $(pgaf_states))"
        pgaf_as node1 timeout 120 pg_autoctl perform failover
        log "monitor: $(pgaf_states)" ;;
    *) die "usage: $0 up|status|down|reset|url|failover|redis-cli [ARGS]|kafka-config" ;;
esac
