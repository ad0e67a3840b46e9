#!/usr/bin/env bash
# make devdb / make devdb-stop: a local PostgreSQL 15 cluster under target/devdb,
# on 127.0.0.1:${PGPORT:-28815}, wal_level=logical, with the current pg_bss build
# installed and CREATE EXTENSION pg_bss done in database `bss`.
# `start` prints the libpq URL of that database as its last line.
#
# DEVDB_TLS=DIR (a directory of scripts/certs.sh with a client certificate
# for the cluster's superuser): the cluster is made TLS-only on
# TCP: ssl = on with DIR's server certificate, plaintext refused, clients
# authenticated by their certificate (its CN is the role); the Unix socket
# stays for the scripts themselves. The URL is then verify-full with the
# superuser's certificate. DEVDB_TLS_PLAIN=1 also lets plaintext in from
# loopback (make bench-tls compares both on one cluster).
source "$(dirname "$0")/lib.sh"

PGPORT="${PGPORT:-28815}"
DEVDB="${DEVDB:-$ROOT/target/devdb}"
DATA="$DEVDB/data"
LOGFILE="$DEVDB/postgres.log"
URL="postgresql://${PG_USER}@127.0.0.1:${PGPORT}/bss"
if [ -n "${DEVDB_TLS:-}" ]; then
    URL="postgresql://${PG_USER}@localhost:${PGPORT}/bss?sslmode=verify-full&sslrootcert=$DEVDB_TLS/ca.crt&sslcert=$DEVDB_TLS/${PG_USER}.crt&sslkey=$DEVDB_TLS/${PG_USER}.key"
fi

