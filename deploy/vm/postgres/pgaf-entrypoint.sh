#!/usr/bin/env bash
# The entrypoint of deploy/vm/postgres/Dockerfile's image: a node of the
# pg_auto_failover formation (node1 on VM1, node2 on VM2) or its monitor (VM3),
# set up as scripts/pgaf.sh sets up the test bed's, with passwords
# (scram-sha-256) where the bed trusts its network, and TLS only: every
# connection between them verifies the server's certificate (sslmode
# verify-full) and shows a client certificate (pg_hba.conf's
# clientcert=verify-full).
#
#   pgaf-entrypoint.sh node|monitor [run|create]
#
# run (the default): the first time (no data yet), `pg_autoctl create` and
# the steps after it (below); then `exec pg_autoctl run`, the supervisor of
# this node's postgres for the container's life. create: only the first part,
# then it stops postgres and exits (the Debian packages' way, where systemd
# runs `pg_autoctl run`: deploy/README.md, "systemd instead of Docker").
#
# The official image's own entrypoint, its initdb and its
# /docker-entrypoint-initdb.d hooks are not used: pg_autoctl makes the data
# directory itself (initdb on the first node, pg_basebackup of the primary on
# the next), so the image's init hook would never run. What it did, the
# bootstrap (bootstrap.sh: extension, roles, grants), runs here instead, once,
# on the node that `pg_autoctl create` made the formation's first primary.
#
# Environment (set by the compose files; the passwords come from .env):
#   PGDATA            the data directory; XDG_CONFIG_HOME and XDG_DATA_HOME
#                     hold pg_autoctl's configuration and state. In the
#                     containers all three are on the data volume, beside
#                     each other: never inside PGDATA, which pg_basebackup
#                     and pg_rewind overwrite.
#   PGAF_NAME         the node's name in the formation (node1, node2); nodes only
#   PGAF_HOSTNAME     the address the monitor and the other node reach it at
#   PGAF_PORT         its port (5432 for the nodes, 5431 for the monitor)
#   PGAF_LISTEN       listen_addresses: pg_autoctl starts postgres with -h,
#                     which wins over any postgresql.conf
#   PGAF_MONITOR_URL  nodes: the monitor, as autoctl_node with its password,
#                     sslmode=verify-full, sslrootcert and autoctl_node's
#                     client certificate (sslcert, sslkey)
#   PGAF_REPLICATION_PASSWORD  nodes: pgautofailover_replicator's password
#                     (pg_basebackup and pg_rewind from the other node)
#   PGAF_MONITOR_PASSWORD      monitor: autoctl_node's password, set on the monitor
#   BSS_SIDECAR_PASSWORD, PG_EXPORTER_PASSWORD  nodes: for bootstrap.sql
#   PGAF_CONF_DIR     where postgresql.conf, pg_hba.conf, bootstrap.sql and
#                     bootstrap.sh are (default /etc/postgresql; the monitor
#                     gets its own pg_hba.conf there, postgres/pg_hba.monitor.conf)
#   PGAF_TLS_DIR      this VM's certificates (default /etc/bss/tls, mounted
#                     read-only): ca.crt, server.crt, server.key, which
#                     pg_autoctl create gives postgres (ssl_ca_file,
#                     ssl_cert_file, ssl_key_file; postgresql.conf names the
#                     same) and puts into its connection strings (sslrootcert)
#   PGSSLCERT, PGSSLKEY  the client certificate of every libpq connection
#                     pg_autoctl and postgres open without naming one: on the
#                     nodes pgautofailover_replicator's (pg_basebackup,
#                     pg_rewind, the standby's walreceiver, pg_autoctl's
#                     queries of the other node); on the monitor
#                     pgautofailover_monitor's (its health checks of the
#                     nodes, with PGSSLMODE=verify-full and PGSSLROOTCERT,
#                     since their connection string names no sslmode)
set -euo pipefail

usage() { echo "usage: $0 node|monitor [run|create]" >&2; exit 2; }
role="${1:-node}"
mode="${2:-run}"
case "$role" in node | monitor) ;; *) usage ;; esac
case "$mode" in run | create) ;; *) usage ;; esac
CONF_DIR="${PGAF_CONF_DIR:-/etc/postgresql}"
TLS_DIR="${PGAF_TLS_DIR:-/etc/bss/tls}"
: "${PGDATA:?PGDATA is not set}"
export PGDATA

# As root (a container's start): the volume's directories for the postgres
# user, then the rest as postgres (pg_autoctl and postgres refuse root).
if [ "$(id -u)" = 0 ]; then
    for d in "$(dirname "$PGDATA")" "${XDG_CONFIG_HOME:-}" "${XDG_DATA_HOME:-}"; do
        if [ -n "$d" ]; then install -d -o postgres -g postgres -m 0700 "$d"; fi
    done
    if command -v gosu >/dev/null; then exec gosu postgres "$0" "$@"; fi
    exec runuser -u postgres -- "$0" "$@"
