# Sourced (after scripts/lib.sh and scripts/pipeline.sh): PostgreSQL, Redis
# and a Kafka-protocol broker that speak TLS only, with certificates of a
# private CA (scripts/certs.sh), and the sidecar configured for them the way
# each ecosystem configures a client:
#   PostgreSQL  libpq's sslmode=verify-full, sslrootcert, sslcert, sslkey in
#               the URL; clients authenticated by certificate (CN = role);
#               the sidecar logs in as role sidecar (IN ROLE bss_sidecar,
#               REPLICATION): least privilege, end to end;
#   Redis       rediss:// with the ACL users of
#               deploy/vm/redis/users.acl.example (bss-sidecar, exporter,
#               admin); tls-auth-clients yes;
#   Kafka       security.protocol=SSL with ssl.ca.location and a client
#               certificate. tansu 0.6.0 has no TLS listener (its --cert is
#               never used), so haproxy terminates TLS in front of it and
#               tansu advertises haproxy's address: to the client, the broker
#               speaks TLS only.
# TLS_BED_PLAIN=1 opens plaintext listeners too (PostgreSQL from loopback,
# Redis on REDIS_PLAIN_PORT, haproxy on KAFKA_PLAIN_PORT), for make bench-tls
# to compare both on the same servers. Kafka clients follow the address a
# broker advertises, one per tansu: the plaintext listener has a tansu of its
# own, alike in every other way.
#
# tls_bed_up starts all of it (make test-tls, make bench-tls); the local
# layout (deploy/local/local.sh) starts its own PostgreSQL and takes the
# parts: tls_certs, tls_redis_up, tls_kafka_up, start_tls_sidecar.
#
# Expects WORK (certificates in WORK/certs, the servers' configuration and,
# unless TLS_LOGS names another folder, their logs); uses pipeline.sh's
# KAFKA_PORT, REDIS_PORT, METRICS_PORT and PIDS. TLS_PG_HOSTS: the
# PostgreSQL host:port list of the clients' URLs (default
# localhost:TLS_PG_PORT).
TLS_PG_PORT="${TLS_PG_PORT:-28831}"
TLS_PG_HOSTS="${TLS_PG_HOSTS:-localhost:$TLS_PG_PORT}"
TANSU_PORT="${TLS_TANSU_PORT:-$((KAFKA_PORT + 10))}"
KAFKA_PLAIN_PORT="${TLS_KAFKA_PLAIN_PORT:-$((KAFKA_PORT + 1))}"
REDIS_PLAIN_PORT="${TLS_REDIS_PLAIN_PORT:-$((REDIS_PORT + 1))}"
CERTS="$WORK/certs"
TLS_LOGS="${TLS_LOGS:-$WORK}"
# The servers' processes, by part: redis, tansu, haproxy.
declare -A BED_PIDS=()

tls_cluster() {
    DEVDB="$WORK/pg" PGPORT="$TLS_PG_PORT" DEVDB_TLS="$CERTS" DEVDB_TLS_PLAIN="${TLS_BED_PLAIN:-}" \
        DEVDB_SKIP_INSTALL="${TLS_SKIP_INSTALL:-}" "$ROOT/scripts/devdb.sh" "$@"
}
# The superuser's session, through the Unix socket.
tls_sql() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -tA -h "$WORK/pg" -p "$TLS_PG_PORT" -d bss "$@"; }

# The database URL of ROLE over TLS (its certificate), or with sslmode=disable.
pg_url_tls() {
    local attrs=""
    [[ "$TLS_PG_HOSTS" == *,* ]] && attrs="target_session_attrs=read-write&"
    echo "postgresql://$1@$TLS_PG_HOSTS/bss?${attrs}sslmode=verify-full&sslrootcert=$CERTS/ca.crt&sslcert=$CERTS/$1.crt&sslkey=$CERTS/$1.key"
}
pg_url_plain() { echo "postgresql://$1@127.0.0.1:$TLS_PG_PORT/bss?sslmode=disable"; }
# redis-cli as Redis's ACL user admin, over TLS.
redis_tls_cli() {
    redis-cli -p "$REDIS_PORT" --tls --cacert "$CERTS/ca.crt" --cert "$CERTS/client.crt" --key "$CERTS/client.key" \
        --user admin --pass "$(tls_secret redis-admin)" --no-auth-warning "$@"
}

