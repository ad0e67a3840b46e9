#!/usr/bin/env bash
# make test-local: the local layout end to end. Brings it up from scratch in
# target/local-test (deploy/local/local.sh), offers a short bss-loadgen load,
# and checks through Prometheus's HTTP API that the sidecar's, PostgreSQL's
# and Redis's metrics arrived there with values that match the load
# (deploy/local/e2e_check.py); then that PostgreSQL, Redis and Kafka refuse
# plaintext. Takes it down again, pass or fail.
source "$(dirname "$0")/../../scripts/lib.sh"
export LOCAL_DIR="$ROOT/target/local-test"
LOCAL="$ROOT/deploy/local/local.sh"
source "$ROOT/scripts/pipeline.sh"  # KAFKA_PORT, REDIS_PORT

"$LOCAL" reset >/dev/null 2>&1 || true
trap '"$LOCAL" down >/dev/null 2>&1 || true' EXIT
build_binaries
"$LOCAL" up
URL="$("$LOCAL" url)"

# 7,500 events over 30 s: a bounded load that stops by itself.
log "bss-loadgen: 10 s ramp to 300 events/s, then 20 s at 300/s"
"$ROOT/target/release/bss-loadgen" run --database-url "$URL" --stages 10s:300,20s:300 --customers 500 \
    --seed 8 --connections 4 --no-progress --report "$LOCAL_DIR/report.json" >"$LOCAL_DIR/loadgen.txt"
"$ROOT/deploy/local/e2e_check.py" --report "$LOCAL_DIR/report.json"

# Every server of the layout speaks TLS only (make test-tls proves the
# refusals in depth; these prove the layout is configured so).
log "the local layout refuses plaintext"
expect_refused "psql with sslmode=disable" "no encryption" \
    as_pg "$PG_BIN/psql" -X "postgresql://$PG_USER@127.0.0.1:${LOCAL_PG_PORT:-29432}/bss?sslmode=disable" -c "SELECT 1"
expect_refused "redis-cli without TLS" "reset|closed|Error|I/O" \
    bash -c "out=\$(redis-cli -p $REDIS_PORT PING 2>&1); echo \"\$out\"; [ \"\$out\" = PONG ]"
expect_refused "a Kafka client with security.protocol=PLAINTEXT" "transport|timed out|disconnect|fail" \
    timeout 60 "$PY_VENV/bin/python" "$ROOT/deploy/tls/kafka_count.py" bss.usage "bootstrap.servers=localhost:$KAFKA_PORT" \
    "security.protocol=PLAINTEXT" "socket.timeout.ms=5000"
plain="$(as_pg "$PG_BIN/psql" -X -qtA "$URL" -c "$PLAINTEXT_TCP_SESSIONS_SQL")"
[ "$plain" = 0 ] || die "$plain TCP sessions with PostgreSQL are not encrypted"
walsenders="$(as_pg "$PG_BIN/psql" -X -qtA "$URL" -c "SELECT string_agg(DISTINCT usename, ', ') FROM pg_stat_activity WHERE backend_type = 'walsender'")"
[ "$walsenders" = sidecar ] || die "the replication sessions are those of role(s) '$walsenders', not role sidecar alone"
printf '  ok   every TCP session with PostgreSQL is encrypted; the sidecar replicates as role sidecar (bss_sidecar)\n'