fi

: "${PGAF_HOSTNAME:?PGAF_HOSTNAME is not set}"
: "${PGAF_PORT:?PGAF_PORT is not set}"
: "${PGAF_LISTEN:?PGAF_LISTEN is not set}"
if [ "$role" = node ]; then
    : "${PGAF_NAME:?PGAF_NAME is not set}"
    : "${PGAF_MONITOR_URL:?PGAF_MONITOR_URL is not set}"
    : "${PGAF_REPLICATION_PASSWORD:?PGAF_REPLICATION_PASSWORD is not set}"
else
    : "${PGAF_MONITOR_PASSWORD:?PGAF_MONITOR_PASSWORD is not set}"
fi

log() { echo "pgaf-entrypoint: $*" >&2; }
die() { log "$*"; exit 1; }

# TLS only: refuse to start without the certificates, rather than have
# pg_autoctl or postgres fail later, or a connection go out in plaintext.
for f in "$TLS_DIR/ca.crt" "$TLS_DIR/server.crt" "$TLS_DIR/server.key" "${PGSSLCERT:-}" "${PGSSLKEY:-}"; do
    [ -n "$f" ] || die "PGSSLCERT and PGSSLKEY must name this node's client certificate and key (deploy/README.md, Certificates)"
    [ -r "$f" ] || die "cannot read $f as $(id -un): the certificates go into $TLS_DIR (deploy/vm/make-certs.sh; deploy/README.md, Certificates)"
done
if [ "$role" = node ]; then
    case "$PGAF_MONITOR_URL" in
        *sslmode=verify-full*) ;;
        *) die "PGAF_MONITOR_URL must have sslmode=verify-full (and sslrootcert, sslcert, sslkey): the monitor speaks TLS only" ;;
    esac
fi
# pg_autoctl create's TLS options: postgres's certificate and CA, and
# verify-full in the connection strings pg_autoctl writes (the standby's
# primary_conninfo, pg_basebackup's, pg_rewind's), with this CA.
PGAF_SSL=(--ssl-ca-file "$TLS_DIR/ca.crt" --server-cert "$TLS_DIR/server.crt" --server-key "$TLS_DIR/server.key" --ssl-mode verify-full)
pgaf_file() { pg_autoctl show file "--$1" --pgdata "$PGDATA" 2>/dev/null; }
# Written once everything below has been done, next to pg_autoctl's own
# configuration (outside PGDATA). Until then a restart does it all again:
# pg_autoctl create carries on where an interrupted one stopped, and each
# step after it is harmless to repeat.
DONE="$(dirname "$(pgaf_file config)")/pg_bss-created"

pg_running() { pg_ctl status -D "$PGDATA" >/dev/null 2>&1; }
pg_stop() { if pg_running; then pg_ctl stop -D "$PGDATA" -w -m fast >/dev/null; fi; }
# A postgres of this data directory on its unix socket only, for the SQL of
# the first start (as the official image runs its init scripts): no client
# on the network sees it.
pg_start_local() { pg_ctl start -D "$PGDATA" -w -t 300 -o "-c listen_addresses='' -p $PGAF_PORT" >/dev/null; }

# The lines after pg_auto_failover's own includes in PGDATA/postgresql.conf:
# later lines win, so pg_bss's settings and pg_hba.conf take over from
# pg_autoctl's defaults (ALTER SYSTEM's postgresql.auto.conf, where
# pg_auto_failover keeps synchronous_standby_names, still comes last).
# A standby gets its copy of the primary's file, lines included.
MARK="# --- pg_bss: deploy/vm/postgres/pgaf-entrypoint.sh"
append_settings() {
    local conf="$PGDATA/postgresql.conf"
    grep -qF "$MARK" "$conf" && return 0
    {
        echo
        echo "$MARK (after pg_auto_failover's includes, so these win) ---"
        if [ "$role" = node ]; then
            echo "include '$CONF_DIR/postgresql.conf'"
        else
            echo "logging_collector = off    # PostgreSQL's log on stderr with pg_autoctl's: docker logs, journald"
        fi
        echo "hba_file = '$CONF_DIR/pg_hba.conf'"
    } >>"$conf"
}

