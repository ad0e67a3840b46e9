# Sourced (after scripts/lib.sh and scripts/pipeline.sh): PostgreSQL, Redis
# and a Kafka-protocol broker that speak TLS only, with certificates of a
# private CA (scripts/certs.sh), and the sidecar configured for them the way
# each ecosystem configures a client:
#   PostgreSQL  libpq's sslmode=verify-full, sslrootcert, sslcert, sslkey in
#               the URL; clients authenticated by certificate (CN = role);
#               the sidecar logs in as role sidecar (IN ROLE bss_sidecar,
#               REPLICATION): least privilege, end to end;
#   Redis       rediss:// with the ACL user bss-sidecar of
#               deploy/vm/redis/users.acl.example; tls-auth-clients yes;
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
# Expects WORK; uses pipeline.sh's KAFKA_PORT, REDIS_PORT, METRICS_PORT and PIDS.
TLS_PG_PORT="${TLS_PG_PORT:-28831}"
TANSU_PORT="${TLS_TANSU_PORT:-$((KAFKA_PORT + 10))}"
KAFKA_PLAIN_PORT="${TLS_KAFKA_PLAIN_PORT:-$((KAFKA_PORT + 1))}"
REDIS_PLAIN_PORT="${TLS_REDIS_PLAIN_PORT:-$((REDIS_PORT + 1))}"
CERTS="$WORK/certs"
SIDECAR_REDIS_PASSWORD="sidecar-$RANDOM$RANDOM"
# The servers' processes, by part: redis, tansu, haproxy.
declare -A BED_PIDS=()
ADMIN_REDIS_PASSWORD="admin-$RANDOM$RANDOM"

tls_cluster() {
    DEVDB="$WORK/pg" PGPORT="$TLS_PG_PORT" DEVDB_TLS="$CERTS" DEVDB_TLS_PLAIN="${TLS_BED_PLAIN:-}" \
        DEVDB_SKIP_INSTALL="${TLS_SKIP_INSTALL:-}" "$ROOT/scripts/devdb.sh" "$@"
}
# The superuser's session, through the Unix socket.
tls_sql() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -tA -h "$WORK/pg" -p "$TLS_PG_PORT" -d bss "$@"; }

# The database URL of ROLE over TLS (its certificate), or with sslmode=disable.
pg_url_tls() {
    echo "postgresql://$1@localhost:$TLS_PG_PORT/bss?sslmode=verify-full&sslrootcert=$CERTS/ca.crt&sslcert=$CERTS/$1.crt&sslkey=$CERTS/$1.key"
}
pg_url_plain() { echo "postgresql://$1@127.0.0.1:$TLS_PG_PORT/bss?sslmode=disable"; }
redis_tls_cli() {
    redis-cli -p "$REDIS_PORT" --tls --cacert "$CERTS/ca.crt" --cert "$CERTS/client.crt" --key "$CERTS/client.key" \
        --user admin --pass "$ADMIN_REDIS_PASSWORD" --no-auth-warning "$@"
}

