#!/usr/bin/env bash
# make test-tls: pg_bss against servers that speak TLS only (deploy/tls/bed.sh:
# PostgreSQL, Redis, and tansu behind haproxy, with a private CA made by
# scripts/certs.sh), as against managed services that require it:
#
#   1. every server refuses plaintext: psql and a replication session with
#      sslmode=disable, redis-cli without --tls, a Kafka client with
#      security.protocol=PLAINTEXT;
#   2. a certificate authority other than the servers' is refused, with an
#      error that says so: by psql, and by the sidecar for PostgreSQL, then
#      for Kafka and Redis;
#   3. the sidecar, logged in as role sidecar (bss_sidecar: least privilege)
#      with its certificate, forwards every event appended over TLS by a
#      writer to Kafka and Redis over TLS, and appends the anomaly a detector
#      finds; every session it holds with PostgreSQL is encrypted
#      (pg_stat_ssl), and so is every event read back.
#
# Prints one line per check; exits 1 on the first that fails. Stops and
# removes everything on any exit (TLS_KEEP=1: leaves it up, for a look); the
# logs stay in target/tls-logs.
source "$(dirname "$0")/../../scripts/lib.sh"
PIPELINE_KAFKA_PORT=29300 PIPELINE_REDIS_PORT=26500 PIPELINE_METRICS_PORT=29387
source "$ROOT/scripts/pipeline.sh"
WORK="$ROOT/target/tls-check"
SLOT=bss_tls
URL=""
SIDECAR_CONFIG="$ROOT/bss-detect/detectors.toml"
source "$ROOT/deploy/tls/bed.sh"
PY="$PY_VENV/bin/python"
EVENTS=2000

ok() { printf '  ok   %s\n' "$*"; }
fail() { printf '  FAIL %s\n' "$*"; exit 1; }
cleanup() {
    [ -n "${TLS_KEEP:-}" ] && { log "TLS_KEEP: the bed stays up in $WORK"; return; }
    if [ -d "$WORK" ]; then
        rm -rf "$ROOT/target/tls-logs" && mkdir -p "$ROOT/target/tls-logs"
        cp "$WORK/"*.log "$WORK/pg/"*.log "$ROOT/target/tls-logs/" 2>/dev/null || true
    fi
    tls_bed_down
}
trap cleanup EXIT
cleanup
make_pg_dir "$WORK"
tls_bed_up
URL="$(pg_url_tls "$PG_USER")"
kafka_tls=("security.protocol=SSL" "ssl.ca.location=$CERTS/ca.crt"
    "ssl.certificate.location=$CERTS/client.crt" "ssl.key.location=$CERTS/client.key")

echo "1. plaintext is refused"
expect_refused "psql, sslmode=disable" "no encryption" \
    as_pg "$PG_BIN/psql" -X "$(pg_url_plain "$PG_USER")" -c "SELECT 1"
expect_refused "a replication session, sslmode=disable" "no encryption" \
    as_pg "$PG_BIN/psql" -X "$(pg_url_plain sidecar)&replication=database" -c "IDENTIFY_SYSTEM"
expect_refused "redis-cli without TLS" "reset|closed|Error|I/O" \
    bash -c "out=\$(redis-cli -p $REDIS_PORT PING 2>&1); echo \"\$out\"; [ \"\$out\" = PONG ]"
expect_refused "a Kafka client with security.protocol=PLAINTEXT" "transport|timed out|disconnect|fail" \
    timeout 60 "$PY" "$ROOT/deploy/tls/kafka_count.py" bss.tls "bootstrap.servers=localhost:$KAFKA_PORT" \
    "security.protocol=PLAINTEXT" "socket.timeout.ms=5000"

echo "2. a certificate authority other than the servers' is refused"
"$ROOT/scripts/certs.sh" "$WORK/other-ca" >/dev/null
[ "$(id -u)" = 0 ] && chown -R "$PG_USER" "$WORK/other-ca"
expect_refused "psql with another CA" "certificate verify failed" \
    as_pg "$PG_BIN/psql" -X "$(pg_url_tls "$PG_USER" | sed "s|sslrootcert=[^&]*|sslrootcert=$WORK/other-ca/ca.crt|")" -c "SELECT 1"