# The keeper's settings, at every start (a changed .env reaches them): the
# monitor's URL (with its password and TLS settings), the replication
# password pg_autoctl gives pg_basebackup and pg_rewind when this node
# follows the other, and 3 s without the monitor before a primary that sees
# no standby either demotes itself (scripts/pgaf.sh; default 20 s).
keeper_settings() {
    pg_autoctl config set --pgdata "$PGDATA" pg_autoctl.monitor "$PGAF_MONITOR_URL" >/dev/null
    pg_autoctl config set --pgdata "$PGDATA" replication.password "$PGAF_REPLICATION_PASSWORD" >/dev/null
    pg_autoctl config set --pgdata "$PGDATA" timeout.network_partition_timeout 3 >/dev/null
}

create_monitor() {
    log "creating the pg_auto_failover monitor at $PGAF_HOSTNAME:$PGAF_PORT"
    LC_ALL=C.UTF-8 pg_autoctl create monitor --pgdata "$PGDATA" --pgport "$PGAF_PORT" \
        --listen "$PGAF_LISTEN" --hostname "$PGAF_HOSTNAME" \
        --auth scram-sha-256 --skip-pg-hba "${PGAF_SSL[@]}"
    pg_stop
    append_settings
    pg_start_local
    # The nodes' password (pg_autoctl sets none), and failover in seconds,
    # not the defaults' 30 s: the monitor checks each node every second,
    # gives up on it after one retry 500 ms later, and considers it unhealthy
    # after 3 s without a report from its keeper; an unreachable primary
    # demotes itself after 5 s. The values of scripts/pgaf.sh (deploy/vm/lint.py
    # holds the two to the same values).
    psql -X -q -v ON_ERROR_STOP=1 -p "$PGAF_PORT" -d pg_auto_failover \
        -v autoctl_password="$PGAF_MONITOR_PASSWORD" <<'SQL'
ALTER ROLE autoctl_node PASSWORD :'autoctl_password';
ALTER SYSTEM SET pgautofailover.health_check_period = 1000;
ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000;
ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1;
ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 500;
ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 3000;
ALTER SYSTEM SET pgautofailover.primary_demote_timeout = 5000;
SQL
    pg_stop
}

create_node() {
    # Only a node whose init has not finished: pg_autoctl create carries on
    # an interrupted one (its init file), and is not run over a finished one.
    if [ ! -f "$(pgaf_file state)" ] || [ -f "$(pgaf_file init)" ]; then
        log "creating $PGAF_NAME at $PGAF_HOSTNAME:$PGAF_PORT (monitor: ${PGAF_MONITOR_URL##*@})"
        # PGPASSWORD: the replication password, for the pg_basebackup of the
        # primary that makes a standby (the configuration has none yet).
        # C.UTF-8: initdb's locale and encoding (UTF8), as before.
        # --skip-pg-hba: pg_hba.conf is ours (postgres/pg_hba.conf). The
        # pg_basebackup of a standby shows PGSSLCERT's certificate.
        PGPASSWORD="$PGAF_REPLICATION_PASSWORD" LC_ALL=C.UTF-8 pg_autoctl create postgres \
            --pgdata "$PGDATA" --pgport "$PGAF_PORT" --listen "$PGAF_LISTEN" \
            --hostname "$PGAF_HOSTNAME" --name "$PGAF_NAME" --dbname bss \
            --auth scram-sha-256 --skip-pg-hba "${PGAF_SSL[@]}" --monitor "$PGAF_MONITOR_URL"
    fi
    keeper_settings
    # create may leave postgres running: pg_autoctl run starts it again with
    # the settings below.
    pg_stop
    append_settings
    if [ -f "$PGDATA/standby.signal" ]; then
        log "$PGAF_NAME is a standby (a copy of the primary): no bootstrap here"
        return 0
    fi
    # The formation's first primary: pg_autoctl create made it the single
    # node, with a fresh initdb. Data checksums, as the image's initdb had
    # them (pg_autoctl's initdb takes no options); the standby's copy has
    # them too. Then the bootstrap.
    local control
    control="$(LC_ALL=C pg_controldata "$PGDATA")"
    if grep -Eq '^Data page checksum version:[[:space:]]+0$' <<<"$control"; then
        log "enabling data checksums"
        pg_checksums --enable --pgdata "$PGDATA" >/dev/null
    fi
    pg_start_local
    log "$PGAF_NAME is the first primary: bootstrap.sql (extension, roles, grants, the replication password)"
    PGPORT="$PGAF_PORT" PGAF_CONF_DIR="$CONF_DIR" bash "$CONF_DIR/bootstrap.sh"
    pg_stop
}

if [ ! -f "$DONE" ]; then
    if [ "$role" = monitor ]; then create_monitor; else create_node; fi
    touch "$DONE"
    log "created: $(pgaf_file config)"
elif [ "$role" = node ]; then
    keeper_settings
fi

if [ "$mode" = create ]; then
    pg_stop
    exit 0
fi
exec pg_autoctl run --pgdata "$PGDATA"