tls_bed_up() {
    for p in "$TLS_PG_PORT" "$KAFKA_PORT" "$TANSU_PORT" "$REDIS_PORT" "$METRICS_PORT"; do
        port_free "$p" || die "port $p is taken"
    done
    command -v haproxy >/dev/null || die "haproxy is missing: run make setup"
    "$ROOT/scripts/certs.sh" "$CERTS" --client "$PG_USER" --client sidecar --client client >/dev/null
    # PostgreSQL reads its key, and psql the superuser's, as $PG_USER.
    [ "$(id -u)" = 0 ] && chown -R "$PG_USER" "$CERTS"
    make_pg_dir "$WORK/pg"
    tls_cluster start >/dev/null
    TLS_SKIP_INSTALL=1
    tls_sql -c "DO \$\$ BEGIN
                    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sidecar') THEN
                        CREATE ROLE sidecar LOGIN REPLICATION IN ROLE bss_sidecar, pg_read_all_stats;
                    END IF;
                END \$\$"

    build_sidecar
    # Redis: TLS only (a plaintext port too with TLS_BED_PLAIN), its users from the VM layout's ACL.
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
        sed -n -e "s/>CHANGE_ME_SIDECAR/>$SIDECAR_REDIS_PASSWORD/p" -e "s/>CHANGE_ME_ADMIN/>$ADMIN_REDIS_PASSWORD/p" \
            -e '/^user default /p' "$ROOT/deploy/vm/redis/users.acl.example"
    } >"$WORK/redis.conf"
    redis-server "$WORK/redis.conf" >"$WORK/redis.log" 2>&1 &
    PIDS+=($!)
    BED_PIDS[redis]=$!

    # Kafka: tansu on loopback, haproxy's TLS listener (and plaintext one) in front.
    start_tansu "$TANSU_PORT" "tcp://localhost:$KAFKA_PORT" bss-tls "$WORK/tansu.log"
    BED_PIDS[tansu]=$TANSU_PID
    if [ "${TLS_BED_PLAIN:-}" = 1 ]; then
        start_tansu "$((TANSU_PORT + 1))" "tcp://127.0.0.1:$KAFKA_PLAIN_PORT" bss-plain "$WORK/tansu-plain.log"
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
    haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 &
    PIDS+=($!)
    BED_PIDS[haproxy]=$!
    wait_until 20 "redis listening" bash -c "(exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT) 2>/dev/null"
    wait_until 20 "tansu listening" bash -c "(exec 3<>/dev/tcp/127.0.0.1/$TANSU_PORT) 2>/dev/null"
    wait_until 20 "haproxy listening" bash -c "(exec 3<>/dev/tcp/127.0.0.1/$KAFKA_PORT) 2>/dev/null"
    log "TLS bed up: PostgreSQL localhost:$TLS_PG_PORT, Redis localhost:$REDIS_PORT, Kafka (haproxy) localhost:$KAFKA_PORT; certificates in $CERTS"
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
url = "rediss://bss-sidecar:$SIDECAR_REDIS_PASSWORD@localhost:$REDIS_PORT/"
tls_ca_cert_file = "$ca"
tls_cert_file = "$CERTS/sidecar.crt"
tls_key_file = "$CERTS/sidecar.key"
TOML
    else
        cat >"$file" <<TOML
[redis]
url = "redis://bss-sidecar:$SIDECAR_REDIS_PASSWORD@127.0.0.1:$REDIS_PLAIN_PORT/"
TOML
    fi
    echo "$file"
}

# start_tls_sidecar MODE LOG [PG_CA [SINK_CA]]: the sidecar as role sidecar,
# over TLS or plaintext, with the detectors of PIPELINE_DETECTORS (if set).
start_tls_sidecar() {
    local mode="$1" logfile="$2" pg_ca="${3:-$CERTS/ca.crt}" url brokers config
    config="$(sidecar_config "$mode" "${4:-$pg_ca}")"
    [ -n "${PIPELINE_DETECTORS:-}" ] && cat "$PIPELINE_DETECTORS" >>"$config"
    if [ "$mode" = tls ]; then
        url="$(pg_url_tls sidecar | sed "s|sslrootcert=[^&]*|sslrootcert=$pg_ca|")"
        brokers="localhost:$KAFKA_PORT"
    else
        url="$(pg_url_plain sidecar)"
        brokers="127.0.0.1:$KAFKA_PLAIN_PORT"
    fi
    "${SIDECAR_BIN:-$ROOT/target/release/bss-sidecar}" --database-url "$url" --spool-dir "$WORK/spool-$mode" \
        --slot "$SLOT" --kafka-brokers "$brokers" --metrics-addr "127.0.0.1:$METRICS_PORT" \
        --config "$config" >"$logfile" 2>&1 &
    SIDECAR_PID=$!
    PIDS+=("$SIDECAR_PID")
}
