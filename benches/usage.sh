# Sourced by the benchmarks that account for the pipeline's processes (after
# scripts/pipeline.sh, with the broker, Redis and the sidecar started): a
# background benches/proc_usage.py sampling their CPU and memory.

# start_usage_sampler OUT INTERVAL: samples every INTERVAL seconds into OUT
# (JSON lines) until stop_usage_sampler; its pid is SAMPLER. The roles:
# the sidecar's walsender, the devdb's other processes, the broker, Redis,
# the sidecar and bss-loadgen. USAGE_METRICS: prefixes of the sidecar's
# metrics to sample too (what its memory holds), none by default. USAGE_PG:
# a database URL whose WAL and checkpoints to sample too (one connection a
# sample: for samples a minute apart), none by default.
start_usage_sampler() {
    local metrics=()
    [ -z "${USAGE_METRICS:-}" ] || metrics+=(--metrics "http://127.0.0.1:$METRICS_PORT/metrics")
    [ -z "${USAGE_PG:-}" ] || metrics+=(--pg "$USAGE_PG")
    for m in ${USAGE_METRICS:-}; do
        metrics+=(--metric "$m")
    done
    python3 "$ROOT/benches/proc_usage.py" sample "$1" --interval "$2" --max-seconds 172800 "${metrics[@]}" \
        --role walsender='re:^postgres: walsender' \
        --role postgres="tree:${DEVDB:-$ROOT/target/devdb}/data/postmaster.pid" \
        --role broker="pid:$TANSU_PID" \
        --role redis="re:^redis-server 127\.0\.0\.1:$REDIS_PORT" \
        --role sidecar="pid:$SIDECAR_PID" \
        --role loadgen='re:bss-loadgen run' &
    SAMPLER=$!
}

stop_usage_sampler() {
    kill -TERM "$SAMPLER" 2>/dev/null || true
    wait "$SAMPLER" 2>/dev/null || true
    SAMPLER=""
}

# start_measured_pipeline WORK INTERVAL: the broker and Redis, bss-loadgen
# built, the sidecar (spool in WORK) on a new slot SLOT (a kept one would
# make it decode first whatever was written since its last run), then the
# sampler (every INTERVAL seconds into WORK/usage.jsonl).
start_measured_pipeline() {
    start_broker_and_redis "$1"
    build_binaries
    drop_slot "$SLOT"
    start_sidecar "$1"
    start_usage_sampler "$1/usage.jsonl" "$2"
}