# tls_secret NAME: the password NAME (CERTS/NAME.password, 0600), made the
# first time it is asked for and kept with the certificates.
tls_secret() {
    local f="$CERTS/$1.password"
    [ -s "$f" ] || (umask 077 && openssl rand -hex 16 >"$f")
    cat "$f"
}

# tls_certs: the CA, the servers' certificate and the clients' (the
# superuser, role sidecar, a client for the tests and tools).
tls_certs() {
    "$ROOT/scripts/certs.sh" "$CERTS" --client "$PG_USER" --client sidecar --client client >/dev/null
    tls_secret redis-sidecar >/dev/null
    tls_secret redis-exporter >/dev/null
    tls_secret redis-admin >/dev/null
    # PostgreSQL reads its key, and psql the superuser's, as $PG_USER.
    [ "$(id -u)" = 0 ] && chown -R "$PG_USER" "$CERTS"
    return 0
}

# tls_sidecar_role URL-OR-SOCKET-PSQL...: role sidecar (IN ROLE bss_sidecar,
# REPLICATION), made once; the arguments run psql as the superuser.
tls_sidecar_role() {
    "$@" -c "DO \$\$ BEGIN
                 IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sidecar') THEN
                     CREATE ROLE sidecar LOGIN REPLICATION IN ROLE bss_sidecar, pg_read_all_stats;
                 END IF;
             END \$\$"
}

tls_bed_up() {
    for p in "$TLS_PG_PORT" "$KAFKA_PORT" "$TANSU_PORT" "$REDIS_PORT" "$METRICS_PORT"; do
        port_free "$p" || die "port $p is taken"
    done
    tls_certs
    make_pg_dir "$WORK/pg"
    tls_cluster start >/dev/null
    TLS_SKIP_INSTALL=1
    tls_sidecar_role tls_sql
    build_sidecar
    tls_redis_up
    tls_kafka_up
    log "TLS bed up: PostgreSQL localhost:$TLS_PG_PORT, Redis localhost:$REDIS_PORT, Kafka (haproxy) localhost:$KAFKA_PORT; certificates in $CERTS"
}

# tls_redis_up: redis-server, TLS only (a plaintext port too with
# TLS_BED_PLAIN), its users from the VM layout's ACL with this bed's
# passwords; its pid is BED_PIDS[redis] (and in PIDS).
tls_redis_up() {
    {
        echo "bind 127.0.0.1"
        if [ "${TLS_BED_PLAIN:-}" = 1 ]; then echo "port $REDIS_PLAIN_PORT"; else echo "port 0"; fi
        echo "tls-port $REDIS_PORT"
        echo "tls-cert-file $CERTS/server.crt"
        echo "tls-key-file $CERTS/server.key"
        echo "tls-ca-cert-file $CERTS/ca.crt"
        echo "tls-auth-clients yes"
        echo 'save ""'
        echo "appendonly no"
        sed -n -e "s/>CHANGE_ME_SIDECAR/>$(tls_secret redis-sidecar)/p" -e "s/>CHANGE_ME_ADMIN/>$(tls_secret redis-admin)/p" \
            -e "s/>CHANGE_ME_EXPORTER/>$(tls_secret redis-exporter)/p" -e '/^user default /p' \
            "$ROOT/deploy/vm/redis/users.acl.example"
    } >"$WORK/redis.conf"
    chmod 600 "$WORK/redis.conf"
    redis-server "$WORK/redis.conf" >"$TLS_LOGS/redis.log" 2>&1 &
    PIDS+=($!)
    BED_PIDS[redis]=$!
    wait_until 20 "redis listening" bash -c "(exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT) 2>/dev/null"
}