# sidecar_says LOG PATTERN WHAT: the running sidecar's log says PATTERN within 30 s.
sidecar_says() {
    local log="$1" pattern="$2" what="$3" line
    for _ in $(seq 300); do
        line="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E -m1 "$pattern")" && break
        sleep 0.1
    done
    [ -n "$line" ] || fail "$what: the sidecar did not say /$pattern/ in 30 s (log: $log)"
    ok "$what: $(sed 's/^ *//' <<<"$line" | cut -c1-200)"
}
start_tls_sidecar tls "$WORK/sidecar-wrong-ca.log" "$WORK/other-ca/ca.crt" "$CERTS/ca.crt"
sidecar_says "$WORK/sidecar-wrong-ca.log" "primary.*(UnknownIssuer|BadSignature|certificate)" "the sidecar, PostgreSQL with another CA"
healthy && fail "the sidecar is healthy with another CA"
stop_sidecar
rm -rf "$WORK/spool-tls"
start_tls_sidecar tls "$WORK/sidecar-wrong-sink-ca.log" "$CERTS/ca.crt" "$WORK/other-ca/ca.crt"
sidecar_says "$WORK/sidecar-wrong-sink-ca.log" "redis.*invalid peer certificate" "the sidecar, Redis with another CA"
sidecar_says "$WORK/sidecar-wrong-sink-ca.log" "kafka.*(certificate verify failed|SSL handshake failed)" "the sidecar, Kafka with another CA"
stop_sidecar
rm -rf "$WORK/spool-tls"

echo "3. the pipeline over TLS, with least privilege"
tls_sql -c "CREATE ROLE client LOGIN IN ROLE bss_writer"
start_tls_sidecar tls "$WORK/sidecar.log"
wait_until 60 "bss-sidecar streaming over TLS (log: $WORK/sidecar.log)" healthy
ok "the sidecar streams as role sidecar over TLS"
writer_url="$(pg_url_tls client)"
# psql reads the writer's key as $PG_USER.
for t in $(seq 1 20); do
    echo "SELECT count(bss.append_events('tls-' || s, (SELECT jsonb_agg(jsonb_build_object('type', 'usage.recorded', 'data', jsonb_build_object('kind', 'data', 'msisdn', 's' || s, 'bytes', 1000 + i))) FROM generate_series(1, 10) i))) FROM generate_series($(( (t - 1) * 10 + 1 )), $(( t * 10 ))) s;"
done >"$WORK/append.sql"
chmod o+r "$WORK/append.sql"
as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$writer_url" -o /dev/null -f "$WORK/append.sql" ||
    fail "appending over TLS as a member of bss_writer"
# One data session over 50 GB: detector data-session-over-50gb finds it.
as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$writer_url" -o /dev/null \
    -c "SELECT bss.append_event('tls-0', 'usage.recorded', '{\"kind\": \"data\", \"msisdn\": \"s0\", \"bytes\": 60000000000}')"
total=$((EVENTS + 1))
ok "a writer appended $total events over TLS"
delivered_all() {
    [ "$(metric 'bss_sidecar_sink_delivered_events_total{sink="kafka"}')" -ge "$total" ] &&
        [ "$(metric 'bss_sidecar_sink_delivered_events_total{sink="redis"}')" -ge "$total" ]
}
wait_until 120 "every event delivered to Kafka and Redis" delivered_all
in_kafka="$(timeout 60 "$PY" "$ROOT/deploy/tls/kafka_count.py" bss.tls "bootstrap.servers=localhost:$KAFKA_PORT" "${kafka_tls[@]}")" ||
    fail "reading Kafka over TLS"
[ "$in_kafka" = "$total" ] || fail "Kafka holds $in_kafka records of topic bss.tls, want $total"
ok "Kafka, read over TLS with another client (confluent-kafka): $in_kafka records of bss.tls"
in_redis="$(redis_tls_cli XLEN bss:events:tls)"
[ "$in_redis" = "$total" ] || fail "Redis stream bss:events:tls has $in_redis entries, want $total"
ok "Redis, read over TLS: $in_redis entries in bss:events:tls"
anomaly_found() { [ "$(tls_sql -c "SELECT count(*) FROM bss.events WHERE stream_id = 'anomaly-data-session-over-50gb'")" -ge 1 ]; }
wait_until 60 "the anomaly appended by the sidecar" anomaly_found
ok "the sidecar (bss_sidecar) appended its anomaly event"
plain="$(tls_sql -c "$PLAINTEXT_TCP_SESSIONS_SQL")"
sessions="$(tls_sql -c "SELECT count(*) || ' sessions, ' || count(*) FILTER (WHERE a.backend_type = 'walsender')
                               || ' of them replication, ' || string_agg(DISTINCT s.version, ', ')
                        FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.usename = 'sidecar' AND s.ssl")"
[ "$plain" = 0 ] || fail "$plain TCP sessions with PostgreSQL are not encrypted"
[ "$(tls_sql -c "SELECT count(*) FROM pg_stat_activity WHERE usename = 'sidecar' AND backend_type = 'walsender'")" -ge 1 ] ||
    fail "no replication session of the sidecar"
ok "every TCP session with PostgreSQL is encrypted; the sidecar's: $sessions"
echo "tls: all checks passed"