# Through the Unix socket: the scripts' own sessions need no certificate.
psql_pg() { as_pg "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -q -h "$DEVDB" -p "$PGPORT" "$@"; }

# The TLS-only configuration (DEVDB_TLS), written at initdb.
configure_tls() {
    cat >>"$DATA/postgresql.conf" <<CONF
ssl = on
ssl_cert_file = '$DEVDB_TLS/server.crt'
ssl_key_file = '$DEVDB_TLS/server.key'
ssl_ca_file = '$DEVDB_TLS/ca.crt'
ssl_min_protocol_version = 'TLSv1.2'
CONF
    {
        echo "local     all          all                     trust"
        if [ "${DEVDB_TLS_PLAIN:-}" = 1 ]; then
            echo "hostnossl all          all       127.0.0.1/32  trust"
            echo "hostnossl replication  all       127.0.0.1/32  trust"
        fi
        echo "hostnossl all          all       0.0.0.0/0     reject"
        echo "hostnossl replication  all       0.0.0.0/0     reject"
        echo "hostnossl all          all       ::/0          reject"
        echo "hostnossl replication  all       ::/0          reject"
        echo "hostssl   all          all       127.0.0.1/32  cert"
        echo "hostssl   replication  all       127.0.0.1/32  cert"
        echo "hostssl   all          all       ::1/128       cert"
        echo "hostssl   replication  all       ::1/128       cert"
    } >"$DATA/pg_hba.conf"
}

running() { [ -f "$DATA/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

start() {
    # The chaos test bed starts its cluster with this too, after it has
    # installed pg_bss once for the whole run (DEVDB_SKIP_INSTALL=1).
    if [ -z "${DEVDB_SKIP_INSTALL:-}" ]; then
        "$ROOT/scripts/setup.sh"
        install_pg_bss
    fi
    make_pg_dir "$DEVDB"
    if [ ! -f "$DATA/PG_VERSION" ]; then
        log "initdb $DATA"
        as_pg "$PG_BIN/initdb" -D "$DATA" -U "$PG_USER" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
        cat >>"$DATA/postgresql.conf" <<CONF

# --- pg_bss devdb ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DEVDB'
wal_level = logical                 # the sidecar reads events by logical decoding
max_wal_senders = 10
max_replication_slots = 10
max_connections = 100
shared_buffers = 512MB
synchronous_commit = on             # an acknowledged append survives a crash
max_wal_size = 4GB                  # fewer checkpoints during benchmarks
checkpoint_timeout = 15min
CONF
    fi
    # A cluster made before DEVDB_TLS was asked for becomes TLS-only too.
    if [ -n "${DEVDB_TLS:-}" ] && ! grep -q "^ssl = on" "$DATA/postgresql.conf"; then
        configure_tls
    fi
    # Members of bss_password_login log in over TCP with their password
    # (SCRAM), as in a deployment; every other role is trusted. The tests of
    # password logins (the sidecar's POST /ask) put their roles in it.
    # (Not in a TLS-only cluster, whose logins are all certificates.)
    if [ -z "${DEVDB_TLS:-}" ] && ! grep -q "+bss_password_login" "$DATA/pg_hba.conf"; then
        sed -i "1i host all +bss_password_login 127.0.0.1/32 scram-sha-256" "$DATA/pg_hba.conf"
    fi
    # Personal data is sealed under a master key kept outside the data directory.
    make_master_key "$DEVDB/master.key"
    grep -q "^bss.master_key_file" "$DATA/postgresql.conf" ||
        echo "bss.master_key_file = '$DEVDB/master.key'" >>"$DATA/postgresql.conf"
    if running; then
        log "devdb already running; restarting to load the new pg_bss build"
        as_pg "$PG_BIN/pg_ctl" -D "$DATA" -w -m fast restart -o "-p $PGPORT" -l "$LOGFILE" >/dev/null
    else
        if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT"; then
            die "port $PGPORT is taken by another PostgreSQL (not $DATA); stop it, or choose another: PGPORT=28816 make devdb"
        fi
        log "starting PostgreSQL $PG_MAJOR on 127.0.0.1:$PGPORT"
        as_pg "$PG_BIN/pg_ctl" -D "$DATA" -w -o "-p $PGPORT" -l "$LOGFILE" start >/dev/null
    fi
    # A cluster restored from a backup accepts connections while it still
    # replays WAL (read-only): wait until it is promoted.
    local _
    for _ in $(seq 600); do
        [ "$(psql_pg -d postgres -tAc "SELECT pg_is_in_recovery()")" = f ] && break
        sleep 0.1
    done
    psql_pg -d postgres -c "DO \$\$ BEGIN CREATE ROLE bss_password_login NOLOGIN;
        EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" -c "SELECT pg_reload_conf()" >/dev/null
    if ! psql_pg -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'bss'" | grep -q 1; then
        psql_pg -d postgres -c "CREATE DATABASE bss"
    fi
    # Existing events are kept: the extension is created once and updated when
    # a newer version is installed. `make devdb-reset` starts from scratch.
    psql_pg -d bss -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pg_bss" \
        -c "ALTER EXTENSION pg_bss UPDATE" -c "SELECT bss.ensure_partitions()" >/dev/null
    echo "$URL"
}

stop() {
    if running; then
        log "stopping devdb"
        as_pg "$PG_BIN/pg_ctl" -D "$DATA" -w -m fast stop >/dev/null
    else
        log "devdb is not running"
    fi
}

# Crash and recover: stop without a shutdown checkpoint (as after a power
# loss; open transactions are lost), wait, and start again. For tests.
crash() {
    running || die "devdb is not running"
    log "stopping devdb with -m immediate"
    as_pg "$PG_BIN/pg_ctl" -D "$DATA" -w -m immediate stop >/dev/null
    sleep "${CRASH_DOWN_SECS:-2}"
    as_pg "$PG_BIN/pg_ctl" -D "$DATA" -w -o "-p $PGPORT" -l "$LOGFILE" start >/dev/null
    log "devdb recovered"
}

reset() {
    if running; then
        log "dropping database bss"
        psql_pg -d postgres -c "DROP DATABASE IF EXISTS bss WITH (FORCE)"
    fi
    start
}

case "${1:-start}" in
    reset) reset ;;
    start) start ;;
    stop) stop ;;
    url) echo "$URL" ;;
    crash) crash ;;
    *) die "usage: $0 start|stop|reset|url|crash" ;;
esac