# tls_kafka_up: tansu on loopback, haproxy's TLS listener (and plaintext
# one, with TLS_BED_PLAIN) in front; their pids are BED_PIDS[tansu] and
# BED_PIDS[haproxy] (and in PIDS).
tls_kafka_up() {
    command -v haproxy >/dev/null || die "haproxy is missing: run make setup"
    start_tansu "$TANSU_PORT" "tcp://localhost:$KAFKA_PORT" bss-tls "$TLS_LOGS/tansu.log"
    BED_PIDS[tansu]=$TANSU_PID
    if [ "${TLS_BED_PLAIN:-}" = 1 ]; then
        start_tansu "$((TANSU_PORT + 1))" "tcp://127.0.0.1:$KAFKA_PLAIN_PORT" bss-plain "$TLS_LOGS/tansu-plain.log"
        BED_PIDS[tansu]+=" $TANSU_PID"
    fi
    {
        echo "global"
        echo "    maxconn 1000"
        echo "defaults"
        echo "    mode tcp"
        echo "    timeout connect 5s"
        echo "    timeout client 1h"
        echo "    timeout server 1h"
        echo "frontend kafka_tls"
        echo "    bind 127.0.0.1:$KAFKA_PORT ssl crt $CERTS/server.pem ca-file $CERTS/ca.crt verify required"
        echo "    default_backend tansu"
        if [ "${TLS_BED_PLAIN:-}" = 1 ]; then
            echo "frontend kafka_plain"
            echo "    bind 127.0.0.1:$KAFKA_PLAIN_PORT"
            echo "    default_backend tansu_plain"
            echo "backend tansu_plain"
            echo "    server tansu_plain 127.0.0.1:$((TANSU_PORT + 1))"
        fi
        echo "backend tansu"
        echo "    server tansu 127.0.0.1:$TANSU_PORT"
    } >"$WORK/haproxy.cfg"
    haproxy -f "$WORK/haproxy.cfg" -db >"$TLS_LOGS/haproxy.log" 2>&1 &
    PIDS+=($!)
    BED_PIDS[haproxy]=$!
    wait_until 20 "tansu listening" bash -c "(exec 3<>/dev/tcp/127.0.0.1/$TANSU_PORT) 2>/dev/null"
    wait_until 20 "haproxy listening" bash -c "(exec 3<>/dev/tcp/127.0.0.1/$KAFKA_PORT) 2>/dev/null"
}

# Stops everything the bed started and removes WORK.
tls_bed_down() {
    stop_pipeline
    if [ -f "$WORK/pg/data/postmaster.pid" ]; then tls_cluster stop >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}

# The sidecar's configuration file for the bed: over TLS (tls) or plaintext
# (plain, with TLS_BED_PLAIN). The CA file given as the second argument
# replaces the bed's (a wrong CA, for the refusals).
sidecar_config() {
    local mode="$1" ca="${2:-$CERTS/ca.crt}" file="$WORK/sidecar-$1.toml"
    if [ "$mode" = tls ]; then
        cat >"$file" <<TOML
[kafka.properties]
"security.protocol" = "SSL"
"ssl.ca.location" = "$ca"
"ssl.certificate.location" = "$CERTS/sidecar.crt"
"ssl.key.location" = "$CERTS/sidecar.key"

[redis]
url = "rediss://bss-sidecar:$(tls_secret redis-sidecar)@localhost:$REDIS_PORT/"
tls_ca_cert_file = "$ca"
tls_cert_file = "$CERTS/sidecar.crt"
tls_key_file = "$CERTS/sidecar.key"
TOML
    else
        cat >"$file" <<TOML
[redis]
url = "redis://bss-sidecar:$(tls_secret redis-sidecar)@127.0.0.1:$REDIS_PLAIN_PORT/"
TOML
    fi
    echo "$file"
}

# start_tls_sidecar MODE LOG [PG_CA [SINK_CA]]: the sidecar as role sidecar,
# over TLS or plaintext, with the settings of the file SIDECAR_CONFIG (if
# set) after its own.
# Its spool is TLS_SPOOL (default WORK/spool-MODE).
start_tls_sidecar() {
    local mode="$1" logfile="$2" pg_ca="${3:-$CERTS/ca.crt}" url brokers config
    config="$(sidecar_config "$mode" "${4:-$pg_ca}")"
    chmod 600 "$config"
    [ -n "${SIDECAR_CONFIG:-}" ] && cat "$SIDECAR_CONFIG" >>"$config"
    if [ "$mode" = tls ]; then
        url="$(pg_url_tls sidecar | sed "s|sslrootcert=[^&]*|sslrootcert=$pg_ca|")"
        brokers="localhost:$KAFKA_PORT"
    else
        url="$(pg_url_plain sidecar)"
        brokers="127.0.0.1:$KAFKA_PLAIN_PORT"
    fi
    "${SIDECAR_BIN:-$ROOT/target/release/bss-sidecar}" --database-url "$url" --spool-dir "${TLS_SPOOL:-$WORK/spool-$mode}" \
        --slot "$SLOT" --kafka-brokers "$brokers" --metrics-addr "127.0.0.1:$METRICS_PORT" \
        --config "$config" >"$logfile" 2>&1 &
    SIDECAR_PID=$!
    PIDS+=("$SIDECAR_PID")
}
