# Sourced by demo.sh and benches/cdc/run.sh (after lib.sh): starts a tansu
# broker, redis-server and bss-sidecar next to the devdb, and stops them
# (and drops the sidecar's slot) in stop_pipeline. Expects URL and SLOT.
# SIDECAR_BIN runs another build of the sidecar (e.g. an older one, to compare
# in make bench-cdc) instead of building this checkout's.
KAFKA_PORT="${PIPELINE_KAFKA_PORT:-29092}"
REDIS_PORT="${PIPELINE_REDIS_PORT:-26379}"
METRICS_PORT="${PIPELINE_METRICS_PORT:-29187}"
PIDS=()
SIDECAR_PID=""

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
http_get() {  # prints the body of GET $2 on port $1 (bash only: no curl needed)
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
    sed '1,/^\r$/d' <&3
    exec 3<&-
}
http_ok() {  # http_ok PORT PATH: GET PATH on PORT answers 200
    (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET %s HTTP/1.0\r\n\r\n' "$2" >&3 && head -1 <&3 | grep -q ' 200 ') 2>/dev/null
}
healthy() { http_ok "$METRICS_PORT" /healthz; }
wait_until() {  # wait_until SECONDS WHAT COMMAND...
    local t="$1" what="$2"; shift 2
    for _ in $(seq $((t * 10))); do "$@" && return 0; sleep 0.1; done
    die "$what did not happen within ${t}s"
}
metric() {  # metric SAMPLE: the value of one /metrics sample, 0 if absent
    http_get "$METRICS_PORT" /metrics | awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }'
}
stop_pipeline() {
    # The sidecar first (it drains into the broker and Redis), then the rest.
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${PIDS[i]}" 2>/dev/null || true
        wait "${PIDS[i]}" 2>/dev/null || true
    done
    # A slot left behind would hold WAL in the devdb forever.
    drop_slot "$SLOT"
}

# drop_slot NAME: drops replication slot NAME unless it is missing or in use.
drop_slot() {
    as_pg "$PG_BIN/psql" -X "$URL" -qtAc "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$1' AND NOT active" >/dev/null 2>&1 || true
}

# stop_sidecar: stops the sidecar started last (SIGTERM: it drains) and drops its slot.
stop_sidecar() {
    kill -TERM "$SIDECAR_PID" 2>/dev/null || true
    wait "$SIDECAR_PID" 2>/dev/null || true
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$SIDECAR_PID" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
    SIDECAR_PID=""
    drop_slot "$SLOT"
}

# build_sidecar: this checkout's sidecar, unless SIDECAR_BIN names another.
build_sidecar() {
    if [[ -z "${SIDECAR_BIN:-}" ]]; then
        build_binaries
    fi
}

# start_tansu PORT ADVERTISED_URL CLUSTER_ID LOG: a tansu broker (memory
# storage) on 127.0.0.1:PORT that tells clients to come to ADVERTISED_URL;
# its pid is TANSU_PID (and in PIDS).
start_tansu() {
    local tansu
    tansu="$(tansu_bin)" || die "tansu is missing: run make setup"
    "$tansu" broker --listener-url "tcp://127.0.0.1:$1" --advertised-listener-url "$2" \
        --storage-engine memory://tansu/ --cluster-id "$3" >"$4" 2>&1 &
    TANSU_PID=$!
    PIDS+=("$TANSU_PID")
}

# start_broker_and_redis DIR: logs go to DIR.
start_broker_and_redis() {
    local dir="$1"
    for p in "$KAFKA_PORT" "$REDIS_PORT" "$METRICS_PORT"; do
        port_free "$p" || die "port $p is taken; set PIPELINE_KAFKA_PORT / PIPELINE_REDIS_PORT / PIPELINE_METRICS_PORT"
    done
    mkdir -p "$dir"
    build_sidecar
    log "starting tansu (Kafka protocol) on 127.0.0.1:$KAFKA_PORT and redis-server on 127.0.0.1:$REDIS_PORT"
    start_tansu "$KAFKA_PORT" "tcp://127.0.0.1:$KAFKA_PORT" bss-local "$dir/tansu.log"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$dir/redis.log" 2>&1 &
    PIDS+=($!)
    wait_until 20 "tansu listening" bash -c "(exec 3<>/dev/tcp/127.0.0.1/$KAFKA_PORT) 2>/dev/null"
    wait_until 20 "redis listening" redis-cli -p "$REDIS_PORT" ping
}

# start_sidecar DIR [LOG]: spool in DIR/spool, log in LOG (default DIR/sidecar.log).
# SIDECAR_CONFIG: the sidecar's configuration file (its anomaly stage's
# detectors and any other setting; default bss-detect/detectors.toml;
# empty: none, so no anomaly stage).
start_sidecar() {
    local dir="$1" logfile="${2:-$1/sidecar.log}" config=()
    local file="${SIDECAR_CONFIG-$ROOT/bss-detect/detectors.toml}"
    [[ -n "$file" ]] && config=(--config "$file")
    log "starting bss-sidecar (slot $SLOT, spool $dir/spool, metrics http://127.0.0.1:$METRICS_PORT/metrics${file:+, config $file})"
    "${SIDECAR_BIN:-$ROOT/target/release/bss-sidecar}" --database-url "$URL" --spool-dir "$dir/spool" --slot "$SLOT" \
        --kafka-brokers "127.0.0.1:$KAFKA_PORT" --redis-url "redis://127.0.0.1:$REDIS_PORT" \
        --metrics-addr "127.0.0.1:$METRICS_PORT" "${config[@]}" >"$logfile" 2>&1 &
    SIDECAR_PID=$!
    PIDS+=("$SIDECAR_PID")
    wait_until 60 "bss-sidecar streaming (log: $logfile)" healthy
}
